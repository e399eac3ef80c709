//! MockSource as a test double that reports what went unused, records who was
//! refused, stays bounded, and can be driven over HTTP: issue 22, against a real
//! HTTP client (reqwest, or raw bytes over TCP where a client would tidy the
//! request) over loopback.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{KEY_ID, SECRET, api_key};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use source_auth::testing::{
    Audience, CannedResponse, Closeness, MAX_RECORDED_REQUESTS, MockSource, Outcome, PrincipalKind,
    Relationship, RelationshipStatus, Times,
};
use source_auth::{ErrorKind, MemberGrant, TokenSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALICE: &str = "mem_alice1";
const PATIENT: &str = "mem_patient1";
const PARENT: &str = "mem_parent1";

async fn mock() -> MockSource {
    let mock = MockSource::start().await.expect("mock starts");
    mock.add_api_key(&api_key());
    mock
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

/// `method path` with the test key: the status and the JSON body.
async fn call(mock: &MockSource, method: Method, path: &str) -> (StatusCode, Value) {
    call_as(mock, method, path, SECRET).await
}

async fn call_as(
    mock: &MockSource,
    method: Method,
    path: &str,
    credential: &str,
) -> (StatusCode, Value) {
    let response = client()
        .request(method, format!("{}{path}", mock.base_url()))
        .bearer_auth(credential)
        .send()
        .await
        .expect("mock answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).expect("a JSON body"))
}

/// Bytes as given, so that neither the path nor `Host` is tidied by a client.
async fn raw(mock: &MockSource, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(mock.local_addr())
        .await
        .expect("connects");
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

/// Registers an empty `GET path` expected `times` times.
fn expect_get(mock: &MockSource, path: &str, times: impl Into<Times>) {
    mock.respond(
        Method::GET,
        path,
        CannedResponse::json(json!({})).expect(times),
    )
    .unwrap();
}

fn token(grant: &MemberGrant) -> String {
    TokenSigner::new(api_key())
        .sign(grant)
        .expect("signs")
        .as_str()
        .to_owned()
}

// --- 1. unused canned responses -------------------------------------------

#[tokio::test]
async fn a_mistyped_canned_path_fails_verify_and_names_the_requests_that_came_closest() {
    let mock = mock().await;
    let typo = format!("/v1/member/{ALICE}");
    mock.respond(
        Method::GET,
        &typo,
        CannedResponse::json(json!({"id": ALICE})).expect(1),
    )
    .unwrap();
    // What the app really asks for: a 200 all the same (the principal echo).
    let asked = format!("/v1/members/{ALICE}");
    assert_eq!(call(&mock, Method::GET, &asked).await.0, StatusCode::OK);
    assert_eq!(
        call(&mock, Method::POST, &typo).await.0,
        StatusCode::NOT_FOUND
    );
    let slash = format!("{typo}/");
    call(&mock, Method::GET, &slash).await;
    let case = format!("/v1/Member/{ALICE}");
    call(&mock, Method::GET, &case).await;
    call(&mock, Method::GET, "/v1/appointments").await;

    assert_eq!(mock.unused_responses(), [(Method::GET, typo.clone())]);
    let err = mock.verify().unwrap_err();
    let [unmet] = err.unmet() else {
        panic!("{err}")
    };
    assert_eq!((&unmet.method, unmet.path.as_str()), (&Method::GET, &*typo));
    assert_eq!((unmet.expected, unmet.served), (Times::exactly(1), 0));
    let closest: Vec<_> = unmet
        .closest
        .iter()
        .map(|miss| (miss.method.as_str(), miss.path.as_str(), miss.why))
        .collect();
    assert_eq!(
        closest,
        [
            ("POST", typo.as_str(), Closeness::OtherMethod),
            ("GET", case.as_str(), Closeness::SlashOrCase),
            ("GET", slash.as_str(), Closeness::SlashOrCase),
            ("GET", asked.as_str(), Closeness::OneSegment),
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("GET {typo}: expected exactly 1, served 0")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "POST {typo} (same path, another method, 1 sent, last 404)"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn exact_counts_and_ranges_are_met_or_not_and_a_refused_request_is_not_served() {
    let ranged = CannedResponse::json(json!({})).expect(1..=3);
    assert_eq!(ranged.expected(), Some(Times::from(1..=3)));
    assert_eq!(CannedResponse::json(json!({})).expected(), None);
    let mock = mock().await;
    let respond = |path: &str, response: CannedResponse| {
        mock.respond(Method::GET, path, response).unwrap();
    };
    respond("/v1/once", CannedResponse::json(json!({})).expect(1));
    respond("/v1/some", CannedResponse::json(json!({})).expect(1..=3));
    respond("/v1/many", CannedResponse::json(json!({})).expect(2..));
    respond(
        "/v1/theirs",
        CannedResponse::json(json!({}))
            .only_for(Audience::Member(ALICE.into()))
            .expect(1),
    );
    for path in ["/v1/once", "/v1/once", "/v1/some", "/v1/some", "/v1/many"] {
        assert_eq!(call(&mock, Method::GET, path).await.0, StatusCode::OK);
    }
    // The API key may not see it: 403, and not served.
    assert_eq!(
        call(&mock, Method::GET, "/v1/theirs").await.0,
        StatusCode::FORBIDDEN
    );
    let err = mock.verify().unwrap_err();
    let unmet: Vec<_> = err
        .unmet()
        .iter()
        .map(|unmet| (unmet.path.as_str(), unmet.served))
        .collect();
    assert_eq!(unmet, [("/v1/many", 1), ("/v1/once", 2), ("/v1/theirs", 0)]);
    let theirs = &err.unmet()[2];
    assert_eq!(theirs.closest[0].why, Closeness::Refused);
    assert_eq!(theirs.closest[0].last_status, StatusCode::FORBIDDEN);

    call(&mock, Method::GET, "/v1/many").await;
    let alice = token(&MemberGrant::member(ALICE));
    assert_eq!(
        call_as(&mock, Method::GET, "/v1/theirs", &alice).await.0,
        StatusCode::OK
    );
    let unmet = mock.verify().unwrap_err();
    assert_eq!(unmet.unmet().len(), 1, "{unmet}");
    assert!(mock.unused_responses().is_empty());
}

#[tokio::test]
async fn replacing_a_response_replaces_its_expectation_and_restarts_its_count() {
    let mock = mock().await;
    expect_get(&mock, "/v1/a", 1);
    call(&mock, Method::GET, "/v1/a").await;
    expect_get(&mock, "/v1/a", 2);
    let err = mock.verify().unwrap_err();
    assert_eq!(
        (err.unmet()[0].expected, err.unmet()[0].served),
        (Times::exactly(2), 0)
    );
    mock.respond(Method::GET, "/v1/a", CannedResponse::json(json!({})))
        .unwrap();
    assert_eq!(mock.verify(), Ok(()));
    assert_eq!(mock.unused_responses().len(), 1);
}

#[tokio::test]
async fn dropping_a_mock_with_unmet_expectations_panics_unless_verified() {
    let unmet = || async {
        let mock = mock().await;
        expect_get(&mock, "/v1/a", 1);
        mock
    };
    let unverified = unmet().await;
    let panic = catch_unwind(AssertUnwindSafe(|| drop(unverified))).unwrap_err();
    let message = panic.downcast_ref::<String>().expect("a message");
    assert!(
        message.contains("GET /v1/a: expected exactly 1, served 0"),
        "{message}"
    );

    let verified = unmet().await;
    assert!(verified.verify().is_err());
    drop(verified); // verified: no second report

    // Met, or nothing expected: nothing to report.
    let quiet = mock().await;
    quiet
        .respond(Method::GET, "/v1/a", CannedResponse::json(json!({})))
        .unwrap();
    drop(quiet);

    // Already panicking: the first panic is reported, not a second (which would abort).
    let owned = unmet().await;
    let panicked = std::thread::spawn(move || {
        let _mock = owned;
        panic!("the test's own failure");
    })
    .join()
    .unwrap_err();
    assert_eq!(
        panicked.downcast_ref::<&str>(),
        Some(&"the test's own failure")
    );
}

// --- 2 and 3. who was refused ----------------------------------------------

#[tokio::test]
async fn a_principal_refused_with_403_is_recorded_and_a_swapped_relationship_gets_a_hint() {
    let mock = mock().await;
    mock.set_relationship(
        Relationship {
            member: PATIENT,
            caregiver: PARENT,
        },
        RelationshipStatus::Active,
    )
    .unwrap();
    mock.respond(
        Method::GET,
        "/v1/mine",
        CannedResponse::json(json!({})).only_for(Audience::Users),
    )
    .unwrap();

    let (status, body) = call(&mock, Method::GET, "/v1/mine").await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::FORBIDDEN, &json!("principal_not_allowed"))
    );

    // sub and act the wrong way round.
    let swapped = token(&MemberGrant::member(PARENT).caregiver(PATIENT));
    let (status, body) = call_as(&mock, Method::GET, "/v1/members", &swapped).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::FORBIDDEN, &json!("no_active_relationship"))
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("reverse relationship is active"),
        "{message}"
    );
    assert!(message.contains("swapped"), "{message}");

    // No relationship either way: no hint.
    let stranger = token(&MemberGrant::member(PATIENT).caregiver("mem_stranger1"));
    let (_, body) = call_as(&mock, Method::GET, "/v1/members", &stranger).await;
    assert_eq!(
        body["message"],
        "the caregiver has no active relationship with the member"
    );

    let requests = mock.requests();
    let principals: Vec<_> = requests
        .iter()
        .map(|request| {
            let principal = request.principal().expect("authenticated, then refused");
            (
                principal.kind,
                principal.member.clone(),
                principal.actor.clone(),
            )
        })
        .collect();
    assert_eq!(
        principals,
        [
            (PrincipalKind::ApiKey, None, None),
            (
                PrincipalKind::Caregiver,
                Some(PARENT.into()),
                Some(PATIENT.into())
            ),
            (
                PrincipalKind::Caregiver,
                Some(PATIENT.into()),
                Some("mem_stranger1".into())
            ),
        ]
    );
    assert!(matches!(
        &requests[1].outcome,
        Outcome::Rejected {
            status: StatusCode::FORBIDDEN,
            principal: Some(_),
            ..
        }
    ));
    // An unauthenticated request still has none.
    client()
        .get(format!("{}/v1/members", mock.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(mock.requests()[3].principal(), None);
}

// --- 5. it stays up ---------------------------------------------------------

#[tokio::test]
async fn only_statuses_with_a_body_are_accepted_as_canned_or_injected() {
    let mock = mock().await;
    for code in [100, 101, 199, 204, 304, 600, 999] {
        let status = StatusCode::from_u16(code).unwrap();
        let canned = CannedResponse::json(json!({})).with_status(status);
        let err = mock.respond(Method::GET, "/v1/a", canned).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidStatus, "{code}");
        let err = mock.fail_next(1, status, "x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidStatus, "{code}");
    }
    // Nothing was registered or owed by the refusals.
    assert!(mock.unused_responses().is_empty());
    assert_eq!(call(&mock, Method::GET, "/v1/a").await.0, StatusCode::OK);
    for code in [200, 201, 299, 303, 305, 404, 599] {
        let status = StatusCode::from_u16(code).unwrap();
        mock.respond(
            Method::GET,
            "/v1/a",
            CannedResponse::json(json!({})).with_status(status),
        )
        .unwrap();
        assert_eq!(call(&mock, Method::GET, "/v1/a").await.0, status);
        mock.fail_next(1, status, "x").unwrap();
        assert_eq!(call(&mock, Method::GET, "/v1/a").await.0, status);
    }
}

#[tokio::test]
async fn a_raw_path_with_dot_segments_gets_404_not_the_principal() {
    let mock = mock().await;
    for path in [
        "/v1/../../etc/passwd",
        "/v1/./members",
        "/v1/members/..",
        "/v1/a/./",
    ] {
        let response = raw(
            &mock,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer {SECRET}\r\nConnection: close\r\n\r\n"
            ),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 404"), "{path}: {response}");
        assert!(response.contains(r#""code":"not_found""#), "{response}");
    }
    // Dots inside a segment are a name like any other.
    let (status, _) = call(&mock, Method::GET, "/v1/files/a..b").await;
    assert_eq!(status, StatusCode::OK);
}

/// A request authenticated and then answered 404 (an unregistered method or
/// path, or a dot segment) is recorded with who sent it, as a 403 is.
#[tokio::test]
async fn a_principal_answered_404_is_recorded() {
    let mock = mock().await;
    let (status, _) = call(&mock, Method::POST, "/v1/unregistered").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = raw(
        &mock,
        &format!(
            "GET /v1/../members HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer {SECRET}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert!(
            matches!(
                &request.outcome,
                Outcome::Rejected { status, code: "not_found", principal: Some(principal) }
                    if *status == StatusCode::NOT_FOUND && principal.kind == PrincipalKind::ApiKey
            ),
            "{request:?}"
        );
    }
    // Without a good credential there is no one to record.
    let (status, _) = call_as(&mock, Method::POST, "/v1/unregistered", "sk_test_unknown").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(mock.requests()[2].principal(), None);
}

#[tokio::test]
async fn the_record_keeps_the_newest_requests_and_closest_survives_the_cap() {
    let mock = mock().await;
    expect_get(&mock, "/v1/member/mem_a", 1);
    // The near miss first, then enough to push it out of the record.
    call(&mock, Method::GET, "/v1/members/mem_a").await;
    let client = client();
    for i in 0..MAX_RECORDED_REQUESTS + 4 {
        client
            .get(format!("{}/v1/other/{i}", mock.base_url()))
            .send()
            .await
            .unwrap();
    }
    let requests = mock.requests();
    assert_eq!(requests.len(), MAX_RECORDED_REQUESTS);
    assert_eq!(mock.dropped_requests(), 5);
    assert_eq!(requests[0].path, "/v1/other/4");
    assert!(
        requests
            .iter()
            .all(|request| request.path != "/v1/members/mem_a")
    );

    let err = mock.verify().unwrap_err();
    assert_eq!(err.unmet()[0].closest[0].path, "/v1/members/mem_a");
}

// --- 4. the control API, in process -----------------------------------------

fn control_request(method: &str, path: &str, host: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn the_control_api_is_off_unless_asked_for() {
    let mock = mock().await;
    let response = raw(
        &mock,
        &control_request("GET", "/__mock/requests", "localhost", ""),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn the_control_api_answers_loopback_hosts_only_and_is_neither_recorded_nor_failed() {
    let mock = mock().await.with_control_api();
    mock.fail_next(1, StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        .unwrap();
    let key = format!(
        r#"{{"id":"key_second1","secret":"{}"}}"#,
        "sk_test_second0000000000000000000000000"
    );
    for host in ["evil.example", "evil.example:80", "127.0.0.1.evil.example"] {
        let response = raw(&mock, &control_request("POST", "/__mock/keys", host, &key)).await;
        assert!(response.starts_with("HTTP/1.1 403"), "{host}: {response}");
        assert!(response.contains("host_not_loopback"), "{response}");
    }
    let no_host = "GET /__mock/requests HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert!(raw(&mock, no_host).await.starts_with("HTTP/1.1 403"));
    // Refused above: the key is unknown.
    let (status, _) = call_as(
        &mock,
        Method::GET,
        "/v1/members",
        "sk_test_second0000000000000000000000000",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the failure was still owed"
    );

    for host in ["localhost", "127.0.0.1:1234", "[::1]"] {
        let response = raw(&mock, &control_request("POST", "/__mock/keys", host, &key)).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{host}: {response}");
        assert!(!response.contains("sk_test_second"), "{response}");
    }
    let (status, body) = call_as(
        &mock,
        Method::GET,
        "/v1/members",
        "sk_test_second0000000000000000000000000",
    )
    .await;
    assert_eq!(
        (status, &body["key_id"]),
        (StatusCode::OK, &json!("key_second1"))
    );

    // The Source API itself keeps accepting any Host.
    let response = raw(
        &mock,
        &format!("GET /v1/members HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {SECRET}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let recorded: Vec<_> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(recorded, ["/v1/members", "/v1/members", "/v1/members"]);
    let json = serde_json::to_string(&mock.requests()).unwrap();
    assert!(
        !json.contains("sk_test_")
            && !json.contains(SECRET)
            && !json.contains(KEY_ID.repeat(2).as_str())
    );
}
