//! What MockSource tells the client, and what it remembers, about each request.

use std::collections::VecDeque;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize, Serializer};

use super::expect::SeenRoutes;

/// Which kind of credential authenticated a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PrincipalKind {
    /// An API key, sent as Bearer or Basic.
    ApiKey,
    /// A user token.
    User,
    /// A member token with no actor.
    Member,
    /// A member token whose actor is a caregiver of its subject.
    Caregiver,
}

/// Who a request was authenticated as. Holds ids only, never a secret or token.
///
/// MockSource answers an authenticated `GET /v1/…` that has no canned response
/// with this as JSON, plus `"object":"principal"`, the `path` and a `request_id`,
/// so tests can read it back:
///
/// ```
/// use source_auth::testing::{Principal, PrincipalKind};
///
/// let body = r#"{"object":"principal","kind":"caregiver","key_id":"key_1","member":"mem_1",
///     "actor":"mem_2","live_mode":false,"path":"/v1/members","request_id":"req_mock1"}"#;
/// let principal: Principal = serde_json::from_str(body)?;
/// assert_eq!(principal.kind, PrincipalKind::Caregiver);
/// assert_eq!(principal.actor.as_deref(), Some("mem_2"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Principal {
    /// The kind of credential.
    pub kind: PrincipalKind,
    /// The API key used directly, or the `kid` that signed a member token.
    pub key_id: Option<String>,
    /// The member a member token is about (its `sub`).
    pub member: Option<String>,
    /// The caregiver acting for `member` (its `act`).
    pub actor: Option<String>,
    /// Live or test data: from the key's prefix, or `Source-Live-Mode` for user tokens.
    pub live_mode: bool,
}

/// A keyed hash of the credential a request presented, to tell tokens apart
/// without keeping them. Equal within one MockSource, unrelated across two.
///
/// As JSON, 16 hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenFingerprint(pub(crate) u64);

impl Serialize for TokenFingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:016x}", self.0))
    }
}

/// How MockSource answered a request.
///
/// As JSON, an object whose `result` is `authenticated` (with the
/// [`Principal`]'s fields),
/// `rejected` (with `status`, `code` and `principal`, `null` unless the request
/// was authenticated) or `injected` (with `status` and `code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Authenticated as this principal and answered: with the principal itself,
    /// or with the canned response registered for the request (whatever its status).
    Authenticated(Principal),
    /// An error response of MockSource's own.
    Rejected {
        /// 400, 401, 403 or 404.
        #[serde(serialize_with = "status_u16")]
        status: StatusCode,
        /// The `code` in the error body, such as `token_expired`.
        code: &'static str,
        /// Who the request was authenticated as, when it was and was refused
        /// all the same (403 `no_active_relationship`, `principal_not_allowed`;
        /// 404 `not_found`).
        principal: Option<Principal>,
    },
    /// Failed on purpose by [`MockSource::fail_next`](super::MockSource::fail_next),
    /// before its credential was looked at: nothing is known about who sent it.
    Injected {
        /// The status the test asked for.
        #[serde(serialize_with = "status_u16")]
        status: StatusCode,
        /// The `code` the test asked for, as sent in the error body.
        code: String,
    },
}

/// One request MockSource received, as kept for assertions: never its
/// `Authorization` header, only a fingerprint of the credential in it.
///
/// As JSON (the control API's `GET /__mock/requests`), its fields with the
/// method as a string and statuses as numbers. The body is `body`, a string,
/// when it is UTF-8 (cut short or not), and otherwise `body` is `null` and
/// `body_base64` holds its bytes in standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The request method.
    #[serde(serialize_with = "method_str")]
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    /// The query string as sent, without the `?`; `None` when the URL had none.
    pub query: Option<String>,
    /// The first [`MAX_RECORDED_BODY`] bytes of the request body.
    #[serde(flatten, serialize_with = "body_json")]
    pub body: Vec<u8>,
    /// Whether the body was longer than [`MAX_RECORDED_BODY`] and cut short.
    pub body_truncated: bool,
    /// The `request_id` MockSource answered with.
    pub request_id: String,
    /// The status MockSource answered with.
    #[serde(serialize_with = "status_u16")]
    pub status: StatusCode,
    /// The answer.
    pub outcome: Outcome,
    /// A fingerprint of the credential, when the `Authorization` header parsed.
    pub credential: Option<TokenFingerprint>,
}

