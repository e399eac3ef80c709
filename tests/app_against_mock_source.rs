//! An app's own end-to-end test, as a new user of the crate writes it: the app
//! calls Source through `SourceAuthLayer`, and MockSource stands in for Source,
//! checking each credential and answering with the responses the test registered.

use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use source_auth::layer::SourceAuth;
use source_auth::testing::{Audience, CannedResponse, MockSource, PrincipalKind};
use source_auth::{ApiKey, BoxError, MemberGrant, SourceAuthLayer};
use tower::{ServiceBuilder, ServiceExt};

const PATIENT: &str = "mem_patient1";

/// The app under test: what it asks Source for, and as whom.
struct App {
    source: SourceAuth<Client<HttpConnector, Full<Bytes>>>,
    base_url: String,
}

impl App {
    fn new(key: ApiKey, base_url: &str) -> Self {
        let layer = SourceAuthLayer::new(key)
            .base_url(base_url)
            .expect("a loopback URL");
        Self {
            source: ServiceBuilder::new()
                .layer(layer)
                .service(Client::builder(TokioExecutor::new()).build_http()),
            base_url: base_url.to_owned(),
        }
    }

    /// The signed-in member's own record: Source must be called as that member.
    async fn my_record(&self, member: &str) -> Result<(StatusCode, Value), BoxError> {
        let mut request =
            Request::get(format!("{}/v1/members/{member}", self.base_url)).body(Full::default())?;
        request.extensions_mut().insert(MemberGrant::member(member));
        self.send(request).await
    }

    /// The same route with the bug the test is there to catch: it calls Source
    /// with the app's API key, which could read any member's record.
    async fn my_record_as_the_app(&self, member: &str) -> Result<(StatusCode, Value), BoxError> {
        let request =
            Request::get(format!("{}/v1/members/{member}", self.base_url)).body(Full::default())?;
        self.send(request).await
    }

    /// Books an appointment, as the app.
    async fn book(&self, member: &str, at: &str) -> Result<(StatusCode, Value), BoxError> {
        let body = json!({ "member": member, "start_at": at }).to_string();
        let request = Request::post(format!("{}/v1/appointments?notify=true", self.base_url))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        self.send(request).await
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Value), BoxError> {
        let response = self.source.clone().oneshot(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, serde_json::from_slice(&body)?))
    }
}

/// MockSource with the app's key and Source's answers registered, and the app.
async fn source_and_app() -> (MockSource, App) {
    let source = MockSource::start().await.expect("the mock starts");
    let key = ApiKey::new("key_demo1", "sk_test_demo0000000000000000000000000000").unwrap();
    source.add_api_key(&key);
    source
        .respond(
            Method::GET,
            "/v1/members/mem_patient1",
            CannedResponse::json(json!({ "object": "member", "id": PATIENT, "name": "Ada" }))
                .only_for(Audience::Member(PATIENT.into())),
        )
        .unwrap();
    source
        .respond(
            Method::POST,
            "/v1/appointments",
            CannedResponse::json(json!({ "object": "appointment", "id": "apt_1" }))
                .with_status(StatusCode::CREATED)
                .only_for(Audience::ApiKeys),
        )
        .unwrap();
    let app = App::new(key, source.base_url());
    (source, app)
}

#[tokio::test]
async fn the_member_route_calls_source_as_the_member() {
    let (source, app) = source_and_app().await;

    let (status, record) = app.my_record(PATIENT).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["name"], "Ada");

    // The buggy route is caught: Source's record is for the member only.
    let (status, error) = app.my_record_as_the_app(PATIENT).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["code"], "principal_not_allowed");
    // Nothing is registered for another member: MockSource answers who asked.
    let (status, principal) = app.my_record("mem_someoneelse1").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(principal["member"], "mem_someoneelse1");

    let requests = source.requests();
    let member = requests[0].principal().expect("authenticated");
    assert_eq!(member.kind, PrincipalKind::Member);
    assert_eq!(member.member.as_deref(), Some(PATIENT));
    // Refused with 403, and recorded as who it was: the app's API key.
    assert_eq!(
        requests[1].principal().map(|principal| principal.kind),
        Some(PrincipalKind::ApiKey),
        "refused"
    );
}

#[tokio::test]
async fn booking_sends_the_body_and_query_source_expects() {
    let (source, app) = source_and_app().await;

    let (status, appointment) = app.book(PATIENT, "2026-12-02T09:00:00Z").await.unwrap();
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(appointment["id"], "apt_1");

    let booked = &source.requests()[0];
    assert_eq!(
        (&booked.method, booked.path.as_str()),
        (&Method::POST, "/v1/appointments")
    );
    assert_eq!(booked.query.as_deref(), Some("notify=true"));
    let sent: Value = serde_json::from_slice(&booked.body).expect("JSON");
    assert_eq!(
        sent,
        json!({ "member": PATIENT, "start_at": "2026-12-02T09:00:00Z" })
    );
    assert!(!booked.body_truncated);
}
