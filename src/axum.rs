//! axum extractors that turn the app's signed-in user into a Source member or
//! caregiver token, and a token endpoint for Source Elements frontends.
//!
//! The app keeps its own login: its user type implements axum's
//! `FromRequestParts` and [`SourceIdentity`]. Wrapping it gives a handler a token
//! signed by the [`TokenIssuer`] taken from the router state through
//! [`FromRef`](https://docs.rs/axum/0.8/axum/extract/trait.FromRef.html) (a signer and its [`ExtractorConfig`],
//! checked when built):
//!
//! | extractor | token |
//! |---|---|
//! | [`SourceMember<U>`] | member token, `sub` = the user's member id |
//! | [`SourceMember::caregiver_for`] | caregiver token for a subject the handler picks |
//! | [`SourceCaregiver<U>`] | caregiver token, `sub` = the `member_id` path parameter |
//! | `Option<SourceMember<U>>` | `None` when `U` finds no user or the user has no Source member; needs `U: OptionalFromRequestParts` |
//!
//! The actor of a caregiver token is always the signed-in user's own member id;
//! nothing in the request (headers, query, body, path) can set it.
//!
//! Rejections: `U`'s own rejection passes through unchanged (so a missing login is
//! the app's own 401); otherwise a [`SourceRejection`] answers 403, 400 or 500 with
//! Source's JSON error body. The TTL, the scopes and the path parameter name come
//! from the issuer's [`ExtractorConfig`]; one left in the request extensions
//! instead is a 500 with a log line that says where it belongs.
//!
//! [`token_endpoint`] and [`caregiver_token_endpoint`] answer
//! `{"token":"…","expires_at":<unix seconds>}` with `Cache-Control: no-store`.
//! [`token_routes`] mounts both in one call, as a `Router` to `merge`, with the
//! caregiver route's path parameter taken from the issuer's configuration.
//!
// Not a link: without `application` it would dangle.
//! With the `application` feature, this module's `SourceApplication` verifies the
//! application token a Source frame plugin sends (see its docs).
//!
//! ```
//! use axum::Router;
//! use axum::body::Body;
//! use axum::extract::FromRequestParts;
//! use axum::http::{Request, StatusCode, request::Parts};
//! use axum::routing::get;
//! use source_auth::axum::{
//!     ExtractorConfig, SourceMember, TokenIssuer, caregiver_token_endpoint, token_endpoint,
//! };
//! use source_auth::{ApiKey, SourceIdentity, TokenSigner, TokenVerifier};
//! use tower::ServiceExt;
//!
//! /// The app's own user; here a toy login from a header.
//! struct User {
//!     member_id: Option<String>,
//! }
//!
//! impl SourceIdentity for User {
//!     fn source_member_id(&self) -> Option<&str> {
//!         self.member_id.as_deref()
//!     }
//! }
//!
//! impl<S: Send + Sync> FromRequestParts<S> for User {
//!     type Rejection = StatusCode;
//!
//!     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
//!         match parts.headers.get("x-demo-user").map(|v| v.as_bytes()) {
//!             Some(b"ada") => Ok(User { member_id: Some("mem_ada".into()) }),
//!             _ => Err(StatusCode::UNAUTHORIZED),
//!         }
//!     }
//! }
//!
//! async fn whoami(member: SourceMember<User>) -> String {
//!     // Send `member.token` to Source, e.g. as a `SourceAuthLayer` override.
//!     member.token.claims().sub.clone()
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
//! // A real app's state is its own struct, with `FromRef` for the issuer (see the README).
//! let app = Router::new()
//!     .route("/whoami", get(whoami))
//!     .route("/source-token", get(token_endpoint::<User>))
//!     .route("/source-token/{member_id}", get(caregiver_token_endpoint::<User>))
//!     .with_state(TokenIssuer::new(TokenSigner::new(key.clone()), ExtractorConfig::default())?);
//!
//! let request = Request::get("/source-token/mem_kid").header("x-demo-user", "ada").body(Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.headers()["cache-control"], "no-store");
//!
//! let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await?;
//! let body: serde_json::Value = serde_json::from_slice(&body)?;
//! let claims = TokenVerifier::new([key])?.verify(body["token"].as_str().unwrap_or_default())?;
//! assert_eq!((claims.sub.as_str(), claims.act.as_deref()), ("mem_kid", Some("mem_ada")));
//! # Ok(())
//! # }
//! ```

use std::error::Error as StdError;
use std::fmt;

use axum::Router;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts, RawPathParams};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::{Error, InvalidInput};
use crate::error_body::{internal_error, invalid_input};
pub use crate::extract::{
    Caregiving, ExtractorConfig, SourceCaregiver, SourceMember, SourceRejection, TokenIssuer,
};
use crate::extract::{JSON, NO_STORE, TOKEN_PATH, token_body};
use crate::identity::SourceIdentity;
use crate::member::MemberToken;

