use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::clock::{Clock, SystemClock, since_epoch};
use crate::credential::{ApiKey, RotatingKey};
use crate::error::{Error, ErrorKind, Result};
use crate::skew::{MintTimes, SourceClock};

use super::claims::ClaimsOut;
use super::hs256::{self, HmacSha256};
use super::{BEARER, MAX_TOKEN_LIFETIME, MemberClaims, MemberGrant, MemberToken};

/// Signs member and caregiver tokens with an API key.
///
/// Cheap to clone. `Debug` shows the key id only.
///
/// ```
/// use std::time::Duration;
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
    keys: SigningKeys,
    clock: Arc<dyn Clock>,
    source_clock: SourceClock,
    iat_backdate: Duration,
}

/// What a signer signs with: one key for its whole life, or the current key of a
/// [`RotatingKey`].
#[derive(Clone)]
enum SigningKeys {
    Fixed(Arc<SigningKey>),
    Rotating(RotatingKey),
}

/// An API key made ready to sign: its id, its token header and its keyed MAC.
pub(crate) struct SigningKey {
    key_id: Arc<str>,
    /// `base64url(header)`: the same for every token a key signs, so encoded once.
    header_segment: Box<str>,
    mac: HmacSha256,
}

impl SigningKey {
    pub(crate) fn new(api_key: &ApiKey) -> Self {
        Self {
            key_id: api_key.id().into(),
            // Exactly the header Source's Node client writes: `{"alg":"HS256","kid":…}`.
            header_segment: hs256::header_segment(api_key.id()).into(),
            mac: api_key.mac().clone(),
        }
    }
}

impl SigningKeys {
    /// Runs `sign` with the current key and the generation it was installed as
    /// (zero for a fixed key).
    fn with_current<R>(&self, sign: impl FnOnce(&SigningKey, u64) -> R) -> R {
        match self {
            Self::Fixed(key) => sign(key, 0),
            Self::Rotating(keys) => {
                let current = keys.current();
                sign(&current.signing, current.generation)
            }
        }
    }
}

impl TokenSigner {
    /// A signer for `api_key`, reading time from the system clock.
    pub fn new(api_key: ApiKey) -> Self {
        Self::from_keys(SigningKeys::Fixed(Arc::new(SigningKey::new(&api_key))))
    }

    /// A signer that always signs with `keys`' current key: after
    /// [`RotatingKey::rotate`] every clone of it signs with the new one.
    pub fn rotating(keys: RotatingKey) -> Self {
        Self::from_keys(SigningKeys::Rotating(keys))
    }

    fn from_keys(keys: SigningKeys) -> Self {
        Self {
            keys,
            clock: Arc::new(SystemClock),
            source_clock: SourceClock::new(),
            iat_backdate: Duration::ZERO,
        }
    }

    /// Reads the time from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Signs on `source_clock`'s estimate of Source's time: the local clock plus
    /// its offset. Every signer starts with an estimate of its own, at zero; a
    /// layer built from a signer learns into the signer's, so clones of the signer
    /// kept elsewhere sign on what the layer learned. Give a separately made signer
    /// a layer's with `.with_source_clock(layer.source_clock().clone())`.
    pub fn with_source_clock(mut self, source_clock: SourceClock) -> Self {
        self.source_clock = source_clock;
        self
    }

