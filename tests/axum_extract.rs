//! The axum extractors and token endpoints, driven through a `Router` with `oneshot`.

mod common;
mod extract_support;
mod log_capture;
mod support;

use axum::body::{Body, to_bytes};
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts, Path};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Extension, Router};
use extract_support::*;
use source_auth::axum::{
    ExtractRejection, SourceCaregiver, SourceMember, SourceRejection, TokenIssuer,
    caregiver_token_endpoint, token_endpoint, token_routes,
};
use source_auth::{InvalidInput, MemberId, SourceIdentity};
use tower::ServiceExt;

/// The app's own user, from the demo login.
#[derive(Debug)]
struct DemoUser {
    member_id: Option<String>,
}

type AppRejection = (StatusCode, &'static str);

impl DemoUser {
    /// `None` without a login header; an error for an unknown user.
    fn from_header(parts: &Parts) -> Option<Result<Self, AppRejection>> {
        let name = parts
            .headers
            .get(LOGIN_HEADER)?
            .to_str()
            .unwrap_or_default();
        Some(
            demo_member(name)
                .map(|member_id| Self { member_id })
                .ok_or((StatusCode::UNAUTHORIZED, APP_401_BODY)),
        )
    }
}

impl SourceIdentity for DemoUser {
    fn source_member_id(&self) -> Option<&str> {
        self.member_id.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DemoUser {
    type Rejection = AppRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::from_header(parts).unwrap_or(Err((StatusCode::UNAUTHORIZED, APP_401_BODY)))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for DemoUser {
    type Rejection = AppRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Self::from_header(parts).transpose()
    }
}

/// The app's state, holding the issuer among its own things.
#[derive(Clone)]
struct AppState {
    issuer: TokenIssuer,
}

impl FromRef<AppState> for TokenIssuer {
    fn from_ref(state: &AppState) -> Self {
        state.issuer.clone()
    }
}

async fn whoami(member: SourceMember<DemoUser>) -> String {
    member.token.as_str().to_owned()
}

async fn maybe(member: Option<SourceMember<DemoUser>>) -> String {
    member.map_or_else(
        || "none".to_owned(),
        |member| member.token.as_str().to_owned(),
    )
}

async fn care_for(
    member: SourceMember<DemoUser>,
    Path(subject): Path<String>,
) -> Result<String, SourceRejection> {
    Ok(member.caregiver_for(&subject).await?.as_str().to_owned())
}

async fn caregiver(caregiver: SourceCaregiver<DemoUser>) -> String {
    caregiver.token.as_str().to_owned()
}

/// The routes of the table in `extract_support`, with [`issuer`].
fn app() -> Router {
    routes().with_state(AppState { issuer: issuer() })
}

/// The routes of the table in `extract_support`.
fn routes() -> Router<AppState> {
    Router::new()
        .route("/whoami", get(whoami).post(whoami))
        .route("/maybe", get(maybe))
        .route("/care-for/{subject}", get(care_for))
        .route("/caregiver/{member_id}", get(caregiver).post(caregiver))
        .route("/caregiver/{act}/{member_id}", get(caregiver))
        .route("/no-param", get(caregiver))
        .route("/source-token", get(token_endpoint::<DemoUser>))
        .route(
            "/source-token/{member_id}",
            get(caregiver_token_endpoint::<DemoUser>),
        )
}

async fn send_to(app: Router, request: Request<Body>) -> Reply {
    let response = app
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let (parts, body) = response.into_parts();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, content_type, cache_control) = (
        parts.status.as_u16(),
        header(CONTENT_TYPE),
        header(CACHE_CONTROL),
    );
    let body = to_bytes(body, 1 << 16).await.expect("a body");
    Reply {
        status,
        content_type,
        cache_control,
        body: String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
    }
}

fn request(method: &str, user: Option<&str>, uri: &str) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(user) = user {
        request = request.header(LOGIN_HEADER, user);
    }
    request.body(Body::empty()).expect("a valid request")
}

/// The app the shared checks drive.
struct Axum;

impl Routes for Axum {
    async fn get_as(&self, user: Option<&str>, uri: &str) -> Reply {
        send_to(app(), request("GET", user, uri)).await
    }
}

#[tokio::test]
async fn member_token_for_the_signed_in_user() {
    check_member_token_for_the_signed_in_user(&Axum).await;
}

#[tokio::test]
async fn token_endpoints_answer_token_and_expiry_uncached() {
    check_token_endpoints(&Axum).await;
}

#[tokio::test]
async fn caregiver_extractor_and_caregiver_for_sign_the_same_claims() {
    check_caregiver_extractor_and_caregiver_for_agree(&Axum).await;
}

#[tokio::test]
async fn a_missing_login_is_the_apps_own_rejection() {
    check_missing_login(&Axum).await;
}

#[tokio::test]
async fn a_user_without_a_source_member_is_forbidden() {
    check_user_without_a_member(&Axum).await;
}

#[tokio::test]
async fn an_invalid_subject_is_a_bad_request() {
    check_invalid_subjects(&Axum).await;
}

#[tokio::test]
async fn a_caregiver_token_for_oneself_is_a_bad_request() {
    check_caregiver_for_oneself(&Axum).await;
}

#[tokio::test]
async fn server_side_failures_are_a_generic_500_and_a_log_line() {
    check_server_side_failures(&Axum).await;
}

fn configured_app(issuer: TokenIssuer) -> Router {
    Router::new()
        .route("/source-token", get(token_endpoint::<DemoUser>))
        .route(
            "/patients/{patient}/token",
            get(caregiver_token_endpoint::<DemoUser>),
        )
        .route(
            "/source-token/{member_id}",
            get(caregiver_token_endpoint::<DemoUser>),
        )
        .with_state(issuer)
}

#[tokio::test]
async fn the_grant_and_the_parameter_name_are_configurable() {
    let app = configured_app(configured(configuration()));
    check_configured_grant(|uri| send_to(app.clone(), request("GET", Some("ada"), uri))).await;
}

/// Where earlier versions read it: now a 500 and a log line that says where it
/// belongs, never silently the defaults.
#[tokio::test]
async fn a_configuration_in_the_request_extensions_is_refused_loudly() {
    let logs = LogCapture::start();
    let app = configured_app(issuer()).layer(Extension(configuration()));
    send_to(app, request("GET", Some("ada"), "/source-token"))
        .await
        .assert_generic_500();
    let lines = logs.error_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("TokenIssuer::new(signer, config)"),
        "{}",
        lines[0]
    );
}

