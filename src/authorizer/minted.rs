//! A minted token's `Authorization` value, when to refresh it and when to stop
//! using it: what the layer's own slot and the per-request cache both keep.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::HeaderValue;

use crate::clock::{Clock, at_unix_seconds};
use crate::events;
#[cfg(doc)]
use crate::member::TokenSigner;
use crate::member::{MemberGrant, Signed};
use crate::skew::{ClockOffset, SourceClock};

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
    /// How long after minting to refresh a token that lives `lifetime`.
    fn refresh_after(&self, lifetime: Duration) -> Duration {
        let margin = self
            .margin
            .unwrap_or_else(|| (lifetime / 4).min(MAX_DEFAULT_MARGIN));
        lifetime.saturating_sub(margin.saturating_add(random_below(self.jitter)))
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

/// What one freshness decision reads. A token is due for refresh when any clock
/// says so: Source's wall clock as this host estimates it (the local wall clock,
/// which counts a system suspend and follows NTP steps, plus the
/// [`SourceClock`] offset) or the monotonic clock (which a wall clock stepped back
/// cannot hold still); or when the key that signed it is no longer the current
/// one, or Source refused it. Every decision about a cached token goes through
/// [`Minted::due`] with these, so each input is added in one place.
#[derive(Debug, Clone, Copy)]
pub(super) struct Now {
    /// Source's time, estimated: the local wall clock plus the offset.
    pub(super) wall: SystemTime,
    pub(super) monotonic: Instant,
    /// The offset in `wall`, which also moves a grant's fixed expiry.
    pub(super) offset: ClockOffset,
    /// The signing key's generation now ([`TokenSigner::key_generation`]).
    pub(super) key_generation: u64,
}

/// Where a [`Now`] is read from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clocks<'a> {
    pub(super) local: &'a dyn Clock,
    pub(super) source: &'a SourceClock,
    pub(super) key_generation: u64,
}

impl Clocks<'_> {
    /// Every clock, read precisely: for minting and for per-request grants.
    pub(super) fn read(&self) -> Now {
        self.at(self.local.now())
    }

    /// The wall clock read coarsely ([`Clock::now_coarse`]), the monotonic clock
    /// precisely: enough for the hot path of a token refreshed well ahead of its
    /// whole-second `exp`, at a fraction of the cost of a second precise read.
    #[inline]
    pub(super) fn read_coarse(&self) -> Now {
        self.at(self.local.now_coarse())
    }

    #[inline]
    fn at(&self, local_wall: SystemTime) -> Now {
        let offset = self.source.offset();
        Now {
            wall: offset.apply(local_wall),
            monotonic: self.local.monotonic(),
            offset,
            key_generation: self.key_generation,
        }
    }
}

/// Minted tokens Source answered 401 to, by [`Minted::id`]: slot `id % len` holds
/// `id` (ids start at one; zero is empty). A response future marks the id it carried, with no
/// reference to the cache, so a request pays no shared reference count for it;
/// the cache sees the mark on its next use of that token. Ids are never reused, so
/// a stale mark matches nothing. Two tokens refused at once whose ids share a slot
/// lose one mark; that token is refused again on its next use and marked again.
static REFUSED: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// Marks the token minted as `id` as refused by Source.
pub(crate) fn mark_refused(id: NonZeroU64) {
    REFUSED[refused_slot(id.get())].store(id.get(), Ordering::Relaxed);
}

fn refused_slot(id: u64) -> usize {
    // The remainder is below 64, so it fits.
    (id % REFUSED.len() as u64) as usize
}

