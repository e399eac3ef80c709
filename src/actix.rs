//! actix-web extractors that turn the app's signed-in user into a Source member or
//! caregiver token, and a token endpoint for Source Elements frontends.
//!
//! The same extractors as `source_auth::axum`, through actix-web's `FromRequest`.
//! The app's user type implements `FromRequest` and [`SourceIdentity`]; the
//! [`TokenIssuer`] (a [`TokenSigner`] and its [`ExtractorConfig`], checked when
//! built) comes from the app data (`.app_data(issuer)` or
//! `.app_data(web::Data::new(issuer))`). A bare `TokenSigner` or
//! `ExtractorConfig` in the app data is not read: it is a 500 with a log line
//! that says what to register instead.
//!
//! | extractor | token |
//! |---|---|
//! | [`SourceMember<U>`] | member token, `sub` = the user's member id |
//! | [`SourceMember::caregiver_for`] | caregiver token for a subject the handler picks |
//! | [`SourceCaregiver<U>`] | caregiver token, `sub` = the `member_id` path parameter |
//!
//! The actor of a caregiver token is always the signed-in user's own member id;
//! nothing in the request can set it.
//!
//! Errors: `U`'s own error passes through unchanged (so a missing login is the
//! app's own 401); otherwise a [`SourceRejection`], through `ResponseError`,
//! answers 403, 400 or 500 with Source's JSON error body. A missing issuer is a
//! 500 with an error log line. actix-web's `Option<SourceMember<U>>` is `None` on
//! any of these errors, including the 500s.
//!
//! [`token_endpoint`] and [`caregiver_token_endpoint`] answer
//! `{"token":"…","expires_at":<unix seconds>}` with `Cache-Control: no-store`.
//! [`configure`] mounts both and puts the issuer in the app data in one call, for
//! `App::configure`, with the caregiver route's path parameter taken from the
//! issuer's configuration.
//!
// Not a link: without `application` it would dangle.
//! With the `application` feature, this module's `SourceApplication` verifies the
//! application token a Source frame plugin sends (see its docs).
//!
//! ```
//! use std::future::{Ready, ready};
//!
//! use actix_web::{App, FromRequest, HttpRequest, dev::Payload, error::ErrorUnauthorized, test, web};
//! use source_auth::actix::{
//!     ExtractorConfig, SourceMember, TokenIssuer, caregiver_token_endpoint, token_endpoint,
//! };
//! use source_auth::{ApiKey, SourceIdentity, TokenSigner, TokenVerifier};
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
//! impl FromRequest for User {
//!     type Error = actix_web::Error;
//!     type Future = Ready<Result<Self, Self::Error>>;
//!
//!     fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
//!         ready(match req.headers().get("x-demo-user").map(|v| v.as_bytes()) {
//!             Some(b"ada") => Ok(User { member_id: Some("mem_ada".into()) }),
//!             _ => Err(ErrorUnauthorized("sign in first")),
//!         })
//!     }
//! }
//!
//! async fn whoami(member: SourceMember<User>) -> String {
//!     // Send `member.token` to Source, e.g. as a `SourceAuthLayer` override.
//!     member.token.claims().sub.clone()
//! }
//!
//! # #[actix_web::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
//! let issuer = TokenIssuer::new(TokenSigner::new(key.clone()), ExtractorConfig::default())?;
//! let app = test::init_service(
//!     App::new()
//!         .app_data(issuer)
//!         .route("/whoami", web::get().to(whoami))
//!         .route("/source-token", web::get().to(token_endpoint::<User>))
//!         .route("/source-token/{member_id}", web::get().to(caregiver_token_endpoint::<User>)),
//! )
//! .await;
//!
//! let request = test::TestRequest::get()
//!     .uri("/source-token/mem_kid")
//!     .insert_header(("x-demo-user", "ada"))
//!     .to_request();
//! let response = test::call_service(&app, request).await;
//! assert_eq!(response.headers().get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]));
//!
//! let body: serde_json::Value = test::read_body_json(response).await;
//! let claims = TokenVerifier::new([key])?.verify(body["token"].as_str().unwrap_or_default())?;
//! assert_eq!((claims.sub.as_str(), claims.act.as_deref()), ("mem_kid", Some("mem_ada")));
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};

