//! Application tokens: `ApplicationKey`, `ApplicationVerifier` against a table of
//! hostile tokens, and the tokens MockSource issues.

mod common;

use common::NOW;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use source_auth::application::{ApplicationKey, ApplicationVerifier};
use source_auth::testing::MockSource;
use source_auth::{ErrorKind, ManualClock};

const APP: &str = "app_5QW8j1oKqQjNaPk4Hv3f";
const USER: &str = "usr_2bXq9VtLm4Rk7WcP1sZd";
/// The group order of Ed25519, little-endian: a signature's `s` must be below it.
const ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn x_of(key: &SigningKey) -> String {
    URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())
}

fn jwk(key: &SigningKey) -> String {
    format!(
        r#"{{"kty":"OKP","crv":"Ed25519","x":"{}","alg":"EdDSA"}}"#,
        x_of(key)
    )
}

fn public(key: &SigningKey) -> ApplicationKey {
    ApplicationKey::from_jwk(&jwk(key)).expect("a public Ed25519 JWK")
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn verifier() -> ApplicationVerifier {
    ApplicationVerifier::new(APP, [public(&signing_key(1))])
        .unwrap()
        .with_clock(ManualClock::new(at(NOW)))
}

fn header() -> Value {
    json!({ "alg": "EdDSA", "crv": "Ed25519", "kid": APP })
}

/// Source's payload, issued a minute ago.
fn claims() -> Value {
    json!({
        "purpose": "verification", "app": APP, "usr": USER,
        "iat": NOW - 60, "iss": "sourcehealth", "exp": NOW - 60 + 900,
    })
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn signed_with(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let signature = key.sign(input.as_bytes()).to_bytes();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Signed with the verifier's key.
fn signed(header: &Value, claims: &Value) -> String {
    signed_with(&signing_key(1), header, claims)
}

/// HS256-signed with `secret` as the HMAC key: the algorithm-confusion attack.
fn hs256(secret: &[u8], claims: &Value) -> String {
    let input = signing_input(&json!({ "alg": "HS256", "kid": APP }), claims);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn with(claims: Value, field: &str, value: Value) -> Value {
    let mut claims = claims;
    claims[field] = value;
    claims
}

fn without(claims: Value, field: &str) -> Value {
    let mut claims = claims;
    claims.as_object_mut().unwrap().remove(field);
    claims
}

/// Replaces the signature segment of `token`.
fn with_signature(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn signature_of(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(token.rsplit_once('.').unwrap().1)
        .unwrap()
}

/// `s + L` in place, little-endian: the same signature in a non-canonical form.
fn malleate(signature: &mut [u8]) {
    let mut carry = 0u16;
    for (byte, order) in signature[32..].iter_mut().zip(ORDER) {
        let sum = u16::from(*byte) + u16::from(order) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "s + L fits in 32 bytes");
}

#[test]
fn a_token_shaped_as_sources_verifies() {
    let token = signed(&header(), &claims());
    let claims = verifier().verify(&token).expect("a good token");
    assert_eq!(claims.user, USER);
    assert_eq!(claims.application, APP);
    assert_eq!(claims.purpose, "verification");
    assert_eq!(claims.issued_at, at(NOW - 60));
    assert_eq!(claims.expires_at, at(NOW + 840));
}

#[test]
fn hostile_tokens_are_refused_each_with_its_kind() {
    let good = signed(&header(), &claims());
    let key = signing_key(1);
    let public_bytes = key.verifying_key().to_bytes();

    let mut flipped = signature_of(&good);
    flipped[10] ^= 0x01;
    let mut malleated = signature_of(&good);
    malleate(&mut malleated);
    let (good_header, _) = good.split_once('.').unwrap();
    let tampered = format!(
        "{good_header}.{}.{}",
        URL_SAFE_NO_PAD.encode(with(claims(), "usr", json!("usr_mallory")).to_string()),
        good.rsplit_once('.').unwrap().1
    );
    let none = format!(
        "{}.",
        signing_input(&json!({ "alg": "none", "kid": APP }), &claims())
    );

    let cases: Vec<(&str, String, ErrorKind)> = vec![
        ("alg none", none, ErrorKind::InvalidToken),
        (
            "HS256 keyed with the public key's bytes",
            hs256(&public_bytes, &claims()),
            ErrorKind::InvalidToken,
        ),
        (
            "HS256 keyed with the public key's base64url text",
            hs256(x_of(&key).as_bytes(), &claims()),
            ErrorKind::InvalidToken,
        ),
        (
            "HS256 keyed with the JWK text",
            hs256(jwk(&key).as_bytes(), &claims()),
            ErrorKind::InvalidToken,
        ),
        (
            "RS256 header",
            signed(&json!({ "alg": "RS256" }), &claims()),
            ErrorKind::InvalidToken,
        ),
        (
            "Ed25519 named by its curve (RFC 9864), not EdDSA",
            signed(&json!({ "alg": "Ed25519" }), &claims()),
            ErrorKind::InvalidToken,
        ),
        (
            "crit",
            signed(
                &json!({ "alg": "EdDSA", "crit": ["exp"], "exp": NOW }),
                &claims(),
            ),
            ErrorKind::InvalidToken,
        ),
        ("tampered payload", tampered, ErrorKind::InvalidToken),
        (
            "a flipped signature bit",
            with_signature(&good, &flipped),
            ErrorKind::InvalidToken,
        ),
        (
            "non-canonical signature (s + L)",
            with_signature(&good, &malleated),
            ErrorKind::InvalidToken,
        ),
        (
            "a truncated signature",
            with_signature(&good, &signature_of(&good)[..63]),
            ErrorKind::InvalidToken,
        ),
        (
            "another key",
            signed_with(&signing_key(2), &header(), &claims()),
            ErrorKind::InvalidToken,
        ),
        (
            "wrong issuer",
            signed(&header(), &with(claims(), "iss", json!("someone-else"))),
            ErrorKind::WrongIssuer,
        ),
        (
            "missing issuer",
            signed(&header(), &without(claims(), "iss")),
            ErrorKind::InvalidToken,
        ),
        (
            "wrong application",
            signed(&header(), &with(claims(), "app", json!("app_other"))),
            ErrorKind::WrongApplication,
        ),
        (
            "missing application",
            signed(&header(), &without(claims(), "app")),
            ErrorKind::InvalidToken,
        ),
        (
            "missing user",
            signed(&header(), &without(claims(), "usr")),
            ErrorKind::InvalidToken,
        ),
        (
            "malformed user",
            signed(&header(), &with(claims(), "usr", json!("mem_5QW8j1oK"))),
            ErrorKind::InvalidUserId,
        ),
        (
            "user of another type",
            signed(&header(), &with(claims(), "usr", json!(42))),
            ErrorKind::InvalidToken,
        ),
        (
            "missing purpose",
            signed(&header(), &without(claims(), "purpose")),
            ErrorKind::InvalidToken,
        ),
        (
            "expired past the leeway",
            signed(&header(), &with(claims(), "exp", json!(NOW - 31))),
            ErrorKind::Expired,
        ),
        (
            "no exp",
            signed(&header(), &without(claims(), "exp")),
            ErrorKind::InvalidToken,
        ),
        (
            "no iat",
            signed(&header(), &without(claims(), "iat")),
            ErrorKind::InvalidToken,
        ),
        (
            "iat in the future",
            signed(&header(), &with(claims(), "iat", json!(NOW + 120))),
            ErrorKind::InvalidToken,
        ),
        (
            "nbf in the future",
            signed(&header(), &with(claims(), "nbf", json!(NOW + 120))),
            ErrorKind::InvalidToken,
        ),
        (
            "exp before iat",
            signed(
                &header(),
                &with(with(claims(), "iat", json!(NOW)), "exp", json!(NOW - 1)),
            ),
            ErrorKind::InvalidExpiry,
        ),
        (
            "exp equal to iat",
            signed(
                &header(),
                &with(with(claims(), "iat", json!(NOW)), "exp", json!(NOW)),
            ),
            ErrorKind::InvalidExpiry,
        ),
        (
            "lives over 24 hours",
            signed(&header(), &with(claims(), "exp", json!(NOW - 60 + 86_401))),
            ErrorKind::InvalidExpiry,
        ),
        (
            "garbage",
            "not a token at all".to_owned(),
            ErrorKind::InvalidToken,
        ),
        (
            "four parts",
            format!("{good}.{}", "AAAA"),
            ErrorKind::InvalidToken,
        ),
        (
            "oversize",
            signed(
                &header(),
                &with(claims(), "purpose", json!("p".repeat(8 * 1024))),
            ),
            ErrorKind::TokenTooLarge,
        ),
    ];
    let verifier = verifier();
    for (name, token, expected) in cases {
        let err = verifier
            .verify(&token)
            .expect_err(&format!("{name} is refused"));
        assert_eq!(err.kind(), expected, "{name}: {err}");
        let shown = format!("{err} {err:?}");
        for part in token.split('.').filter(|part| part.len() > 8) {
            assert!(!shown.contains(part), "{name}: the error quotes the token");
        }
    }
}

#[test]
fn leeway_and_clock_decide_expiry() {
    let clock = ManualClock::new(at(NOW));
    let verifier = ApplicationVerifier::new(APP, [public(&signing_key(1))])
        .unwrap()
        .with_clock(clock.clone());
    let token = signed(&header(), &claims());
    assert!(verifier.verify(&token).is_ok());
    // exp is NOW + 840; 20 s past it is inside the default 30 s leeway.
    clock.set(at(NOW + 860));
    assert!(verifier.verify(&token).is_ok());
    let strict = verifier.clone().leeway(Duration::ZERO);
    assert_eq!(
        strict.verify(&token).unwrap_err().kind(),
        ErrorKind::Expired
    );
    clock.set(at(NOW + 871));
    assert_eq!(
        verifier.verify(&token).unwrap_err().kind(),
        ErrorKind::Expired
    );
}

#[test]
fn a_key_with_a_kid_takes_only_tokens_naming_it() {
    let key = signing_key(1);
    let with_kid = format!(
        r#"{{"kty":"OKP","crv":"Ed25519","x":"{}","kid":"key-2024"}}"#,
        x_of(&key)
    );
    let with_kid = ApplicationKey::from_jwk(&with_kid).unwrap();
    assert_eq!(with_kid.key_id(), Some("key-2024"));
    let verifier = ApplicationVerifier::new(APP, [with_kid])
        .unwrap()
        .with_clock(ManualClock::new(at(NOW)));

    let named = signed(&json!({ "alg": "EdDSA", "kid": "key-2024" }), &claims());
    assert!(verifier.verify(&named).is_ok());
    for header in [header(), json!({ "alg": "EdDSA" })] {
        let err = verifier.verify(&signed(&header, &claims())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownKey, "{header}");
    }
}

#[test]
fn during_a_rotation_either_key_verifies() {
    let verifier =
        ApplicationVerifier::new(APP, [public(&signing_key(1)), public(&signing_key(2))])
            .unwrap()
            .with_clock(ManualClock::new(at(NOW)));
    for seed in [1, 2] {
        let token = signed_with(&signing_key(seed), &header(), &claims());
        assert!(verifier.verify(&token).is_ok(), "key {seed}");
    }
    let token = signed_with(&signing_key(3), &header(), &claims());
    assert_eq!(
        verifier.verify(&token).unwrap_err().kind(),
        ErrorKind::InvalidToken
    );
    let no_keys = ApplicationVerifier::new(APP, []).unwrap_err();
    assert_eq!(no_keys.kind(), ErrorKind::NoVerificationKeys);
}

#[test]
fn jwks_are_read_and_written_back() {
    let key = signing_key(1);
    let public = ApplicationKey::from_jwk(&jwk(&key)).unwrap();
    assert_eq!(public.to_jwk(), jwk(&key));
    assert_eq!(public.key_id(), None);
    // RFC 8037, appendix A: no `alg`, other members ignored, `kid` written back last.
    let rfc = r#"{"kty":"OKP","crv":"Ed25519","use":"sig","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    assert_eq!(
        ApplicationKey::from_jwk(rfc).unwrap().to_jwk(),
        r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"EdDSA","kid":"k1"}"#
    );
}

#[test]
fn jwks_that_are_not_public_ed25519_keys_are_refused() {
    let x = x_of(&signing_key(1));
    let d = URL_SAFE_NO_PAD.encode([1u8; 32]);
    let identity_point = URL_SAFE_NO_PAD.encode({
        let mut bytes = [0u8; 32];
        bytes[0] = 1;
        bytes
    });
    let cases = [
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"{d}"}}"#),
        format!(r#"{{"kty":"RSA","crv":"Ed25519","x":"{x}"}}"#),
        format!(r#"{{"kty":"OKP","crv":"X25519","x":"{x}"}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed448","x":"{x}"}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"HS256"}}"#),
        format!(r#"{{"kty":"OKP","x":"{x}"}}"#),
        r#"{"kty":"OKP","crv":"Ed25519"}"#.to_owned(),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, &x[..40]),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}AA"}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}="}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{identity_point}"}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":7}}"#),
        x.clone(),
        String::new(),
        format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","pad":"{}"}}"#,
            "a".repeat(5000)
        ),
        // Read strictly: a `d` of any value, a `use` other than `sig`, `key_ops`
        // without `verify`.
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":null}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":""}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","use":"enc"}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","use":null}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","key_ops":["sign"]}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","key_ops":[]}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","key_ops":"verify"}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","key_ops":["verify",1]}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","key_ops":null}}"#),
    ];
    for jwk in cases {
        let err = ApplicationKey::from_jwk(&jwk).expect_err(&jwk);
        assert_eq!(err.kind(), ErrorKind::InvalidApplicationKey, "{jwk}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&x) && !shown.contains(&d), "{shown}");
    }
}

