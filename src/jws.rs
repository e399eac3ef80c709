//! The JWS compact form, `base64url(header).base64url(payload).base64url(signature)`,
//! whatever the algorithm: member tokens (HS256) and application tokens (EdDSA)
//! share this one parser and writer, and differ only in how they sign and check.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

/// Longer headers are rejected unread; Source's are under 100 bytes. The size of
/// the buffer [`Parts::header`] decodes into.
pub(crate) const MAX_HEADER_BYTES: usize = 256;

/// Why a token could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Not three base64url parts, or a header that is not JSON.
    Shape,
    /// `alg` other than the one expected, or a `crit` header.
    Algorithm,
    /// No `kid` where one is required.
    NoKeyId,
    /// The signature does not match.
    Signature,
    /// The payload is not base64url JSON of the claims type.
    Claims,
}

/// The header fields a verifier reads; others (`typ`, `crv`, …) are ignored.
#[derive(Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    pub(crate) alg: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(crate) kid: Option<Cow<'a, str>>,
    /// RFC 7515: a token naming critical extensions we do not implement is
    /// refused, and so is `crit` in any form, `null` included: neither Source nor
    /// this crate ever writes it.
    #[serde(default, deserialize_with = "present")]
    crit: Option<IgnoredAny>,
}

impl Header<'_> {
    /// Refuses any algorithm but `alg`, and any `crit`.
    pub(crate) fn require_alg(&self, alg: &str) -> Result<(), Malformed> {
        if self.alg != alg || self.crit.is_some() {
            return Err(Malformed::Algorithm);
        }
        Ok(())
    }
}

/// Reads a member that is there as `Some`, even when its value is `null`, which
/// serde's `Option` would read as absent; with `#[serde(default)]` only a member
/// that is missing is `None`.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// `base64url(JSON of header)`, the same for every token a key signs.
pub(crate) fn header_segment(header: &impl Serialize) -> String {
    // The headers this crate writes are plain strings, which cannot fail to serialize.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap_or_default())
}

/// Writes `prefix` then `header_segment.base64url(payload).base64url(sign(signing
/// input))`, as ASCII, in one buffer of the exact length: a prefix such as `Bearer ` lets a
/// token and its `Authorization` value share that buffer. `None` only if base64
/// misbehaves.
pub(crate) fn encode<const N: usize>(
    prefix: &str,
    header_segment: &str,
    payload: &[u8],
    sign: impl FnOnce(&[u8]) -> [u8; N],
) -> Option<Vec<u8>> {
    // `encode_string` would zero a 1 KiB scratch buffer per call, and an exact
    // length means the token is never reallocated on its way to its owner.
    let header_end = prefix.len() + header_segment.len();
    let payload_end = header_end + 1 + base64::encoded_len(payload.len(), false)?;
    let mut jwt = vec![b'.'; payload_end + 1 + base64::encoded_len(N, false)?];
    jwt[..prefix.len()].copy_from_slice(prefix.as_bytes());
    jwt[prefix.len()..header_end].copy_from_slice(header_segment.as_bytes());
    URL_SAFE_NO_PAD
        .encode_slice(payload, &mut jwt[header_end + 1..payload_end])
        .ok()?;
    let signature = sign(&jwt[prefix.len()..payload_end]);
    URL_SAFE_NO_PAD
        .encode_slice(signature, &mut jwt[payload_end + 1..])
        .ok()?;
    Some(jwt)
}

