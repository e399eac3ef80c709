//! What minting and verifying a caregiver token cost, next to the floor: HMAC-SHA256
//! over the same signing input from a pre-keyed state, plus base64url of the MAC.
//! jsonwebtoken's `encode`/`decode` of the same token are measured alongside, for
//! comparison.
//!
//! `cargo bench --bench mint` prints `sign / floor` (target ≤ 2.0) and
//! `verify / floor` (target ≤ 2.5) at the end.

mod support;

use std::hint::black_box;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sha2::Sha256;
use source_auth::{ApiKey, MemberClaims, MemberGrant, TokenSigner, TokenVerifier};
use support::{Ratio, print_ratios};

const GROUP: &str = "mint";
const KEY_ID: &str = "key_0EipsUv2yRFxynHshisN";
const SECRET: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000";

fn mint(c: &mut Criterion) {
    let key = ApiKey::new(KEY_ID, SECRET).expect("valid key");
    let signer = TokenSigner::new(key.clone());
    let verifier = TokenVerifier::new([key]);
    let grant = MemberGrant::caregiver("mem_5QW8j1oKqQjNaPk4Hv3f", "mem_2bXq9VtLm4Rk7WcP1sZd");
    let token = signer.sign(&grant).expect("valid grant");
    let (signing_input, _) = token.as_str().rsplit_once('.').expect("a JWT");
    let keyed = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");

    let mut group = c.benchmark_group(GROUP);
    group.bench_function("hmac_floor", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(signing_input.as_bytes()));
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        })
    });
    group.bench_function("sign", |b| b.iter(|| signer.sign(black_box(&grant))));
    group.bench_function("verify", |b| {
        b.iter(|| verifier.verify(black_box(token.as_str())))
    });

    // The same token through jsonwebtoken, which re-keys HMAC and re-parses per call.
    let header = Header {
        typ: None,
        kid: Some(KEY_ID.to_owned()),
        ..Header::new(Algorithm::HS256)
    };
    let encoding = EncodingKey::from_secret(SECRET.as_bytes()).expect("non-empty secret");
    let decoding = DecodingKey::from_secret(SECRET.as_bytes()).expect("non-empty secret");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = token.claims().clone();
    group.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding))
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode_header(black_box(token.as_str())).and_then(|_| {
                jsonwebtoken::decode::<MemberClaims>(token.as_str(), &decoding, &validation)
            })
        })
    });
    group.finish();
}

fn report(_: &mut Criterion) {
    print_ratios(
        GROUP,
        &[
            Ratio {
                name: "sign",
                baseline: "hmac_floor",
                at_most: 2.0,
            },
            Ratio {
                name: "verify",
                baseline: "hmac_floor",
                at_most: 2.5,
            },
            Ratio {
                name: "jsonwebtoken_encode",
                baseline: "hmac_floor",
                at_most: 2.0,
            },
            Ratio {
                name: "jsonwebtoken_decode",
                baseline: "hmac_floor",
                at_most: 2.5,
            },
        ],
    );
}

criterion_group!(benches, mint, report);
criterion_main!(benches);
