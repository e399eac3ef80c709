use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::KeyInit;
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::id::{is_source_id, is_visible_ascii};
use crate::member::BEARER;
use crate::member::hs256::HmacSha256;

/// The environment variable holding the API key's id, as in Source's Node client.
const ENV_KEY_ID: &str = "SOURCE_API_KEY_ID";
/// The environment variable holding the API key's secret.
const ENV_KEY_SECRET: &str = "SOURCE_API_KEY_SECRET";

const TEST_PREFIX: &str = "sk_test_";
const LIVE_PREFIX: &str = "sk_live_";
const MIN_SECRET_LEN: usize = 32;
const MAX_SECRET_LEN: usize = 256;

/// Whether a key acts on test data or live data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyMode {
    /// A `sk_test_…` key.
    Test,
    /// A `sk_live_…` key.
    Live,
}

/// A Source API key: its public id (`key_…`) and its secret (`sk_test_…`/`sk_live_…`).
///
/// The secret is zeroized on drop and redacted from `Debug`.
///
/// ```
/// use source_auth::{ApiKey, ErrorKind};
///
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_live_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// assert_eq!(key.id(), "key_0EipsUv2yRFxynHshisN");
///
/// let bad = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_live_short").unwrap_err();
/// assert_eq!(bad.kind(), ErrorKind::InvalidApiKey);
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct ApiKey {
    id: Box<str>,
    secret: SecretString,
    mode: KeyMode,
    /// HMAC-SHA256 keyed with the UTF-8 bytes of the whole secret; zeroized on drop.
    mac: HmacSha256,
}

impl ApiKey {
    /// Validates and wraps an API key.
    ///
    /// The id must be `key_` followed by letters and digits; the secret must start
    /// with `sk_test_` or `sk_live_` and be 32 to 256 bytes of visible ASCII.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Result<Self> {
        let id = id.into();
        // Wrap the secret first so it is zeroized even when validation fails.
        let secret = SecretString::from(secret.into());
        if !is_source_id(&id, "key_") {
            return Err(Error::new(
                ErrorKind::InvalidApiKey,
                "API key id must be `key_` followed by letters and digits",
            ));
        }
        let exposed = secret.expose_secret();
        let mode = if exposed.starts_with(TEST_PREFIX) {
            KeyMode::Test
        } else if exposed.starts_with(LIVE_PREFIX) {
            KeyMode::Live
        } else {
            return Err(Error::new(
                ErrorKind::InvalidApiKey,
                "API key secret must start with `sk_test_` or `sk_live_`",
            ));
        };
        if !is_visible_ascii(exposed, MAX_SECRET_LEN) || exposed.len() < MIN_SECRET_LEN {
            return Err(Error::new(
                ErrorKind::InvalidApiKey,
                "API key secret must be 32 to 256 characters of visible ASCII (no spaces or line breaks)",
            ));
        }
        let mac = HmacSha256::new_from_slice(exposed.as_bytes()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidApiKey,
                "API key secret is not usable as an HMAC key",
            )
        })?;
        Ok(Self {
            id: id.into_boxed_str(),
            secret,
            mode,
            mac,
        })
    }

    /// Reads the key from `SOURCE_API_KEY_ID` and `SOURCE_API_KEY_SECRET`.
    pub fn from_env() -> Result<Self> {
        let missing = || {
            Error::new(
                ErrorKind::MissingEnvironment,
                format!("set both {ENV_KEY_ID} and {ENV_KEY_SECRET} to your Source API key"),
            )
        };
        let id = std::env::var(ENV_KEY_ID).map_err(|_| missing())?;
        let secret = std::env::var(ENV_KEY_SECRET).map_err(|_| missing())?;
        Self::new(id, secret)
    }

    /// The key's public id, the `kid` of the member tokens it signs.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Test or live, from the secret's prefix.
    pub fn mode(&self) -> KeyMode {
        self.mode
    }

    /// The secret, for building the header; never for display.
    pub(crate) fn secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// The header that sends this key: `Bearer <secret>`, or HTTP Basic with the
    /// secret as user name and an empty password; marked sensitive, and every
    /// copy of the secret on the way is wiped.
    pub(crate) fn authorization(&self, basic: bool) -> HeaderValue {
        let value = if basic {
            let user_pass = Zeroizing::new(format!("{}:", self.secret()));
            let encoded = Zeroizing::new(STANDARD.encode(&*user_pass));
            Zeroizing::new(format!("Basic {}", *encoded))
        } else {
            Zeroizing::new(format!("{BEARER}{}", self.secret()))
        };
        let mut value = HeaderValue::from_str(&value)
            .expect("a secret validated as visible ASCII makes a valid header value");
        value.set_sensitive(true);
        value
    }

    /// The keyed MAC state; clone it to sign or verify one token.
    pub(crate) fn mac(&self) -> &HmacSha256 {
        &self.mac
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("mode", &self.mode)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}
