//! One member grant's cached token, refreshed ahead of expiry by a single minter.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use http::HeaderValue;

use crate::clock::Clock;
use crate::error::Result;
use crate::member::{MemberGrant, MemberToken};

use super::bearer;

/// The default refresh margin is a quarter of the token's lifetime, at most this.
const MAX_DEFAULT_MARGIN: Duration = Duration::from_secs(60);

/// When to refresh a cached token: `margin` before it expires, less up to `jitter`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RefreshPolicy {
    /// `None`: min(25 % of the lifetime, 60 s).
    pub(crate) margin: Option<Duration>,
    pub(crate) jitter: Duration,
}

impl RefreshPolicy {
    fn refresh_at(&self, minted_at: SystemTime, expires_at: SystemTime) -> SystemTime {
        let lifetime = expires_at.duration_since(minted_at).unwrap_or_default();
        let margin = self
            .margin
            .unwrap_or_else(|| (lifetime / 4).min(MAX_DEFAULT_MARGIN));
        let jitter = random_below(self.jitter);
        expires_at
            .checked_sub(margin.saturating_add(jitter))
            .map_or(minted_at, |at| at.max(minted_at))
    }
}

/// A uniformly spread duration in `[0, max)`, from std's per-process random hash keys.
fn random_below(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(RandomState::new().hash_one(0u8) % nanos)
}

/// The `Authorization` value of a minted token and when to stop using it.
#[derive(Debug)]
struct Minted {
    /// Unique per mint, so a thread can tell whether its own copy is current.
    id: u64,
    authorization: HeaderValue,
    refresh_at: SystemTime,
    expires_at: SystemTime,
}

/// Source of [`Minted::id`].
static NEXT_MINT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's own copy of the token it last sent. Clones of one shared header
    /// value all bump one reference count, which threads sending at once would fight
    /// over; a copy per thread keeps the hot path free of shared writes.
    static THREAD_COPY: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
}

impl Minted {
    fn authorization(&self) -> HeaderValue {
        THREAD_COPY.with_borrow_mut(|copy| match copy {
            Some((id, value)) if *id == self.id => value.clone(),
            _ => {
                let value = match HeaderValue::from_bytes(self.authorization.as_bytes()) {
                    Ok(mut value) => {
                        value.set_sensitive(true);
                        value
                    }
                    // Cannot happen: the bytes came from a valid header value.
                    Err(_) => self.authorization.clone(),
                };
                *copy = Some((self.id, value.clone()));
                value
            }
        })
    }
}

/// A grant and the token last minted for it.
#[derive(Debug)]
pub(crate) struct TokenSlot {
    grant: MemberGrant,
    /// Lock-free reads on the hot path, so threads sending requests never contend.
    current: ArcSwapOption<Minted>,
    /// Held while minting so that concurrent requests on a stale token mint once.
    minting: Mutex<()>,
}

impl TokenSlot {
    pub(crate) fn new(grant: MemberGrant) -> Self {
        Self {
            grant,
            current: ArcSwapOption::empty(),
            minting: Mutex::new(()),
        }
    }

    /// The `Authorization` value to send now, minting a token with `sign` if the
    /// cached one is due.
    pub(crate) fn authorization(
        &self,
        clock: &dyn Clock,
        policy: &RefreshPolicy,
        sign: impl FnOnce(&MemberGrant) -> Result<MemberToken>,
    ) -> Result<HeaderValue> {
        if let Some(fresh) = self.fresh(clock.now()) {
            return Ok(fresh);
        }
        // A std mutex, held only for the synchronous mint and never across an `.await`.
        let _minting = self.minting.lock().unwrap_or_else(PoisonError::into_inner);
        // Another request may have minted while this one waited for the lock.
        let now = clock.now();
        if let Some(fresh) = self.fresh(now) {
            return Ok(fresh);
        }
        match sign(&self.grant) {
            Ok(token) => {
                let expires_at = token.expires_at();
                let minted = Minted {
                    id: NEXT_MINT_ID.fetch_add(1, Ordering::Relaxed),
                    authorization: bearer(token.as_str())?,
                    refresh_at: policy.refresh_at(now, expires_at),
                    expires_at,
                };
                let authorization = minted.authorization.clone();
                self.current.store(Some(Arc::new(minted)));
                Ok(authorization)
            }
            // A failed refresh keeps a token that is still valid.
            Err(error) => match &*self.current.load() {
                Some(old) if now < old.expires_at => Ok(old.authorization()),
                _ => Err(error),
            },
        }
    }

    fn fresh(&self, now: SystemTime) -> Option<HeaderValue> {
        match &*self.current.load() {
            Some(minted) if now < minted.refresh_at => Some(minted.authorization()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorKind};
    use crate::{ApiKey, ManualClock, TokenSigner};

    const MINUTE: Duration = Duration::from_secs(60);

    fn signer(clock: &ManualClock) -> TokenSigner {
        let key = ApiKey::new("key_test1", "sk_test_0123456789abcdef0123456789abcdef")
            .expect("valid key");
        TokenSigner::new(key).with_clock(clock.clone())
    }

    fn refused(_: &MemberGrant) -> Result<MemberToken> {
        Err(Error::new(ErrorKind::Signing, "refused for the test"))
    }

    #[test]
    fn a_failed_refresh_keeps_a_token_that_is_still_valid() {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let signer = signer(&clock);
        let slot = TokenSlot::new(MemberGrant::member("mem_1").ttl(5 * MINUTE));
        let policy = RefreshPolicy::default();
        let first = slot
            .authorization(&clock, &policy, |g| signer.sign(g))
            .expect("minted");

        // Due for refresh (one minute before expiry), but the signer fails: keep the old one.
        clock.advance(4 * MINUTE + Duration::from_secs(30));
        let kept = slot
            .authorization(&clock, &policy, refused)
            .expect("old token kept");
        assert_eq!(kept, first);

        // Once the old token has expired, the failure is reported, never the old token.
        clock.advance(MINUTE);
        let err = slot.authorization(&clock, &policy, refused).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Signing);

        // And a working signer recovers with a new token.
        let next = slot
            .authorization(&clock, &policy, |g| signer.sign(g))
            .expect("minted again");
        assert_ne!(next, first);
    }

    #[test]
    fn default_margin_is_a_quarter_of_the_lifetime_up_to_a_minute() {
        let policy = RefreshPolicy::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            policy.refresh_at(t0, t0 + 2 * MINUTE),
            t0 + 90 * Duration::from_secs(1)
        );
        assert_eq!(policy.refresh_at(t0, t0 + 60 * MINUTE), t0 + 59 * MINUTE);
    }

    #[test]
    fn margin_and_jitter_never_refresh_before_minting() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let policy = RefreshPolicy {
            margin: Some(10 * MINUTE),
            jitter: MINUTE,
        };
        assert_eq!(policy.refresh_at(t0, t0 + 5 * MINUTE), t0);
        let jittered = RefreshPolicy {
            margin: Some(MINUTE),
            jitter: MINUTE,
        };
        let at = jittered.refresh_at(t0, t0 + 10 * MINUTE);
        assert!(at > t0 + 8 * MINUTE && at <= t0 + 9 * MINUTE);
    }
}
