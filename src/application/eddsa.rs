//! EdDSA (Ed25519) on the shared JWS code: how application tokens are checked, and
//! how MockSource signs them.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::jws::{Malformed, Parts};

/// The only algorithm application tokens use.
pub(crate) const EDDSA: &str = "EdDSA";
/// An Ed25519 signature is 64 bytes.
pub(crate) const SIGNATURE_LEN: usize = 64;

/// Checks the signature of `parts` with `key`, strictly: no small-order keys or
/// `R`, and no non-canonical `s` (`s ≥ L`), so a signature cannot be reshaped into
/// another valid one.
pub(crate) fn verify(parts: &Parts<'_>, key: &VerifyingKey) -> Result<(), Malformed> {
    let signature = Signature::from_bytes(&parts.signature::<SIGNATURE_LEN>()?);
    key.verify_strict(parts.signing_input(), &signature)
        .map_err(|_| Malformed::Signature)
}

#[cfg(feature = "test-util")]
pub(crate) use signing::{header_segment, sign};

#[cfg(feature = "test-util")]
mod signing {
    use ed25519_dalek::{Signer, SigningKey};
    use serde::Serialize;

    use crate::jws;

    use super::{EDDSA, SIGNATURE_LEN};

    /// Source's header, in its order: `{"alg":"EdDSA","crv":"Ed25519","kid":…}`.
    #[derive(Serialize)]
    struct HeaderOut<'a> {
        alg: &'static str,
        crv: &'static str,
        kid: &'a str,
    }

    /// `base64url({"alg":"EdDSA","crv":"Ed25519","kid":<kid>})`.
    pub(crate) fn header_segment(kid: &str) -> String {
        jws::header_segment(&HeaderOut {
            alg: EDDSA,
            crv: "Ed25519",
            kid,
        })
    }

    /// Signs `payload` (JSON) under `header_segment`; `None` only if base64 misbehaves.
    pub(crate) fn sign(header_segment: &str, payload: &[u8], key: &SigningKey) -> Option<String> {
        jws::encode::<SIGNATURE_LEN>("", header_segment, payload, |input| {
            key.sign(input).to_bytes()
        })
        .and_then(|token| String::from_utf8(token).ok())
    }
}
