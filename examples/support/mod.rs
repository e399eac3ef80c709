//! What the axum and actix-web examples share: the toy users, a local stand-in for
//! Source, the outbound client, and the demo that calls the app and prints what
//! it got. Each example file holds only the app itself.

use std::error::Error;
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use source_auth::skew::ClockOffset;
use source_auth::testing::{MockSource, Relationship, RelationshipStatus};
use source_auth::{ApiKey, MemberToken, SourceAuth, SourceAuthLayer, TokenSigner, TokenVerifier};
use tower::{Layer, ServiceExt};

pub type BoxError = Box<dyn Error + Send + Sync>;

/// An HTTP client; wrapped in [`SourceAuth`] it authenticates to Source.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// The header the toy login reads the user name from.
pub const LOGIN_HEADER: &str = "x-demo-user";

/// The app's users and their Source member, if any. grace cares for mem_kid1.
const USERS: &[(&str, Option<&str>)] = &[
    ("ada", Some("mem_ada1")),
    ("grace", Some("mem_grace1")),
    ("bob", None),
];

/// The Source member of the user called `name`: `None` if there is no such user,
/// `Some(None)` if the user has no Source member.
pub fn member_of(name: &str) -> Option<Option<&'static str>> {
    USERS
        .iter()
        .find(|(user, _)| *user == name)
        .map(|(_, member)| *member)
}

/// A test key: MockSource accepts it; Source itself would not.
pub fn api_key() -> Result<ApiKey, BoxError> {
    Ok(ApiKey::new(
        "key_0EipsUv2yRFxynHshisN",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000",
    )?)
}

/// A local stand-in for Source that knows `key` and that grace cares for mem_kid1.
pub async fn start_mock_source(key: &ApiKey) -> Result<MockSource, BoxError> {
    let mock = MockSource::start().await?;
    mock.add_api_key(key);
    // Source's clock ten minutes ahead of this host's: tokens signed on this
    // host's clock would have expired there.
    mock.set_clock_offset(ClockOffset::ahead(Duration::from_secs(600)));
    mock.set_relationship(
        Relationship {
            member: "mem_kid1",
            caregiver: "mem_grace1",
        },
        RelationshipStatus::Active,
    )?;
    Ok(mock)
}

/// A client for Source at `base_url` that sends only the credential each request
/// carries (`per_request`): the handlers act as members, so a request that forgot
/// its member token is refused rather than sent with the API key.
///
/// Built from `signer`, the extractors' signer, so that both sign on one
/// estimate of Source's clock; and primed with one request that carries no
/// credential, so that even the first token the extractors sign is on it.
pub async fn source_client(
    signer: TokenSigner,
    base_url: &str,
) -> Result<SourceAuth<HttpClient>, BoxError> {
    let http: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let layer = SourceAuthLayer::per_request(signer).base_url(base_url)?;
    let bound = layer.prime(layer.layer(http.clone())).await?;
    println!("Source's clock is {bound} from this host's");
    Ok(layer.layer(http))
}

/// Calls Source's `GET /v1/members/{sub}` as `token`, the request's own
/// credential, and returns Source's status and body.
pub async fn call_source(
    client: &SourceAuth<HttpClient>,
    base_url: &str,
    token: &MemberToken,
) -> Result<(StatusCode, Bytes), BoxError> {
    let url = format!("{base_url}/v1/members/{}", token.claims().sub);
    let mut request = Request::get(url).body(Empty::new())?;
    request.extensions_mut().insert(token.clone());
    let response = client.clone().oneshot(request).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// Requests to the app, as whom, and the status each should get.
const DEMO: &[(Option<&str>, &str, StatusCode)] = &[
    // A token for the frontend.
    (Some("ada"), "/source-token", StatusCode::OK),
    // A caregiver token for the frontend.
    (Some("grace"), "/source-token/mem_kid1", StatusCode::OK),
    // The app calls Source as the member...
    (Some("ada"), "/me/record", StatusCode::OK),
    // ...and as a caregiver.
    (Some("grace"), "/members/mem_kid1/record", StatusCode::OK),
    // Source refuses a caregiver token without a relationship.
    (
        Some("ada"),
        "/members/mem_kid1/record",
        StatusCode::FORBIDDEN,
    ),
    // The extractor refuses a malformed member id, a user without a member, no login.
    (
        Some("grace"),
        "/members/kid1/record",
        StatusCode::BAD_REQUEST,
    ),
    (Some("bob"), "/me/record", StatusCode::FORBIDDEN),
    (None, "/me/record", StatusCode::UNAUTHORIZED),
];

/// Calls the app at `app_url` as each demo user, prints what came back, and
/// fails if any status differs from the expected one.
pub async fn run_demo(app_url: &str, key: ApiKey) -> Result<(), BoxError> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let verifier = TokenVerifier::new([key])?;
    let mut unexpected = 0;
    for &(user, path, expected) in DEMO {
        let mut request = Request::get(format!("{app_url}{path}"));
        if let Some(user) = user {
            request = request.header(LOGIN_HEADER, user);
        }
        let response = client.request(request.body(Empty::new())?).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let mark = if status == expected {
            ""
        } else {
            "  <- UNEXPECTED"
        };
        unexpected += usize::from(status != expected);
        println!("GET {path} as {}: {status}{mark}", user.unwrap_or("nobody"));
        println!("    {}", describe(&body, &verifier));
    }
    if unexpected > 0 {
        return Err(format!("{unexpected} responses had an unexpected status").into());
    }
    Ok(())
}

/// The body, with a token endpoint's token shown as its verified claims rather
/// than printed.
fn describe(body: &[u8], verifier: &TokenVerifier) -> String {
    let text = String::from_utf8_lossy(body).into_owned();
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return text;
    };
    match (json["token"].as_str(), json["expires_at"].as_u64()) {
        (Some(token), Some(expires_at)) => match verifier.verify(token) {
            Ok(claims) => format!(
                "a token for sub={} act={} expiring at {expires_at}",
                claims.sub,
                claims.act.as_deref().unwrap_or("-")
            ),
            Err(err) => format!("a token that does not verify: {err}"),
        },
        _ => text,
    }
}