/// The `Authorization` value of a minted token and when to stop using it.
///
/// Each deadline is kept twice, on the wall clock and on the monotonic clock, and a
/// token is used only while both agree: a wall clock stepped back cannot keep a
/// token past the lifetime Source counts, and one stepped forward retires it early.
#[derive(Debug)]
pub(super) struct Minted {
    /// Unique per mint, so a thread can tell whether its own copy is current, and
    /// a response future which token Source refused.
    pub(super) id: NonZeroU64,
    /// The generation of the key that signed it.
    key_generation: u64,
    /// The id of the key that signed it, for events.
    pub(super) key_id: Arc<str>,
    authorization: HeaderValue,
    /// The token's `exp`, in whole seconds since the Unix epoch.
    exp: u64,
    refresh_at: SystemTime,
    refresh_deadline: Instant,
    expiry_deadline: Instant,
}

/// Source of [`Minted::id`], from one so that zero can mean none.
static NEXT_MINT_ID: AtomicU64 = AtomicU64::new(1);

impl Minted {
    /// `token`, signed at `now`.
    pub(super) fn new(token: Signed, now: Now, policy: &RefreshPolicy) -> Self {
        let Now {
            wall, monotonic, ..
        } = now;
        let lifetime = at_unix_seconds(token.exp)
            .duration_since(wall)
            .unwrap_or_default();
        let refresh_after = policy.refresh_after(lifetime);
        // A deadline past what `Instant` can hold is today: refresh at once.
        let deadline = |after| monotonic.checked_add(after).unwrap_or(monotonic);
        Self {
            // 2^64 mints would take centuries at a billion a second.
            id: NonZeroU64::new(NEXT_MINT_ID.fetch_add(1, Ordering::Relaxed))
                .unwrap_or(NonZeroU64::MIN),
            key_generation: token.key_generation,
            key_id: token.key_id,
            authorization: token.authorization,
            exp: token.exp,
            refresh_at: wall + refresh_after,
            refresh_deadline: deadline(refresh_after),
            expiry_deadline: deadline(lifetime),
        }
    }

    /// `Bearer <jwt>`, shared with every request that sends it.
    pub(super) fn authorization(&self) -> &HeaderValue {
        &self.authorization
    }

    /// Whether this token is due for refresh: the one freshness rule. Any clock
    /// that has reached its refresh deadline makes it due, and so do a newer key
    /// and Source's 401.
    #[inline]
    pub(super) fn due(&self, now: Now) -> bool {
        now.wall >= self.refresh_at
            || now.monotonic >= self.refresh_deadline
            || now.key_generation != self.key_generation
            || self.refused()
    }

    /// Whether Source answered 401 to this token ([`mark_refused`]).
    #[inline]
    pub(super) fn refused(&self) -> bool {
        REFUSED[refused_slot(self.id.get())].load(Ordering::Relaxed) == self.id.get()
    }

    /// Reports that this token, due, is being replaced because Source refused it.
    pub(super) fn report_if_refused(&self, grant: &MemberGrant) {
        if self.refused() {
            events::retired(grant.actor().is_some(), &self.key_id);
        }
    }

    /// Whether to send this token for a grant whose latest allowed `exp` is
    /// `latest_exp`: it satisfies the grant and is not due.
    pub(super) fn fresh_for(&self, latest_exp: u64, now: Now) -> bool {
        self.exp <= latest_exp && !self.due(now)
    }

