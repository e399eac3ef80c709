//! What the axum and actix-web extractor tests share: a fixed clock, the demo
//! users, the requests each case sends, checks of tokens and error bodies, and a
//! log capture. Each framework's test drives the same routes:
//!
//! | route | handler |
//! |---|---|
//! | `/whoami` (GET, POST) | `SourceMember<DemoUser>`, answers the bare token |
//! | `/maybe` | `Option<SourceMember<DemoUser>>`, the bare token or `none` |
//! | `/care-for/{subject}` | `SourceMember::caregiver_for(subject)`, the bare token |
//! | `/caregiver/{member_id}` (GET, POST), `/caregiver/{act}/{member_id}`, `/no-param` | `SourceCaregiver<DemoUser>`, the bare token |
//! | `/source-token`, `/source-token/{member_id}` | the token endpoints |

use serde_json::Value;
#[cfg(not(feature = "axum"))]
use source_auth::actix::{Caregiving, ExtractorConfig, TokenIssuer};
#[cfg(feature = "axum")]
use source_auth::axum::{Caregiving, ExtractorConfig, TokenIssuer};
use source_auth::{MemberClaims, MemberGrant, TokenSigner, TokenVerifier};

use crate::common;

pub use crate::common::{NOW, clock};
pub use crate::log_capture::LogCapture;

/// The body of the demo app's own 401.
pub const APP_401_BODY: &str = "demo app: sign in first";

/// The header the demo login reads.
pub const LOGIN_HEADER: &str = "x-demo-user";

/// The demo login: `None` for no such user (the app's 401), else the user's member.
///
/// `nomember` has no Source member, `broken` has a malformed member id, and any
/// other alphanumeric name `n` is member `mem_n`.
pub fn demo_member(name: &str) -> Option<Option<String>> {
    match name {
        "nomember" => Some(None),
        "broken" => Some(Some("member-7".to_owned())),
        name if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Some(Some(format!("mem_{name}")))
        }
        _ => None,
    }
}

pub fn signer() -> TokenSigner {
    TokenSigner::new(common::api_key()).with_clock(clock())
}

/// The signer with the default configuration, chosen explicitly.
pub fn issuer() -> TokenIssuer {
    configured(ExtractorConfig::default())
}

/// The signer with `config`, which must be valid.
pub fn configured(config: ExtractorConfig) -> TokenIssuer {
    TokenIssuer::new(signer(), config).expect("a valid configuration")
}

/// The configuration of [`check_configured_grant`].
pub fn configuration() -> ExtractorConfig {
    ExtractorConfig::new()
        .ttl(std::time::Duration::from_secs(15 * 60))
        .scopes(["read:profile"])
        .subject_param("patient")
}

pub fn verify(token: &str) -> MemberClaims {
    TokenVerifier::new([common::api_key()])
        .unwrap()
        .with_clock(clock())
        .verify(token)
        .expect("a valid member token")
}

/// One framework's app with the routes of the table above.
pub trait Routes {
    /// Sends a GET to a fresh app with [`issuer`]: the signer and the default configuration.
    async fn get_as(&self, user: Option<&str>, uri: &str) -> Reply;
}

pub async fn check_member_token_for_the_signed_in_user(app: &impl Routes) {
    let claims = app.get_as(Some("ada"), "/whoami").await.claims();
    assert_ada_herself(&claims);
    assert_eq!((claims.iat, claims.exp), (NOW, NOW + 300));
    assert!(claims.scopes.is_empty());
}

pub async fn check_token_endpoints(app: &impl Routes) {
    let member = app.get_as(Some("ada"), "/source-token").await;
    assert_ada_herself(&member.token_endpoint_claims());
    let caregiver = app.get_as(Some("ada"), "/source-token/mem_kid").await;
    assert_ada_cares_for_kid(&caregiver.token_endpoint_claims());
}

pub async fn check_caregiver_extractor_and_caregiver_for_agree(app: &impl Routes) {
    let from_path = app.get_as(Some("ada"), "/caregiver/mem_kid").await.claims();
    let from_handler = app.get_as(Some("ada"), "/care-for/mem_kid").await.claims();
    assert_eq!(from_path, from_handler);
    assert_ada_cares_for_kid(&from_path);
}

