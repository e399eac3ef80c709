//! One member grant's cached token, refreshed ahead of expiry by a single minter.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use http::HeaderValue;

use crate::clock::Clock;
use crate::error::Result;
use crate::member::{MemberGrant, MemberToken};

use super::bearer_copy;

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
///
/// Each deadline is kept twice, on the wall clock and on the monotonic clock, and a
/// token is used only while both agree: a wall clock stepped back cannot keep a
/// token past the lifetime Source counts, and one stepped forward retires it early.
#[derive(Debug)]
struct Minted {
    /// Unique per mint, so a thread can tell whether its own copy is current.
    id: u64,
    authorization: HeaderValue,
    /// The token's `exp`, in whole seconds since the Unix epoch.
    exp: u64,
    refresh_at: SystemTime,
    expires_at: SystemTime,
    refresh_deadline: Instant,
    expiry_deadline: Instant,
}

/// Source of [`Minted::id`].
static NEXT_MINT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's own copy of the layer's own token, which every request of a
    /// member layer sends. Clones of one shared header value all bump one reference
    /// count, which threads sending at once would fight over; a copy per thread keeps
    /// that hot path free of shared writes. Per-request grants' slots do not use it:
    /// requests alternating between members would re-copy the header every time.
    static THREAD_COPY: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
}

impl Minted {
    fn new(
        token: &MemberToken,
        now: SystemTime,
        monotonic: Instant,
        policy: &RefreshPolicy,
    ) -> Self {
        let expires_at = token.expires_at();
        let refresh_at = policy.refresh_at(now, expires_at);
        let after_now = |at: SystemTime| at.duration_since(now).unwrap_or_default();
        let deadline = |at| monotonic.checked_add(after_now(at)).unwrap_or(monotonic);
        Self {
            id: NEXT_MINT_ID.fetch_add(1, Ordering::Relaxed),
            authorization: token.authorization().clone(),
            exp: token.claims().exp,
            refresh_at,
            expires_at,
            refresh_deadline: deadline(refresh_at),
            expiry_deadline: deadline(expires_at),
        }
    }

    fn authorization(&self, copy_per_thread: bool) -> HeaderValue {
        if !copy_per_thread {
            return self.authorization.clone();
        }
        THREAD_COPY.with_borrow_mut(|copy| match copy {
            Some((id, value)) if *id == self.id => value.clone(),
            _ => {
                let value = bearer_copy(&self.authorization);
                *copy = Some((self.id, value.clone()));
                value
            }
        })
    }
}

/// The token last minted for one grant (or, in the per-request cache, for one
/// subject, actor and scopes).
#[derive(Debug, Default)]
pub(crate) struct TokenSlot {
    /// Lock-free reads on the hot path, so threads sending requests never contend.
    current: ArcSwapOption<Minted>,
    /// Held while minting so that concurrent requests on a stale token mint once.
    minting: Mutex<()>,
    /// A layer's own grant: every request reads it, and only its own grant.
    ///
    /// Such a slot keeps a header copy per thread (see [`THREAD_COPY`]), and on the
    /// hot path asks only the monotonic clock whether its token is fresh: the
    /// token was minted for this very grant, so it satisfies it, and elapsed time
    /// is what brings it to Source's expiry. One clock read instead of two keeps
    /// the cached path within its budget (BENCHMARKS.md). Minting and the
    /// failed-refresh fallback still check the wall clock too.
    layers_own: bool,
}

impl TokenSlot {
    /// The slot of a layer's own grant, read by every request it sends.
    pub(crate) fn for_layer() -> Self {
        Self {
            layers_own: true,
            ..Self::default()
        }
    }

    /// A per-request slot holding a token `sign`ed now for `grant`, and its
    /// `Authorization` value: a miss reads the clock once for both.
    pub(crate) fn first(
        clock: &dyn Clock,
        policy: &RefreshPolicy,
        grant: &MemberGrant,
        sign: impl FnOnce(&MemberGrant, SystemTime) -> Result<MemberToken>,
    ) -> Result<(Self, HeaderValue)> {
        let now = clock.now();
        let minted = Minted::new(&sign(grant, now)?, now, clock.monotonic(), policy);
        let authorization = minted.authorization.clone();
        let slot = Self {
            current: ArcSwapOption::from_pointee(minted),
            ..Self::default()
        };
        Ok((slot, authorization))
    }

