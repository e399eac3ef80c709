//! Fuzz harnesses for `source-auth`, one function per fuzz target.
//!
//! Each takes the fuzzer's bytes, drives one entry point of the crate, and panics
//! only when the crate panics or an invariant breaks: a secret shows in `Debug` or
//! an error, a signed token fails to verify, a verified token breaks Source's rules.
//! The targets in `fuzz_targets/` call these functions, and so does
//! `tests/fuzz_regressions.rs`, which replays `fuzz/seeds/` and `fuzz/regressions/`
//! under plain `cargo test`.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Unstructured;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Signer, SigningKey};
use http::HeaderValue;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use source_auth::application::{ApplicationKey, ApplicationVerifier};
use source_auth::testing::{ManualClock, Scheme, parse_authorization};
use source_auth::{
    ApiKey, Clock, ErrorKind, KeyMode, MemberClaims, MemberGrant, TokenSigner, TokenVerifier,
    UserToken,
};

/// The key the harnesses sign and verify with.
const KEY_ID: &str = "key_fuzz0000";
const SECRET: &str = "sk_test_fuzz00000000000000000000000000000";
/// The verify harness's fixed "now" (2023-11-14), so every input replays alike.
const NOW: u64 = 1_700_000_000;
/// `TokenVerifier`'s default leeway after `exp`, and for `iat` ahead of now.
const LEEWAY: u64 = 30;
const DAY: u64 = 24 * 60 * 60;
/// The verifier refuses longer tokens unread.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// ...and longer headers, decoded; Source's is about 40 bytes.
const MAX_HEADER_LEN: usize = 256;
/// A secret this long with no whitespace cannot occur by chance in the crate's
/// fixed messages or redacted `Debug` strings, whose words are all shorter.
const LEAK_CHECK_MIN_LEN: usize = 24;

static KEY: LazyLock<ApiKey> =
    LazyLock::new(|| ApiKey::new(KEY_ID, SECRET).expect("the fuzz key is valid"));
static ENCODING_KEY: LazyLock<EncodingKey> = LazyLock::new(|| {
    EncodingKey::from_secret(SECRET.as_bytes()).expect("HMAC takes any non-empty key")
});
static DECODING_KEY: LazyLock<DecodingKey> =
    LazyLock::new(|| DecodingKey::from_secret(SECRET.as_bytes()).expect("a non-empty key"));
/// jsonwebtoken checks the signature only: the claims are the verifier's to judge.
static VALIDATION: LazyLock<Validation> = LazyLock::new(|| {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation
});
/// The application the `application` harness verifies tokens for, and its key.
const APPLICATION_ID: &str = "app_fuzz0000";
static APPLICATION_KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&[9; 32]));
static APPLICATION_VERIFIER: LazyLock<ApplicationVerifier> = LazyLock::new(|| {
    let x = URL_SAFE_NO_PAD.encode(APPLICATION_KEY.verifying_key().as_bytes());
    let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"EdDSA"}}"#);
    let key = ApplicationKey::from_jwk(&jwk).expect("the fuzz JWK is valid");
    ApplicationVerifier::new(APPLICATION_ID, [key])
        .unwrap()
        .with_clock(ManualClock::new(at(NOW)))
});
static VERIFIER: LazyLock<TokenVerifier> = LazyLock::new(|| {
    TokenVerifier::new([KEY.clone()])
        .unwrap()
        .with_clock(ManualClock::new(at(NOW)))
});