use crate::error::{Error, InvalidInput};
use crate::error_body::{internal_error, invalid_input};
pub use crate::extract::{
    Caregiving, ExtractorConfig, SourceCaregiver, SourceMember, SourceRejection, TokenIssuer,
};
use crate::extract::{JSON, NO_STORE, TOKEN_PATH, token_body};
use crate::identity::SourceIdentity;
use crate::member::{MemberToken, TokenSigner};

/// The future of an extractor that awaits the app's own user extractor first.
type Extraction<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

impl ResponseError for SourceRejection {
    fn status_code(&self) -> StatusCode {
        actix_status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        json_error(self.status(), self.body_text())
    }
}

/// A handler may return [`Error`] with `?`: it answers 500 in Source's error
/// shape with a generic message, code `internal_error`, and logs the cause at
/// ERROR. For untrusted input, return [`InvalidInput`] instead (400).
impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        let (status, body) = internal_error(self);
        json_error(status, body)
    }
}

/// 400 in Source's error shape, with the kind's [`code`](crate::ErrorKind::code):
///
/// ```
/// use actix_web::{App, test, web};
/// use source_auth::{InvalidInput, MemberId};
///
/// async fn chart(id: web::Path<String>) -> Result<String, InvalidInput> {
///     let member = MemberId::parse(&id)?;
///     Ok(format!("chart of {member}"))
/// }
///
/// # #[actix_web::main]
/// # async fn main() {
/// let app = test::init_service(App::new().route("/charts/{id}", web::get().to(chart))).await;
/// let request = test::TestRequest::get().uri("/charts/patient1").to_request();
/// let response = test::call_service(&app, request).await;
/// assert_eq!(response.status(), 400);
/// let body: serde_json::Value = test::read_body_json(response).await;
/// assert_eq!(body["code"], "invalid_member_id");
/// # }
/// ```
impl ResponseError for InvalidInput {
    fn status_code(&self) -> StatusCode {
        actix_status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        let (status, body) = invalid_input(self);
        json_error(status, body)
    }
}

/// actix-web has its own `StatusCode` type; every status used here exists in both.
fn actix_status(status: http::StatusCode) -> StatusCode {
    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON error body with its status.
fn json_error(status: http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(actix_status(status))
        .content_type(JSON)
        .body(body)
}

/// `T` from the app data, registered either bare or as `web::Data<T>`.
fn app_data<T: Clone + 'static>(req: &HttpRequest) -> Option<T> {
    req.app_data::<T>()
        .or_else(|| req.app_data::<web::Data<T>>().map(|data| data.get_ref()))
        .cloned()
}

/// The issuer from the app data. A bare `TokenSigner` or `ExtractorConfig` there
/// (where earlier versions read them) is refused with a log line that says what
/// to register instead, never silently ignored.
fn issuer(req: &HttpRequest) -> Result<TokenIssuer, SourceRejection> {
    if app_data::<ExtractorConfig>(req).is_some() {
        return Err(SourceRejection::misconfigured(
            "an ExtractorConfig is in the actix-web app data, where it is not read: give it to \
             `TokenIssuer::new(signer, config)` and add `.app_data(issuer)` to the App",
        ));
    }
    app_data::<TokenIssuer>(req).ok_or_else(|| {
        SourceRejection::misconfigured(if app_data::<TokenSigner>(req).is_some() {
            "the actix-web app data has a TokenSigner but no TokenIssuer: add \
             `.app_data(TokenIssuer::new(signer, ExtractorConfig::default())?)` to the App"
        } else {
            "no TokenIssuer in the actix-web app data: add \
             `.app_data(TokenIssuer::new(signer, ExtractorConfig::default())?)` to the App"
        })
    })
}

