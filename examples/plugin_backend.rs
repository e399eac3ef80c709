//! A frame plugin's backend: an axum app whose `/whoami` answers with the Source
//! user of the application token the plugin sends, verified with
//! `source_auth::axum::SourceApplication`.
//!
//! It runs against `MockSource`, which issues application tokens exactly as Source
//! shapes them, sends the backend a few requests as a plugin would, prints what
//! came back (never a token) and stops.
//!
//! ```sh
//! cargo run --example plugin_backend --features application,axum
//! ```

use axum::extract::FromRef;
use axum::routing::get;
use axum::{Json, Router};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use source_auth::BoxError;
use source_auth::application::{ApplicationKey, ApplicationVerifier};
use source_auth::axum::SourceApplication;
use source_auth::testing::MockSource;

/// The application Source registered the plugin as.
const APPLICATION_ID: &str = "app_demoPlugin1";

/// The verified Source user and what the token was issued for.
async fn whoami(plugin: SourceApplication) -> Json<Value> {
    Json(json!({ "user": plugin.claims.user, "purpose": plugin.claims.purpose }))
}

/// The backend's state, as a real app has it: its own struct, with `FromRef` for
/// the verifier that `SourceApplication` takes from it.
#[derive(Clone)]
struct AppState {
    verifier: ApplicationVerifier,
}

impl FromRef<AppState> for ApplicationVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

fn backend(verifier: ApplicationVerifier) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .with_state(AppState { verifier })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let source = MockSource::start().await?;
    // Source gives you the application's public key as a JWK; here, the mock's.
    let jwk = source.application(APPLICATION_ID)?.to_jwk();
    let verifier = ApplicationVerifier::new(APPLICATION_ID, [ApplicationKey::from_jwk(&jwk)?])?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/whoami", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, backend(verifier)).await });

    // What the plugin would send: the tokens it got through @source-health/bridge.
    let token = source.application_token(APPLICATION_ID, "usr_ada1")?;
    let other_application = source.application_token("app_otherPlugin1", "usr_ada1")?;
    let (signed, _) = token.rsplit_once('.').ok_or("a token has three parts")?;
    let forged = format!("{signed}.{}", "A".repeat(86));
    let requests = [
        ("a token for usr_ada1", Some(token), StatusCode::OK),
        ("no token", None, StatusCode::UNAUTHORIZED),
        (
            "another application's token",
            Some(other_application),
            StatusCode::UNAUTHORIZED,
        ),
        ("a forged signature", Some(forged), StatusCode::UNAUTHORIZED),
    ];

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut unexpected = 0;
    for (what, token, expected) in requests {
        let mut request = Request::get(&url);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = client.request(request.body(Empty::new())?).await?;
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|value| value.to_str().ok())
            .map(|value| format!(" (WWW-Authenticate: {value})"))
            .unwrap_or_default();
        let body = response.into_body().collect().await?.to_bytes();
        let mark = if status == expected {
            ""
        } else {
            "  <- UNEXPECTED"
        };
        unexpected += usize::from(status != expected);
        println!("GET /whoami with {what}: {status}{challenge}{mark}");
        println!("    {}", String::from_utf8_lossy(&body));
    }
    if unexpected > 0 {
        return Err(format!("{unexpected} responses had an unexpected status").into());
    }
    Ok(())
}
