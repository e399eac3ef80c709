//! `ApplicationKey`: the public half of an application's Ed25519 key pair, as a JWK.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::VerifyingKey;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::jws::present;

use super::eddsa::EDDSA;

/// JWKs longer than this are refused unread; a public Ed25519 JWK is about 100 bytes.
const MAX_JWK_LEN: usize = 4 * 1024;

/// The public key Source signs an application's tokens with, as a JWK
/// (RFC 8037): `{"kty":"OKP","crv":"Ed25519","x":"…","alg":"EdDSA"}`.
///
/// `Debug` shows the key id and the public key; there is nothing secret in it.
///
/// ```
/// use source_auth::ErrorKind;
/// use source_auth::application::ApplicationKey;
///
/// let jwk = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"EdDSA"}"#;
/// let key = ApplicationKey::from_jwk(jwk)?;
/// assert_eq!(key.to_jwk(), jwk);
///
/// // A private JWK is refused: the backend needs only the public half.
/// let private = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}"#;
/// assert_eq!(ApplicationKey::from_jwk(private).unwrap_err().kind(), ErrorKind::InvalidApplicationKey);
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApplicationKey {
    pub(super) key: VerifyingKey,
    /// A token must name this `kid`, when the JWK has one.
    pub(super) kid: Option<Box<str>>,
}

/// The JWK members read; others are ignored.
#[derive(Deserialize)]
struct JwkIn {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    /// Present only in private JWKs, which are refused whatever its value.
    #[serde(default, deserialize_with = "present")]
    d: Option<IgnoredAny>,
    alg: Option<String>,
    kid: Option<String>,
    /// Must be `sig` when present (RFC 7517 §4.2).
    #[serde(rename = "use", default, deserialize_with = "present")]
    public_key_use: Option<serde_json::Value>,
    /// Must include `verify` when present (RFC 7517 §4.3).
    #[serde(default, deserialize_with = "present")]
    key_ops: Option<serde_json::Value>,
}

/// The JWK written back, in the member order of Source's demo.
#[derive(Serialize)]
struct JwkOut<'a> {
    kty: &'static str,
    crv: &'static str,
    x: &'a str,
    alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

impl ApplicationKey {
    /// Reads a public Ed25519 JWK.
    ///
    /// Fails with [`ErrorKind::InvalidApplicationKey`] for anything else: not JSON,
    /// a private JWK (with a `d` member, whatever its value, `null` included), a
    /// `kty` other than `OKP`, a `crv` other than `Ed25519`, an `alg` other than
    /// `EdDSA`, a `use` other than `sig`, a `key_ops` without `verify`, or an `x`
    /// that is not the base64url of a valid 32-byte Ed25519 public key. The
    /// message never quotes the JWK.
    pub fn from_jwk(jwk: &str) -> Result<Self> {
        if jwk.len() > MAX_JWK_LEN {
            return Err(invalid_key("the application JWK is larger than 4 KiB"));
        }
        let jwk: JwkIn = serde_json::from_str(jwk).map_err(|_| {
            invalid_key("the application key is not a JWK (a JSON object with `kty`)")
        })?;
        if jwk.d.is_some() {
            return Err(invalid_key(
                "the application JWK holds a private key (it has `d`); the backend needs only \
                 the public key: remove `d`, and keep the private key out of the backend",
            ));
        }
        if jwk
            .public_key_use
            .is_some_and(|public_key_use| public_key_use != "sig")
        {
            return Err(invalid_key(
                "the application JWK's `use` must be `sig`: the key verifies signatures",
            ));
        }
        if jwk.key_ops.is_some_and(|ops| !allows_verify(&ops)) {
            return Err(invalid_key(
                "the application JWK's `key_ops` must be a list of strings that includes `verify`",
            ));
        }
        if jwk.kty != "OKP" || jwk.crv.as_deref() != Some("Ed25519") {
            return Err(invalid_key(
                "the application JWK must have `kty` `OKP` and `crv` `Ed25519`",
            ));
        }
        if jwk.alg.as_deref().is_some_and(|alg| alg != EDDSA) {
            return Err(invalid_key("the application JWK's `alg` must be `EdDSA`"));
        }
        let key = jwk
            .x
            .as_deref()
            .and_then(decode_public_key)
            .ok_or_else(|| {
                invalid_key("the application JWK's `x` must be a base64url Ed25519 public key")
            })?;
        Ok(Self {
            key,
            kid: jwk.kid.map(Into::into),
        })
    }

    /// The public JWK: `{"kty":"OKP","crv":"Ed25519","x":"…","alg":"EdDSA"}`, with
    /// `"kid"` last when the key has one.
    pub fn to_jwk(&self) -> String {
        let x = URL_SAFE_NO_PAD.encode(self.key.as_bytes());
        let jwk = JwkOut {
            kty: "OKP",
            crv: "Ed25519",
            x: &x,
            alg: EDDSA,
            kid: self.kid.as_deref(),
        };
        // Plain strings cannot fail to serialize.
        serde_json::to_string(&jwk).unwrap_or_default()
    }

    /// The JWK's `kid`, if it has one.
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    #[cfg(feature = "test-util")]
    pub(crate) fn new(key: VerifyingKey) -> Self {
        Self { key, kid: None }
    }
}

/// A public key from base64url `x`: 32 bytes that decompress to a point of large
/// order (a small-order key would let one signature pass for many messages).
fn decode_public_key(x: &str) -> Option<VerifyingKey> {
    let mut bytes = [0u8; 33];
    let len = URL_SAFE_NO_PAD.decode_slice(x, &mut bytes).ok()?;
    let bytes: &[u8; 32] = bytes[..len].try_into().ok()?;
    VerifyingKey::from_bytes(bytes)
        .ok()
        .filter(|key| !key.is_weak())
}

fn invalid_key(message: &'static str) -> Error {
    Error::new(ErrorKind::InvalidApplicationKey, message)
}

impl fmt::Debug for ApplicationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplicationKey")
            .field("kid", &self.kid)
            .field("x", &URL_SAFE_NO_PAD.encode(self.key.as_bytes()))
            .finish()
    }
}

/// Whether `key_ops` is a list of strings that includes `verify`.
fn allows_verify(key_ops: &serde_json::Value) -> bool {
    key_ops.as_array().is_some_and(|ops| {
        ops.iter().all(serde_json::Value::is_string) && ops.iter().any(|op| op == "verify")
    })
}
