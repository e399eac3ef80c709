use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::MemberClaims;

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

struct Inner {
    /// A bearer token, not key material: redacted from `Debug`, but not zeroized,
    /// which would cost a pass over it on every mint (see BENCHMARKS.md).
    jwt: Box<str>,
    claims: MemberClaims,
}

impl MemberToken {
    pub(crate) fn new(jwt: String, claims: MemberClaims) -> Self {
        Self {
            inner: Arc::new(Inner {
                jwt: jwt.into_boxed_str(),
                claims,
            }),
        }
    }

    /// The compact JWT.
    pub fn as_str(&self) -> &str {
        &self.inner.jwt
    }

    /// The claims the token carries.
    pub fn claims(&self) -> &MemberClaims {
        &self.inner.claims
    }

    /// When the token expires (its `exp`).
    pub fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.inner.claims.exp)
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
