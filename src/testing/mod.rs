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

mod authorization;
mod handler;
mod record;
mod registry;
mod rejection;
mod server;

pub use crate::clock::ManualClock;
pub use authorization::{ParseError, Presented, Scheme, parse_authorization};
pub use record::{Outcome, Principal, PrincipalKind, RecordedRequest, TokenFingerprint};
pub use registry::RelationshipStatus;
pub use server::MockSource;
