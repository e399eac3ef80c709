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
use source_auth::{ApiKey, MemberClaims, MemberGrant, MemberToken, TokenSigner, TokenVerifier};
use support::{Ratio, paired_ratio, print_paired, print_ratios};

const GROUP: &str = "mint";
const KEY_ID: &str = "key_0EipsUv2yRFxynHshisN";
const SECRET: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000";

/// A signer, a verifier and jsonwebtoken's keys for one caregiver token, and the
/// floor's pre-keyed HMAC over that token's signing input.
struct Peers {
    signer: TokenSigner,
    verifier: TokenVerifier,
    grant: MemberGrant,
    token: MemberToken,
    keyed: Hmac<Sha256>,
    header: Header,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Peers {
    fn new() -> Self {
        let key = ApiKey::new(KEY_ID, SECRET).expect("valid key");
        let signer = TokenSigner::new(key.clone());
        let grant =
            MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f").caregiver("mem_2bXq9VtLm4Rk7WcP1sZd");
        let token = signer.sign(&grant).expect("valid grant");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        Self {
            verifier: TokenVerifier::new([key]).unwrap(),
            keyed: Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length"),
            header: Header {
                typ: None,
                kid: Some(KEY_ID.to_owned()),
                ..Header::new(Algorithm::HS256)
            },
            encoding: EncodingKey::from_secret(SECRET.as_bytes()).expect("non-empty secret"),
            decoding: DecodingKey::from_secret(SECRET.as_bytes()).expect("non-empty secret"),
            validation,
            signer,
            grant,
            token,
        }
    }

    fn hmac_floor(&self) -> String {
        let (signing_input, _) = self.token.as_str().rsplit_once('.').expect("a JWT");
        let mut mac = self.keyed.clone();
        mac.update(black_box(signing_input.as_bytes()));
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn sign(&self) -> MemberToken {
        self.signer
            .sign(black_box(&self.grant))
            .expect("valid grant")
    }

    fn verify(&self) -> MemberClaims {
        self.verifier
            .verify(black_box(self.token.as_str()))
            .expect("valid token")
    }

    /// The same token through jsonwebtoken, which re-keys HMAC per call.
    fn jsonwebtoken_encode(&self) -> String {
        jsonwebtoken::encode(&self.header, black_box(self.token.claims()), &self.encoding)
            .expect("encodes")
    }

    /// And back, parsing the header twice and the claims twice.
    fn jsonwebtoken_decode(&self) -> MemberClaims {
        let token = black_box(self.token.as_str());
        jsonwebtoken::decode_header(token).expect("a header");
        jsonwebtoken::decode::<MemberClaims>(token, &self.decoding, &self.validation)
            .expect("valid token")
            .claims
    }
}

fn mint(c: &mut Criterion) {
    let peers = Peers::new();
    let mut group = c.benchmark_group(GROUP);
    group.bench_function("hmac_floor", |b| b.iter(|| peers.hmac_floor()));
    group.bench_function("sign", |b| b.iter(|| peers.sign()));
    group.bench_function("verify", |b| b.iter(|| peers.verify()));
    group.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| peers.jsonwebtoken_encode())
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| peers.jsonwebtoken_decode())
    });
    group.finish();
}

/// Each ratio again, measured against the floor in alternating batches (see
/// `support::paired_ratio`), which this shared machine's load skews far less.
fn report_paired() {
    println!("\n{GROUP}: paired ratios, median of alternating batches");
    let peers = Peers::new();
    let floor = || drop(black_box(peers.hmac_floor()));
    let (rounds, batch) = (1001, 200);
    let ratio = |candidate: &dyn Fn()| paired_ratio(floor, candidate, rounds, batch);
    print_paired(
        "sign",
        "hmac_floor",
        ratio(&|| drop(black_box(peers.sign()))),
        2.0,
    );
    print_paired(
        "verify",
        "hmac_floor",
        ratio(&|| drop(black_box(peers.verify()))),
        2.5,
    );
    // Not targets: jsonwebtoken for comparison, and a gauge of the machine's load.
    let encode = ratio(&|| drop(black_box(peers.jsonwebtoken_encode())));
    let decode = ratio(&|| drop(black_box(peers.jsonwebtoken_decode())));
    for (name, ratio) in [
        ("jsonwebtoken_encode", encode),
        ("jsonwebtoken_decode", decode),
    ] {
        println!("  {name:<28} {ratio:>5.2}x hmac_floor         paired (for comparison)");
    }
}

fn report(_: &mut Criterion) {
    report_paired();
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
        ],
    );
}

criterion_group!(benches, mint, report);
criterion_main!(benches);
