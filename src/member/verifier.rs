use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use std::time::Duration;

use serde::Deserialize;

use crate::clock::Clock;
use crate::credential::ApiKey;
use crate::error::{Error, ErrorKind, Result};
use crate::jws::{self, Malformed, Parts};
use crate::lifetime::TimeRules;

use super::claims::validate_members;
use super::hs256::{self, HS256, HmacSha256};
use super::{MAX_TOKEN_LEN, MemberClaims};

/// Verifies member tokens the way Source does.
///
/// HS256 only, key chosen by `kid`, signature, `exp` and `nbf` (with a small
/// leeway), a lifetime (`exp − iat`) of at most 24 hours, and well-formed member ids.
/// When several keys share an id (a secret being rotated), a token signed by any
/// of them is accepted.
///
/// ```
/// use source_auth::{ApiKey, ErrorKind, MemberGrant, TokenSigner, TokenVerifier};
///
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// let other = ApiKey::new("key_other", "sk_test_ffffffffffffffffffffffffffffffff")?;
/// let token = TokenSigner::new(other).sign(&MemberGrant::member("mem_1"))?;
///
/// let verifier = TokenVerifier::new([key])?;
/// assert_eq!(verifier.verify(token.as_str()).unwrap_err().kind(), ErrorKind::UnknownKey);
///
/// // A verifier with no keys could accept nothing: it is refused when built.
/// let none = TokenVerifier::new([]).unwrap_err();
/// assert_eq!(none.kind(), ErrorKind::NoVerificationKeys);
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenVerifier {
    /// Shared by every clone, so [`set_keys`](Self::set_keys) reaches them all;
    /// read without a lock. A verifier holds a handful of keys, so a scan is
    /// quickest.
    keys: Arc<ArcSwap<Vec<VerifyingKey>>>,
    time: TimeRules,
}

impl TokenVerifier {
    /// A verifier that accepts tokens signed by any of `keys`, chosen by `kid`.
    ///
    /// Refuses an empty `keys` ([`ErrorKind::NoVerificationKeys`]): such a
    /// verifier would turn every token away.
    pub fn new(keys: impl IntoIterator<Item = ApiKey>) -> Result<Self> {
        Ok(Self {
            keys: Arc::new(ArcSwap::from_pointee(verifying_keys(keys)?)),
            time: TimeRules::default(),
        })
    }

    /// Replaces the keys this verifier and every clone of it accept, while they
    /// run: during a rotation, first both the old and the new key, then the new
    /// one alone once the old one's tokens have expired (see
    /// [`RotatingKey`](crate::RotatingKey)). Verifications in flight finish with
    /// the keys they started with.
    ///
    /// Refuses an empty `keys` ([`ErrorKind::NoVerificationKeys`]) and keeps the
    /// keys it had.
    ///
    /// ```
    /// use source_auth::{ApiKey, ErrorKind, MemberGrant, TokenSigner, TokenVerifier};
    ///
    /// let old = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
    /// let new = ApiKey::new("key_1FjqtVw3zSGyzoIti", "sk_test_5fD40IrkuMXkzEbsku2aeq8ed11111111")?;
    /// let verifier = TokenVerifier::new([old.clone()])?;
    /// let in_a_handler = verifier.clone();
    ///
    /// verifier.set_keys([old, new.clone()])?;
    /// let token = TokenSigner::new(new.clone()).sign(&MemberGrant::member("mem_1"))?;
    /// assert_eq!(in_a_handler.verify(token.as_str())?.sub, "mem_1");
    ///
    /// verifier.set_keys([new])?;
    /// assert_eq!(verifier.set_keys([]).unwrap_err().kind(), ErrorKind::NoVerificationKeys);
    /// assert_eq!(in_a_handler.verify(token.as_str())?.sub, "mem_1");
    /// # Ok::<(), source_auth::Error>(())
    /// ```
    pub fn set_keys(&self, keys: impl IntoIterator<Item = ApiKey>) -> Result<()> {
        self.keys.store(Arc::new(verifying_keys(keys)?));
        Ok(())
    }

