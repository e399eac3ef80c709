//! MockSource used as a test suite would: a real HTTP client over loopback, with
//! hand-built `Authorization` headers.

mod common;
mod jws;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{NOW, clock};
use http::header::{AUTHORIZATION, DATE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Value, json};
use source_auth::testing::{
    Audience, CannedResponse, MAX_RECORDED_BODY, ManualClock, MockSource, Outcome, Principal,
    PrincipalKind, Relationship, RelationshipStatus,
};
use source_auth::{ApiKey, Clock, ClockOffset, ErrorKind, MemberGrant, TokenSigner, UserToken};

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

/// `method path_and_query` with an optional `Authorization` and a body.
async fn call(
    mock: &MockSource,
    method: Method,
    path_and_query: &str,
    authorization: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut request = client()
        .request(method, format!("{}{path_and_query}", mock.base_url()))
        .body(body);
    if let Some(authorization) = authorization {
        request = request.header(AUTHORIZATION, authorization);
    }
    read(request.send().await.expect("mock answers"))
        .await
        .expect("a body")
}

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

#[tokio::test]
async fn every_method_and_path_is_authenticated_first() {
    let mock = mock_with_credentials(None).await;
    let wrong = format!("Bearer {WRONG_SECRET}");
    for method in METHODS {
        for path in ["/v1/members", "/health", "/"] {
            let missing = call(&mock, method.clone(), path, None, Vec::new()).await;
            assert_unauthorized(&missing, "missing_authorization");
            let answer = call(&mock, method.clone(), path, Some(&wrong), Vec::new()).await;
            assert_unauthorized(&answer, "invalid_api_key");
            assert_no_echo(&answer, WRONG_SECRET);
        }
    }
}

#[tokio::test]
async fn unregistered_routes_other_than_get_under_v1_are_not_found_once_authenticated() {
    let mock = mock_with_credentials(None).await;
    let authorization = format!("Bearer {}", jws::SECRET);
    for method in METHODS {
        for path in ["/v1/members", "/health", "/v2/members"] {
            let answer = call(
                &mock,
                method.clone(),
                path,
                Some(&authorization),
                Vec::new(),
            )
            .await;
            if method == Method::GET && path == "/v1/members" {
                assert_accepted(&answer, PrincipalKind::ApiKey);
            } else {
                assert_rejected(
                    &answer,
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    "not_found",
                );
            }
        }
    }
    let requests = mock.requests();
    assert_eq!(requests.len(), 15);
    assert!(requests.iter().all(|r| r.credential.is_some()));
}

fn record() -> Value {
    json!({"object": "member", "id": PATIENT, "name": "Ada"})
}

