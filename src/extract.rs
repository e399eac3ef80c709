//! The framework-neutral core of the axum and actix-web extractors.
//!
//! Given the signed-in user's Source member id, a [`TokenSigner`] and an
//! [`ExtractorConfig`], [`Issuer::sign`] returns a member or caregiver token or a
//! [`SourceRejection`]. The rejection carries the status, Source's error `type` and
//! `code` and the JSON body; the adapters in `axum.rs` and `actix.rs` only translate
//! it into their framework's response types.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;

use crate::error_body::SourceErrorBody;

use crate::clock::unix_seconds;
use crate::error::Error;
use crate::id::is_source_id;
use crate::identity::SourceIdentity;
use crate::member::{MemberGrant, MemberToken, TokenSigner};

/// The path parameter that names the cared-for member unless configured otherwise.
const DEFAULT_SUBJECT_PARAM: &str = "member_id";

/// The value of `Cache-Control` on token responses: a token must not be cached.
pub(crate) const NO_STORE: &str = "no-store";
/// The `Content-Type` of every body the extractors and the token endpoint write.
pub(crate) const JSON: &str = "application/json";

/// What the extractors sign, and where the caregiver extractor finds its subject.
///
/// Optional: without one the extractors sign tokens with the [`MemberGrant`]
/// defaults (5 minutes, no scopes) and read the subject from the `member_id` path
/// parameter. To change that, put one next to the signer: in axum as a request
/// extension (`.layer(Extension(config))`), in actix-web as app data
/// (`.app_data(config)`).
///
/// A TTL over 24 hours or a malformed scope is not rejected here: every extraction
/// then fails with a 500 and an error log line that says why.
#[derive(Debug, Clone)]
pub struct ExtractorConfig {
    /// `None` leaves the grant's own default TTL.
    ttl: Option<Duration>,
    // Shared, so that a per-request clone costs a reference count, not a copy;
    // `None` (no scopes) costs not even an allocation.
    scopes: Option<Arc<[String]>>,
    subject_param: Cow<'static, str>,
}

impl ExtractorConfig {
    /// The defaults: 5-minute tokens, no scopes, subject in the `member_id` path parameter.
    pub fn new() -> Self {
        Self {
            ttl: None,
            scopes: None,
            subject_param: Cow::Borrowed(DEFAULT_SUBJECT_PARAM),
        }
    }

    /// Tokens expire this long after they are signed (default 5 minutes, at most 24 hours).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The permission scopes every token grants (default none).
    pub fn scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The scopes set with [`scopes`](Self::scopes): the same pair of names as on
    /// [`MemberGrant`].
    pub fn scopes_granted(&self) -> &[String] {
        self.scopes.as_deref().unwrap_or_default()
    }

    /// The path parameter holding the cared-for member's id (default `member_id`).
    pub fn subject_param(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.subject_param = name.into();
        self
    }

    pub(crate) fn subject_param_name(&self) -> &str {
        &self.subject_param
    }

    fn grant(&self, subject: &str, actor: Option<&str>) -> MemberGrant {
        let grant = match actor {
            Some(actor) => MemberGrant::member(subject).caregiver(actor),
            None => MemberGrant::member(subject),
        };
        let grant = match &self.scopes {
            Some(scopes) => grant.scopes(scopes.iter().cloned()),
            None => grant,
        };
        match self.ttl {
            Some(ttl) => grant.ttl(ttl),
            None => grant,
        }
    }
}

impl Default for ExtractorConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Why an extractor refused to produce a Source token.
///
/// Each case has a status, a Source error `type` and `code`, and a fixed message;
/// the response body is Source's error shape,
/// `{"object":"error","type":…,"code":…,"message":…}`. No body ever holds a token,
/// a key, claims or anything the request sent.
///
/// | case | status | `type` | `code` |
/// |---|---|---|---|
/// | [`NoSourceMember`](Self::NoSourceMember) | 403 | `authorization_error` | `no_source_member` |
/// | [`InvalidSubject`](Self::InvalidSubject) | 400 | `invalid_request_error` | `invalid_member_id` |
/// | [`SubjectIsActor`](Self::SubjectIsActor) | 400 | `invalid_request_error` | `actor_is_subject` |
/// | [`Misconfigured`](Self::Misconfigured) | 500 | `api_error` | `internal_error` |
/// | [`SigningFailed`](Self::SigningFailed) | 500 | `api_error` | `internal_error` |
///
/// The two 500 cases share one generic body; the reason goes to a
/// `tracing::error!` line instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SourceRejection {
    /// The signed-in user has no Source member (403).
    NoSourceMember,
    /// The cared-for member named by the request is not a well-formed member id (400).
    InvalidSubject,
    /// The request asks for a caregiver token for the signed-in member themself (400).
    SubjectIsActor,
    /// The extractor is not set up: no signer, or the route lacks the subject
    /// path parameter (500).
    Misconfigured,
    /// Signing failed: the app's member id for the user is malformed, or the
    /// configured TTL or scopes are invalid (500).
    SigningFailed,
}

