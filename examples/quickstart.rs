//! Sends each kind of Source credential through `SourceAuthLayer` and prints what
//! Source answered.
//!
//! `cargo run --example quickstart`
//!
//! With no configuration it starts MockSource, a local stand-in for Source's API,
//! registers a demo key, a user token and one caregiver relationship, and calls
//! it. With `SOURCE_API_KEY_ID` and `SOURCE_API_KEY_SECRET` set it sends that key,
//! as Bearer and as Basic, to `SOURCE_BASE_URL` (default Source's own API) instead.
//! Secrets and tokens are never printed.

use std::process::ExitCode;

use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use source_auth::testing::{MockSource, Relationship, RelationshipStatus};
use source_auth::{ApiKey, BoxError, MemberGrant, SourceAuthLayer, TokenSigner, UserToken};
use tower::{Layer, ServiceExt};

/// Source's API, where the key from the environment goes unless told otherwise.
const SOURCE_API: &str = "https://api.sourcehealth.com";

/// One row of the table: a label, the layer that sends the credential, and the
/// path requested with it.
type Case = (&'static str, SourceAuthLayer, String);

#[tokio::main]
async fn main() -> ExitCode {
    let Err(err) = quickstart().await else {
        return ExitCode::SUCCESS;
    };
    eprintln!("error: {err}");
    let mut cause = err.source();
    while let Some(err) = cause {
        eprintln!("  caused by: {err}");
        cause = err.source();
    }
    ExitCode::FAILURE
}

async fn quickstart() -> Result<(), BoxError> {
    let live = std::env::var_os("SOURCE_API_KEY_ID").is_some()
        || std::env::var_os("SOURCE_API_KEY_SECRET").is_some();
    if live {
        let base_url = std::env::var("SOURCE_BASE_URL").unwrap_or_else(|_| SOURCE_API.into());
        let base_url = base_url.trim_end_matches('/');
        let cases = api_key_cases(ApiKey::from_env()?, base_url)?;
        // https for Source itself: rustls, with the system's root certificates.
        let connector = HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        run(
            Client::builder(TokioExecutor::new()).build(connector),
            base_url,
            cases,
        )
        .await
    } else {
        // Keep the mock alive until the requests are done.
        let (mock, cases) = mock_cases().await?;
        println!(
            "MockSource, a local stand-in for Source, on {}",
            mock.base_url()
        );
        let http = Client::builder(TokioExecutor::new()).build_http();
        run(http, mock.base_url(), cases).await
    }
}

/// The key, sent as a Bearer token and as HTTP Basic, to list members.
fn api_key_cases(key: ApiKey, base_url: &str) -> Result<Vec<Case>, BoxError> {
    let path = "/v1/members".to_owned();
    Ok(vec![
        (
            "API key, Bearer",
            SourceAuthLayer::new(key.clone()).base_url(base_url)?,
            path.clone(),
        ),
        (
            "API key, Basic",
            SourceAuthLayer::api_key_basic(key).base_url(base_url)?,
            path,
        ),
    ])
}

/// Starts MockSource and lists a case for each kind of credential it knows.
async fn mock_cases() -> Result<(MockSource, Vec<Case>), BoxError> {
    // Made up: only this MockSource knows them.
    let key = ApiKey::new(
        "key_0EipsUv2yRFxynHshisN",
        "sk_test_QuickstartDemoKeyForMockSource0",
    )?;
    let user = UserToken::new("ut_quickstart_demo_user")?.live_mode(false);
    // Well formed, but never given to MockSource: what a revoked key gets.
    let unknown = ApiKey::new(
        "key_1RevokedDemoKey",
        "sk_test_QuickstartRevokedKeyForMockSrc0",
    )?;
    let (patient, parent, stranger) = ("mem_patient1", "mem_parent1", "mem_stranger1");

    let mock = MockSource::start().await?;
    mock.add_api_key(&key);
    mock.add_user_token(&user);
    mock.set_relationship(
        Relationship {
            member: patient,
            caregiver: parent,
        },
        RelationshipStatus::Active,
    )?;

    let url = mock.base_url();
    let signer = TokenSigner::new(key.clone());
    // A member token is minted, cached and refreshed by the layer itself.
    let as_member = |grant| {
        SourceAuthLayer::member(signer.clone(), grant).and_then(|layer| layer.base_url(url))
    };
    let record = format!("/v1/members/{patient}");
    let mut cases = api_key_cases(key, url)?;
    cases.extend([
        (
            "user token, test data",
            SourceAuthLayer::new(user).base_url(url)?,
            "/v1/members".to_owned(),
        ),
        (
            "member token",
            as_member(MemberGrant::member(patient))?,
            record.clone(),
        ),
        (
            "caregiver token, relationship",
            as_member(MemberGrant::member(patient).caregiver(parent))?,
            record.clone(),
        ),
        (
            "caregiver token, no relationship",
            as_member(MemberGrant::member(patient).caregiver(stranger))?,
            record,
        ),
        (
            "API key Source does not know",
            SourceAuthLayer::new(unknown).base_url(url)?,
            "/v1/members".to_owned(),
        ),
    ]);
    Ok((mock, cases))
}

/// Sends `GET base_url + path` through each case's layer on hyper-util's client
/// and prints a table of the answers.
async fn run<C>(
    http: Client<C, Empty<Bytes>>,
    base_url: &str,
    cases: Vec<Case>,
) -> Result<(), BoxError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    println!("\n{:<32} {:<6} Source answered", "credential", "status");
    for (label, layer, path) in cases {
        let request = Request::get(format!("{base_url}{path}")).body(Empty::new())?;
        let response = layer.layer(http.clone()).oneshot(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        println!(
            "{label:<32} {:<6} {}",
            status.as_u16(),
            answer(status, &body)
        );
    }
    Ok(())
}

/// Who Source took the request for, or its error code.
fn answer(status: StatusCode, body: &[u8]) -> String {
    let json: Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |name: &str| json[name].as_str().unwrap_or("-").to_owned();
    if !status.is_success() {
        return field("code");
    }
    match json["kind"].as_str() {
        Some("api_key") => format!("API key {}", field("key_id")),
        Some("user") => format!("user, live mode {}", json["live_mode"]),
        Some("member") => format!("member {}", field("member")),
        Some("caregiver") => format!("caregiver {} for {}", field("actor"), field("member")),
        // Source's own API answers with the resource: a list of members here.
        _ => format!("a {}", field("object")),
    }
}
