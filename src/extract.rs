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
use crate::error::{Error, ErrorKind};
use crate::id::is_source_id;
use crate::identity::SourceIdentity;
use crate::member::{MAX_TOKEN_LIFETIME, MemberGrant, MemberToken, TokenSigner, validate_scopes};

/// The shortest TTL: `exp` has whole seconds, so a shorter one could equal `iat`.
const MIN_TTL: Duration = Duration::from_secs(1);

/// A well-formed member id, signed for once by [`TokenIssuer::new`] to check the
/// signer and the configuration together.
const PROBE_MEMBER: &str = "mem_0";

/// The path parameter that names the cared-for member unless configured otherwise.
const DEFAULT_SUBJECT_PARAM: &str = "member_id";

/// The value of `Cache-Control` on token responses: a token must not be cached.
pub(crate) const NO_STORE: &str = "no-store";
/// The `Content-Type` of every body the extractors and the token endpoint write.
pub(crate) const JSON: &str = "application/json";

/// What the extractors sign, and where the caregiver extractor finds its subject:
/// given to [`TokenIssuer::new`] with the signer, which checks it.
///
/// [`ExtractorConfig::default`] is the [`MemberGrant`] defaults: 5-minute tokens,
/// no scopes, the subject in the `member_id` path parameter.
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

    /// Tokens expire this long after they are signed (default 5 minutes; from 1
    /// second to 24 hours, checked by [`TokenIssuer::new`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The permission scopes every token grants (default none; at most 32, 1 KiB
    /// in all, each 1 to 128 characters of visible ASCII, checked by
    /// [`TokenIssuer::new`]).
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

    /// Refuses what would make every extraction fail.
    fn validate(&self) -> Result<(), Error> {
        if let Some(ttl) = self.ttl {
            if ttl < MIN_TTL || ttl > MAX_TOKEN_LIFETIME {
                return Err(Error::new(
                    ErrorKind::InvalidExpiry,
                    "ExtractorConfig's ttl must be from 1 second to 24 hours: Source refuses a \
                     member token that lives longer, and one under a second can expire as it is signed",
                ));
            }
        }
        validate_scopes(self.scopes_granted()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidScope,
                "ExtractorConfig's scopes must be at most 32, 1 KiB in all, each 1 to 128 \
                 characters of visible ASCII (no spaces)",
            )
        })?;
        if self.subject_param.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidSubjectParam,
                "ExtractorConfig's subject_param must name the route's path parameter, such as `member_id`",
            ));
        }
        Ok(())
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
    /// Signing failed: the app's member id for the user is malformed (500).
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

/// What the extractors and token endpoints sign with: a [`TokenSigner`] and the
/// [`ExtractorConfig`] it signs from, checked together when built.
///
/// Both frameworks read it from the app's state: in axum through `FromRef` (the
/// router state, or a field of it), in actix-web from the app data
/// (`.app_data(issuer)`). There is no fallback: choose the defaults explicitly
/// with [`ExtractorConfig::default`].
///
/// ```
/// use std::time::Duration;
/// use source_auth::{ApiKey, ErrorKind, TokenSigner};
/// # #[cfg(feature = "axum")]
/// use source_auth::axum::{ExtractorConfig, TokenIssuer};
/// # #[cfg(not(feature = "axum"))]
/// # use source_auth::actix::{ExtractorConfig, TokenIssuer};
///
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// let signer = TokenSigner::new(key);
/// let issuer = TokenIssuer::new(signer.clone(), ExtractorConfig::default())?;
///
/// // A configuration that could sign nothing is refused here, not per request.
/// let too_long = ExtractorConfig::new().ttl(Duration::from_secs(25 * 3600));
/// let err = TokenIssuer::new(signer, too_long).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidExpiry);
/// # let _ = issuer;
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    signer: TokenSigner,
    config: ExtractorConfig,
}

impl TokenIssuer {
    /// Signs with `signer` from `config`.
    ///
    /// Refuses a TTL under 1 second or over 24 hours, or over 24 hours with the
    /// signer's `iat_backdate` ([`ErrorKind::InvalidExpiry`]), scopes a grant may not carry
    /// ([`ErrorKind::InvalidScope`]), and an empty subject parameter name
    /// ([`ErrorKind::InvalidSubjectParam`]).
    pub fn new(signer: TokenSigner, config: ExtractorConfig) -> Result<Self, Error> {
        config.validate()?;
        // What the signer adds can still refuse every token (a TTL of 24 hours
        // with an `iat_backdate` lives longer than Source allows): sign one.
        signer.sign(&config.grant(PROBE_MEMBER, None))?;
        Ok(Self { signer, config })
    }