#[tokio::test]
async fn canned_responses_answer_any_method_after_the_credential_passed() {
    let mock = mock_with_credentials(None).await;
    mock.respond(
        Method::GET,
        "/v1/members/mem_patient1",
        CannedResponse::json(record()),
    )
    .expect("a valid path");
    mock.respond(
        Method::POST,
        "/v1/appointments",
        CannedResponse::json(json!({"object": "appointment"})).with_status(StatusCode::CREATED),
    )
    .expect("a valid path");
    mock.respond(
        Method::DELETE,
        "/health",
        CannedResponse::json(json!({"gone": true})).with_status(StatusCode::INTERNAL_SERVER_ERROR),
    )
    .expect("a valid path");
    let key = format!("Bearer {}", jws::SECRET);
    let member = TokenSigner::new(jws::api_key())
        .sign(&MemberGrant::member(PARENT))
        .expect("signs");
    let member = format!("Bearer {}", member.as_str());
    let user = format!("Bearer {USER_TOKEN}");

    for authorization in [&key, &member, &user] {
        let answer = call(
            &mock,
            Method::GET,
            "/v1/members/mem_patient1",
            Some(authorization),
            Vec::new(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body, record());
    }
    let created = call(
        &mock,
        Method::POST,
        "/v1/appointments",
        Some(&key),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(
        (created.status, &created.body["object"]),
        (StatusCode::CREATED, &json!("appointment"))
    );
    let failed = call(&mock, Method::DELETE, "/health", Some(&key), Vec::new()).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(failed.body, json!({"gone": true}));

    // Without a good credential, Source's 401 as always, never the canned body.
    for authorization in [None, Some(format!("Bearer {WRONG_SECRET}"))] {
        let answer = call(
            &mock,
            Method::POST,
            "/v1/appointments",
            authorization.as_deref(),
            Vec::new(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }

    let requests = mock.requests();
    let statuses: Vec<_> = requests.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, [200, 200, 200, 201, 500, 401, 401]);
    let kinds: Vec<_> = requests
        .iter()
        .filter_map(|r| r.principal().map(|p| p.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            PrincipalKind::ApiKey,
            PrincipalKind::Member,
            PrincipalKind::User,
            PrincipalKind::ApiKey,
            PrincipalKind::ApiKey
        ]
    );
}

/// The principals a test can present: API key, user, member `PATIENT`, member
/// `PARENT`, caregiver `PARENT` for `PATIENT`, caregiver `PATIENT` for `PARENT`.
async fn principals(mock: &MockSource) -> [(&'static str, String); 6] {
    for (member, caregiver) in [(PATIENT, PARENT), (PARENT, PATIENT)] {
        mock.set_relationship(
            Relationship { member, caregiver },
            RelationshipStatus::Active,
        )
        .expect("valid ids");
    }
    let signer = TokenSigner::new(jws::api_key());
    let token =
        |grant: MemberGrant| format!("Bearer {}", signer.sign(&grant).expect("signs").as_str());
    [
        ("api key", format!("Bearer {}", jws::SECRET)),
        ("user", format!("Bearer {USER_TOKEN}")),
        ("member patient", token(MemberGrant::member(PATIENT))),
        ("member parent", token(MemberGrant::member(PARENT))),
        (
            "caregiver for patient",
            token(MemberGrant::member(PATIENT).caregiver(PARENT)),
        ),
        (
            "caregiver for parent",
            token(MemberGrant::member(PARENT).caregiver(PATIENT)),
        ),
    ]
}

#[tokio::test]
async fn canned_responses_restricted_to_principals_refuse_everyone_else_with_403() {
    let mock = mock_with_credentials(None).await;
    let principals = principals(&mock).await;
    let cases: [(Vec<Audience>, [bool; 6]); 6] = [
        (vec![], [true; 6]),
        (
            vec![Audience::ApiKeys],
            [true, false, false, false, false, false],
        ),
        (
            vec![Audience::Users],
            [false, true, false, false, false, false],
        ),
        (
            vec![Audience::Member(PATIENT.into())],
            [false, false, true, false, false, false],
        ),
        (
            vec![Audience::CaregiverOf(PATIENT.into())],
            [false, false, false, false, true, false],
        ),
        (
            vec![
                Audience::Member(PATIENT.into()),
                Audience::CaregiverOf(PATIENT.into()),
                Audience::Users,
            ],
            [false, true, true, false, true, false],
        ),
    ];
    for (audiences, admitted) in cases {
        let response = audiences
            .iter()
            .cloned()
            .fold(CannedResponse::json(record()), CannedResponse::only_for);
        assert_eq!(response.audiences(), &audiences[..]);
        mock.respond(Method::PUT, "/v1/members/mem_patient1", response)
            .expect("a valid path");
        for ((who, authorization), admitted) in principals.iter().zip(admitted) {
            let answer = call(
                &mock,
                Method::PUT,
                "/v1/members/mem_patient1",
                Some(authorization),
                Vec::new(),
            )
            .await;
            if admitted {
                assert_eq!(
                    answer.status,
                    StatusCode::OK,
                    "{who} for {audiences:?}: {}",
                    answer.text
                );
                assert_eq!(answer.body, record());
            } else {
                assert_rejected(
                    &answer,
                    StatusCode::FORBIDDEN,
                    "authorization_error",
                    "principal_not_allowed",
                );
                assert_no_echo(&answer, authorization.trim_start_matches("Bearer "));
            }
        }
    }
}

#[tokio::test]
async fn a_caregiver_without_an_active_relationship_never_reaches_a_canned_response() {
    let mock = mock_with_credentials(None).await;
    mock.respond(
        Method::GET,
        "/v1/members/mem_patient1",
        CannedResponse::json(record()).only_for(Audience::CaregiverOf(PATIENT.into())),
    )
    .expect("a valid path");
    let token = TokenSigner::new(jws::api_key())
        .sign(&MemberGrant::member(PATIENT).caregiver(PARENT))
        .expect("signs");
    let answer = call(
        &mock,
        Method::GET,
        "/v1/members/mem_patient1",
        Some(&format!("Bearer {}", token.as_str())),
        Vec::new(),
    )
    .await;
    assert_rejected(
        &answer,
        StatusCode::FORBIDDEN,
        "authorization_error",
        "no_active_relationship",
    );
}

#[tokio::test]
async fn paths_match_exactly_and_the_query_string_is_only_recorded() {
    let mock = mock_with_credentials(None).await;
    let authorization = format!("Bearer {}", jws::SECRET);
    mock.respond(
        Method::GET,
        "/v1/members",
        CannedResponse::json(json!({"data": []})),
    )
    .expect("a valid path");
    mock.respond(
        Method::POST,
        "/v1/members",
        CannedResponse::json(json!({"first": true})),
    )
    .expect("a valid path");
    // Registering again replaces.
    mock.respond(
        Method::POST,
        "/v1/members",
        CannedResponse::json(json!({"second": true})),
    )
    .expect("a valid path");

    let listed = call(
        &mock,
        Method::GET,
        "/v1/members?limit=2&after=mem_1",
        Some(&authorization),
        Vec::new(),
    )
    .await;
    assert_eq!(listed.body, json!({"data": []}));
    let posted = call(
        &mock,
        Method::POST,
        "/v1/members",
        Some(&authorization),
        Vec::new(),
    )
    .await;
    assert_eq!(posted.body, json!({"second": true}));
    // Neither a longer path nor a trailing slash is the registered one.
    for path in ["/v1/members/", "/v1/members/mem_1", "/V1/members"] {
        let get = call(&mock, Method::GET, path, Some(&authorization), Vec::new()).await;
        if path.starts_with("/v1/") {
            assert_accepted_at(&get, path);
        } else {
            assert_rejected(
                &get,
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "not_found",
            );
        }
        let post = call(&mock, Method::POST, path, Some(&authorization), Vec::new()).await;
        assert_rejected(
            &post,
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
        );
    }
    // Methods are told apart, and none stands in for another.
    let put = call(
        &mock,
        Method::PUT,
        "/v1/members",
        Some(&authorization),
        Vec::new(),
    )
    .await;
    assert_rejected(
        &put,
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "not_found",
    );

    let requests = mock.requests();
    assert_eq!(requests[0].path, "/v1/members");
    assert_eq!(requests[0].query.as_deref(), Some("limit=2&after=mem_1"));
    assert_eq!(requests[1].query, None);
}

/// An authenticated principal answer for `path`.
fn assert_accepted_at(answer: &Answer, path: &str) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["object"], "principal");
    assert_eq!(answer.body["path"], path);
}

#[tokio::test]
async fn canned_response_paths_that_could_never_match_are_refused() {
    let mock = MockSource::start().await.expect("mock starts");
    for path in [
        "v1/members",
        "",
        "/v1/members?limit=1",
        "/v1/members#top",
        "https://api/v1",
    ] {
        let err = mock
            .respond(Method::GET, path, CannedResponse::json(json!({})))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidPath, "{path}");
    }
    mock.respond(Method::GET, "/", CannedResponse::json(json!({})))
        .expect("the root is a path");
}

#[tokio::test]
async fn request_bodies_are_recorded_up_to_64_kib() {
    let mock = mock_with_credentials(None).await;
    let authorization = format!("Bearer {}", jws::SECRET);
    assert_eq!(MAX_RECORDED_BODY, 65_536, "64 KiB, as documented");
    let exactly = vec![b'a'; MAX_RECORDED_BODY];
    let over: Vec<u8> = (0..MAX_RECORDED_BODY + 10)
        .map(|i| (i % 251) as u8)
        .collect();
    for body in [
        b"{\"name\":\"Ada\"}".to_vec(),
        Vec::new(),
        exactly.clone(),
        over.clone(),
    ] {
        call(
            &mock,
            Method::POST,
            "/v1/members",
            Some(&authorization),
            body,
        )
        .await;
    }
    // Recorded even when refused.
    call(&mock, Method::PATCH, "/v1/members", None, b"x".to_vec()).await;

    let recorded: Vec<_> = mock
        .requests()
        .into_iter()
        .map(|r| (r.body, r.body_truncated))
        .collect();
    assert_eq!(recorded[0], (br#"{"name":"Ada"}"#.to_vec(), false));
    assert_eq!(recorded[1], (Vec::new(), false));
    assert_eq!(recorded[2], (exactly, false));
    assert_eq!(recorded[3], (over[..MAX_RECORDED_BODY].to_vec(), true));
    assert_eq!(recorded[4], (b"x".to_vec(), false));
}

#[tokio::test]
async fn the_observer_sees_each_request_as_recorded_and_can_be_replaced() {
    let mock = mock_with_credentials(None).await;
    let (first, mut first_seen) = tokio::sync::mpsc::unbounded_channel();
    mock.on_request(move |request| {
        first.send(request.clone()).expect("the test listens");
    });
    let authorization = format!("Bearer {}", jws::SECRET);
    call(
        &mock,
        Method::GET,
        "/v1/members?x=1",
        Some(&authorization),
        Vec::new(),
    )
    .await;
    call(
        &mock,
        Method::POST,
        "/v1/members",
        Some(&format!("Bearer {WRONG_SECRET}")),
        Vec::new(),
    )
    .await;

    let (second, mut second_seen) = tokio::sync::mpsc::unbounded_channel();
    mock.on_request(move |request| {
        second.send(request.clone()).expect("the test listens");
    });
    call(
        &mock,
        Method::DELETE,
        "/v1/members",
        Some(&authorization),
        Vec::new(),
    )
    .await;

    let requests = mock.requests();
    assert_eq!(first_seen.recv().await.as_ref(), Some(&requests[0]));
    assert_eq!(first_seen.recv().await.as_ref(), Some(&requests[1]));
    assert_eq!(second_seen.recv().await.as_ref(), Some(&requests[2]));
    assert!(
        first_seen.try_recv().is_err(),
        "a replaced observer sees no more"
    );
    assert_eq!(requests[1].status, StatusCode::UNAUTHORIZED);
    assert_eq!(requests[2].status, StatusCode::NOT_FOUND);
    assert!(!format!("{requests:?}").contains(WRONG_SECRET));
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
    assert_eq!(ids[0], "req_mock000000000001", "counted from 1");
    assert_eq!(ids[4], "req_mock000000000005");

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
            code: "invalid_api_key",
            principal: None,
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
    mock.on_request(|_| {});
    let debug = format!("{mock:?}");
    assert!(debug.contains(jws::KEY_ID), "{debug}");
    assert!(debug.contains("Some(Observer)"), "{debug}");
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

/// The one `Date` header of `answer`, as a time.
fn date(answer: &Answer) -> SystemTime {
    let dates: Vec<_> = answer.headers.get_all(DATE).iter().collect();
    assert_eq!(dates.len(), 1, "one Date header: {dates:?}");
    let text = dates[0].to_str().expect("an ASCII date");
    httpdate::parse_http_date(text).expect("an HTTP date")
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

const TEN_MINUTES: Duration = Duration::from_secs(600);

/// An accepted request, an unauthenticated one, a 404, a canned response and an
/// injected failure: every kind of answer the mock writes.
async fn every_kind_of_answer(mock: &MockSource) -> Vec<Answer> {
    let authorization = format!("Bearer {}", jws::SECRET);
    let mut answers = vec![
        bearer(mock, jws::SECRET).await,
        get(mock, &[]).await,
        call(
            mock,
            Method::POST,
            "/health",
            Some(&authorization),
            Vec::new(),
        )
        .await,
        call(
            mock,
            Method::GET,
            "/v1/record",
            Some(&authorization),
            Vec::new(),
        )
        .await,
    ];
    mock.fail_next(1, StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        .unwrap();
    answers.push(bearer(mock, jws::SECRET).await);
    answers
}

#[tokio::test]
async fn every_answer_is_dated_on_the_mocks_clock_plus_its_offset() {
    let clock = clock();
    let mock = mock_with_credentials(Some(clock.clone())).await;
    mock.respond(Method::GET, "/v1/record", CannedResponse::json(record()))
        .expect("a valid path");

    // The manual clock reads 2023, far from the system clock: the one Date header
    // each answer has is the mock's, not one hyper wrote from the system clock.
    for (offset, expected) in [
        (ClockOffset::ZERO, at(NOW)),
        (ClockOffset::ahead(TEN_MINUTES), at(NOW) + TEN_MINUTES),
        (ClockOffset::behind(TEN_MINUTES), at(NOW) - TEN_MINUTES),
    ] {
        mock.set_clock_offset(offset);
        let answers = every_kind_of_answer(&mock).await;
        let statuses: Vec<_> = answers.iter().map(|a| a.status.as_u16()).collect();
        assert_eq!(statuses, [200, 401, 404, 200, 503]);
        for answer in &answers {
            assert_eq!(date(answer), expected, "offset {offset}: {}", answer.text);
        }
    }

    // The offset applies to the clock's time as it moves.
    clock.advance(Duration::from_secs(90));
    assert_eq!(
        date(&bearer(&mock, jws::SECRET).await),
        at(NOW) - TEN_MINUTES + Duration::from_secs(90)
    );
}

#[tokio::test]
async fn on_the_system_clock_the_date_follows_the_offset_too() {
    let mock = mock_with_credentials(None).await;
    mock.set_clock_offset(ClockOffset::ahead(TEN_MINUTES));
    let before = SystemTime::now();
    let answer = bearer(&mock, jws::SECRET).await;
    let after = SystemTime::now();
    // Whole seconds: the date may read up to a second before `before`.
    let shown = date(&answer);
    assert!(
        shown + Duration::from_secs(1) > before + TEN_MINUTES,
        "{shown:?}"
    );
    assert!(shown <= after + TEN_MINUTES, "{shown:?}");
}

#[tokio::test]
async fn member_tokens_are_judged_on_the_mocks_clock_plus_its_offset() {
    let clock = clock();
    let mock = mock_with_credentials(Some(clock.clone())).await;
    let grant = MemberGrant::member(PATIENT).ttl(Duration::from_secs(300));
    // Signed on the local clock, which the mock reads before its offset.
    let local = TokenSigner::new(jws::api_key())
        .with_clock(clock.clone())
        .sign(&grant)
        .expect("signs");
    assert_accepted(&bearer(&mock, local.as_str()).await, PrincipalKind::Member);

    // Source 10 minutes ahead: the 5-minute token ended before Source's now.
    mock.set_clock_offset(ClockOffset::ahead(TEN_MINUTES));
    let answer = bearer(&mock, local.as_str()).await;
    assert_unauthorized(&answer, "token_expired");
    assert_no_echo(&answer, local.as_str());

    // Source 10 minutes behind: `iat` is 10 minutes in Source's future, past the
    // verifier's 30-second leeway, and the verifier refuses it as invalid.
    mock.set_clock_offset(ClockOffset::behind(TEN_MINUTES));
    let answer = bearer(&mock, local.as_str()).await;
    assert_unauthorized(&answer, "invalid_token");
    assert_no_echo(&answer, local.as_str());

    // Signed on Source's time, the same grant passes either way.
    for offset in [
        ClockOffset::ahead(TEN_MINUTES),
        ClockOffset::behind(TEN_MINUTES),
    ] {
        mock.set_clock_offset(offset);
        let on_source_time = ManualClock::new(offset.apply(clock.now()));
        let token = TokenSigner::new(jws::api_key())
            .with_clock(on_source_time)
            .sign(&grant)
            .expect("signs");
        assert_accepted(&bearer(&mock, token.as_str()).await, PrincipalKind::Member);
    }

    // Back to no offset: the local token is good again.
    mock.set_clock_offset(ClockOffset::ZERO);
    assert_accepted(&bearer(&mock, local.as_str()).await, PrincipalKind::Member);
}

#[cfg(feature = "application")]
#[tokio::test]
async fn application_tokens_are_dated_on_the_mocks_clock_plus_its_offset() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let mock = MockSource::start()
        .await
        .expect("mock starts")
        .with_clock(clock());
    mock.set_clock_offset(ClockOffset::ahead(TEN_MINUTES));
    let token = mock
        .application_token("app_demo1", "usr_demo1")
        .expect("valid ids");
    let payload = token.split('.').nth(1).expect("a payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
            .expect("JSON claims");
    let iat = NOW + TEN_MINUTES.as_secs();
    assert_eq!(
        (claims["iat"].as_u64(), claims["exp"].as_u64()),
        (Some(iat), Some(iat + 900))
    );
}

#[tokio::test]
async fn a_revoked_key_and_its_tokens_are_refused_until_the_key_is_added_again() {
    let mock = mock_with_credentials(None).await;
    let token = TokenSigner::new(jws::api_key())
        .sign(&MemberGrant::member(PATIENT))
        .expect("signs");
    let live_token = TokenSigner::new(live_key())
        .sign(&MemberGrant::member(PATIENT))
        .expect("signs");
    assert_accepted(&bearer(&mock, token.as_str()).await, PrincipalKind::Member);

    assert!(mock.revoke_api_key(jws::KEY_ID));
    assert!(!mock.revoke_api_key(jws::KEY_ID), "already revoked");
    assert!(!mock.revoke_api_key("key_neverAdded1"));
    assert_unauthorized(&bearer(&mock, jws::SECRET).await, "invalid_api_key");
    let as_basic = authorized(&mock, basic(format!("{}:", jws::SECRET))).await;
    assert_unauthorized(&as_basic, "invalid_api_key");
    let answer = bearer(&mock, token.as_str()).await;
    assert_unauthorized(&answer, "unknown_key");
    assert_no_echo(&answer, token.as_str());
    // Other keys and their tokens are untouched.
    assert_accepted(&bearer(&mock, LIVE_SECRET).await, PrincipalKind::ApiKey);
    assert_accepted(
        &bearer(&mock, live_token.as_str()).await,
        PrincipalKind::Member,
    );

    // With every key revoked, tokens are still refused the same way.
    assert!(mock.revoke_api_key(LIVE_KEY_ID));
    assert_unauthorized(&bearer(&mock, live_token.as_str()).await, "unknown_key");

    mock.add_api_key(&jws::api_key());
    assert_accepted(&bearer(&mock, jws::SECRET).await, PrincipalKind::ApiKey);
    assert_accepted(&bearer(&mock, token.as_str()).await, PrincipalKind::Member);
    assert_unauthorized(&bearer(&mock, LIVE_SECRET).await, "invalid_api_key");
}

#[tokio::test]
async fn fail_next_fails_exactly_that_many_requests_then_answers_normally() {
    let mock = mock_with_credentials(None).await;
    mock.fail_next(2, StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        .unwrap();
    let answers = [
        bearer(&mock, jws::SECRET).await,
        bearer(&mock, jws::SECRET).await,
        bearer(&mock, jws::SECRET).await,
    ];
    for answer in &answers[..2] {
        assert_rejected(
            answer,
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "unavailable",
        );
    }
    assert_accepted(&answers[2], PrincipalKind::ApiKey);

    let requests = mock.requests();
    let injected = Outcome::Injected {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "unavailable".to_owned(),
    };
    assert_eq!(requests.len(), 3, "failed requests are recorded too");
    for request in &requests[..2] {
        assert_eq!(request.outcome, injected);
        assert_eq!(request.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(request.principal(), None);
        // Which credential came is still known, so a retry can be told apart.
        assert_eq!(request.credential, Some(mock.fingerprint(jws::SECRET)));
    }
    assert!(matches!(requests[2].outcome, Outcome::Authenticated(_)));
    assert_eq!(
        answers[0].body["request_id"],
        requests[0].request_id.as_str()
    );
}

#[tokio::test]
async fn an_injected_failure_comes_before_the_credential_check() {
    let mock = mock_with_credentials(None).await;
    mock.fail_next(1, StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        .unwrap();
    let answer = get(&mock, &[]).await;
    assert_rejected(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "api_error",
        "unavailable",
    );
    assert_unauthorized(&get(&mock, &[]).await, "missing_authorization");

    // An injected 401 reads as Source's: its type, and the schemes to use.
    mock.fail_next(1, StatusCode::UNAUTHORIZED, "token_revoked")
        .unwrap();
    let answer = bearer(&mock, jws::SECRET).await;
    assert_unauthorized(&answer, "token_revoked");
    assert_no_echo(&answer, jws::SECRET);
    assert_accepted(&bearer(&mock, jws::SECRET).await, PrincipalKind::ApiKey);
}

#[tokio::test]
async fn fail_next_replaces_the_failures_still_owed() {
    let mock = mock_with_credentials(None).await;
    mock.fail_next(5, StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        .unwrap();
    mock.fail_next(1, StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        .unwrap();
    let answer = bearer(&mock, jws::SECRET).await;
    assert_rejected(
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "invalid_request_error",
        "rate_limited",
    );
    assert_accepted(&bearer(&mock, jws::SECRET).await, PrincipalKind::ApiKey);

    mock.fail_next(3, StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        .unwrap();
    mock.fail_next(0, StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        .unwrap();
    assert_accepted(&bearer(&mock, jws::SECRET).await, PrincipalKind::ApiKey);
}
