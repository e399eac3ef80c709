//! The actix-web extractors and token endpoints, driven through `test::init_service`.

mod common;
mod extract_support;
mod log_capture;
mod support;

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, Service, ServiceResponse};
use actix_web::error::ErrorUnauthorized;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::test::{self, TestRequest};
use actix_web::{App, FromRequest, HttpRequest, ResponseError, web};
use extract_support::*;
use source_auth::actix::{
    SourceCaregiver, SourceMember, SourceRejection, caregiver_token_endpoint, configure,
    token_endpoint,
};
use source_auth::{InvalidInput, MemberId, SourceIdentity};

/// The app's own user, from the demo login.
#[derive(Debug)]
struct DemoUser {
    member_id: Option<String>,
}

impl SourceIdentity for DemoUser {
    fn source_member_id(&self) -> Option<&str> {
        self.member_id.as_deref()
    }
}

impl FromRequest for DemoUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let name = req
            .headers()
            .get(LOGIN_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        ready(
            demo_member(name)
                .map(|member_id| Self { member_id })
                .ok_or_else(|| ErrorUnauthorized(APP_401_BODY)),
        )
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
    subject: web::Path<String>,
) -> Result<String, SourceRejection> {
    Ok(member.caregiver_for(&subject).await?.as_str().to_owned())
}

async fn caregiver(caregiver: SourceCaregiver<DemoUser>) -> String {
    caregiver.token.as_str().to_owned()
}

/// The routes of the table in `extract_support`, plus one with another parameter name.
fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/whoami", web::get().to(whoami))
        .route("/whoami", web::post().to(whoami))
        .route("/maybe", web::get().to(maybe))
        .route("/care-for/{subject}", web::get().to(care_for))
        .route("/caregiver/{member_id}", web::get().to(caregiver))
        .route("/caregiver/{member_id}", web::post().to(caregiver))
        .route("/caregiver/{act}/{member_id}", web::get().to(caregiver))
        .route("/no-param", web::get().to(caregiver))
        .route("/source-token", web::get().to(token_endpoint::<DemoUser>))
        .route(
            "/source-token/{member_id}",
            web::get().to(caregiver_token_endpoint::<DemoUser>),
        )
        .route(
            "/patients/{patient}/token",
            web::get().to(caregiver_token_endpoint::<DemoUser>),
        );
}

async fn send<S, R, B>(app: &S, request: R) -> Reply
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request).await;
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, content_type, cache_control) = (
        response.status().as_u16(),
        header(CONTENT_TYPE),
        header(CACHE_CONTROL),
    );
    let body = test::read_body(response).await;
    Reply {
        status,
        content_type,
        cache_control,
        body: String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
    }
}

fn request(user: Option<&str>, uri: &str) -> TestRequest {
    let request = TestRequest::get().uri(uri);
    match user {
        Some(user) => request.insert_header((LOGIN_HEADER, user)),
        None => request,
    }
}

/// The app the shared checks drive.
struct Actix;

impl Routes for Actix {
    async fn get_as(&self, user: Option<&str>, uri: &str) -> Reply {
        let app = test::init_service(App::new().app_data(issuer()).configure(routes)).await;
        send(&app, request(user, uri).to_request()).await
    }
}

#[actix_web::test]
async fn member_token_for_the_signed_in_user() {
    check_member_token_for_the_signed_in_user(&Actix).await;
}

#[actix_web::test]
async fn token_endpoints_answer_token_and_expiry_uncached() {
    check_token_endpoints(&Actix).await;
}

#[actix_web::test]
async fn caregiver_extractor_and_caregiver_for_sign_the_same_claims() {
    check_caregiver_extractor_and_caregiver_for_agree(&Actix).await;
}

#[actix_web::test]
async fn the_issuer_may_be_registered_as_data() {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(issuer()))
            .configure(routes),
    )
    .await;
    let reply = send(&app, request(Some("ada"), "/whoami").to_request()).await;
    assert_ada_herself(&reply.claims());
}

#[actix_web::test]
async fn a_missing_login_is_the_apps_own_rejection() {
    check_missing_login(&Actix).await;
}

#[actix_web::test]
async fn a_user_without_a_source_member_is_forbidden() {
    check_user_without_a_member(&Actix).await;
}

#[actix_web::test]
async fn an_invalid_subject_is_a_bad_request() {
    check_invalid_subjects(&Actix).await;
}

#[actix_web::test]
async fn a_caregiver_token_for_oneself_is_a_bad_request() {
    check_caregiver_for_oneself(&Actix).await;
}

#[actix_web::test]
async fn server_side_failures_are_a_generic_500_and_a_log_line() {
    check_server_side_failures(&Actix).await;
}

/// No issuer, a bare signer, or a stray configuration: a 500 and a log line that
/// says what to register, never the defaults silently.
#[actix_web::test]
async fn a_missing_issuer_is_a_generic_500_and_a_log_line_that_says_what_to_add() {
    let cases = [
        (App::new(), "no TokenIssuer in the actix-web app data"),
        (
            App::new().app_data(signer()),
            "has a TokenSigner but no TokenIssuer",
        ),
        (
            App::new().app_data(issuer()).app_data(configuration()),
            "an ExtractorConfig is in the actix-web app data",
        ),
        (
            App::new()
                .app_data(issuer())
                .app_data(web::Data::new(configuration())),
            "an ExtractorConfig is in the actix-web app data",
        ),
    ];
    for (app, expected) in cases {
        let logs = LogCapture::start();
        let app = test::init_service(app.configure(routes)).await;
        for uri in ROUTES_SIGNING_FOR_THE_USER {
            send(&app, request(Some("ada"), uri).to_request())
                .await
                .assert_generic_500();
        }
        // Still the app's own 401 first.
        send(&app, request(None, "/whoami").to_request())
            .await
            .assert_app_401();

        let lines = logs.error_lines();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines.iter().all(|line| line.contains(expected)),
            "{lines:#?}"
        );
    }
}

