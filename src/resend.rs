//! Re-sending once a request Source refused because of the clock.
//!
//! A 401 from Source answers a request Source did not process. When it answers a
//! member token the layer minted, and its own `Date` proves the token was outside
//! Source's window (`exp ≤ Date`, or `iat ≥ Date + 1 s`, since `Date` is
//! truncated to the second), the refusal was the clock's, not the credential's:
//! the 401 has already taught the layer Source's clock (every such 401 is a
//! sample), so the same request sent again gets a token minted on the new
//! estimate. The layer marks such a response with [`SkewRefused`] in its
//! extensions.
//!
//! Nothing else is ever re-sent, and nothing more than once:
//!
//! - **reqwest-middleware**: the layer re-sends by itself, once, when the
//!   request's body can be cloned (`reqwest::Request::try_clone`); otherwise the
//!   caller gets the 401.
//! - **tower** (hyper-util's client, `reqwest::Client` as a tower service):
//!   the layer cannot re-send from inside a service, so put
//!   `tower::retry::RetryLayer::new(ResendOnSkew::new(…))` *outside*
//!   `SourceAuthLayer` (feature `retry`). The re-sent request passes the layer
//!   again and gets a new token.
//!
//! A request is kept for a re-send only while one can be needed: before the
//! first sample of Source's clock, after a 401 until the next good sample, and
//! after the local clock jumped. Otherwise `ResendOnSkew` clones nothing.
//!
//! ```
//! # #[cfg(feature = "retry")] {
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use source_auth::{ApiKey, SourceAuthLayer, TokenSigner};
//! use source_auth::resend::ResendOnSkew;
//! use tower::ServiceBuilder;
//! use tower::retry::RetryLayer;
//!
//! # fn main() -> Result<(), source_auth::Error> {
//! let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
//! let layer = SourceAuthLayer::per_request(TokenSigner::new(key));
//! let client = ServiceBuilder::new()
//!     // Outside the layer, so that the re-sent request gets a new token.
//!     .layer(RetryLayer::new(ResendOnSkew::new(layer.source_clock().clone())))
//!     .layer(layer)
//!     .service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new(())) });
//! # let _ = client;
//! # Ok(())
//! # }
//! # }
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "retry")]
pub use policy::ResendOnSkew;

/// In a response's extensions: Source answered 401 to a member token the layer
/// minted, and the 401's own `Date` proves the token was outside Source's
/// window. The same request, sent again through the layer, gets a token minted
/// on Source's clock as the 401 taught it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkewRefused;

/// Whether a token with `iat` and `exp` was outside Source's window at a time
/// Source dated `date`: `date` is truncated to the second, so Source's clock read
/// between it and a second later.
pub(crate) fn outside_window(iat: u64, exp: u64, date: SystemTime) -> bool {
    let Ok(date) = date.duration_since(UNIX_EPOCH) else {
        return false;
    };
    let date = date.as_secs();
    exp <= date || iat > date
}

#[cfg(feature = "retry")]
mod policy {
    use std::future::{Ready, ready};

    use super::SkewRefused;
    use crate::skew::SourceClock;

    /// A `tower::retry::Policy` that re-sends, once, a request whose response
    /// carries [`SkewRefused`], and nothing else. See the [module docs](super).
    ///
    /// It clones a request only while the estimate it watches (the layer's
    /// [`source_clock`](crate::SourceAuthLayer::source_clock)) may yet see one
    /// refused for the clock; an `http::Request` needs a body that is `Clone`,
    /// and a `reqwest::Request` one that `try_clone` can copy (not a stream).
    #[derive(Debug, Clone)]
    #[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
    pub struct ResendOnSkew {
        source_clock: SourceClock,
        resent: bool,
    }

    impl ResendOnSkew {
        /// A policy for requests through the layer whose estimate is `source_clock`.
        pub fn new(source_clock: SourceClock) -> Self {
            Self {
                source_clock,
                resent: false,
            }
        }

        /// Whether to re-send after a response with these extensions: once, and
        /// only after [`SkewRefused`].
        fn resend(&mut self, extensions: &http::Extensions) -> Option<Ready<()>> {
            if self.resent || extensions.get::<SkewRefused>().is_none() {
                return None;
            }
            self.resent = true;
            Some(ready(()))
        }

