//! Golden vectors: a fixed key and a fixed instant give exactly these tokens.
//!
//! Each expected token is built from hand-written JSON by the independent HS256
//! writer in `jws/`, never by the code under test, and compared byte for byte.

mod common;
mod jws;

use std::time::{Duration, UNIX_EPOCH};

use source_auth::{ManualClock, MemberGrant, TokenSigner, TokenVerifier};

use jws::{KEY_ID, SECRET, api_key, header, hs256};

const SUBJECT: &str = "mem_5QW8j1oKqQjNaPk4Hv3f";
const CAREGIVER: &str = "mem_2bXq9VtLm4Rk7WcP1sZd";

/// 2023-11-14T22:13:20.750Z: the fraction must be rounded down, never up.
fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::new(1_700_000_000, 750_000_000))
}

fn signer() -> TokenSigner {
    TokenSigner::new(api_key()).with_clock(clock())
}

fn assert_golden(grant: &MemberGrant, signer: &TokenSigner, payload: &str) {
    let expected = hs256(&header(KEY_ID), payload, SECRET);
    let token = signer.sign(grant).expect("the grant is valid");
    assert_eq!(token.as_str(), expected, "token for payload {payload}");

    // The claims the token reports are the ones it carries.
    let verified = TokenVerifier::new([api_key()])
        .unwrap()
        .with_clock(clock())
        .verify(token.as_str())
        .expect("a golden token verifies");
    assert_eq!(&verified, token.claims());
}

#[test]
fn member_token_matches_the_known_answer() {
    // Computed once with Python's hmac/hashlib, a third implementation, and kept
    // literally so a shared mistake in the crate and `jws` cannot hide.
    const KNOWN: &str = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImtleV8wRWlwc1V2MnlSRnh5bkhzaGlzTiJ9.\
        eyJzdWIiOiJtZW1fNVFXOGoxb0txUWpOYVBrNEh2M2YiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDMwMCwic2NvcGVzIjpbXX0.\
        OPAgmEnaYlymnRxfq5MUnBMLEAkkuX33dH6XAssK2Kw";
    let token = signer().sign(&MemberGrant::member(SUBJECT)).unwrap();
    assert_eq!(token.as_str(), KNOWN);
}

#[test]
fn member_token_has_no_act_and_the_default_five_minutes() {
    assert_golden(
        &MemberGrant::member(SUBJECT),
        &signer(),
        r#"{"sub":"mem_5QW8j1oKqQjNaPk4Hv3f","iat":1700000000,"exp":1700000300,"scopes":[]}"#,
    );
}

#[test]
fn caregiver_token_without_scopes() {
    assert_golden(
        &MemberGrant::member(SUBJECT)
            .caregiver(CAREGIVER)
            .ttl(Duration::from_secs(15 * 60)),
        &signer(),
        r#"{"sub":"mem_5QW8j1oKqQjNaPk4Hv3f","act":"mem_2bXq9VtLm4Rk7WcP1sZd","iat":1700000000,"exp":1700000900,"scopes":[]}"#,
    );
}

#[test]
fn caregiver_token_with_scopes() {
    assert_golden(
        &MemberGrant::member(SUBJECT)
            .caregiver(CAREGIVER)
            .ttl(Duration::from_secs(60 * 60))
            .scopes(["read:profile", "write:messages"]),
        &signer(),
        r#"{"sub":"mem_5QW8j1oKqQjNaPk4Hv3f","act":"mem_2bXq9VtLm4Rk7WcP1sZd","iat":1700000000,"exp":1700003600,"scopes":["read:profile","write:messages"]}"#,
    );
}

#[test]
fn expires_at_is_rounded_down_too() {
    let at = UNIX_EPOCH + Duration::new(1_700_000_600, 999_999_999);
    assert_golden(
        &MemberGrant::member(SUBJECT).expires_at(at),
        &signer(),
        r#"{"sub":"mem_5QW8j1oKqQjNaPk4Hv3f","iat":1700000000,"exp":1700000600,"scopes":[]}"#,
    );
}

#[test]
fn backdated_iat_is_rounded_down_and_exp_is_not_moved() {
    // 1_700_000_000.75 − 1.5 = 1_699_999_999.25, so iat is 1_699_999_999; exp stays
    // five minutes after the real now.
    assert_golden(
        &MemberGrant::member(SUBJECT),
        &signer().iat_backdate(Duration::from_millis(1_500)),
        r#"{"sub":"mem_5QW8j1oKqQjNaPk4Hv3f","iat":1699999999,"exp":1700000300,"scopes":[]}"#,
    );
}
