use std::fmt;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::clock::{Clock, SystemClock};
use crate::credential::ApiKey;
use crate::error::{Error, ErrorKind, Result};

use super::hs256::{self, HmacSha256};
use super::{MAX_TOKEN_LEN, MAX_TOKEN_LIFETIME, MemberClaims, MemberGrant, MemberToken};

/// Signs member and caregiver tokens with an API key.
///
/// Cheap to clone. `Debug` shows the key id only.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use source_auth::{ApiKey, MemberGrant, TokenSigner};
///
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// // Backdate `iat` a little for servers whose clocks run behind ours.
/// let signer = TokenSigner::new(key).iat_backdate(Duration::from_secs(5));
/// let token = signer.sign(&MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f"))?;
/// assert_eq!(token.claims().exp - token.claims().iat, 5 * 60 + 5);
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenSigner {
    key_id: Arc<str>,
    /// `base64url(header)`: the same for every token a key signs, so encoded once.
    header_segment: Arc<str>,
    mac: HmacSha256,
    clock: Arc<dyn Clock>,
    iat_backdate: Duration,
}

impl TokenSigner {
    /// A signer for `api_key`, reading time from the system clock.
    pub fn new(api_key: ApiKey) -> Self {
        let key_id: Arc<str> = api_key.id().into();
        Self {
            // Exactly the header Source's Node client writes: `{"alg":"HS256","kid":…}`.
            header_segment: hs256::header_segment(&key_id).into(),
            key_id,
            mac: api_key.mac().clone(),
            clock: Arc::new(SystemClock),
            iat_backdate: Duration::ZERO,
        }
    }

    /// Reads the time from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub(crate) fn with_shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Writes `iat` this much earlier than now, for verifiers whose clocks run behind
    /// (default zero). `exp` is still counted from the real now, and the token's whole
    /// lifetime (`exp − iat`) stays within 24 hours.
    pub fn iat_backdate(mut self, by: Duration) -> Self {
        self.iat_backdate = by;
        self
    }

    /// The id of the signing key, written as the token's `kid`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Validates `grant` and signs a token for it.
    ///
    /// Fails when a member id is malformed, the actor is the subject, a scope is
    /// malformed, the expiry is not after now or more than 24 hours ahead, or the
    /// scopes make the token larger than the 8 KiB a verifier accepts.
    pub fn sign(&self, grant: &MemberGrant) -> Result<MemberToken> {
        grant.validate()?;
        let now = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| clock_before_epoch())?;
        let now_secs = now.as_secs();
        let exp = grant
            .expiry_from(now)
            .ok_or_else(|| invalid_expiry("the token's expiry must be after now"))?
            .as_secs();
        if exp <= now_secs {
            return Err(invalid_expiry(
                "the token's expiry must be at least one second after now",
            ));
        }
        let iat = now.saturating_sub(self.iat_backdate).as_secs();
        let max_lifetime = MAX_TOKEN_LIFETIME.as_secs();
        if exp - now_secs > max_lifetime || exp - iat > max_lifetime {
            return Err(invalid_expiry(
                "the token's expiry must be at most 24 hours after now (and after `iat`, when backdated)",
            ));
        }
        let claims = MemberClaims {
            sub: grant.subject().to_owned(),
            act: grant.actor().map(str::to_owned),
            iat,
            exp,
            scopes: grant.scopes_granted().to_vec(),
        };
        let jwt = serde_json::to_vec(&claims)
            .ok()
            .and_then(|payload| hs256::sign(&self.header_segment, &payload, &self.mac))
            .ok_or_else(|| Error::new(ErrorKind::Signing, "could not sign the member token"))?;
        if jwt.len() > MAX_TOKEN_LEN {
            return Err(Error::new(
                ErrorKind::TokenTooLarge,
                "the member token would be larger than the 8 KiB verifiers accept; grant fewer or shorter scopes",
            ));
        }
        Ok(MemberToken::new(jwt, claims))
    }
}

fn invalid_expiry(message: &'static str) -> Error {
    Error::new(ErrorKind::InvalidExpiry, message)
}

fn clock_before_epoch() -> Error {
    invalid_expiry("the clock reads a time before 1970; check the system clock")
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("key_id", &self.key_id)
            .field("clock", &self.clock)
            .field("iat_backdate", &self.iat_backdate)
            .finish_non_exhaustive()
    }
}