/// `TokenVerifier::verify` on hostile tokens, checked against jsonwebtoken.
///
/// An input that starts with `{` is `<header>\n<payload>`, both used byte for byte
/// and signed with the verifier's key, so the fuzzer gets past the signature to
/// the claim checks. Any other input is a compact token as it is.
///
/// A token the verifier accepts must carry an HS256 MAC that jsonwebtoken checks
/// too, and the claims jsonwebtoken reads. A token that jsonwebtoken accepts under
/// the verifier's `kid` may be refused only for its claims, or for what the
/// verifier refuses on purpose (see `refused_on_purpose`).
pub fn verify(data: &[u8]) {
    let token = match data.split_first() {
        Some((b'{', _)) => {
            let (header, payload) = split_line(data);
            signed(header, payload)
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    };
    let reference = jsonwebtoken::decode::<MemberClaims>(&token, &DECODING_KEY, &VALIDATION)
        .ok()
        .filter(|decoded| decoded.header.kid.as_deref() == Some(KEY_ID))
        .map(|decoded| decoded.claims);
    match VERIFIER.verify(&token) {
        Ok(claims) => {
            assert!(
                is_hs256_signed(&token),
                "accepted a token not signed with HS256"
            );
            // jsonwebtoken refuses ill-typed header fields the verifier never reads.
            if let Some(reference) = &reference {
                assert_eq!(&claims, reference, "jsonwebtoken reads other claims");
            }
            assert!(claims.exp + LEEWAY > NOW, "accepted an expired token");
            assert!(
                claims.iat <= NOW + LEEWAY,
                "accepted a token from the future"
            );
            assert!(
                claims.iat < claims.exp && claims.exp - claims.iat <= DAY,
                "accepted a token living over 24 hours"
            );
            assert!(claims.sub.starts_with("mem_"), "accepted a bad subject");
            assert_ne!(claims.act.as_ref(), Some(&claims.sub), "actor is subject");
        }
        Err(err) => {
            assert_hidden(&format!("{err} {err:?}"), &token);
            let refusable = token.len() > MAX_TOKEN_LEN || refused_on_purpose(&token);
            if let Some(claims) = reference.filter(|_| !refusable) {
                let claims_refused = match err.kind() {
                    ErrorKind::InvalidToken => claims.iat > NOW + LEEWAY,
                    kind => matches!(
                        kind,
                        ErrorKind::Expired
                            | ErrorKind::InvalidExpiry
                            | ErrorKind::InvalidMemberId
                            | ErrorKind::ActorIsSubject
                    ),
                };
                assert!(claims_refused, "refused a good token: {err:?}");
            }
        }
    }
}

/// `ApplicationVerifier::verify` on hostile tokens.
///
/// An input that starts with `{` is `<header>\n<payload>`, both used byte for byte
/// and signed with the application's Ed25519 key, so the fuzzer gets past the
/// signature to the header and claim checks. Any other input is a compact token
/// as it is.
///
/// A token the verifier accepts must say `alg` `EdDSA` with no `crit`, carry a
/// signature that ed25519-dalek's `verify_strict` accepts, and claims that keep
/// the rules: this application, a `usr_` user, not expired, at most 24 hours long.
/// No error may quote the token.
pub fn application(data: &[u8]) {
    let token = match data.split_first() {
        Some((b'{', _)) => {
            let (header, payload) = split_line(data);
            let message = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload)
            );
            let signature = APPLICATION_KEY.sign(message.as_bytes()).to_bytes();
            format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    };
    match APPLICATION_VERIFIER.verify(&token) {
        Ok(claims) => {
            let header = decoded_parts(&token)
                .and_then(|(header, _)| serde_json::from_slice::<serde_json::Value>(&header).ok())
                .expect("an accepted token has a JSON header");
            assert_eq!(header["alg"], "EdDSA", "accepted another algorithm");
            assert!(header.get("crit").is_none(), "accepted crit");
            assert!(
                is_strictly_ed25519_signed(&token),
                "accepted a bad signature"
            );
            assert_eq!(
                claims.application, APPLICATION_ID,
                "accepted another application"
            );
            assert!(claims.user.starts_with("usr_"), "accepted a bad user");
            let (iat, exp) = (seconds(claims.issued_at), seconds(claims.expires_at));
            assert!(exp + LEEWAY > NOW, "accepted an expired token");
            assert!(iat <= NOW + LEEWAY, "accepted a token from the future");
            assert!(
                iat < exp && exp - iat <= DAY,
                "accepted a token living over 24 hours"
            );
        }
        Err(err) => assert_hidden(&format!("{err} {err:?}"), &token),
    }
}

