//! What minting and verifying a caregiver token cost, next to the floor: HMAC-SHA256
//! over the same signing input from a pre-keyed state, plus base64url of the MAC.
//!
//! `cargo bench --bench mint -- --warm-up-time 1 --measurement-time 3` measures all
//! three and prints `sign / floor` (target ≤ 2.0) and `verify / floor` (target ≤ 2.5)
//! from criterion's medians.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::Criterion;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use source_auth::{ApiKey, MemberGrant, TokenSigner, TokenVerifier};

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
    group.bench_function("sign", |b| b.iter(|| signer.sign(black_box(&grant))));
    group.bench_function("hmac_floor", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(signing_input.as_bytes()));
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| verifier.verify(black_box(token.as_str())))
    });
    group.finish();
}

/// Where criterion writes its results: the same order of places it looks in.
fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|dir| PathBuf::from(dir).join("criterion"))
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/criterion"))
}

/// The median in nanoseconds of `name`, if criterion measured it in this run.
fn median_ns(name: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(GROUP)
        .join(name)
        .join("new/estimates.json");
    let fresh = std::fs::metadata(&path).ok()?.modified().ok()? >= since;
    let estimates: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    estimates["median"]["point_estimate"]
        .as_f64()
        .filter(|_| fresh)
}

fn print_ratios(since: SystemTime) {
    let medians = ["sign", "hmac_floor", "verify"].map(|name| median_ns(name, since));
    let [Some(sign), Some(floor), Some(verify)] = medians else {
        println!(
            "{GROUP}: ratios need all three benchmarks measured in one run (no filter, not --test)"
        );
        return;
    };
    println!(
        "\n{GROUP}: medians: sign {sign:.0} ns, verify {verify:.0} ns, HMAC-SHA256 floor {floor:.0} ns"
    );
    for (name, ns, target) in [("sign", sign, 2.0), ("verify", verify, 2.5)] {
        let ratio = ns / floor;
        let verdict = if ratio <= target {
            "met".to_owned()
        } else {
            format!("MISSED by {:.0}%", (ratio / target - 1.0) * 100.0)
        };
        println!("{GROUP}: {name:>6} / floor = {ratio:.2} (target <= {target:.1}): {verdict}");
    }
}

fn main() {
    let started = SystemTime::now();
    let mut criterion = Criterion::default().configure_from_args();
    mint(&mut criterion);
    criterion.final_summary();
    print_ratios(started);
}
