//! reqwest integration: `reqwest::Client` as a tower service, and reqwest-middleware.
//!
//! [`SourceAuth`] implements `tower::Service<reqwest::Request>`, so
//! `ServiceBuilder::new().layer(SourceAuthLayer::…).service(reqwest::Client::new())`
//! works with no bridge crate. For reqwest-middleware 0.5, turn the same layer into
//! a [`SourceAuthMiddleware`]; per-request overrides then come from
//! `RequestBuilder::with_extension(grant_or_token)`.
//!
//! reqwest keeps a `reqwest::Request`'s extensions private, so on the tower path
//! the per-request override is read only from `http::Request`s; use
//! reqwest-middleware (or one layer per member) to vary the credential per request.
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
//! use source_auth::{ApiKey, MemberGrant, SourceAuthLayer};
//! use source_auth::reqwest::SourceAuthMiddleware;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let key = ApiKey::from_env()?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(SourceAuthMiddleware::new(SourceAuthLayer::api_key(key)))
//!     .build();
//!
//! // This request acts as a member instead of with the API key.
//! let member = client
//!     .get("https://api.sourcehealth.com/v1/members/mem_5QW8j1oKqQjNaPk4Hv3f")
//!     .with_extension(MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f"))
//!     .send()
//!     .await?;
//! println!("{}", member.status());
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Extensions;
use reqwest_middleware::{Middleware, Next};
use tower_service::Service;

use crate::authorizer::Authorizer;
use crate::error::{BoxError, Result};
use crate::layer::{ResponseFuture, SourceAuth, SourceAuthLayer};

/// Authorizes a reqwest request, reading overrides from `extensions`.
fn authorize(
    authorizer: &Authorizer,
    request: &mut reqwest::Request,
    extensions: &Extensions,
) -> Result<()> {
    let url = request.url();
    if authorizer.sends_to(
        Some(url.scheme()),
        url.host_str(),
        url.port_or_known_default(),
    ) {
        authorizer.authorize(request.headers_mut(), extensions)
    } else {
        Ok(())
    }
}

impl<S> Service<reqwest::Request> for SourceAuth<S>
where
    S: Service<reqwest::Request>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: reqwest::Request) -> Self::Future {
        match authorize(self.authorizer(), &mut request, &Extensions::new()) {
            Ok(()) => ResponseFuture::sent(self.get_mut().call(request)),
            Err(error) => ResponseFuture::refused(error),
        }
    }
}

/// reqwest-middleware 0.5 middleware that authenticates requests to Source.
///
/// Built from a [`SourceAuthLayer`], whose configuration and token cache it shares.
#[derive(Clone, Debug)]
pub struct SourceAuthMiddleware {
    authorizer: Arc<Authorizer>,
}

impl SourceAuthMiddleware {
    /// Middleware configured like `layer`.
    pub fn new(layer: SourceAuthLayer) -> Self {
        Self {
            authorizer: layer.authorizer().clone(),
        }
    }
}

impl From<SourceAuthLayer> for SourceAuthMiddleware {
    fn from(layer: SourceAuthLayer) -> Self {
        Self::new(layer)
    }
}

#[async_trait::async_trait]
impl Middleware for SourceAuthMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        authorize(&self.authorizer, &mut request, extensions)
            .map_err(reqwest_middleware::Error::middleware)?;
        next.run(request, extensions).await
    }
}