impl IntoResponse for SourceRejection {
    fn into_response(self) -> Response {
        json_error(self.status(), self.body_text())
    }
}

/// A handler may return [`Error`] with `?`: it answers 500 in Source's error
/// shape with a generic message, code `internal_error`, and logs the cause at
/// ERROR. For untrusted input, return [`InvalidInput`] instead (400).
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, body) = internal_error(&self);
        json_error(status, body)
    }
}

/// 400 in Source's error shape, with the kind's [`code`](crate::ErrorKind::code):
///
/// ```
/// use axum::{Router, body::Body, extract::Path, http::Request, routing::get};
/// use source_auth::{InvalidInput, MemberId};
/// use tower::ServiceExt;
///
/// async fn chart(Path(id): Path<String>) -> Result<String, InvalidInput> {
///     let member = MemberId::parse(&id)?;
///     Ok(format!("chart of {member}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let app = Router::new().route("/charts/{id}", get(chart));
/// let response = app.oneshot(Request::get("/charts/patient1").body(Body::empty())?).await?;
/// assert_eq!(response.status(), 400);
/// let body = axum::body::to_bytes(response.into_body(), 1024).await?;
/// let body: serde_json::Value = serde_json::from_slice(&body)?;
/// assert_eq!(body["code"], "invalid_member_id");
/// # Ok(())
/// # }
/// ```
impl IntoResponse for InvalidInput {
    fn into_response(self) -> Response {
        let (status, body) = invalid_input(&self);
        json_error(status, body)
    }
}

/// A JSON error body with its status.
fn json_error(status: StatusCode, body: String) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(JSON))],
        body,
    )
        .into_response()
}

/// The rejection of [`SourceMember`] and [`SourceCaregiver`]: either the app's own
/// extractor's rejection, passed through untouched, or a [`SourceRejection`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ExtractRejection<R> {
    /// The app's user extractor rejected the request, e.g. with its own 401.
    User(R),
    /// The user was extracted, but no token could be signed for them.
    Source(SourceRejection),
}

impl<R> ExtractRejection<R> {
    /// The [`SourceRejection`], when the user was extracted but no token signed.
    pub fn source_rejection(&self) -> Option<SourceRejection> {
        match self {
            Self::Source(rejection) => Some(*rejection),
            Self::User(_) => None,
        }
    }

    /// The response status when this crate rejected; `None` for the app's own
    /// rejection, whose status only its response knows.
    pub fn status(&self) -> Option<StatusCode> {
        self.source_rejection().map(|rejection| rejection.status())
    }

    /// The response body when this crate rejected; `None` for the app's own rejection.
    pub fn body_text(&self) -> Option<String> {
        self.source_rejection()
            .map(|rejection| rejection.body_text())
    }
}

impl<R> From<SourceRejection> for ExtractRejection<R> {
    fn from(rejection: SourceRejection) -> Self {
        Self::Source(rejection)
    }
}

impl<R: IntoResponse> IntoResponse for ExtractRejection<R> {
    fn into_response(self) -> Response {
        match self {
            Self::User(rejection) => rejection.into_response(),
            Self::Source(rejection) => rejection.into_response(),
        }
    }
}

impl<R: fmt::Display> fmt::Display for ExtractRejection<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(rejection) => rejection.fmt(f),
            Self::Source(rejection) => rejection.fmt(f),
        }
    }
}

/// Transparent: displays as, and has the source of, the rejection it wraps.
impl<R: StdError> StdError for ExtractRejection<R> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::User(rejection) => rejection.source(),
            Self::Source(rejection) => rejection.source(),
        }
    }
}

/// The issuer from the state. An `ExtractorConfig` left in the request extensions
/// (where earlier versions read it) is refused, not silently ignored.
fn issuer<S>(parts: &Parts, state: &S) -> Result<TokenIssuer, SourceRejection>
where
    TokenIssuer: FromRef<S>,
{
    if parts.extensions.get::<ExtractorConfig>().is_some() {
        return Err(SourceRejection::misconfigured(
            "an ExtractorConfig is in the request extensions, where it is not read: give it to \
             `TokenIssuer::new(signer, config)` and put the issuer in the router state",
        ));
    }
    Ok(TokenIssuer::from_ref(state))
}

impl<U, S> FromRequestParts<S> for SourceMember<U>
where
    U: FromRequestParts<S> + SourceIdentity,
    TokenIssuer: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ExtractRejection<U::Rejection>;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = U::from_request_parts(parts, state)
            .await
            .map_err(ExtractRejection::User)?;
        Ok(Self::sign(user, issuer(parts, state)?)?)
    }
}

