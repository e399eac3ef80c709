//! What the layer reads of Source's responses: `Date`, to learn Source's clock,
//! and 401, to stop sending a token Source refused.

use std::time::SystemTime;

use http::header::{AGE, DATE};
use http::{HeaderMap, StatusCode};

use crate::origin::{Origin, Target};
use crate::skew;

use super::minted::mark_refused;

/// A response, as the layer reads it on every path.
pub(crate) trait SourceResponse {
    fn status(&self) -> StatusCode;
    fn headers(&self) -> &HeaderMap;
    /// Where the response came from, when a redirect may have moved it off the
    /// request's URI: `None` when it came from the URI the request was sent to.
    fn final_target(&self) -> Option<Target<'_>>;
}

impl<B> SourceResponse for http::Response<B> {
    fn status(&self) -> StatusCode {
        self.status()
    }

    fn headers(&self) -> &HeaderMap {
        self.headers()
    }

    /// tower-http's `FollowRedirect` records the URI it last requested.
    fn final_target(&self) -> Option<Target<'_>> {
        self.extensions()
            .get::<tower_http::follow_redirect::RequestUri>()
            .map(|uri| Target::of_uri(&uri.0))
    }
}

#[cfg(feature = "reqwest")]
impl SourceResponse for reqwest::Response {
    fn status(&self) -> StatusCode {
        self.status()
    }

    fn headers(&self) -> &HeaderMap {
        self.headers()
    }

    /// reqwest follows redirects itself and reports the last URL.
    fn final_target(&self) -> Option<Target<'_>> {
        let url = self.url();
        Some(Target {
            scheme: Some(url.scheme()),
            host: url.host_str(),
            port: url.port_or_known_default(),
        })
    }
}

/// What the layer reads of the response to one request it authorized: plain data,
/// so that a response future holds no reference to the layer's caches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    /// The id of the minted, cached token the request carried, retired if Source
    /// answers 401.
    pub(crate) minted: Option<u64>,
    /// The layer's [`Origin::fingerprint`].
    pub(crate) origin: u64,
    /// When the request was sent, if its response is a sample of Source's clock.
    pub(crate) sampled_at: Option<SystemTime>,
}

impl Watch {
    /// Nothing to read: the request did not go to Source.
    pub(crate) const NOTHING: Self = Self {
        minted: None,
        origin: 0,
        sampled_at: None,
    };

    /// Whether the response needs reading at all.
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.minted.is_none() && self.sampled_at.is_none()
    }

    /// Whether `response` came from the layer's origin; if so and it is a 401 to a
    /// minted token, that token is retired. Needs no reference to the layer.
    pub(crate) fn retire_if_refused(&self, response: &impl SourceResponse) -> bool {
        let from_source = response
            .final_target()
            .is_none_or(|target| Origin::fingerprint_of(target) == self.origin);
        if from_source && response.status() == StatusCode::UNAUTHORIZED {
            if let Some(id) = self.minted {
                mark_refused(id);
            }
            if self.sampled_at.is_none() {
                skew::sample_soon();
            }
        }
        from_source
    }
}

/// The time Source's response says it was made, unless a cache answered (an
/// `Age` header: its `Date` is old) or the header is missing or unreadable.
pub(crate) fn source_date(headers: &HeaderMap) -> Option<SystemTime> {
    if headers.contains_key(AGE) {
        return None;
    }
    let date = headers.get(DATE)?.to_str().ok()?;
    httpdate::parse_http_date(date).ok()
}
