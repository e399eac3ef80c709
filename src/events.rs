//! What the layer and middleware tell `tracing` (feature `tracing`), for the
//! operator who asks "why did my request go out without a token?", and record
//! through the `metrics` facade (feature `metrics`), for the one who graphs it.
//!
//! Never a token, a secret or a header value; member ids only at TRACE, since in a
//! health API they identify patients, and never an id as a metric label. Without
//! the features every function here is empty and compiles away.
//!
//! The metrics (the README's "Metrics" table documents them for users):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `source_auth_member_tokens_minted_total` | counter | `grant`: `member`, `caregiver`; `mint`: `first`, `refresh` |
//! | `source_auth_cache_hits_total` | counter | `cache`: `layer`, `per_request` |
//! | `source_auth_requests_refused_total` | counter | `kind`: the `ErrorKind` in snake_case |
//! | `source_auth_tokens_retired_total` | counter | `grant`: `member`, `caregiver` |
//! | `source_auth_key_rotations_total` | counter | none |
//! | `source_auth_clock_offset_seconds` | gauge | `host`: the origin's host |
//! | `source_auth_grant_cache_entries` | gauge | none |

use std::time::Duration;

use crate::error::Error;
use crate::member::MemberGrant;
use crate::origin::{Origin, Target};
use crate::skew::{ClockBound, SourceClock};

/// A member token was minted for `grant`, or refreshed when `refresh`.
#[inline]
pub(crate) fn minted(grant: &MemberGrant, key_id: &str, expires_at: u64, refresh: bool) {
    #[cfg(feature = "metrics")]
    {
        let mint = if refresh { "refresh" } else { "first" };
        metrics::counter!(
            "source_auth_member_tokens_minted_total",
            "grant" => grant_kind(grant.actor().is_some()),
            "mint" => mint
        )
        .increment(1);
    }
    #[cfg(feature = "tracing")]
    {
        let kind = grant_kind(grant.actor().is_some());
        // One event either way: with the ids at TRACE, without them at DEBUG.
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(
                grant = kind,
                key_id,
                expires_at,
                refresh,
                subject = grant.subject(),
                actor = grant.actor(),
                "source-auth minted a member token"
            );
        } else {
            tracing::debug!(
                grant = kind,
                key_id,
                expires_at,
                refresh,
                "source-auth minted a member token"
            );
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (grant, key_id, expires_at, refresh);
}

/// A request was sent the layer's own grant's cached token, with no signing.
#[inline]
pub(crate) fn layer_token_hit() {
    // Static name and label: with no recorder installed this is the facade's
    // check alone (a thread-local and an atomic load), with no allocation.
    #[cfg(feature = "metrics")]
    metrics::counter!("source_auth_cache_hits_total", "cache" => "layer").increment(1);
}

/// A request was sent a cached token for its per-request grant, with no signing.
#[inline]
pub(crate) fn grant_token_hit() {
    #[cfg(feature = "metrics")]
    metrics::counter!("source_auth_cache_hits_total", "cache" => "per_request").increment(1);
}

/// A request to Source was refused and not sent.
#[inline]
pub(crate) fn refused(error: &Error) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "source_auth_requests_refused_total",
        "kind" => error.kind().code()
    )
    .increment(1);
    #[cfg(feature = "tracing")]
    tracing::debug!(kind = ?error.kind(), "source-auth refused a request; it was not sent");
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}

/// A request was left alone: it is not for the configured Source origin.
#[inline]
pub(crate) fn not_for_source(target: Target<'_>) {
    #[cfg(feature = "tracing")]
    tracing::trace!(
        scheme = target.scheme,
        host = target.host,
        "source-auth left a request alone: not for Source's origin, so no credential"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = target;
}

/// A request went to `target`, `origin` (a loopback host) spelled another way,
/// and so got no credential; reported once per layer.
#[cfg(feature = "tracing")]
pub(crate) fn loopback_alias(origin: &Origin, target: Target<'_>) {
    tracing::warn!(
        origin = %origin.describe(),
        target = %target,
        "source-auth sends credentials to {}, and a request went to {target}: the same \
         loopback host spelled another way, so it got no credential; build request URLs \
         from `layer.origin()`, or give `base_url` the spelling the app calls",
        origin.describe()
    );
}

/// A request to Source kept the `Authorization` header its caller set.
#[inline]
pub(crate) fn callers_authorization_kept() {
    #[cfg(feature = "tracing")]
    tracing::trace!("source-auth kept the caller's own Authorization header");
}

/// The estimate of Source's clock moved by more than a few seconds.
#[inline]
pub(crate) fn clock_offset_changed(bound: ClockBound) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        offset_seconds = bound.earliest().as_secs_f64(),
        latest_offset_seconds = bound.latest().as_secs_f64(),
        "source-auth now signs on Source's clock, {} from this host's (at most {})",
        bound.earliest(),
        bound.latest()
    );
    #[cfg(not(feature = "tracing"))]
    let _ = bound;
}

