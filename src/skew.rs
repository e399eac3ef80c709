//! Source's clock, as this host estimates it: how far it is from the local one.
//!
//! Member tokens carry `iat` and `exp`, which Source judges on its own clock. A
//! host whose clock is off by minutes signs tokens that Source sees as already
//! expired or as issued in the future, so the layer signs on Source's time: the
//! local clock plus a [`ClockOffset`].
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

use std::fmt;
use std::time::{Duration, SystemTime};

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
    pub fn apply(self, local: SystemTime) -> SystemTime {
        let shifted = if self.millis >= 0 {
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

#[cfg(test)]
mod tests {
    use super::*;
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
