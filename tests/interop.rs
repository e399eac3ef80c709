//! Interop with real peers: Node's `jose` (what Source's official client signs with)
//! and Python's PyJWT, for member tokens and (with the `application` feature)
//! application tokens.
//!
//! The peers are installed under the target directory on first use, once even when
//! several tests or test processes start together. When they cannot be installed
//! the tests fail with the reason; they never skip.

mod common;
#[path = "interop/peers.rs"]
mod peers;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{KEY_ID, SECRET, api_key};
use peers::Peer;
use serde_json::{Value, json};
use source_auth::{ErrorKind, MemberClaims, MemberGrant, TokenSigner, TokenVerifier};

const SUBJECT: &str = "mem_5QW8j1oKqQjNaPk4Hv3f";
const CAREGIVER: &str = "mem_2bXq9VtLm4Rk7WcP1sZd";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// The grants each direction is tried with: a member, and a caregiver with scopes.
fn grants() -> [MemberGrant; 2] {
    [
        MemberGrant::member(SUBJECT),
        MemberGrant::member(SUBJECT)
            .caregiver(CAREGIVER)
            .ttl(Duration::from_secs(15 * 60))
            .scopes(["read:profile", "write:messages"]),
    ]
}

/// Claims as the official client writes them, from the real clock.
fn claims(act: Option<&str>, scopes: &[&str]) -> MemberClaims {
    let iat = now_secs();
    MemberClaims {
        sub: SUBJECT.to_owned(),
        act: act.map(str::to_owned),
        iat,
        exp: iat + 10 * 60,
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
    }
}

fn crate_tokens_verify_in(peer: Peer) {
    let signer = TokenSigner::new(api_key());
    for grant in grants() {
        let token = signer.sign(&grant).expect("the grant is valid");
        let (header, payload) = peer.verify(token.as_str(), SECRET);
        assert_eq!(
            header,
            json!({ "alg": "HS256", "kid": KEY_ID }),
            "{peer:?} header"
        );
        assert_eq!(
            payload,
            serde_json::to_value(token.claims()).unwrap(),
            "{peer:?} claims"
        );
    }
}

fn peer_tokens_verify_in_the_crate(peer: Peer) -> Vec<Value> {
    let verifier = TokenVerifier::new([api_key()]).unwrap();
    let expected = [
        claims(None, &[]),
        claims(Some(CAREGIVER), &["read:profile", "write:messages"]),
    ];
    expected
        .iter()
        .map(|claims| {
            let token = peer.sign(claims, SECRET);
            let verified = verifier
                .verify(&token)
                .unwrap_or_else(|err| panic!("a {peer:?} token is rejected: {err}"));
            assert_eq!(&verified, claims, "{peer:?} claims");
            peer.verify(&token, SECRET).0
        })
        .collect()
}

#[test]
fn crate_tokens_verify_in_jose() {
    crate_tokens_verify_in(Peer::Jose);
}

#[test]
fn crate_tokens_verify_in_pyjwt() {
    crate_tokens_verify_in(Peer::PyJwt);
}

#[test]
fn tokens_from_the_official_client_recipe_verify() {
    for header in peer_tokens_verify_in_the_crate(Peer::Jose) {
        assert_eq!(header, json!({ "alg": "HS256", "kid": KEY_ID }));
    }
}

#[test]
fn pyjwt_tokens_with_typ_verify() {
    for header in peer_tokens_verify_in_the_crate(Peer::PyJwt) {
        assert_eq!(
            header["typ"], "JWT",
            "PyJWT writes typ, which must not matter"
        );
        assert_eq!(header["kid"], KEY_ID);
    }
}

#[test]
fn jose_token_signed_with_another_secret_is_rejected() {
    let token = Peer::Jose.sign(
        &claims(None, &[]),
        "sk_live_SomeoneElsesSecret00000000000000",
    );
    let err = TokenVerifier::new([api_key()])
        .unwrap()
        .verify(&token)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidToken);
}

/// Application tokens: jose signs them as Source does and the crate verifies them;
/// MockSource's verify in jose and PyJWT.
#[cfg(feature = "application")]
mod application {
    use serde_json::{Value, json};
    use source_auth::ErrorKind;
    use source_auth::application::{ApplicationKey, ApplicationVerifier};
    use source_auth::testing::MockSource;

    use super::{Peer, now_secs};

    const APP: &str = "app_5QW8j1oKqQjNaPk4Hv3f";
    const USER: &str = "usr_2bXq9VtLm4Rk7WcP1sZd";

    /// A token jose signs with a fresh Ed25519 key, and that key's public JWK.
    fn jose_token(claims: &Value) -> (String, String) {
        let answer =
            Peer::Jose.ask(&json!({ "op": "sign_application", "claims": claims, "kid": APP }));
        let token = answer["token"]
            .as_str()
            .expect("jose answers a token")
            .to_owned();
        (token, answer["jwk"].to_string())
    }

    #[test]
    fn jose_application_tokens_verify_in_the_crate() {
        let iat = now_secs();
        let claims = json!({
            "purpose": "verification", "app": APP, "usr": USER,
            "iat": iat, "iss": "sourcehealth", "exp": iat + 15 * 60,
        });
        let (token, jwk) = jose_token(&claims);
        let key = ApplicationKey::from_jwk(&jwk).expect("jose's JWK is a public Ed25519 key");
        let verified = ApplicationVerifier::new(APP, [key.clone()])
            .unwrap()
            .verify(&token)
            .unwrap_or_else(|err| panic!("a jose token is rejected: {err}"));
        assert_eq!(verified.user, USER);
        assert_eq!(verified.application, APP);
        assert_eq!(verified.purpose, "verification");

        // Another fresh key: the first key does not verify its token.
        let (other, _) = jose_token(&claims);
        let err = ApplicationVerifier::new(APP, [key])
            .unwrap()
            .verify(&other)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidToken);
    }

    fn mock_tokens_verify_in(peer: Peer) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let source = runtime
            .block_on(MockSource::start())
            .expect("the mock starts");
        let jwk: Value = serde_json::from_str(&source.application(APP).unwrap().to_jwk()).unwrap();
        let token = source.application_token(APP, USER).unwrap();
        let answer = peer.ask(&json!({ "op": "verify_application", "token": token, "jwk": jwk }));
        assert_eq!(
            answer["header"],
            json!({ "alg": "EdDSA", "crv": "Ed25519", "kid": APP }),
            "{peer:?} header"
        );
        let payload = &answer["payload"];
        assert_eq!(
            (
                &payload["purpose"],
                &payload["app"],
                &payload["usr"],
                &payload["iss"]
            ),
            (
                &json!("verification"),
                &json!(APP),
                &json!(USER),
                &json!("sourcehealth")
            ),
            "{peer:?} payload"
        );
        let lifetime = payload["exp"]
            .as_u64()
            .zip(payload["iat"].as_u64())
            .map(|(exp, iat)| exp - iat);
        assert_eq!(lifetime, Some(15 * 60), "{peer:?} lifetime");
    }

    #[test]
    fn mock_source_application_tokens_verify_in_jose() {
        mock_tokens_verify_in(Peer::Jose);
    }

    #[test]
    fn mock_source_application_tokens_verify_in_pyjwt() {
        mock_tokens_verify_in(Peer::PyJwt);
    }
}
