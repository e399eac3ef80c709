//! Source's clock, as this host estimates it: how far it is from the local one.
//!
//! Member tokens carry `iat` and `exp`, which Source judges on its own clock. A
//! host whose clock is off by minutes signs tokens that Source sees as already
//! expired or as issued in the future, so the layer signs on Source's time: the
//! local clock plus a [`ClockOffset`] that it estimates from the `Date` header of
//! Source's responses: a [`SourceClock`].
//!
//! # How the estimate is made
//!
//! Each response to a request that carried a member token the layer minted (the
//! credential whose validity depends on the clock; a request sent with the API
//! key or another fixed credential is not read), from the origin the layer sends
//! credentials to (the final one, after any redirect), that carries a `Date` and
//! no `Age` (an `Age` means a cache answered, so its `Date` is old) is a sample:
//! `Date` (plus half a second, since it is truncated to whole seconds) against
//! the midpoint of the times the request was sent and its response received. The estimate is the latest
//! sample, so it follows a clock that is stepped. `Date` has one-second
//! resolution: the estimate is good to about a second, plus half the round trip.
//!
//! A response from any other origin is never used: whoever answers there could
//! move the times this crate signs, and so make every member token it signs
//! expired or not yet valid at Source.
//!
//! Reading `Date` is sampled, so that a cached token's path stays cheap: the first
//! responses until an estimate is known, then about one response in
//! [`SAMPLE_EVERY`] per thread, and the request after a 401 that was not sampled.
//!
//! An estimate up to [`MAX_APPLIED_OFFSET`] either way is applied; one beyond it is
//! not (a clock that far off is more likely broken than right) and is reported
//! once as a WARN event (feature `tracing`). A change of more than
//! [`REPORTED_CHANGE`] is reported as an INFO event with the offset.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use source_auth::skew::ClockOffset;
//!
//! let local = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let offset = ClockOffset::ahead(Duration::from_secs(600));
//! assert_eq!(offset.apply(local), local + Duration::from_secs(600));
//! assert_eq!(offset.to_string(), "+600.000 s");
//! assert_eq!(ClockOffset::behind(Duration::from_millis(1500)).as_secs_f64(), -1.5);
//! ```

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use crate::events;

/// The largest offset applied: beyond it the estimate is kept but not used.
pub const MAX_APPLIED_OFFSET: Duration = Duration::from_secs(60 * 60);

/// An estimate that moves by more than this is reported.
pub const REPORTED_CHANGE: Duration = Duration::from_secs(3);

/// Once an estimate is known, about one response in this many, per thread, is
/// read for `Date`.
pub const SAMPLE_EVERY: u32 = 128;

/// How far a remote clock (Source's) is from the local one: positive when it is
/// ahead. Kept in milliseconds; saturates rather than overflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ClockOffset {
    millis: i64,
}

impl ClockOffset {
    /// The clocks agree.
    pub const ZERO: Self = Self { millis: 0 };

    /// The remote clock is `by` ahead of the local one.
    pub fn ahead(by: Duration) -> Self {
        Self {
            millis: i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// The remote clock is `by` behind the local one.
    pub fn behind(by: Duration) -> Self {
        Self {
            millis: -Self::ahead(by).millis,
        }
    }

    /// The offset that takes `local` to `remote`.
    pub fn between(local: SystemTime, remote: SystemTime) -> Self {
        match remote.duration_since(local) {
            Ok(ahead) => Self::ahead(ahead),
            Err(behind) => Self::behind(behind.duration()),
        }
    }

    pub(crate) const fn from_millis(millis: i64) -> Self {
        Self { millis }
    }

    pub(crate) const fn as_millis(self) -> i64 {
        self.millis
    }

    /// How far apart the clocks are, either way.
    pub fn magnitude(self) -> Duration {
        Duration::from_millis(self.millis.unsigned_abs())
    }

    /// Whether the remote clock is ahead of the local one.
    pub fn is_ahead(self) -> bool {
        self.millis > 0
    }

    /// The offset in seconds, negative when the remote clock is behind.
    pub fn as_secs_f64(self) -> f64 {
        // Exact for any offset under 2^53 ms, about 285,000 years.
        self.millis as f64 / 1000.0
    }

    /// The remote clock's reading when the local one reads `local`. A result past
    /// what `SystemTime` holds stays at `local`.
    #[inline]
    pub fn apply(self, local: SystemTime) -> SystemTime {
        // Zero is the common case: no arithmetic on the hot path.
        if self.millis == 0 {
            return local;
        }
        let shifted = if self.millis > 0 {
            local.checked_add(self.magnitude())
        } else {
            local.checked_sub(self.magnitude())
        };
        shifted.unwrap_or(local)
    }

    /// The local clock's reading when the remote one reads `remote`: the inverse
    /// of [`apply`](Self::apply).
    pub fn unapply(self, remote: SystemTime) -> SystemTime {
        Self::from_millis(self.millis.saturating_neg()).apply(remote)
    }
}

impl fmt::Display for ClockOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.millis < 0 { '-' } else { '+' };
        let magnitude = self.millis.unsigned_abs();
        write!(f, "{sign}{}.{:03} s", magnitude / 1000, magnitude % 1000)
    }
}

