//! Where the crate reads the time from.
//!
//! Signing, verification and the token cache read the time through [`Clock`], so
//! tests can move time by hand with `ManualClock` (feature `test-util`) instead of
//! sleeping. The token cache also reads [`Clock::monotonic`], so that a wall clock
//! stepped back cannot keep a token in use past its real expiry.
//!
//! ```
//! use source_auth::{Clock, SystemClock};
//!
//! let now = SystemClock.now();
//! assert!(now > std::time::UNIX_EPOCH);
//! ```

use std::fmt::Debug;
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::time::{Duration, UNIX_EPOCH};
use std::time::{Instant, SystemTime};

/// A source of the current wall-clock time, and of a monotonic one.
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// A reading that never goes back, for measuring how long a cached token has
    /// been held: [`Instant::now`] unless overridden. A clock that moves
    /// [`now`](Clock::now) by hand should move this alike when time passes, but not
    /// when it simulates the wall clock being stepped.
    fn monotonic(&self) -> Instant {
        Instant::now()
    }

    /// The current time, possibly a few milliseconds behind [`now`](Clock::now):
    /// what the hot path of a cached member token reads to catch a wall clock
    /// that jumped (a system suspend, an NTP step) past the token's refresh
    /// deadline, which is whole seconds away. [`now`](Clock::now) unless
    /// overridden; [`SystemClock`] reads the kernel's coarse clock on Linux, which
    /// costs a fraction of a precise read.
    fn now_coarse(&self) -> SystemTime {
        self.now()
    }

    /// [`monotonic`](Clock::monotonic), possibly a few milliseconds behind it
    /// and never ahead: what the hot path of a cached member token reads to tell
    /// that its refresh deadline, whole seconds away, has come.
    /// [`monotonic`](Clock::monotonic) unless overridden; [`SystemClock`] reads
    /// the kernel's coarse clock on Linux, which costs a fraction of a precise
    /// read.
    fn monotonic_coarse(&self) -> Instant {
        self.monotonic()
    }
}

/// The operating system's clock; the default everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    /// `CLOCK_REALTIME_COARSE` on Linux and Android: the time at the last
    /// scheduler tick, a few milliseconds behind at most, read without the
    /// hardware counter. Elsewhere the precise clock.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn now_coarse(&self) -> SystemTime {
        use rustix::time::{ClockId, clock_gettime};
        let now = clock_gettime(ClockId::RealtimeCoarse);
        // Before the epoch (a clock set far back) reads as the epoch, which makes
        // every token due and sends the request down the precise path.
        let (Ok(seconds), Ok(nanos)) = (u64::try_from(now.tv_sec), u32::try_from(now.tv_nsec))
        else {
            return UNIX_EPOCH;
        };
        UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    /// `CLOCK_MONOTONIC_COARSE` on Linux and Android, on [`Instant`]'s timeline:
    /// the time at the last scheduler tick, read without the hardware counter.
    /// Elsewhere the precise clock.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn monotonic_coarse(&self) -> Instant {
        use rustix::time::{ClockId, Timespec, clock_gettime};
        use std::sync::LazyLock;
        fn elapsed(time: Timespec) -> Duration {
            Duration::new(
                u64::try_from(time.tv_sec).unwrap_or_default(),
                u32::try_from(time.tv_nsec).unwrap_or_default(),
            )
        }
        // An `Instant`, and the monotonic clock read just after it: an instant
        // placed from it is never later than the reading it stands for.
        static ANCHOR: LazyLock<(Instant, Duration)> = LazyLock::new(|| {
            let instant = Instant::now();
            (instant, elapsed(clock_gettime(ClockId::Monotonic)))
        });
        let (instant, anchor) = *ANCHOR;
        let coarse = elapsed(clock_gettime(ClockId::MonotonicCoarse));
        match coarse.checked_sub(anchor) {
            Some(since) => instant + since,
            None => instant.checked_sub(anchor - coarse).unwrap_or(instant),
        }
    }
}

#[cfg(any(test, feature = "test-util"))]
pub use manual::ManualClock;

