//! Test doubles: [`MockSource`], a local Source API that checks credentials as
//! Source does, and [`ManualClock`].
//!
//! [`MockSource`] stands in for Source on `127.0.0.1`. It accepts the API keys,
//! user tokens and member tokens you register, checks the credential of every
//! request first, whatever its method and path (unless told to
//! [fail it](#making-mocksource-misbehave)), and then answers:
//!
//! - with the [`CannedResponse`] registered for the request's method and exact path
//!   ([`MockSource::respond`]), if the principal may see it;
//! - otherwise, for `GET /v1/…`, with 200 and who the request was authenticated
//!   as (a [`Principal`]);
//! - otherwise with 404.
//!
//! Errors come in Source's error body:
//!
//! | status | `type` | `code` |
//! |---|---|---|
//! | 401 | `authentication_error` | `missing_authorization`, `multiple_authorization_headers`, a [`ParseError::code`], `invalid_api_key`, `token_expired`, `unknown_key`, `invalid_expiry`, `invalid_token` |
//! | 403 | `authorization_error` | `no_active_relationship` (a caregiver token without an active relationship), `principal_not_allowed` (a canned response [for](CannedResponse::only_for) another principal) |
//! | 400 | `invalid_request_error` | `invalid_live_mode` (`Source-Live-Mode` other than `true` or `false`, with a user token) |
//! | 404 | `invalid_request_error` | `not_found` (an authenticated request with no canned response, other than `GET /v1/…`) |
//!
//! A bearer credential is checked, in order, against the registered user tokens,
//! then API keys when it starts with `sk_`, and otherwise as a member token; Basic
//! credentials only against API keys. Live mode follows the key's prefix for API
//! keys and member tokens, and `Source-Live-Mode` (default `true`) for user tokens.
//! The codes are the mock's own, stable for tests to match on. Paths match
//! exactly; the query string is never matched, only recorded; a raw path with a
//! `.` or `..` segment gets 404. A 403 still records who was refused
//! ([`RecordedRequest::principal`]), and a caregiver token whose `sub` and `act`
//! are the reverse of an active relationship is told so in its message.
//!
//! The last [`MAX_RECORDED_REQUESTS`] requests are kept for assertions
//! ([`MockSource::requests`]; older ones are dropped, oldest first, and counted by
//! [`MockSource::dropped_requests`]) with their method, path, query, the first
//! 64 KiB of their body and a fingerprint of their credential, never the
//! credential itself; [`MockSource::on_request`] sees each one as it comes.
//!
//! ## Expectations
//!
//! A canned response can say how often it expects to be served
//! ([`CannedResponse::expect`], a count or a range). [`MockSource::verify`] lists
//! each unmet one with the requests that came closest (the same path with another
//! method, a trailing slash or case difference, one segment off), so a typo in a
//! registered path fails the test instead of passing on the default 200; a mock
//! dropped unverified with an unmet expectation panics, as wiremock's does.
//! [`MockSource::unused_responses`] lists the responses no request was served.
//!
//! ## The control API
//!
//! [`MockSource::with_control_api`] (on in `source-auth mock`) lets tests in any
//! language do over HTTP, on the mock's own port, what a Rust test does through
//! the handle. It is the one exception to "checks credentials on every method and
//! path": requests under `/__mock/` need no Source credential. In exchange they
//! are answered only when their `Host` is `localhost` or a loopback address
//! (against DNS rebinding; the Source API itself accepts any `Host`), and they
//! are neither recorded nor counted toward [`MockSource::fail_next`]. JSON in and
//! out; errors in Source's error body:
//!
//! | request | what it does |
//! |---|---|
//! | `GET /__mock/requests` | `{"requests": [...], "dropped": N}`: [`RecordedRequest`]s as JSON, never a credential |
//! | `DELETE /__mock/requests` | clears the record |
//! | `PUT /__mock/clock` `{"offset_seconds": N}` | [`MockSource::set_clock_offset`], negative for behind; answers `now`, the mock's time in Unix seconds |
//! | `POST /__mock/fail` `{"count": N, "status": S, "code": "…"}` | [`MockSource::fail_next`] |
//! | `POST /__mock/keys` `{"id": "key_…", "secret": "sk_test_…"}` | [`MockSource::add_api_key`]; answers the id and mode, never the secret |
//! | `DELETE /__mock/keys/{id}` | [`MockSource::revoke_api_key`]; 404 for an unknown id |
//! | `POST /__mock/relationships` `{"member": "mem_…", "caregiver": "mem_…", "active": true}` | [`MockSource::set_relationship`] (`active` optional) |
//! | `POST /__mock/responses` `{"method", "path", "status", "body", "only_for", "expect"}` | [`MockSource::respond`]; only `method` and `path` are required; `only_for` as [`Audience`], `expect` as [`Times`] |
//! | `GET /__mock/unused` | `{"unused": [{"method", "path"}]}` |
//! | `POST /__mock/verify` | 200 `{"unmet": []}`, or 409 with each [`UnmetExpectation`] |
//! | `POST /__mock/application-token` `{"user": "usr_…", "application": "app_…"}` | an application token (`application` optional, default `app_mock`); needs `application` |
//! | `GET /__mock/application-jwk?application=app_…` | that application's public JWK (default `app_mock`); needs `application` |
//!
//! ```
//! use source_auth::ApiKey;
//! use source_auth::testing::MockSource;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000";
//! let mock = MockSource::start().await?;
//! mock.add_api_key(&ApiKey::new("key_0EipsUv2yRFxynHshisN", secret)?);
//!
//! let mut stream = tokio::net::TcpStream::connect(mock.local_addr()).await?;
//! let request = format!(
//!     "GET /v1/members HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n\r\n"
//! );
//! stream.write_all(request.as_bytes()).await?;
//! let mut response = String::new();
//! stream.read_to_string(&mut response).await?;
//!
//! assert!(response.starts_with("HTTP/1.1 200"));
//! assert!(response.contains(r#""kind":"api_key","key_id":"key_0EipsUv2yRFxynHshisN""#));
//! assert!(!response.contains(secret));
//! assert_eq!(mock.requests().len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! ## Canned responses, end to end
//!
//! An app's member-facing route should call Source as the member. Register
//! Source's answer for that member only, and the test fails if the route calls
//! Source with the app's API key instead:
//!
//! ```
//! use http::{Method, Request, StatusCode};
//! use http_body_util::{BodyExt, Empty};
//! use hyper::body::Bytes;
//! use hyper_util::{client::legacy::Client, rt::TokioExecutor};
//! use serde_json::{Value, json};
//! use source_auth::testing::{Audience, CannedResponse, MockSource, Outcome};
//! use source_auth::{ApiKey, MemberGrant, SourceAuthLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), source_auth::BoxError> {
//! let source = MockSource::start().await?;
//! let key = ApiKey::new("key_demo1", "sk_test_demo0000000000000000000000000000")?;
//! source.add_api_key(&key);
//! source.respond(
//!     Method::GET,
//!     "/v1/members/mem_abc",
//!     CannedResponse::json(json!({"object": "member", "id": "mem_abc", "name": "Ada"}))
//!         .only_for(Audience::Member("mem_abc".into())),
//! )?;
//!
//! let client = ServiceBuilder::new()
//!     .layer(SourceAuthLayer::new(key).base_url(source.base_url())?)
//!     .service(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());
//! let url = format!("{}/v1/members/mem_abc?expand=care_team", source.base_url());
//!
//! // As the member: Source's record.
//! let mut as_member = Request::get(&url).body(Empty::new())?;
//! as_member.extensions_mut().insert(MemberGrant::member("mem_abc"));
//! let response = client.clone().oneshot(as_member).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let body: Value = serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
//! assert_eq!(body["name"], "Ada");
//!
//! // With the app's API key: 403, `principal_not_allowed`.
//! let response = client.oneshot(Request::get(&url).body(Empty::new())?).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//!
//! let requests = source.requests();
//! assert_eq!(requests[0].query.as_deref(), Some("expand=care_team"));
//! assert!(matches!(requests[1].outcome, Outcome::Rejected { code: "principal_not_allowed", .. }));
//! # Ok(())
//! # }
//! ```
//!
//! ## Making MockSource misbehave
//!
//! Source in production is not the lab's: its clock can be minutes off the
//! client's, a key can be revoked while the app runs, and Source can fail. A
//! running mock plays each on request, so a client's handling can be tested:
//!
//! - [`MockSource::set_clock_offset`] runs the mock's clock ahead of or behind the
//!   one it reads: every response's `Date` shows that time, and member tokens'
//!   `exp` and `iat` are judged on it;
//! - [`MockSource::revoke_api_key`] refuses a key (401 `invalid_api_key`) and the
//!   member tokens it signed (401 `unknown_key`) until it is added again;
//! - [`MockSource::fail_next`] fails the next requests with a status and a code.
//!
//! An injected failure comes first, before the credential is looked at; then
//! the credential; then the answer. Each error comes in Source's error body.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use http::{Request, StatusCode, header};
//! use http_body_util::Empty;
//! use hyper::body::Bytes;
//! use hyper_util::{client::legacy::Client, rt::TokioExecutor};
//! use source_auth::testing::{ManualClock, MockSource, Outcome};
//! use source_auth::{ApiKey, ClockOffset};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), source_auth::BoxError> {
//! let secret = "sk_test_demo0000000000000000000000000000";
//! let key = ApiKey::new("key_demo1", secret)?;
//! let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let source = MockSource::start().await?.with_clock(clock);
//! source.add_api_key(&key);
//! let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
//! let get = || {
//!     Request::get(format!("{}/v1/members", source.base_url()))
//!         .header(header::AUTHORIZATION, format!("Bearer {secret}"))
//!         .body(Empty::new())
//! };
//!
//! // Source's clock 10 minutes ahead of this host's (22:13:20 on the manual clock).
//! source.set_clock_offset(ClockOffset::ahead(Duration::from_secs(600)));
//! let response = client.request(get()?).await?;
//! assert_eq!(response.headers()[header::DATE], "Tue, 14 Nov 2023 22:23:20 GMT");
//!
//! // Source down for two requests, whatever they carry, then back.
//! source.fail_next(2, StatusCode::SERVICE_UNAVAILABLE, "unavailable")?;
//! for expected in [503, 503, 200] {
//!     assert_eq!(client.request(get()?).await?.status(), expected);
//! }
//!
//! // The key revoked: 401 `invalid_api_key`, until it is added again.
//! source.revoke_api_key(key.id());
//! assert_eq!(client.request(get()?).await?.status(), StatusCode::UNAUTHORIZED);
//! source.add_api_key(&key);
//! assert_eq!(client.request(get()?).await?.status(), StatusCode::OK);
//!
//! let requests = source.requests();
//! assert!(matches!(&requests[1].outcome, Outcome::Injected { code, .. } if code == "unavailable"));
//! assert!(matches!(requests[4].outcome, Outcome::Rejected { code: "invalid_api_key", .. }));
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "application")]
mod application;
mod canned;
mod control;
mod expect;
mod failure;
mod handler;
mod record;
mod registry;
mod rejection;
mod server;

