use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::BoxError;
use http::Request;
use tower_service::Service;

use crate::authorizer::{Authorizer, Requested};

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
    pub(crate) fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }
}

impl<S, B> Service<Request<B>> for SourceAuth<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if self.authorizer.sends_to_uri(request.uri()) {
            // Lend the extensions out (a pointer swap) so the headers can be borrowed mutably.
            let extensions = std::mem::take(request.extensions_mut());
            let authorized = self.authorizer.authorize(
                request.headers_mut(),
                Requested::from_extensions(&extensions),
            );
            *request.extensions_mut() = extensions;
            if let Err(error) = authorized {
                // Not sent: the service readied by `poll_ready` stays ready for the next call.
                return ResponseFuture::refused(error);
            }
        }
        // Authorization is synchronous, so the service readied by `poll_ready` is the
        // one called, right here; no clone of the inner service is needed.
        ResponseFuture::sent(self.inner.call(request))
    }
}