        /// Whether a request sent now is worth keeping for a re-send.
        fn keeps(&self) -> bool {
            !self.resent && self.source_clock.may_refuse_for_skew()
        }
    }

    impl<B: Clone, ResBody, E> tower::retry::Policy<http::Request<B>, http::Response<ResBody>, E>
        for ResendOnSkew
    {
        type Future = Ready<()>;

        fn retry(
            &mut self,
            _: &mut http::Request<B>,
            result: &mut Result<http::Response<ResBody>, E>,
        ) -> Option<Self::Future> {
            self.resend(result.as_ref().ok()?.extensions())
        }

        fn clone_request(&mut self, request: &http::Request<B>) -> Option<http::Request<B>> {
            self.keeps().then(|| request.clone())
        }
    }

    #[cfg(feature = "reqwest")]
    impl<E> tower::retry::Policy<reqwest::Request, reqwest::Response, E> for ResendOnSkew {
        type Future = Ready<()>;

        fn retry(
            &mut self,
            _: &mut reqwest::Request,
            result: &mut Result<reqwest::Response, E>,
        ) -> Option<Self::Future> {
            self.resend(result.as_ref().ok()?.extensions())
        }

        fn clone_request(&mut self, request: &reqwest::Request) -> Option<reqwest::Request> {
            self.keeps().then(|| request.try_clone()).flatten()
        }
    }
}

#[cfg(all(test, feature = "retry"))]
mod tests {
    use std::time::{Duration, Instant, UNIX_EPOCH};

    use http::{Request, Response};
    use tower::retry::Policy;

    use super::*;
    use crate::skew::{Sample, SourceClock};

    type Attempt = Result<Response<()>, ()>;

    fn keep(policy: &mut ResendOnSkew, request: &Request<String>) -> bool {
        Policy::<Request<String>, Response<()>, ()>::clone_request(policy, request).is_some()
    }

    fn resend(policy: &mut ResendOnSkew, mut attempt: Attempt) -> bool {
        let mut request = Request::new(String::new());
        policy.retry(&mut request, &mut attempt).is_some()
    }

    fn refused(skew: bool) -> Attempt {
        let mut response = Response::new(());
        if skew {
            response.extensions_mut().insert(SkewRefused);
        }
        Ok(response)
    }

    /// A request is kept only while a refusal for the clock is possible, and
    /// re-sent once, only after `SkewRefused`.
    #[test]
    fn a_request_is_kept_only_while_needed_and_re_sent_once() {
        let clock = SourceClock::new();
        let mut policy = ResendOnSkew::new(clock.clone());
        let request = Request::new(String::from("body"));
        // No sample yet: kept.
        assert!(keep(&mut policy, &request));
        // A 401 that is not the clock's: not re-sent.
        assert!(!resend(&mut policy, refused(false)));
        assert!(!resend(&mut policy, Err(())));
        // The clock's: re-sent, once.
        assert!(resend(&mut policy, refused(true)));
        assert!(!resend(&mut policy, refused(true)));
        assert!(!keep(&mut policy, &request), "no second re-send");
        // Once a good sample is taken, a fresh policy keeps nothing.
        let now = Instant::now();
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let sample = Sample {
            sent: now,
            received: now,
            received_wall: at,
            date: at,
        };
        assert!(clock.learn(Some(&sample), false));
        assert!(!keep(&mut ResendOnSkew::new(clock), &request));
    }

    /// `exp` at or before `Date`, or `iat` after it, is outside the window.
    #[test]
    fn the_window_is_judged_on_dates_whole_second() {
        let date = UNIX_EPOCH + Duration::from_secs(1000);
        assert!(outside_window(990, 1000, date));
        assert!(!outside_window(990, 1001, date));
        assert!(!outside_window(1000, 1300, date));
        assert!(outside_window(1001, 1300, date));
        assert!(!outside_window(
            1001,
            1300,
            UNIX_EPOCH - Duration::from_secs(1)
        ));
    }
}