/// Whether the token's last part is an Ed25519 signature of the rest by the
/// application key, under ed25519-dalek's strict rules.
fn is_strictly_ed25519_signed(token: &str) -> bool {
    let Some((message, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Some(signature) = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
    else {
        return false;
    };
    APPLICATION_KEY
        .verifying_key()
        .verify_strict(message.as_bytes(), &Signature::from_bytes(&signature))
        .is_ok()
}

/// `ApiKey::new` on `<id>\n<secret>`, and `UserToken::new` on the whole input.
///
/// A key that is accepted must sign a token its own verifier accepts.
pub fn credentials(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (id, secret) = text.split_once('\n').unwrap_or((&text, ""));
    match ApiKey::new(id, secret) {
        Ok(key) => {
            assert_eq!(key.id(), id);
            let expected = if secret.starts_with("sk_live_") {
                KeyMode::Live
            } else {
                KeyMode::Test
            };
            assert_eq!(key.mode(), expected);
            assert_hidden(&format!("{key:?}"), secret);
            let token = TokenSigner::new(key.clone())
                .sign(&MemberGrant::member("mem_1"))
                .expect("a valid key signs");
            TokenVerifier::new([key])
                .unwrap()
                .verify(token.as_str())
                .expect("a valid key's token verifies");
        }
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::InvalidApiKey);
            assert_hidden(&format!("{err} {err:?}"), secret);
        }
    }
    match UserToken::new(text.as_ref()) {
        Ok(token) => assert_hidden(&format!("{token:?}"), &text),
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::InvalidUserToken);
            assert_hidden(&format!("{err} {err:?}"), &text);
        }
    }
}

/// Grant validation and `TokenSigner::sign`, at any time, with any backdate.
///
/// A token that is signed must keep Source's rules, carry the grant, and verify
/// at the time it was signed.
pub fn grant(data: &[u8]) {
    let mut input = Unstructured::new(data);
    let Ok((grant, clock, backdate)) = grant_input(&mut input) else {
        return;
    };
    let signer = TokenSigner::new(KEY.clone())
        .with_clock(clock.clone())
        .iat_backdate(backdate);
    let token = match signer.sign(&grant) {
        Ok(token) => token,
        Err(err) => {
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::InvalidMemberId
                        | ErrorKind::ActorIsSubject
                        | ErrorKind::InvalidScope
                        | ErrorKind::InvalidExpiry
                ),
                "unexpected error: {err:?}"
            );
            return;
        }
    };
    let claims = token.claims();
    assert_eq!(claims.sub, grant.subject());
    assert_eq!(claims.act.as_deref(), grant.actor());
    assert_eq!(claims.scopes, grant.scopes_granted());
    let now = seconds(clock.now());
    assert!(now < claims.exp && claims.exp - now <= DAY, "bad exp");
    assert!(
        claims.iat <= now && claims.exp - claims.iat <= DAY,
        "bad iat"
    );
    assert_eq!(token.expires_at(), at(claims.exp));
    assert_hidden(&format!("{token:?}"), token.as_str());
    let verified = TokenVerifier::new([KEY.clone()])
        .unwrap()
        .with_clock(clock)
        .verify(token.as_str())
        .expect("a token just signed verifies");
    assert_eq!(&verified, claims);
}

/// MockSource's `Authorization` parsing.
///
/// What it accepts must be the header's own credential: the bearer token as
/// written, or the user name that re-encodes to the Basic credentials exactly.
pub fn authorization(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let Ok(presented) = parse_authorization(&value) else {
        return;
    };
    let credential = presented.credential();
    let text = value.to_str().expect("an accepted header is visible ASCII");
    assert!(!credential.is_empty());
    match presented.scheme() {
        Scheme::Bearer => {
            assert!(!credential.contains([' ', '\t']));
            assert!(text.contains(credential));
        }
        Scheme::Basic => assert!(text.contains(&STANDARD.encode(format!("{credential}:")))),
        other => panic!("unknown scheme {other:?}"),
    }
    assert_hidden(&format!("{presented:?}"), credential);
}

