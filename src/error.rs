//! The crate's error type.
//!
//! Every fallible call returns [`Error`], an opaque type whose [`Error::kind`]
//! tells what went wrong without parsing strings. Messages say what to fix and
//! never contain a secret, a token or claims.
//!
//! ```
//! use source_auth::{ApiKey, ErrorKind};
//!
//! let err = ApiKey::new("key_abc", "not-a-secret").unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::InvalidApiKey);
//! assert!(!err.to_string().contains("not-a-secret"));
//! ```

use std::borrow::Cow;
use std::fmt;

/// What went wrong, for matching without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An API key id or secret is malformed.
    InvalidApiKey,
    /// An environment variable that configures a credential is missing or not UTF-8.
    MissingEnvironment,
    /// A user token is empty, too long, or has characters a header cannot carry.
    InvalidUserToken,
    /// A member id is not `mem_` followed by letters and digits.
    InvalidMemberId,
    /// A caregiver grant names the same member as actor and subject.
    ActorIsSubject,
    /// A scope is empty, too long, or has characters outside visible ASCII, or a
    /// grant carries more scopes than a token may.
    InvalidScope,
    /// A token's expiry is not after now, or is more than 24 hours ahead.
    InvalidExpiry,
    /// A token is malformed, uses another algorithm, is not valid yet, or its
    /// signature or claims are wrong.
    InvalidToken,
    /// A token is larger than the 8 KiB a verifier accepts.
    TokenTooLarge,
    /// A token's `exp` has passed.
    Expired,
    /// A token's `kid` names no key the verifier knows.
    UnknownKey,
    /// A base URL is not an `https` origin (or `http` on a loopback host).
    InvalidBaseUrl,
    /// A member grant needs an API key to sign with, and none is configured.
    MissingSigner,
    /// A layer built with no default credential got a request that carries none
    /// of its own (no `MemberGrant` or `MemberToken` in its extensions).
    MissingCredential,
    /// A request carries a per-request credential (`MemberGrant` or
    /// `MemberToken`) and also another one: its own `Authorization` header, a user
    /// name in its URL, or a second, different per-request credential (for example
    /// one in the `http::Request` it was converted from and another given to
    /// reqwest-middleware). Which one it asked for is unclear; it is not sent.
    ConflictingCredentials,
    /// A request carries a per-request credential but is not for the origin the
    /// layer sends credentials to; the message names both. It is not sent: without
    /// the credential it asked for it would only fail at the other end.
    NotSourceOrigin,
    /// The clock reads a time before the Unix epoch, so no token can be dated.
    ClockBeforeEpoch,
    /// Encoding a signed token failed; this does not happen with well-behaved
    /// dependencies, and is reported rather than assumed away.
    Signing,
    /// An application key is not a public Ed25519 JWK (`kty` `OKP`, `crv`
    /// `Ed25519`, a 32-byte `x`, no private `d`).
    InvalidApplicationKey,
    /// An application id is not `app_` followed by letters and digits.
    InvalidApplicationId,
    /// An application token's `iss` is not `sourcehealth`.
    WrongIssuer,
    /// An application token is for another application than the verifier's.
    WrongApplication,
    /// A Source user id (`usr`) is not `usr_` followed by letters and digits.
    InvalidUserId,
    /// A verifier was built with no keys, so it could accept no token.
    NoVerificationKeys,
    /// An extractor configuration names no path parameter for the cared-for member.
    InvalidSubjectParam,
    /// A path given to `MockSource` does not start with `/`, or carries a query
    /// string or a fragment, so it could never match a request's path.
    InvalidPath,
    /// `RotatingKey::rotate` was given a key of the other mode (test for live,
    /// or live for test) than the one it holds.
    ModeMismatch,
    /// A layer built from a `RotatingKey` was given a signer with a fixed key,
    /// which would keep signing with the old key after a rotation.
    SignerNotRotating,
    /// A probe of Source's clock taught nothing: the answer carried no `Date`
    /// (or an `Age`), came from another origin, or took longer than
    /// `skew::MAX_SAMPLE_ROUND_TRIP`.
    ClockNotLearned,
    /// A status given to `MockSource` that Source could not answer with a body:
    /// only 200 to 599 are accepted, except 204 and 304.
    InvalidStatus,
    /// A request's extensions hold a `MemberGrant` or `MemberToken` inside an
    /// `Arc`, a `Box` or an `Option` (`None` included), which the layer does not
    /// read as a credential; the message names the wrapper. Insert the bare type.
    /// The request is not sent.
    WrappedCredential,
}