/// A sample of Source's clock did not overlap the estimate: a clock was
/// stepped, and the sample wins.
#[inline]
pub(crate) fn clock_samples_disagreed(kept: ClockBound, sample: ClockBound) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        kept = %kept,
        sample = %sample,
        "source-auth: a sample of Source's clock contradicts the estimate (a clock was \
         stepped); the estimate restarts from the sample"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (kept, sample);
}

/// Source's clock seemed further from ours than the layer applies; reported once.
#[inline]
pub(crate) fn clock_offset_beyond_bound(bound: ClockBound, limit: Duration) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        offset_seconds = bound.earliest().as_secs_f64(),
        bound_seconds = limit.as_secs(),
        "source-auth: Source's clock seems {} from this host's, beyond the {} s it \
         corrects for, so it signs on this host's clock; check the system clock",
        bound.earliest(),
        limit.as_secs()
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (bound, limit);
}

/// Source answered 401 to a cached token, which will not be sent again.
#[inline]
pub(crate) fn retired(caregiver: bool, key_id: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("source_auth_tokens_retired_total", "grant" => grant_kind(caregiver))
        .increment(1);
    #[cfg(feature = "tracing")]
    tracing::debug!(
        grant = grant_kind(caregiver),
        key_id,
        "source-auth retired a cached member token after Source answered 401"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (caregiver, key_id);
}

/// The API key was rotated: requests sign with, and send, the new one.
#[inline]
pub(crate) fn key_rotated(key_id: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("source_auth_key_rotations_total").increment(1);
    #[cfg(feature = "tracing")]
    tracing::info!(key_id, "source-auth rotated its API key");
    #[cfg(not(feature = "tracing"))]
    let _ = key_id;
}

/// `source_clock` took a sample of the clock of Source at `origin`.
///
/// Unlike the INFO event, which waits for a change of a few seconds, the gauge
/// follows every sample: the earliest end of the bound, the offset tokens are
/// minted on. A sample is the first response to at most one token minted per
/// `SAMPLE_PERIOD` (and a 401), so setting it (and the label's allocation) stays
/// off the per-request path.
#[inline]
pub(crate) fn clock_offset_sampled(origin: &Origin, source_clock: &SourceClock) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("source_auth_clock_offset_seconds", "host" => origin.host().to_owned())
        .set(source_clock.offset().as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = (origin, source_clock);
}

/// An entry joined a grant cache.
#[inline]
pub(crate) fn grant_entry_added() {
    // A gauge moved by each cache's changes, never set to one cache's size, so
    // that several layers in one process add up.
    #[cfg(feature = "metrics")]
    metrics::gauge!("source_auth_grant_cache_entries").increment(1.0);
}

/// `count` entries left a grant cache: evicted, replaced, or dropped with it.
#[inline]
pub(crate) fn grant_entries_removed(count: usize) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("source_auth_grant_cache_entries").decrement(count as f64);
    #[cfg(not(feature = "metrics"))]
    let _ = count;
}

