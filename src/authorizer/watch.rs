//! What the layer reads of Source's responses: `Date`, to learn Source's clock,
//! and 401, to stop sending a token Source refused.

use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{AGE, DATE};
use http::{HeaderMap, StatusCode};

use crate::origin::{Origin, Target};
use crate::skew;

use super::Authorizer;
#[cfg(doc)]
use super::minted::Minted;
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

/// What the layer reads of the response to one request it authorized.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    /// The id of the minted, cached token the request carried ([`Minted::id`]),
    /// retired if Source answers 401.
    pub(crate) minted: Option<NonZeroU64>,
    /// Whether the response is a sample of Source's clock.
    pub(crate) sample: bool,
}

impl Watch {
    /// Nothing to read: the request did not go to Source.
    pub(crate) const NOTHING: Self = Self {
        minted: None,
        sample: false,
    };
}

/// What a response future keeps of a [`Watch`]: plain data, no reference to the
/// layer's caches (so no shared reference count per request), unless the
/// response is a sample.
pub(crate) struct Watching {
    minted: Option<NonZeroU64>,
    /// The layer's [`Origin::fingerprint`].
    origin: u64,
    /// Boxed: one response in many is a sample.
    sample: Option<Box<Sample>>,
}

struct Sample {
    authorizer: Arc<Authorizer>,
    /// When the request was sent, on the local clock.
    sent: SystemTime,
}

impl Watching {
    /// For a request that `authorizer` authorized with `watch`, being sent now.
    #[inline]
    pub(crate) fn new(watch: Watch, authorizer: &Arc<Authorizer>) -> Self {
        Self {
            minted: watch.minted,
            origin: authorizer.origin_fingerprint(),
            sample: watch.sample.then(|| {
                Box::new(Sample {
                    authorizer: authorizer.clone(),
                    sent: authorizer.now(),
                })
            }),
        }
    }

    /// Reads `response`: a sample's `Date` and 401 through the layer; otherwise
    /// only a 401 to a minted token, which retires it by id.
    #[inline]
    pub(crate) fn observe(&self, response: &impl SourceResponse) {
        match &self.sample {
            Some(sample) => sample
                .authorizer
                .observe(response, self.minted, sample.sent),
            None if self.minted.is_some()
                && response.status() == StatusCode::UNAUTHORIZED
                && from_origin(response, self.origin) =>
            {
                retire(self.minted);
                // The estimate may be what made Source refuse: read the next response.
                skew::sample_soon();
            }
            None => {}
        }
    }
}

impl fmt::Debug for Watching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watching")
            .field("minted", &self.minted)
            .field("sample", &self.sample.as_ref().map(|sample| sample.sent))
            .finish_non_exhaustive()
    }
}

/// Whether `response` came from the origin with this fingerprint.
pub(crate) fn from_origin(response: &impl SourceResponse, origin: u64) -> bool {
    response
        .final_target()
        .is_none_or(|target| Origin::fingerprint_of(target) == origin)
}

/// Marks the minted token a request carried, if any, as refused by Source.
pub(crate) fn retire(minted: Option<NonZeroU64>) {
    if let Some(id) = minted {
        mark_refused(id);
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
