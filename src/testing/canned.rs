//! Canned answers: what MockSource sends an authorized request for a method and
//! path an app's test registered, and who may see each.

use std::collections::HashMap;

use http::{Method, StatusCode};

use crate::error::{Error, ErrorKind, Result};

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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
/// 200 and any authenticated principal unless told otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct CannedResponse {
    status: StatusCode,
    body: serde_json::Value,
    audiences: Vec<Audience>,
}

impl CannedResponse {
    /// Answers 200 with `body`, to any authenticated principal.
    pub fn json(body: serde_json::Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            audiences: Vec::new(),
        }
    }

    /// Answers with `status` instead of 200.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Shows the response only to `audience`; call it again to admit several.
    pub fn only_for(mut self, audience: Audience) -> Self {
        self.audiences.push(audience);
        self
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

/// The registered responses, by method and exact path.
#[derive(Debug, Default)]
pub(crate) struct CannedResponses {
    by_route: HashMap<(Method, String), CannedResponse>,
}

impl CannedResponses {
    /// Registers `response` for `method` and `path`, replacing any before it.
    /// Refuses a path that could never match a request's.
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
        self.by_route.insert((method, path.to_owned()), response);
        Ok(())
    }

    pub(crate) fn get(&self, method: &Method, path: &str) -> Option<&CannedResponse> {
        // Looking up by an owned key is one allocation per request: a test double's cost.
        self.by_route.get(&(method.clone(), path.to_owned()))
    }
}
