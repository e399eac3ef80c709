//! MockSource used as a test suite would: a real HTTP client over loopback, with
//! hand-built `Authorization` headers.

mod common;
mod jws;

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{NOW, clock};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use source_auth::testing::{
    ManualClock, MockSource, Outcome, Principal, PrincipalKind, Relationship, RelationshipStatus,
};
use source_auth::{ApiKey, ErrorKind, MemberGrant, TokenSigner, UserToken};

const LIVE_KEY_ID: &str = "key_live1";
const LIVE_SECRET: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dcLIVE0000";
/// Well-formed, but registered nowhere.
const WRONG_SECRET: &str = "sk_test_0000000000000000000000000000wrong";
const USER_TOKEN: &str = "ut_2bdf6e1a9c4e4f0b8a7d";
const PATIENT: &str = "mem_patient1";
const PARENT: &str = "mem_parent1";

fn live_key() -> ApiKey {
    ApiKey::new(LIVE_KEY_ID, LIVE_SECRET).expect("valid live key")
}

/// A mock that knows the test key, the live key and the user token.
async fn mock_with_credentials(clock: Option<ManualClock>) -> MockSource {
    let mock = match clock {
        Some(clock) => MockSource::start().await.map(|mock| mock.with_clock(clock)),
        None => MockSource::start().await,
    }
    .expect("mock starts");
    mock.add_api_key(&jws::api_key());
    mock.add_api_key(&live_key());
    mock.add_user_token(&UserToken::new(USER_TOKEN).expect("valid user token"));
    mock
}

/// What came back, with the body parsed as JSON.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    body: Value,
}

impl Answer {
    fn principal(&self) -> Principal {
        serde_json::from_value(self.body.clone()).expect("a principal body")
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

/// `GET /v1/members` with `headers` (each appended, so names may repeat).
async fn get(mock: &MockSource, headers: &[(&str, &[u8])]) -> Answer {
    send(&client(), mock, headers).await.expect("mock answers")
}

async fn send(
    client: &reqwest::Client,
    mock: &MockSource,
    headers: &[(&str, &[u8])],
) -> reqwest::Result<Answer> {
    let mut request = client.get(format!("{}/v1/members", mock.base_url()));
    for (name, value) in headers {
        let value = HeaderValue::from_bytes(value).expect("a header value");
        request = request.header(*name, value);
    }
    read(request.send().await?).await
}

async fn read(response: reqwest::Response) -> reqwest::Result<Answer> {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).expect("a JSON body");
    Ok(Answer {
        status,
        headers,
        text,
        body,
    })
}

/// `GET /v1/members` with one `Authorization` header.
async fn authorized(mock: &MockSource, value: impl AsRef<[u8]>) -> Answer {
    get(mock, &[("authorization", value.as_ref())]).await
}

async fn bearer(mock: &MockSource, credential: &str) -> Answer {
    authorized(mock, format!("Bearer {credential}")).await
}

fn basic(payload: impl AsRef<[u8]>) -> Vec<u8> {
    format!("Basic {}", STANDARD.encode(payload)).into_bytes()
}

/// A 200 with the principal body, which names the path and a request id.
fn assert_accepted(answer: &Answer, kind: PrincipalKind) -> Principal {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["object"], "principal");
    assert_eq!(answer.body["path"], "/v1/members");
    assert!(
        answer.body["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_"))
    );
    let principal = answer.principal();
    assert_eq!(principal.kind, kind);
    principal
}

/// Source's error shape, with a request id and a message; 401s name the schemes.
fn assert_rejected(answer: &Answer, status: StatusCode, kind: &str, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.body["object"], "error");
    assert_eq!(answer.body["type"], kind);
    assert_eq!(answer.body["code"], code, "{}", answer.text);
    assert!(
        answer.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        answer.body["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_"))
    );
    assert_eq!(
        answer.headers.contains_key(WWW_AUTHENTICATE),
        status == StatusCode::UNAUTHORIZED
    );
}