impl<U> FromRequest for SourceMember<U>
where
    U: FromRequest + SourceIdentity + 'static,
{
    type Error = actix_web::Error;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = U::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            // The app's error passes through unchanged.
            let user = user.await.map_err(Into::into)?;
            Ok(Self::sign(user, issuer(&req)?)?)
        })
    }
}

impl<U> FromRequest for SourceCaregiver<U>
where
    U: FromRequest + SourceIdentity + 'static,
{
    type Error = actix_web::Error;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = U::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let user = user.await.map_err(Into::into)?;
            let issuer = issuer(&req)?;
            let name = issuer.config().subject_param_name();
            let subject = req
                .match_info()
                .get(name)
                .ok_or_else(|| SourceRejection::missing_subject_param(name))?;
            Ok(Self::sign(user, subject, &issuer).await?)
        })
    }
}

/// The issuer and the token endpoints, wired in one call for
/// [`App::configure`](actix_web::App::configure):
///
/// | route | answers like |
/// |---|---|
/// | `GET /source-token` | [`token_endpoint`] |
/// | `GET /source-token/{member_id}` | [`caregiver_token_endpoint`] |
///
/// The caregiver route's parameter is the issuer's
/// [`ExtractorConfig::subject_param`], so the route and the configuration
/// cannot disagree. The issuer goes into the app data of the whole `App`, so
/// [`SourceMember`] and [`SourceCaregiver`] on the app's other routes find it
/// too. Mount the endpoints elsewhere with
/// `web::scope("/api").configure(configure::<User>(issuer))`.
///
/// ```
/// use std::future::{Ready, ready};
///
/// use actix_web::{App, FromRequest, HttpRequest, dev::Payload, test, web};
/// use source_auth::actix::{ExtractorConfig, SourceMember, TokenIssuer, configure};
/// use source_auth::{ApiKey, SourceIdentity, TokenSigner};
///
/// struct User(&'static str);
///
/// impl SourceIdentity for User {
///     fn source_member_id(&self) -> Option<&str> {
///         Some(self.0)
///     }
/// }
///
/// impl FromRequest for User {
///     type Error = actix_web::Error;
///     type Future = Ready<Result<Self, Self::Error>>;
///
///     fn from_request(_: &HttpRequest, _: &mut Payload) -> Self::Future {
///         ready(Ok(User("mem_ada")))
///     }
/// }
///
/// async fn whoami(member: SourceMember<User>) -> String {
///     member.token.claims().sub.clone()
/// }
///
/// # #[actix_web::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// let issuer = TokenIssuer::new(TokenSigner::new(key), ExtractorConfig::default())?;
/// let app = test::init_service(
///     App::new()
///         .configure(configure::<User>(issuer))
///         .route("/whoami", web::get().to(whoami)),
/// )
/// .await;
///
/// let request = test::TestRequest::get().uri("/source-token/mem_kid").to_request();
/// assert_eq!(test::call_service(&app, request).await.status(), 200);
/// let request = test::TestRequest::get().uri("/whoami").to_request();
/// assert_eq!(test::call_and_read_body(&app, request).await, "mem_ada");
/// # Ok(())
/// # }
/// ```
pub fn configure<U>(issuer: TokenIssuer) -> impl FnOnce(&mut web::ServiceConfig)
where
    U: FromRequest + SourceIdentity + 'static,
{
    move |config| {
        let caregiver_route = issuer.config().caregiver_route();
        config
            .app_data(issuer)
            .route(TOKEN_PATH, web::get().to(token_endpoint::<U>))
            .route(
                &caregiver_route,
                web::get().to(caregiver_token_endpoint::<U>),
            );
    }
}

/// A handler answering `{"token":"…","expires_at":<unix seconds>}` with a member
/// token for the signed-in user, for Source Elements frontends.
///
/// Mount it as `web::get().to(token_endpoint::<User>)`; it rejects like [`SourceMember`].
pub async fn token_endpoint<U>(member: SourceMember<U>) -> HttpResponse {
    token_response(&member.token)
}