pub async fn check_missing_login(app: &impl Routes) {
    for uri in [
        "/whoami",
        "/source-token",
        "/source-token/mem_kid",
        "/caregiver/mem_kid",
        "/care-for/mem_kid",
    ] {
        app.get_as(None, uri).await.assert_app_401();
        app.get_as(Some("not a user!"), uri).await.assert_app_401();
    }
}

/// A user without a member is refused before any subject is judged.
pub async fn check_user_without_a_member(app: &impl Routes) {
    for uri in [
        "/whoami",
        "/source-token",
        "/source-token/mem_kid",
        "/caregiver/not-an-id",
        "/care-for/mem_kid",
    ] {
        app.get_as(Some("nomember"), uri).await.assert_source_error(
            403,
            "authorization_error",
            "no_source_member",
        );
    }
}

/// Subjects that are not member ids, some percent-encoded.
pub async fn check_invalid_subjects(app: &impl Routes) {
    let too_long = format!("/source-token/mem_{}", "a".repeat(65));
    for uri in [
        "/source-token/not-a-member",
        "/source-token/mem_",
        "/source-token/key_0EipsUv2yRFxynHshisN",
        "/source-token/mem_a%2Fb",
        "/source-token/mem_a%20b",
        "/source-token/mem_%FF",
        "/caregiver/mem_a.b",
        "/care-for/mem_a%22b",
        &too_long,
    ] {
        app.get_as(Some("ada"), uri).await.assert_source_error(
            400,
            "invalid_request_error",
            "invalid_member_id",
        );
    }
}

pub async fn check_caregiver_for_oneself(app: &impl Routes) {
    for uri in [
        "/source-token/mem_ada",
        "/caregiver/mem_ada",
        "/care-for/mem_ada",
    ] {
        app.get_as(Some("ada"), uri).await.assert_source_error(
            400,
            "invalid_request_error",
            "actor_is_subject",
        );
    }
}

/// A malformed member id from the app and a route without the subject parameter.
pub async fn check_server_side_failures(app: &impl Routes) {
    let logs = LogCapture::start();
    for uri in ROUTES_SIGNING_FOR_THE_USER {
        app.get_as(Some("broken"), uri).await.assert_generic_500();
    }
    app.get_as(Some("ada"), "/no-param")
        .await
        .assert_generic_500();

    let lines = logs.error_lines();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[..3]
            .iter()
            .all(|line| line.contains("InvalidMemberId"))
    );
    // Names both users of the parameter, and where its name is set.
    for part in [
        "without a `{member_id}` path parameter",
        "SourceCaregiver",
        "caregiver_token_endpoint",
        "ExtractorConfig::subject_param",
    ] {
        assert!(lines[3].contains(part), "{}", lines[3]);
    }
}

