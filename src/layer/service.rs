use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::BoxError;
use http::{Request, Response};
use tower_service::Service;

use crate::authorizer::{Authorizer, Requested};
use crate::origin::Target;

use super::ResponseFuture;

/// The service made by [`SourceAuthLayer`](super::SourceAuthLayer).
#[derive(Clone, Debug)]
pub struct SourceAuth<S> {
    inner: S,
    authorizer: Arc<Authorizer>,
}

impl<S> SourceAuth<S> {
    pub(crate) fn new(inner: S, authorizer: Arc<Authorizer>) -> Self {
        Self { inner, authorizer }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    #[cfg(feature = "reqwest")]
    pub(crate) fn authorizer(&self) -> &Arc<Authorizer> {
        &self.authorizer
    }
}

/// The inner service answers `http::Response`s, which the layer reads: `Date`
/// from Source, to sign on Source's clock, and 401, to retire a refused token.
impl<S, B, ResBody> Service<Request<B>> for SourceAuth<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // In parts, so the headers can be borrowed mutably beside the URI and the
        // extensions.
        let (mut parts, body) = request.into_parts();
        let destination = self.authorizer.origin().destination_of_uri(&parts.uri);
        let authorized = self.authorizer.authorize(
            destination,
            || Target::of_uri(&parts.uri),
            &mut parts.headers,
            Requested::from_extensions(&parts.extensions),
        );
        let watch = match authorized {
            Ok(watch) => watch,
            // Not sent: the service readied by `poll_ready` stays ready for the next call.
            Err(error) => return ResponseFuture::refused(error),
        };
        let request = Request::from_parts(parts, body);
        // Authorization is synchronous, so the service readied by `poll_ready` is the
        // one called, right here; no clone of the inner service is needed.
        ResponseFuture::sent(self.inner.call(request), watch)
    }
}