/// Source's clock as this host estimates it: a shared, lock-free [`ClockOffset`].
///
/// A layer keeps one, learned from Source's responses, and signs every member
/// token on it. Its [`TokenSigner`](crate::TokenSigner) shares it, so a signer
/// cloned before it went into the layer (say, the one the extractors' token
/// endpoint uses) signs on the same estimate; a signer made separately takes it
/// with [`TokenSigner::with_source_clock`](crate::TokenSigner::with_source_clock).
/// Clones share one estimate.
///
/// ```
/// use source_auth::{ApiKey, SourceAuthLayer, TokenSigner};
/// use source_auth::skew::ClockOffset;
///
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// let layer = SourceAuthLayer::new(key.clone());
/// // The token endpoint's signer signs on what the layer learns of Source's clock.
/// let signer = TokenSigner::new(key).with_source_clock(layer.source_clock().clone());
/// assert_eq!(signer.source_clock().offset(), ClockOffset::ZERO);
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct SourceClock {
    estimate: Arc<Estimate>,
}

#[derive(Default)]
struct Estimate {
    /// The offset applied, in milliseconds: the latest sample within bounds.
    applied_millis: AtomicI64,
    /// Whether any sample has been read; until then every response is.
    sampled: AtomicBool,
    /// Whether an offset beyond the bound has been reported.
    warned: AtomicBool,
}

/// Set when a 401 was read without a sample (a response future that holds no
/// reference to its layer): the next request of any layer is sampled, so the
/// estimate catches up with a clock that moved.
static SAMPLE_SOON: AtomicBool = AtomicBool::new(false);

/// Asks for the next request's response to be read for Source's clock.
pub(crate) fn sample_soon() {
    SAMPLE_SOON.store(true, Ordering::Relaxed);
}

thread_local! {
    /// Responses seen on this thread since its last sample: a counter no other
    /// thread writes, so deciding costs no shared write.
    static SINCE_SAMPLE: Cell<u32> = const { Cell::new(0) };
}

impl SourceClock {
    /// An estimate of zero, until samples arrive.
    pub fn new() -> Self {
        Self::default()
    }

    /// The offset applied now: zero until a sample arrives, and zero while the
    /// latest sample is beyond [`MAX_APPLIED_OFFSET`].
    #[inline]
    pub fn offset(&self) -> ClockOffset {
        ClockOffset::from_millis(self.estimate.applied_millis.load(Ordering::Relaxed))
    }

    /// Source's time when the local clock reads `local`.
    #[inline]
    pub fn at(&self, local: SystemTime) -> SystemTime {
        self.offset().apply(local)
    }

    /// Whether the response to the request about to be sent should be read for
    /// `Date`: every one until a sample arrives, then one in [`SAMPLE_EVERY`] per
    /// thread, and the next after a 401 that was not read.
    #[inline]
    pub(crate) fn wants_sample(&self) -> bool {
        let due = SINCE_SAMPLE.with(|since| {
            let next = since.get().wrapping_add(1);
            since.set(next);
            next % SAMPLE_EVERY == 0
        });
        due || !self.estimate.sampled.load(Ordering::Relaxed)
            || (SAMPLE_SOON.load(Ordering::Relaxed) && SAMPLE_SOON.swap(false, Ordering::Relaxed))
    }