#[cfg(any(test, feature = "test-util"))]
mod manual {
    use super::Clock;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    /// A clock that only moves when told to. Clones share the same time.
    ///
    /// [`advance`](ManualClock::advance) is time passing: it moves both the wall
    /// clock and the monotonic one. [`set`](ManualClock::set) is the wall clock
    /// being stepped (by NTP or an operator): the monotonic reading stays.
    ///
    /// ```
    /// use source_auth::{Clock, ManualClock};
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_700_000_060));
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    #[derive(Debug, Clone)]
    pub struct ManualClock {
        nanos_since_epoch: Arc<AtomicU64>,
        /// Nanoseconds [`advance`](ManualClock::advance)d since `started`.
        nanos_elapsed: Arc<AtomicU64>,
        started: Instant,
    }

    impl ManualClock {
        /// A clock stopped at `now`. Times before the Unix epoch read as the epoch.
        pub fn new(now: SystemTime) -> Self {
            let clock = Self {
                nanos_since_epoch: Arc::new(AtomicU64::new(0)),
                nanos_elapsed: Arc::new(AtomicU64::new(0)),
                started: Instant::now(),
            };
            clock.set(now);
            clock
        }

        /// Steps the wall clock to `now`, forward or back; the monotonic reading
        /// does not move.
        pub fn set(&self, now: SystemTime) {
            let nanos = now.duration_since(UNIX_EPOCH).map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            });
            self.nanos_since_epoch.store(nanos, Ordering::SeqCst);
        }

        /// Lets `by` pass: moves the wall clock and the monotonic clock forward.
        pub fn advance(&self, by: Duration) {
            let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            for nanos in [&self.nanos_since_epoch, &self.nanos_elapsed] {
                // fetch_update cannot fail here: the closure always returns Some.
                let _ = nanos.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |nanos| {
                    Some(nanos.saturating_add(by))
                });
            }
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_nanos(self.nanos_since_epoch.load(Ordering::SeqCst))
        }

        fn monotonic(&self) -> Instant {
            // Capped at about 146 years, so that the sum cannot overflow.
            let elapsed = self.nanos_elapsed.load(Ordering::SeqCst).min(1 << 62);
            self.started + Duration::from_nanos(elapsed)
        }
    }
}

/// Whole seconds since the Unix epoch, rounded down; `None` before the epoch.
pub(crate) fn unix_seconds(time: SystemTime) -> Option<u64> {
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|since| since.as_secs())
}

/// The instant `seconds` whole seconds after the Unix epoch: a token's `exp` as a time.
pub(crate) fn at_unix_seconds(seconds: u64) -> SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds)
}

/// The time since the Unix epoch, refusing a clock that reads earlier.
pub(crate) fn since_epoch(now: SystemTime) -> crate::Result<std::time::Duration> {
    now.duration_since(std::time::UNIX_EPOCH).map_err(|_| {
        crate::Error::new(
            crate::ErrorKind::ClockBeforeEpoch,
            "the clock reads a time before 1970; check the system clock",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// The coarse reading lags the precise one by a scheduler tick at most.
    #[test]
    fn the_system_clocks_coarse_reading_is_close_behind_the_precise_one() {
        for _ in 0..100 {
            let before = SystemClock.now();
            let coarse = SystemClock.now_coarse();
            let after = SystemClock.now();
            assert!(coarse <= after, "{coarse:?} after {after:?}");
            let lag = before.duration_since(coarse).unwrap_or_default();
            assert!(lag < Duration::from_millis(50), "{lag:?}");
        }
    }

    /// Placed on `Instant`'s timeline, the coarse monotonic reading is never
    /// ahead of the precise one, and a tick behind it at most.
    #[test]
    fn the_system_clocks_coarse_monotonic_reading_is_close_behind_the_precise_one() {
        // Anchored on the first reading; judged once it has had time to drift.
        let anchored = SystemClock.monotonic_coarse();
        while SystemClock.monotonic() < anchored + Duration::from_millis(200) {
            std::hint::spin_loop();
        }
        for _ in 0..100 {
            let before = SystemClock.monotonic();
            let coarse = SystemClock.monotonic_coarse();
            let after = SystemClock.monotonic();
            assert!(coarse <= after, "{coarse:?} after {after:?}");
            let lag = before.saturating_duration_since(coarse);
            assert!(lag < Duration::from_millis(50), "{lag:?}");
        }
    }

    #[test]
    fn a_manual_clocks_coarse_readings_are_its_time() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        clock.set(clock.now() + Duration::from_secs(600));
        clock.advance(Duration::from_secs(5));
        assert_eq!(clock.now_coarse(), clock.now());
        assert_eq!(clock.monotonic_coarse(), clock.monotonic());
    }
}
