//! SourceAuthLayer on `reqwest::Client` used as a tower service, against a local MockSource.
//!
//! `cargo run --example reqwest_client --features reqwest`

use source_auth::testing::MockSource;
use source_auth::{ApiKey, BoxError, SourceAuthLayer, UserToken};
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let source = MockSource::start().await?;
    let key = ApiKey::new("key_demo1", "sk_test_demo0000000000000000000000000000")?;
    let user = UserToken::new("ut_demo_user_token")?.live_mode(false);
    source.add_api_key(&key);
    source.add_user_token(&user);

    for layer in [
        SourceAuthLayer::api_key_basic(key),
        SourceAuthLayer::user_token(user),
    ] {
        let mut client = ServiceBuilder::new()
            .layer(layer.base_url(source.base_url())?)
            .service(reqwest::Client::new());
        let request = reqwest::Request::new(
            reqwest::Method::GET,
            format!("{}/v1/members", source.base_url()).parse()?,
        );
        let response = client.ready().await?.call(request).await?;
        println!("{} {}", response.status(), response.text().await?);
    }
    Ok(())
}
