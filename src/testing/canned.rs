//! Canned answers: what MockSource sends an authorized request for a method and
//! path an app's test registered, and who may see each.

use std::collections::HashMap;

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

use super::expect::{Times, UnmetExpectation};
use super::record::{Principal, PrincipalKind};

/// Who may see a [`CannedResponse`]. Anyone else gets 403 with the code
/// `principal_not_allowed`.
///
/// ```
/// use http::StatusCode;
/// use serde_json::json;
/// use source_auth::testing::{Audience, CannedResponse};
///
/// // Only mem_abc acting as themselves, or a caregiver acting for them.
/// let record = CannedResponse::json(json!({"object": "member", "id": "mem_abc"}))
///     .only_for(Audience::Member("mem_abc".into()))
///     .only_for(Audience::CaregiverOf("mem_abc".into()));
/// assert_eq!(record.status(), StatusCode::OK);
/// ```
///
/// In JSON (the control API, `source-auth mock`'s meta files): `"api_keys"`,
/// `"users"`, `{"member": "mem_…"}` or `{"caregiver_of": "mem_…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Audience {
    /// Any registered API key, sent as Bearer or Basic.
    ApiKeys,
    /// Any registered user token.
    Users,
    /// A member token for this member (`sub`) acting as themselves (no `act`).
    Member(String),
    /// A caregiver token for this member (`sub`), whoever the caregiver; as
    /// always, the relationship must be active.
    CaregiverOf(String),
}

impl Audience {
    fn admits(&self, principal: &Principal) -> bool {
        let member_is = |member: &str| principal.member.as_deref() == Some(member);
        match self {
            Self::ApiKeys => principal.kind == PrincipalKind::ApiKey,
            Self::Users => principal.kind == PrincipalKind::User,
            Self::Member(member) => principal.kind == PrincipalKind::Member && member_is(member),
            Self::CaregiverOf(member) => {
                principal.kind == PrincipalKind::Caregiver && member_is(member)
            }
        }
    }
}

/// A status and JSON body that MockSource answers a registered method and path
/// with, once the request's credential passed (see
/// [`MockSource::respond`](super::MockSource::respond)).
///
/// 200 and any authenticated principal unless told otherwise; no expectation of
/// how often it is asked for unless [`expect`](Self::expect) sets one.
#[derive(Debug, Clone, PartialEq)]
pub struct CannedResponse {
    status: StatusCode,
    body: serde_json::Value,
    audiences: Vec<Audience>,
    expected: Option<Times>,
}

impl CannedResponse {
    /// Answers 200 with `body`, to any authenticated principal.
    pub fn json(body: serde_json::Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            audiences: Vec::new(),
            expected: None,
        }
    }

    /// Answers with `status` instead of 200.
    ///
    /// Only a status Source could answer with a body is accepted: 200 to 599,
    /// except 204 and 304. [`MockSource::respond`](super::MockSource::respond)
    /// refuses any other with [`ErrorKind::InvalidStatus`].
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Shows the response only to `audience`; call it again to admit several.
    pub fn only_for(mut self, audience: Audience) -> Self {
        self.audiences.push(audience);
        self
    }

    /// Expects to be served `times` times, an exact count (`expect(1)`) or a
    /// range (`expect(1..=3)`, `expect(1..)`), by the time
    /// [`MockSource::verify`](super::MockSource::verify) is called or the mock
    /// is dropped. Only requests it was served to count: not those refused
    /// before it (401), nor principals it is not [for](Self::only_for) (403).
    ///
    /// ```
    /// use serde_json::json;
    /// use source_auth::testing::{CannedResponse, Times};
    ///
    /// let once = CannedResponse::json(json!({})).expect(1);
    /// assert_eq!(once.expected(), Some(Times::exactly(1)));
    /// ```
    pub fn expect(mut self, times: impl Into<Times>) -> Self {
        self.expected = Some(times.into());
        self
    }

    /// How often it expects to be served, if [`expect`](Self::expect) said.
    pub fn expected(&self) -> Option<Times> {
        self.expected
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body it answers with.
    pub fn body(&self) -> &serde_json::Value {
        &self.body
    }

    /// Who may see it; empty means any authenticated principal.
    pub fn audiences(&self) -> &[Audience] {
        &self.audiences
    }

    /// Whether `principal` may see it.
    pub(crate) fn admits(&self, principal: &Principal) -> bool {
        self.audiences.is_empty()
            || self
                .audiences
                .iter()
                .any(|audience| audience.admits(principal))
    }
}

