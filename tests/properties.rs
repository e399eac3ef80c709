//! Properties: signing then verifying gives the grant back; any change to a valid
//! token is rejected; no input makes any entry point panic.

mod common;
mod jws;

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::sample::Index;
use source_auth::{
    ApiKey, ErrorKind, ManualClock, MemberGrant, MemberToken, TokenSigner, TokenVerifier, UserToken,
};

use jws::{KEY_ID, SECRET, api_key, b64, header, hs256};

/// The instant the mutation properties sign and verify at.
const NOW: u64 = 1_700_000_000;

fn member_id() -> impl Strategy<Value = String> {
    "mem_[A-Za-z0-9]{1,64}"
}

fn scopes() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[!-~]{1,128}", 0..4)
}

/// A valid grant and its TTL in whole seconds: a member or a caregiver (never the
/// subject), 1 s to 24 h, visible-ASCII scopes.
fn valid_grant() -> impl Strategy<Value = (MemberGrant, u64)> {
    (
        member_id(),
        prop::option::of(member_id()),
        1u64..=86_400,
        scopes(),
    )
        .prop_filter("the actor is not the subject", |(subject, actor, ..)| {
            actor.as_ref() != Some(subject)
        })
        .prop_map(|(subject, actor, ttl, scopes)| {
            let grant = match actor {
                Some(actor) => MemberGrant::member(subject).caregiver(actor),
                None => MemberGrant::member(subject),
            };
            (grant.ttl(Duration::from_secs(ttl)).scopes(scopes), ttl)
        })
}

fn clock_at(secs: u64, nanos: u32) -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::new(secs, nanos))
}

fn verifier() -> TokenVerifier {
    TokenVerifier::new([api_key()])
        .unwrap()
        .with_clock(clock_at(NOW, 0))
}

