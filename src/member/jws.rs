//! The JWS compact form of member tokens: `base64url(header).base64url(claims).base64url(mac)`.
//!
//! Written by hand on RustCrypto's `hmac`/`sha2`, `base64` and `serde_json` because
//! jsonwebtoken re-keys HMAC, re-encodes the constant header and parses each part
//! twice on every call, which costs 1.5–3× the work of the token itself (see
//! BENCHMARKS.md). Output is byte-for-byte what `jsonwebtoken::encode` writes;
//! tests check it against jsonwebtoken, Node's `jose` and Python's PyJWT.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::credential::api_key::HmacSha256;

/// The only algorithm member tokens use.
const HS256: &str = "HS256";
/// Longer headers are rejected unread; Source's is about 40 bytes.
const MAX_HEADER_BYTES: usize = 256;
/// The length of an HMAC-SHA256 tag in base64url without padding.
const SIGNATURE_LEN: usize = 43;

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'static str,
    kid: &'a str,
}

/// The header fields a verifier reads; others (`typ`, …) are ignored.
#[derive(Deserialize)]
struct HeaderIn<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    /// RFC 7515: a token naming critical extensions we do not implement is refused.
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// `base64url({"alg":"HS256","kid":…})`, the same for every token a key signs.
pub(crate) fn header_segment(kid: &str) -> String {
    // Serializing two plain strings cannot fail.
    let header = serde_json::to_vec(&HeaderOut { alg: HS256, kid }).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(header)
}

/// Signs `payload` (JSON) under a precomputed [`header_segment`]; `None` only if
/// base64 misbehaves.
pub(crate) fn sign(header_segment: &str, payload: &[u8], mac: &HmacSha256) -> Option<String> {
    // One buffer of the exact length: `encode_string` would zero a 1 KiB scratch
    // buffer per call, and a token is never reallocated on its way into a `MemberToken`.
    let payload_end = header_segment.len() + 1 + base64::encoded_len(payload.len(), false)?;
    let mut jwt = vec![b'.'; payload_end + 1 + SIGNATURE_LEN];
    jwt[..header_segment.len()].copy_from_slice(header_segment.as_bytes());
    URL_SAFE_NO_PAD
        .encode_slice(payload, &mut jwt[header_segment.len() + 1..payload_end])
        .ok()?;
    let mut mac = mac.clone();
    mac.update(&jwt[..payload_end]);
    URL_SAFE_NO_PAD
        .encode_slice(mac.finalize().into_bytes(), &mut jwt[payload_end + 1..])
        .ok()?;
    String::from_utf8(jwt).ok()
}

/// Why a token could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Not three base64url parts, or a header that is not JSON.
    Shape,
    /// `alg` other than HS256, or a `crit` header.
    Algorithm,
    /// No `kid`.
    NoKeyId,
    /// The MAC does not match.
    Signature,
    /// The payload is not base64url JSON of the claims type.
    Claims,
}

/// A token split into its three parts; nothing checked yet.
pub(crate) struct Parts<'t> {
    /// The header segment, without its dot.
    pub(crate) header: &'t str,
    /// `header.payload`, the bytes the MAC covers.
    signed: &'t [u8],
    payload: &'t str,
    signature: &'t str,
}

impl<'t> Parts<'t> {
    /// Splits `token` into exactly three dot-separated parts.
    pub(crate) fn split(token: &'t str) -> Result<Self, Malformed> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Malformed::Shape);
        };
        Ok(Self {
            header,
            signed: &token.as_bytes()[..header.len() + 1 + payload.len()],
            payload,
            signature,
        })
    }

    /// Reads the header: HS256 only, no `crit`, and a `kid`, which it returns.
    pub(crate) fn key_id(&self) -> Result<String, Malformed> {
        let mut buffer = [0u8; MAX_HEADER_BYTES];
        let decoded = URL_SAFE_NO_PAD
            .decode_slice(self.header, &mut buffer)
            .map_err(|_| Malformed::Shape)?;
        // JSON is UTF-8 throughout (RFC 8259); serde_json checks it only in the
        // strings it reads, so a field it skips could carry anything.
        let header = std::str::from_utf8(&buffer[..decoded]).map_err(|_| Malformed::Shape)?;
        let header: HeaderIn<'_> = serde_json::from_str(header).map_err(|_| Malformed::Shape)?;
        if header.alg != HS256 || header.crit.is_some() {
            return Err(Malformed::Algorithm);
        }
        Ok(header.kid.ok_or(Malformed::NoKeyId)?.into_owned())
    }

    /// Checks the MAC with `mac` (in constant time) and parses the claims.
    pub(crate) fn verify<T: for<'de> Deserialize<'de>>(
        &self,
        mac: &HmacSha256,
    ) -> Result<T, Malformed> {
        let mut tag = [0u8; 64];
        let tag_len = URL_SAFE_NO_PAD
            .decode_slice(self.signature, &mut tag)
            .map_err(|_| Malformed::Signature)?;
        let mut mac = mac.clone();
        mac.update(self.signed);
        mac.verify_slice(&tag[..tag_len])
            .map_err(|_| Malformed::Signature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| Malformed::Claims)?;
        let payload = std::str::from_utf8(&payload).map_err(|_| Malformed::Claims)?;
        serde_json::from_str(payload).map_err(|_| Malformed::Claims)
    }
}
