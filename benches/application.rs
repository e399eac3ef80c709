//! What verifying a Source application token costs, next to the floor:
//! ed25519-dalek's bare `verify_strict` of the same signature over the same
//! signing input, with the key and signature already decoded.
//!
//! `cargo bench --features application --bench application` prints
//! `verify / verify_strict_floor` (target ≤ 1.3) at the end.

mod support;

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signature, VerifyingKey};
use source_auth::ManualClock;
use source_auth::application::{ApplicationKey, ApplicationVerifier};
use source_auth::testing::MockSource;
use support::{Ratio, print_ratios};

const GROUP: &str = "application";
const APPLICATION_ID: &str = "app_5QW8j1oKqQjNaPk4Hv3f";

fn application(c: &mut Criterion) {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let source = runtime
        .block_on(MockSource::start())
        .map(|mock| mock.with_clock(clock.clone()))
        .expect("the mock starts");
    let key = source.application(APPLICATION_ID).expect("a valid id");
    let token = source
        .application_token(APPLICATION_ID, "usr_2bXq9VtLm4Rk7WcP1sZd")
        .expect("valid ids");
    let verifier = ApplicationVerifier::new(APPLICATION_ID, [key.clone()])
        .unwrap()
        .with_clock(clock);
    assert!(verifier.verify(&token).is_ok());

    // The same key and signature, decoded once, for the bare check.
    let jwk: serde_json::Value = serde_json::from_str(&key.to_jwk()).expect("JSON");
    let x = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().expect("x"))
        .expect("base64url");
    let public = VerifyingKey::from_bytes(&x.try_into().expect("32 bytes")).expect("a key");
    let (signing_input, signature) = token.rsplit_once('.').expect("a JWT");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    let signature = Signature::from_bytes(&signature.try_into().expect("64 bytes"));

    let mut group = c.benchmark_group(GROUP);
    group.bench_function("verify_strict_floor", |b| {
        b.iter(|| public.verify_strict(black_box(signing_input.as_bytes()), &signature))
    });
    group.bench_function("verify", |b| b.iter(|| verifier.verify(black_box(&token))));
    group.bench_function("from_jwk", |b| {
        let jwk = key.to_jwk();
        b.iter(|| ApplicationKey::from_jwk(black_box(&jwk)))
    });
    group.finish();
}

fn report(_: &mut Criterion) {
    print_ratios(
        GROUP,
        &[Ratio {
            name: "verify",
            baseline: "verify_strict_floor",
            at_most: 1.3,
        }],
    );
}

criterion_group!(benches, application, report);
criterion_main!(benches);
