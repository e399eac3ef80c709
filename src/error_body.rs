//! Source's JSON error shape, shared by the extractors' rejections and MockSource.

use serde::Serialize;

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