    /// The signer.
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// The configuration.
    pub fn config(&self) -> &ExtractorConfig {
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
        // Anything the signer refuses now is the app's data, not the request: a
        // malformed member id (the configuration was checked when built).
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
///
/// It is one type, re-exported by `source_auth::axum` and `source_auth::actix`,
/// so its page lists the extractor impls of both frameworks (each under its
/// feature); use the one of your framework's module.
#[derive(Debug)]
pub struct SourceMember<U> {
    /// The app's own user, as its extractor returned it.
    pub user: U,
    /// A member token for the user's Source member (`sub` = the user's member id).
    pub token: MemberToken,
    issuer: TokenIssuer,
}

impl<U: SourceIdentity> SourceMember<U> {
    /// Signs a member token for `user`.
    pub(crate) fn sign(user: U, issuer: TokenIssuer) -> Result<Self, SourceRejection> {
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
///
/// Like [`SourceMember`], one type re-exported by both framework modules.
#[derive(Debug)]
pub struct SourceCaregiver<U> {
    /// The app's own user, as its extractor returned it.
    pub user: U,
    /// A caregiver token: `sub` = the member from the path, `act` = the user's member id.
    pub token: MemberToken,
}

impl<U: SourceIdentity> SourceCaregiver<U> {
    /// Signs a caregiver token in which `user` acts for `subject`.
    pub(crate) fn sign(
        user: U,
        subject: &str,
        issuer: &TokenIssuer,
    ) -> Result<Self, SourceRejection> {
        let token = issuer.sign(user.source_member_id(), Some(subject))?;
        Ok(Self { user, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiKey;

    fn signer() -> TokenSigner {
        let key = ApiKey::new(
            "key_0EipsUv2yRFxynHshisN",
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000",
        )
        .unwrap();
        TokenSigner::new(key)
    }

    fn issuer(config: ExtractorConfig) -> TokenIssuer {
        TokenIssuer::new(signer(), config).unwrap()
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
    fn bad_configuration_is_refused_when_built() {
        let hour = Duration::from_secs(3600);
        let refused = |config: ExtractorConfig| TokenIssuer::new(signer(), config).unwrap_err();
        for ttl in [
            25 * hour,
            24 * hour + Duration::from_secs(1),
            Duration::from_millis(999),
            Duration::ZERO,
        ] {
            let err = refused(ExtractorConfig::new().ttl(ttl));
            assert_eq!(err.kind(), ErrorKind::InvalidExpiry, "{ttl:?}");
            assert!(err.to_string().contains("24 hours"), "{err}");
        }
        for scopes in [vec!["has space"], vec![""], vec!["s"; 33]] {
            let err = refused(ExtractorConfig::new().scopes(scopes));
            assert_eq!(err.kind(), ErrorKind::InvalidScope);
            assert!(
                err.to_string().contains("ExtractorConfig's scopes"),
                "{err}"
            );
        }
        let err = refused(ExtractorConfig::new().subject_param(""));
        assert_eq!(err.kind(), ErrorKind::InvalidSubjectParam);
        // The bounds themselves are accepted.
        for ttl in [24 * hour, Duration::from_secs(1)] {
            let issuer = issuer(ExtractorConfig::new().ttl(ttl));
            let token = issuer.sign(Some("mem_ada"), None).unwrap();
            assert_eq!(token.claims().exp - token.claims().iat, ttl.as_secs());
        }
        let most = TokenIssuer::new(signer(), ExtractorConfig::new().scopes(vec!["s"; 32]))
            .expect("32 scopes are allowed");
        let token = most.sign(Some("mem_ada"), None).unwrap();
        assert_eq!(token.claims().scopes.len(), 32);
    }

    #[test]
    fn scopes_read_back_as_set() {
        assert!(ExtractorConfig::new().scopes_granted().is_empty());
        let config = ExtractorConfig::new().scopes(["read", "write"]);
        assert_eq!(config.scopes_granted(), ["read", "write"]);
    }

    /// The fixed messages, word for word: what a client reads in the body.
    #[test]
    fn messages_say_what_went_wrong() {
        let messages = [
            (
                SourceRejection::NoSourceMember,
                "The signed-in user is not linked to a Source member.",
            ),
            (
                SourceRejection::InvalidSubject,
                "The member id in the request must be `mem_` followed by letters and digits.",
            ),
            (
                SourceRejection::SubjectIsActor,
                "A caregiver token must be for a member other than the signed-in user.",
            ),
            (
                SourceRejection::Misconfigured,
                "The server could not issue a Source token.",
            ),
            (
                SourceRejection::SigningFailed,
                "The server could not issue a Source token.",
            ),
        ];
        for (rejection, message) in messages {
            assert_eq!(rejection.to_string(), message);
            let body: serde_json::Value = serde_json::from_str(&rejection.body_text()).unwrap();
            assert_eq!(body["message"], message);
        }
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
