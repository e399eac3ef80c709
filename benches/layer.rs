//! Time per request added by SourceAuthLayer, against tower-http's
//! `AddAuthorizationLayer::bearer` as the baseline, all in one run.
//!
//! `cargo bench --bench layer`
//!
//! With `LAYER_DATE=0` the stand-in for Source sends no `Date`, as a proxy or a
//! stand-in that strips it would: what the layer's sampling costs then.
//!
//! With `LAYER_REQUESTS=<case>:<count>` in the environment it sends `count`
//! requests of one case (`tower_http_bearer`, `api_key`, `api_key_rotating`,
//! `cached_member`, `per_request_grant_hit`) and exits, for `valgrind --tool=callgrind` to count
//! instructions: the same on a loaded machine as on a quiet one (BENCHMARKS.md).

mod support;

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use std::sync::LazyLock;

use http::header::DATE as DATE_HEADER;
use http::{HeaderValue, Request, Response, Uri};
use source_auth::{ApiKey, MemberGrant, RotatingKey, SourceAuthLayer, TokenSigner};
use support::{Ratio, paired_ratio, print_paired, print_ratios};
use tower::{Layer, Service};
use tower_http::auth::AddAuthorizationLayer;

const GROUP: &str = "layer";
const SECRET: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000";
const URI: &str = "https://api.sourcehealth.com/v1/members";

/// The inner service: answers at once, so only the middleware is measured. Its
/// responses carry a `Date`, as Source's do, so that the layer's sampling of
/// Source's clock is measured too.
#[derive(Clone, Copy)]
struct Bare;

/// `Date` as Source would send it, made once: a header value shared by every
/// response costs each one a reference count, not a formatting.
/// Whether the stand-in sends `Date` (`LAYER_DATE=0`: it does not).
static SENDS_DATE: LazyLock<bool> =
    LazyLock::new(|| std::env::var("LAYER_DATE").map_or(true, |value| value != "0"));

static DATE: LazyLock<HeaderValue> = LazyLock::new(|| {
    HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
        .expect("an HTTP date is a valid header value")
});

impl Service<Request<()>> for Bare {
    type Response = Response<bool>;
    type Error = Infallible;
    type Future = Ready<Result<Response<bool>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let mut response =
            Response::new(request.headers().contains_key(http::header::AUTHORIZATION));
        if *SENDS_DATE {
            response.headers_mut().insert(DATE_HEADER, DATE.clone());
        }
        ready(Ok(response))
    }
}

fn request() -> Request<()> {
    let mut request = Request::new(());
    // A static URI costs no allocation and no shared reference count.
    *request.uri_mut() = Uri::from_static(URI);
    request
}

/// Drives one request through `service`, whose futures are all ready at once.
fn send<S>(service: &mut S, request: Request<()>) -> bool
where
    S: Service<Request<()>, Response = Response<bool>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    match pin!(service.call(request)).poll(&mut cx) {
        Poll::Ready(result) => *result.expect("authorized").body(),
        Poll::Pending => unreachable!("every future here is ready"),
    }
}

fn key() -> ApiKey {
    ApiKey::new("key_0EipsUv2yRFxynHshisN", SECRET).expect("valid key")
}

/// The API key through a rotation handle: what an app that rotates keys pays.
fn rotating_layer() -> SourceAuthLayer {
    SourceAuthLayer::new(RotatingKey::new(key()))
}

fn member_layer() -> SourceAuthLayer {
    SourceAuthLayer::member(
        TokenSigner::new(key()),
        MemberGrant::member("mem_patient1").caregiver("mem_parent1"),
    )
    .unwrap()
}

fn layers(c: &mut Criterion) {
    let mut group = c.benchmark_group(GROUP);
    group.bench_function("bare", |b| {
        let mut service = Bare;
        b.iter(|| black_box(send(&mut service, request())));
    });
    group.bench_function("tower_http_bearer", |b| {
        let mut service = AddAuthorizationLayer::bearer(SECRET).layer(Bare);
        b.iter(|| black_box(send(&mut service, request())));
    });
    group.bench_function("api_key", |b| {
        let mut service = SourceAuthLayer::api_key(key()).layer(Bare);
        b.iter(|| black_box(send(&mut service, request())));
    });
    group.bench_function("api_key_rotating", |b| {
        let mut service = rotating_layer().layer(Bare);
        b.iter(|| black_box(send(&mut service, request())));
    });
    group.bench_function("cached_member", |b| {
        let mut service = member_layer().layer(Bare);
        b.iter(|| black_box(send(&mut service, request())));
    });
    group.bench_function("per_request_grant_hit", |b| {
        let mut service = SourceAuthLayer::api_key(key()).layer(Bare);
        let grant = MemberGrant::member("mem_patient1").caregiver("mem_parent1");
        b.iter(|| {
            let mut request = request();
            request.extensions_mut().insert(grant.clone());
            black_box(send(&mut service, request))
        });
    });
    // Throughput of the cached member path on 1 and on 2 threads sharing one layer,
    // and of the bare service: how far this machine lets the same work scale at all.
    // Each reports wall time divided by all requests sent.
    for threads in [1, 2] {
        group.bench_function(format!("cached_member_{threads}_threads"), |b| {
            let layer = member_layer();
            b.iter_custom(|iters| wall_time_per_request(|| layer.layer(Bare), threads, iters));
        });
        group.bench_function(format!("bare_{threads}_threads"), |b| {
            b.iter_custom(|iters| wall_time_per_request(|| Bare, threads, iters));
        });
    }
    group.finish();
}