fn forged(method: &str, uri: &str) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in forged_headers() {
        request = request.header(name, value);
    }
    request
        .body(Body::from(FORGED_BODY))
        .expect("a valid request")
}

#[tokio::test]
async fn forged_actors_are_ignored() {
    for (method, uri) in forged_caregiver_requests() {
        let claims = send_to(app(), forged(method, &uri)).await.claims();
        assert_ada_cares_for_kid(&claims);
    }
    for (method, uri) in forged_member_requests() {
        let claims = send_to(app(), forged(method, &uri)).await.claims();
        assert_ada_herself(&claims);
    }
}

#[tokio::test]
async fn optional_member_is_none_when_absent_and_rejects_otherwise() {
    assert_eq!(Axum.get_as(None, "/maybe").await.body, "none");
    assert_eq!(Axum.get_as(Some("nomember"), "/maybe").await.body, "none");
    assert_ada_herself(&Axum.get_as(Some("ada"), "/maybe").await.claims());

    Axum.get_as(Some("not a user!"), "/maybe")
        .await
        .assert_app_401();
    Axum.get_as(Some("broken"), "/maybe")
        .await
        .assert_generic_500();
}

#[tokio::test]
async fn rejections_can_be_matched_and_read() {
    let state = AppState { issuer: issuer() };
    let extract = |user| {
        let mut parts = request("GET", user, "/").into_parts().0;
        let state = state.clone();
        async move {
            <SourceMember<DemoUser> as FromRequestParts<AppState>>::from_request_parts(
                &mut parts, &state,
            )
            .await
            .expect_err("a rejection")
        }
    };

    let rejection = extract(Some("nomember")).await;
    assert!(matches!(
        rejection,
        ExtractRejection::Source(SourceRejection::NoSourceMember)
    ));
    assert_eq!(rejection.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(
        rejection.body_text(),
        Some(SourceRejection::NoSourceMember.body_text())
    );

    let rejection = extract(None).await;
    assert!(matches!(
        rejection,
        ExtractRejection::User((StatusCode::UNAUTHORIZED, APP_401_BODY))
    ));
    assert_eq!((rejection.status(), rejection.body_text()), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_each_get_their_own_subject() {
    let app = app();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CONCURRENT_REQUESTS {
        let app = app.clone();
        tasks.spawn(async move {
            let (user, uri) = concurrent_request(i);
            (i, send_to(app, request("GET", Some(&user), &uri)).await)
        });
    }
    let mut seen = 0;
    while let Some(result) = tasks.join_next().await {
        let (i, reply) = result.expect("the task ran");
        assert_concurrent_claims(i, &reply);
        seen += 1;
    }
    assert_eq!(seen, CONCURRENT_REQUESTS);
}

async fn parse(Path(id): Path<String>) -> Result<String, InvalidInput> {
    Ok(MemberId::parse(&id)?.to_string())
}

async fn fail() -> Result<String, source_auth::Error> {
    failing_signature()
}

/// The app's own state, which holds no issuer: `token_routes` brings its own.
#[derive(Clone)]
struct OtherState;

/// `Router::merge(token_routes::<User, _>(issuer))` wires both token endpoints,
/// with the caregiver route's parameter taken from the issuer's configuration.
#[tokio::test]
async fn one_call_wires_the_token_endpoints() {
    let app = Router::new()
        .merge(token_routes::<DemoUser, _>(configured(configuration())))
        .with_state(OtherState);
    check_one_call_wiring(|uri| send_to(app.clone(), request("GET", Some("ada"), uri))).await;
    // Nested under a prefix too, and the app's own 401 passes through.
    let app: Router = Router::new().nest("/api", token_routes::<DemoUser, _>(issuer()));
    let reply = send_to(
        app.clone(),
        request("GET", Some("ada"), "/api/source-token/mem_kid"),
    )
    .await;
    assert_ada_cares_for_kid(&reply.token_endpoint_claims());
    send_to(app, request("GET", None, "/api/source-token"))
        .await
        .assert_app_401();
}

#[tokio::test]
async fn the_apps_caregiver_check_refuses_before_signing() {
    let app = routes().with_state(AppState {
        issuer: restricted_issuer(),
    });
    check_caregiver_check(|uri| send_to(app.clone(), request("GET", Some("ada"), &uri))).await;
    // The one-call routes ask it too.
    let app: Router = token_routes::<DemoUser, _>(restricted_issuer());
    send_to(
        app,
        request("GET", Some("ada"), "/source-token/mem_stranger"),
    )
    .await
    .assert_source_error(403, "authorization_error", "caregiver_not_allowed");
}

#[tokio::test]
async fn errors_answer_http_in_sources_shape() {
    let app: Router = Router::new()
        .route("/parse/{id}", get(parse))
        .route("/fail", get(fail));
    check_errors_answer_http(|uri| send_to(app.clone(), request("GET", None, uri))).await;
}