/// A valid token, signed at [`NOW`].
fn valid_token() -> impl Strategy<Value = MemberToken> {
    valid_grant().prop_map(|(grant, _)| {
        TokenSigner::new(api_key())
            .with_clock(clock_at(NOW, 0))
            .sign(&grant)
            .expect("the grant is valid")
    })
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn decoded(segment: &str) -> String {
    String::from_utf8(URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("UTF-8 JSON")
}

/// Checks that `token` is rejected, after checking that the token it was made from
/// is accepted, so a rejection is the mutation's doing.
fn assert_rejected(original: &MemberToken, token: &str) -> Result<(), TestCaseError> {
    prop_assert!(verifier().verify(original.as_str()).is_ok());
    prop_assert!(verifier().verify(token).is_err(), "accepted: {token}");
    Ok(())
}

/// Strings of every kind: any Unicode, control characters, huge ones, and ones that
/// start like the real thing so they reach the later checks.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f ]{0,40}",
        prop::collection::vec(any::<char>(), 4_000..12_000).prop_map(String::from_iter),
        "(key_|sk_test_|sk_live_|mem_)\\PC{0,300}",
        "(key_|sk_test_|sk_live_|mem_)[\\x00-\\x7f]{0,300}",
    ]
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(
        (grant, ttl) in valid_grant(),
        secs in 1_000_000_000u64..4_000_000_000,
        nanos in 0u32..1_000_000_000,
    ) {
        let clock = clock_at(secs, nanos);
        let token = TokenSigner::new(api_key()).with_clock(clock.clone()).sign(&grant).unwrap();
        let claims = TokenVerifier::new([api_key()]).unwrap().with_clock(clock).verify(token.as_str()).unwrap();
        prop_assert_eq!(&claims, token.claims());
        prop_assert_eq!(claims.sub.as_str(), grant.subject());
        prop_assert_eq!(claims.act.as_deref(), grant.actor());
        prop_assert_eq!(&claims.scopes, grant.scopes_granted());
        prop_assert_eq!(claims.iat, secs);
        prop_assert_eq!(claims.exp, secs + ttl);
    }

    #[test]
    fn a_flipped_byte_is_rejected(token in valid_token(), at in any::<Index>(), xor in 1u8..=255) {
        let mut bytes = token.as_str().as_bytes().to_vec();
        let at = at.index(bytes.len());
        bytes[at] ^= xor;
        assert_rejected(&token, &String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn swapped_segments_are_rejected(
        token in valid_token(),
        order in prop::sample::select(vec![[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]),
    ) {
        let parts = segments(token.as_str());
        let swapped = order.map(|i| parts[i].as_str()).join(".");
        assert_rejected(&token, &swapped)?;
    }

    #[test]
    fn another_alg_is_rejected_even_when_hmac_signed(
        token in valid_token(),
        alg in prop::sample::select(vec!["none", "HS384", "HS512", "RS256", "ES256", "PS256", "EdDSA", "hs256", ""]),
    ) {
        let parts = segments(token.as_str());
        let changed = format!(r#"{{"alg":"{alg}","kid":"{KEY_ID}"}}"#);
        // With the original signature.
        assert_rejected(&token, &format!("{}.{}.{}", b64(&changed), parts[1], parts[2]))?;
        // Re-signed with HMAC-SHA256 under the real secret: algorithm confusion.
        assert_rejected(&token, &hs256(&changed, &decoded(&parts[1]), SECRET))?;
        // With no signature, as `none` would have it.
        assert_rejected(&token, &format!("{}.{}.", b64(&changed), parts[1]))?;
    }

    #[test]
    fn another_kid_is_rejected(token in valid_token(), kid in "[ -~]{0,40}") {
        prop_assume!(kid != KEY_ID);
        let parts = segments(token.as_str());
        let changed = header(&kid.replace(['"', '\\'], ""));
        assert_rejected(&token, &format!("{}.{}.{}", b64(&changed), parts[1], parts[2]))?;
    }

    #[test]
    fn a_changed_payload_with_the_old_signature_is_rejected(
        token in valid_token(),
        sub in member_id(),
        exp_delta in prop_oneof![-3_600i64..=-1, 1i64..=3_600],
    ) {
        let parts = segments(token.as_str());
        let claims = token.claims();
        let mut changed = [claims.clone(), claims.clone()];
        changed[0].sub = sub;
        changed[1].exp = claims.exp.saturating_add_signed(exp_delta);
        for claims in changed.iter().filter(|changed| *changed != token.claims()) {
            let payload = b64(serde_json::to_string(claims).unwrap());
            let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
            assert_rejected(&token, &forged)?;
            prop_assert_eq!(verifier().verify(&forged).unwrap_err().kind(), ErrorKind::InvalidToken);
        }
    }

    #[test]
    fn a_truncated_token_is_rejected(token in valid_token(), at in any::<Index>()) {
        let token_str = token.as_str();
        assert_rejected(&token, &token_str[..at.index(token_str.len())])?;
    }

    #[test]
    fn extra_segments_are_rejected(token in valid_token(), extra in "[A-Za-z0-9_-]{0,60}") {
        assert_rejected(&token, &format!("{}.{extra}", token.as_str()))?;
        assert_rejected(&token, &format!("{extra}.{}", token.as_str()))?;
        assert_rejected(&token, &format!("{}..", token.as_str()))?;
    }

    #[test]
    fn api_key_never_panics(id in any_text(), secret in any_text()) {
        if let Ok(key) = ApiKey::new(id.clone(), secret) {
            prop_assert_eq!(key.id(), id);
        }
    }

    #[test]
    fn user_token_never_panics(token in any_text()) {
        let _ = UserToken::new(token);
    }

    #[test]
    fn signing_any_grant_never_panics(
        subject in prop_oneof![3 => member_id(), 1 => any_text()],
        actor in prop::option::of(prop_oneof![3 => member_id(), 1 => any_text()]),
        scopes in prop_oneof![3 => scopes(), 1 => prop::collection::vec(any_text(), 0..3)],
        ttl in prop_oneof![any::<Duration>(), (0..90_000u64).prop_map(Duration::from_secs)],
        expires_at in prop::option::of(any::<i64>()),
        backdate in prop_oneof![any::<Duration>(), (0..90_000u64).prop_map(Duration::from_secs)],
        // The whole range a `ManualClock` holds.
        now in 0..=u64::MAX / 1_000_000_000,
    ) {
        let grant = match actor {
            Some(actor) => MemberGrant::member(subject).caregiver(actor),
            None => MemberGrant::member(subject),
        }
        .scopes(scopes)
        .ttl(ttl);
        let at = |secs: i64| {
            let since = Duration::from_secs(secs.unsigned_abs());
            if secs < 0 { UNIX_EPOCH.checked_sub(since) } else { UNIX_EPOCH.checked_add(since) }
        };
        let grant = match expires_at.and_then(at) {
            Some(at) => grant.expires_at(at),
            None => grant,
        };
        let signer = TokenSigner::new(api_key()).with_clock(clock_at(now, 0)).iat_backdate(backdate);
        if let Ok(token) = signer.sign(&grant) {
            let claims = token.claims();
            prop_assert!(claims.iat < claims.exp && claims.exp - claims.iat <= 86_400);
            prop_assert!(token.expires_at() > UNIX_EPOCH);
        }
    }

    #[test]
    fn verifying_any_text_never_panics(token in any_text()) {
        let _ = verifier().verify(&token);
    }

    #[test]
    fn verifying_any_correctly_signed_payload_never_panics(
        payload in prop_oneof![
            any_text(),
            (any_text(), any::<i128>(), any::<u64>(), any::<f64>(), any_text()).prop_map(
                |(sub, iat, exp, float, act)| {
                    let (sub, act) = (serde_json::json!(sub), serde_json::json!(act));
                    format!(r#"{{"sub":{sub},"act":{act},"iat":{iat},"exp":{exp},"scopes":[{float}]}}"#)
                }
            ),
            (member_id(), any::<u64>(), any::<u64>()).prop_map(|(sub, iat, exp)| {
                format!(r#"{{"sub":"{sub}","iat":{iat},"exp":{exp},"scopes":[]}}"#)
            }),
        ],
    ) {
        let _ = verifier().verify(&hs256(&header(KEY_ID), &payload, SECRET));
    }
}