fn assert_unauthorized(answer: &Answer, code: &str) {
    assert_rejected(
        answer,
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        code,
    );
}

fn assert_no_echo(answer: &Answer, secret: &str) {
    assert!(
        !answer.text.contains(secret),
        "the body echoes a credential"
    );
    let in_headers = answer.headers.values().any(|v| {
        v.as_bytes()
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
    });
    assert!(!in_headers, "a header echoes a credential");
}

#[tokio::test]
async fn api_secret_is_accepted_as_bearer_in_any_case_of_the_scheme() {
    let mock = mock_with_credentials(None).await;
    for (scheme, secret, key_id, live) in [
        ("Bearer", jws::SECRET, jws::KEY_ID, false),
        ("bearer", jws::SECRET, jws::KEY_ID, false),
        ("BEARER", LIVE_SECRET, LIVE_KEY_ID, true),
    ] {
        let answer = authorized(&mock, format!("{scheme} {secret}")).await;
        let principal = assert_accepted(&answer, PrincipalKind::ApiKey);
        assert_eq!(principal.key_id.as_deref(), Some(key_id));
        assert_eq!(principal.live_mode, live);
        assert_eq!((principal.member, principal.actor), (None, None));
        assert_no_echo(&answer, secret);
    }
}

#[tokio::test]
async fn api_secret_is_accepted_as_basic_user_name_with_an_empty_password() {
    let mock = mock_with_credentials(None).await;
    let answer = authorized(&mock, basic(format!("{LIVE_SECRET}:"))).await;
    let principal = assert_accepted(&answer, PrincipalKind::ApiKey);
    assert_eq!(principal.key_id.as_deref(), Some(LIVE_KEY_ID));
    assert!(principal.live_mode);
    assert_no_echo(&answer, LIVE_SECRET);
}

#[tokio::test]
async fn user_token_takes_live_mode_from_the_header_defaulting_to_live() {
    let mock = MockSource::start().await.expect("mock starts");
    // The token's own setting only tells a client which header to send.
    mock.add_user_token(&UserToken::new(USER_TOKEN).expect("valid").live_mode(false));
    let authorization = format!("Bearer {USER_TOKEN}");
    for (live_mode_header, expected) in [(None, true), (Some("true"), true), (Some("false"), false)]
    {
        let mut headers = vec![("authorization", authorization.as_bytes())];
        headers.extend(live_mode_header.map(|value| ("source-live-mode", value.as_bytes())));
        let answer = get(&mock, &headers).await;
        let principal = assert_accepted(&answer, PrincipalKind::User);
        assert_eq!(principal.live_mode, expected, "{live_mode_header:?}");
        assert_eq!((principal.key_id, principal.member), (None, None));
        assert_no_echo(&answer, USER_TOKEN);
    }
    let unclear: [&[(&str, &[u8])]; 2] = [
        &[("source-live-mode", b"yes")],
        &[("source-live-mode", b"true"), ("source-live-mode", b"true")],
    ];
    for live_mode_headers in unclear {
        let mut headers = vec![("authorization", authorization.as_bytes())];
        headers.extend_from_slice(live_mode_headers);
        let answer = get(&mock, &headers).await;
        assert_rejected(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_live_mode",
        );
    }
}

#[tokio::test]
async fn member_token_is_accepted_with_its_key_mode() {
    let mock = mock_with_credentials(None).await;
    for (key, live) in [(jws::api_key(), false), (live_key(), true)] {
        let token = TokenSigner::new(key.clone())
            .sign(&MemberGrant::member(PATIENT))
            .expect("signs");
        let answer = bearer(&mock, token.as_str()).await;
        let principal = assert_accepted(&answer, PrincipalKind::Member);
        assert_eq!(principal.key_id.as_deref(), Some(key.id()));
        assert_eq!(principal.member.as_deref(), Some(PATIENT));
        assert_eq!(principal.actor, None);
        assert_eq!(principal.live_mode, live);
        assert_no_echo(&answer, token.as_str());
    }
}