#[actix_web::test]
async fn the_grant_and_the_parameter_name_are_configurable() {
    let app = test::init_service(
        App::new()
            .app_data(configured(configuration()))
            .configure(routes),
    )
    .await;
    check_configured_grant(|uri| send(&app, request(Some("ada"), uri).to_request())).await;
}

fn forged(method: &str, uri: &str) -> TestRequest {
    let request = match method {
        "POST" => TestRequest::post(),
        _ => TestRequest::get(),
    };
    forged_headers()
        .into_iter()
        .fold(request.uri(uri), |request, header| {
            request.insert_header(header)
        })
        .set_payload(FORGED_BODY)
}

#[actix_web::test]
async fn forged_actors_are_ignored() {
    let app = test::init_service(App::new().app_data(issuer()).configure(routes)).await;
    for (method, uri) in forged_caregiver_requests() {
        let claims = send(&app, forged(method, &uri).to_request()).await.claims();
        assert_ada_cares_for_kid(&claims);
    }
    for (method, uri) in forged_member_requests() {
        let claims = send(&app, forged(method, &uri).to_request()).await.claims();
        assert_ada_herself(&claims);
    }
}

#[actix_web::test]
async fn optional_member_is_none_on_any_failure() {
    // actix-web's `Option<T>` turns every extraction error into `None`.
    for user in [None, Some("nomember"), Some("broken"), Some("not a user!")] {
        let reply = Actix.get_as(user, "/maybe").await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "none"));
    }
    assert_ada_herself(&Actix.get_as(Some("ada"), "/maybe").await.claims());
}

#[actix_web::test]
async fn rejections_respond_through_response_error() {
    for (rejection, status) in [
        (SourceRejection::NoSourceMember, StatusCode::FORBIDDEN),
        (SourceRejection::InvalidSubject, StatusCode::BAD_REQUEST),
        (SourceRejection::SubjectIsActor, StatusCode::BAD_REQUEST),
        (
            SourceRejection::Misconfigured,
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            SourceRejection::SigningFailed,
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ] {
        assert_eq!(rejection.status_code(), status);
        assert_eq!(rejection.status().as_u16(), status.as_u16());
        let response = rejection.error_response();
        assert_eq!(response.status(), status);
        let body = response.into_body().try_into_bytes().expect("a full body");
        assert_eq!(body, rejection.body_text().as_bytes());
    }
}

#[actix_web::test]
async fn concurrent_requests_each_get_their_own_subject() {
    let app = Rc::new(test::init_service(App::new().app_data(issuer()).configure(routes)).await);
    let tasks: Vec<_> = (0..CONCURRENT_REQUESTS)
        .map(|i| {
            let app = Rc::clone(&app);
            actix_web::rt::spawn(async move {
                let (user, uri) = concurrent_request(i);
                send(&*app, request(Some(&user), &uri).to_request()).await
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_concurrent_claims(i, &task.await.expect("the task ran"));
    }
}

async fn parse(id: web::Path<String>) -> Result<String, InvalidInput> {
    Ok(MemberId::parse(&id)?.to_string())
}

async fn fail() -> Result<String, source_auth::Error> {
    failing_signature()
}

/// `App::configure(configure::<User>(issuer))` wires the issuer and both token
/// endpoints, with the caregiver route's parameter taken from the issuer's
/// configuration, and the app's other routes find the issuer too.
#[actix_web::test]
async fn one_call_wires_the_issuer_and_the_token_endpoints() {
    let app = test::init_service(
        App::new()
            .configure(configure::<DemoUser>(configured(configuration())))
            .route("/whoami", web::get().to(whoami)),
    )
    .await;
    check_one_call_wiring(|uri| send(&app, request(Some("ada"), uri).to_request())).await;
    let reply = send(&app, request(Some("ada"), "/whoami").to_request()).await;
    assert_ada_herself(&reply.claims());
    // Under a scope too.
    let app = test::init_service(
        App::new().service(web::scope("/api").configure(configure::<DemoUser>(issuer()))),
    )
    .await;
    let reply = send(
        &app,
        request(Some("ada"), "/api/source-token/mem_kid").to_request(),
    )
    .await;
    assert_ada_cares_for_kid(&reply.token_endpoint_claims());
}

#[actix_web::test]
async fn the_apps_caregiver_check_refuses_before_signing() {
    let app = test::init_service(App::new().app_data(restricted_issuer()).configure(routes)).await;
    check_caregiver_check(|uri| {
        let request = request(Some("ada"), &uri).to_request();
        let app = &app;
        async move { send(app, request).await }
    })
    .await;
}

#[actix_web::test]
async fn errors_answer_http_in_sources_shape() {
    let app = test::init_service(
        App::new()
            .route("/parse/{id}", web::get().to(parse))
            .route("/fail", web::get().to(fail)),
    )
    .await;
    check_errors_answer_http(|uri| send(&app, request(None, uri).to_request())).await;
    // The statuses actix-web reads for logs and middleware agree with the answers.
    let input = MemberId::parse("patient1").unwrap_err();
    assert_eq!(ResponseError::status_code(&input), StatusCode::BAD_REQUEST);
    let error = failing_signature().unwrap_err();
    assert_eq!(
        ResponseError::status_code(&error),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
