//! No secret or token ever shows in logs, `Debug`, `Display`, errors or response
//! bodies.
//!
//! A global TRACE subscriber captures everything logged through `tracing` or `log`
//! by this crate and its dependencies (hyper-util, reqwest, axum, tokio's mio). Each test drives a
//! part of the crate against a real MockSource over loopback, keeps every string
//! it formatted or received, and then searches those and the whole log for the
//! secrets it used and the tokens that were minted, as seen on the wire.

mod common;
mod support;

use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, UNIX_EPOCH};
use std::{fmt, io};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{KEY_ID, NOW, SECRET, api_key, clock};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use source_auth::testing::{
    ManualClock, MockSource, Relationship, RelationshipStatus, parse_authorization,
};
use source_auth::{
    ApiKey, BoxError, Credential, MemberGrant, SourceAuthLayer, TokenSigner, TokenVerifier,
    UserToken,
};
use support::{get, hyper_client};
use tower::{Layer, ServiceExt, service_fn};
use tracing::Level;

const LIVE_SECRET: &str = "sk_live_LeakCheckLiveSecret0000000000000";
const USER_TOKEN: &str = "ut_LeakCheckUserToken000000000";
/// Well-formed, registered nowhere.
const WRONG_SECRET: &str = "sk_test_LeakCheckWrongSecret000000000000";
const PATIENT: &str = "mem_patient1";
const PARENT: &str = "mem_parent1";
/// The caregiver of the tracing test only, to pick its events out of the shared log.
const TRACED_ACTOR: &str = "mem_tracedcaregiver1";

/// Everything the subscriber wrote, shared by all tests of this binary.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Appends to [`LOG`]; the subscriber makes one per event.
struct LogWriter;

impl io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Installs the TRACE subscriber once, for every thread.
fn capture_logs() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // `try_init` also routes the `log` crate (reqwest's logging) into it.
        tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init()
            .expect("the only subscriber of this test binary");
    });
}

