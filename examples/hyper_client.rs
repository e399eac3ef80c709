//! SourceAuthLayer on hyper-util's client, against a local MockSource.
//!
//! `cargo run --example hyper_client`

use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use source_auth::testing::{MockSource, Relationship, RelationshipStatus};
use source_auth::{ApiKey, BoxError, Error, MemberGrant, SourceAuthLayer, TokenSigner};
use tower::{ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // A stand-in for Source on 127.0.0.1; point `base_url` at the real API in production.
    let source = MockSource::start().await?;
    let key = ApiKey::new("key_demo1", "sk_test_demo0000000000000000000000000000")?;
    source.add_api_key(&key);
    source.set_relationship(
        Relationship {
            member: "mem_patient1",
            caregiver: "mem_parent1",
        },
        RelationshipStatus::Active,
    )?;

    // Server-level calls: the API key.
    let server = ServiceBuilder::new()
        .layer(SourceAuthLayer::new(key.clone()).base_url(source.base_url())?)
        .service(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());
    let request = Request::get(format!("{}/v1/members", source.base_url())).body(Empty::new())?;
    let response = server.oneshot(request).await?;
    println!(
        "as the API key: {} {}",
        response.status(),
        String::from_utf8_lossy(&response.into_body().collect().await?.to_bytes())
    );

    // Calls made for a member: every request carries its own credential, and one
    // that forgot it is refused rather than sent with the API key.
    let layer = SourceAuthLayer::per_request(TokenSigner::new(key)).base_url(source.base_url())?;
    let url = format!("{}/v1/members/mem_patient1", layer.origin());
    let members = ServiceBuilder::new()
        .layer(layer)
        .service(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());

    // A caregiver token, minted and cached by the layer.
    let mut request = Request::get(&url).body(Empty::new())?;
    request
        .extensions_mut()
        .insert(MemberGrant::member("mem_patient1").caregiver("mem_parent1"));
    let response = members.clone().oneshot(request).await?;
    println!(
        "as a caregiver: {} {}",
        response.status(),
        String::from_utf8_lossy(&response.into_body().collect().await?.to_bytes())
    );

    let forgot = members
        .oneshot(Request::get(&url).body(Empty::new())?)
        .await
        .expect_err("a request without a credential is refused");
    let kind = forgot.downcast_ref::<Error>().map(Error::kind);
    println!("with no credential: refused, {kind:?}");
    Ok(())
}