fn wall_time_per_request<S>(make_service: impl Fn() -> S, threads: u32, iters: u64) -> Duration
where
    S: Service<Request<()>, Response = Response<bool>> + Send,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let mut service = make_service();
            scope.spawn(move || {
                for _ in 0..iters {
                    black_box(send(&mut service, request()));
                }
            });
        }
    });
    // Report time per request, so the 2-thread figure is half the 1-thread one at perfect scaling.
    start.elapsed() / threads
}

/// The same requests as `layers`, each against tower-http's bearer layer in
/// alternating batches (see `support::paired_ratio`).
fn report_paired() {
    println!("\n{GROUP}: paired ratios, median of alternating batches");
    let mut baseline = AddAuthorizationLayer::bearer(SECRET).layer(Bare);
    let mut api_key = SourceAuthLayer::api_key(key()).layer(Bare);
    let mut rotating = rotating_layer().layer(Bare);
    let mut cached = member_layer().layer(Bare);
    let mut per_request = SourceAuthLayer::api_key(key()).layer(Bare);
    let grant = MemberGrant::member("mem_patient1").caregiver("mem_parent1");
    let mut with_grant = || {
        let mut request = request();
        request.extensions_mut().insert(grant.clone());
        black_box(send(&mut per_request, request));
    };
    let mut base = || {
        black_box(send(&mut baseline, request()));
    };
    let mut api_key = || {
        black_box(send(&mut api_key, request()));
    };
    let mut cached = || {
        black_box(send(&mut cached, request()));
    };
    let mut rotating = || {
        black_box(send(&mut rotating, request()));
    };
    // The rotating key has no target of its own: it is reported beside the
    // fixed key's, whose target it would have to meet to replace it.
    let candidates: [(&str, &mut dyn FnMut(), f64); 4] = [
        ("api_key", &mut api_key, 1.10),
        ("api_key_rotating", &mut rotating, 1.10),
        ("cached_member", &mut cached, 1.5),
        ("per_request_grant_hit", &mut with_grant, 3.0),
    ];
    for (name, candidate, at_most) in candidates {
        let ratio = paired_ratio(&mut base, candidate, 2001, 500);
        print_paired(name, "tower_http_bearer", ratio, at_most);
    }
}

fn report(_: &mut Criterion) {
    report_paired();
    print_ratios(
        GROUP,
        &[
            Ratio {
                name: "api_key",
                baseline: "tower_http_bearer",
                at_most: 1.10,
            },
            Ratio {
                name: "cached_member",
                baseline: "tower_http_bearer",
                at_most: 1.5,
            },
            Ratio {
                name: "per_request_grant_hit",
                baseline: "tower_http_bearer",
                at_most: 3.0,
            },
            // 2-thread throughput >= 1.7x the 1-thread throughput.
            Ratio {
                name: "cached_member_2_threads",
                baseline: "cached_member_1_threads",
                at_most: 1.0 / 1.7,
            },
            // The same for the bare service: the most this machine allows.
            Ratio {
                name: "bare_2_threads",
                baseline: "bare_1_threads",
                at_most: 1.0 / 1.7,
            },
        ],
    );
}

/// Sends `count` requests of one case, for an instruction count.
fn send_requests(spec: &str) {
    let (case, count) = spec.split_once(':').expect("LAYER_REQUESTS=<case>:<count>");
    let count: usize = count.parse().expect("a request count");
    let grant = MemberGrant::member("mem_patient1").caregiver("mem_parent1");
    let mut service: Box<dyn FnMut()> = match case {
        "tower_http_bearer" => {
            let mut service = AddAuthorizationLayer::bearer(SECRET).layer(Bare);
            Box::new(move || assert!(send(&mut service, request())))
        }
        "api_key" => {
            let mut service = SourceAuthLayer::api_key(key()).layer(Bare);
            Box::new(move || assert!(send(&mut service, request())))
        }
        "api_key_rotating" => {
            let mut service = rotating_layer().layer(Bare);
            Box::new(move || assert!(send(&mut service, request())))
        }
        "cached_member" => {
            let mut service = member_layer().layer(Bare);
            Box::new(move || assert!(send(&mut service, request())))
        }
        "per_request_grant_hit" => {
            let mut service = SourceAuthLayer::api_key(key()).layer(Bare);
            Box::new(move || {
                let mut request = request();
                request.extensions_mut().insert(grant.clone());
                assert!(send(&mut service, request));
            })
        }
        other => panic!("no case {other}"),
    };
    for _ in 0..count {
        service();
    }
}

criterion_group!(benches, layers, report);

fn main() {
    if let Ok(spec) = std::env::var("LAYER_REQUESTS") {
        return send_requests(&spec);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
