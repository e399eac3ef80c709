//! The validation table: each rule, an input that breaks it, and the `ErrorKind` it
//! gives, with the inputs just inside each limit accepted. Then: no error message
//! and no `Debug` output ever shows a secret or a token.

mod common;
mod jws;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt::Debug;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Hmac;
use sha2::{Sha256, Sha384, Sha512};
use source_auth::{
    ApiKey, Credential, Error, ErrorKind, KeyMode, ManualClock, MemberGrant, TokenSigner,
    TokenVerifier, UserToken,
};

use common::NOW;
use jws::{KEY_ID, SECRET, api_key, b64, header, hs256, sign_with};

/// The instant tokens are signed and verified at; signing adds a quarter second so
/// that rounding down shows.
const SUBJECT: &str = "mem_5QW8j1oKqQjNaPk4Hv3f";
const ACTOR: &str = "mem_2bXq9VtLm4Rk7WcP1sZd";
const DAY: u64 = 24 * 60 * 60;

/// Checks that `result` is `Err` of `kind`, or `Ok` when `kind` is `None`.
#[track_caller]
fn expect<T: Debug>(rule: &str, result: Result<T, Error>, kind: Option<ErrorKind>) {
    match (result, kind) {
        (Ok(_), None) => {}
        (Err(err), Some(kind)) => assert_eq!(err.kind(), kind, "{rule}: {err}"),
        (result, kind) => panic!("{rule}: expected {kind:?}, got {result:?}"),
    }
}

/// `sk_test_` padded with letters to exactly `len` bytes.
fn secret_of_len(len: usize) -> String {
    format!("sk_test_{}", "a".repeat(len - "sk_test_".len()))
}

fn signing_clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::new(NOW, 250_000_000))
}

fn signer() -> TokenSigner {
    TokenSigner::new(api_key()).with_clock(signing_clock())
}

fn verifier_at(secs: u64) -> TokenVerifier {
    TokenVerifier::new([api_key()])
        .unwrap()
        .with_clock(ManualClock::new(UNIX_EPOCH + Duration::from_secs(secs)))
}

