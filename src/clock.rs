//! Where the crate reads the time from.
//!
//! Signing, verification and the token cache read the time through [`Clock`], so
//! tests can move time by hand with `ManualClock` (feature `test-util`) instead of
//! sleeping.
//!
//! ```
//! use source_auth::{Clock, SystemClock};
//!
//! let now = SystemClock.now();
//! assert!(now > std::time::UNIX_EPOCH);
//! ```

use std::fmt::Debug;
use std::time::SystemTime;

/// A source of the current wall-clock time.
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock; the default everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[cfg(any(test, feature = "test-util"))]
pub use manual::ManualClock;

#[cfg(any(test, feature = "test-util"))]
mod manual {
    use super::Clock;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// A clock that only moves when told to. Clones share the same time.
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
    }

    impl ManualClock {
        /// A clock stopped at `now`. Times before the Unix epoch read as the epoch.
        pub fn new(now: SystemTime) -> Self {
            let clock = Self {
                nanos_since_epoch: Arc::new(AtomicU64::new(0)),
            };
            clock.set(now);
            clock
        }

        /// Moves the clock to `now`.
        pub fn set(&self, now: SystemTime) {
            let nanos = now.duration_since(UNIX_EPOCH).map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            });
            self.nanos_since_epoch.store(nanos, Ordering::SeqCst);
        }

        /// Moves the clock forward by `by`.
        pub fn advance(&self, by: Duration) {
            let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            // fetch_update cannot fail here: the closure always returns Some.
            let _ =
                self.nanos_since_epoch
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |nanos| {
                        Some(nanos.saturating_add(by))
                    });
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_nanos(self.nanos_since_epoch.load(Ordering::SeqCst))
        }
    }
}

/// Whole seconds since the Unix epoch, rounded down; `None` before the epoch.
pub(crate) fn unix_seconds(time: SystemTime) -> Option<u64> {
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|since| since.as_secs())
}
