//! An independent HS256 JWS writer for tests, built on `hmac`, `sha2` and `base64`
//! only, so expected tokens never come from the code under test.

#![allow(dead_code, unused_imports)] // Each test binary uses its own part of this module.

pub use crate::common::{KEY_ID, SECRET, api_key};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// base64url without padding.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The header Source's Node client writes: `alg` and `kid`, no `typ`.
pub fn header(kid: &str) -> String {
    format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#)
}

/// A compact JWS of `header` and `payload` (JSON text, used byte for byte), its MAC
/// computed by `M` keyed with the UTF-8 bytes of `secret`.
pub fn sign_with<M: Mac + KeyInit>(header: &str, payload: &str, secret: &str) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let mut mac =
        <M as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(mac.finalize().into_bytes()))
}

/// [`sign_with`] HMAC-SHA256: a correctly signed HS256 token.
pub fn hs256(header: &str, payload: &str, secret: &str) -> String {
    sign_with::<Hmac<Sha256>>(header, payload, secret)
}