impl SourceRejection {
    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoSourceMember => StatusCode::FORBIDDEN,
            Self::InvalidSubject | Self::SubjectIsActor => StatusCode::BAD_REQUEST,
            Self::Misconfigured | Self::SigningFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Source's error `type`: `authorization_error`, `invalid_request_error` or `api_error`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::NoSourceMember => "authorization_error",
            Self::InvalidSubject | Self::SubjectIsActor => "invalid_request_error",
            Self::Misconfigured | Self::SigningFailed => "api_error",
        }
    }

    /// The error `code`, stable to match on (see the table above).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSourceMember => "no_source_member",
            Self::InvalidSubject => "invalid_member_id",
            Self::SubjectIsActor => "actor_is_subject",
            Self::Misconfigured | Self::SigningFailed => "internal_error",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::NoSourceMember => "The signed-in user is not linked to a Source member.",
            Self::InvalidSubject => {
                "The member id in the request must be `mem_` followed by letters and digits."
            }
            Self::SubjectIsActor => {
                "A caregiver token must be for a member other than the signed-in user."
            }
            Self::Misconfigured | Self::SigningFailed => {
                "The server could not issue a Source token."
            }
        }
    }

    /// The JSON response body, in Source's error shape.
    pub fn body_text(&self) -> String {
        SourceErrorBody::new(self.error_type(), self.code(), self.message(), None).to_json()
    }

    /// A [`Misconfigured`](Self::Misconfigured) rejection, logging `why` for the operator.
    pub(crate) fn misconfigured(why: &str) -> Self {
        tracing::error!("cannot issue a Source member token: {why}");
        Self::Misconfigured
    }

    /// A [`Misconfigured`](Self::Misconfigured) rejection for a route without the
    /// subject path parameter.
    pub(crate) fn missing_subject_param(name: &str) -> Self {
        Self::misconfigured(&format!(
            "SourceCaregiver is used on a route without a `{{{name}}}` path parameter"
        ))
    }

    fn signing_failed(err: &Error) -> Self {
        tracing::error!(
            kind = ?err.kind(),
            "cannot issue a Source member token: {err}"
        );
        Self::SigningFailed
    }
}

impl fmt::Display for SourceRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for SourceRejection {}

/// A signer with the grant template it signs from.
#[derive(Debug, Clone)]
pub(crate) struct Issuer {
    signer: TokenSigner,
    config: ExtractorConfig,
}

impl Issuer {
    pub(crate) fn new(signer: TokenSigner, config: ExtractorConfig) -> Self {
        Self { signer, config }
    }

    pub(crate) fn config(&self) -> &ExtractorConfig {
        &self.config
    }

    /// Signs a token for the signed-in user `member`: a member token, or with a
    /// `subject` a caregiver token with `member` as the actor.
    ///
    /// `member` comes from the app's authenticated user, never from the request;
    /// `subject` may come from the request and is checked as untrusted input.
    pub(crate) fn sign(
        &self,
        member: Option<&str>,
        subject: Option<&str>,
    ) -> Result<MemberToken, SourceRejection> {
        let member = member.ok_or(SourceRejection::NoSourceMember)?;
        let grant = match subject {
            None => self.config.grant(member, None),
            Some(subject) if !is_source_id(subject, "mem_") => {
                return Err(SourceRejection::InvalidSubject);
            }
            Some(subject) if subject == member => return Err(SourceRejection::SubjectIsActor),
            Some(subject) => self.config.grant(subject, Some(member)),
        };
        // Anything the signer refuses now is the app's data or configuration, not
        // the request: a malformed member id, a bad TTL or scope.
        self.signer
            .sign(&grant)
            .map_err(|err| SourceRejection::signing_failed(&err))
    }
}

/// The token endpoint's body: `{"token":"…","expires_at":<unix seconds>}`.
pub(crate) fn token_body(token: &MemberToken) -> String {
    json!({
        "token": token.as_str(),
        "expires_at": unix_seconds(token.expires_at()).unwrap_or(0),
    })
    .to_string()
}

/// The signed-in user with a member token signed for them.
///
/// Extracting it runs the app's own user extractor `U`, asks the user for its
/// Source member id through [`SourceIdentity`], and signs a
/// member token for that member. [`caregiver_for`](Self::caregiver_for) signs a
/// caregiver token for the same user acting for another member.
#[derive(Debug)]
pub struct SourceMember<U> {
    /// The app's own user, as its extractor returned it.
    pub user: U,
    /// A member token for the user's Source member (`sub` = the user's member id).
    pub token: MemberToken,
    issuer: Issuer,
}

impl<U: SourceIdentity> SourceMember<U> {
    /// Signs a member token for `user`.
    pub(crate) fn sign(user: U, issuer: Issuer) -> Result<Self, SourceRejection> {
        let token = issuer.sign(user.source_member_id(), None)?;
        Ok(Self {
            user,
            token,
            issuer,
        })
    }
}