    /// How long after `exp` (and before `nbf` or `iat`) a token is still accepted,
    /// for clock skew (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.time.leeway = leeway;
        self
    }

    /// Reads the time from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.time.clock = Arc::new(clock);
        self
    }

    /// Checks `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<MemberClaims> {
        self.verify_then(token, |_| ()).map(|(claims, ())| claims)
    }

    /// Checks only that one of this verifier's keys signed `token` (HS256, the
    /// key chosen by `kid`), and nothing it claims: not `exp`, not the lifetime,
    /// not the ids.
    ///
    /// For tools that report on a token, such as `source-auth inspect`, which
    /// tell a bad signature from a bad claim. Never accept a token on this
    /// alone: [`verify`](Self::verify) is the check for that.
    ///
    /// ```
    /// use source_auth::{ApiKey, ErrorKind, ManualClock, MemberGrant, TokenSigner, TokenVerifier};
    /// use std::time::{Duration, SystemTime};
    ///
    /// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
    /// let clock = ManualClock::new(SystemTime::now());
    /// let token = TokenSigner::new(key.clone()).with_clock(clock.clone()).sign(&MemberGrant::member("mem_1"))?;
    /// clock.advance(Duration::from_secs(3600));
    ///
    /// let verifier = TokenVerifier::new([key])?.with_clock(clock);
    /// assert_eq!(verifier.verify(token.as_str()).unwrap_err().kind(), ErrorKind::Expired);
    /// assert!(verifier.verify_signature(token.as_str()).is_ok()); // expired, but ours
    /// # Ok::<(), source_auth::Error>(())
    /// ```
    pub fn verify_signature(&self, token: &str) -> Result<()> {
        self.signed(token, |_| ()).map(|_| ())
    }

    /// Checks `token` and returns its claims and the id of the key that signed it.
    #[cfg(feature = "test-util")]
    pub(crate) fn verify_with_key_id(&self, token: &str) -> Result<(MemberClaims, Arc<str>)> {
        self.verify_then(token, |key| key.id.clone())
    }

    /// Checks `token` and returns its claims and what `of_key` takes from the key
    /// that signed it.
    fn verify_then<K>(
        &self,
        token: &str,
        of_key: impl FnOnce(&VerifyingKey) -> K,
    ) -> Result<(MemberClaims, K)> {
        let (parts, of_key) = self.signed(token, of_key)?;
        let claims: ClaimsIn = parts.claims().map_err(malformed)?;
        let claims = self.check_claims(claims)?;
        Ok((claims, of_key))
    }

    /// The parts of `token` and what `of_key` takes from the key that signed it.
    fn signed<'t, K>(
        &self,
        token: &'t str,
        of_key: impl FnOnce(&VerifyingKey) -> K,
    ) -> Result<(Parts<'t>, K)> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::new(
                ErrorKind::TokenTooLarge,
                "member token is larger than 8 KiB",
            ));
        }
        let parts = Parts::split(token).map_err(malformed)?;
        let keys = self.keys.load();
        let kid = key_id(&keys, &parts)?;
        let mut candidates = keys.iter().filter(|key| *key.id == *kid).peekable();
        if candidates.peek().is_none() {
            return Err(Error::new(
                ErrorKind::UnknownKey,
                "member token's `kid` names no API key this verifier knows",
            ));
        }
        // Every key with that id is tried, whatever the header's form.
        let key = candidates
            .find(|key| hs256::verify(&parts, &key.mac).is_ok())
            .ok_or_else(|| malformed(Malformed::Signature))?;
        Ok((parts, of_key(key)))
    }

    fn check_claims(&self, claims: ClaimsIn) -> Result<MemberClaims> {
        self.time
            .check("member token", claims.iat, claims.exp, claims.nbf)?;
        validate_members(&claims.sub, claims.act.as_deref())?;
        Ok(MemberClaims {
            sub: claims.sub,
            act: claims.act,
            iat: claims.iat,
            exp: claims.exp,
            scopes: claims.scopes,
        })
    }
}