    /// The `Authorization` value to send now for `grant`, minting a token with
    /// `sign` (at the time it is given) unless the cached one is fresh and satisfies the grant; `sign` is told
    /// whether it replaces an earlier token.
    ///
    /// A cached token satisfies a grant whose latest allowed `exp` (now plus its
    /// TTL, or its fixed expiry) is not before the token's own: a token never
    /// outlives the grant that asked for it.
    pub(crate) fn authorization(
        &self,
        clock: &dyn Clock,
        policy: &RefreshPolicy,
        grant: &MemberGrant,
        sign: impl FnOnce(&MemberGrant, SystemTime, bool) -> Result<MemberToken>,
    ) -> Result<HeaderValue> {
        if self.layers_own {
            if let Some(fresh) = self.fresh_by_elapsed_time(clock.monotonic()) {
                return Ok(fresh);
            }
        } else {
            let now = clock.now();
            // Also refuses a grant that could not be signed now, hit or miss alike.
            let latest_exp = grant.latest_exp(now)?;
            if let Some(fresh) = self.fresh(clock, now, latest_exp) {
                return Ok(fresh);
            }
        }
        // A std mutex, held only for the synchronous mint and never across an `.await`.
        let _minting = self.minting.lock().unwrap_or_else(PoisonError::into_inner);
        // Another request may have minted while this one waited for the lock.
        let now = clock.now();
        let latest_exp = grant.latest_exp(now)?;
        if let Some(fresh) = self.fresh(clock, now, latest_exp) {
            return Ok(fresh);
        }
        let refresh = self.current.load().is_some();
        match sign(grant, now, refresh) {
            Ok(token) => {
                let minted = Minted::new(&token, now, clock.monotonic(), policy);
                let authorization = minted.authorization.clone();
                self.current.store(Some(Arc::new(minted)));
                Ok(authorization)
            }
            // A failed refresh keeps a token that is still valid and satisfies the grant.
            Err(error) => match &*self.current.load() {
                Some(old)
                    if old.exp <= latest_exp
                        && now < old.expires_at
                        && clock.monotonic() < old.expiry_deadline =>
                {
                    Ok(old.authorization(self.layers_own))
                }
                _ => Err(error),
            },
        }
    }

    /// The layer's own token, while its monotonic refresh deadline is ahead.
    fn fresh_by_elapsed_time(&self, monotonic: Instant) -> Option<HeaderValue> {
        match &*self.current.load() {
            Some(minted) if monotonic < minted.refresh_deadline => {
                Some(minted.authorization(self.layers_own))
            }
            _ => None,
        }
    }