    /// The estimate of Source's clock this signer signs on.
    pub fn source_clock(&self) -> &SourceClock {
        &self.source_clock
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

    /// The id of the key that signs now, written as the token's `kid`.
    pub fn key_id(&self) -> Arc<str> {
        self.keys.with_current(|key, _| key.key_id.clone())
    }

    /// Which key is current: zero for a fixed key, and one more after each
    /// rotation of a [`RotatingKey`]. A plain load, for the hot path.
    #[inline]
    pub(crate) fn key_generation(&self) -> u64 {
        match &self.keys {
            SigningKeys::Fixed(_) => 0,
            SigningKeys::Rotating(keys) => keys.generation(),
        }
    }

    /// Whether it signs with a [`RotatingKey`]'s current key.
    pub(crate) fn is_rotating(&self) -> bool {
        matches!(self.keys, SigningKeys::Rotating(_))
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Validates `grant` and signs a token for it.
    ///
    /// Fails when a member id is malformed, the actor is the subject, the scopes are
    /// malformed or too many, the expiry is not after now or more than 24 hours
    /// ahead, or the clock reads a time before 1970.
    pub fn sign(&self, grant: &MemberGrant) -> Result<MemberToken> {
        let times = self
            .source_clock
            .mint_times(self.clock.now(), self.clock.monotonic());
        self.sign_at(grant, times)
    }

    /// Whether [`sign`](Self::sign) would sign `grant` now, refusing as it would:
    /// for configuration checked when it is built. It signs, but takes nothing
    /// from the estimate of Source's clock (no sample is claimed, no jump
    /// folded in).
    pub(crate) fn check(&self, grant: &MemberGrant) -> Result<()> {
        let offset = self.source_clock.offset();
        let now = offset.apply(self.clock.now());
        let times = MintTimes {
            now,
            iat: now,
            offset,
            sample: false,
        };
        self.sign_with(grant, times, |_, _, _, _, _| ())
    }

    /// [`sign`](Self::sign), at `times` read from Source's clock by the caller,
    /// who needs the same reading to schedule the token's refresh.
    pub(crate) fn sign_at(&self, grant: &MemberGrant, times: MintTimes) -> Result<MemberToken> {
        self.sign_with(grant, times, |authorization, iat, exp, _, _| {
            let claims = MemberClaims {
                sub: grant.subject().to_owned(),
                act: grant.actor().map(str::to_owned),
                iat,
                exp,
                scopes: grant.scopes_granted().to_vec(),
            };
            MemberToken::new(
                authorization,
                claims,
                self.source_clock.clone(),
                times.sample,
            )
        })
    }

    /// Validates `grant` and signs a token for it at `times` (a fixed expiry is on
    /// the app's clock, so moved by their offset), as `Bearer <jwt>`, without
    /// copying its claims into a [`MemberToken`]: all the layer keeps.
    pub(crate) fn sign_header(&self, grant: &MemberGrant, times: MintTimes) -> Result<Signed> {
        self.sign_with(
            grant,
            times,
            |authorization, iat, exp, key, key_generation| Signed {
                authorization,
                sample: times.sample,
                iat,
                exp,
                key_id: key.key_id.clone(),
                key_generation,
            },
        )
    }

    /// Validates `grant`, signs a token for it at `times`, and hands `finish` its
    /// `Authorization` value, `iat`, `exp`, the key that signed it and that key's
    /// generation.
    ///
    /// `exp` counts from Source's earliest time now; `iat` is written at
    /// `times.iat` (earlier while a jump of the local clock is unsettled, but
    /// never so early that the lifetime passes 24 hours), less `iat_backdate`.
    fn sign_with<T>(
        &self,
        grant: &MemberGrant,
        times: MintTimes,
        finish: impl FnOnce(HeaderValue, u64, u64, &SigningKey, u64) -> T,
    ) -> Result<T> {
        grant.validate()?;
        let exp = grant.latest_exp(times.now, times.offset)?;
        let now = since_epoch(times.now)?;
        let iat = since_epoch(times.iat)
            .unwrap_or_default()
            .max(Duration::from_secs(
                exp.saturating_sub(MAX_TOKEN_LIFETIME.as_secs()),
            ))
            .min(now)
            .saturating_sub(self.iat_backdate)
            .as_secs();
        if exp - iat > MAX_TOKEN_LIFETIME.as_secs() {
            return Err(Error::new(
                ErrorKind::InvalidExpiry,
                "the token's expiry must be at most 24 hours after `iat`, which is backdated",
            ));
        }
        let claims = ClaimsOut {
            sub: grant.subject(),
            act: grant.actor(),
            iat,
            exp,
            scopes: grant.scopes_granted(),
        };
        let payload = serde_json::to_vec(&claims)
            .map_err(|_| Error::new(ErrorKind::Signing, "could not sign the member token"))?;
        self.keys.with_current(|key, key_generation| {
            let authorization = hs256::sign(BEARER, &key.header_segment, &payload, &key.mac)
                .ok_or_else(|| Error::new(ErrorKind::Signing, "could not sign the member token"))?;
            Ok(finish(
                token_header(authorization),
                iat,
                exp,
                key,
                key_generation,
            ))
        })
    }
}

/// A signed token's `Authorization` value, its `iat` and `exp`, and the key that
/// signed it.
#[derive(Debug)]
pub(crate) struct Signed {
    /// `Bearer <jwt>`, marked sensitive.
    pub(crate) authorization: HeaderValue,
    /// Whether its first response is to be a sample ([`MintTimes::sample`]).
    pub(crate) sample: bool,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    /// The id of the key that signed it.
    pub(crate) key_id: Arc<str>,
    /// That key's generation (see [`TokenSigner::key_generation`]).
    pub(crate) key_generation: u64,
}

/// `Bearer <jwt>` as a header value that `Debug` and HPACK keep hidden. A bearer
/// token, not key material: not zeroized, which would cost a pass over it on every
/// mint (see BENCHMARKS.md).
fn token_header(authorization: Vec<u8>) -> HeaderValue {
    let mut authorization = HeaderValue::try_from(authorization)
        .expect("`Bearer ` and base64url are valid in a header");
    authorization.set_sensitive(true);
    authorization
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("key_id", &self.key_id())
            .field("rotating", &self.is_rotating())
            .field("clock", &self.clock)
            .field("source_clock", &self.source_clock)
            .field("iat_backdate", &self.iat_backdate)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::member::MAX_TOKEN_LEN;
    use crate::member::grant::{MAX_SCOPE_BYTES, MAX_SCOPE_LEN, MAX_SCOPES};
    use std::time::UNIX_EPOCH;

    #[test]
    fn debug_shows_the_key_id_never_the_secret() {
        let secret = "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000";
        let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", secret).expect("valid key");
        let debug = format!("{:?}", TokenSigner::new(key));
        assert!(debug.starts_with("TokenSigner"), "{debug}");
        assert!(debug.contains("key_0EipsUv2yRFxynHshisN"), "{debug}");
        assert!(!debug.contains(secret), "{debug}");
    }

    /// The largest grant the limits allow signs a token that every verifier
    /// accepts, so signing needs no size check of its own.
    #[test]
    fn the_largest_grant_fits_the_token_size_limit() {
        let key = ApiKey::new(
            "key_0EipsUv2yRFxynHshisN",
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000",
        )
        .expect("valid key");
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let signer = TokenSigner::new(key).with_clock(clock);
        let id = |c: char| format!("mem_{}", c.to_string().repeat(64));
        let scope_len = MAX_SCOPE_BYTES / MAX_SCOPES;
        assert!(scope_len <= MAX_SCOPE_LEN);
        // Quotes and backslashes take the most room once JSON-escaped.
        let scopes = vec!["\\".repeat(scope_len / 2); MAX_SCOPES];
        let grant = MemberGrant::member(id('a'))
            .caregiver(id('b'))
            .ttl(MAX_TOKEN_LIFETIME)
            .scopes(scopes);
        let token = signer.sign(&grant).expect("the largest grant signs");
        assert!(
            token.as_str().len() <= MAX_TOKEN_LEN / 2,
            "{}",
            token.as_str().len()
        );
        let too_many = grant.clone().scopes(vec!["s"; MAX_SCOPES + 1]);
        let too_long = grant.scopes(vec![
            "s".repeat(MAX_SCOPE_LEN);
            MAX_SCOPE_BYTES / MAX_SCOPE_LEN + 1
        ]);
        for grant in [too_many, too_long] {
            assert_eq!(
                signer.sign(&grant).unwrap_err().kind(),
                ErrorKind::InvalidScope
            );
        }
    }
}
