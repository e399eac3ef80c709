#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![warn(clippy::await_holding_lock)]

#[cfg(any(
    feature = "test-util",
    all(feature = "application", any(feature = "axum", feature = "actix-web"))
))]
// Its types are public through `testing` (test-util); the extractors use it privately.
#[cfg_attr(not(feature = "test-util"), allow(unreachable_pub))]
mod authorization;
mod authorizer;
pub mod clock;
pub mod credential;
pub mod error;
#[cfg(any(feature = "axum", feature = "actix-web", feature = "test-util"))]
mod error_body;
mod events;
mod id;
pub mod identity;
mod jws;
pub mod layer;
mod lifetime;
pub mod member;
mod origin;
pub mod resend;
#[cfg(all(test, feature = "retry"))]
mod sim;
pub mod skew;

#[cfg(any(feature = "axum", feature = "actix-web"))]
mod extract;

#[cfg(feature = "actix-web")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
pub mod actix;
#[cfg(feature = "application")]
#[cfg_attr(docsrs, doc(cfg(feature = "application")))]
pub mod application;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;

#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use credential::{ApiKey, Credential, KeyMode, RotatingKey, UserToken};
pub use error::{BoxError, Error, ErrorKind, InvalidInput, Result};
pub use identity::SourceIdentity;
pub use layer::{SourceAuth, SourceAuthLayer};
pub use member::{MemberClaims, MemberGrant, MemberId, MemberToken, TokenSigner, TokenVerifier};
pub use skew::ClockOffset;