/// How much of each request body MockSource keeps: 64 KiB.
pub const MAX_RECORDED_BODY: usize = 64 * 1024;

/// How many requests MockSource keeps: 1,000. Past that the oldest is dropped
/// for each new one, so a long run holds at most about 64 MiB of bodies.
pub const MAX_RECORDED_REQUESTS: usize = 1000;

impl RecordedRequest {
    /// The principal, whenever the request was authenticated: answered, or
    /// refused with 403 or 404 all the same.
    pub fn principal(&self) -> Option<&Principal> {
        match &self.outcome {
            Outcome::Authenticated(principal) => Some(principal),
            Outcome::Rejected { principal, .. } => principal.as_ref(),
            Outcome::Injected { .. } => None,
        }
    }
}

/// The requests kept, at most [`MAX_RECORDED_REQUESTS`], how many older ones
/// were dropped to keep to that, and the routes requested, which outlive the cap.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub(crate) requests: VecDeque<RecordedRequest>,
    pub(crate) dropped: u64,
    pub(crate) seen: SeenRoutes,
}

impl Record {
    pub(crate) fn push(&mut self, request: RecordedRequest) {
        self.seen
            .see(&request.method, &request.path, request.status);
        if self.requests.len() == MAX_RECORDED_REQUESTS {
            self.requests.pop_front();
            self.dropped += 1;
        }
        self.requests.push_back(request);
    }
}

fn method_str<S: Serializer>(method: &Method, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(method.as_str())
}

fn status_u16<S: Serializer>(status: &StatusCode, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u16(status.as_u16())
}

/// `{"body": "<text>"}` for UTF-8, else `{"body": null, "body_base64": "…"}`.
fn body_json<S: Serializer>(body: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Body<'a> {
        body: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        body_base64: Option<String>,
    }
    let shown = match std::str::from_utf8(body) {
        Ok(text) => Body {
            body: Some(text),
            body_base64: None,
        },
        Err(_) => Body {
            body: None,
            body_base64: Some(STANDARD.encode(body)),
        },
    };
    shown.serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, body: &[u8]) -> RecordedRequest {
        RecordedRequest {
            method: Method::POST,
            path: path.to_owned(),
            query: None,
            body: body.to_vec(),
            body_truncated: false,
            request_id: "req_mock1".to_owned(),
            status: StatusCode::UNAUTHORIZED,
            outcome: Outcome::Rejected {
                status: StatusCode::UNAUTHORIZED,
                code: "missing_authorization",
                principal: None,
            },
            credential: Some(TokenFingerprint(0xab)),
        }
    }

    #[test]
    fn the_record_drops_the_oldest_past_its_cap_and_counts_them() {
        let mut record = Record::default();
        for i in 0..MAX_RECORDED_REQUESTS + 3 {
            record.push(request(&format!("/v1/{i}"), b""));
        }
        assert_eq!(record.requests.len(), MAX_RECORDED_REQUESTS);
        assert_eq!(record.dropped, 3);
        assert_eq!(record.requests[0].path, "/v1/3");
    }

    #[test]
    fn a_recorded_request_is_json_with_its_body_as_text_or_base64() {
        let json = serde_json::to_value(request("/v1/a", b"{\"x\":1}")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "method": "POST", "path": "/v1/a", "query": null, "body": "{\"x\":1}",
                "body_truncated": false, "request_id": "req_mock1", "status": 401,
                "outcome": {"result": "rejected", "status": 401, "code": "missing_authorization", "principal": null},
                "credential": "00000000000000ab",
            })
        );
        let binary = serde_json::to_value(request("/v1/a", &[0xff, 0])).unwrap();
        assert_eq!(binary["body"], serde_json::Value::Null);
        assert_eq!(binary["body_base64"], "/wA=");
    }
}
