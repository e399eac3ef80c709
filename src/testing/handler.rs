//! The one handler MockSource has: authenticate, record, answer.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use serde::Serialize;

use super::parse_authorization;
use super::record::{Outcome, Principal, RecordedRequest, TokenFingerprint};
use super::registry::Registry;
use super::rejection::Rejection;

/// Chooses live or test data for user tokens; absent means live.
const LIVE_MODE: HeaderName = HeaderName::from_static("source-live-mode");

/// What the server and the `MockSource` handle share. Locks are held only for
/// synchronous work, never across `.await`.
#[derive(Debug)]
pub(crate) struct Shared {
    registry: RwLock<Registry>,
    requests: Mutex<Vec<RecordedRequest>>,
    requests_seen: AtomicU64,
    /// Keys the fingerprint hash with per-mock random keys.
    fingerprints: RandomState,
}

impl Shared {
    pub(crate) fn new(registry: Registry) -> Self {
        Self {
            registry: RwLock::new(registry),
            requests: Mutex::new(Vec::new()),
            requests_seen: AtomicU64::new(0),
            fingerprints: RandomState::new(),
        }
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

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn fingerprint(&self, credential: &str) -> TokenFingerprint {
        TokenFingerprint(self.fingerprints.hash_one(credential))
    }

    fn record(&self, request: RecordedRequest) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }

    fn next_request_id(&self) -> String {
        let n = self.requests_seen.fetch_add(1, Ordering::Relaxed) + 1;
        format!("req_mock{n:012}")
    }
}

/// Answers every request: `GET /v1/…` is authenticated, anything else is 404.
pub(crate) async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request_id = shared.next_request_id();
    let path = uri.path();
    let (result, credential) = if method == Method::GET && path.starts_with("/v1/") {
        let presented = authorization(&headers)
            .and_then(|value| parse_authorization(value).map_err(Rejection::from));
        let credential = presented
            .as_ref()
            .ok()
            .map(|presented| shared.fingerprint(presented.credential()));
        let result = presented.and_then(|presented| {
            shared
                .registry()
                .authenticate(&presented, || live_mode(&headers))
        });
        (result, credential)
    } else {
        let not_found = Rejection::invalid_request(
            StatusCode::NOT_FOUND,
            "not_found",
            "MockSource serves `GET /v1/…` only",
        );
        (Err(not_found), None)
    };
    shared.record(RecordedRequest {
        method,
        path: path.to_owned(),
        request_id: request_id.clone(),
        outcome: match &result {
            Ok(principal) => Outcome::Authenticated(principal.clone()),
            Err(rejection) => Outcome::Rejected {
                status: rejection.status,
                code: rejection.code,
            },
        },
        credential,
    });
    match result {
        Ok(principal) => Json(PrincipalBody {
            object: "principal",
            principal: &principal,
            path,
            request_id: &request_id,
        })
        .into_response(),
        Err(rejection) => rejection.into_response(&request_id),
    }
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