/// `Option<SourceMember<U>>`: `None` when `U` finds no user (as `Option<U>` would)
/// or the user has no Source member; `U`'s rejections and 500s still reject.
impl<U, S> OptionalFromRequestParts<S> for SourceMember<U>
where
    U: OptionalFromRequestParts<S> + SourceIdentity,
    TokenIssuer: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ExtractRejection<<U as OptionalFromRequestParts<S>>::Rejection>;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let user = <U as OptionalFromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map_err(ExtractRejection::User)?;
        let Some(user) = user else {
            return Ok(None);
        };
        match issuer(parts, state).and_then(|issuer| Self::sign(user, issuer)) {
            Ok(member) => Ok(Some(member)),
            Err(SourceRejection::NoSourceMember) => Ok(None),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// `U: Send`: the user is held while the issuer's async
/// [`caregiver_check`](TokenIssuer::caregiver_check) runs, as a handler holds
/// its arguments.
impl<U, S> FromRequestParts<S> for SourceCaregiver<U>
where
    U: FromRequestParts<S> + SourceIdentity + Send,
    TokenIssuer: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ExtractRejection<U::Rejection>;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Read before `U` so that `U` is not held across an await, but judged after
        // it: a request without a login gets the app's 401 first.
        let params = RawPathParams::from_request_parts(parts, state).await;
        let user = U::from_request_parts(parts, state)
            .await
            .map_err(ExtractRejection::User)?;
        let issuer = issuer(parts, state)?;
        Ok(Self::sign(user, subject(&params, &issuer)?, &issuer).await?)
    }
}

/// The cared-for member's id: the path parameter the issuer's configuration names.
fn subject<'p>(
    params: &'p Result<RawPathParams, RawPathParamsRejection>,
    issuer: &TokenIssuer,
) -> Result<&'p str, SourceRejection> {
    let name = issuer.config().subject_param_name();
    let subject = match params {
        Ok(params) => params
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value)),
        Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => {
            return Err(SourceRejection::InvalidSubject);
        }
        Err(_) => None,
    };
    subject.ok_or_else(|| SourceRejection::missing_subject_param(name))
}

/// The token endpoints, wired to `issuer` in one call, as a `Router` to
/// [`merge`](https://docs.rs/axum/0.8/axum/struct.Router.html#method.merge) into
/// the app's:
///
/// | route | answers like |
/// |---|---|
/// | `GET /source-token` | [`token_endpoint`] |
/// | `GET /source-token/{member_id}` | [`caregiver_token_endpoint`] |
///
/// The caregiver route's parameter is the issuer's
/// [`ExtractorConfig::subject_param`], so the route and the configuration
/// cannot disagree. `U` is the app's user extractor, run with the app's own
/// state `S`; the issuer need not be in that state (the app's other routes that
/// extract [`SourceMember`] still take it from there). Mount the routes
/// elsewhere with
/// [`Router::nest`](https://docs.rs/axum/0.8/axum/struct.Router.html#method.nest).
///
/// ```
/// use axum::{Router, body::Body, extract::FromRequestParts, http::{Request, StatusCode, request::Parts}};
/// use source_auth::axum::{ExtractorConfig, TokenIssuer, token_routes};
/// use source_auth::{ApiKey, SourceIdentity, TokenSigner};
/// use tower::ServiceExt;
///
/// struct User(&'static str);
///
/// impl SourceIdentity for User {
///     fn source_member_id(&self) -> Option<&str> {
///         Some(self.0)
///     }
/// }
///
/// impl<S: Send + Sync> FromRequestParts<S> for User {
///     type Rejection = StatusCode;
///
///     async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
///         let signed_in = parts.headers.contains_key("x-demo-user");
///         signed_in.then_some(User("mem_ada")).ok_or(StatusCode::UNAUTHORIZED)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// let config = ExtractorConfig::default().subject_param("patient");
/// let issuer = TokenIssuer::new(TokenSigner::new(key), config)?;
/// let app: Router = Router::new().merge(token_routes::<User, _>(issuer));
///
/// let request = Request::get("/source-token/mem_kid").header("x-demo-user", "ada");
/// let response = app.oneshot(request.body(Body::empty())?).await?;
/// assert_eq!(response.status(), 200);
/// # Ok(())
/// # }
/// ```
pub fn token_routes<U, S>(issuer: TokenIssuer) -> Router<S>
where
    U: FromRequestParts<S> + SourceIdentity + Send + 'static,
    S: Clone + Send + Sync + 'static,
{
    let caregiver_route = issuer.config().caregiver_route();
    let for_member = issuer.clone();
    let member = move |user: U| {
        let member = SourceMember::sign(user, for_member.clone());
        async move { member.map(|member| token_response(&member.token)) }
    };
    let caregiver = move |params: Result<RawPathParams, RawPathParamsRejection>, user: U| async move {
        let subject = subject(&params, &issuer)?;
        SourceCaregiver::sign(user, subject, &issuer)
            .await
            .map(|caregiver| token_response(&caregiver.token))
    };
    Router::new()
        .route(TOKEN_PATH, get(member))
        .route(&caregiver_route, get(caregiver))
}