#[tokio::test]
async fn caregiver_token_needs_an_active_relationship() {
    let mock = mock_with_credentials(None).await;
    let token = TokenSigner::new(jws::api_key())
        .sign(&MemberGrant::member(PATIENT).caregiver(PARENT))
        .expect("signs");
    let forbidden = |answer: &Answer| {
        assert_rejected(
            answer,
            StatusCode::FORBIDDEN,
            "authorization_error",
            "no_active_relationship",
        );
        assert_no_echo(answer, token.as_str());
    };

    forbidden(&bearer(&mock, token.as_str()).await);

    // The other direction is a different relationship.
    mock.set_relationship(
        Relationship {
            member: PARENT,
            caregiver: PATIENT,
        },
        RelationshipStatus::Active,
    )
    .expect("valid ids");
    forbidden(&bearer(&mock, token.as_str()).await);

    mock.set_relationship(
        Relationship {
            member: PATIENT,
            caregiver: PARENT,
        },
        RelationshipStatus::Active,
    )
    .expect("valid ids");
    let answer = bearer(&mock, token.as_str()).await;
    let principal = assert_accepted(&answer, PrincipalKind::Caregiver);
    assert_eq!(principal.member.as_deref(), Some(PATIENT));
    assert_eq!(principal.actor.as_deref(), Some(PARENT));
    assert_eq!(principal.key_id.as_deref(), Some(jws::KEY_ID));
    assert_no_echo(&answer, token.as_str());

    mock.set_relationship(
        Relationship {
            member: PATIENT,
            caregiver: PARENT,
        },
        RelationshipStatus::Inactive,
    )
    .expect("valid ids");
    forbidden(&bearer(&mock, token.as_str()).await);
}

#[tokio::test]
async fn relationships_need_two_distinct_member_ids() {
    let mock = MockSource::start().await.expect("mock starts");
    let invalid = mock.set_relationship(
        Relationship {
            member: "patient1",
            caregiver: PARENT,
        },
        RelationshipStatus::Active,
    );
    assert_eq!(
        invalid.map_err(|e| e.kind()),
        Err(ErrorKind::InvalidMemberId)
    );
    let same = mock.set_relationship(
        Relationship {
            member: PATIENT,
            caregiver: PATIENT,
        },
        RelationshipStatus::Active,
    );
    assert_eq!(same.map_err(|e| e.kind()), Err(ErrorKind::ActorIsSubject));
}

#[tokio::test]
async fn wrong_api_secret_is_rejected_as_bearer_and_as_basic() {
    let mock = mock_with_credentials(None).await;
    let bearer_header = format!("Bearer {WRONG_SECRET}").into_bytes();
    let basic_header = basic(format!("{WRONG_SECRET}:"));
    // The right secret in the wrong place is wrong too: user tokens are Bearer only.
    let user_as_basic = basic(format!("{USER_TOKEN}:"));
    for header in [bearer_header, basic_header, user_as_basic] {
        let answer = authorized(&mock, header).await;
        assert_unauthorized(&answer, "invalid_api_key");
        assert_no_echo(&answer, WRONG_SECRET);
        assert_no_echo(&answer, USER_TOKEN);
    }
}

#[tokio::test]
async fn expired_member_token_is_rejected() {
    let clock = clock();
    let mock = mock_with_credentials(Some(clock.clone())).await;
    let token = TokenSigner::new(jws::api_key())
        .with_clock(clock.clone())
        .sign(&MemberGrant::member(PATIENT).ttl(Duration::from_secs(300)))
        .expect("signs");
    assert_accepted(&bearer(&mock, token.as_str()).await, PrincipalKind::Member);

    clock.advance(Duration::from_secs(3600));
    let answer = bearer(&mock, token.as_str()).await;
    assert_unauthorized(&answer, "token_expired");
    assert_no_echo(&answer, token.as_str());
}

