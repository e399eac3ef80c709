use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, ErrorKind, Result};
use crate::id::is_visible_ascii;

const MAX_USER_TOKEN_LEN: usize = 8 * 1024;

/// A token Source issued to a user at login, sent with `Source-Live-Mode`.
///
/// Live mode is on by default. The token is zeroized on drop and redacted from `Debug`.
///
/// ```
/// use source_auth::UserToken;
///
/// let token = UserToken::new("ut_2bdf6e1a")?;
/// assert!(token.is_live_mode());
/// assert!(!token.live_mode(false).is_live_mode());
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct UserToken {
    token: SecretString,
    live_mode: bool,
}

impl UserToken {
    /// Wraps a user token: 1 to 8192 bytes of visible ASCII.
    pub fn new(token: impl Into<String>) -> Result<Self> {
        let token = SecretString::from(token.into());
        if !is_visible_ascii(token.expose_secret(), MAX_USER_TOKEN_LEN) {
            return Err(Error::new(
                ErrorKind::InvalidUserToken,
                "user token must be 1 to 8192 characters of visible ASCII (no spaces or line breaks)",
            ));
        }
        Ok(Self {
            token,
            live_mode: true,
        })
    }

    /// Sets whether requests act in live mode (`Source-Live-Mode: true`) or test mode.
    pub fn live_mode(mut self, live: bool) -> Self {
        self.live_mode = live;
        self
    }

    /// Whether requests act in live mode.
    pub fn is_live_mode(&self) -> bool {
        self.live_mode
    }

    pub(crate) fn secret(&self) -> &str {
        self.token.expose_secret()
    }
}

impl fmt::Debug for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserToken")
            .field("token", &"[REDACTED]")
            .field("live_mode", &self.live_mode)
            .finish()
    }
}