/// The token endpoints wired in one call from an issuer with [`configuration`]
/// (the subject in `{patient}`): `send` sends a GET as ada to an app with only
/// those routes, plus `/whoami` (`SourceMember<DemoUser>`) where the framework
/// shares the issuer with the app's other routes.
pub async fn check_one_call_wiring<F, Fut>(send: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: Future<Output = Reply>,
{
    let member = send("/source-token").await;
    assert_eq!(member.cache_control, "no-store");
    let claims = member.token_endpoint_claims();
    assert_ada_herself(&claims);
    assert_eq!(
        (claims.exp - claims.iat, claims.scopes),
        (900, vec!["read:profile".to_owned()])
    );
    // The route's parameter is the configuration's, so the caregiver route works.
    let claims = send("/source-token/mem_kid").await.token_endpoint_claims();
    assert_ada_cares_for_kid(&claims);
    send("/source-token/not-a-member")
        .await
        .assert_source_error(400, "invalid_request_error", "invalid_member_id");
}

/// The issuer of [`check_caregiver_check`]: only `mem_ada` caring for `mem_kid`
/// is allowed.
pub fn restricted_issuer() -> TokenIssuer {
    issuer().caregiver_check(|caring: Caregiving| async move {
        // Yields first, as a database query would.
        tokio::task::yield_now().await;
        (caring.caregiver.as_str(), caring.member.as_str()) == ("mem_ada", "mem_kid")
    })
}

/// Every place that signs for a caregiver asks the issuer's check first: the
/// token endpoint (`/source-token/{member_id}`), `SourceCaregiver`
/// (`/caregiver/{member_id}`) and `caregiver_for` (`/care-for/{subject}`); `send`
/// sends a GET as ada to an app with [`restricted_issuer`].
pub async fn check_caregiver_check<F, Fut>(send: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Reply>,
{
    for route in ["/source-token", "/caregiver", "/care-for"] {
        let allowed = send(format!("{route}/mem_kid")).await;
        assert_eq!(allowed.status, 200, "{route}: {}", allowed.body);
        send(format!("{route}/mem_stranger"))
            .await
            .assert_source_error(403, "authorization_error", "caregiver_not_allowed");
        // The other checks come first.
        send(format!("{route}/mem_ada")).await.assert_source_error(
            400,
            "invalid_request_error",
            "actor_is_subject",
        );
    }
    // A member's own token asks nothing.
    assert_ada_herself(&send("/whoami".to_owned()).await.claims());
}

/// `/parse/{id}` returns `MemberId::parse(id)?`'s `InvalidInput`, and `/fail`
/// returns a `source_auth::Error` from signing: `send` sends a GET.
pub async fn check_errors_answer_http<F, Fut>(send: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: Future<Output = Reply>,
{
    let logs = LogCapture::start();
    let ok = send("/parse/mem_kid").await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "mem_kid"));
    for uri in ["/parse/patient1", "/parse/mem_a.b", "/parse/mem_"] {
        let reply = send(uri).await;
        reply.assert_source_error(400, "invalid_request_error", "invalid_member_id");
        assert!(!reply.body.contains("patient1"), "echoes the input");
    }
    send("/fail").await.assert_generic_500();
    let lines = logs.error_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("invalid_expiry"), "{}", lines[0]);
}

/// What `/fail` signs: a grant no signer accepts.
pub fn failing_signature() -> Result<String, source_auth::Error> {
    let grant = MemberGrant::member("mem_ada").ttl(std::time::Duration::from_secs(25 * 3600));
    Ok(signer().sign(&grant)?.as_str().to_owned())
}

/// Checks an app configured with [`configuration`] (15-minute tokens granting
/// `read:profile`, the subject in `{patient}`), on the routes `/source-token`,
/// `/patients/{patient}/token` and `/source-token/{member_id}`; `send` sends a
/// GET as ada.
pub async fn check_configured_grant<F, Fut>(send: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: Future<Output = Reply>,
{
    let claims = send("/source-token").await.token_endpoint_claims();
    assert_eq!(claims.exp - claims.iat, 900);
    assert_eq!(claims.scopes, ["read:profile"]);

    let claims = send("/patients/mem_kid/token")
        .await
        .token_endpoint_claims();
    assert_ada_cares_for_kid(&claims);
    assert_eq!(claims.exp - claims.iat, 900);

    // With the name changed, `{member_id}` is no longer read.
    send("/source-token/mem_kid").await.assert_generic_500();
}

/// A response, read into what the checks need.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub cache_control: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// The verified claims of the token in a 200 body: the token endpoints answer
    /// JSON, the test handlers the bare token.
    pub fn claims(&self) -> MemberClaims {
        assert_eq!(self.status, 200, "body: {}", self.body);
        if self.content_type == "application/json" {
            verify(self.json()["token"].as_str().expect("a token string"))
        } else {
            verify(&self.body)
        }
    }

    /// Asserts a token endpoint's answer: JSON, not cached, the token and its expiry.
    pub fn token_endpoint_claims(&self) -> MemberClaims {
        let claims = self.claims();
        assert_eq!(self.content_type, "application/json");
        assert_eq!(self.cache_control, "no-store");
        let body = self.json();
        assert_eq!(body.as_object().map(|o| o.len()), Some(2));
        assert_eq!(body["expires_at"], claims.exp);
        claims
    }

    /// Asserts the app's own 401, untouched.
    pub fn assert_app_401(&self) {
        assert_eq!((self.status, self.body.as_str()), (401, APP_401_BODY));
    }

    /// Asserts a Source error body with this status and code, holding nothing secret.
    pub fn assert_source_error(&self, status: u16, error_type: &str, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.content_type, "application/json");
        let body = self.json();
        assert_eq!(body["object"], "error");
        assert_eq!(body["type"], error_type);
        assert_eq!(body["code"], code);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(body.as_object().map(|o| o.len()), Some(4));
        assert!(!self.body.contains(common::SECRET), "leaks the key");
        assert!(!self.body.contains("eyJ"), "leaks a JWT");
        for member in ["mem_ada", "mem_kid", "mem_evil", "member-7"] {
            assert!(!self.body.contains(member), "leaks a member id");
        }
    }

    pub fn assert_generic_500(&self) {
        self.assert_source_error(500, "api_error", "internal_error");
    }
}

