//! The one handler MockSource has: authenticate, record, answer.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, DATE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use serde::Serialize;

use super::canned::{CannedResponse, CannedResponses, Served};
use super::control;
use super::expect::{UnmetExpectation, VerifyError, verdict};
use super::failure::{FailNext, Failure};
use super::parse_authorization;
use super::record::{
    MAX_RECORDED_BODY, Outcome, Principal, Record, RecordedRequest, TokenFingerprint,
};
use super::registry::Registry;
use super::rejection::Rejection;

/// Chooses live or test data for user tokens; absent means live.
const LIVE_MODE: HeaderName = HeaderName::from_static("source-live-mode");

/// What the server and the `MockSource` handle share. Locks are held only for
/// synchronous work, never across `.await`.
#[derive(Debug)]
pub(crate) struct Shared {
    registry: RwLock<Registry>,
    responses: RwLock<CannedResponses>,
    record: Mutex<Record>,
    observer: RwLock<Option<Observer>>,
    fail_next: Mutex<Option<FailNext>>,
    requests_seen: AtomicU64,
    /// Whether `/__mock/` is the control API ([`control`]) rather than a path like any other.
    control_api: AtomicBool,
    /// Keys the fingerprint hash with per-mock random keys.
    fingerprints: RandomState,
}

/// The callback [`MockSource::on_request`](super::MockSource::on_request) installs.
#[derive(Clone)]
pub(crate) struct Observer(pub(crate) Arc<dyn Fn(&RecordedRequest) + Send + Sync>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

impl Shared {
    pub(crate) fn new(registry: Registry) -> Self {
        Self {
            registry: RwLock::new(registry),
            responses: RwLock::default(),
            record: Mutex::default(),
            observer: RwLock::default(),
            fail_next: Mutex::default(),
            requests_seen: AtomicU64::new(0),
            control_api: AtomicBool::new(false),
            fingerprints: RandomState::new(),
        }
    }

    pub(crate) fn responses_mut(&self) -> RwLockWriteGuard<'_, CannedResponses> {
        self.responses
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_observer(&self, observer: Observer) {
        *self
            .observer
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(observer);
    }

    pub(crate) fn set_fail_next(&self, fail_next: FailNext) {
        *self
            .fail_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(fail_next);
    }

    /// The failure the request arriving now gets, if any is owed.
    fn injected_failure(&self) -> Option<Failure> {
        self.fail_next
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .and_then(FailNext::take)
    }

    // Each update under these locks is one step, so even a poisoned lock holds
    // whole data; a test double should keep answering rather than panic.
    fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn registry_mut(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record_mut(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.record_mut().requests.iter().cloned().collect()
    }

    pub(crate) fn dropped_requests(&self) -> u64 {
        self.record_mut().dropped
    }

    /// Forgets every request, the routes requested and the count of dropped ones.
    pub(crate) fn clear_requests(&self) {
        *self.record_mut() = Record::default();
    }

    pub(crate) fn enable_control_api(&self) {
        self.control_api.store(true, Ordering::Relaxed);
    }

    /// The canned responses no request was served.
    pub(crate) fn unused_responses(&self) -> Vec<(Method, String)> {
        self.responses_read().unused()
    }

    /// Every unmet expectation, with the requests that came closest.
    pub(crate) fn verify(&self) -> Result<(), VerifyError> {
        let unmet: Vec<UnmetExpectation> = self.responses_read().unmet();
        let record = self.record_mut();
        verdict(
            unmet
                .into_iter()
                .map(|unmet| record.seen.closest_to(unmet))
                .collect(),
        )
    }

    fn responses_read(&self) -> RwLockReadGuard<'_, CannedResponses> {
        self.responses
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn fingerprint(&self, credential: &str) -> TokenFingerprint {
        TokenFingerprint(self.fingerprints.hash_one(credential))
    }

    /// Keeps `request`, then shows it to the observer, if any.
    fn record(&self, request: RecordedRequest) {
        // Cloned out, so the observer runs with no lock held and may call the mock.
        let observer = self
            .observer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(Observer(observe)) = observer {
            observe(&request);
        }
        self.record_mut().push(request);
    }

    fn next_request_id(&self) -> String {
        let n = self.requests_seen.fetch_add(1, Ordering::Relaxed) + 1;
        format!("req_mock{n:012}")
    }
}

/// Answers every request: an injected failure first, if one is owed; then the
/// credential, whatever the method and path; then the canned response registered
/// for the method and path, or, for an unregistered `GET /v1/…`, who the request
/// was authenticated as; anything else is 404. Every answer is dated on the mock's
/// clock.
pub(crate) async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if shared.control_api.load(Ordering::Relaxed) && uri.path().starts_with(control::PREFIX) {
        // Neither recorded nor failed on purpose: the test's own channel.
        // A body cut short is not JSON, and is refused as such.
        let (body, _) = read_capped(body).await;
        let response = control::answer(&shared, &method, uri.path(), uri.query(), &headers, &body);
        let now = shared.registry().now();
        return dated(response, now);
    }
    let request_id = shared.next_request_id();
    // Counted as the request arrives, so "the next N" are the next N to arrive.
    let injected = shared.injected_failure();
    let (body, body_truncated) = read_capped(body).await;
    let path = uri.path();
    let presented = authorization(&headers)
        .and_then(|value| parse_authorization(value).map_err(Rejection::from));
    // Fingerprinted even when failed on purpose, so a test can tell which token
    // a client sent, and which it sent again after the failure.
    let credential = presented
        .as_ref()
        .ok()
        .map(|presented| shared.fingerprint(presented.credential()));
    let (outcome, response) = match injected {
        Some(failure) => failure.answer(&request_id),
        None => {
            let result = presented
                .and_then(|presented| {
                    shared
                        .registry()
                        .authenticate(&presented, || live_mode(&headers))
                })
                .and_then(|principal| shared.reply(&method, path, principal));
            settle(result, path, &request_id)
        }
    };
    shared.record(RecordedRequest {
        method,
        path: path.to_owned(),
        query: uri.query().map(str::to_owned),
        body,
        body_truncated,
        request_id,
        status: response.status(),
        outcome,
        credential,
    });
    let now = shared.registry().now();
    dated(response, now)
}

/// What an authenticated or rejected request is recorded as, and its answer.
fn settle(result: Result<Reply, Rejection>, path: &str, request_id: &str) -> (Outcome, Response) {
    match result {
        Ok(reply) => {
            let response = reply.response(path, request_id);
            (Outcome::Authenticated(reply.principal), response)
        }
        Err(mut rejection) => {
            let outcome = Outcome::Rejected {
                status: rejection.status,
                code: rejection.code,
                principal: rejection.principal.take().map(|principal| *principal),
            };
            (outcome, rejection.into_response(request_id))
        }
    }
}

/// `response` with `Date` set to `now`, the mock's time. hyper writes a `Date` of
/// the system clock only into a response that has none, so this one is sent.
fn dated(mut response: Response, now: SystemTime) -> Response {
    // An HTTP date is plain ASCII, so it always makes a header value.
    if let Ok(date) = HeaderValue::try_from(http_date(now)) {
        response.headers_mut().insert(DATE, date);
    }
    response
}

/// The last second an HTTP date holds: 9999-12-31 23:59:59 UTC.
const LAST_HTTP_DATE: Duration = Duration::from_secs(253_402_300_799);

/// `time` as an HTTP date, held to the years 1970 to 9999 that the format (and
/// `httpdate`, which panics outside them) can write.
fn http_date(time: SystemTime) -> String {
    let time = time.clamp(UNIX_EPOCH, UNIX_EPOCH + LAST_HTTP_DATE);
    httpdate::fmt_http_date(time)
}

/// An authenticated request's answer: a canned response, or the principal itself.
struct Reply {
    principal: Principal,
    canned: Option<CannedResponse>,
}

impl Reply {
    fn response(&self, path: &str, request_id: &str) -> Response {
        match &self.canned {
            Some(canned) => (canned.status(), Json(canned.body())).into_response(),
            None => Json(PrincipalBody {
                object: "principal",
                principal: &self.principal,
                path,
                request_id,
            })
            .into_response(),
        }
    }
}

impl Shared {
    /// What `principal` gets for `method` and `path`.
    fn reply(&self, method: &Method, path: &str, principal: Principal) -> Result<Reply, Rejection> {
        let not_found = || {
            Rejection::invalid_request(
                StatusCode::NOT_FOUND,
                "not_found",
                "no response is registered for this method and path",
            )
        };
        // No resource has a `.` or `..` segment: Source would not answer one.
        if path.split('/').any(|segment| matches!(segment, "." | "..")) {
            return Err(not_found().sent_by(principal));
        }
        match self.responses_mut().serve(method, path, &principal) {
            Some(Served::Response(canned)) => Ok(Reply {
                principal,
                canned: Some(canned),
            }),
            Some(Served::NotForPrincipal) => Err(Rejection::authorization(
                "principal_not_allowed",
                "this response is registered for another principal",
                principal,
            )),
            None if *method == Method::GET && path.starts_with("/v1/") => Ok(Reply {
                principal,
                canned: None,
            }),
            None => Err(not_found().sent_by(principal)),
        }
    }
}

/// The first [`MAX_RECORDED_BODY`] bytes of `body`, and whether there was more.
/// The rest is read and dropped, so the client can finish sending it.
async fn read_capped(mut body: Body) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    // A body that breaks off is kept as far as it came.
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let room = MAX_RECORDED_BODY - kept.len();
        if data.len() > room {
            truncated = true;
        }
        kept.extend_from_slice(&data[..data.len().min(room)]);
    }
    (kept, truncated)
}

