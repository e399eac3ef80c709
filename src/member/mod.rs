//! Member and caregiver tokens: HS256 JWTs signed with an API key.
//!
//! A [`MemberGrant`] says who the token is for; a [`TokenSigner`] turns it into a
//! [`MemberToken`]; a [`TokenVerifier`] checks tokens the way Source does.
//!
//! ```
//! use std::time::Duration;
//! use source_auth::{ApiKey, MemberGrant, TokenSigner, TokenVerifier};
//!
//! let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
//! let signer = TokenSigner::new(key.clone());
//!
//! let grant = MemberGrant::member("mem_patient1").caregiver("mem_parent1").ttl(Duration::from_secs(600));
//! let token = signer.sign(&grant)?;
//! assert_eq!(token.claims().act.as_deref(), Some("mem_parent1"));
//!
//! let claims = TokenVerifier::new([key])?.verify(token.as_str())?;
//! assert_eq!(claims.sub, "mem_patient1");
//! # Ok::<(), source_auth::Error>(())
//! ```

mod claims;
mod grant;
pub(crate) mod hs256;
mod member_id;
mod signer;
mod token;
mod verifier;

pub use claims::MemberClaims;
pub(crate) use grant::GrantKey;
pub use grant::MemberGrant;
#[cfg(any(feature = "axum", feature = "actix-web"))]
pub(crate) use grant::validate_scopes;
pub use member_id::MemberId;
pub use signer::TokenSigner;
pub(crate) use signer::{Signed, SigningKey};
pub(crate) use token::BEARER;
pub use token::MemberToken;
pub use verifier::TokenVerifier;

pub(crate) use crate::lifetime::MAX_TOKEN_LIFETIME;
/// The longest member token: verifiers refuse longer ones unread, so signers never
/// make one.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;
