//! A minted token's `Authorization` value, when to refresh it and when to stop
//! using it: what the layer's own slot and the per-request cache both keep.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::HeaderValue;

use crate::clock::{Clock, at_unix_seconds};
use crate::member::Signed;

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

/// The clocks one freshness decision reads. A token is due for refresh when any
/// of them says so: the wall clock (which counts a system suspend and follows NTP
/// steps, as Source's clock does) or the monotonic clock (which a wall clock
/// stepped back cannot hold still). Every decision about a cached token goes
/// through [`Minted::due`] with these, so another input (such as Source's own
/// clock, when known) is added in one place.
#[derive(Debug, Clone, Copy)]
pub(super) struct Now {
    pub(super) wall: SystemTime,
    pub(super) monotonic: Instant,
}

impl Now {
    /// Both clocks, read precisely: for minting and for per-request grants.
    pub(super) fn read(clock: &dyn Clock) -> Self {
        Self {
            wall: clock.now(),
            monotonic: clock.monotonic(),
        }
    }

    /// The wall clock read coarsely ([`Clock::now_coarse`]), the monotonic clock
    /// precisely: enough for the hot path of a token refreshed well ahead of its
    /// whole-second `exp`, at a fraction of the cost of a second precise read.
    pub(super) fn read_coarse(clock: &dyn Clock) -> Self {
        Self {
            wall: clock.now_coarse(),
            monotonic: clock.monotonic(),
        }
    }
}

/// The `Authorization` value of a minted token and when to stop using it.
///
/// Each deadline is kept twice, on the wall clock and on the monotonic clock, and a
/// token is used only while both agree: a wall clock stepped back cannot keep a
/// token past the lifetime Source counts, and one stepped forward retires it early.
#[derive(Debug)]
pub(super) struct Minted {
    /// Unique per mint, so a thread can tell whether its own copy is current.
    pub(super) id: u64,
    authorization: HeaderValue,
    /// The token's `exp`, in whole seconds since the Unix epoch.
    exp: u64,
    refresh_at: SystemTime,
    refresh_deadline: Instant,
    expiry_deadline: Instant,
}

/// Source of [`Minted::id`].
static NEXT_MINT_ID: AtomicU64 = AtomicU64::new(0);

impl Minted {
    /// `token`, signed at `now`.
    pub(super) fn new(token: Signed, now: Now, policy: &RefreshPolicy) -> Self {
        let Now { wall, monotonic } = now;
        let lifetime = at_unix_seconds(token.exp)
            .duration_since(wall)
            .unwrap_or_default();
        let refresh_after = policy.refresh_after(lifetime);
        // A deadline past what `Instant` can hold is today: refresh at once.
        let deadline = |after| monotonic.checked_add(after).unwrap_or(monotonic);
        Self {
            id: NEXT_MINT_ID.fetch_add(1, Ordering::Relaxed),
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
    /// that has reached its refresh deadline makes it due.
    #[inline]
    pub(super) fn due(&self, now: Now) -> bool {
        now.wall >= self.refresh_at || now.monotonic >= self.refresh_deadline
    }

    /// Whether to send this token for a grant whose latest allowed `exp` is
    /// `latest_exp`: it satisfies the grant and is not due.
    pub(super) fn fresh_for(&self, latest_exp: u64, now: Now) -> bool {
        self.exp <= latest_exp && !self.due(now)
    }

    /// Whether a token due for refresh may still be sent for such a grant when
    /// minting its successor failed: it satisfies the grant and has not expired by
    /// either clock.
    pub(super) fn usable_for(&self, latest_exp: u64, now: Now) -> bool {
        self.exp <= latest_exp
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
}