#[tokio::test]
async fn member_token_from_an_unknown_key_is_rejected() {
    let mock = mock_with_credentials(None).await;
    let stranger =
        ApiKey::new("key_stranger1", "sk_test_ffffffffffffffffffffffffffffffff").expect("valid");
    let token = TokenSigner::new(stranger)
        .sign(&MemberGrant::member(PATIENT))
        .expect("signs");
    let answer = bearer(&mock, token.as_str()).await;
    assert_unauthorized(&answer, "unknown_key");
    assert_no_echo(&answer, token.as_str());
}

#[tokio::test]
async fn member_token_living_over_24_hours_is_rejected() {
    let mock = mock_with_credentials(Some(clock())).await;
    let exp = NOW + 24 * 3600 + 1;
    let payload = format!(r#"{{"sub":"{PATIENT}","iat":{NOW},"exp":{exp},"scopes":[]}}"#);
    let token = jws::hs256(&jws::header(jws::KEY_ID), &payload, jws::SECRET);
    assert_unauthorized(&bearer(&mock, &token).await, "invalid_expiry");
}

#[tokio::test]
async fn unsigned_forged_and_unknown_bearer_tokens_are_rejected() {
    let mock = mock_with_credentials(Some(clock())).await;
    let payload = format!(
        r#"{{"sub":"{PATIENT}","iat":{NOW},"exp":{},"scopes":[]}}"#,
        NOW + 300
    );
    let alg_none = format!(
        "{}.{}.",
        jws::b64(format!(r#"{{"alg":"none","kid":"{}"}}"#, jws::KEY_ID)),
        jws::b64(&payload)
    );
    let forged = jws::hs256(&jws::header(jws::KEY_ID), &payload, WRONG_SECRET);
    for token in [alg_none.as_str(), forged.as_str(), "ut_unregistered0000"] {
        let answer = bearer(&mock, token).await;
        assert_unauthorized(&answer, "invalid_token");
        assert_no_echo(&answer, token);
    }
}

#[tokio::test]
async fn basic_with_a_password_is_rejected() {
    let mock = mock_with_credentials(None).await;
    let answer = authorized(&mock, basic(format!("{}:password", jws::SECRET))).await;
    assert_unauthorized(&answer, "basic_password_not_empty");
    assert_no_echo(&answer, jws::SECRET);
}

#[tokio::test]
async fn malformed_authorization_headers_are_rejected() {
    let mock = mock_with_credentials(None).await;
    let bare_secret = jws::SECRET.as_bytes().to_vec();
    let cases: [(Vec<u8>, &str); 10] = [
        (bare_secret, "missing_scheme"),
        (b"Bearer".to_vec(), "missing_credentials"),
        (b"Bearer    ".to_vec(), "missing_credentials"),
        (b"Token abc".to_vec(), "unsupported_scheme"),
        (b"Bearer two words".to_vec(), "malformed_authorization"),
        (b"Bearer \xffsk_test".to_vec(), "malformed_authorization"),
        (b"Basic not*base64".to_vec(), "invalid_base64"),
        (basic(b"\xff\xfe:"), "basic_not_utf8"),
        (basic(jws::SECRET), "basic_missing_colon"),
        (basic(":"), "missing_credentials"),
    ];
    for (header, code) in cases {
        let answer = authorized(&mock, header).await;
        assert_unauthorized(&answer, code);
        assert_no_echo(&answer, jws::SECRET);
    }
}

#[tokio::test]
async fn missing_or_repeated_authorization_is_rejected() {
    let mock = mock_with_credentials(None).await;
    assert_unauthorized(&get(&mock, &[]).await, "missing_authorization");

    let good = format!("Bearer {}", jws::SECRET);
    let twice = [
        ("authorization", good.as_bytes()),
        ("authorization", good.as_bytes()),
    ];
    let answer = get(&mock, &twice).await;
    assert_unauthorized(&answer, "multiple_authorization_headers");
    assert_no_echo(&answer, jws::SECRET);
}

#[tokio::test]
async fn only_get_under_v1_is_served() {
    let mock = mock_with_credentials(None).await;
    let client = client();
    let authorization = format!("Bearer {}", jws::SECRET);
    let not_found = [
        client.get(format!("{}/health", mock.base_url())),
        client.post(format!("{}/v1/members", mock.base_url())),
    ];
    for request in not_found {
        let response = request.header(AUTHORIZATION, &authorization).send().await;
        let answer = read(response.expect("mock answers")).await.expect("a body");
        assert_rejected(
            &answer,
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
        );
    }
}

#[tokio::test]
async fn requests_are_recorded_with_fingerprints_not_credentials() {
    let mock = mock_with_credentials(None).await;
    let signer = TokenSigner::new(jws::api_key());
    let first = signer.sign(&MemberGrant::member(PATIENT)).expect("signs");
    let second = signer.sign(&MemberGrant::member(PARENT)).expect("signs");
    let mut request_ids = Vec::new();
    for token in [&first, &first, &second] {
        let answer = bearer(&mock, token.as_str()).await;
        request_ids.push(
            answer.body["request_id"]
                .as_str()
                .expect("an id")
                .to_owned(),
        );
    }
    assert_unauthorized(&bearer(&mock, WRONG_SECRET).await, "invalid_api_key");
    get(&mock, &[]).await;

    let requests = mock.requests();
    assert_eq!(requests.len(), 5);
    let ids: Vec<_> = requests.iter().map(|r| r.request_id.clone()).collect();
    assert_eq!(ids[..3], request_ids[..]);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        5,
        "request ids are unique"
    );

    let member_tokens: HashSet<_> = requests
        .iter()
        .filter(|r| {
            r.principal()
                .is_some_and(|p| p.kind == PrincipalKind::Member)
        })
        .filter_map(|r| r.credential)
        .collect();
    assert_eq!(member_tokens.len(), 2);
    assert!(member_tokens.contains(&mock.fingerprint(first.as_str())));
    assert!(member_tokens.contains(&mock.fingerprint(second.as_str())));

    assert_eq!(requests[3].credential, Some(mock.fingerprint(WRONG_SECRET)));
    assert_eq!(
        requests[3].outcome,
        Outcome::Rejected {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_api_key"
        }
    );
    assert_eq!(requests[4].credential, None);
    assert!(
        requests
            .iter()
            .all(|r| r.method == http::Method::GET && r.path == "/v1/members")
    );

    let debug = format!("{requests:?}");
    for secret in [first.as_str(), second.as_str(), WRONG_SECRET] {
        assert!(!debug.contains(secret));
    }
}

#[tokio::test]
async fn debug_shows_no_secret() {
    let mock = mock_with_credentials(None).await;
    bearer(&mock, jws::SECRET).await;
    bearer(&mock, USER_TOKEN).await;
    let debug = format!("{mock:?}");
    assert!(debug.contains(jws::KEY_ID), "{debug}");
    for secret in [jws::SECRET, LIVE_SECRET, USER_TOKEN] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[tokio::test]
async fn dropping_the_mock_stops_the_server_and_its_connections() {
    let mock = mock_with_credentials(None).await;
    let addr = mock.local_addr();
    let pooled = client();
    let authorization = format!("Bearer {}", jws::SECRET);
    let headers = [("authorization", authorization.as_bytes())];
    let answer = send(&pooled, &mock, &headers)
        .await
        .expect("served before drop");
    assert_accepted(&answer, PrincipalKind::ApiKey);

    let base_url = mock.base_url().to_owned();
    drop(mock);
    // A kept-alive connection from before the drop is closed, not served.
    let reused = pooled
        .get(format!("{base_url}/v1/members"))
        .header(AUTHORIZATION, &authorization)
        .send()
        .await;
    assert!(reused.is_err(), "{reused:?}");
    let fresh = client().get(format!("{base_url}/v1/members")).send().await;
    assert!(fresh.is_err(), "{fresh:?}");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
