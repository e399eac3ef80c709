//! Authenticate Rust services to the [Source](https://sourcehealth.com) health API.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![warn(clippy::await_holding_lock)]

pub mod clock;
pub mod credential;
pub mod error;
mod id;
pub mod member;

pub use clock::{Clock, SystemClock};
#[cfg(any(test, feature = "test-util"))]
pub use clock::ManualClock;
pub use credential::{ApiKey, Credential, KeyMode, UserToken};
pub use error::{Error, ErrorKind, Result};
pub use member::{MemberClaims, MemberGrant, MemberToken, TokenSigner, TokenVerifier};
