//! Test doubles: [`MockSource`], a local Source API that checks credentials as
//! Source does, and [`ManualClock`].
//!
//! [`MockSource`] serves `GET /v1/…` on `127.0.0.1`. It accepts the API keys, user
//! tokens and member tokens you register and answers with who the request was
//! authenticated as; anything else gets Source's error body:
//!
//! | status | `type` | `code` |
//! |---|---|---|
//! | 401 | `authentication_error` | `missing_authorization`, `multiple_authorization_headers`, a [`ParseError::code`], `invalid_api_key`, `token_expired`, `unknown_key`, `invalid_expiry`, `invalid_token` |
//! | 403 | `authorization_error` | `no_active_relationship` (a caregiver token without an active relationship) |
//! | 400 | `invalid_request_error` | `invalid_live_mode` (`Source-Live-Mode` other than `true` or `false`, with a user token) |
//! | 404 | `invalid_request_error` | `not_found` (anything but `GET /v1/…`) |
//!
//! A bearer credential is checked, in order, against the registered user tokens,
//! then API keys when it starts with `sk_`, and otherwise as a member token; Basic
//! credentials only against API keys. Live mode follows the key's prefix for API
//! keys and member tokens, and `Source-Live-Mode` (default `true`) for user tokens.
//! The codes are the mock's own, stable for tests to match on. Every request is
//! kept for assertions ([`MockSource::requests`]) with a fingerprint of its
//! credential, never the credential itself.
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

#[cfg(feature = "application")]
mod application;
mod handler;
mod record;
mod registry;
mod rejection;
mod server;

pub use crate::authorization::{ParseError, Presented, Scheme};
pub use crate::clock::ManualClock;
pub use record::{Outcome, Principal, PrincipalKind, RecordedRequest, TokenFingerprint};
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