    /// The token, while it satisfies the grant and both refresh deadlines are ahead.
    fn fresh(&self, clock: &dyn Clock, now: SystemTime, latest_exp: u64) -> Option<HeaderValue> {
        match &*self.current.load() {
            Some(minted)
                if minted.exp <= latest_exp
                    && now < minted.refresh_at
                    && clock.monotonic() < minted.refresh_deadline =>
            {
                Some(minted.authorization(self.layers_own))
            }
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
    const SECOND: Duration = Duration::from_secs(1);

    fn clock() -> ManualClock {
        ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    }

    fn signer(clock: &ManualClock) -> TokenSigner {
        let key = ApiKey::new("key_test1", "sk_test_0123456789abcdef0123456789abcdef")
            .expect("valid key");
        TokenSigner::new(key).with_clock(clock.clone())
    }

    fn refused(_: &MemberGrant, _: SystemTime, _: bool) -> Result<MemberToken> {
        Err(Error::new(ErrorKind::Signing, "refused for the test"))
    }

    /// A slot, and a way to send one request through it for a grant.
    struct Fixture {
        clock: ManualClock,
        signer: TokenSigner,
        slot: TokenSlot,
        policy: RefreshPolicy,
    }

    impl Fixture {
        /// The slot of a layer's own grant.
        fn new() -> Self {
            let clock = clock();
            Self {
                signer: signer(&clock),
                clock,
                slot: TokenSlot::for_layer(),
                policy: RefreshPolicy::default(),
            }
        }

        /// A slot of the per-request grant cache.
        fn per_grant() -> Self {
            Self {
                slot: TokenSlot::default(),
                ..Self::new()
            }
        }

        fn send(&self, grant: &MemberGrant) -> Result<HeaderValue> {
            self.slot
                .authorization(&self.clock, &self.policy, grant, |g, now, _| {
                    self.signer.sign_at(g, now)
                })
        }

        fn send_refused(&self, grant: &MemberGrant) -> Result<HeaderValue> {
            self.slot
                .authorization(&self.clock, &self.policy, grant, refused)
        }

        /// The `exp` of the token in `header`.
        fn exp(&self, header: &HeaderValue) -> u64 {
            let jwt = header.to_str().unwrap().strip_prefix("Bearer ").unwrap();
            let key = ApiKey::new("key_test1", "sk_test_0123456789abcdef0123456789abcdef")
                .expect("valid key");
            crate::TokenVerifier::new([key])
                .with_clock(self.clock.clone())
                .verify(jwt)
                .expect("a valid token")
                .exp
        }

        fn now_secs(&self) -> u64 {
            crate::clock::unix_seconds(self.clock.now()).unwrap()
        }
    }

    #[test]
    fn a_failed_refresh_keeps_a_token_that_is_still_valid() {
        let slot = Fixture::new();
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let first = slot.send(&grant).expect("minted");

        // Due for refresh (one minute before expiry), but the signer fails: keep the old one.
        slot.clock.advance(4 * MINUTE + 30 * SECOND);
        assert_eq!(slot.send_refused(&grant).expect("old token kept"), first);

        // Once the old token has expired, the failure is reported, never the old token.
        slot.clock.advance(MINUTE);
        let err = slot.send_refused(&grant).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Signing);

        // And a working signer recovers with a new token.
        assert_ne!(slot.send(&grant).expect("minted again"), first);
    }

    #[test]
    fn a_token_is_refreshed_exactly_at_its_refresh_time() {
        let slot = Fixture::new();
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let first = slot.send(&grant).expect("minted");
        // The default margin for 5 minutes is 60 s: fresh until 4 minutes, not at.
        slot.clock.advance(4 * MINUTE - Duration::from_millis(1));
        assert_eq!(slot.send(&grant).unwrap(), first);
        slot.clock.advance(Duration::from_millis(1));
        let second = slot.send(&grant).unwrap();
        assert_ne!(second, first);
        // The thread's own copy follows the new token, never the old one.
        assert_eq!(slot.send(&grant).unwrap(), second);
        assert_eq!(slot.send(&grant).unwrap(), second);
    }

    /// In the per-request cache each deadline holds on the wall clock alone too:
    /// here only the wall clock moves, so the monotonic deadlines cannot mask a
    /// wrong comparison.
    #[test]
    fn wall_clock_deadlines_are_exclusive() {
        let slot = Fixture::per_grant();
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let first = slot.send(&grant).expect("minted");
        let minted_at = slot.clock.now();
        // The refresh time (a minute before expiry): due, and refreshed.
        slot.clock.set(minted_at + 4 * MINUTE);
        let second = slot.send(&grant).expect("refreshed");
        assert_ne!(second, first);
        // At the second token's `exp` exactly, a failed refresh must not keep it.
        slot.clock.set(minted_at + 9 * MINUTE);
        assert_eq!(
            slot.send_refused(&grant).unwrap_err().kind(),
            ErrorKind::Signing
        );
    }

    /// And on the monotonic clock alone: here the wall clock is stepped back to a
    /// minute after minting whenever time passes.
    #[test]
    fn monotonic_deadlines_are_exclusive() {
        let slot = Fixture::new();
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let minted_at = slot.clock.now();
        let first = slot.send(&grant).expect("minted");
        // Exactly at the monotonic refresh deadline: refreshed.
        slot.clock.advance(4 * MINUTE);
        slot.clock.set(minted_at + MINUTE);
        let second = slot.send(&grant).expect("refreshed");
        assert_ne!(second, first);
        // Exactly at the second token's monotonic expiry: a failed refresh reports.
        slot.clock.advance(5 * MINUTE);
        slot.clock.set(minted_at + 2 * MINUTE);
        assert_eq!(
            slot.send_refused(&grant).unwrap_err().kind(),
            ErrorKind::Signing
        );
    }

    /// The layer's own token is fresh by elapsed time: a wall clock stepped
    /// forward alone does not retire it, time passing does.
    #[test]
    fn the_layers_own_token_is_fresh_by_elapsed_time() {
        let slot = Fixture::new();
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let first = slot.send(&grant).expect("minted");
        slot.clock.set(slot.clock.now() + 10 * MINUTE);
        assert_eq!(slot.send(&grant).unwrap(), first);
        slot.clock.advance(4 * MINUTE);
        assert_ne!(slot.send(&grant).unwrap(), first);
    }

    /// The layer's own slot hands each thread its own copy of the header, made
    /// once per token; a per-request slot shares the minted value.
    #[test]
    fn only_the_layers_slot_copies_the_header_per_thread() {
        let address = |header: HeaderValue| header.as_bytes().as_ptr();
        let grant = MemberGrant::member("mem_1");
        let layer = Fixture::new();
        let minted = address(layer.send(&grant).unwrap());
        let copy = address(layer.send(&grant).unwrap());
        assert_ne!(copy, minted);
        assert_eq!(address(layer.send(&grant).unwrap()), copy);

        let per_grant = Fixture::per_grant();
        let minted = address(per_grant.send(&grant).unwrap());
        assert_eq!(address(per_grant.send(&grant).unwrap()), minted);
        assert_eq!(address(per_grant.send(&grant).unwrap()), minted);
    }

    #[test]
    fn a_wall_clock_stepped_back_does_not_keep_a_token_past_its_lifetime() {
        let slot = Fixture::new();
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let first = slot.send(&grant).expect("minted");
        // 4.5 minutes pass, then the wall clock is stepped back an hour: by the wall
        // clock the token is young, but Source sees it expire in 30 s.
        slot.clock.advance(4 * MINUTE + 30 * SECOND);
        let stepped_back = slot.clock.now() - 60 * MINUTE;
        slot.clock.set(stepped_back);
        let second = slot.send(&grant).expect("refreshed");
        assert_ne!(second, first);

        // Once its real lifetime has passed, a failing signer reports its error
        // rather than hand out a token the wall clock, stepped back again, calls valid.
        slot.clock.advance(5 * MINUTE + SECOND);
        slot.clock.set(stepped_back);
        assert_eq!(
            slot.send_refused(&grant).unwrap_err().kind(),
            ErrorKind::Signing
        );
    }

    #[test]
    fn a_cached_token_never_outlives_the_grant_that_asks_for_it() {
        let slot = Fixture::per_grant();
        let long = MemberGrant::member("mem_1").ttl(24 * 60 * MINUTE);
        let short = MemberGrant::member("mem_1").ttl(MINUTE);
        let day = slot.send(&long).unwrap();
        let minute = slot.send(&short).unwrap();
        assert_ne!(minute, day);
        assert_eq!(slot.exp(&minute), slot.now_secs() + 60);
        // The shorter token satisfies the longer grant, so it is reused.
        assert_eq!(slot.send(&long).unwrap(), minute);

        // A fixed expiry counts the same way.
        let at = slot.clock.now() + 30 * SECOND;
        let fixed = slot
            .send(&MemberGrant::member("mem_1").expires_at(at))
            .unwrap();
        assert_eq!(slot.exp(&fixed), slot.now_secs() + 30);
    }

    #[test]
    fn a_grant_that_cannot_be_signed_is_refused_even_on_a_fresh_token() {
        let slot = Fixture::per_grant();
        let grant = MemberGrant::member("mem_1").expires_at(slot.clock.now() + 10 * MINUTE);
        slot.send(&grant).expect("minted");
        for bad in [
            grant.clone().ttl(25 * 60 * MINUTE),
            grant.clone().ttl(Duration::ZERO),
            grant.clone().expires_at(slot.clock.now() - SECOND),
        ] {
            assert_eq!(
                slot.send(&bad).unwrap_err().kind(),
                ErrorKind::InvalidExpiry
            );
        }
        // And they leave nothing behind: the valid grant still gets its token.
        assert!(slot.send(&grant).is_ok());
        // Once its fixed expiry has passed, that grant is refused, but the next
        // grant for the same member is not.
        slot.clock.advance(11 * MINUTE);
        assert_eq!(
            slot.send(&grant).unwrap_err().kind(),
            ErrorKind::InvalidExpiry
        );
        assert!(slot.send(&MemberGrant::member("mem_1")).is_ok());
    }

    #[test]
    fn default_margin_is_a_quarter_of_the_lifetime_up_to_a_minute() {
        let policy = RefreshPolicy::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(policy.refresh_at(t0, t0 + 2 * MINUTE), t0 + 90 * SECOND);
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

    #[test]
    fn jitter_spreads_over_its_whole_range() {
        let samples: Vec<Duration> = (0..400).map(|_| random_below(MINUTE)).collect();
        assert!(samples.iter().all(|jitter| *jitter < MINUTE));
        // Uniform over [0, 60 s): 400 draws all land in one half with odds 2^-399.
        assert!(samples.iter().any(|jitter| *jitter < 30 * SECOND));
        assert!(samples.iter().any(|jitter| *jitter >= 30 * SECOND));
        assert_eq!(random_below(Duration::ZERO), Duration::ZERO);
    }
}
