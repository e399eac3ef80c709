//! Retrying once when Source answers 401, with `tower::retry` over hyper-util.
//!
//! `cargo run --example retry`
//!
//! The layer never re-sends a request by itself. After a 401 to a token it
//! minted and cached, it retires that token, so a retry mints a new one. The retry
//! layer goes *outside* `SourceAuthLayer`: it clones each request before the layer
//! adds its `Authorization`, so the retry is authorized afresh. (Inside, it would
//! re-send a request that already carries the header beside its grant, which the
//! layer refuses as conflicting.) The body must be clonable, here `Full<Bytes>`.

use std::future::{Ready, ready};

use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use source_auth::testing::MockSource;
use source_auth::{ApiKey, BoxError, MemberGrant, SourceAuthLayer, TokenSigner};
use tower::retry::{Policy, RetryLayer};
use tower::{ServiceBuilder, ServiceExt};

/// Sends a request again, once, when Source answers 401.
#[derive(Clone, Debug)]
struct RetryOnceOnUnauthorized {
    retries_left: usize,
}

impl<E> Policy<Request<Full<Bytes>>, Response<Incoming>, E> for RetryOnceOnUnauthorized {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<Incoming>, E>,
    ) -> Option<Self::Future> {
        let unauthorized =
            matches!(result, Ok(response) if response.status() == StatusCode::UNAUTHORIZED);
        if unauthorized && self.retries_left > 0 {
            self.retries_left -= 1;
            Some(ready(()))
        } else {
            None
        }
    }

    /// The request as the app made it: method, URI, headers, body, and the
    /// extensions that carry its `MemberGrant`.
    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        let mut clone = Request::new(request.body().clone());
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.version_mut() = request.version();
        *clone.headers_mut() = request.headers().clone();
        *clone.extensions_mut() = request.extensions().clone();
        Some(clone)
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let source = MockSource::start().await?;
    let key = ApiKey::new("key_demo1", "sk_test_demo0000000000000000000000000000")?;
    source.add_api_key(&key);
    // Source refuses the next request once, as it would a token signed before
    // the layer knew Source's clock, or with a key since revoked.
    source.fail_next(1, StatusCode::UNAUTHORIZED, "invalid_token")?;

    let layer = SourceAuthLayer::per_request(TokenSigner::new(key)).base_url(source.base_url())?;
    let url = format!("{}/v1/members/mem_patient1", layer.origin());
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryOnceOnUnauthorized { retries_left: 1 }))
        .layer(layer)
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());

    let mut request = Request::get(&url).body(Full::default())?;
    request
        .extensions_mut()
        .insert(MemberGrant::member("mem_patient1"));
    let response = client.oneshot(request).await?;

    let statuses: Vec<_> = source.requests().iter().map(|seen| seen.status).collect();
    println!(
        "Source answered {statuses:?}; the app got {}",
        response.status()
    );
    assert_eq!(statuses, [StatusCode::UNAUTHORIZED, StatusCode::OK]);
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}