/// Like [`token_endpoint`], with a caregiver token for the member in the path
/// (`/…/{member_id}` by default); it rejects like [`SourceCaregiver`].
pub async fn caregiver_token_endpoint<U>(caregiver: SourceCaregiver<U>) -> HttpResponse {
    token_response(&caregiver.token)
}

fn token_response(token: &MemberToken) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(JSON)
        .insert_header((CACHE_CONTROL, NO_STORE))
        .body(token_body(token))
}

#[cfg(feature = "application")]
#[cfg_attr(docsrs, doc(cfg(feature = "application")))]
pub use application::{ApplicationRejection, SourceApplication};

#[cfg(feature = "application")]
mod application {
    use std::future::{Ready, ready};

    use actix_web::dev::Payload;
    use actix_web::http::StatusCode;
    use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
    use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};

    /// **In actix-web**, it reads `Authorization: Bearer <token>` and verifies the
    /// token with the [`ApplicationVerifier`] from the app data (`.app_data(verifier)` or
    /// `.app_data(web::Data::new(verifier))`). The rules and responses are those of
    /// `source_auth::axum::SourceApplication` (RFC 6750, Source's JSON error body,
    /// never the token; see [`ApplicationRejection`]); without a verifier in the
    /// app data every request gets a 500 and an error log line.
    ///
    /// Do not use actix-web's `Option<SourceApplication>` to make the token
    /// optional: actix-web turns *every* error into `None`, so a forged, expired
    /// or misconfigured token would look the same as no token. Read the
    /// `Authorization` header yourself and extract `SourceApplication` only when
    /// it is there.
    ///
    /// ```
    /// use actix_web::{App, test, web};
    /// use source_auth::actix::SourceApplication;
    /// use source_auth::application::ApplicationVerifier;
    /// use source_auth::testing::MockSource;
    ///
    /// async fn whoami(plugin: SourceApplication) -> String {
    ///     plugin.claims.user
    /// }
    ///
    /// # #[actix_web::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let source = MockSource::start().await?;
    /// let verifier = ApplicationVerifier::new("app_demo1", [source.application("app_demo1")?])?;
    /// let app = test::init_service(
    ///     App::new().app_data(verifier).route("/whoami", web::get().to(whoami)),
    /// )
    /// .await;
    ///
    /// let token = source.application_token("app_demo1", "usr_ada1")?;
    /// let request = test::TestRequest::get()
    ///     .uri("/whoami")
    ///     .insert_header(("authorization", format!("Bearer {token}")))
    ///     .to_request();
    /// assert_eq!(test::call_and_read_body(&app, request).await, "usr_ada1");
    /// # Ok(())
    /// # }
    /// ```
    pub use crate::application::extract::SourceApplication;

    use super::app_data;
    use crate::application::ApplicationVerifier;
    pub use crate::application::extract::ApplicationRejection;
    use crate::extract::JSON;

    impl ResponseError for ApplicationRejection {
        fn status_code(&self) -> StatusCode {
            super::actix_status(self.status())
        }

        fn error_response(&self) -> HttpResponse {
            let mut response = HttpResponse::build(self.status_code());
            response.content_type(JSON);
            if let Some(challenge) = self.www_authenticate() {
                response.insert_header((WWW_AUTHENTICATE, challenge));
            }
            response.body(self.body_text())
        }
    }

    impl FromRequest for SourceApplication {
        type Error = actix_web::Error;
        type Future = Ready<Result<Self, Self::Error>>;

        fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
            let Some(verifier) = app_data::<ApplicationVerifier>(req) else {
                tracing::error!(
                    "cannot verify a Source application token: no ApplicationVerifier in the \
                     actix-web app data; add `.app_data(verifier)` to the App"
                );
                return ready(Err(ApplicationRejection::Misconfigured.into()));
            };
            let values = req.headers().get_all(AUTHORIZATION);
            ready(
                Self::authenticate(values.map(|value| value.as_bytes()), &verifier)
                    .map_err(Into::into),
            )
        }
    }
}