/// A token split into its three parts; nothing checked yet.
#[derive(Debug)]
pub(crate) struct Parts<'t> {
    /// The header segment, without its dot.
    pub(crate) header: &'t str,
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'t [u8],
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
            signing_input: &token.as_bytes()[..header.len() + 1 + payload.len()],
            payload,
            signature,
        })
    }

    /// Decodes the header into `buffer` and parses it; nothing in it is checked yet.
    pub(crate) fn header<'b>(
        &self,
        buffer: &'b mut [u8; MAX_HEADER_BYTES],
    ) -> Result<Header<'b>, Malformed> {
        let decoded = URL_SAFE_NO_PAD
            .decode_slice(self.header, buffer)
            .map_err(|_| Malformed::Shape)?;
        // JSON is UTF-8 throughout (RFC 8259); serde_json checks it only in the
        // strings it reads, so a field it skips could carry anything.
        let header = std::str::from_utf8(&buffer[..decoded]).map_err(|_| Malformed::Shape)?;
        serde_json::from_str(header).map_err(|_| Malformed::Shape)
    }

    /// The bytes the signature covers: `header.payload`.
    pub(crate) fn signing_input(&self) -> &'t [u8] {
        self.signing_input
    }

    /// The signature, which must decode to exactly `N` bytes.
    pub(crate) fn signature<const N: usize>(&self) -> Result<[u8; N], Malformed> {
        // One byte of room so that a longer signature is caught, not cut short.
        let mut buffer = [0u8; 128];
        let len = URL_SAFE_NO_PAD
            .decode_slice(self.signature, &mut buffer)
            .map_err(|_| Malformed::Signature)?;
        buffer[..len].try_into().map_err(|_| Malformed::Signature)
    }

    /// Parses the payload. Call only once the signature is checked.
    pub(crate) fn claims<T: DeserializeOwned>(&self) -> Result<T, Malformed> {
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| Malformed::Claims)?;
        let payload = std::str::from_utf8(&payload).map_err(|_| Malformed::Claims)?;
        serde_json::from_str(payload).map_err(|_| Malformed::Claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_needs_exactly_three_parts() {
        assert_eq!(Parts::split("a.b").unwrap_err(), Malformed::Shape);
        assert_eq!(Parts::split("a.b.c.d").unwrap_err(), Malformed::Shape);
        let parts = Parts::split("aa.bb.cc").expect("three parts");
        assert_eq!(parts.header, "aa");
        assert_eq!(parts.signing_input(), b"aa.bb");
    }

    #[test]
    fn signatures_of_the_wrong_length_are_refused() {
        let segment = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let token = format!("a.b.{}", segment(&[7; 32]));
        assert_eq!(Parts::split(&token).unwrap().signature::<32>(), Ok([7; 32]));
        for len in [0, 31, 33, 64, 96] {
            let token = format!("a.b.{}", segment(&vec![7; len]));
            assert_eq!(
                Parts::split(&token).unwrap().signature::<32>(),
                Err(Malformed::Signature),
                "{len}"
            );
        }
        assert_eq!(
            Parts::split(&format!("a.b.{}", "A".repeat(400)))
                .unwrap()
                .signature::<32>(),
            Err(Malformed::Signature)
        );
    }

    #[test]
    fn encode_then_split_round_trips() {
        let token = encode("", "eyJ9", b"{\"a\":1}", |input| {
            assert_eq!(input, b"eyJ9.eyJhIjoxfQ");
            [1u8; 64]
        })
        .expect("encoded");
        // A prefix is written first and never signed.
        let prefixed = encode("Bearer ", "eyJ9", b"{\"a\":1}", |input| {
            assert_eq!(input, b"eyJ9.eyJhIjoxfQ");
            [1u8; 64]
        })
        .expect("encoded");
        assert_eq!(prefixed, [b"Bearer ".as_slice(), &token].concat());
        let token = String::from_utf8(token).expect("ASCII");
        let parts = Parts::split(&token).expect("three parts");
        assert_eq!(parts.signature::<64>(), Ok([1; 64]));
        assert_eq!(parts.claims::<serde_json::Value>().unwrap()["a"], 1);
    }

    #[test]
    fn headers_are_checked_for_alg_and_crit() {
        let parts_of = |header: &str| format!("{}.e30.", URL_SAFE_NO_PAD.encode(header));
        let check = |header: &str| {
            let token = parts_of(header);
            let parts = Parts::split(&token).unwrap();
            let mut buffer = [0; MAX_HEADER_BYTES];
            parts.header(&mut buffer)?.require_alg("EdDSA")
        };
        assert_eq!(check(r#"{"alg":"EdDSA"}"#), Ok(()));
        assert_eq!(check(r#"{"alg":"HS256"}"#), Err(Malformed::Algorithm));
        for crit in [r#"["b64"]"#, "null", "[]", "{}", "0"] {
            assert_eq!(
                check(&format!(r#"{{"alg":"EdDSA","crit":{crit}}}"#)),
                Err(Malformed::Algorithm),
                "{crit}"
            );
        }
        assert_eq!(check("not json"), Err(Malformed::Shape));
        assert_eq!(check(&"x".repeat(300)), Err(Malformed::Shape));
    }
}