/// A grant, a clock and a backdate, each drawn from the fuzzer's bytes.
fn grant_input(
    input: &mut Unstructured<'_>,
) -> arbitrary::Result<(MemberGrant, ManualClock, Duration)> {
    let subject = member_id(input)?;
    let mut grant = if input.arbitrary()? {
        MemberGrant::member(subject).caregiver(member_id(input)?)
    } else {
        MemberGrant::member(subject)
    };
    grant = grant.scopes(input.arbitrary::<Vec<String>>()?);
    if input.arbitrary()? {
        grant = grant.ttl(input.arbitrary()?);
    } else if let Some(when) = UNIX_EPOCH.checked_add(input.arbitrary()?) {
        grant = grant.expires_at(when);
    }
    let clock = ManualClock::new(
        UNIX_EPOCH
            .checked_add(input.arbitrary()?)
            .unwrap_or(UNIX_EPOCH),
    );
    Ok((grant, clock, input.arbitrary()?))
}

/// Mostly `mem_` and something, so the fuzzer reaches past the id checks.
fn member_id(input: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let rest: String = input.arbitrary()?;
    Ok(if input.arbitrary()? {
        format!("mem_{rest}")
    } else {
        rest
    })
}

/// The bytes before and after the first newline.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// The token's header and claims, decoded; `None` unless both are base64url.
fn decoded_parts(token: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut parts = token
        .split('.')
        .map(|part| URL_SAFE_NO_PAD.decode(part).ok());
    Some((parts.next()??, parts.next()??))
}

/// Whether the header says HS256 and the signature is the HS256 MAC of the rest
/// under the fuzz key, as jsonwebtoken computes it.
fn is_hs256_signed(token: &str) -> bool {
    let Some((message, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let alg = decoded_parts(token)
        .and_then(|(header, _)| serde_json::from_slice::<serde_json::Value>(&header).ok())
        .and_then(|header| header.get("alg").cloned());
    alg == Some("HS256".into())
        && jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &DECODING_KEY,
            Algorithm::HS256,
        )
        .unwrap_or(false)
}

/// Tokens jsonwebtoken accepts and the verifier refuses on purpose: a header over
/// the 256 bytes it reads; a header with `crit` in any form, `null` included
/// (jsonwebtoken knows `b64`, RFC 7797; the verifier none, RFC 7515 section
/// 4.1.11, and Source never writes `crit`); a header or claims
/// that are not UTF-8, as JSON must be (RFC 8259), which jsonwebtoken lets pass in
/// the fields it skips.
fn refused_on_purpose(token: &str) -> bool {
    let Some((header, claims)) = decoded_parts(token) else {
        return false;
    };
    header.len() > MAX_HEADER_LEN
        || std::str::from_utf8(&header).is_err()
        || std::str::from_utf8(&claims).is_err()
        || serde_json::from_slice::<serde_json::Value>(&header)
            .is_ok_and(|header| header.get("crit").is_some())
}

/// A compact JWS of `header` and `payload`, HS256 with the fuzz key.
fn signed(header: &[u8], payload: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &ENCODING_KEY, Algorithm::HS256)
        .expect("HS256 signs any message");
    format!("{message}.{signature}")
}

/// Panics if `secret` shows in `shown`.
fn assert_hidden(shown: &str, secret: &str) {
    if secret.len() >= LEAK_CHECK_MIN_LEN && !secret.contains(char::is_whitespace) {
        assert!(!shown.contains(secret), "secret leaked into {shown:?}");
    }
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .expect("ManualClock never reads before the epoch")
        .as_secs()
}
