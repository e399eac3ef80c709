use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::credential::ApiKey;
use crate::error::{Error, ErrorKind, Result};

use super::MAX_TOKEN_LIFETIME;
use super::MemberClaims;
use super::claims::validate_members;

/// Tokens longer than this are rejected before any parsing.
const MAX_TOKEN_LEN: usize = 8 * 1024;
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Verifies member tokens the way Source does.
///
/// HS256 only, key chosen by `kid`, signature, `exp` (with a small leeway), a
/// lifetime (`exp − iat`) of at most 24 hours, and well-formed member ids.
///
/// ```
/// use source_auth::{ApiKey, ErrorKind, MemberGrant, TokenSigner, TokenVerifier};
///
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// let other = ApiKey::new("key_other", "sk_test_ffffffffffffffffffffffffffffffff")?;
/// let token = TokenSigner::new(other).sign(&MemberGrant::member("mem_1"))?;
///
/// let verifier = TokenVerifier::new([key]);
/// assert_eq!(verifier.verify(token.as_str()).unwrap_err().kind(), ErrorKind::UnknownKey);
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenVerifier {
    keys: HashMap<Box<str>, DecodingKey>,
    validation: Validation,
    leeway: Duration,
    clock: Arc<dyn Clock>,
}

impl TokenVerifier {
    /// A verifier that accepts tokens signed by any of `keys`, chosen by `kid`.
    pub fn new(keys: impl IntoIterator<Item = ApiKey>) -> Self {
        let keys = keys
            .into_iter()
            .map(|key| (key.id().into(), key.verifying_key().clone()))
            .collect();
        // Only the signature and algorithm are left to jsonwebtoken: time is checked
        // below against the injectable clock.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        Self {
            keys,
            validation,
            leeway: DEFAULT_LEEWAY,
            clock: Arc::new(SystemClock),
        }
    }

    /// How long after `exp` a token is still accepted, for clock skew (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Reads the time from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<MemberClaims> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::new(
                ErrorKind::TokenTooLarge,
                "member token is larger than 8 KiB",
            ));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid_token("member token is not a well-formed JWT"))?;
        if header.alg != Algorithm::HS256 {
            return Err(invalid_token("member token must be signed with HS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid_token("member token has no `kid` naming its API key"))?;
        let key = self.keys.get(kid.as_str()).ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownKey,
                "member token's `kid` names no API key this verifier knows",
            )
        })?;
        let claims = jsonwebtoken::decode::<MemberClaims>(token, key, &self.validation)
            .map_err(|err| match err.kind() {
                JwtErrorKind::InvalidSignature => {
                    invalid_token("member token's signature does not match its key")
                }
                _ => invalid_token("member token's header or claims are malformed"),
            })?
            .claims;
        self.check_claims(&claims)?;
        Ok(claims)
    }

    fn check_claims(&self, claims: &MemberClaims) -> Result<()> {
        let now = unix_seconds(self.clock.now()).unwrap_or(0);
        let leeway = self.leeway.as_secs();
        if claims.exp.saturating_add(leeway) <= now {
            return Err(Error::new(
                ErrorKind::Expired,
                "member token has expired; sign a new one",
            ));
        }
        if claims.iat > now.saturating_add(leeway) {
            return Err(invalid_token("member token's `iat` is in the future"));
        }
        if claims.exp <= claims.iat || claims.exp - claims.iat > MAX_TOKEN_LIFETIME.as_secs() {
            return Err(Error::new(
                ErrorKind::InvalidExpiry,
                "member token must expire after `iat` and live at most 24 hours",
            ));
        }
        validate_members(&claims.sub, claims.act.as_deref())
    }
}

fn invalid_token(message: &'static str) -> Error {
    Error::new(ErrorKind::InvalidToken, message)
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids only: jsonwebtoken's own Debug for keys would print the secret.
        f.debug_struct("TokenVerifier")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("leeway", &self.leeway)
            .field("clock", &self.clock)
            .finish()
    }
}
