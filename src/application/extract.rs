//! The framework-neutral core of the `SourceApplication` extractors.
//!
//! Given a request's `Authorization` header values and an [`ApplicationVerifier`],
//! [`SourceApplication::authenticate`] returns the verified claims or an
//! [`ApplicationRejection`], which carries the status, the RFC 6750
//! `WWW-Authenticate` challenge and Source's JSON error body. `axum.rs` and
//! `actix.rs` only translate it into their framework's types.

use std::fmt;

use http::StatusCode;

use crate::authorization::{self, ParseError, Scheme};
use crate::error::ErrorKind;
use crate::error_body::SourceErrorBody;

use super::{ApplicationClaims, ApplicationVerifier};

/// A request from a frame plugin, with its verified Source application token.
///
/// The extractor reads `Authorization: Bearer <token>` and checks the token with
/// the [`ApplicationVerifier`] the app configured. It is one type, re-exported by
/// `source_auth::axum` and `source_auth::actix`: its page starts with the notes
/// of the module it was reached from, and lists the extractor impls of both
/// frameworks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SourceApplication {
    /// The verified claims: the Source user (`claims.user`), the application, the
    /// purpose and the token's times.
    pub claims: ApplicationClaims,
}

/// Why [`SourceApplication`] refused a request, following RFC 6750.
///
/// The body is Source's error shape, `{"object":"error","type":…,"code":…,"message":…}`,
/// with a fixed message: it never holds the token or its claims.
///
/// | case | status | `WWW-Authenticate` | `type` | `code` |
/// |---|---|---|---|---|
/// | [`MissingToken`](Self::MissingToken) | 401 | `Bearer` | `authentication_error` | `missing_token` |
/// | [`InvalidRequest`](Self::InvalidRequest) | 400 | `Bearer error="invalid_request"` | `invalid_request_error` | `invalid_authorization` |
/// | [`InvalidToken`](Self::InvalidToken) | 401 | `Bearer error="invalid_token"` | `authentication_error` | `invalid_token` |
/// | [`Misconfigured`](Self::Misconfigured) | 500 | none | `api_error` | `internal_error` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApplicationRejection {
    /// No `Authorization` header, or one with another scheme than Bearer (such as
    /// Basic): the request carries no application token (401, no error code).
    MissingToken,
    /// Several `Authorization` headers, or a malformed one (`Bearer` alone, a
    /// credential with spaces, bytes outside visible ASCII) (400).
    InvalidRequest,
    /// The token was refused; the [`ErrorKind`] says why (401). Log it if you
    /// like; the response does not say it.
    InvalidToken(ErrorKind),
    /// No [`ApplicationVerifier`] is configured (500, with an error log line).
    Misconfigured,
}

impl ApplicationRejection {
    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 section 3); `None` for the 500.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => Some("Bearer"),
            Self::InvalidRequest => Some(r#"Bearer error="invalid_request""#),
            Self::InvalidToken(_) => Some(r#"Bearer error="invalid_token""#),
            Self::Misconfigured => None,
        }
    }

    /// Source's error `type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => "authentication_error",
            Self::InvalidRequest => "invalid_request_error",
            Self::Misconfigured => "api_error",
        }
    }

    /// The error `code`, stable to match on (see the table above).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidRequest => "invalid_authorization",
            Self::InvalidToken(_) => "invalid_token",
            Self::Misconfigured => "internal_error",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::MissingToken => {
                "Send the Source application token as `Authorization: Bearer <token>`."
            }
            Self::InvalidRequest => {
                "The Authorization header must be one `Bearer <token>` in visible ASCII."
            }
            Self::InvalidToken(_) => "The Source application token is invalid or has expired.",
            Self::Misconfigured => "The server could not verify the Source application token.",
        }
    }

    /// The JSON response body, in Source's error shape.
    pub fn body_text(&self) -> String {
        SourceErrorBody::new(self.error_type(), self.code(), self.message(), None).to_json()
    }
}

impl fmt::Display for ApplicationRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ApplicationRejection {}