/// What the subscriber wrote so far.
fn log_text() -> String {
    let bytes = LOG.lock().unwrap_or_else(PoisonError::into_inner);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The secrets one test used and everything it showed.
struct LeakCheck {
    secrets: Vec<String>,
    shown: Vec<(String, String)>,
}

impl LeakCheck {
    fn new(secrets: &[&str]) -> Self {
        // `assert_clean` looks for this line, so a clean log means something.
        capture_logs();
        tracing::trace!("leak check started");
        let mut check = Self {
            secrets: Vec::new(),
            shown: Vec::new(),
        };
        for secret in secrets {
            check.secret(*secret);
        }
        check
    }

    /// A secret that must appear nowhere, and its Basic form, `base64("<secret>:")`.
    fn secret(&mut self, secret: impl Into<String>) {
        let secret = secret.into();
        let basic = STANDARD.encode(format!("{secret}:"));
        self.secrets.extend([secret, basic]);
    }

    /// The credential of an `Authorization` value seen on the wire: a minted token,
    /// or a key or user token.
    fn wire_credential(&mut self, value: &HeaderValue) {
        let presented = parse_authorization(value).expect("the layer writes valid headers");
        self.secret(presented.credential());
    }

    fn show(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.shown.push((what.into(), text.into()));
    }

    fn debug(&mut self, what: &str, value: &impl fmt::Debug) {
        self.show(what, format!("{value:?} {value:#?}"));
    }

    /// An error's Display, Debug and sources.
    fn error(&mut self, what: &str, err: &(dyn std::error::Error + 'static)) {
        self.show(what, format!("{err} {err:?}"));
        let mut source = err.source();
        while let Some(err) = source {
            self.show(what, format!("{err} {err:?}"));
            source = err.source();
        }
    }

    /// Panics, naming where but never printing the secret, if one shows anywhere.
    fn assert_clean(self) {
        let log = log_text();
        assert!(log.contains("leak check started"), "the log is captured");
        assert!(!log.contains("eyJ"), "a JWT is in the log");
        for (n, secret) in self.secrets.iter().enumerate() {
            assert!(!log.contains(secret.as_str()), "secret #{n} is in the log");
            for (what, text) in &self.shown {
                assert!(!text.contains(secret.as_str()), "secret #{n} is in {what}");
            }
        }
    }
}

fn live_key() -> ApiKey {
    ApiKey::new("key_live1", LIVE_SECRET).expect("valid live key")
}

fn user_token() -> UserToken {
    UserToken::new(USER_TOKEN).expect("valid user token")
}

/// A MockSource that knows the test key, the live key, the user token and that
/// the parent cares for the patient.
async fn mock() -> MockSource {
    let mock = MockSource::start().await.expect("mock starts");
    mock.add_api_key(&api_key());
    mock.add_api_key(&live_key());
    mock.add_user_token(&user_token());
    mock.set_relationship(
        Relationship {
            member: PATIENT,
            caregiver: PARENT,
        },
        RelationshipStatus::Active,
    )
    .expect("valid members");
    mock
}

#[test]
fn credentials_signing_and_their_errors_never_show_secrets() {
    let mut check = LeakCheck::new(&[SECRET, LIVE_SECRET, USER_TOKEN]);
    let signer = TokenSigner::new(api_key()).with_clock(clock());
    let member = signer.sign(&MemberGrant::member(PATIENT)).unwrap();
    let caregiver = signer
        .sign(
            &MemberGrant::member(PATIENT)
                .caregiver(PARENT)
                .scopes(["read"]),
        )
        .unwrap();
    for token in [&member, &caregiver] {
        check.secret(token.as_str());
        check.debug("MemberToken", token);
        check.debug("Credential", &Credential::from(token.clone()));
    }
    check.debug("ApiKey", &api_key());
    check.debug("ApiKey", &live_key());
    check.debug("UserToken", &user_token());
    check.debug("Credential", &Credential::from(api_key()));
    check.debug("Credential", &Credential::from(user_token()));
    check.debug("TokenSigner", &signer);
    let verifier = TokenVerifier::new([api_key(), live_key()])
        .unwrap()
        .with_clock(clock());
    check.debug("TokenVerifier", &verifier);
    for layer in [
        SourceAuthLayer::api_key(api_key()),
        SourceAuthLayer::api_key_basic(live_key()),
        SourceAuthLayer::user_token(user_token()),
        SourceAuthLayer::member_token(member.clone()),
        SourceAuthLayer::member(signer.clone(), MemberGrant::member(PATIENT)).unwrap(),
        SourceAuthLayer::per_request(signer.clone()),
    ] {
        check.debug("SourceAuthLayer", &layer);
        check.debug("SourceAuth", &layer.layer(()));
    }
    check.debug("MemberClaims", &verifier.verify(member.as_str()).unwrap());

    // Every way a credential is refused, with the secret in the refused input.
    let refused = [
        ApiKey::new("key with spaces", SECRET).unwrap_err(),
        ApiKey::new(KEY_ID, format!("{SECRET} trailing")).unwrap_err(),
        ApiKey::new(KEY_ID, USER_TOKEN).unwrap_err(),
        UserToken::new(format!("{USER_TOKEN}\r\nInjected: yes")).unwrap_err(),
    ];
    let mut other_signer = TokenSigner::new(ApiKey::new("key_other", WRONG_SECRET).unwrap());
    other_signer = other_signer.with_clock(clock());
    let unknown_key = other_signer.sign(&MemberGrant::member(PATIENT)).unwrap();
    let tampered = format!("{}x", member.as_str());
    let oversized = format!("{}{}", member.as_str(), "A".repeat(9000));
    let later = TokenVerifier::new([api_key()])
        .unwrap()
        .with_clock(ManualClock::new(
            member.expires_at() + Duration::from_secs(3600),
        ));
    let rejected = [
        verifier.verify(unknown_key.as_str()).unwrap_err(),
        verifier.verify(&tampered).unwrap_err(),
        verifier.verify(&oversized).unwrap_err(),
        later.verify(member.as_str()).unwrap_err(),
    ];
    check.secret(unknown_key.as_str());
    check.secret(WRONG_SECRET);
    for err in refused.iter().chain(&rejected) {
        check.error("Error", err);
    }
    check.assert_clean();
}

/// A hyper client that keeps each request's `Debug` and `Authorization` as it
/// leaves the layer.
fn recording_client(
    seen: Arc<Mutex<Vec<Request<Empty<Bytes>>>>>,
) -> impl tower::Service<Request<Empty<Bytes>>, Response = Response<Incoming>, Error = BoxError> + Clone
{
    let client = hyper_client();
    service_fn(move |request: Request<Empty<Bytes>>| {
        let (client, seen) = (client.clone(), seen.clone());
        async move {
            let copy = {
                let mut copy = Request::new(Empty::new());
                *copy.method_mut() = request.method().clone();
                *copy.uri_mut() = request.uri().clone();
                *copy.headers_mut() = request.headers().clone();
                copy
            };
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(copy);
            client.request(request).await.map_err(BoxError::from)
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_over_hyper_never_shows_secrets() {
    let mut check = LeakCheck::new(&[SECRET, LIVE_SECRET, USER_TOKEN]);
    let mock = mock().await;
    let elsewhere = MockSource::start().await.expect("second mock starts");
    let base = mock.base_url();
    let signer = TokenSigner::new(api_key());
    let minted = signer.sign(&MemberGrant::member(PARENT)).unwrap();
    check.secret(minted.as_str());
    let layers = [
        SourceAuthLayer::api_key(api_key()),
        SourceAuthLayer::api_key_basic(live_key()),
        SourceAuthLayer::user_token(user_token().live_mode(false)),
        SourceAuthLayer::member_token(minted.clone()),
        SourceAuthLayer::member(signer.clone(), MemberGrant::member(PATIENT)).unwrap(),
    ];
    let seen = Arc::new(Mutex::new(Vec::new()));
    for layer in layers {
        let client = layer
            .base_url(base)
            .unwrap()
            .layer(recording_client(seen.clone()));
        let mut requests = vec![
            get(&format!("{base}/v1/members")),
            get(&format!("{}/v1/members", elsewhere.base_url())),
        ];
        // Per-request overrides: a grant minted by the layer, a token made here.
        let mut with_grant = get(&format!("{base}/v1/members/{PATIENT}"));
        with_grant
            .extensions_mut()
            .insert(MemberGrant::member(PATIENT).caregiver(PARENT));
        let mut with_token = get(&format!("{base}/v1/members/{PARENT}"));
        with_token.extensions_mut().insert(minted.clone());
        requests.extend([with_grant, with_token]);
        for request in requests {
            match client.clone().oneshot(request).await {
                Ok(response) => {
                    check.debug("response", &response);
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    check.show("response body", String::from_utf8_lossy(&body));
                }
                // Only the API key layers can sign the caregiver grant.
                Err(err) => check.error("layer error", err.as_ref()),
            }
        }
    }

    // Refused by the layer itself: a bad grant, an expired token.
    let client = SourceAuthLayer::api_key(api_key())
        .base_url(base)
        .unwrap()
        .layer(recording_client(seen.clone()));
    let mut bad_grant = get(&format!("{base}/v1/members"));
    bad_grant
        .extensions_mut()
        .insert(MemberGrant::member(PATIENT).caregiver(PATIENT));
    let err = client.oneshot(bad_grant).await.unwrap_err();
    check.error("layer error", err.as_ref());
    let expired = SourceAuthLayer::member_token(minted.clone())
        .with_clock(ManualClock::new(
            minted.expires_at() + Duration::from_secs(60),
        ))
        .base_url(base)
        .unwrap()
        .layer(recording_client(seen.clone()));
    let err = expired
        .oneshot(get(&format!("{base}/v1/members")))
        .await
        .unwrap_err();
    check.error("layer error", err.as_ref());

    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    let (mut to_source, mut to_elsewhere) = (0, 0);
    for request in &seen {
        let authorization = request.headers().get(AUTHORIZATION);
        if request.uri().to_string().starts_with(base) {
            let value = authorization.expect("requests to Source are authorized");
            assert!(value.is_sensitive(), "the header is marked sensitive");
            check.wire_credential(value);
            to_source += 1;
        } else {
            assert_eq!(authorization, None, "requests elsewhere are untouched");
            to_elsewhere += 1;
        }
        check.debug("request as sent", request);
    }
    assert!(
        to_source > 0 && to_elsewhere > 0,
        "both kinds of request were sent"
    );
    check.debug("MockSource", &mock);
    check.debug("recorded requests", &mock.requests());
    check.debug("recorded requests", &elsewhere.requests());
    check.assert_clean();
}

/// The layer's own `tracing` events say why a request went out as it did, at the
/// right level, and never carry a secret, a token or a header value.
#[tokio::test]
async fn the_layers_events_explain_each_request_and_show_no_secret() {
    let mut check = LeakCheck::new(&[SECRET, LIVE_SECRET, USER_TOKEN]);
    let clock = clock();
    let echo = service_fn(|request: Request<()>| async move {
        Ok::<_, std::convert::Infallible>(Response::new(request.headers().clone()))
    });
    let layer = SourceAuthLayer::api_key(api_key()).with_clock(clock.clone());
    let service = layer.layer(echo);
    let url = "https://api.sourcehealth.com/v1/members";
    let with = |grant: MemberGrant| {
        let mut request = Request::get(url).body(()).unwrap();
        request.extensions_mut().insert(grant);
        request
    };
    // Minted, then refreshed once the first token is due.
    for _ in 0..2 {
        let headers = service
            .clone()
            .oneshot(with(MemberGrant::member(PATIENT).caregiver(TRACED_ACTOR)))
            .await
            .unwrap()
            .into_body();
        check.wire_credential(&headers[AUTHORIZATION]);
        clock.advance(Duration::from_secs(5 * 60));
    }
    // Refused, left alone, and the caller's own header kept.
    let bad = with(MemberGrant::member(PATIENT).ttl(Duration::from_secs(25 * 3600)));
    service.clone().oneshot(bad).await.unwrap_err();
    let mut both = with(MemberGrant::member(PATIENT));
    both.extensions_mut().insert(
        TokenSigner::new(api_key())
            .with_clock(clock.clone())
            .sign(&MemberGrant::member(PATIENT))
            .unwrap(),
    );
    service.clone().oneshot(both).await.unwrap_err();
    let mut off_origin = Request::get("https://example.com/v1/members")
        .body(())
        .unwrap();
    off_origin
        .extensions_mut()
        .insert(MemberGrant::member(PATIENT));
    service.clone().oneshot(off_origin).await.unwrap_err();
    let elsewhere = Request::get("https://example.com/v1/members")
        .body(())
        .unwrap();
    service.clone().oneshot(elsewhere).await.unwrap();
    let own = Request::get(url)
        .header(AUTHORIZATION, format!("Bearer {USER_TOKEN}"))
        .body(())
        .unwrap();
    service.oneshot(own).await.unwrap();
    // The reqwest path says the same of a request elsewhere.
    #[cfg(feature = "reqwest")]
    {
        let stand_in = service_fn(|_: reqwest::Request| async {
            Ok::<_, std::convert::Infallible>(reqwest::Response::from(http::Response::new("")))
        });
        let elsewhere = reqwest::Request::new(
            reqwest::Method::GET,
            "https://elsewhere.example/v1".parse().unwrap(),
        );
        layer.layer(stand_in).oneshot(elsewhere).await.unwrap();
    }

    let log = log_text();
    let events = |needle: &str| {
        log.lines()
            .filter(|line| line.contains(needle))
            .collect::<Vec<_>>()
    };
    // Other tests of this binary log too: look at this test's mints only.
    let minted: Vec<_> = events("source-auth minted a member token")
        .into_iter()
        .filter(|line| line.contains(TRACED_ACTOR))
        .collect();
    assert!(minted.len() >= 2, "{minted:?}");
    for line in &minted {
        // TRACE is on, so each mint carries the ids, and nothing more secret.
        assert!(line.contains("TRACE"), "{line}");
        assert!(line.contains("grant=\"caregiver\""), "{line}");
        assert!(
            line.contains(&format!("actor=\"{TRACED_ACTOR}\"")),
            "{line}"
        );
        assert!(line.contains(&format!("key_id=\"{KEY_ID}\"")), "{line}");
        assert!(line.contains(&format!("subject=\"{PATIENT}\"")), "{line}");
    }
    assert!(minted.iter().any(|line| line.contains("refresh=true")));
    assert!(minted.iter().any(|line| line.contains("refresh=false")));
    let refused = events("source-auth refused a request");
    for kind in ["InvalidExpiry", "ConflictingCredentials", "NotSourceOrigin"] {
        assert!(
            refused
                .iter()
                .any(|line| line.contains("DEBUG") && line.contains(kind)),
            "{kind}: {refused:#?}"
        );
    }
    let left_alone = events("source-auth left a request alone");
    assert!(
        left_alone
            .iter()
            .any(|line| line.contains("host=\"example.com\""))
    );
    #[cfg(feature = "reqwest")]
    assert!(
        left_alone
            .iter()
            .any(|line| line.contains("host=\"elsewhere.example\""))
    );
    assert!(!events("kept the caller's own Authorization").is_empty());
    check.assert_clean();
}

/// Sends `GET /v1/members` with these `Authorization` values and returns what came back.
async fn send_raw(mock: &MockSource, values: &[&str]) -> (StatusCode, String, String) {
    let mut request = get(&format!("{}/v1/members", mock.base_url()));
    for value in values {
        request
            .headers_mut()
            .append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    }
    let response = hyper_client().request(request).await.unwrap();
    let status = response.status();
    let headers = format!("{:?}", response.headers());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_source_never_echoes_a_credential() {
    let mut check = LeakCheck::new(&[SECRET, LIVE_SECRET, USER_TOKEN, WRONG_SECRET]);
    let mock = MockSource::start()
        .await
        .expect("mock starts")
        .with_clock(clock());
    mock.add_api_key(&api_key());
    mock.add_user_token(&user_token());
    let signer = TokenSigner::new(api_key()).with_clock(clock());
    let caregiver = signer
        .sign(&MemberGrant::member(PATIENT).caregiver(PARENT))
        .unwrap();
    let past = TokenSigner::new(api_key())
        .with_clock(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(NOW - 3600),
        ))
        .sign(&MemberGrant::member(PATIENT))
        .unwrap();
    let unknown = TokenSigner::new(ApiKey::new("key_other", WRONG_SECRET).unwrap())
        .with_clock(clock())
        .sign(&MemberGrant::member(PATIENT))
        .unwrap();
    for token in [&caregiver, &past, &unknown] {
        check.secret(token.as_str());
    }
    let basic = |user_and_password: &str| format!("Basic {}", STANDARD.encode(user_and_password));
    let cases = [
        (
            vec![format!("Bearer {WRONG_SECRET}")],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![basic(&format!("{SECRET}:password"))],
            StatusCode::UNAUTHORIZED,
        ),
        (vec![basic(SECRET)], StatusCode::UNAUTHORIZED),
        (vec![format!("Token {SECRET}")], StatusCode::UNAUTHORIZED),
        (
            vec![format!("Bearer {SECRET} {USER_TOKEN}")],
            StatusCode::UNAUTHORIZED,
        ),
        (vec![SECRET.to_owned()], StatusCode::UNAUTHORIZED),
        (
            vec![format!("Bearer {SECRET}"), format!("Bearer {USER_TOKEN}")],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![format!("Bearer {}", past.as_str())],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![format!("Bearer {}", unknown.as_str())],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![format!("Bearer {}x", caregiver.as_str())],
            StatusCode::UNAUTHORIZED,
        ),
        // No relationship registered: 403.
        (
            vec![format!("Bearer {}", caregiver.as_str())],
            StatusCode::FORBIDDEN,
        ),
        (vec![format!("Bearer {SECRET}")], StatusCode::OK),
        (vec![basic(&format!("{SECRET}:"))], StatusCode::OK),
        (vec![format!("Bearer {USER_TOKEN}")], StatusCode::OK),
    ];
    for (values, expected) in &cases {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let (status, headers, body) = send_raw(&mock, &values).await;
        assert_eq!(status, *expected, "{body}");
        check.show("response headers", headers);
        check.show("response body", body);
    }
    check.debug("MockSource", &mock);
    check.debug("recorded requests", &mock.requests());
    for value in [
        "Bearer sk_test_x",
        &format!("Basic {}", STANDARD.encode(format!("{SECRET}:"))),
    ] {
        let presented = parse_authorization(&HeaderValue::from_str(value).unwrap()).unwrap();
        check.debug("Presented", &presented);
    }
    check.assert_clean();
}

#[cfg(feature = "reqwest")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_and_its_middleware_never_show_secrets() {
    let mut check = LeakCheck::new(&[SECRET, LIVE_SECRET, USER_TOKEN]);
    let mock = mock().await;
    let base = mock.base_url();
    let url = format!("{base}/v1/members/{PATIENT}");
    let signer = TokenSigner::new(api_key());
    let seen = Arc::new(Mutex::new(Vec::new()));
    for layer in [
        SourceAuthLayer::api_key_basic(api_key()),
        SourceAuthLayer::user_token(user_token()),
        SourceAuthLayer::member(signer.clone(), MemberGrant::member(PATIENT)).unwrap(),
    ] {
        let recorded = seen.clone();
        let client = reqwest::Client::new();
        let recording = service_fn(move |request: reqwest::Request| {
            let headers = request.headers().clone();
            recorded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((format!("{request:?}"), headers));
            client.execute(request)
        });
        let client = layer.base_url(base).unwrap().layer(recording);
        let request = reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap());
        let response = client.oneshot(request).await.unwrap();
        check.debug("reqwest response", &response);
        check.show("response body", response.text().await.unwrap());
    }
    let layer = SourceAuthLayer::member(signer, MemberGrant::member(PARENT))
        .unwrap()
        .base_url(base)
        .unwrap();
    check.debug("SourceAuthLayer as middleware", &layer);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(layer)
        .build();
    let response = client
        .get(&url)
        .with_extension(MemberGrant::member(PATIENT).caregiver(PARENT))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    check.show("response body", response.text().await.unwrap());
    let err = client
        .get(&url)
        .with_extension(MemberGrant::member(PATIENT).caregiver("mem_not valid"))
        .send()
        .await
        .unwrap_err();
    check.error("middleware error", &err);

    for (debug, headers) in seen.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        let value = headers.get(AUTHORIZATION).expect("authorized");
        assert!(value.is_sensitive(), "the header is marked sensitive");
        check.wire_credential(value);
        check.show("reqwest request as sent", debug.clone());
    }
    check.debug("recorded requests", &mock.requests());
    check.assert_clean();
}

/// The check itself catches a secret in a formatted value...
#[test]
#[should_panic(expected = "secret #0 is in a deliberate leak")]
fn the_check_catches_a_shown_secret() {
    let mut check = LeakCheck::new(&[USER_TOKEN]);
    check.show("a deliberate leak", format!("token={USER_TOKEN}"));
    check.assert_clean();
}

/// ...and in the log. This secret is used nowhere else, so no other test trips on it.
#[test]
#[should_panic(expected = "secret #0 is in the log")]
fn the_check_catches_a_logged_secret() {
    let secret = "ut_DeliberatelyLoggedOnlyHere0000";
    let check = LeakCheck::new(&[secret]);
    tracing::trace!("token={secret}");
    check.assert_clean();
}

#[cfg(feature = "axum")]
mod axum_extractors {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::FromRequestParts;
    use axum::http::request::Parts;
    use axum::routing::get;
    use source_auth::SourceIdentity;
    use source_auth::axum::{
        ExtractorConfig, SourceCaregiver, SourceMember, TokenIssuer, caregiver_token_endpoint,
        token_endpoint,
    };

    use super::*;

    /// A toy login: `x-user: <member id>`, or `x-user: none` for a user with no member.
    #[derive(Debug)]
    struct User(Option<String>);

    impl SourceIdentity for User {
        fn source_member_id(&self) -> Option<&str> {
            self.0.as_deref()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for User {
        type Rejection = StatusCode;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
            match parts.headers.get("x-user").map(HeaderValue::to_str) {
                Some(Ok("none")) => Ok(User(None)),
                Some(Ok(member)) => Ok(User(Some(member.to_owned()))),
                _ => Err(StatusCode::UNAUTHORIZED),
            }
        }
    }

    async fn debug_member(member: SourceMember<User>) -> String {
        let caregiver = member.caregiver_for(PATIENT).await;
        format!("{member:?} {caregiver:?}")
    }

    async fn debug_caregiver(caregiver: SourceCaregiver<User>) -> String {
        format!("{caregiver:?}")
    }

    #[tokio::test]
    async fn axum_extractors_and_endpoints_never_show_secrets() {
        let mut check = LeakCheck::new(&[SECRET]);
        let app = Router::new()
            .route("/member", get(debug_member))
            .route("/caregiver/{member_id}", get(debug_caregiver))
            // No `{member_id}` in the path: a misconfigured route, logged as an error.
            .route("/misconfigured", get(debug_caregiver))
            .route("/source-token", get(token_endpoint::<User>))
            .route(
                "/source-token/{member_id}",
                get(caregiver_token_endpoint::<User>),
            )
            .with_state(
                TokenIssuer::new(TokenSigner::new(api_key()), ExtractorConfig::default()).unwrap(),
            );
        let requests = [
            ("/member", Some(PARENT), StatusCode::OK),
            ("/caregiver/mem_patient1", Some(PARENT), StatusCode::OK),
            (
                "/caregiver/mem_parent1",
                Some(PARENT),
                StatusCode::BAD_REQUEST,
            ),
            (
                "/caregiver/not-a-member",
                Some(PARENT),
                StatusCode::BAD_REQUEST,
            ),
            (
                "/misconfigured",
                Some(PARENT),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            ("/member", Some("none"), StatusCode::FORBIDDEN),
            // The app maps its user to a malformed member id: logged as an error.
            (
                "/member",
                Some("mem_bad id"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            ("/member", None, StatusCode::UNAUTHORIZED),
            ("/source-token", Some(PARENT), StatusCode::OK),
            ("/source-token/mem_patient1", Some(PARENT), StatusCode::OK),
        ];
        for (path, user, expected) in requests {
            let mut request = Request::get(path);
            if let Some(user) = user {
                request = request.header("x-user", user);
            }
            let response = app
                .clone()
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), expected, "{path}");
            check.debug("response", &response);
            let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                .await
                .unwrap();
            let body = String::from_utf8_lossy(&body).into_owned();
            match serde_json::from_str::<serde_json::Value>(&body) {
                // A token endpoint's body holds the token: its one place.
                Ok(json) if json["token"].is_string() => {
                    check.secret(json["token"].as_str().unwrap_or_default());
                }
                _ => check.show(path, body),
            }
        }
        let log = log_text();
        assert!(
            log.contains("cannot issue a Source member token"),
            "errors are logged"
        );
        check.assert_clean();
    }
}
