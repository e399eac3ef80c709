//! Per-request grants through the layer as the number of members grows: time per
//! request and memory per cached entry, at the default cache capacity and at one
//! that holds every member.
//!
//! `cargo bench --bench scale`

mod support;

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, criterion_group};
use http::{Request, Response, Uri};
use source_auth::{ApiKey, ManualClock, MemberGrant, SourceAuthLayer, TokenSigner};
use support::{Ratio, median_ns, paired_difference_ns, paired_ratio, print_paired, print_ratios};
use tower::{Layer, Service};

const GROUP: &str = "scale";
const URI: &str = "https://api.sourcehealth.com/v1/members";
const DEFAULT_CAPACITY: usize = 10_000;

/// (members, cache capacity): every request a hit, or with 1,000,000 members and
/// the default capacity, every request a miss.
const CASES: [(usize, usize); 4] = [
    (10, DEFAULT_CAPACITY),
    (10_000, DEFAULT_CAPACITY),
    (1_000_000, DEFAULT_CAPACITY),
    (1_000_000, 1_000_000),
];

/// Answers at once, so only the layer is measured.
#[derive(Clone, Copy)]
struct Bare;

impl Service<Request<()>> for Bare {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        assert!(request.headers().contains_key(http::header::AUTHORIZATION));
        ready(Ok(Response::new(())))
    }
}

fn send<S>(service: &mut S, grant: &MemberGrant)
where
    S: Service<Request<()>, Response = Response<()>>,
    S::Error: std::fmt::Debug,
{
    let mut request = Request::new(());
    *request.uri_mut() = Uri::from_static(URI);
    request.extensions_mut().insert(grant.clone());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    match pin!(service.call(request)).poll(&mut cx) {
        Poll::Ready(result) => drop(result.expect("authorized")),
        Poll::Pending => unreachable!("every future here is ready"),
    }
}

/// A clock that never moves, so cached tokens stay fresh for the whole run.
fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

fn signer() -> TokenSigner {
    let key = ApiKey::new(
        "key_0EipsUv2yRFxynHshisN",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000",
    )
    .expect("valid key");
    TokenSigner::new(key).with_clock(clock())
}

/// Caregiver grants for `count` distinct members, as a backend would send them.
fn grants(count: usize) -> Vec<MemberGrant> {
    (0..count)
        .map(|n| MemberGrant::member(format!("mem_patient{n}")).caregiver("mem_parent1"))
        .collect()
}

fn layer(capacity: usize) -> SourceAuthLayer {
    SourceAuthLayer::per_request(signer())
        .with_clock(clock())
        .grant_cache_capacity(capacity)
}

fn name(members: usize, capacity: usize) -> String {
    format!("members_{members}_capacity_{capacity}")
}

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group(GROUP);
    group.sample_size(20);
    let signer = signer();
    let one = MemberGrant::member("mem_patient1").caregiver("mem_parent1");
    group.bench_function("mint", |b| b.iter(|| black_box(signer.sign(&one))));
    for (members, capacity) in CASES {
        let mut request = cycling(members, capacity);
        group.bench_function(name(members, capacity), |b| b.iter(&mut request));
    }
    group.finish();
}

/// Resident memory of this process, in bytes (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// A layer at `capacity`, warmed with every one of `members` grants it can hold,
/// and a request that sends the next grant in turn.
fn cycling(members: usize, capacity: usize) -> impl FnMut() {
    let grants = grants(members);
    let mut service = layer(capacity).layer(Bare);
    grants.iter().for_each(|grant| send(&mut service, grant));
    let mut next = 0;
    move || {
        send(&mut service, &grants[next]);
        next = (next + 1) % grants.len();
    }
}

/// Both targets, each measured against its baseline in alternating batches (see
/// `support::paired_ratio`), which this shared machine's load skews far less than
/// medians measured seconds apart.
fn report_paired() {
    println!("\n{GROUP}: paired, median of alternating batches");
    let ratio = paired_ratio(
        cycling(10, DEFAULT_CAPACITY),
        cycling(10_000, DEFAULT_CAPACITY),
        2001,
        500,
    );
    print_paired(
        &name(10_000, DEFAULT_CAPACITY),
        &name(10, DEFAULT_CAPACITY),
        ratio,
        1.5,
    );
    let signer = signer();
    let one = MemberGrant::member("mem_patient1").caregiver("mem_parent1");
    let beyond_mint = paired_difference_ns(
        || drop(black_box(signer.sign(&one))),
        cycling(1_000_000, DEFAULT_CAPACITY),
        401,
        500,
    );
    let mark = if beyond_mint <= 1000.0 {
        "ok"
    } else {
        "MISSED"
    };
    println!(
        "  every request a miss: mint + {beyond_mint:.0} ns paired (target <= mint + 1000 ns) {mark}"
    );
}

fn report(_: &mut Criterion) {
    report_paired();
    print_ratios(
        GROUP,
        &[Ratio {
            name: &name(10_000, DEFAULT_CAPACITY),
            baseline: &name(10, DEFAULT_CAPACITY),
            at_most: 1.5,
        }],
    );
    let (Some(mint), Some(miss)) = (
        median_ns(GROUP, "mint"),
        median_ns(GROUP, &name(1_000_000, DEFAULT_CAPACITY)),
    ) else {
        return;
    };
    let mark = if miss <= mint + 1000.0 {
        "ok"
    } else {
        "MISSED"
    };
    println!(
        "  every request a miss: {miss:.0} ns = mint {mint:.0} ns + {:.0} ns (target <= mint + 1000 ns) {mark}",
        miss - mint
    );
    println!("\n{GROUP}: resident memory added by the cache, per cached entry");
    for (case, (members, capacity)) in CASES.into_iter().enumerate() {
        // Each case in a fresh process of this benchmark, so that memory the
        // allocator kept from earlier work is not counted as free.
        let added = std::env::current_exe().ok().and_then(|exe| {
            let output = std::process::Command::new(exe)
                .env(MEMORY_CASE, case.to_string())
                .output()
                .ok()?;
            String::from_utf8(output.stdout)
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
        });
        let Some(added) = added else {
            println!("  no /proc/self/statm: memory not measured");
            return;
        };
        let entries = members.min(capacity);
        println!(
            "  {members:>9} members, capacity {capacity:>9}: {:>8.1} MiB added, {:>6.0} B per entry",
            added as f64 / (1024.0 * 1024.0),
            added as f64 / entries as f64,
        );
    }
}

/// Set in a child process: measure the memory of this case of [`CASES`] only.
const MEMORY_CASE: &str = "SOURCE_AUTH_SCALE_MEMORY_CASE";

/// Prints the resident memory one case's cache adds, from a fresh process.
fn measure_memory_case(case: usize) {
    let (members, capacity) = CASES[case];
    let grants = grants(members);
    let before = resident_bytes().expect("Linux");
    let mut service = layer(capacity).layer(Bare);
    grants.iter().for_each(|grant| send(&mut service, grant));
    let after = resident_bytes().expect("Linux");
    println!("{}", after.saturating_sub(before));
}

criterion_group!(benches, scale, report);

fn main() {
    match std::env::var(MEMORY_CASE)
        .ok()
        .and_then(|case| case.parse().ok())
    {
        Some(case) => measure_memory_case(case),
        None => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
