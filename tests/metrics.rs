//! What a real `SourceAuthLayer` records through the `metrics` facade (feature
//! `metrics`), read back with `metrics-util`'s `DebuggingRecorder`.
//!
//! Each test installs its own recorder for its thread only
//! (`set_default_local_recorder`), so tests running at once never see each
//! other's metrics; `#[tokio::test]`'s runtime polls every request on that thread.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{api_key, clock};
use http::header::{AUTHORIZATION, DATE};
use http::{Request, Response, StatusCode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use source_auth::{
    ApiKey, Clock, Error, ErrorKind, ManualClock, MemberGrant, RotatingKey, SourceAuthLayer,
    TokenSigner,
};
use tower::{Layer, Service, ServiceExt, service_fn};

const URL: &str = "https://api.sourcehealth.com/v1/members";
const MINUTE: Duration = Duration::from_secs(60);

const MINTED: &str = "source_auth_member_tokens_minted_total";
const HITS: &str = "source_auth_cache_hits_total";
const REFUSED: &str = "source_auth_requests_refused_total";
const ENTRIES: &str = "source_auth_grant_cache_entries";
const RETIRED: &str = "source_auth_tokens_retired_total";
const ROTATIONS: &str = "source_auth_key_rotations_total";
const OFFSET: &str = "source_auth_clock_offset_seconds";

/// A name and its labels as `key=value`, sorted.
type Series = (String, Vec<String>);

/// What the layer recorded so far.
///
/// A snapshot swaps every value it reads to zero, counters and gauges alike, so
/// each reading is added to the totals of the ones before. The layer only ever
/// increments its counters and moves the entries gauge up and down, so those sums
/// are the values an exporter would show; the clock-offset gauge, which is set,
/// is read once.
struct Recorded {
    snapshotter: Snapshotter,
    totals: HashMap<Series, f64>,
}

impl Recorded {
    fn new(recorder: &DebuggingRecorder) -> Self {
        Self {
            snapshotter: recorder.snapshotter(),
            totals: HashMap::new(),
        }
    }

    /// The value of `name` with exactly `labels`; zero if never recorded.
    fn value(&mut self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.read();
        let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        self.totals
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or_default()
    }

    /// Adds what was recorded since the last reading to the totals.
    fn read(&mut self) {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut series_labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            series_labels.sort();
            let value = match value {
                DebugValue::Counter(count) => count as f64,
                DebugValue::Gauge(gauge) => gauge.into_inner(),
                DebugValue::Histogram(_) => unreachable!("the layer records no histogram"),
            };
            *self
                .totals
                .entry((key.name().to_owned(), series_labels))
                .or_default() += value;
        }
    }

    fn minted(&mut self, grant: &str, mint: &str) -> f64 {
        self.value(MINTED, &[("grant", grant), ("mint", mint)])
    }

    fn hits(&mut self, cache: &str) -> f64 {
        self.value(HITS, &[("cache", cache)])
    }

    fn refused(&mut self, kind: &str) -> f64 {
        self.value(REFUSED, &[("kind", kind)])
    }

    fn retired(&mut self, grant: &str) -> f64 {
        self.value(RETIRED, &[("grant", grant)])
    }

    fn entries(&mut self) -> f64 {
        self.value(ENTRIES, &[])
    }

    /// Every label value recorded so far.
    fn label_values(&mut self) -> Vec<String> {
        self.read();
        self.totals
            .keys()
            .flat_map(|(_, labels)| labels.iter())
            .map(|label| label.split_once('=').unwrap().1.to_owned())
            .collect()
    }
}

/// Sends a request for Source through `layer`, carrying `grant` if given.
async fn send(layer: &SourceAuthLayer, grant: Option<MemberGrant>) -> Result<(), Error> {
    let mut request = Request::get(URL).body(()).unwrap();
    if let Some(grant) = grant {
        request.extensions_mut().insert(grant);
    }
    send_request(layer, request).await
}

async fn send_request(layer: &SourceAuthLayer, request: Request<()>) -> Result<(), Error> {
    let answer = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    match layer.layer(answer).oneshot(request).await {
        Ok(_) => Ok(()),
        Err(error) => Err(*error.downcast::<Error>().expect("a source_auth::Error")),
    }
}

fn signer(clock: &ManualClock) -> TokenSigner {
    TokenSigner::new(api_key()).with_clock(clock.clone())
}

