//! Error answers in Source's shape: `{"object":"error","type",…,"code","message","request_id"}`.

use std::borrow::Cow;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::error::{Error, ErrorKind};
use crate::error_body::SourceErrorBody;

use crate::authorization::ParseError;

use super::record::Principal;

/// Why MockSource refused a request. Messages never carry the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) status: StatusCode,
    kind: &'static str,
    pub(crate) code: &'static str,
    message: Cow<'static, str>,
    /// Who sent it, when the credential passed and something else was refused;
    /// boxed to keep every `Result` with a `Rejection` small.
    pub(crate) principal: Option<Box<Principal>>,
}

impl Rejection {
    /// 401: the credential is missing, malformed or unknown.
    pub(crate) fn authentication(
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            code,
            message: message.into(),
            principal: None,
        }
    }

    /// 403: `principal`'s credential is good but does not allow this.
    pub(crate) fn authorization(
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
        principal: Principal,
    ) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            kind: "authorization_error",
            code,
            message: message.into(),
            principal: Some(Box::new(principal)),
        }
    }

    /// 400 or 404: the request itself is wrong.
    pub(crate) fn invalid_request(
        status: StatusCode,
        code: &'static str,
        message: &'static str,
    ) -> Self {
        Self {
            status,
            kind: "invalid_request_error",
            code,
            message: message.into(),
            principal: None,
        }
    }

    /// The same refusal, of a request that `principal` sent with a good
    /// credential: the record says who it was.
    pub(crate) fn sent_by(mut self, principal: Principal) -> Self {
        self.principal = Some(Box::new(principal));
        self
    }

    /// The error body with this request's id; 401s also say which schemes work.
    pub(crate) fn into_response(self, request_id: &str) -> Response {
        error_response(
            self.status,
            SourceErrorBody::new(self.kind, self.code, &self.message, Some(request_id)),
        )
    }
}

/// The answer to a request that [`MockSource::fail_next`](super::MockSource::fail_next)
/// failed: its status, and Source's error body with its code and a `type` that
/// fits the status.
pub(crate) fn injected_failure(status: StatusCode, code: &str, request_id: &str) -> Response {
    let message = "MockSource was told to fail this request";
    error_response(
        status,
        SourceErrorBody::new(error_type(status), code, message, Some(request_id)),
    )
}

/// A control API refusal ([`control`](super::control)): Source's error body, with
/// no request id, since control requests get none.
pub(crate) fn control_error(status: StatusCode, code: &str, message: &str) -> Response {
    error_response(
        status,
        SourceErrorBody::new("invalid_request_error", code, message, None),
    )
}

/// Source's error `type` for `status`: the types MockSource's own errors use for
/// 401, 403 and other 4xx, and `api_error` (Source's server-side type) otherwise.
fn error_type(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::FORBIDDEN => "authorization_error",
        status if status.is_client_error() => "invalid_request_error",
        _ => "api_error",
    }
}

/// `status` with `body` as JSON; 401s also say which schemes work.
fn error_response(status: StatusCode, body: SourceErrorBody<'_>) -> Response {
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_json(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="source", Basic realm="source""#),
        );
    }
    response
}

impl From<ParseError> for Rejection {
    fn from(err: ParseError) -> Self {
        Self::authentication(err.code(), err.to_string())
    }
}

/// A member token that [`TokenVerifier`](crate::TokenVerifier) refused.
impl From<Error> for Rejection {
    fn from(err: Error) -> Self {
        let code = match err.kind() {
            ErrorKind::Expired => "token_expired",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::InvalidExpiry => "invalid_expiry",
            _ => "invalid_token",
        };
        // The verifier's messages name what is wrong, never the token.
        Self::authentication(code, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_injected_failures_type_follows_its_status() {
        for (status, kind) in [
            (StatusCode::UNAUTHORIZED, "authentication_error"),
            (StatusCode::FORBIDDEN, "authorization_error"),
            (StatusCode::TOO_MANY_REQUESTS, "invalid_request_error"),
            (StatusCode::BAD_REQUEST, "invalid_request_error"),
            (StatusCode::SERVICE_UNAVAILABLE, "api_error"),
            (StatusCode::INTERNAL_SERVER_ERROR, "api_error"),
        ] {
            assert_eq!(error_type(status), kind, "{status}");
        }
    }
}