#[test]
fn a_private_jwk_is_refused_with_a_message_that_says_so() {
    let x = x_of(&signing_key(1));
    for d in ["null", r#""""#, r#""AAAA""#] {
        let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":{d}}}"#);
        let message = ApplicationKey::from_jwk(&jwk).unwrap_err().to_string();
        assert!(
            message.contains("private key") && message.contains("public key"),
            "{message}"
        );
    }
}

/// `Debug` shows the key id and the public key, which are not secret, and
/// nothing else.
#[test]
fn an_application_keys_debug_shows_its_id_and_public_key() {
    let x = x_of(&signing_key(1));
    let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"k1"}}"#);
    let key = ApplicationKey::from_jwk(&jwk).unwrap();
    assert_eq!(
        format!("{key:?}"),
        format!(r#"ApplicationKey {{ kid: Some("k1"), x: "{x}" }}"#)
    );
}

/// A token of exactly 8 KiB is read (and refused for what it says); one byte
/// more is refused unread.
#[test]
fn the_token_size_cap_is_exactly_8_kib() {
    let verifier = verifier();
    let good = signed(&header(), &claims());
    let padded = |len: usize| format!("{good}{}", "A".repeat(len - good.len()));
    assert_eq!(
        verifier.verify(&padded(8 * 1024)).unwrap_err().kind(),
        ErrorKind::InvalidToken
    );
    assert_eq!(
        verifier.verify(&padded(8 * 1024 + 1)).unwrap_err().kind(),
        ErrorKind::TokenTooLarge
    );
}