/// The claims as a verifier reads them: those of [`MemberClaims`] and the optional
/// `nbf` (RFC 7519), which this crate never writes and `MemberClaims` does not
/// carry. Spelled out rather than `#[serde(flatten)]`, which buffers every field
/// first and would double the cost of parsing.
#[derive(Deserialize)]
struct ClaimsIn {
    sub: String,
    #[serde(default)]
    act: Option<String>,
    iat: u64,
    exp: u64,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    nbf: Option<u64>,
}

/// The token's `kid`, from a header that must be HS256 with no `crit`.
fn key_id<'a>(keys: &'a [VerifyingKey], parts: &Parts<'_>) -> Result<Cow<'a, str>> {
    // The exact header this crate (and Source's Node client) writes for a key is
    // recognised without decoding: it says HS256, that `kid`, and nothing else.
    if let Some(key) = keys.iter().find(|key| *key.header == *parts.header) {
        return Ok(Cow::Borrowed(&key.id));
    }
    let mut buffer = [0; jws::MAX_HEADER_BYTES];
    let header = parts.header(&mut buffer).map_err(malformed)?;
    header.require_alg(HS256).map_err(malformed)?;
    let kid = header.kid.ok_or_else(|| malformed(Malformed::NoKeyId))?;
    Ok(Cow::Owned(kid.into_owned()))
}

/// `keys` made ready to verify with; at least one.
fn verifying_keys(keys: impl IntoIterator<Item = ApiKey>) -> Result<Vec<VerifyingKey>> {
    let keys: Vec<_> = keys
        .into_iter()
        .map(|key| VerifyingKey {
            id: key.id().into(),
            header: hs256::header_segment(key.id()).into(),
            mac: key.mac().clone(),
        })
        .collect();
    if keys.is_empty() {
        return Err(Error::new(
            ErrorKind::NoVerificationKeys,
            "a TokenVerifier needs at least one API key to verify member tokens with",
        ));
    }
    Ok(keys)
}

/// A key a verifier accepts, as an id and a keyed MAC.
struct VerifyingKey {
    id: Arc<str>,
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
            .field(
                "key_ids",
                &self
                    .keys
                    .load()
                    .iter()
                    .map(|key| &*key.id)
                    .collect::<Vec<_>>(),
            )
            .field("time", &self.time)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::member::{MemberGrant, MemberToken, TokenSigner};
    use std::time::UNIX_EPOCH;

    fn key(id: &str) -> ApiKey {
        ApiKey::new(id, "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000").expect("valid key")
    }

    /// New keys reach every clone at once; an empty set is refused and changes
    /// nothing.
    #[test]
    fn set_keys_replaces_the_keys_of_every_clone() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let (old, new) = (
            key("key_0EipsUv2yRFxynHshisN"),
            key("key_1FjqtVw3zSGyzoIti"),
        );
        let signed_by = |key: &ApiKey| {
            TokenSigner::new(key.clone())
                .with_clock(clock.clone())
                .sign(&MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f"))
                .unwrap()
        };
        let (old_token, new_token) = (signed_by(&old), signed_by(&new));
        let verifier = TokenVerifier::new([old.clone()])
            .unwrap()
            .with_clock(clock.clone());
        let in_a_handler = verifier.clone();
        // The member a token was accepted for, or why it was refused.
        let kind = |token: &MemberToken| {
            in_a_handler
                .verify(token.as_str())
                .map(|claims| claims.sub)
                .map_err(|e| e.kind())
        };
        assert_eq!(kind(&new_token).unwrap_err(), ErrorKind::UnknownKey);

        verifier.set_keys([old, new.clone()]).unwrap();
        assert_eq!(kind(&old_token).unwrap(), "mem_5QW8j1oKqQjNaPk4Hv3f");
        assert_eq!(kind(&new_token).unwrap(), "mem_5QW8j1oKqQjNaPk4Hv3f");

        verifier.set_keys([new]).unwrap();
        assert_eq!(kind(&old_token).unwrap_err(), ErrorKind::UnknownKey);
        assert_eq!(
            verifier.set_keys([]).unwrap_err().kind(),
            ErrorKind::NoVerificationKeys
        );
        assert_eq!(kind(&new_token).unwrap(), "mem_5QW8j1oKqQjNaPk4Hv3f");
    }
}