impl SourceApplication {
    /// Reads the Bearer token from the request's `Authorization` header values and
    /// verifies it.
    pub(crate) fn authenticate<'h>(
        mut authorization: impl Iterator<Item = &'h [u8]>,
        verifier: &ApplicationVerifier,
    ) -> Result<Self, ApplicationRejection> {
        let value = match (authorization.next(), authorization.next()) {
            (None, _) => return Err(ApplicationRejection::MissingToken),
            (Some(value), None) => value,
            (Some(_), Some(_)) => {
                tracing::debug!("application token refused: several Authorization headers");
                return Err(ApplicationRejection::InvalidRequest);
            }
        };
        let presented = match authorization::parse(value) {
            Ok(presented) if presented.scheme() == Scheme::Bearer => presented,
            Ok(_) => return Err(ApplicationRejection::MissingToken),
            Err(err) => {
                tracing::debug!(code = err.code(), "application token refused: {err}");
                return Err(match err {
                    // RFC 6750 section 3.1: another scheme is no token at all.
                    ParseError::UnsupportedScheme
                    | ParseError::InvalidBase64
                    | ParseError::BasicNotUtf8
                    | ParseError::BasicMissingColon
                    | ParseError::BasicPasswordNotEmpty => ApplicationRejection::MissingToken,
                    ParseError::Malformed
                    | ParseError::MissingScheme
                    | ParseError::MissingCredentials => ApplicationRejection::InvalidRequest,
                });
            }
        };
        match verifier.verify(presented.credential()) {
            Ok(claims) => Ok(Self { claims }),
            Err(err) => {
                // The message is fixed text: it never holds the token.
                tracing::debug!(kind = ?err.kind(), "application token refused: {err}");
                Err(ApplicationRejection::InvalidToken(err.kind()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed messages, word for word: what a client reads in the body.
    #[test]
    fn messages_say_what_to_send() {
        let messages = [
            (
                ApplicationRejection::MissingToken,
                "Send the Source application token as `Authorization: Bearer <token>`.",
            ),
            (
                ApplicationRejection::InvalidRequest,
                "The Authorization header must be one `Bearer <token>` in visible ASCII.",
            ),
            (
                ApplicationRejection::InvalidToken(ErrorKind::Expired),
                "The Source application token is invalid or has expired.",
            ),
            (
                ApplicationRejection::Misconfigured,
                "The server could not verify the Source application token.",
            ),
        ];
        for (rejection, message) in messages {
            assert_eq!(rejection.to_string(), message);
            let body: serde_json::Value = serde_json::from_str(&rejection.body_text()).unwrap();
            assert_eq!(body["message"], message);
        }
    }

    #[test]
    fn bodies_are_source_errors_and_challenges_follow_rfc_6750() {
        for rejection in [
            ApplicationRejection::MissingToken,
            ApplicationRejection::InvalidRequest,
            ApplicationRejection::InvalidToken(ErrorKind::Expired),
            ApplicationRejection::Misconfigured,
        ] {
            let body: serde_json::Value = serde_json::from_str(&rejection.body_text()).unwrap();
            assert_eq!(body["object"], "error");
            assert_eq!(body["type"], rejection.error_type());
            assert_eq!(body["code"], rejection.code());
            assert_eq!(body["message"], rejection.to_string());
            let challenge = rejection.www_authenticate();
            assert_eq!(
                challenge.is_some(),
                rejection.status() == StatusCode::UNAUTHORIZED
                    || rejection.status() == StatusCode::BAD_REQUEST
            );
        }
    }

    #[test]
    fn header_values_are_read_as_rfc_6750_says() {
        let jwk =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let key = crate::application::ApplicationKey::from_jwk(jwk).unwrap();
        let verifier = ApplicationVerifier::new("app_1", [key]).unwrap();
        let refuse = |values: &[&[u8]]| {
            SourceApplication::authenticate(values.iter().copied(), &verifier).unwrap_err()
        };
        assert_eq!(refuse(&[]), ApplicationRejection::MissingToken);
        assert_eq!(
            refuse(&[b"Basic c2tfdGVzdF9hYmM6"]),
            ApplicationRejection::MissingToken
        );
        assert_eq!(refuse(&[b"Basic !!"]), ApplicationRejection::MissingToken);
        assert_eq!(refuse(&[b"Digest abc"]), ApplicationRejection::MissingToken);
        assert_eq!(
            refuse(&[b"Bearer a", b"Bearer b"]),
            ApplicationRejection::InvalidRequest
        );
        assert_eq!(refuse(&[b"Bearer"]), ApplicationRejection::InvalidRequest);
        assert_eq!(
            refuse(&[b"Bearer a b"]),
            ApplicationRejection::InvalidRequest
        );
        assert_eq!(
            refuse(&[b"Bearer \xff"]),
            ApplicationRejection::InvalidRequest
        );
        assert_eq!(refuse(&[b"a.b.c"]), ApplicationRejection::InvalidRequest);
        assert_eq!(
            refuse(&[b"bEaReR a.b.c"]),
            ApplicationRejection::InvalidToken(ErrorKind::InvalidToken)
        );
    }
}