#[test]
fn jwks_for_signature_verification_are_accepted() {
    let x = x_of(&signing_key(1));
    for extra in [
        r#""use":"sig""#,
        r#""key_ops":["verify"]"#,
        r#""key_ops":["sign","verify"]"#,
        r#""use":"sig","key_ops":["verify"]"#,
    ] {
        let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}",{extra}}}"#);
        let key = ApplicationKey::from_jwk(&jwk).expect(&jwk);
        assert!(key.to_jwk().contains(&x), "{jwk}");
    }
}

/// A JWK of exactly 4 KiB is read; one byte more is refused unread.
#[test]
fn the_jwk_size_cap_is_exactly_4_kib() {
    let x = x_of(&signing_key(1));
    let with_padding = |len: usize| {
        let bare = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","pad":""}}"#);
        let jwk = format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","pad":"{}"}}"#,
            "a".repeat(len - bare.len())
        );
        assert_eq!(jwk.len(), len);
        ApplicationKey::from_jwk(&jwk)
    };
    let at_cap = with_padding(4096).expect("a 4 KiB JWK is read");
    assert!(at_cap.to_jwk().contains(&x));
    assert_eq!(
        with_padding(4097).unwrap_err().kind(),
        ErrorKind::InvalidApplicationKey
    );
}