    /// Whether a token due for refresh may still be sent for such a grant when
    /// minting its successor failed: it satisfies the grant, has not expired by
    /// either clock, was signed by the current key, and Source has not refused it.
    pub(super) fn usable_for(&self, latest_exp: u64, now: Now) -> bool {
        self.exp <= latest_exp
            && now.key_generation == self.key_generation
            && !self.refused()
            && now.wall < at_unix_seconds(self.exp)
            && now.monotonic < self.expiry_deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn default_margin_is_a_quarter_of_the_lifetime_up_to_a_minute() {
        let policy = RefreshPolicy::default();
        assert_eq!(policy.refresh_after(2 * MINUTE), 90 * SECOND);
        assert_eq!(policy.refresh_after(60 * MINUTE), 59 * MINUTE);
    }

    #[test]
    fn margin_and_jitter_never_refresh_before_minting() {
        let policy = RefreshPolicy {
            margin: Some(10 * MINUTE),
            jitter: MINUTE,
        };
        assert_eq!(policy.refresh_after(5 * MINUTE), Duration::ZERO);
        let jittered = RefreshPolicy {
            margin: Some(MINUTE),
            jitter: MINUTE,
        };
        let after = jittered.refresh_after(10 * MINUTE);
        assert!(after > 8 * MINUTE && after <= 9 * MINUTE);
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

    /// Minted at `MINTED_AT` (Unix seconds) by key generation 0, expiring ten
    /// minutes later: due after nine, with the default margin of a minute.
    const MINTED_AT: u64 = 1_700_000_000;
    const EXP: u64 = MINTED_AT + 600;

    fn minted(id: u64, monotonic: Instant) -> Minted {
        let token = Signed {
            authorization: HeaderValue::from_static("Bearer token"),
            exp: EXP,
            key_id: "key_test".into(),
            key_generation: 0,
        };
        let mut minted = Minted::new(token, now(0, monotonic), &RefreshPolicy::default());
        // An id far past any a test mints, so no other test marks it.
        minted.id = NonZeroU64::new(id).unwrap();
        minted
    }

    /// `after` seconds past minting, on both clocks, with key generation 0.
    fn now(after: u64, minted_monotonic: Instant) -> Now {
        Now {
            wall: at_unix_seconds(MINTED_AT + after),
            monotonic: minted_monotonic + Duration::from_secs(after),
            offset: ClockOffset::ZERO,
            key_generation: 0,
        }
    }

    /// Each of the four reasons alone makes a token due.
    #[test]
    fn any_one_clock_a_new_key_or_a_refusal_makes_a_token_due() {
        let start = Instant::now();
        let token = minted(u64::MAX - 10, start);
        let fresh = now(60, start);
        assert!(!token.due(fresh));
        assert!(token.due(now(540, start)));
        let wall_alone = Now {
            wall: at_unix_seconds(MINTED_AT + 540),
            ..fresh
        };
        assert!(token.due(wall_alone));
        let monotonic_alone = Now {
            monotonic: start + Duration::from_secs(540),
            ..fresh
        };
        assert!(token.due(monotonic_alone));
        let new_key = Now {
            key_generation: 1,
            ..fresh
        };
        assert!(token.due(new_key));
        mark_refused(token.id);
        assert!(token.refused());
        assert!(token.due(fresh));
    }

    /// Two tokens refused one after the other, in different slots, both stay refused.
    #[test]
    fn refusals_of_different_tokens_are_both_kept() {
        let start = Instant::now();
        let first = minted(u64::MAX - 20, start);
        let second = minted(u64::MAX - 21, start);
        assert!(!first.refused() && !second.refused());
        mark_refused(first.id);
        mark_refused(second.id);
        assert!(first.refused());
        assert!(second.refused());
    }

    /// A due token is a fallback only while it satisfies the grant, was signed by
    /// the current key, was not refused and has not expired by either clock.
    #[test]
    fn a_due_token_is_usable_only_while_every_condition_holds() {
        let start = Instant::now();
        let token = minted(u64::MAX - 30, start);
        let due = now(590, start);
        assert!(token.due(due));
        assert!(token.usable_for(EXP, due));
        assert!(
            !token.usable_for(EXP - 1, due),
            "a grant asking for an earlier exp"
        );
        let new_key = Now {
            key_generation: 1,
            ..due
        };
        assert!(!token.usable_for(EXP, new_key));
        assert!(!token.usable_for(EXP, now(600, start)), "expired");
        let monotonic_expired = Now {
            monotonic: start + Duration::from_secs(600),
            ..due
        };
        assert!(!token.usable_for(EXP, monotonic_expired));
        mark_refused(token.id);
        assert!(!token.usable_for(EXP, due));
    }
}
