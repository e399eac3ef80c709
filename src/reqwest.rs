//! reqwest integration: `reqwest::Client` as a tower service, and reqwest-middleware.
//!
//! [`SourceAuth`] implements `tower::Service<reqwest::Request>`, so
//! `ServiceBuilder::new().layer(SourceAuthLayer::new(…)).service(reqwest::Client::new())`
//! works with no bridge crate. For reqwest-middleware 0.5 the layer itself is the
//! middleware, `ClientBuilder::new(client).with(SourceAuthLayer::new(…))`;
//! per-request overrides then also come from `RequestBuilder::with_extension`.
//!
//! A `MemberGrant` or `MemberToken` is a request's own credential on both paths:
//! in the extensions of an `http::Request` converted with
//! `reqwest::Request::try_from` (reqwest carries them along), and, with
//! reqwest-middleware, also through `RequestBuilder::with_extension`. The
//! precedence rule is the layer's (see [`crate::layer`]): a request that carries
//! two different ones, or one beside its own `Authorization` (which reqwest's
//! `RequestBuilder` also makes from user info in the URL), is refused, and so is
//! one for another origin; never sent with either or with the layer's default.
//!
//! # Errors
//!
//! The middleware reports an authorization failure as
//! `reqwest_middleware::Error::Middleware`, whose inner error downcasts to
//! [`source_auth::Error`](crate::Error).
//!
//! # Example
//!
//! ```no_run
//! use source_auth::{ApiKey, MemberGrant, SourceAuthLayer, TokenSigner};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let signer = TokenSigner::new(ApiKey::from_env()?);
//! // Requests act as members: each carries its own credential, and one that
//! // forgot it is refused rather than sent with the API key.
//! let layer = SourceAuthLayer::per_request(signer);
//! let url = format!("{}/v1/members/mem_5QW8j1oKqQjNaPk4Hv3f", layer.origin());
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(layer)
//!     .build();
//!
//! let member = client
//!     .get(url)
//!     .with_extension(MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f"))
//!     .send()
//!     .await?;
//! println!("{}", member.status());
//! # Ok(())
//! # }
//! ```

use std::sync::LazyLock;
use std::task::{Context, Poll};

use http::Extensions;
use reqwest::Url;
use reqwest_middleware::{Middleware, Next};
use tower_service::Service;

use crate::authorizer::{Authorizer, Requested, Watch};
use crate::error::{BoxError, Result};
use crate::layer::{ResponseFuture, SourceAuth, SourceAuthLayer};
use crate::origin::Target;
use crate::resend::SkewRefused;

/// Stands in for a request's URL while it is converted, so that neither
/// conversion parses the real one.
static PLACEHOLDER_URL: LazyLock<Url> =
    LazyLock::new(|| Url::parse("http://placeholder.invalid/").expect("a constant, valid URL"));

/// Applies the layer's precedence rule to a reqwest request, with the credential
/// it asked for in its own extensions or in reqwest-middleware's
/// `middleware_extensions`; a request to another origin that asked for none is
/// returned untouched.
///
/// reqwest keeps a request's extensions private, but its conversions to and from
/// `http::Request` carry them, so a request converted from an `http::Request` with
/// a `MemberGrant` still has it. Reading them costs two conversions, made cheap by
/// setting the URL and body aside first (BENCHMARKS.md has the figure).
fn authorize(
    authorizer: &Authorizer,
    mut request: reqwest::Request,
    middleware_extensions: Option<&Extensions>,
) -> Result<(reqwest::Request, Watch)> {
    let url = std::mem::replace(request.url_mut(), PLACEHOLDER_URL.clone());
    let target = Target {
        scheme: Some(url.scheme()),
        host: url.host_str(),
        port: url.port_or_known_default(),
    };
    let userinfo = !url.username().is_empty() || url.password().is_some();
    let destination = authorizer.origin().destination(target, userinfo);
    // Set aside too: the conversion would turn no body into an empty one.
    let body = request.body_mut().take();
    let mut converted = http::Request::try_from(request)
        .expect("a request with a valid placeholder URL converts to http::Request");
    let extensions = std::mem::take(converted.extensions_mut());
    let requested = match middleware_extensions {
        Some(middleware_extensions) => Requested::from_either(&extensions, middleware_extensions),
        None => Requested::from_extensions(&extensions),
    };
    let watch = authorizer.authorize(destination, || target, converted.headers_mut(), requested)?;
    *converted.extensions_mut() = extensions;
    let mut request = reqwest::Request::try_from(converted)
        .expect("an http::Request with a valid placeholder URL converts back");
    *request.url_mut() = url;
    *request.body_mut() = body;
    Ok((request, watch))
}

/// The inner service answers `reqwest::Response`s, which the layer reads as on
/// the tower path: `Date` from Source, and 401.
impl<S> Service<reqwest::Request> for SourceAuth<S>
where
    S: Service<reqwest::Request, Response = reqwest::Response>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: reqwest::Request) -> Self::Future {
        match authorize(self.authorizer(), request, None) {
            Ok((request, watch)) => ResponseFuture::sent(self.get_mut().call(request), watch),
            Err(error) => ResponseFuture::refused(error),
        }
    }
}

/// The layer is also reqwest-middleware 0.5 middleware, sharing its configuration
/// and token cache: `ClientBuilder::new(client).with(layer)`.
#[async_trait::async_trait]
impl Middleware for SourceAuthLayer {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let authorizer = self.authorizer();
        // Kept, before the layer adds its credential, only while Source may yet
        // refuse a token for the clock (crate::resend).
        let spare = if authorizer.source_clock().may_refuse_for_skew() {
            request.try_clone()
        } else {
            None
        };
        let response = send(authorizer, request, extensions, next.clone()).await?;
        match spare {
            // Once: the 401 taught the estimate, so the re-sent request's token
            // is minted on Source's clock.
            Some(spare) if response.extensions().get::<SkewRefused>().is_some() => {
                send(authorizer, spare, extensions, next).await
            }
            _ => Ok(response),
        }
    }
}

/// Authorizes `request`, sends it on with `next`, and reads its response.
async fn send(
    authorizer: &Authorizer,
    request: reqwest::Request,
    extensions: &mut Extensions,
    next: Next<'_>,
) -> reqwest_middleware::Result<reqwest::Response> {
    let (request, watch) = authorize(authorizer, request, Some(extensions))
        .map_err(reqwest_middleware::Error::middleware)?;
    let mut response = next.run(request, extensions).await?;
    watch.read(&mut response);
    Ok(response)
}