#[tokio::test]
async fn mock_source_issues_tokens_exactly_as_source_shapes_them() {
    let clock = ManualClock::new(at(NOW));
    let source = MockSource::start().await.unwrap().with_clock(clock.clone());
    let key = source.application(APP).unwrap();
    let token = source.application_token(APP, USER).unwrap();

    let mut parts = token
        .split('.')
        .map(|part| URL_SAFE_NO_PAD.decode(part).unwrap());
    let (header, payload, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert_eq!(
        String::from_utf8(header).unwrap(),
        format!(r#"{{"alg":"EdDSA","crv":"Ed25519","kid":"{APP}"}}"#)
    );
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        format!(
            r#"{{"purpose":"verification","app":"{APP}","usr":"{USER}","iat":{NOW},"iss":"sourcehealth","exp":{}}}"#,
            NOW + 900
        )
    );
    assert_eq!(signature.len(), 64);

    let verifier = ApplicationVerifier::new(APP, [key.clone()])
        .unwrap()
        .with_clock(clock.clone());
    let claims = verifier.verify(&token).unwrap();
    assert_eq!(
        (claims.user.as_str(), claims.application.as_str()),
        (USER, APP)
    );
    clock.advance(Duration::from_secs(931));
    assert_eq!(
        verifier.verify(&token).unwrap_err().kind(),
        ErrorKind::Expired
    );

    // One key per application, kept.
    assert_eq!(source.application(APP).unwrap(), key);
    let other = source.application("app_other1").unwrap();
    assert_ne!(other, key);
    let other_token = source.application_token("app_other1", USER).unwrap();
    assert_eq!(
        ApplicationVerifier::new(APP, [key])
            .unwrap()
            .with_clock(clock)
            .verify(&other_token)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidToken
    );
}

#[tokio::test]
async fn mock_source_refuses_malformed_ids() {
    let source = MockSource::start().await.unwrap();
    for id in ["", "app_", "key_1", "app_a-b"] {
        assert_eq!(
            source.application(id).unwrap_err().kind(),
            ErrorKind::InvalidApplicationId,
            "{id}"
        );
        assert_eq!(
            source.application_token(id, USER).unwrap_err().kind(),
            ErrorKind::InvalidApplicationId,
            "{id}"
        );
    }
    for user in ["", "usr_", "mem_1", "usr_a b"] {
        assert_eq!(
            source.application_token(APP, user).unwrap_err().kind(),
            ErrorKind::InvalidUserId,
            "{user}"
        );
    }
}

#[test]
fn verify_signature_checks_the_signature_and_nothing_claimed() {
    let verifier = verifier();
    let key = signing_key(1);
    let mut wrong_claims = claims();
    wrong_claims["iss"] = json!("someone");
    wrong_claims["app"] = json!("app_other1");
    wrong_claims["usr"] = json!("not a user");
    wrong_claims["exp"] = json!(NOW - 3600);
    let wrong_but_signed = signed_with(&key, &header(), &wrong_claims);
    assert!(verifier.verify(&wrong_but_signed).is_err());
    let checked = verifier.verify_signature(&wrong_but_signed);
    assert!(checked.is_ok(), "{checked:?}");
    let checked = verifier.verify_signature(&signed_with(&key, &header(), &claims()));
    assert!(checked.is_ok(), "{checked:?}");

    let forged = signed_with(&signing_key(2), &header(), &claims());
    let hs256 = signed_with(&key, &json!({ "alg": "HS256", "kid": APP }), &claims());
    let huge = signed_with(&key, &header(), &json!({ "pad": "a".repeat(9000) }));
    for (token, kind) in [
        (forged.as_str(), ErrorKind::InvalidToken),
        (hs256.as_str(), ErrorKind::InvalidToken),
        ("not.a.jwt", ErrorKind::InvalidToken),
        (huge.as_str(), ErrorKind::TokenTooLarge),
    ] {
        let err = verifier.verify_signature(token).unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
    }
}

#[test]
fn verify_signature_reads_tokens_of_up_to_8_kib() {
    let key = signing_key(1);
    // A signed token of exactly `len` bytes, padded in its claims: each byte of
    // padding adds about 4/3 of a character, so only a few paddings are tried.
    let padded = |pad: usize, extra: usize| {
        let mut claims = claims();
        claims["pad"] = json!("a".repeat(pad));
        claims["x"] = json!("b".repeat(extra));
        signed_with(&key, &header(), &claims)
    };
    let unpadded = padded(0, 0).len();
    let token_of = |len: usize| {
        let around = (len - unpadded) * 3 / 4;
        (around.saturating_sub(3)..around + 3)
            .flat_map(|pad| (0..3).map(move |extra| (pad, extra)))
            .map(|(pad, extra)| padded(pad, extra))
            .find(|token| token.len() == len)
            .expect("some padding gives that length")
    };
    let verifier = verifier();
    let largest = verifier.verify_signature(&token_of(8 * 1024));
    assert!(largest.is_ok(), "{largest:?}");
    let over = verifier
        .verify_signature(&token_of(8 * 1024 + 1))
        .unwrap_err();
    assert_eq!(over.kind(), ErrorKind::TokenTooLarge);
}
