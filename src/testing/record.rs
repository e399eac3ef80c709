//! What MockSource tells the client, and what it remembers, about each request.

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenFingerprint(pub(crate) u64);

/// How MockSource answered a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Authenticated as this principal and answered: with the principal itself,
    /// or with the canned response registered for the request (whatever its status).
    Authenticated(Principal),
    /// An error response of MockSource's own.
    Rejected {
        /// 400, 401, 403 or 404.
        status: StatusCode,
        /// The `code` in the error body, such as `token_expired`.
        code: &'static str,
    },
    /// Failed on purpose by [`MockSource::fail_next`](super::MockSource::fail_next),
    /// before its credential was looked at: nothing is known about who sent it.
    Injected {
        /// The status the test asked for.
        status: StatusCode,
        /// The `code` the test asked for, as sent in the error body.
        code: String,
    },
}

/// One request MockSource received, as kept for assertions: never its
/// `Authorization` header, only a fingerprint of the credential in it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The request method.
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    /// The query string as sent, without the `?`; `None` when the URL had none.
    pub query: Option<String>,
    /// The first [`MAX_RECORDED_BODY`] bytes of the request body.
    pub body: Vec<u8>,
    /// Whether the body was longer than [`MAX_RECORDED_BODY`] and cut short.
    pub body_truncated: bool,
    /// The `request_id` MockSource answered with.
    pub request_id: String,
    /// The status MockSource answered with.
    pub status: StatusCode,
    /// The answer.
    pub outcome: Outcome,
    /// A fingerprint of the credential, when the `Authorization` header parsed.
    pub credential: Option<TokenFingerprint>,
}

/// How much of each request body MockSource keeps: 64 KiB.
pub const MAX_RECORDED_BODY: usize = 64 * 1024;

impl RecordedRequest {
    /// The principal, when the request was authenticated.
    pub fn principal(&self) -> Option<&Principal> {
        match &self.outcome {
            Outcome::Authenticated(principal) => Some(principal),
            Outcome::Rejected { .. } | Outcome::Injected { .. } => None,
        }
    }
}