fn per_request(clock: &ManualClock) -> SourceAuthLayer {
    SourceAuthLayer::per_request(signer(clock)).with_clock(clock.clone())
}

/// How many grants `layer`'s cache holds, as its `Debug` reports.
fn cached_grants(layer: &SourceAuthLayer) -> f64 {
    let debug = format!("{layer:?}");
    let count = debug
        .split_once("cached_grants: ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or_else(|| panic!("no cached_grants in {debug}"));
    count.parse().unwrap()
}

#[tokio::test]
async fn the_layers_own_token_counts_a_first_mint_hits_and_a_refresh() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut recorded = Recorded::new(&recorder);
    let clock = clock();
    let layer = SourceAuthLayer::member(signer(&clock), MemberGrant::member("mem_1")).unwrap();

    for _ in 0..3 {
        send(&layer, None).await.unwrap();
    }
    assert_eq!(recorded.minted("member", "first"), 1.0);
    assert_eq!(recorded.hits("layer"), 2.0);

    clock.advance(5 * MINUTE);
    send(&layer, None).await.unwrap();
    send(&layer, None).await.unwrap();
    assert_eq!(recorded.minted("member", "first"), 1.0);
    assert_eq!(recorded.minted("member", "refresh"), 1.0);
    assert_eq!(recorded.hits("layer"), 3.0);
    assert_eq!(recorded.hits("per_request"), 0.0);
}

#[tokio::test]
async fn per_request_grants_count_their_kind_mints_and_hits() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut recorded = Recorded::new(&recorder);
    let clock = clock();
    let layer = per_request(&clock);
    let caregiver = MemberGrant::member("mem_1").caregiver("mem_2");

    send(&layer, Some(caregiver.clone())).await.unwrap();
    send(&layer, Some(caregiver.clone())).await.unwrap();
    send(&layer, Some(MemberGrant::member("mem_3")))
        .await
        .unwrap();
    assert_eq!(recorded.minted("caregiver", "first"), 1.0);
    assert_eq!(recorded.minted("member", "first"), 1.0);
    assert_eq!(recorded.hits("per_request"), 1.0);

    clock.advance(5 * MINUTE);
    send(&layer, Some(caregiver)).await.unwrap();
    assert_eq!(recorded.minted("caregiver", "refresh"), 1.0);
    assert_eq!(recorded.hits("per_request"), 1.0);
    assert_eq!(recorded.hits("layer"), 0.0);

    // The ids never become label values.
    let labels = recorded.label_values();
    assert!(
        labels.iter().all(|value| !value.contains("mem_")),
        "{labels:?}"
    );
}

#[tokio::test]
async fn each_refusal_counts_its_kind() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut recorded = Recorded::new(&recorder);
    let clock = clock();
    let layer = per_request(&clock);

    let missing = send(&layer, None).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::MissingCredential);
    let mut conflicting = Request::get(URL)
        .header(AUTHORIZATION, "Bearer mine")
        .body(())
        .unwrap();
    conflicting
        .extensions_mut()
        .insert(MemberGrant::member("mem_1"));
    let refused = send_request(&layer, conflicting).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConflictingCredentials);
    let bad = send(&layer, Some(MemberGrant::member("not_a_member")))
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidMemberId);
    send(&layer, None).await.unwrap_err();

    assert_eq!(recorded.refused("missing_credential"), 2.0);
    assert_eq!(recorded.refused("conflicting_credentials"), 1.0);
    assert_eq!(recorded.refused("invalid_member_id"), 1.0);
    assert_eq!(recorded.minted("member", "first"), 0.0);
}

/// The gauge sums every cache in the process: each layer's entries add to it,
/// a refresh leaves it as it was, and a dropped layer takes its entries with it.
#[tokio::test]
async fn grant_cache_entries_of_two_layers_add_up_and_leave_with_them() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut recorded = Recorded::new(&recorder);
    let clock = clock();
    let (first, second) = (per_request(&clock), per_request(&clock));

    for member in ["mem_1", "mem_2"] {
        send(&first, Some(MemberGrant::member(member)))
            .await
            .unwrap();
    }
    for member in ["mem_1", "mem_2", "mem_3"] {
        send(&second, Some(MemberGrant::member(member)))
            .await
            .unwrap();
    }
    assert_eq!(recorded.entries(), 5.0);

    clock.advance(5 * MINUTE);
    send(&first, Some(MemberGrant::member("mem_1")))
        .await
        .unwrap();
    assert_eq!(recorded.minted("member", "refresh"), 1.0);
    assert_eq!(recorded.entries(), 5.0);

    drop(first);
    assert_eq!(recorded.entries(), 3.0);
    drop(second);
    assert_eq!(recorded.entries(), 0.0);
}