impl<U> SourceMember<U> {
    /// A caregiver token in which this user acts for `subject`: `act` is this
    /// user's member id, `sub` is `subject`.
    ///
    /// `subject` may come from the request: it is validated, and fails with
    /// [`SourceRejection::InvalidSubject`] or [`SourceRejection::SubjectIsActor`].
    /// Source itself checks that the two members have an active relationship.
    pub fn caregiver_for(&self, subject: &str) -> Result<MemberToken, SourceRejection> {
        self.issuer
            .sign(Some(&self.token.claims().sub), Some(subject))
    }
}

/// The signed-in user with a caregiver token for the member named in the path.
///
/// `act` is the user's own member id, from [`SourceIdentity`];
/// `sub` is the path parameter named by [`ExtractorConfig::subject_param`]
/// (default `member_id`). Nothing else in the request is read.
#[derive(Debug)]
pub struct SourceCaregiver<U> {
    /// The app's own user, as its extractor returned it.
    pub user: U,
    /// A caregiver token: `sub` = the member from the path, `act` = the user's member id.
    pub token: MemberToken,
}

impl<U: SourceIdentity> SourceCaregiver<U> {
    /// Signs a caregiver token in which `user` acts for `subject`.
    pub(crate) fn sign(user: U, subject: &str, issuer: &Issuer) -> Result<Self, SourceRejection> {
        let token = issuer.sign(user.source_member_id(), Some(subject))?;
        Ok(Self { user, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiKey;

    fn issuer(config: ExtractorConfig) -> Issuer {
        let key = ApiKey::new(
            "key_0EipsUv2yRFxynHshisN",
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000",
        )
        .unwrap();
        Issuer::new(TokenSigner::new(key), config)
    }

    #[test]
    fn member_and_caregiver_tokens() {
        let issuer = issuer(ExtractorConfig::new().scopes(["read"]));
        let member = issuer.sign(Some("mem_ada"), None).unwrap();
        assert_eq!(member.claims().sub, "mem_ada");
        assert_eq!(member.claims().act, None);
        assert_eq!(member.claims().scopes, ["read"]);
        assert_eq!(member.claims().exp - member.claims().iat, 300);

        let caregiver = issuer.sign(Some("mem_ada"), Some("mem_kid")).unwrap();
        assert_eq!(caregiver.claims().sub, "mem_kid");
        assert_eq!(caregiver.claims().act.as_deref(), Some("mem_ada"));
    }

    #[test]
    fn rejections_in_order() {
        let issuer = issuer(ExtractorConfig::new());
        // A user without a member is refused before the subject is looked at.
        assert_eq!(
            issuer.sign(None, Some("not an id")).unwrap_err(),
            SourceRejection::NoSourceMember
        );
        assert_eq!(
            issuer.sign(Some("mem_ada"), Some("mem_a/b")).unwrap_err(),
            SourceRejection::InvalidSubject
        );
        assert_eq!(
            issuer.sign(Some("mem_ada"), Some("mem_ada")).unwrap_err(),
            SourceRejection::SubjectIsActor
        );
        assert_eq!(
            issuer.sign(Some("user-7"), None).unwrap_err(),
            SourceRejection::SigningFailed
        );
    }

    #[test]
    fn bad_configuration_fails_signing() {
        let too_long = issuer(ExtractorConfig::new().ttl(Duration::from_secs(25 * 60 * 60)));
        assert_eq!(
            too_long.sign(Some("mem_ada"), None).unwrap_err(),
            SourceRejection::SigningFailed
        );
        let bad_scope = issuer(ExtractorConfig::new().scopes(["has space"]));
        assert_eq!(
            bad_scope.sign(Some("mem_ada"), None).unwrap_err(),
            SourceRejection::SigningFailed
        );
    }

    #[test]
    fn scopes_read_back_as_set() {
        assert!(ExtractorConfig::new().scopes_granted().is_empty());
        let config = ExtractorConfig::new().scopes(["read", "write"]);
        assert_eq!(config.scopes_granted(), ["read", "write"]);
    }

    #[test]
    fn bodies_are_source_errors() {
        for rejection in [
            SourceRejection::NoSourceMember,
            SourceRejection::InvalidSubject,
            SourceRejection::SubjectIsActor,
            SourceRejection::Misconfigured,
            SourceRejection::SigningFailed,
        ] {
            let body: serde_json::Value = serde_json::from_str(&rejection.body_text()).unwrap();
            assert_eq!(body["object"], "error");
            assert_eq!(body["type"], rejection.error_type());
            assert_eq!(body["code"], rejection.code());
            assert_eq!(body["message"], rejection.to_string());
        }
        assert_eq!(
            SourceRejection::Misconfigured.body_text(),
            SourceRejection::SigningFailed.body_text()
        );
    }

    #[test]
    fn token_body_has_token_and_expiry() {
        let token = issuer(ExtractorConfig::new())
            .sign(Some("mem_ada"), None)
            .unwrap();
        let body: serde_json::Value = serde_json::from_str(&token_body(&token)).unwrap();
        assert_eq!(body["token"], token.as_str());
        assert_eq!(body["expires_at"], token.claims().exp);
        assert_eq!(body.as_object().unwrap().len(), 2);
    }
}