    /// Takes a sample: Source said `date` in a response to a request sent at
    /// `sent` and received at `received` (local wall-clock times).
    pub(crate) fn observe(&self, sent: SystemTime, received: SystemTime, date: SystemTime) {
        let round_trip = received.duration_since(sent).unwrap_or_default();
        let midpoint = sent + round_trip / 2;
        // `Date` is truncated to the second: its middle is the best guess.
        let sample = ClockOffset::between(midpoint, date + Duration::from_millis(500));
        self.estimate.sampled.store(true, Ordering::Relaxed);
        let applied = if sample.magnitude() <= MAX_APPLIED_OFFSET {
            sample
        } else {
            if !self.estimate.warned.swap(true, Ordering::Relaxed) {
                events::clock_offset_beyond_bound(sample, MAX_APPLIED_OFFSET);
            }
            ClockOffset::ZERO
        };
        let before = ClockOffset::from_millis(
            self.estimate
                .applied_millis
                .swap(applied.as_millis(), Ordering::Relaxed),
        );
        let change =
            ClockOffset::from_millis(applied.as_millis().saturating_sub(before.as_millis()));
        if change.magnitude() > REPORTED_CHANGE {
            events::clock_offset_changed(applied);
        }
    }
}

impl fmt::Debug for SourceClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceClock")
            .field("offset", &self.offset())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    fn at(seconds: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis)
    }

    /// `Date` against the midpoint of send and receive, with `Date` read as the
    /// middle of its second.
    #[test]
    fn a_sample_compares_date_with_the_midpoint_of_the_round_trip() {
        let clock = SourceClock::new();
        assert!(clock.wants_sample());
        // Sent at 1000.0, received at 1002.0: midpoint 1001.0. Source said 1601
        // (so 1601.5 at best): 600.5 s ahead.
        clock.observe(at(1000, 0), at(1002, 0), at(1601, 0));
        assert_eq!(
            clock.offset(),
            ClockOffset::ahead(Duration::from_millis(600_500))
        );
        assert_eq!(clock.at(at(2000, 0)), at(2600, 500));
        // The latest sample wins, either way.
        clock.observe(at(1000, 0), at(1000, 0), at(399, 0));
        assert_eq!(
            clock.offset(),
            ClockOffset::behind(Duration::from_millis(600_500))
        );
    }

    #[test]
    fn an_offset_beyond_the_bound_is_not_applied() {
        let clock = SourceClock::new();
        clock.observe(at(10_000, 0), at(10_000, 0), at(10_000 + 15 * 60, 0));
        assert_eq!(
            clock.offset().magnitude(),
            Duration::from_millis(15 * 60_000 + 500)
        );
        let beyond = 10_000 + MAX_APPLIED_OFFSET.as_secs() + 1;
        clock.observe(at(10_000, 0), at(10_000, 0), at(beyond, 0));
        assert_eq!(clock.offset(), ClockOffset::ZERO);
        // Within the bound again: applied again.
        clock.observe(at(10_000, 0), at(10_000, 0), at(10_000 - 15 * 60, 0));
        assert_eq!(
            clock.offset(),
            ClockOffset::behind(Duration::from_millis(15 * 60_000 - 500))
        );
    }

    /// The sampling tests share `SAMPLE_SOON`, so they take turns.
    static SAMPLING: Mutex<()> = Mutex::new(());

    /// Every response until the first sample, then one in `SAMPLE_EVERY` per thread.
    #[test]
    fn sampling_thins_out_once_an_estimate_is_known() {
        let _turn = SAMPLING.lock().unwrap_or_else(PoisonError::into_inner);
        let clock = SourceClock::new();
        assert!((0..10).all(|_| clock.wants_sample()));
        clock.observe(at(1, 0), at(1, 0), at(1, 0));
        let sampled = (0..SAMPLE_EVERY * 4)
            .filter(|_| clock.wants_sample())
            .count();
        assert_eq!(sampled, 4);
        // Clones share the estimate.
        assert_eq!(clock.clone().offset(), clock.offset());
        assert_eq!(
            format!("{clock:?}"),
            "SourceClock { offset: ClockOffset { millis: 500 } }"
        );
    }

    /// A sample asked for after an unread 401 is taken once, beside the one in
    /// `SAMPLE_EVERY` that is due anyway.
    #[test]
    fn a_sample_asked_for_is_taken_once() {
        let _turn = SAMPLING.lock().unwrap_or_else(PoisonError::into_inner);
        let clock = SourceClock::new();
        clock.observe(at(1, 0), at(1, 0), at(1, 0));
        sample_soon();
        let sampled = (0..SAMPLE_EVERY).filter(|_| clock.wants_sample()).count();
        assert_eq!(sampled, 2);
    }

    /// An offset's sign is `+` unless the remote clock is behind.
    #[test]
    fn zero_is_written_with_a_plus() {
        assert_eq!(ClockOffset::ZERO.to_string(), "+0.000 s");
        assert_eq!(ClockOffset::from_millis(-1).to_string(), "-0.001 s");
    }

    /// A move of more than `REPORTED_CHANGE` is reported at INFO, and an offset
    /// beyond the bound once at WARN, however often it is seen.
    #[cfg(feature = "tracing")]
    #[test]
    fn large_moves_and_an_offset_beyond_the_bound_are_reported() {
        #[derive(Clone, Default)]
        struct Log(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Log {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let reports = |needle: &str| {
            let log = log.0.lock().unwrap_or_else(PoisonError::into_inner);
            String::from_utf8_lossy(&log).matches(needle).count()
        };
        let moved = "now signs on Source's clock";
        let beyond = "beyond the 3600 s";
        tracing::subscriber::with_default(subscriber, || {
            let clock = SourceClock::new();
            let sample =
                |date_seconds| clock.observe(at(10_000, 0), at(10_000, 0), at(date_seconds, 0));
            // From zero to 600.5 s ahead: reported.
            sample(10_600);
            assert_eq!(reports(moved), 1);
            // By exactly `REPORTED_CHANGE`, then by less: not reported.
            sample(10_603);
            sample(10_604);
            assert_eq!(reports(moved), 1);
            // By more: reported.
            sample(10_608);
            assert_eq!(reports(moved), 2);
            // Beyond the bound: warned once, and the offset applied drops to zero.
            sample(10_000 + MAX_APPLIED_OFFSET.as_secs() + 1);
            assert_eq!(reports(beyond), 1);
            assert_eq!(reports(moved), 3);
            sample(10_000 + MAX_APPLIED_OFFSET.as_secs() + 2);
            assert_eq!(reports(beyond), 1);
        });
    }

    use super::*;
    use std::sync::{Mutex, PoisonError};
    use std::time::UNIX_EPOCH;

    #[test]
    fn between_and_apply_agree_both_ways() {
        let local = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for remote in [
            local + Duration::from_millis(600_250),
            local - Duration::from_millis(600_250),
            local,
        ] {
            let offset = ClockOffset::between(local, remote);
            assert_eq!(offset.apply(local), remote);
            assert_eq!(offset.unapply(remote), local);
        }
        let behind = ClockOffset::between(local, local - Duration::from_secs(3));
        assert!(!behind.is_ahead());
        assert_eq!(behind.magnitude(), Duration::from_secs(3));
        assert_eq!(behind.to_string(), "-3.000 s");
        assert!(ClockOffset::ahead(Duration::from_millis(1)).is_ahead());
        assert!(!ClockOffset::ZERO.is_ahead());
    }

    #[test]
    fn extreme_offsets_saturate_rather_than_overflow() {
        let huge = ClockOffset::ahead(Duration::MAX);
        assert_eq!(huge.as_millis(), i64::MAX);
        assert_eq!(ClockOffset::behind(Duration::MAX).as_millis(), -i64::MAX);
    }
}