/// A payload as Source's Node client writes it.
fn payload(sub: &str, act: Option<&str>, iat: u64, exp: u64) -> String {
    let act = act.map_or(String::new(), |act| format!(r#","act":"{act}""#));
    format!(r#"{{"sub":"{sub}"{act},"iat":{iat},"exp":{exp},"scopes":[]}}"#)
}

/// A correctly signed token for `payload` under the usual header.
fn hand_signed(payload: &str) -> String {
    hs256(&header(KEY_ID), payload, SECRET)
}

#[test]
fn api_key_id() {
    let too_long = format!("key_{}", "a".repeat(65));
    for (rule, id) in [
        ("missing prefix", "0EipsUv2yRFxynHshisN"),
        ("another prefix", "mem_0EipsUv2yRFxynHshisN"),
        ("upper-case prefix", "KEY_0EipsUv2yRFxynHshisN"),
        ("empty", ""),
        ("empty after the prefix", "key_"),
        ("a dash", "key_0Eips-Uv2y"),
        ("an underscore after the prefix", "key_0Eips_Uv2y"),
        ("a space", "key_0Eips Uv2y"),
        ("a line break", "key_0Eips\nUv2y"),
        ("non-ASCII", "key_0Eipsé"),
        ("65 characters after the prefix", &too_long),
    ] {
        expect(
            rule,
            ApiKey::new(id, SECRET),
            Some(ErrorKind::InvalidApiKey),
        );
    }
    let longest = format!("key_{}", "a".repeat(64));
    for id in [KEY_ID, "key_a", &longest] {
        expect(id, ApiKey::new(id, SECRET), None);
    }
}

#[test]
fn api_key_secret() {
    let pad = "4eC39HqLyjWDarjtT1zdp7dc00000000";
    let cases = [
        ("publishable prefix", format!("pk_test_{pad}")),
        ("unknown mode", format!("sk_prod_{pad}")),
        ("upper-case prefix", format!("SK_TEST_{pad}")),
        ("no underscore after the mode", format!("sk_test{pad}")),
        ("no prefix", pad.to_owned()),
        ("short", "sk_test_abc".to_owned()),
        ("31 bytes", secret_of_len(31)),
        ("a space", format!("sk_test_{pad} x")),
        ("a leading space", format!(" sk_test_{pad}")),
        ("a carriage return", format!("sk_test_{pad}\r")),
        ("a line feed", format!("sk_test_{pad}\nx")),
        ("a tab", format!("sk_test_{pad}\tx")),
        ("a NUL", format!("sk_test_{pad}\0x")),
        ("non-ASCII", format!("sk_test_{pad}é")),
        ("257 bytes", secret_of_len(257)),
    ];
    for (rule, secret) in cases {
        expect(
            rule,
            ApiKey::new(KEY_ID, secret),
            Some(ErrorKind::InvalidApiKey),
        );
    }
    for secret in [
        secret_of_len(32),
        secret_of_len(256),
        format!("sk_test_{pad}!~"),
    ] {
        expect(&secret, ApiKey::new(KEY_ID, secret.clone()), None);
    }
    assert_eq!(
        ApiKey::new(KEY_ID, format!("sk_test_{pad}"))
            .unwrap()
            .mode(),
        KeyMode::Test
    );
    assert_eq!(
        ApiKey::new(KEY_ID, format!("sk_live_{pad}"))
            .unwrap()
            .mode(),
        KeyMode::Live
    );
}

/// Run in a child process by [`from_env`], with the environment it sets: the
/// environment is process-wide, and changing it in-process is `unsafe`.
#[test]
#[ignore = "a probe that `from_env` runs in a child process"]
fn from_env_probe() {
    match ApiKey::from_env() {
        Ok(key) => println!("FROM_ENV ok {}", key.id()),
        Err(err) => println!("FROM_ENV {:?}\t{err}\t{err:?}", err.kind()),
    }
}

/// What [`from_env_probe`] says with the key's variables set to `id` and `secret`
/// (`None`: unset).
fn from_env_with(id: Option<&OsStr>, secret: Option<&OsStr>) -> String {
    let mut probe = Command::new(std::env::current_exe().expect("the test binary's path"));
    probe.args([
        "from_env_probe",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (name, value) in [("SOURCE_API_KEY_ID", id), ("SOURCE_API_KEY_SECRET", secret)] {
        match value {
            Some(value) => probe.env(name, value),
            None => probe.env_remove(name),
        };
    }
    let output = probe.output().expect("the probe runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the probe failed: {stdout}");
    stdout
        .lines()
        .find_map(|line| Some(line.split_once("FROM_ENV ")?.1))
        .unwrap_or_else(|| panic!("the probe did not run: {stdout}"))
        .to_owned()
}

#[test]
fn from_env() {
    let (id, secret) = (Some(OsStr::new(KEY_ID)), Some(OsStr::new(SECRET)));
    for (rule, id, secret) in [
        ("both unset", None, None),
        ("the id unset", None, secret),
        ("the secret unset", id, None),
    ] {
        let said = from_env_with(id, secret);
        assert!(said.starts_with("MissingEnvironment\t"), "{rule}: {said}");
        for name in ["SOURCE_API_KEY_ID", "SOURCE_API_KEY_SECRET"] {
            assert!(
                said.contains(name),
                "{rule}: the message names {name}: {said}"
            );
        }
        assert!(!said.contains(SECRET), "{rule}: the secret leaked: {said}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let not_utf8 = Some(OsStr::from_bytes(b"sk_test_\xff\xfe"));
        assert!(from_env_with(id, not_utf8).starts_with("MissingEnvironment\t"));
    }
    let short = Some(OsStr::new("sk_test_tooShortToBeUsed"));
    let said = from_env_with(id, short);
    assert!(said.starts_with("InvalidApiKey\t"), "{said}");
    assert!(
        !said.contains("tooShortToBeUsed"),
        "the secret leaked: {said}"
    );
    assert_eq!(from_env_with(id, secret), format!("ok {KEY_ID}"));
}

#[test]
fn user_token() {
    for (rule, token) in [
        ("empty", String::new()),
        ("a space", "ut_abc def".to_owned()),
        ("only a space", " ".to_owned()),
        ("a carriage return", "ut_abc\r".to_owned()),
        ("a line feed", "ut_abc\nSet-Cookie: x".to_owned()),
        ("non-ASCII", "ut_abcé".to_owned()),
        ("8193 bytes", "a".repeat(8193)),
    ] {
        expect(
            rule,
            UserToken::new(token),
            Some(ErrorKind::InvalidUserToken),
        );
    }
    for token in ["ut_abc123".to_owned(), "a".repeat(8192)] {
        expect("valid", UserToken::new(token), None);
    }
}

#[test]
fn member_ids() {
    let too_long = format!("mem_{}", "a".repeat(65));
    let bad_ids = [
        ("empty", ""),
        ("prefix only", "mem_"),
        ("no underscore", "mem5QW8"),
        ("another prefix", "usr_5QW8j1oKqQjNaPk4Hv3f"),
        ("upper-case prefix", "MEM_5QW8j1oKqQjNaPk4Hv3f"),
        ("a dash", "mem_5QW8-1"),
        ("a space", "mem_5QW8 1"),
        ("a quote", "mem_5QW8\"1"),
        ("non-ASCII", "mem_5QW8é"),
        ("65 characters after the prefix", &too_long),
    ];
    for (rule, id) in bad_ids {
        let as_subject = signer().sign(&MemberGrant::member(id));
        expect(rule, as_subject, Some(ErrorKind::InvalidMemberId));
        let as_actor = signer().sign(&MemberGrant::member(SUBJECT).caregiver(id));
        expect(rule, as_actor, Some(ErrorKind::InvalidMemberId));
    }
    let same = signer().sign(&MemberGrant::member(SUBJECT).caregiver(SUBJECT));
    expect("actor is subject", same, Some(ErrorKind::ActorIsSubject));

    let longest = format!("mem_{}", "a".repeat(64));
    expect(
        "64 characters",
        signer().sign(&MemberGrant::member(&longest)),
        None,
    );
    expect(
        "caregiver",
        signer().sign(&MemberGrant::member(SUBJECT).caregiver(ACTOR)),
        None,
    );
}

#[test]
fn scopes() {
    let grant = |scopes: &[&str]| MemberGrant::member(SUBJECT).scopes(scopes.to_vec());
    let too_long = "a".repeat(129);
    for (rule, scope) in [
        ("empty", ""),
        ("a space", "read profile"),
        ("a line feed", "read\n"),
        ("a carriage return", "read\r"),
        ("a tab", "read\t"),
        ("non-ASCII", "lire:profilé"),
        ("129 characters", &too_long),
    ] {
        let result = signer().sign(&grant(&["read:profile", scope]));
        expect(rule, result, Some(ErrorKind::InvalidScope));
    }
    let longest = "a".repeat(128);
    expect(
        "valid",
        signer().sign(&grant(&["read:profile", "!~", &longest])),
        None,
    );
    expect("none", signer().sign(&grant(&[])), None);

    // At most 32 scopes, and 1 KiB of them in all.
    let thirty_two = vec!["s"; 32];
    expect("32 scopes", signer().sign(&grant(&thirty_two)), None);
    let thirty_three = vec!["s"; 33];
    let result = signer().sign(&grant(&thirty_three));
    expect("33 scopes", result, Some(ErrorKind::InvalidScope));
    let scope = "a".repeat(128);
    let kib = vec![scope.as_str(); 8];
    expect("1 KiB of scopes", signer().sign(&grant(&kib)), None);
    let over = [kib.as_slice(), &["a"]].concat();
    let result = signer().sign(&grant(&over));
    expect("1 KiB + 1 of scopes", result, Some(ErrorKind::InvalidScope));
}

#[test]
fn expiry() {
    // The signer's clock reads NOW + 0.25 s.
    let at = |secs: u64, nanos: u32| UNIX_EPOCH + Duration::new(secs, nanos);
    let ttl = |ttl: Duration| MemberGrant::member(SUBJECT).ttl(ttl);
    let until = |at| MemberGrant::member(SUBJECT).expires_at(at);
    let invalid = Some(ErrorKind::InvalidExpiry);
    let cases = [
        ("ttl 0", signer().sign(&ttl(Duration::ZERO)), invalid),
        (
            "ttl 0.5 s: exp in the same second",
            signer().sign(&ttl(Duration::from_millis(500))),
            invalid,
        ),
        (
            "ttl 0.75 s: exp in the next second",
            signer().sign(&ttl(Duration::from_millis(750))),
            None,
        ),
        ("ttl 1 s", signer().sign(&ttl(Duration::from_secs(1))), None),
        (
            "ttl exactly 24 h",
            signer().sign(&ttl(Duration::from_secs(DAY))),
            None,
        ),
        (
            "ttl 24 h + 1 s",
            signer().sign(&ttl(Duration::from_secs(DAY + 1))),
            invalid,
        ),
        (
            "ttl that overflows",
            signer().sign(&ttl(Duration::MAX)),
            invalid,
        ),
        (
            "expires_at in the past",
            signer().sign(&until(at(NOW - 1, 0))),
            invalid,
        ),
        (
            "expires_at exactly now",
            signer().sign(&until(at(NOW, 250_000_000))),
            invalid,
        ),
        (
            "expires_at before 1970",
            signer().sign(&until(UNIX_EPOCH - Duration::from_secs(1))),
            invalid,
        ),
        (
            "expires_at in 24 h",
            signer().sign(&until(at(NOW + DAY, 0))),
            None,
        ),
        (
            "expires_at in 24 h + 1 s",
            signer().sign(&until(at(NOW + DAY + 1, 0))),
            invalid,
        ),
    ];
    for (rule, result, kind) in cases {
        expect(rule, result, kind);
    }

    let backdated = signer().iat_backdate(Duration::from_secs(10));
    let day = Duration::from_secs(DAY);
    expect(
        "backdating past a 24 h lifetime",
        backdated.sign(&ttl(day)),
        invalid,
    );
    expect(
        "backdating within a 24 h lifetime",
        backdated.sign(&ttl(day - Duration::from_secs(10))),
        None,
    );
    expect(
        "backdating to before 1970",
        signer()
            .iat_backdate(Duration::from_secs(NOW + 1))
            .sign(&ttl(day)),
        invalid,
    );
}

/// A correctly signed token of exactly `len` bytes, padded with an unknown claim.
fn signed_token_of_len(len: usize) -> String {
    let claims = payload(SUBJECT, None, NOW, NOW + 300);
    // Base64 cannot make every length from one segment; a space in the header
    // shifts the total by two.
    let headers = [header(KEY_ID), header(KEY_ID).replacen(',', ", ", 1)];
    let unpadded_b64_len = |bytes: usize| (bytes * 4).div_ceil(3);
    let (header, pad) = (0..len)
        .flat_map(|pad| headers.iter().map(move |header| (header, pad)))
        .find(|(header, pad)| {
            let payload_len = claims.len() + r#""pad":"","#.len() + pad;
            unpadded_b64_len(header.len())
                + unpadded_b64_len(payload_len)
                + unpadded_b64_len(32)
                + 2
                == len
        })
        .expect("some padding gives the length");
    let padded = claims.replacen('{', &format!(r#"{{"pad":"{}","#, "x".repeat(pad)), 1);
    let token = hs256(header, &padded, SECRET);
    assert_eq!(token.len(), len);
    token
}

#[test]
fn verifier_size_limit() {
    let verifier = verifier_at(NOW);
    let largest = signed_token_of_len(8192);
    expect("exactly 8 KiB", verifier.verify(&largest), None);
    let too_large = signed_token_of_len(8193);
    expect(
        "8 KiB + 1",
        verifier.verify(&too_large),
        Some(ErrorKind::TokenTooLarge),
    );
    let huge = "a".repeat(1 << 20);
    expect(
        "1 MiB of junk",
        verifier.verify(&huge),
        Some(ErrorKind::TokenTooLarge),
    );
}

#[test]
fn verifier_header_and_signature() {
    let claims = payload(SUBJECT, None, NOW, NOW + 300);
    let with_header = |header: &str| hs256(header, &claims, SECRET);
    let invalid = Some(ErrorKind::InvalidToken);
    let cases = [
        ("well formed", hand_signed(&claims), None),
        (
            "unknown kid",
            with_header(&header("key_unknown")),
            Some(ErrorKind::UnknownKey),
        ),
        ("missing kid", with_header(r#"{"alg":"HS256"}"#), invalid),
        (
            "kid not a string",
            with_header(r#"{"alg":"HS256","kid":7}"#),
            invalid,
        ),
        (
            "missing alg",
            with_header(&format!(r#"{{"kid":"{KEY_ID}"}}"#)),
            invalid,
        ),
        (
            "alg none, unsigned",
            format!(
                "{}.{}.",
                b64(format!(r#"{{"alg":"none","kid":"{KEY_ID}"}}"#)),
                b64(&claims)
            ),
            invalid,
        ),
        (
            "HS384, correctly signed",
            sign_with::<Hmac<Sha384>>(&header(KEY_ID).replace("HS256", "HS384"), &claims, SECRET),
            invalid,
        ),
        (
            "HS512, correctly signed",
            sign_with::<Hmac<Sha512>>(&header(KEY_ID).replace("HS256", "HS512"), &claims, SECRET),
            invalid,
        ),
        (
            "RS256 header, HMAC-signed with the secret (algorithm confusion)",
            sign_with::<Hmac<Sha256>>(&header(KEY_ID).replace("HS256", "RS256"), &claims, SECRET),
            invalid,
        ),
        (
            "lower-case hs256",
            with_header(&header(KEY_ID).replace("HS256", "hs256")),
            invalid,
        ),
        (
            "another secret",
            hs256(&header(KEY_ID), &claims, &format!("{SECRET}x")),
            invalid,
        ),
        ("empty", String::new(), invalid),
        ("not a JWT", "not a token".to_owned(), invalid),
        (
            "two segments",
            hand_signed(&claims).rsplit_once('.').unwrap().0.to_owned(),
            invalid,
        ),
        (
            "payload not JSON",
            hs256(&header(KEY_ID), "sub=mem_1", SECRET),
            invalid,
        ),
        (
            "exp not a number",
            hand_signed(&claims.replace(&(NOW + 300).to_string(), "\"soon\"")),
            invalid,
        ),
        (
            "exp missing",
            hand_signed(&claims.replace(&format!(r#","exp":{}"#, NOW + 300), "")),
            invalid,
        ),
    ];
    for (rule, token, kind) in cases {
        expect(rule, verifier_at(NOW).verify(&token), kind);
    }
}

#[test]
fn verifier_expiry_and_leeway() {
    let token = TokenSigner::new(api_key())
        .with_clock(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)))
        .sign(&MemberGrant::member(SUBJECT).ttl(Duration::from_secs(60)))
        .unwrap();
    let exp = NOW + 60;
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(exp - 1));
    let default = TokenVerifier::new([api_key()])
        .unwrap()
        .with_clock(clock.clone());
    let tight = default.clone().leeway(Duration::ZERO);
    let loose = default.clone().leeway(Duration::from_secs(120));
    let expired = Some(ErrorKind::Expired);

    // (seconds to move the clock by, verifier, rule, expected)
    let steps = [
        (0, &tight, "a second before exp, no leeway", None),
        (1, &tight, "at exp, no leeway", expired),
        (0, &default, "at exp, default 30 s leeway", None),
        (29, &default, "29 s past exp, default leeway", None),
        (1, &default, "30 s past exp, default leeway", expired),
        (89, &loose, "119 s past exp, 120 s leeway", None),
        (1, &loose, "120 s past exp, 120 s leeway", expired),
    ];
    for (advance, verifier, rule, kind) in steps {
        clock.advance(Duration::from_secs(advance));
        expect(rule, verifier.verify(token.as_str()), kind);
    }
    assert!(default.verify(token.as_str()).unwrap_err().is_expired());
}

#[test]
fn verifier_not_before() {
    let with_nbf = |nbf: u64| {
        let payload = payload(SUBJECT, None, NOW, NOW + 300);
        hand_signed(&payload.replacen('{', &format!(r#"{{"nbf":{nbf},"#), 1))
    };
    let verifier = verifier_at(NOW);
    let not_yet = Some(ErrorKind::InvalidToken);
    expect("nbf now", verifier.verify(&with_nbf(NOW)), None);
    expect(
        "nbf within leeway",
        verifier.verify(&with_nbf(NOW + 30)),
        None,
    );
    expect(
        "nbf past leeway",
        verifier.verify(&with_nbf(NOW + 31)),
        not_yet,
    );
    let tight = verifier.clone().leeway(Duration::ZERO);
    expect(
        "nbf 1 s ahead, no leeway",
        tight.verify(&with_nbf(NOW + 1)),
        not_yet,
    );
    // Signing never writes `nbf`.
    let token = signer().sign(&MemberGrant::member(SUBJECT)).unwrap();
    let claims = token.as_str().split('.').nth(1).unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert!(!claims.contains("nbf"), "{claims}");
}

/// Two keys under one id (a secret being rotated): a token signed by either is
/// accepted, whatever the form of its header.
#[test]
fn verifier_tries_every_key_with_the_tokens_id() {
    let old_secret = secret_of_len(40);
    let old = ApiKey::new(KEY_ID, old_secret.as_str()).unwrap();
    let other = ApiKey::new("key_other1", secret_of_len(48)).unwrap();
    let claims = payload(SUBJECT, None, NOW, NOW + 300);
    let with_typ = format!(r#"{{"typ":"JWT","alg":"HS256","kid":"{KEY_ID}"}}"#);
    for keys in [
        vec![old.clone(), api_key(), other.clone()],
        vec![api_key(), other.clone(), old.clone()],
    ] {
        let verifier = TokenVerifier::new(keys)
            .unwrap()
            .with_clock(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)));
        for secret in [SECRET, old_secret.as_str()] {
            for header in [header(KEY_ID), with_typ.clone()] {
                let token = hs256(&header, &claims, secret);
                expect("either key, either header", verifier.verify(&token), None);
            }
        }
        let forged = hs256(&header(KEY_ID), &claims, &secret_of_len(56));
        expect(
            "neither key",
            verifier.verify(&forged),
            Some(ErrorKind::InvalidToken),
        );
    }
}

#[test]
fn verifier_claims() {
    let invalid_expiry = Some(ErrorKind::InvalidExpiry);
    let cases = [
        (
            "lives exactly 24 h",
            payload(SUBJECT, None, NOW, NOW + DAY),
            None,
        ),
        (
            "lives 24 h + 1 s",
            payload(SUBJECT, None, NOW, NOW + DAY + 1),
            invalid_expiry,
        ),
        (
            "exp equals iat",
            payload(SUBJECT, None, NOW, NOW),
            invalid_expiry,
        ),
        (
            "exp before iat",
            payload(SUBJECT, None, NOW, NOW - 1),
            invalid_expiry,
        ),
        (
            "iat 30 s ahead: within leeway",
            payload(SUBJECT, None, NOW + 30, NOW + 300),
            None,
        ),
        (
            "iat 31 s ahead",
            payload(SUBJECT, None, NOW + 31, NOW + 300),
            Some(ErrorKind::InvalidToken),
        ),
        (
            "bad sub",
            payload("usr_5QW8", None, NOW, NOW + 300),
            Some(ErrorKind::InvalidMemberId),
        ),
        (
            "bad act",
            payload(SUBJECT, Some("mem_a-b"), NOW, NOW + 300),
            Some(ErrorKind::InvalidMemberId),
        ),
        (
            "act is sub",
            payload(SUBJECT, Some(SUBJECT), NOW, NOW + 300),
            Some(ErrorKind::ActorIsSubject),
        ),
        (
            "caregiver",
            payload(SUBJECT, Some(ACTOR), NOW, NOW + 300),
            None,
        ),
    ];
    for (rule, claims, kind) in cases {
        expect(rule, verifier_at(NOW).verify(&hand_signed(&claims)), kind);
    }
}

/// Asserts that `shown` holds none of `secrets`.
#[track_caller]
fn assert_hides(shown: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret:?} shows in {shown:?}");
    }
}

#[test]
fn errors_never_show_secrets_or_tokens() {
    let key_secret = [SECRET, &SECRET["sk_test_".len()..]];
    let token = signer().sign(&MemberGrant::member(SUBJECT)).unwrap();
    let signature = token.as_str().rsplit_once('.').unwrap().1.to_owned();
    let expired_token = token.as_str().to_owned();
    let foreign = hs256(
        &header("key_unknown"),
        &payload(SUBJECT, None, NOW, NOW + 300),
        SECRET,
    );
    let forged = format!("{}x", token.as_str());
    let too_large = format!("{}{}", token.as_str(), "a".repeat(8192));
    let long_lived = hand_signed(&payload(SUBJECT, None, NOW, NOW + DAY + 1));

    let errors: Vec<(Error, Vec<&str>)> = vec![
        (
            ApiKey::new(KEY_ID, "sk_test_tooShortToBeUsed").unwrap_err(),
            vec!["sk_test_tooShortToBeUsed", "tooShortToBeUsed"],
        ),
        (
            ApiKey::new(KEY_ID, format!("pk_{SECRET}")).unwrap_err(),
            key_secret.to_vec(),
        ),
        (
            ApiKey::new("key_bad-id", SECRET).unwrap_err(),
            key_secret.to_vec(),
        ),
        (
            UserToken::new("ut_secret token").unwrap_err(),
            vec!["ut_secret"],
        ),
        (
            signer().sign(&MemberGrant::member("mem_")).unwrap_err(),
            key_secret.to_vec(),
        ),
        (
            signer()
                .sign(&MemberGrant::member(SUBJECT).caregiver(SUBJECT))
                .unwrap_err(),
            key_secret.to_vec(),
        ),
        (
            signer()
                .sign(&MemberGrant::member(SUBJECT).scopes([" "]))
                .unwrap_err(),
            key_secret.to_vec(),
        ),
        (
            signer()
                .sign(&MemberGrant::member(SUBJECT).ttl(Duration::ZERO))
                .unwrap_err(),
            key_secret.to_vec(),
        ),
        (
            verifier_at(NOW).verify(&forged).unwrap_err(),
            vec![&forged, &signature, SECRET],
        ),
        (
            verifier_at(NOW).verify(&too_large).unwrap_err(),
            vec![&too_large, &signature, SECRET],
        ),
        (
            verifier_at(NOW + 3_600).verify(&expired_token).unwrap_err(),
            vec![&expired_token, &signature, SECRET],
        ),
        (
            verifier_at(NOW).verify(&foreign).unwrap_err(),
            vec![&foreign, SECRET],
        ),
        (
            verifier_at(NOW).verify(&long_lived).unwrap_err(),
            vec![&long_lived, SECRET],
        ),
    ];
    let mut kinds: HashSet<ErrorKind> = HashSet::new();
    for (err, secrets) in &errors {
        kinds.insert(err.kind());
        assert_hides(&err.to_string(), secrets);
        assert_hides(&format!("{err:?}"), secrets);
        assert_hides(&format!("{err:#?}"), secrets);
    }
    // The probe prints Display and Debug of a `MissingEnvironment` error.
    let said = from_env_with(None, Some(OsStr::new(SECRET)));
    assert!(said.starts_with("MissingEnvironment\t"));
    assert_hides(&said, &key_secret);
    kinds.insert(ErrorKind::MissingEnvironment);

    let expected = HashSet::from([
        ErrorKind::InvalidApiKey,
        ErrorKind::MissingEnvironment,
        ErrorKind::InvalidUserToken,
        ErrorKind::InvalidMemberId,
        ErrorKind::ActorIsSubject,
        ErrorKind::InvalidScope,
        ErrorKind::InvalidExpiry,
        ErrorKind::InvalidToken,
        ErrorKind::TokenTooLarge,
        ErrorKind::Expired,
        ErrorKind::UnknownKey,
    ]);
    assert_eq!(kinds, expected, "every kind these APIs produce is checked");
}

#[test]
fn debug_never_shows_secrets_or_tokens() {
    let user_token = "ut_2bdf6e1aSecretUserToken";
    let token = signer()
        .sign(&MemberGrant::member(SUBJECT).caregiver(ACTOR))
        .unwrap();
    let signature = token.as_str().rsplit_once('.').unwrap().1;
    let secrets = [
        SECRET,
        &SECRET["sk_test_".len()..],
        user_token,
        token.as_str(),
        signature,
    ];

    let user = UserToken::new(user_token).unwrap();
    let shown: Vec<String> = [
        format!("{:?}", api_key()),
        format!("{user:?}"),
        format!("{token:?}"),
        format!("{:?}", signer()),
        format!("{:?}", verifier_at(NOW)),
        format!("{:?}", Credential::from(api_key())),
        format!("{:?}", Credential::from(user.clone())),
        format!("{:?}", Credential::from(token.clone())),
    ]
    .into_iter()
    .flat_map(|debug| [debug.clone(), debug.replace(['\n', ' '], "")])
    .collect();
    for debug in &shown {
        assert_hides(debug, &secrets);
    }
    // The pretty forms too.
    assert_hides(&format!("{:#?}", api_key()), &secrets);
    assert_hides(&format!("{:#?}", Credential::from(user)), &secrets);
    assert_hides(&format!("{token:#?}"), &secrets);
    // What Debug may show: the key id and the claims.
    assert!(format!("{:?}", api_key()).contains(KEY_ID));
    assert!(format!("{token:?}").contains(ACTOR));
    let verifier = format!("{:?}", verifier_at(NOW).leeway(Duration::from_secs(7)));
    assert!(
        verifier.contains(KEY_ID) && verifier.contains("7s"),
        "{verifier}"
    );
}
