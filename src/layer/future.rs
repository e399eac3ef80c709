use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::BoxError;
use pin_project_lite::pin_project;

use crate::authorizer::{SourceResponse, Watch};
use crate::error::Error;

pin_project! {
    /// The response future of [`SourceAuth`](super::SourceAuth): the inner
    /// service's future, or the error that kept the request from being sent.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        // Beside the state, not in it, so the inner future is built in place.
        watch: Watch,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Sent { #[pin] future: F },
        Refused { error: Option<Error> },
    }
}

impl<F> ResponseFuture<F> {
    /// The future of a request sent, whose response is read as `watch` says.
    #[inline]
    pub(crate) fn sent(future: F, watch: Watch) -> Self {
        Self {
            state: State::Sent { future },
            watch,
        }
    }

    #[inline]
    pub(crate) fn refused(error: Error) -> Self {
        Self {
            state: State::Refused { error: Some(error) },
            watch: Watch::Nothing,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    T: SourceResponse,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            // Most responses are not read: their future's output passes as it is.
            StateProj::Sent { future } if matches!(this.watch, Watch::Nothing) => {
                future.poll(cx).map_err(Into::into)
            }
            StateProj::Sent { future } => {
                // Read in place: the response is not moved on its way out.
                let mut polled = future.poll(cx);
                if let Poll::Ready(Ok(response)) = &mut polled {
                    this.watch.read(response);
                }
                polled.map_err(Into::into)
            }
            StateProj::Refused { error } => Poll::Ready(Err(error
                .take()
                .expect("`ResponseFuture` polled after completion")
                .into())),
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Sent { .. } => "sent",
            State::Refused { .. } => "refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
