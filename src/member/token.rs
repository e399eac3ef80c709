use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderValue;

use super::MemberClaims;
use crate::clock::at_unix_seconds;
use crate::skew::{FirstResponse, SourceClock};

/// A signed member or caregiver token, as sent in `Authorization: Bearer …`.
///
/// Cheap to clone. `Debug` shows the claims but never the token.
///
/// ```
/// use source_auth::{ApiKey, MemberGrant, TokenSigner};
///
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// let token = TokenSigner::new(key).sign(&MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f"))?;
/// assert_eq!(token.as_str().split('.').count(), 3);
/// assert!(!format!("{token:?}").contains(token.as_str()));
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct MemberToken {
    inner: Arc<Inner>,
}

/// What a token's `Authorization` value starts with.
pub(crate) const BEARER: &str = "Bearer ";

struct Inner {
    /// `Bearer <jwt>`, built once when signed so that every request sending the
    /// token clones it rather than formats it.
    authorization: HeaderValue,
    claims: MemberClaims,
    /// The estimate it was signed on, which the layer that sends it learns into.
    source_clock: SourceClock,
    /// Claimed by the first request that sends it: its response is a sample.
    first_response: FirstResponse,
}

impl MemberToken {
    /// A token from its `Bearer <jwt>` header value, as the signer wrote it.
    pub(crate) fn new(
        authorization: HeaderValue,
        claims: MemberClaims,
        source_clock: SourceClock,
        sample: bool,
    ) -> Self {
        debug_assert!(authorization.as_bytes().starts_with(BEARER.as_bytes()));
        Self {
            inner: Arc::new(Inner {
                authorization,
                claims,
                source_clock,
                first_response: FirstResponse::new(sample),
            }),
        }
    }

    /// The estimate of Source's clock it was signed on: the responses to
    /// requests that send it teach that estimate.
    pub(crate) fn source_clock(&self) -> &SourceClock {
        &self.inner.source_clock
    }

    /// Which request's response is the first to it.
    pub(crate) fn first_response(&self) -> &FirstResponse {
        &self.inner.first_response
    }

    /// The compact JWT.
    pub fn as_str(&self) -> &str {
        let jwt = &self.inner.authorization.as_bytes()[BEARER.len()..];
        std::str::from_utf8(jwt).expect("a signed token is ASCII")
    }

    /// `Bearer <jwt>`, marked sensitive.
    pub(crate) fn authorization(&self) -> &HeaderValue {
        &self.inner.authorization
    }

    /// The claims the token carries.
    pub fn claims(&self) -> &MemberClaims {
        &self.inner.claims
    }

    /// When the token expires (its `exp`).
    pub fn expires_at(&self) -> SystemTime {
        at_unix_seconds(self.inner.claims.exp)
    }
}

impl fmt::Debug for MemberToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberToken")
            .field("token", &"[REDACTED]")
            .field("claims", &self.inner.claims)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::MemberToken;
    use crate::{ApiKey, MemberGrant, TokenSigner};

    /// A token for `mem_1`, the first its new signer signs.
    fn signed() -> MemberToken {
        let key = ApiKey::new("key_test1", "sk_test_0123456789abcdef0123456789abcdef").unwrap();
        TokenSigner::new(key)
            .sign(&MemberGrant::member("mem_1"))
            .unwrap()
    }

    /// `Debug` names the type and the claims, and never shows the token.
    #[test]
    fn debug_shows_the_claims_never_the_token() {
        let token = signed();
        let debug = format!("{token:?}");
        assert!(debug.starts_with("MemberToken {"), "{debug}");
        assert!(
            debug.contains("[REDACTED]") && debug.contains("mem_1"),
            "{debug}"
        );
        assert!(!debug.contains(token.as_str()), "{debug}");
    }

    /// A token's first response is claimed once, by whichever request gets it.
    #[test]
    fn the_first_response_to_a_token_is_claimed_once() {
        let token = signed();
        let clone = token.clone();
        assert!(
            token.first_response().claim(),
            "a new estimate's first token"
        );
        assert!(!clone.first_response().claim());
        assert!(!token.first_response().claim());
    }
}
