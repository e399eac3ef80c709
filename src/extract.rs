//! The framework-neutral core of the axum and actix-web extractors.
//!
//! Given the signed-in user's Source member id, a [`TokenSigner`] and an
//! [`ExtractorConfig`], [`Issuer::sign`] returns a member or caregiver token or a
//! [`SourceRejection`]. The rejection carries the status, Source's error `type` and
//! `code` and the JSON body; the adapters in `axum.rs` and `actix.rs` only translate
//! it into their framework's response types.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;

use crate::error_body::SourceErrorBody;

use crate::clock::unix_seconds;
use crate::error::{Error, ErrorKind};
use crate::identity::SourceIdentity;
use crate::member::{
    MAX_TOKEN_LIFETIME, MemberGrant, MemberId, MemberToken, TokenSigner, validate_scopes,
};

/// The shortest TTL: `exp` has whole seconds, so a shorter one could equal `iat`.
const MIN_TTL: Duration = Duration::from_secs(1);

/// A well-formed member id, signed for once by [`TokenIssuer::new`] to check the
/// signer and the configuration together.
const PROBE_MEMBER: &str = "mem_0";

/// The path parameter that names the cared-for member unless configured otherwise.
const DEFAULT_SUBJECT_PARAM: &str = "member_id";

/// Where `configure` (actix-web) and `token_routes` (axum) mount the token
/// endpoints: this path for the member's token, and below it, in the path
/// parameter [`ExtractorConfig::subject_param`] names, the caregiver's.
pub(crate) const TOKEN_PATH: &str = "/source-token";

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

    /// The path parameter holding the cared-for member's id (default
    /// `member_id`): letters, digits and `_`, not starting with a digit, checked
    /// by [`TokenIssuer::new`]. The one-call wiring (`configure`, `token_routes`)
    /// mounts the caregiver endpoint at `/source-token/{<this name>}`.
    pub fn subject_param(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.subject_param = name.into();
        self
    }

    pub(crate) fn subject_param_name(&self) -> &str {
        &self.subject_param
    }

    /// The caregiver token endpoint's route, with the subject parameter this
    /// configuration reads, so that the two cannot disagree.
    pub(crate) fn caregiver_route(&self) -> String {
        format!("{TOKEN_PATH}/{{{}}}", self.subject_param)
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
        // A route pattern is built from it, so it must be a plain name.
        let plain = self
            .subject_param
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain
            || !self
                .subject_param
                .starts_with(|c: char| !c.is_ascii_digit())
        {
            return Err(Error::new(
                ErrorKind::InvalidSubjectParam,
                "ExtractorConfig's subject_param must name the route's path parameter, such as \
                 `member_id`: letters, digits and `_`, not starting with a digit",
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
/// | [`CaregiverNotAllowed`](Self::CaregiverNotAllowed) | 403 | `authorization_error` | `caregiver_not_allowed` |
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
    /// The app's caregiver check ([`TokenIssuer::caregiver_check`]) refused the
    /// signed-in user acting for the member in the request (403). Nothing was signed.
    CaregiverNotAllowed,
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
            Self::NoSourceMember | Self::CaregiverNotAllowed => StatusCode::FORBIDDEN,
            Self::InvalidSubject | Self::SubjectIsActor => StatusCode::BAD_REQUEST,
            Self::Misconfigured | Self::SigningFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Source's error `type`: `authorization_error`, `invalid_request_error` or `api_error`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::NoSourceMember | Self::CaregiverNotAllowed => "authorization_error",
            Self::InvalidSubject | Self::SubjectIsActor => "invalid_request_error",
            Self::Misconfigured | Self::SigningFailed => "api_error",
        }
    }

    /// The error `code`, stable to match on (see the table above).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSourceMember => "no_source_member",
            Self::InvalidSubject => ErrorKind::InvalidMemberId.code(),
            Self::SubjectIsActor => ErrorKind::ActorIsSubject.code(),
            Self::CaregiverNotAllowed => "caregiver_not_allowed",
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
            Self::CaregiverNotAllowed => {
                "The signed-in user may not act as a caregiver for this member."
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
            "SourceCaregiver (or caregiver_token_endpoint) is used on a route without a \
             `{{{name}}}` path parameter; name the route's parameter in \
             `ExtractorConfig::subject_param`, or mount the endpoints with one call \
             (`source_auth::axum::token_routes`, `source_auth::actix::configure`)"
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
#[derive(Clone)]
pub struct TokenIssuer {
    signer: TokenSigner,
    config: ExtractorConfig,
    caregiver_check: Option<CaregiverCheck>,
}

/// The app's answer to "may this user act for this member?", as a boxed future.
type CaregiverCheck =
    Arc<dyn Fn(Caregiving) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// Who asks to act for whom: what [`TokenIssuer::caregiver_check`] is asked
/// before a caregiver token is signed. Each id is named by its role, so the two
/// cannot be swapped unnoticed; both are well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caregiving {
    /// The signed-in user's own member id: the token's `act`.
    pub caregiver: MemberId,
    /// The member cared for, from the request: the token's `sub`.
    pub member: MemberId,
}

impl TokenIssuer {
    /// Signs with `signer` from `config`.
    ///
    /// Refuses a TTL under 1 second or over 24 hours, or over 24 hours with the
    /// signer's `iat_backdate` ([`ErrorKind::InvalidExpiry`]), scopes a grant may not carry
    /// ([`ErrorKind::InvalidScope`]), and a subject parameter name that is not a
    /// plain name ([`ErrorKind::InvalidSubjectParam`]).
    pub fn new(signer: TokenSigner, config: ExtractorConfig) -> Result<Self, Error> {
        config.validate()?;
        // What the signer adds can still refuse every token (a TTL of 24 hours
        // with an `iat_backdate` lives longer than Source allows): sign one.
        signer.check(&config.grant(PROBE_MEMBER, None))?;
        Ok(Self {
            signer,
            config,
            caregiver_check: None,
        })
    }

    /// Asks `check` before every caregiver token is signed, by
    /// [`SourceCaregiver`], `caregiver_token_endpoint` and
    /// [`SourceMember::caregiver_for`]: when it answers `false` nothing is signed
    /// and the request gets 403 in Source's error shape, code
    /// `caregiver_not_allowed` ([`SourceRejection::CaregiverNotAllowed`]). It is
    /// asked only for well-formed ids, after the other checks.
    ///
    /// By default every caregiver is allowed, and Source checks the relationship
    /// when the token is used; this lets an app that knows its own relationships
    /// refuse first. It is async, to ask the app's database; answer `false` when
    /// that fails.
    ///
    /// ```
    /// use source_auth::{ApiKey, TokenSigner};
    /// # #[cfg(feature = "axum")]
    /// use source_auth::axum::{Caregiving, ExtractorConfig, TokenIssuer};
    /// # #[cfg(not(feature = "axum"))]
    /// # use source_auth::actix::{Caregiving, ExtractorConfig, TokenIssuer};
    ///
    /// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
    /// let issuer = TokenIssuer::new(TokenSigner::new(key), ExtractorConfig::default())?
    ///     .caregiver_check(|caring: Caregiving| async move {
    ///         // The app's own records, e.g. a database query.
    ///         caring.caregiver.as_str() == "mem_parent1" && caring.member.as_str() == "mem_patient1"
    ///     });
    /// # let _ = issuer;
    /// # Ok::<(), source_auth::Error>(())
    /// ```
    pub fn caregiver_check<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(Caregiving) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.caregiver_check = Some(Arc::new(move |caring| Box::pin(check(caring))));
        self
    }

    /// The signer.
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// The configuration.
    pub fn config(&self) -> &ExtractorConfig {
        &self.config
    }

    /// Signs a member token for the signed-in user `member`, which comes from the
    /// app's authenticated user, never from the request.
    pub(crate) fn sign_member(&self, member: Option<&str>) -> Result<MemberToken, SourceRejection> {
        let member = member.ok_or(SourceRejection::NoSourceMember)?;
        self.sign(&self.config.grant(member, None))
    }

    /// Signs a caregiver token in which the signed-in user `member` acts for
    /// `subject`, which may come from the request and is checked as untrusted
    /// input, then by the app's caregiver check.
    pub(crate) async fn sign_caregiver(
        &self,
        member: Option<&str>,
        subject: &str,
    ) -> Result<MemberToken, SourceRejection> {
        let member = member.ok_or(SourceRejection::NoSourceMember)?;
        let subject = MemberId::parse(subject).map_err(|_| SourceRejection::InvalidSubject)?;
        if subject.as_str() == member {
            return Err(SourceRejection::SubjectIsActor);
        }
        let grant = self.config.grant(subject.as_str(), Some(member));
        if let Some(check) = &self.caregiver_check {
            // The user's own id reaches the app's check only well formed.
            let caregiver = MemberId::parse(member)
                .map_err(|input| SourceRejection::signing_failed(input.error()))?;
            let caring = Caregiving {
                caregiver,
                member: subject,
            };
            if !check(caring).await {
                return Err(SourceRejection::CaregiverNotAllowed);
            }
        }
        self.sign(&grant)
    }

    /// Anything the signer refuses now is the app's data, not the request: a
    /// malformed member id (the configuration was checked when built).
    fn sign(&self, grant: &MemberGrant) -> Result<MemberToken, SourceRejection> {
        self.signer
            .sign(grant)
            .map_err(|err| SourceRejection::signing_failed(&err))
    }
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("signer", &self.signer)
            .field("config", &self.config)
            .field("caregiver_check", &self.caregiver_check.is_some())
            .finish()
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
        let token = issuer.sign_member(user.source_member_id())?;
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
    /// [`SourceRejection::InvalidSubject`] or [`SourceRejection::SubjectIsActor`],
    /// and then asked of the issuer's [`caregiver_check`](TokenIssuer::caregiver_check)
    /// ([`SourceRejection::CaregiverNotAllowed`]). Source itself checks that the
    /// two members have an active relationship.
    pub async fn caregiver_for(&self, subject: &str) -> Result<MemberToken, SourceRejection> {
        self.issuer
            .sign_caregiver(Some(&self.token.claims().sub), subject)
            .await
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
    pub(crate) async fn sign(
        user: U,
        subject: &str,
        issuer: &TokenIssuer,
    ) -> Result<Self, SourceRejection> {
        let token = issuer
            .sign_caregiver(user.source_member_id(), subject)
            .await?;
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

    #[tokio::test]
    async fn member_and_caregiver_tokens() {
        let issuer = issuer(ExtractorConfig::new().scopes(["read"]));
        let member = issuer.sign_member(Some("mem_ada")).unwrap();
        assert_eq!(member.claims().sub, "mem_ada");
        assert_eq!(member.claims().act, None);
        assert_eq!(member.claims().scopes, ["read"]);
        assert_eq!(member.claims().exp - member.claims().iat, 300);

        let caregiver = issuer
            .sign_caregiver(Some("mem_ada"), "mem_kid")
            .await
            .unwrap();
        assert_eq!(caregiver.claims().sub, "mem_kid");
        assert_eq!(caregiver.claims().act.as_deref(), Some("mem_ada"));
    }

    #[tokio::test]
    async fn rejections_in_order() {
        let issuer = issuer(ExtractorConfig::new());
        // A user without a member is refused before the subject is looked at.
        let caregiver = |member, subject| issuer.sign_caregiver(member, subject);
        assert_eq!(
            caregiver(None, "not an id").await.unwrap_err(),
            SourceRejection::NoSourceMember
        );
        assert_eq!(
            issuer.sign_member(None).unwrap_err(),
            SourceRejection::NoSourceMember
        );
        assert_eq!(
            caregiver(Some("mem_ada"), "mem_a/b").await.unwrap_err(),
            SourceRejection::InvalidSubject
        );
        assert_eq!(
            caregiver(Some("mem_ada"), "mem_ada").await.unwrap_err(),
            SourceRejection::SubjectIsActor
        );
        assert_eq!(
            issuer.sign_member(Some("user-7")).unwrap_err(),
            SourceRejection::SigningFailed
        );
        assert_eq!(
            caregiver(Some("user-7"), "mem_kid").await.unwrap_err(),
            SourceRejection::SigningFailed
        );
    }

    /// The app's check is asked with each id in its role, only once the ids are
    /// well formed, and its `false` signs nothing.
    #[tokio::test]
    async fn the_caregiver_check_is_asked_before_signing() {
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = asked.clone();
        let issuer = issuer(ExtractorConfig::new()).caregiver_check(move |caring: Caregiving| {
            record.lock().unwrap().push(caring.clone());
            async move { caring.member.as_str() == "mem_kid" }
        });
        let token = issuer.sign_caregiver(Some("mem_ada"), "mem_kid").await;
        assert_eq!(token.unwrap().claims().sub, "mem_kid");
        assert_eq!(
            issuer
                .sign_caregiver(Some("mem_ada"), "mem_other")
                .await
                .unwrap_err(),
            SourceRejection::CaregiverNotAllowed
        );
        for (member, subject) in [(Some("user-7"), "mem_kid"), (Some("mem_ada"), "bad id")] {
            assert!(issuer.sign_caregiver(member, subject).await.is_err());
        }
        let asked = asked.lock().unwrap();
        let pairs: Vec<_> = asked
            .iter()
            .map(|caring| (caring.caregiver.as_str(), caring.member.as_str()))
            .collect();
        assert_eq!(pairs, [("mem_ada", "mem_kid"), ("mem_ada", "mem_other")]);
        // Member tokens never ask it.
        assert!(issuer.sign_member(Some("mem_ada")).is_ok());
        assert_eq!(asked.len(), 2);
        assert!(format!("{issuer:?}").contains("caregiver_check: true"));
        let refused = SourceRejection::CaregiverNotAllowed;
        assert_eq!(
            (refused.status(), refused.error_type()),
            (StatusCode::FORBIDDEN, "authorization_error")
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
        for name in ["", "member id", "id}", "{id}", "a/b", "1st", "é"] {
            let err = refused(ExtractorConfig::new().subject_param(name));
            assert_eq!(err.kind(), ErrorKind::InvalidSubjectParam, "{name:?}");
        }
        for name in ["member_id", "patient", "_id", "p2"] {
            let config = ExtractorConfig::new().subject_param(name);
            assert_eq!(
                issuer(config).config().caregiver_route(),
                format!("/source-token/{{{name}}}")
            );
        }
        // The bounds themselves are accepted.
        for ttl in [24 * hour, Duration::from_secs(1)] {
            let issuer = issuer(ExtractorConfig::new().ttl(ttl));
            let token = issuer.sign_member(Some("mem_ada")).unwrap();
            assert_eq!(token.claims().exp - token.claims().iat, ttl.as_secs());
        }
        let most = TokenIssuer::new(signer(), ExtractorConfig::new().scopes(vec!["s"; 32]))
            .expect("32 scopes are allowed");
        let token = most.sign_member(Some("mem_ada")).unwrap();
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
                SourceRejection::CaregiverNotAllowed,
                "The signed-in user may not act as a caregiver for this member.",
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
            SourceRejection::CaregiverNotAllowed,
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
            .sign_member(Some("mem_ada"))
            .unwrap();
        let body: serde_json::Value = serde_json::from_str(&token_body(&token)).unwrap();
        assert_eq!(body["token"], token.as_str());
        assert_eq!(body["expires_at"], token.claims().exp);
        assert_eq!(body.as_object().unwrap().len(), 2);
    }
}