/// A grant's kind, as a label and a field: unlike its ids, never identifying.
#[cfg(any(feature = "tracing", feature = "metrics"))]
fn grant_kind(caregiver: bool) -> &'static str {
    if caregiver { "caregiver" } else { "member" }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::{CompositeKey, MetricKind};
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::skew::Sample;

    /// What `f` recorded, as (kind, name, labels, value) sorted by name and
    /// labels, each label as `key=value`.
    fn recorded(f: impl FnOnce()) -> Vec<(MetricKind, String, Vec<String>, DebugValue)> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, f);
        let mut metrics: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let (kind, key) = CompositeKey::into_parts(key);
                let labels = key
                    .labels()
                    .map(|label| format!("{}={}", label.key(), label.value()))
                    .collect();
                (kind, key.name().to_owned(), labels, value)
            })
            .collect();
        metrics.sort_by(|one, other| (&one.1, &one.2).cmp(&(&other.1, &other.2)));
        metrics
    }

    #[test]
    fn a_retirement_counts_its_grant_kind_and_never_an_id() {
        let metrics = recorded(|| {
            retired(true, "key_1");
            retired(false, "key_1");
            retired(false, "key_1");
        });
        assert_eq!(
            metrics,
            [
                (
                    MetricKind::Counter,
                    "source_auth_tokens_retired_total".to_owned(),
                    vec!["grant=caregiver".to_owned()],
                    DebugValue::Counter(1)
                ),
                (
                    MetricKind::Counter,
                    "source_auth_tokens_retired_total".to_owned(),
                    vec!["grant=member".to_owned()],
                    DebugValue::Counter(2)
                ),
            ]
        );
    }

    #[test]
    fn a_rotation_counts_without_labels() {
        let metrics = recorded(|| {
            key_rotated("key_2");
            key_rotated("key_3");
        });
        assert_eq!(
            metrics,
            [(
                MetricKind::Counter,
                "source_auth_key_rotations_total".to_owned(),
                vec![],
                DebugValue::Counter(2)
            )]
        );
    }

    /// The gauge holds the latest estimate for each host, not a sum.
    #[test]
    fn the_clock_offset_is_the_latest_estimate_per_host() {
        let at = |seconds| UNIX_EPOCH + Duration::from_secs(seconds);
        let source = Origin::parse("https://api.sourcehealth.com").unwrap();
        let mock = Origin::parse("http://127.0.0.1:8080").unwrap();
        let (clock, mock_clock) = (SourceClock::new(), SourceClock::new());
        let metrics = recorded(|| {
            clock.observe(&Sample::instant(at(1000), at(1600)));
            clock_offset_sampled(&source, &clock);
            clock.observe(&Sample::instant(at(1000), at(997)));
            clock_offset_sampled(&source, &clock);
            mock_clock.observe(&Sample::instant(at(1000), at(1001)));
            clock_offset_sampled(&mock, &mock_clock);
        });
        let offset = |host: &str, seconds: f64| {
            (
                MetricKind::Gauge,
                "source_auth_clock_offset_seconds".to_owned(),
                vec![format!("host={host}")],
                DebugValue::Gauge(seconds.into()),
            )
        };
        // The earliest end: `Date` itself, for a response with no round trip.
        // The second sample contradicts the first, and wins.
        assert_eq!(
            metrics,
            [
                offset("127.0.0.1", 1.0),
                offset("api.sourcehealth.com", -3.0)
            ]
        );
    }
}

#[cfg(all(test, feature = "tracing"))]
mod traced {
    use std::io;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::UNIX_EPOCH;

    use http::Request;
    use http::header::AUTHORIZATION;
    use tower::{Layer, Service, service_fn};

    use super::*;
    use crate::skew::{Sample, SourceClock};
    use crate::{ApiKey, SourceAuthLayer};

    /// What the events `run` emits on this thread print, every level included.
    fn printed(run: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Printed(Arc<Mutex<Vec<u8>>>);
        impl io::Write for Printed {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                let mut printed = self.0.lock().unwrap_or_else(PoisonError::into_inner);
                printed.extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let printed = Printed::default();
        let writer = printed.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        let bytes = printed
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8(bytes).expect("UTF-8")
    }

    /// The estimate reports a move, a contradiction and, once, an offset beyond
    /// what it corrects for.
    #[test]
    fn the_estimate_reports_what_it_learns() {
        let at = |seconds| UNIX_EPOCH + Duration::from_secs(seconds);
        // A move of three seconds is not worth a line; more is.
        let close = SourceClock::new();
        let moved = printed(|| {
            close.observe(&Sample::instant(at(1000), at(1003)));
        });
        assert!(!moved.contains("now signs on Source's clock"), "{moved}");
        let clock = SourceClock::new();
        let learned = printed(|| {
            clock.observe(&Sample::instant(at(1000), at(1600)));
        });
        assert!(
            learned.contains("INFO") && learned.contains("now signs on Source's clock"),
            "{learned}"
        );
        let contradicted = printed(|| {
            clock.observe(&Sample::instant(at(2000), at(1997)));
        });
        assert!(
            contradicted.contains("contradicts the estimate"),
            "{contradicted}"
        );
        let beyond = || {
            printed(|| {
                clock.observe(&Sample::instant(at(10_000), at(20_000)));
            })
        };
        let first = beyond();
        assert!(
            first.contains("WARN") && first.contains("beyond the 3600 s"),
            "{first}"
        );
        assert!(!beyond().contains("WARN"), "reported once");
    }

    /// A request left alone, and a caller's own header kept, are traced.
    #[test]
    fn requests_the_layer_leaves_alone_are_traced() {
        let key = ApiKey::new("key_test1", "sk_test_0123456789abcdef0123456789abcdef").unwrap();
        let mut service = SourceAuthLayer::new(key).layer(service_fn(|_: Request<()>| async {
            Ok::<_, io::Error>(http::Response::new(()))
        }));
        let elsewhere = printed(|| {
            drop(service.call(Request::get("https://example.com/v1").body(()).unwrap()));
        });
        assert!(
            elsewhere.contains("TRACE") && elsewhere.contains("not for Source's origin"),
            "{elsewhere}"
        );
        let own = printed(|| {
            let request = Request::get("https://api.sourcehealth.com/v1")
                .header(AUTHORIZATION, "Bearer mine")
                .body(())
                .unwrap();
            drop(service.call(request));
        });
        assert!(own.contains("kept the caller's own Authorization"), "{own}");
    }
}