/// A handler answering `{"token":"…","expires_at":<unix seconds>}` with a member
/// token for the signed-in user, for Source Elements frontends.
///
/// Mount it as `get(token_endpoint::<User>)`; it rejects like [`SourceMember`].
pub async fn token_endpoint<U>(member: SourceMember<U>) -> Response {
    token_response(&member.token)
}

/// Like [`token_endpoint`], with a caregiver token for the member in the path
/// (`/…/{member_id}` by default); it rejects like [`SourceCaregiver`].
pub async fn caregiver_token_endpoint<U>(caregiver: SourceCaregiver<U>) -> Response {
    token_response(&caregiver.token)
}

fn token_response(token: &MemberToken) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(JSON)),
            (CACHE_CONTROL, HeaderValue::from_static(NO_STORE)),
        ],
        token_body(token),
    )
        .into_response()
}

#[cfg(feature = "application")]
#[cfg_attr(docsrs, doc(cfg(feature = "application")))]
pub use application::{ApplicationRejection, SourceApplication};

#[cfg(feature = "application")]
mod application {
    use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
    use axum::http::HeaderValue;
    use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
    use axum::http::request::Parts;
    use axum::response::{IntoResponse, Response};

    /// **In axum**, it reads `Authorization: Bearer <token>` and verifies the token
    /// with the [`ApplicationVerifier`] taken from the router state through
    /// [`FromRef`](https://docs.rs/axum/0.8/axum/extract/trait.FromRef.html) (the state itself, or a field of the
    /// app's own state struct). Rejections follow RFC 6750, with Source's JSON
    /// error body and never the token: no token (or another scheme) is 401 with
    /// `WWW-Authenticate: Bearer`; a refused token 401 with
    /// `Bearer error="invalid_token"`; a malformed or repeated header 400 (see
    /// [`ApplicationRejection`]).
    ///
    /// `Option<SourceApplication>` is `None` only when the request has no
    /// `Authorization` header at all; a token that is there and wrong is still
    /// rejected.
    ///
    /// ```
    /// use axum::{Router, body::Body, http::Request, routing::get};
    /// use source_auth::application::ApplicationVerifier;
    /// use source_auth::axum::SourceApplication;
    /// use source_auth::testing::MockSource;
    /// use tower::ServiceExt;
    ///
    /// async fn whoami(plugin: SourceApplication) -> String {
    ///     plugin.claims.user
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let source = MockSource::start().await?;
    /// let verifier = ApplicationVerifier::new("app_demo1", [source.application("app_demo1")?])?;
    /// let app = Router::new().route("/whoami", get(whoami)).with_state(verifier);
    ///
    /// let token = source.application_token("app_demo1", "usr_ada1")?;
    /// let request = Request::get("/whoami").header("authorization", format!("Bearer {token}"));
    /// let response = app.clone().oneshot(request.body(Body::empty())?).await?;
    /// let body = axum::body::to_bytes(response.into_body(), 1024).await?;
    /// assert_eq!(body, "usr_ada1");
    ///
    /// let response = app.oneshot(Request::get("/whoami").body(Body::empty())?).await?;
    /// assert_eq!(response.status(), 401);
    /// assert_eq!(response.headers()["www-authenticate"], "Bearer");
    /// # Ok(())
    /// # }
    /// ```
    pub use crate::application::extract::SourceApplication;

    use crate::application::ApplicationVerifier;
    pub use crate::application::extract::ApplicationRejection;

    impl IntoResponse for ApplicationRejection {
        fn into_response(self) -> Response {
            let mut response = super::json_error(self.status(), self.body_text());
            if let Some(challenge) = self.www_authenticate() {
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            response
        }
    }

    impl<S> FromRequestParts<S> for SourceApplication
    where
        ApplicationVerifier: FromRef<S>,
        S: Send + Sync,
    {
        type Rejection = ApplicationRejection;

        async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
            let values = parts.headers.get_all(AUTHORIZATION).iter();
            Self::authenticate(
                values.map(HeaderValue::as_bytes),
                &ApplicationVerifier::from_ref(state),
            )
        }
    }

    /// `None` only without an `Authorization` header; any token present is checked.
    impl<S> OptionalFromRequestParts<S> for SourceApplication
    where
        ApplicationVerifier: FromRef<S>,
        S: Send + Sync,
    {
        type Rejection = ApplicationRejection;

        async fn from_request_parts(
            parts: &mut Parts,
            state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            if !parts.headers.contains_key(AUTHORIZATION) {
                return Ok(None);
            }
            <Self as FromRequestParts<S>>::from_request_parts(parts, state)
                .await
                .map(Some)
        }
    }
}
