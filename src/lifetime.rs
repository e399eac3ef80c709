//! The time rules every verifier here applies to a token, whoever signed it: `exp`
//! not passed, `iat` not in the future and an `nbf`, if any, reached, all with a
//! leeway for clock skew; and a lifetime (`exp − iat`) of at most 24 hours.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::error::{Error, ErrorKind, Result};

/// The longest a token may live, from Source's rules.
pub(crate) const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// The leeway unless a verifier is told otherwise.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// A verifier's clock and leeway.
#[derive(Clone)]
pub(crate) struct TimeRules {
    pub(crate) leeway: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for TimeRules {
    fn default() -> Self {
        Self {
            leeway: DEFAULT_LEEWAY,
            clock: Arc::new(SystemClock),
        }
    }
}

impl TimeRules {
    /// Checks the times of a token, named `what` in the messages ("member token").
    pub(crate) fn check(
        &self,
        what: &'static str,
        iat: u64,
        exp: u64,
        nbf: Option<u64>,
    ) -> Result<()> {
        let now = unix_seconds(self.clock.now()).unwrap_or(0);
        let leeway = self.leeway.as_secs();
        let invalid = |kind, why: &str| Err(Error::new(kind, format!("{what} {why}")));
        if exp.saturating_add(leeway) <= now {
            return invalid(ErrorKind::Expired, "has expired");
        }
        if iat > now.saturating_add(leeway) {
            return invalid(ErrorKind::InvalidToken, "has an `iat` in the future");
        }
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return invalid(ErrorKind::InvalidToken, "is not valid yet (`nbf`)");
        }
        if exp <= iat || exp - iat > MAX_TOKEN_LIFETIME.as_secs() {
            return invalid(
                ErrorKind::InvalidExpiry,
                "must expire after `iat` and live at most 24 hours",
            );
        }
        Ok(())
    }
}

impl fmt::Debug for TimeRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeRules")
            .field("leeway", &self.leeway)
            .field("clock", &self.clock)
            .finish()
    }
}
