//! `TokenVerifier::verify_signature` and `MemberGrant::validate`, the checks that
//! tools reporting on a token (`source-auth inspect`) take one at a time.

mod common;
mod jws;

use std::time::Duration;

use common::{NOW, clock};
use source_auth::{ApiKey, ErrorKind, MemberGrant, TokenSigner, TokenVerifier};

fn verifier() -> TokenVerifier {
    TokenVerifier::new([jws::api_key()])
        .unwrap()
        .with_clock(clock())
}

#[test]
fn verify_signature_accepts_any_claims_the_key_signed() {
    let verifier = verifier();
    let good = TokenSigner::new(jws::api_key())
        .with_clock(clock())
        .sign(&MemberGrant::member("mem_patient1"))
        .unwrap();
    // Expired, living two days, a bad subject, a caregiver equal to the member,
    // and no claims at all: each refused by `verify`, each signed by the key.
    let payloads = [
        format!(
            r#"{{"sub":"mem_1","iat":{},"exp":{},"scopes":[]}}"#,
            NOW - 900,
            NOW - 600
        ),
        format!(
            r#"{{"sub":"mem_1","iat":{NOW},"exp":{},"scopes":[]}}"#,
            NOW + 48 * 3600
        ),
        format!(
            r#"{{"sub":"patient 1","iat":{NOW},"exp":{},"scopes":[]}}"#,
            NOW + 60
        ),
        format!(
            r#"{{"sub":"mem_1","act":"mem_1","iat":{NOW},"exp":{},"scopes":[]}}"#,
            NOW + 60
        ),
        "{}".to_owned(),
    ];
    assert!(verifier.verify_signature(good.as_str()).is_ok());
    for payload in payloads {
        let token = jws::hs256(&jws::header(jws::KEY_ID), &payload, jws::SECRET);
        assert!(verifier.verify(&token).is_err(), "{payload}");
        let checked = verifier.verify_signature(&token);
        assert!(checked.is_ok(), "{payload}: {checked:?}");
    }
}

#[test]
fn verify_signature_refuses_what_the_key_did_not_sign() {
    let verifier = verifier();
    let payload = format!(
        r#"{{"sub":"mem_1","iat":{NOW},"exp":{},"scopes":[]}}"#,
        NOW + 60
    );
    let other = ApiKey::new("key_other1", "sk_test_ffffffffffffffffffffffffffffffff").unwrap();
    let cases = [
        (
            jws::hs256(
                &jws::header(jws::KEY_ID),
                &payload,
                "sk_test_wrong0000000000000000000000000",
            ),
            ErrorKind::InvalidToken,
        ),
        (
            TokenSigner::new(other)
                .sign(&MemberGrant::member("mem_1"))
                .unwrap()
                .as_str()
                .to_owned(),
            ErrorKind::UnknownKey,
        ),
        (
            format!(
                "{}.{}.",
                jws::b64(format!(r#"{{"alg":"none","kid":"{}"}}"#, jws::KEY_ID)),
                jws::b64(&payload)
            ),
            ErrorKind::InvalidToken,
        ),
        ("a.b".to_owned(), ErrorKind::InvalidToken),
        ("a".repeat(9 * 1024), ErrorKind::TokenTooLarge),
    ];
    for (token, kind) in cases {
        let err = verifier.verify_signature(&token).unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
    }
}

#[test]
fn validate_checks_ids_and_scopes_without_the_time() {
    let fine = MemberGrant::member("mem_patient1")
        .caregiver("mem_parent1")
        .scopes(["read:profile"])
        // Validation is timeless: an expiry long past does not matter to it.
        .expires_at(std::time::UNIX_EPOCH + Duration::from_secs(1));
    assert!(fine.validate().is_ok());
    let cases = [
        (MemberGrant::member("patient1"), ErrorKind::InvalidMemberId),
        (
            MemberGrant::member("mem_patient1").caregiver("parent"),
            ErrorKind::InvalidMemberId,
        ),
        (
            MemberGrant::member("mem_patient1").caregiver("mem_patient1"),
            ErrorKind::ActorIsSubject,
        ),
        (
            MemberGrant::member("mem_patient1").scopes(["two words"]),
            ErrorKind::InvalidScope,
        ),
        (
            MemberGrant::member("mem_patient1").scopes(vec!["s"; 33]),
            ErrorKind::InvalidScope,
        ),
    ];
    for (grant, kind) in cases {
        assert_eq!(grant.validate().unwrap_err().kind(), kind, "{grant:?}");
    }
}