/// An entry evicted for a newer one leaves the gauge, which stays equal to what
/// the cache holds.
#[tokio::test]
async fn an_eviction_counts_the_entry_down() {
    const CAPACITY: usize = 4;
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut recorded = Recorded::new(&recorder);
    let clock = clock();
    let layer = per_request(&clock).grant_cache_capacity(CAPACITY);

    for member in 0..4 * CAPACITY {
        send(&layer, Some(MemberGrant::member(format!("mem_{member}"))))
            .await
            .unwrap();
        assert_eq!(recorded.entries(), cached_grants(&layer));
    }
    assert_eq!(recorded.minted("member", "first"), (4 * CAPACITY) as f64);
    assert!(recorded.entries() <= CAPACITY as f64);
    assert!(recorded.entries() > 0.0);

    drop(layer);
    assert_eq!(recorded.entries(), 0.0);
}

/// A cache that holds nothing admits no entry: what it turns away at once
/// never shows in the gauge.
#[tokio::test]
async fn a_cache_of_no_entries_counts_none() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut recorded = Recorded::new(&recorder);
    let clock = clock();
    let layer = per_request(&clock).grant_cache_capacity(0);

    for _ in 0..3 {
        send(&layer, Some(MemberGrant::member("mem_1")))
            .await
            .unwrap();
        assert_eq!(recorded.entries(), 0.0);
    }
    assert_eq!(recorded.minted("member", "first"), 3.0);
}

/// A 401 to a cached token retires it: the next request mints anew and the
/// retirement is counted, with the grant's kind.
#[tokio::test]
async fn a_token_source_refused_counts_as_retired() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut recorded = Recorded::new(&recorder);
    let clock = clock();
    let layer = SourceAuthLayer::member(signer(&clock), MemberGrant::member("mem_1")).unwrap();
    let refuse_once = AtomicBool::new(true);
    let source = service_fn(|_: Request<()>| {
        let status = if refuse_once.swap(false, Ordering::SeqCst) {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        let mut response = Response::new(());
        *response.status_mut() = status;
        async move { Ok::<_, Infallible>(response) }
    });
    let mut service = layer.layer(source);

    for _ in 0..3 {
        let request = Request::get(URL).body(()).unwrap();
        service.ready().await.unwrap().call(request).await.unwrap();
    }
    assert_eq!(recorded.retired("member"), 1.0);
    assert_eq!(recorded.retired("caregiver"), 0.0);
    assert_eq!(recorded.minted("member", "first"), 1.0);
    assert_eq!(recorded.minted("member", "refresh"), 1.0);
    assert_eq!(recorded.hits("layer"), 1.0);
}

#[tokio::test]
async fn each_key_rotation_counts() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut recorded = Recorded::new(&recorder);
    let keys = RotatingKey::new(api_key());
    let _layer = SourceAuthLayer::new(keys.clone());

    for id in ["key_second", "key_third"] {
        keys.rotate(ApiKey::new(id, common::SECRET).unwrap())
            .unwrap();
    }
    assert_eq!(recorded.value(ROTATIONS, &[]), 2.0);
}

/// Source's `Date` ten minutes ahead of this host: the gauge shows the offset
/// the layer mints on (the earliest end of its bound), labelled with the
/// origin's host.
#[tokio::test]
async fn the_clock_offset_is_a_gauge_per_host() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut recorded = Recorded::new(&recorder);
    let clock = clock();
    let layer = per_request(&clock);
    let ahead = clock.now() + 10 * MINUTE;
    let source = service_fn(|_: Request<()>| async move {
        let mut response = Response::new(());
        let date = httpdate::fmt_http_date(ahead);
        response.headers_mut().insert(DATE, date.parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    let mut request = Request::get(URL).body(()).unwrap();
    request
        .extensions_mut()
        .insert(MemberGrant::member("mem_1"));
    layer.layer(source).oneshot(request).await.unwrap();

    // The earliest end of the bound: `Date` itself, with no round trip on the
    // manual clock.
    let offset = recorded.value(OFFSET, &[("host", "api.sourcehealth.com")]);
    assert_eq!(offset, 600.0);
}
