//! What the layer costs on `reqwest::Client` as a tower service, where reading a
//! request's own extensions takes two conversions through `http::Request`.
//!
//! `cargo bench --features reqwest --bench reqwest`

mod support;

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use reqwest::{Method, Url};
use source_auth::{ApiKey, MemberGrant, SourceAuthLayer};
use support::{Ratio, print_ratios};
use tower::{Layer, Service};

const GROUP: &str = "reqwest";
static URL: LazyLock<Url> =
    LazyLock::new(|| Url::parse("https://api.sourcehealth.com/v1/members").expect("valid"));

/// Stands in for `reqwest::Client`: answers at once, so only the middleware is measured.
#[derive(Clone, Copy)]
struct Bare;

impl Service<reqwest::Request> for Bare {
    type Response = reqwest::Response;
    type Error = Infallible;
    type Future = Ready<Result<reqwest::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    /// A response with a `Date`, as Source's have, whose status says whether the
    /// request was authorized (204) or not (400).
    fn call(&mut self, request: reqwest::Request) -> Self::Future {
        let status = if request.headers().contains_key(http::header::AUTHORIZATION) {
            http::StatusCode::NO_CONTENT
        } else {
            http::StatusCode::BAD_REQUEST
        };
        let response = http::Response::builder()
            .status(status)
            .header(http::header::DATE, DATE.clone())
            .body("")
            .expect("a valid response");
        ready(Ok(reqwest::Response::from(response)))
    }
}

/// `Date` as Source would send it, made once.
static DATE: LazyLock<http::HeaderValue> = LazyLock::new(|| {
    http::HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
        .expect("an HTTP date is a valid header value")
});

fn request() -> reqwest::Request {
    reqwest::Request::new(Method::GET, URL.clone())
}

fn send<S>(service: &mut S, request: reqwest::Request) -> bool
where
    S: Service<reqwest::Request, Response = reqwest::Response>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    match pin!(service.call(request)).poll(&mut cx) {
        Poll::Ready(result) => result.expect("authorized").status() == http::StatusCode::NO_CONTENT,
        Poll::Pending => unreachable!("every future here is ready"),
    }
}

fn key() -> ApiKey {
    ApiKey::new(
        "key_0EipsUv2yRFxynHshisN",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000",
    )
    .expect("valid key")
}

fn layers(c: &mut Criterion) {
    let mut group = c.benchmark_group(GROUP);
    group.bench_function("bare", |b| {
        let mut service = Bare;
        b.iter(|| black_box(send(&mut service, request())));
    });
    group.bench_function("api_key", |b| {
        let mut service = SourceAuthLayer::api_key(key()).layer(Bare);
        b.iter(|| black_box(send(&mut service, request())));
    });
    // The request as an app would make it from an `http::Request` with a grant:
    // the conversion is in both, the layer's work only in the second.
    let converted = |grant: &MemberGrant| {
        let mut request = http::Request::get(URL.as_str()).body(Vec::new()).unwrap();
        request.extensions_mut().insert(grant.clone());
        let mut request = reqwest::Request::try_from(request).expect("converts");
        *request.body_mut() = None;
        request
    };
    let grant = MemberGrant::member("mem_patient1").caregiver("mem_parent1");
    group.bench_function("converted_bare", |b| {
        let mut service = Bare;
        b.iter(|| black_box(send(&mut service, converted(&grant))));
    });
    group.bench_function("converted_grant_hit", |b| {
        let mut service = SourceAuthLayer::api_key(key()).layer(Bare);
        b.iter(|| black_box(send(&mut service, converted(&grant))));
    });
    group.finish();
}

fn report(_: &mut Criterion) {
    print_ratios(
        GROUP,
        &[
            Ratio {
                name: "api_key",
                baseline: "bare",
                at_most: f64::INFINITY,
            },
            Ratio {
                name: "converted_grant_hit",
                baseline: "converted_bare",
                at_most: f64::INFINITY,
            },
        ],
    );
    for (name, baseline) in [
        ("api_key", "bare"),
        ("converted_grant_hit", "converted_bare"),
    ] {
        if let (Some(value), Some(base)) = (
            support::median_ns(GROUP, name),
            support::median_ns(GROUP, baseline),
        ) {
            println!("  {name} adds {:.0} ns to {baseline}", value - base);
        }
    }
}

criterion_group!(benches, layers, report);
criterion_main!(benches);
