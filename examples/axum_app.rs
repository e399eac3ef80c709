//! An axum app whose handlers act on Source as the signed-in user.
//!
//! `cargo run --example axum_app --features axum`
//!
//! Needs no configuration and exits by itself: it starts MockSource (a local
//! stand-in for Source's API) with a test key, serves the app on an ephemeral
//! port, calls it as a few demo users and prints what each got.
//!
//! The app has a toy login (the `x-demo-user` header), a `/source-token` endpoint
//! for Source Elements frontends, and handlers that call Source with the
//! extracted member or caregiver token as the per-request credential.

mod support;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use source_auth::axum::{
    ExtractorConfig, SourceCaregiver, SourceMember, TokenIssuer, token_routes,
};
use source_auth::{MemberToken, SourceAuth, SourceIdentity, TokenSigner};
use support::{BoxError, HttpClient, LOGIN_HEADER};

/// The app's own user, from its own login.
struct User {
    member_id: Option<&'static str>,
}

impl SourceIdentity for User {
    fn source_member_id(&self) -> Option<&str> {
        self.member_id
    }
}

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get(LOGIN_HEADER)
            .and_then(|name| name.to_str().ok())
            .and_then(support::member_of)
            .map(|member_id| User { member_id })
            .ok_or((StatusCode::UNAUTHORIZED, "sign in first"))
    }
}

/// The app's state: the extractors take the issuer from it through `FromRef`.
#[derive(Clone)]
struct AppState {
    /// Signs the extractors' tokens.
    issuer: TokenIssuer,
    /// Calls Source with each request's own member token.
    source: SourceAuth<HttpClient>,
    source_url: Arc<str>,
}

impl FromRef<AppState> for TokenIssuer {
    fn from_ref(state: &AppState) -> Self {
        state.issuer.clone()
    }
}

/// The signed-in member's record, fetched from Source as that member.
async fn my_record(State(state): State<AppState>, member: SourceMember<User>) -> Response {
    ask_source(&state, &member.token).await
}

/// Another member's record, fetched as the signed-in user acting as their caregiver.
async fn member_record(
    State(state): State<AppState>,
    caregiver: SourceCaregiver<User>,
) -> Response {
    ask_source(&state, &caregiver.token).await
}

async fn ask_source(state: &AppState, token: &MemberToken) -> Response {
    match support::call_source(&state.source, &state.source_url, token).await {
        Ok((status, body)) => (status, body).into_response(),
        Err(_) => (StatusCode::BAD_GATEWAY, "Source is unreachable").into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let key = support::api_key()?;
    let mock = support::start_mock_source(&key).await?;

    // One signer for the extractors and the client: one estimate of Source's
    // clock, which the client learns at start-up and from Source's answers.
    let signer = TokenSigner::new(key.clone());
    let state = AppState {
        source: support::source_client(signer.clone(), mock.base_url()).await?,
        issuer: TokenIssuer::new(signer, ExtractorConfig::default())?,
        source_url: mock.base_url().into(),
    };
    let app = Router::new()
        // `/source-token` and `/source-token/{member_id}`, the parameter the
        // issuer's configuration reads.
        .merge(token_routes::<User, _>(state.issuer.clone()))
        .route("/me/record", get(my_record))
        .route("/members/{member_id}/record", get(member_record))
        .with_state(state);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!(
        "axum app on {app_url}, Source stand-in on {}\n",
        mock.base_url()
    );

    support::run_demo(&app_url, key).await
}