/// Whether `status` is one Source could answer with a body: 200 to 599, except
/// 204 and 304 (which must not carry one).
pub(crate) fn check_status(status: StatusCode) -> Result<StatusCode> {
    let code = status.as_u16();
    if (200..=599).contains(&code) && code != 204 && code != 304 {
        return Ok(status);
    }
    Err(Error::new(
        ErrorKind::InvalidStatus,
        "MockSource answers with a body: give a status from 200 to 599, other than 204 and 304",
    ))
}

/// What a registered route gives a principal.
#[derive(Debug)]
pub(crate) enum Served {
    /// The response, to a principal it is for.
    Response(CannedResponse),
    /// Nothing: it is for someone else.
    NotForPrincipal,
}

/// A registered response and how many requests it was served to.
#[derive(Debug)]
struct Registered {
    response: CannedResponse,
    served: u64,
}

/// The registered responses, by method and exact path.
#[derive(Debug, Default)]
pub(crate) struct CannedResponses {
    by_route: HashMap<(Method, String), Registered>,
}

impl CannedResponses {
    /// Registers `response` for `method` and `path`, replacing any before it
    /// (with its expectation and count). Refuses a path that could never match
    /// a request's, and a status [`check_status`] refuses.
    pub(crate) fn insert(
        &mut self,
        method: Method,
        path: &str,
        response: CannedResponse,
    ) -> Result<()> {
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(Error::new(
                ErrorKind::InvalidPath,
                "a canned response's path starts with `/` and has no query string or fragment",
            ));
        }
        check_status(response.status)?;
        let registered = Registered {
            response,
            served: 0,
        };
        self.by_route.insert((method, path.to_owned()), registered);
        Ok(())
    }

    /// What is registered for `method` and `path`, if anything, as `principal`
    /// gets it; a response served is counted.
    pub(crate) fn serve(
        &mut self,
        method: &Method,
        path: &str,
        principal: &Principal,
    ) -> Option<Served> {
        // Looking up by an owned key is one allocation per request: a test double's cost.
        let registered = self.by_route.get_mut(&(method.clone(), path.to_owned()))?;
        if !registered.response.admits(principal) {
            return Some(Served::NotForPrincipal);
        }
        registered.served += 1;
        Some(Served::Response(registered.response.clone()))
    }

    /// The routes no request was served, sorted by path then method.
    pub(crate) fn unused(&self) -> Vec<(Method, String)> {
        let mut unused: Vec<_> = self
            .by_route
            .iter()
            .filter(|(_, registered)| registered.served == 0)
            .map(|(route, _)| route.clone())
            .collect();
        unused.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
        unused
    }

    /// Every expectation not met, sorted by path then method, without closest requests yet.
    pub(crate) fn unmet(&self) -> Vec<UnmetExpectation> {
        let mut unmet: Vec<_> = self
            .by_route
            .iter()
            .filter_map(|((method, path), registered)| {
                let expected = registered.response.expected?;
                (!expected.contains(registered.served)).then(|| UnmetExpectation {
                    method: method.clone(),
                    path: path.clone(),
                    expected,
                    served: registered.served,
                    closest: Vec::new(),
                })
            })
            .collect();
        unmet.sort_by(|a, b| (&a.path, a.method.as_str()).cmp(&(&b.path, b.method.as_str())));
        unmet
    }
}