/// Routes on which the `broken` user's malformed member id fails signing.
pub const ROUTES_SIGNING_FOR_THE_USER: &[&str] =
    &["/whoami", "/source-token", "/source-token/mem_kid"];

/// A query naming another member every way it could.
pub const FORGED_QUERY: &str = "?act=mem_evil&actor=mem_evil&sub=mem_evil&member_id=mem_evil";

/// A JSON body naming another member every way it could.
pub const FORGED_BODY: &str =
    r#"{"act":"mem_evil","actor":"mem_evil","sub":"mem_evil","member_id":"mem_evil"}"#;

/// Headers, on top of ada's login, naming another member every way they could,
/// including a valid token in which `mem_evil` acts for `mem_kid`.
pub fn forged_headers() -> Vec<(&'static str, String)> {
    let evil = signer()
        .sign(&MemberGrant::member("mem_kid").caregiver("mem_evil"))
        .expect("signs");
    vec![
        (LOGIN_HEADER, "ada".to_owned()),
        ("authorization", format!("Bearer {}", evil.as_str())),
        ("x-source-member", "mem_evil".to_owned()),
        ("x-source-actor", "mem_evil".to_owned()),
        ("act", "mem_evil".to_owned()),
        ("sub", "mem_evil".to_owned()),
        ("content-type", "application/json".to_owned()),
    ]
}

/// Forged requests for caregiver tokens for `mem_kid`: (method, URI).
pub fn forged_caregiver_requests() -> Vec<(&'static str, String)> {
    vec![
        ("GET", format!("/source-token/mem_kid{FORGED_QUERY}")),
        ("POST", format!("/caregiver/mem_kid{FORGED_QUERY}")),
        // A path parameter named like the actor claim.
        ("GET", format!("/caregiver/mem_evil/mem_kid{FORGED_QUERY}")),
        ("GET", format!("/care-for/mem_kid{FORGED_QUERY}")),
    ]
}

/// Forged requests for ada's own member token: (method, URI).
pub fn forged_member_requests() -> Vec<(&'static str, String)> {
    let uri = format!("/whoami{FORGED_QUERY}");
    vec![("GET", uri.clone()), ("POST", uri)]
}

pub fn assert_ada_cares_for_kid(claims: &MemberClaims) {
    assert_eq!(claims.sub, "mem_kid");
    assert_eq!(claims.act.as_deref(), Some("mem_ada"));
}

pub fn assert_ada_herself(claims: &MemberClaims) {
    assert_eq!(
        (claims.sub.as_str(), claims.act.as_deref()),
        ("mem_ada", None)
    );
}

/// How many requests the concurrency tests send, from how many users.
pub const CONCURRENT_REQUESTS: usize = 400;
const CONCURRENT_USERS: usize = 40;

/// The `i`-th concurrent request: (user, URI); odd ones ask for a caregiver token.
pub fn concurrent_request(i: usize) -> (String, String) {
    let user = format!("user{}", i % CONCURRENT_USERS);
    let uri = if i % 2 == 0 {
        "/source-token".to_owned()
    } else {
        format!("/source-token/mem_kid{i}")
    };
    (user, uri)
}

/// Asserts that the `i`-th concurrent request got a token for its own user.
pub fn assert_concurrent_claims(i: usize, reply: &Reply) {
    let (user, _) = concurrent_request(i);
    let claims = reply.token_endpoint_claims();
    let member = format!("mem_{user}");
    if i % 2 == 0 {
        assert_eq!((claims.sub, claims.act), (member, None));
    } else {
        assert_eq!(
            (claims.sub, claims.act),
            (format!("mem_kid{i}"), Some(member))
        );
    }
}