impl ErrorKind {
    /// The kind's stable code: its name in snake_case (`InvalidMemberId` is
    /// `invalid_member_id`), the same for every error of the kind, so it never
    /// carries a message, an id or a token. It is the `code` of the HTTP answers
    /// the `axum` and `actix-web` features give an [`Error`], and the `kind`
    /// label of the `metrics` feature's refusal counter. Codes never change
    /// once released; a new kind brings a new code.
    ///
    /// ```
    /// use source_auth::{ErrorKind, MemberId};
    ///
    /// let err = MemberId::parse("patient 1").unwrap_err();
    /// assert_eq!(err.kind().code(), "invalid_member_id");
    /// ```
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidApiKey => "invalid_api_key",
            Self::MissingEnvironment => "missing_environment",
            Self::InvalidUserToken => "invalid_user_token",
            Self::InvalidMemberId => "invalid_member_id",
            Self::ActorIsSubject => "actor_is_subject",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidExpiry => "invalid_expiry",
            Self::InvalidToken => "invalid_token",
            Self::TokenTooLarge => "token_too_large",
            Self::Expired => "expired",
            Self::UnknownKey => "unknown_key",
            Self::InvalidBaseUrl => "invalid_base_url",
            Self::MissingSigner => "missing_signer",
            Self::MissingCredential => "missing_credential",
            Self::ConflictingCredentials => "conflicting_credentials",
            Self::NotSourceOrigin => "not_source_origin",
            Self::ClockBeforeEpoch => "clock_before_epoch",
            Self::Signing => "signing",
            Self::InvalidApplicationKey => "invalid_application_key",
            Self::InvalidApplicationId => "invalid_application_id",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongApplication => "wrong_application",
            Self::InvalidUserId => "invalid_user_id",
            Self::NoVerificationKeys => "no_verification_keys",
            Self::InvalidSubjectParam => "invalid_subject_param",
            Self::InvalidPath => "invalid_path",
            Self::ModeMismatch => "mode_mismatch",
            Self::SignerNotRotating => "signer_not_rotating",
            Self::ClockNotLearned => "clock_not_learned",
            Self::InvalidStatus => "invalid_status",
            Self::WrappedCredential => "wrapped_credential",
        }
    }
}

/// The error returned by every fallible operation in this crate.
///
/// Its [`kind`](Error::kind) is stable to match on; its message is for people.
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether a token was rejected because it expired.
    pub fn is_expired(&self) -> bool {
        self.kind == ErrorKind::Expired
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Untrusted input that a check of this crate refused, such as
/// [`MemberId::parse`](crate::MemberId::parse) of a path segment: the client's
/// fault, not the server's.
///
/// With the `axum` or `actix-web` feature a handler returns it as it is
/// (`IntoResponse`, `ResponseError`) to answer 400 in Source's error shape,
/// `{"object":"error","type":"invalid_request_error","code":…,"message":…}`, with
/// the kind's [`code`](ErrorKind::code) and the error's message, which never
/// holds a secret, a token, claims or the input itself. An [`Error`] returned
/// from a handler answers 500 instead: a failure of the server's own
/// configuration or data. Any check's [`Error`] becomes one with `From`.
///
/// ```
/// use source_auth::{ErrorKind, InvalidInput, MemberGrant};
///
/// // A grant built from a form, checked as untrusted input.
/// let grant = MemberGrant::member("mem_patient1").caregiver("mem_patient1");
/// let refused = grant.validate().map_err(InvalidInput::from).unwrap_err();
/// assert_eq!((refused.status().as_u16(), refused.kind().code()), (400, "actor_is_subject"));
/// ```
#[derive(Debug, Clone)]
pub struct InvalidInput(Error);

impl InvalidInput {
    /// What was wrong with the input.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The status of the answer: always 400 Bad Request.
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::BAD_REQUEST
    }

    /// The check's own error.
    pub fn error(&self) -> &Error {
        &self.0
    }
}

