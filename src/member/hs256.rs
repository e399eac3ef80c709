//! HS256 on the shared JWS code: how member tokens are signed and their MACs checked.
//!
//! Written on RustCrypto's `hmac`/`sha2` rather than jsonwebtoken, because
//! jsonwebtoken re-keys HMAC, re-encodes the constant header and parses each part
//! twice on every call, which costs 1.5–3× the work of the token itself (see
//! BENCHMARKS.md). Output is byte-for-byte what `jsonwebtoken::encode` writes;
//! tests check it against jsonwebtoken, Node's `jose` and Python's PyJWT.

use hmac::Mac;
use serde::Serialize;

use crate::jws::{self, Malformed, Parts};

/// The MAC of member tokens (JWS `HS256`), keyed once per API key.
pub(crate) type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The type that holds [`HmacSha256`]'s keyed state: hmac keeps its inner and
/// outer midstates, which are as good as the key, in two of these. `Hmac<Sha256>`
/// itself never implements `ZeroizeOnDrop` (hmac's `zeroize` feature wipes only
/// digest's block buffer); the midstates are wiped by `sha2`'s own `zeroize`
/// feature, checked here at compile time so an update cannot silently drop it.
type MidstateCore = <sha2::Sha256 as hmac::EagerHash>::Core;
const _: () = {
    const fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wiped_on_drop::<MidstateCore>();
};

/// The only algorithm member tokens use.
pub(crate) const HS256: &str = "HS256";
/// An HMAC-SHA256 tag is 32 bytes.
const TAG_LEN: usize = 32;

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'static str,
    kid: &'a str,
}

/// `base64url({"alg":"HS256","kid":…})`: exactly the header Source's Node client
/// writes, no `typ`.
pub(crate) fn header_segment(kid: &str) -> String {
    jws::header_segment(&HeaderOut { alg: HS256, kid })
}

/// Signs `payload` (JSON) under a precomputed [`header_segment`], written after
/// `prefix`; `None` only if base64 misbehaves.
pub(crate) fn sign(
    prefix: &str,
    header_segment: &str,
    payload: &[u8],
    mac: &HmacSha256,
) -> Option<Vec<u8>> {
    jws::encode::<TAG_LEN>(prefix, header_segment, payload, |input| {
        let mut mac = mac.clone();
        mac.update(input);
        mac.finalize().into_bytes().into()
    })
}

/// Checks the MAC of `parts` with `mac`, in constant time.
pub(crate) fn verify(parts: &Parts<'_>, mac: &HmacSha256) -> Result<(), Malformed> {
    let tag = parts.signature::<TAG_LEN>()?;
    let mut mac = mac.clone();
    mac.update(parts.signing_input());
    mac.verify_slice(&tag).map_err(|_| Malformed::Signature)
}
