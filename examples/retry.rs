//! No request lost to Source's clock: `ResendOnSkew` with `tower::retry` over
//! hyper-util, against a MockSource whose clock runs ten minutes ahead.
//!
//! `cargo run --features retry --example retry`
//!
//! The first token the layer mints is signed on this host's clock, which Source
//! sees as expired: Source answers 401. That 401's own `Date` proves the token
//! was outside Source's window, and teaches the layer Source's clock; the layer
//! marks the response `SkewRefused`, and `ResendOnSkew` sends the request again,
//! once, with a token minted on Source's clock. Nothing else is re-sent.
//!
//! The retry layer goes *outside* `SourceAuthLayer`: it clones each request
//! before the layer adds its `Authorization`, so the re-sent request is
//! authorized afresh. The body must be clonable, here `Full<Bytes>`; the policy
//! keeps a clone only while a refusal for the clock is possible at all.

use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use source_auth::resend::ResendOnSkew;
use source_auth::skew::ClockOffset;
use source_auth::testing::MockSource;
use source_auth::{ApiKey, BoxError, MemberGrant, SourceAuthLayer, TokenSigner};
use tower::retry::RetryLayer;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let source = MockSource::start().await?;
    let key = ApiKey::new("key_demo1", "sk_test_demo0000000000000000000000000000")?;
    source.add_api_key(&key);
    source.set_clock_offset(ClockOffset::ahead(Duration::from_secs(600)));

    let layer = SourceAuthLayer::per_request(TokenSigner::new(key)).base_url(source.base_url())?;
    let url = format!("{}/v1/members/mem_patient1", layer.origin());
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(ResendOnSkew::new(
            layer.source_clock().clone(),
        )))
        .layer(layer.clone())
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());

    let mut request = Request::get(&url).body(Full::default())?;
    request
        .extensions_mut()
        .insert(MemberGrant::member("mem_patient1"));
    let response = client.oneshot(request).await?;

    let statuses: Vec<_> = source.requests().iter().map(|seen| seen.status).collect();
    println!(
        "Source answered {statuses:?}; the app got {}; Source's clock is {} from this host's",
        response.status(),
        layer.source_clock().bound()
    );
    assert_eq!(statuses, [StatusCode::UNAUTHORIZED, StatusCode::OK]);
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}
