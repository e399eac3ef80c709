//! The fuzz targets' inputs, replayed by plain `cargo test`.
//!
//! Runs every file in `fuzz/seeds/<target>/` (a small corpus kept in the repo)
//! and `fuzz/regressions/<target>/` (each input that once made a target fail)
//! through the same harness the fuzzer runs, from `fuzz/src/lib.rs`. Each
//! finding also has a test of its own below, saying what went wrong.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::fs;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use source_auth::{ApiKey, ErrorKind, ManualClock, MemberGrant, TokenSigner, TokenVerifier};

const KEY_ID: &str = "key_1";
const SECRET: &str = "sk_test_00000000000000000000000000000000";
const NOW: u64 = 1_700_000_000;

fn key() -> ApiKey {
    ApiKey::new(KEY_ID, SECRET).unwrap()
}

fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW))
}

/// Replays every committed input of `target`; fails if there are none.
fn replay(target: &str, harness: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable directory").path();
            let input = fs::read(&path).expect("a readable input");
            eprintln!("replaying {}", path.display());
            harness(&input);
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no inputs for fuzz target {target}");
}

#[test]
fn verify() {
    replay("verify", harness::verify);
}

#[test]
fn credentials() {
    replay("credentials", harness::credentials);
}

#[test]
fn grant() {
    replay("grant", harness::grant);
}

#[test]
fn authorization() {
    replay("authorization", harness::authorization);
}

#[test]
fn application() {
    replay("application", harness::application);
}

/// Found by `grant` (`regressions/grant/sign-token-over-8-kib`): `sign` made tokens
/// of any size, and those over 8 KiB were then refused by every verifier,
/// MockSource's included. Now a grant carries at most 32 scopes and 1 KiB of them,
/// so the largest token signed verifies, and one scope more is refused.
#[test]
fn sign_never_makes_a_token_too_large_to_verify() {
    let signer = TokenSigner::new(key()).with_clock(clock());
    let verifier = TokenVerifier::new([key()]).unwrap().with_clock(clock());
    let scope = "s".repeat(32);
    let (mut largest, mut refused) = (None, None);
    for count in 1..=100 {
        let grant = MemberGrant::member("mem_1").scopes(vec![scope.as_str(); count]);
        match signer.sign(&grant) {
            Ok(token) => largest = Some((count, token)),
            Err(err) => {
                refused = Some(err.kind());
                break;
            }
        }
    }
    assert_eq!(refused, Some(ErrorKind::InvalidScope));
    let (count, largest) = largest.expect("one scope fits");
    assert_eq!(count, 32);
    assert!(verifier.verify(largest.as_str()).is_ok());
}

/// Found by `verify` (`regressions/verify/header-with-invalid-utf8`): a correctly
/// signed token was accepted although its header held bytes that are not UTF-8,
/// in a field the verifier skips. JSON is UTF-8 (RFC 8259), and jsonwebtoken
/// refuses such a token; now the header and the claims must both be UTF-8.
#[test]
fn verify_refuses_a_header_or_claims_that_are_not_utf8() {
    let header = br#"{"alg":"HS256","kid":"key_1"}"#.to_vec();
    let claims = br#"{"sub":"mem_1","iat":1700000000,"exp":1700000300,"scopes":[]}"#.to_vec();
    let with_field = |json: &[u8]| {
        let mut json = json[..json.len() - 1].to_vec();
        json.extend_from_slice(b",\"x\":\"\xc1\"}");
        json
    };
    let verifier = TokenVerifier::new([key()]).unwrap().with_clock(clock());
    assert!(verifier.verify(&hs256(&header, &claims)).is_ok());
    for (header, claims) in [
        (with_field(&header), claims.clone()),
        (header, with_field(&claims)),
    ] {
        let err = verifier.verify(&hs256(&header, &claims)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidToken);
    }
}

/// A compact JWS of these exact bytes, signed with [`SECRET`].
fn hs256(header: &[u8], claims: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{message}.{signature}")
}
