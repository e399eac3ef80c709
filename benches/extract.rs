//! Time per request the axum extractors add to a handler, against the same
//! handler taking only the app's own user extractor, all in one run.
//!
//! `*_added` send the two requests in alternating pairs and take the median
//! difference, so that both sides see the same load; on a shared machine that is
//! steadier than subtracting two benchmarks run one after the other.
//!
//! `cargo bench --features axum --bench extract`

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use source_auth::axum::{ExtractorConfig, SourceCaregiver, SourceMember, TokenIssuer};
use source_auth::{ApiKey, MemberGrant, SourceIdentity, TokenSigner};
use support::median_ns;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const GROUP: &str = "extract";
/// The most an extractor may add to a request, in nanoseconds.
const TARGET_ADDED_NS: f64 = 2_000.0;

/// A toy login: the user named in `x-demo-user`, as the app's own extractor.
struct User {
    member_id: String,
}

impl SourceIdentity for User {
    fn source_member_id(&self) -> Option<&str> {
        Some(&self.member_id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        let name = parts
            .headers
            .get("x-demo-user")
            .and_then(|value| value.to_str().ok())
            .ok_or(StatusCode::UNAUTHORIZED)?;
        Ok(Self {
            member_id: format!("mem_{name}"),
        })
    }
}

fn signer() -> TokenSigner {
    let key = ApiKey::new(
        "key_0EipsUv2yRFxynHshisN",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000",
    )
    .expect("valid key");
    TokenSigner::new(key)
}

fn app() -> Router {
    Router::new()
        .route("/user", get(|_: User| async { StatusCode::NO_CONTENT }))
        .route(
            "/member",
            get(|_: SourceMember<User>| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/user/{member_id}",
            get(|_: User, _: RawPathParams| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/caregiver/{member_id}",
            get(|_: SourceCaregiver<User>| async { StatusCode::NO_CONTENT }),
        )
        .with_state(TokenIssuer::new(signer(), ExtractorConfig::default()).expect("valid"))
}

const USER_ONLY: &str = "/user";
const SOURCE_MEMBER: &str = "/member";
const USER_AND_PATH: &str = "/user/mem_kid";
const SOURCE_CAREGIVER: &str = "/caregiver/mem_kid";

/// The differences measured against the target: (name, with, without the extractor).
const ADDED: &[(&str, &str, &str)] = &[
    ("source_member_added", SOURCE_MEMBER, USER_ONLY),
    ("source_caregiver_added", SOURCE_CAREGIVER, USER_AND_PATH),
];

/// `iters` times the median of how much longer a request to `with` takes than
/// one to `without`, sent in alternating pairs. The median drops the pairs in
/// which the machine preempted one side.
fn added(
    runtime: &Runtime,
    app: &Router,
    with: &'static str,
    without: &'static str,
    iters: u64,
) -> Duration {
    let mut differences: Vec<Duration> = (0..iters)
        .map(|_| {
            let start = Instant::now();
            black_box(send(runtime, app, without));
            let without_time = start.elapsed();
            let start = Instant::now();
            black_box(send(runtime, app, with));
            start.elapsed().saturating_sub(without_time)
        })
        .collect();
    differences.sort_unstable();
    let median = differences
        .get(differences.len() / 2)
        .copied()
        .unwrap_or_default();
    // Criterion refuses a zero time.
    let median_ns = u64::try_from(median.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(median_ns.saturating_mul(iters))
}

/// One request through a fresh clone of `app`, as a server does per connection.
fn send(runtime: &Runtime, app: &Router, uri: &'static str) -> StatusCode {
    let request = Request::get(uri)
        .header("x-demo-user", "ada")
        .body(Body::empty())
        .expect("a valid request");
    let response = runtime
        .block_on(app.clone().oneshot(request))
        .expect("infallible");
    response.status()
}

fn extractors(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let app = app();
    let mut group = c.benchmark_group(GROUP);
    for (name, uri) in [
        ("user_only", USER_ONLY),
        ("source_member", SOURCE_MEMBER),
        ("user_and_path", USER_AND_PATH),
        ("source_caregiver", SOURCE_CAREGIVER),
    ] {
        assert_eq!(send(&runtime, &app, uri), StatusCode::NO_CONTENT, "{uri}");
        group.bench_function(name, |b| b.iter(|| black_box(send(&runtime, &app, uri))));
    }
    for &(name, with, without) in ADDED {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| added(&runtime, &app, with, without, iters))
        });
    }
    // What signing alone costs, for reading the differences above.
    group.bench_function("sign_only", |b| {
        let signer = signer();
        b.iter(|| black_box(signer.sign(&MemberGrant::member("mem_ada"))));
    });
    group.finish();
}

/// Prints what each extractor adds, against the target.
fn report(_: &mut Criterion) {
    println!("\n{GROUP}: mean time added per request, measured in this run");
    for &(name, _, _) in ADDED {
        match median_ns(GROUP, name) {
            Some(added) => {
                let mark = if added <= TARGET_ADDED_NS {
                    "ok"
                } else {
                    "MISSED"
                };
                println!("  {name:<24} {added:>7.1} ns (target <= {TARGET_ADDED_NS:.0}) {mark}");
            }
            None => println!("  {name}: no estimate (was it filtered out?)"),
        }
    }
}

criterion_group!(benches, extractors, report);
criterion_main!(benches);