#[derive(Serialize)]
struct PrincipalBody<'a> {
    object: &'static str,
    #[serde(flatten)]
    principal: &'a Principal,
    path: &'a str,
    request_id: &'a str,
}

/// The one `Authorization` header.
fn authorization(headers: &HeaderMap) -> Result<&HeaderValue, Rejection> {
    match one_header(headers, &AUTHORIZATION) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(Rejection::authentication(
            "missing_authorization",
            "send a credential in the `Authorization` header",
        )),
        Err(TooMany) => Err(Rejection::authentication(
            "multiple_authorization_headers",
            "send exactly one `Authorization` header",
        )),
    }
}

/// `Source-Live-Mode`: `true` or `false`, exactly; absent means `true`.
fn live_mode(headers: &HeaderMap) -> Result<bool, Rejection> {
    match one_header(headers, &LIVE_MODE) {
        Ok(None) => Ok(true),
        Ok(Some(value)) if value == "true" => Ok(true),
        Ok(Some(value)) if value == "false" => Ok(false),
        _ => Err(Rejection::invalid_request(
            StatusCode::BAD_REQUEST,
            "invalid_live_mode",
            "send one `Source-Live-Mode` header, `true` or `false`",
        )),
    }
}

/// A header repeated where one was expected.
struct TooMany;

fn one_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, TooMany> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (value, None) => Ok(value),
        _ => Err(TooMany),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_whole_seconds_in_imf_fixdate() {
        let time = UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
        assert_eq!(http_date(time), "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn times_an_http_date_cannot_hold_are_held_to_its_range_not_a_panic() {
        let before_1970 = UNIX_EPOCH - Duration::from_secs(600);
        assert_eq!(http_date(before_1970), "Thu, 01 Jan 1970 00:00:00 GMT");
        let last = UNIX_EPOCH + LAST_HTTP_DATE;
        assert_eq!(http_date(last), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(
            http_date(last + Duration::from_secs(1)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn a_response_is_dated_once_replacing_any_date_it_had() {
        let mut response = StatusCode::OK.into_response();
        response.headers_mut().insert(
            DATE,
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        let response = dated(response, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let dates: Vec<_> = response.headers().get_all(DATE).iter().collect();
        assert_eq!(dates, ["Tue, 14 Nov 2023 22:13:20 GMT"]);
    }
}