pub use crate::authorization::{ParseError, Presented, Scheme};
pub use crate::clock::ManualClock;
pub use canned::{Audience, CannedResponse};
pub use expect::{Closeness, MAX_CLOSEST, NearMiss, Times, UnmetExpectation, VerifyError};
pub use record::{
    MAX_RECORDED_BODY, MAX_RECORDED_REQUESTS, Outcome, Principal, PrincipalKind, RecordedRequest,
    TokenFingerprint,
};
pub use registry::{Relationship, RelationshipStatus};
pub use server::MockSource;

/// Parses an `Authorization` header value the way MockSource does.
///
/// This is the crate's one `Authorization` parser, the same one the
/// application-token extractors read their Bearer token with.
///
/// Schemes are case-insensitive (RFC 7235); one or more spaces separate the
/// scheme from the credential, and surrounding spaces or tabs are ignored. A bearer
/// credential is any visible ASCII without spaces. Basic credentials must be
/// `base64("<secret>:")`: a non-empty user name and an empty password. Never panics.
///
/// ```
/// use http::HeaderValue;
/// use source_auth::testing::{ParseError, Scheme, parse_authorization};
///
/// let bearer = parse_authorization(&HeaderValue::from_static("bearer  sk_test_abc"))?;
/// assert_eq!((bearer.scheme(), bearer.credential()), (Scheme::Bearer, "sk_test_abc"));
///
/// let with_password = HeaderValue::from_static("Basic c2tfdGVzdF9hYmM6cHc="); // sk_test_abc:pw
/// let err = parse_authorization(&with_password).unwrap_err();
/// assert_eq!(err, ParseError::BasicPasswordNotEmpty);
/// assert_eq!(err.code(), "basic_password_not_empty");
/// # Ok::<(), ParseError>(())
/// ```
pub fn parse_authorization(value: &http::HeaderValue) -> Result<Presented, ParseError> {
    crate::authorization::parse(value.as_bytes())
}