impl From<Error> for InvalidInput {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for InvalidInput {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The boxed error tower services return; [`SourceAuth`](crate::SourceAuth)'s own
/// failures downcast to [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::{Error, ErrorKind, InvalidInput};

    #[test]
    fn an_error_tells_its_kind_and_message() {
        let expired = Error::new(ErrorKind::Expired, "the token has expired");
        assert!(expired.is_expired());
        assert!(!Error::new(ErrorKind::InvalidToken, "no").is_expired());
        assert_eq!(
            format!("{expired:?}"),
            r#"Error { kind: Expired, message: "the token has expired" }"#
        );
    }

    /// Untrusted input keeps the check's error: its kind, message and source.
    #[test]
    fn invalid_input_wraps_the_checks_error() {
        let input = InvalidInput::from(Error::new(ErrorKind::InvalidScope, "bad scope"));
        assert_eq!(
            (input.kind(), input.status().as_u16()),
            (ErrorKind::InvalidScope, 400)
        );
        assert_eq!(
            (input.to_string(), input.error().kind()),
            ("bad scope".to_owned(), ErrorKind::InvalidScope)
        );
        let source = std::error::Error::source(&input).expect("the check's error");
        assert_eq!(
            source.downcast_ref::<Error>().map(Error::kind),
            Some(ErrorKind::InvalidScope)
        );
    }

    /// Each code is the kind's own name in snake_case, so two kinds never share
    /// one and an answer or a dashboard reads like the docs.
    #[test]
    fn codes_are_the_kinds_names_in_snake_case() {
        for kind in [
            ErrorKind::InvalidApiKey,
            ErrorKind::MissingEnvironment,
            ErrorKind::InvalidUserToken,
            ErrorKind::InvalidMemberId,
            ErrorKind::ActorIsSubject,
            ErrorKind::InvalidScope,
            ErrorKind::InvalidExpiry,
            ErrorKind::InvalidToken,
            ErrorKind::TokenTooLarge,
            ErrorKind::Expired,
            ErrorKind::UnknownKey,
            ErrorKind::InvalidBaseUrl,
            ErrorKind::MissingSigner,
            ErrorKind::MissingCredential,
            ErrorKind::ConflictingCredentials,
            ErrorKind::NotSourceOrigin,
            ErrorKind::ClockBeforeEpoch,
            ErrorKind::Signing,
            ErrorKind::InvalidApplicationKey,
            ErrorKind::InvalidApplicationId,
            ErrorKind::WrongIssuer,
            ErrorKind::WrongApplication,
            ErrorKind::InvalidUserId,
            ErrorKind::NoVerificationKeys,
            ErrorKind::InvalidSubjectParam,
            ErrorKind::InvalidPath,
            ErrorKind::ModeMismatch,
            ErrorKind::SignerNotRotating,
            ErrorKind::ClockNotLearned,
            ErrorKind::InvalidStatus,
            ErrorKind::WrappedCredential,
        ] {
            assert_eq!(kind.code(), snake_case(&format!("{kind:?}")));
        }
    }

    fn snake_case(camel: &str) -> String {
        let mut snake = String::new();
        for (i, c) in camel.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        }
        snake
    }
}
