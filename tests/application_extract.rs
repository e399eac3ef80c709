//! `SourceApplication` in axum and actix-web: one table of requests, run through
//! both frameworks, which must answer alike (RFC 6750, Source's error body, never
//! the token).

use std::time::{Duration, UNIX_EPOCH};

use actix_web::test as actix_test;
use axum::body::{Body, to_bytes};
use axum::extract::FromRef;
use axum::http::Request;
use axum::routing::get;
use serde_json::Value;
use source_auth::application::ApplicationVerifier;
use source_auth::testing::MockSource;
use source_auth::{ErrorKind, ManualClock};
use tower::ServiceExt;

const APP: &str = "app_plugin1";
const USER: &str = "usr_ada1";
const NOW: u64 = 1_700_000_000;

/// A response, as both frameworks' are compared.
#[derive(Debug, PartialEq)]
struct Reply {
    status: u16,
    challenge: Option<String>,
    body: String,
}

/// What one request sends and what it must get.
struct Case {
    name: &'static str,
    authorization: Vec<String>,
    status: u16,
    challenge: Option<&'static str>,
    /// The handler's answer, or the error `code` in Source's body.
    answer: &'static str,
}

/// A mock Source on a fixed clock, a verifier for its application, and the table.
async fn fixture() -> (MockSource, ApplicationVerifier, Vec<Case>) {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW));
    let source = MockSource::start().await.unwrap().with_clock(clock.clone());
    let verifier = ApplicationVerifier::new(APP, [source.application(APP).unwrap()])
        .unwrap()
        .with_clock(clock.clone());
    let token = source.application_token(APP, USER).unwrap();
    let other_app = source.application_token("app_other1", USER).unwrap();
    clock.set(UNIX_EPOCH + Duration::from_secs(NOW - 3600));
    let an_hour_old = source.application_token(APP, USER).unwrap();
    clock.set(UNIX_EPOCH + Duration::from_secs(NOW - 2000));
    let expired = source.application_token(APP, USER).unwrap();
    clock.set(UNIX_EPOCH + Duration::from_secs(NOW));

    let case = |name, authorization: &[&str], status, challenge, answer| Case {
        name,
        authorization: authorization
            .iter()
            .map(|value| value.to_string())
            .collect(),
        status,
        challenge,
        answer,
    };
    const INVALID_TOKEN: Option<&str> = Some(r#"Bearer error="invalid_token""#);
    const INVALID_REQUEST: Option<&str> = Some(r#"Bearer error="invalid_request""#);
    let cases = vec![
        case("good token", &[&format!("Bearer {token}")], 200, None, USER),
        case(
            "lower-case scheme",
            &[&format!("bearer {token}")],
            200,
            None,
            USER,
        ),
        case("no header", &[], 401, Some("Bearer"), "missing_token"),
        case(
            "Basic",
            &["Basic c2tfdGVzdF9hYmM6"],
            401,
            Some("Bearer"),
            "missing_token",
        ),
        case(
            "another application",
            &[&format!("Bearer {other_app}")],
            401,
            INVALID_TOKEN,
            "invalid_token",
        ),
        case(
            "expired",
            &[&format!("Bearer {expired}")],
            401,
            INVALID_TOKEN,
            "invalid_token",
        ),
        case(
            "signed an hour ago, long expired",
            &[&format!("Bearer {an_hour_old}")],
            401,
            INVALID_TOKEN,
            "invalid_token",
        ),
        case(
            "garbage",
            &["Bearer abc.def.ghi"],
            401,
            INVALID_TOKEN,
            "invalid_token",
        ),
        case(
            "scheme only",
            &["Bearer"],
            400,
            INVALID_REQUEST,
            "invalid_authorization",
        ),
        case(
            "no scheme",
            &[&token],
            400,
            INVALID_REQUEST,
            "invalid_authorization",
        ),
        case(
            "two headers",
            &[&format!("Bearer {token}"), &format!("Bearer {token}")],
            400,
            INVALID_REQUEST,
            "invalid_authorization",
        ),
    ];
    (source, verifier, cases)
}

/// Checks `reply` against `case`, and that the token shows nowhere.
fn check(framework: &str, case: &Case, reply: &Reply) {
    let name = format!("{framework}: {}", case.name);
    assert_eq!(reply.status, case.status, "{name}: {}", reply.body);
    assert_eq!(reply.challenge.as_deref(), case.challenge, "{name}");
    if case.status == 200 {
        assert_eq!(reply.body, case.answer, "{name}");
    } else {
        let body: Value = serde_json::from_str(&reply.body).expect("Source's JSON error body");
        assert_eq!(body["object"], "error", "{name}");
        assert_eq!(body["code"], case.answer, "{name}");
    }
    for value in &case.authorization {
        for part in value.split(['.', ' ']).filter(|part| part.len() > 8) {
            assert!(
                !reply.body.contains(part),
                "{name}: the body echoes the token"
            );
        }
    }
}

async fn whoami_axum(plugin: source_auth::axum::SourceApplication) -> String {
    plugin.claims.user
}

async fn maybe_axum(plugin: Option<source_auth::axum::SourceApplication>) -> String {
    plugin.map_or_else(|| "anonymous".to_owned(), |plugin| plugin.claims.user)
}

/// The app's own state, holding the verifier among its own things.
#[derive(Clone)]
struct AppState {
    verifier: ApplicationVerifier,
}

impl FromRef<AppState> for ApplicationVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

async fn axum_call(app: &axum::Router, uri: &str, authorization: &[String]) -> Reply {
    let mut request = Request::get(uri);
    for value in authorization {
        request = request.header("authorization", value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned());
    Reply {
        status: response.status().as_u16(),
        challenge,
        body: String::from_utf8(
            to_bytes(response.into_body(), 64 * 1024)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap(),
    }
}

fn axum_app(verifier: ApplicationVerifier) -> axum::Router {
    axum::Router::new()
        .route("/whoami", get(whoami_axum))
        .route("/maybe", get(maybe_axum))
        .with_state(AppState { verifier })
}

#[tokio::test]
async fn axum_answers_every_case() {
    let (_source, verifier, cases) = fixture().await;
    let app = axum_app(verifier);
    for case in &cases {
        check(
            "axum",
            case,
            &axum_call(&app, "/whoami", &case.authorization).await,
        );
    }
}

/// `None` only without the header: a bad token is still refused.
#[tokio::test]
async fn axum_option_is_none_only_without_a_header() {
    let (_source, verifier, cases) = fixture().await;
    let app = axum_app(verifier);
    for case in &cases {
        let reply = axum_call(&app, "/maybe", &case.authorization).await;
        if case.authorization.is_empty() {
            assert_eq!((reply.status, reply.body.as_str()), (200, "anonymous"));
        } else {
            check("axum Option", case, &reply);
        }
    }
}

async fn whoami_actix(plugin: source_auth::actix::SourceApplication) -> String {
    plugin.claims.user
}

/// A GET of `/whoami` with these `Authorization` headers.
fn actix_request(authorization: &[String]) -> actix_test::TestRequest {
    let mut request = actix_test::TestRequest::get().uri("/whoami");
    for value in authorization {
        request = request.append_header(("authorization", value.as_str()));
    }
    request
}

async fn actix_call<S, R, B>(app: &S, request: R) -> Reply
where
    S: actix_web::dev::Service<
            R,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let response = actix_test::call_service(app, request).await;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned());
    let body = actix_test::read_body(response).await;
    Reply {
        status,
        challenge,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

#[actix_web::test]
async fn actix_answers_every_case() {
    let (_source, verifier, cases) = fixture().await;
    for data in [false, true] {
        let app = actix_web::App::new().route("/whoami", actix_web::web::get().to(whoami_actix));
        let app = if data {
            actix_test::init_service(app.app_data(actix_web::web::Data::new(verifier.clone())))
                .await
        } else {
            actix_test::init_service(app.app_data(verifier.clone())).await
        };
        for case in &cases {
            check(
                "actix",
                case,
                &actix_call(&app, actix_request(&case.authorization).to_request()).await,
            );
        }
    }
}

#[actix_web::test]
async fn actix_without_a_verifier_is_a_generic_500() {
    let (_source, _verifier, cases) = fixture().await;
    let app = actix_test::init_service(
        actix_web::App::new().route("/whoami", actix_web::web::get().to(whoami_actix)),
    )
    .await;
    let reply = actix_call(&app, actix_request(&cases[0].authorization).to_request()).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.challenge, None);
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["type"], "api_error");
    assert_eq!(body["code"], "internal_error");
}

/// The rejection keeps why the token was refused, for the app to log.
#[tokio::test]
async fn rejections_keep_the_reason() {
    use axum::extract::FromRequestParts;
    use source_auth::axum::{ApplicationRejection, SourceApplication};

    let (source, _, _) = fixture().await;
    // APP's key, but a verifier for another application.
    let verifier =
        ApplicationVerifier::new("app_other1", [source.application(APP).unwrap()]).unwrap();
    let token = source.application_token(APP, USER).unwrap();
    let (mut parts, ()) = Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts();
    let state = AppState { verifier };
    let rejection = SourceApplication::from_request_parts(&mut parts, &state)
        .await
        .unwrap_err();
    assert_eq!(
        rejection,
        ApplicationRejection::InvalidToken(ErrorKind::WrongApplication)
    );
}
