use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::credential::ApiKey;
use crate::credential::api_key::HmacSha256;
use crate::error::{Error, ErrorKind, Result};

use super::claims::validate_members;
use super::jws::{self, Malformed, Parts};
use super::{MAX_TOKEN_LEN, MAX_TOKEN_LIFETIME, MemberClaims};

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
    keys: Vec<VerifyingKey>,
    /// Index into `keys` by key id.
    by_id: HashMap<Box<str>, usize>,
    leeway: Duration,
    clock: Arc<dyn Clock>,
}

impl TokenVerifier {
    /// A verifier that accepts tokens signed by any of `keys`, chosen by `kid`.
    pub fn new(keys: impl IntoIterator<Item = ApiKey>) -> Self {
        let keys: Vec<VerifyingKey> = keys
            .into_iter()
            .map(|key| VerifyingKey {
                id: key.id().into(),
                header: jws::header_segment(key.id()).into(),
                mac: key.mac().clone(),
            })
            .collect();
        let by_id = keys
            .iter()
            .enumerate()
            .map(|(index, key)| (key.id.clone(), index))
            .collect();
        Self {
            keys,
            by_id,
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
        self.verify_with_key_id(token).map(|(claims, _)| claims)
    }

    /// Checks `token` and returns its claims and the id of the key that signed it.
    pub(crate) fn verify_with_key_id(&self, token: &str) -> Result<(MemberClaims, &str)> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::new(
                ErrorKind::TokenTooLarge,
                "member token is larger than 8 KiB",
            ));
        }
        let parts = Parts::split(token).map_err(malformed)?;
        // Tokens with the exact header this crate (and Source's Node client) writes skip
        // decoding and parsing it; a verifier holds a handful of keys, so a scan is quickest.
        let index = match self
            .keys
            .iter()
            .position(|key| *key.header == *parts.header)
        {
            Some(index) => index,
            None => {
                let kid = parts.key_id().map_err(malformed)?;
                *self.by_id.get(kid.as_str()).ok_or_else(|| {
                    Error::new(
                        ErrorKind::UnknownKey,
                        "member token's `kid` names no API key this verifier knows",
                    )
                })?
            }
        };
        let key = &self.keys[index];
        let claims: MemberClaims = parts.verify(&key.mac).map_err(malformed)?;
        self.check_claims(&claims)?;
        Ok((claims, &key.id))
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

/// A key a verifier accepts, as an id and a keyed MAC.
#[derive(Clone)]
struct VerifyingKey {
    id: Box<str>,
    /// The header segment of tokens this crate signs with the key.
    header: Box<str>,
    mac: HmacSha256,
}

fn malformed(why: Malformed) -> Error {
    invalid_token(match why {
        Malformed::Shape => "member token is not a well-formed JWT",
        Malformed::Algorithm => {
            "member token must be signed with HS256, with no critical extensions"
        }
        Malformed::NoKeyId => "member token has no `kid` naming its API key",
        Malformed::Signature => "member token's signature does not match its key",
        Malformed::Claims => "member token's claims are malformed",
    })
}

fn invalid_token(message: &'static str) -> Error {
    Error::new(ErrorKind::InvalidToken, message)
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids only, never the keyed MAC state.
        f.debug_struct("TokenVerifier")
            .field("key_ids", &self.by_id.keys().collect::<Vec<_>>())
            .field("leeway", &self.leeway)
            .field("clock", &self.clock)
            .finish()
    }
}
