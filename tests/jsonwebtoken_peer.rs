//! jsonwebtoken as a third, in-process peer: tokens this crate mints decode in
//! `jsonwebtoken::decode`, byte for byte what `jsonwebtoken::encode` writes, and
//! jsonwebtoken's tokens verify here.

mod common;

use common::{KEY_ID, SECRET, api_key as key, clock};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use source_auth::{MemberClaims, MemberGrant, TokenSigner, TokenVerifier};

fn header() -> Header {
    Header {
        typ: None,
        kid: Some(KEY_ID.to_owned()),
        ..Header::new(Algorithm::HS256)
    }
}

fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    // The tokens are minted at a fixed past instant on a manual clock.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    validation
}

#[test]
fn our_tokens_are_what_jsonwebtoken_writes_and_reads() {
    let signer = TokenSigner::new(key()).with_clock(clock());
    for grant in [
        MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f"),
        MemberGrant::member("mem_patient1")
            .caregiver("mem_parent1")
            .scopes(["read:profile", "write:notes"]),
    ] {
        let token = signer.sign(&grant).unwrap();
        let encoding = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
        let theirs = jsonwebtoken::encode(&header(), token.claims(), &encoding).unwrap();
        assert_eq!(token.as_str(), theirs);

        let decoding = DecodingKey::from_secret(SECRET.as_bytes()).unwrap();
        let decoded =
            jsonwebtoken::decode::<MemberClaims>(token.as_str(), &decoding, &validation()).unwrap();
        assert_eq!(&decoded.claims, token.claims());
        assert_eq!(decoded.header.kid.as_deref(), Some(KEY_ID));
        assert_eq!(decoded.header.typ, None);
    }
}

#[test]
fn jsonwebtoken_tokens_verify_here_with_or_without_typ() {
    let claims = MemberClaims {
        sub: "mem_patient1".to_owned(),
        act: Some("mem_parent1".to_owned()),
        iat: 1_700_000_000,
        exp: 1_700_000_300,
        scopes: vec![],
    };
    let encoding = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    let verifier = TokenVerifier::new([key()]).unwrap().with_clock(clock());
    let with_typ = Header {
        kid: Some(KEY_ID.to_owned()),
        ..Header::new(Algorithm::HS256)
    };
    for header in [header(), with_typ] {
        let token = jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
        assert_eq!(verifier.verify(&token).unwrap(), claims);
    }
    // Another algorithm from the same library is refused, even with the right key.
    let hs384 = Header {
        kid: Some(KEY_ID.to_owned()),
        ..Header::new(Algorithm::HS384)
    };
    let token = jsonwebtoken::encode(&hs384, &claims, &encoding).unwrap();
    assert_eq!(
        verifier.verify(&token).unwrap_err().kind(),
        source_auth::ErrorKind::InvalidToken
    );
}
