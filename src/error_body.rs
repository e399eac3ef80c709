//! Source's JSON error shape, shared by the extractors' rejections and MockSource.

use serde::Serialize;

#[cfg(any(feature = "axum", feature = "actix-web"))]
pub(crate) use answers::{internal_error, invalid_input};

/// `{"object":"error","type":…,"code":…,"message":…[,"request_id":…]}`, in that order.
#[derive(Debug, Serialize)]
pub(crate) struct SourceErrorBody<'a> {
    object: &'static str,
    #[serde(rename = "type")]
    kind: &'a str,
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

impl<'a> SourceErrorBody<'a> {
    pub(crate) fn new(
        kind: &'a str,
        code: &'a str,
        message: &'a str,
        request_id: Option<&'a str>,
    ) -> Self {
        Self {
            object: "error",
            kind,
            code,
            message,
            request_id,
        }
    }

    /// The body as JSON text.
    pub(crate) fn to_json(&self) -> String {
        // Serializing string fields into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the framework features answer for this crate's errors, as a status and
/// a body; `axum.rs` and `actix.rs` only wrap them in their response types.
#[cfg(any(feature = "axum", feature = "actix-web"))]
mod answers {
    use http::StatusCode;

    use super::SourceErrorBody;
    use crate::error::{Error, InvalidInput};

    /// An [`Error`] a handler returned: the server's fault. The body is generic,
    /// since the cause may describe the server's configuration; the log has it.
    pub(crate) fn internal_error(error: &Error) -> (StatusCode, String) {
        tracing::error!(
            code = error.kind().code(),
            "source-auth: a handler failed, answering 500: {error}"
        );
        let body = SourceErrorBody::new(
            "api_error",
            "internal_error",
            "The server could not complete the request.",
            None,
        );
        (StatusCode::INTERNAL_SERVER_ERROR, body.to_json())
    }

    /// Untrusted input refused: the client's fault, told with the kind's code and
    /// the error's message (fixed text that holds no input and no secret).
    pub(crate) fn invalid_input(input: &InvalidInput) -> (StatusCode, String) {
        let message = input.to_string();
        let body =
            SourceErrorBody::new("invalid_request_error", input.kind().code(), &message, None);
        (input.status(), body.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_in_sources_order() {
        assert_eq!(
            SourceErrorBody::new(
                "authentication_error",
                "token_expired",
                "sign a new one",
                Some("req_1")
            )
            .to_json(),
            r#"{"object":"error","type":"authentication_error","code":"token_expired","message":"sign a new one","request_id":"req_1"}"#
        );
        assert_eq!(
            SourceErrorBody::new("api_error", "internal_error", "try again", None).to_json(),
            r#"{"object":"error","type":"api_error","code":"internal_error","message":"try again"}"#
        );
    }
}
