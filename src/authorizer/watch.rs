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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Watch {
    /// Nothing: the request carried no token the layer minted.
    Nothing,
    /// A 401, which retires the minted, cached token the request carried
    /// ([`Minted::id`]).
    Minted(NonZeroU64),
    /// That, and `Date`: the response is a sample of Source's clock.
    Sampled(NonZeroU64),
}

impl Watch {
    /// The minted token the request carried.
    #[cfg(feature = "reqwest")]
    pub(crate) fn minted(self) -> Option<NonZeroU64> {
        match self {
            Self::Nothing => None,
            Self::Minted(id) | Self::Sampled(id) => Some(id),
        }
    }
}

/// What a response future keeps to read its response: plain data, so it holds no
/// reference to the layer's caches and pays no shared reference count per
/// request, except for a sample, which goes through the layer.
#[derive(Debug)]
pub(crate) enum Watching {
    Nothing,
    /// A 401 from the origin with fingerprint `origin` retires `minted` by id.
    Minted {
        minted: NonZeroU64,
        origin: u64,
    },
    /// Boxed: one response in many is a sample.
    Sampled(Box<Sample>),
}

impl Watching {
    /// For a request that `authorizer` authorized with `watch`, being sent now.
    #[inline]
    pub(crate) fn new(watch: Watch, authorizer: &Arc<Authorizer>) -> Self {
        match watch {
            Watch::Nothing => Self::Nothing,
            Watch::Minted(minted) => Self::Minted {
                minted,
                origin: authorizer.origin_fingerprint(),
            },
            Watch::Sampled(minted) => Self::Sampled(Sample::new(authorizer, minted)),
        }
    }

    /// Reads `response`.
    #[inline]
    pub(crate) fn read(&self, response: &impl SourceResponse) {
        match self {
            Self::Nothing => {}
            Self::Minted { minted, origin } => {
                if response.status() == StatusCode::UNAUTHORIZED && from_origin(response, *origin) {
                    mark_refused(*minted);
                    // The estimate may be what made Source refuse: read the next response.
                    skew::sample_soon();
                }
            }
            Self::Sampled(sample) => sample.read(response),
        }
    }
}

/// A request whose response is a sample of Source's clock: the layer, to learn
/// into, and when the request was sent. Boxed in a response future: one
/// response in many is a sample.
pub(crate) struct Sample {
    authorizer: Arc<Authorizer>,
    minted: NonZeroU64,
    /// When the request was sent, on the local clock.
    sent: SystemTime,
}

impl Sample {
    /// A sample of the response to a request being sent now with `minted`.
    #[cold]
    pub(crate) fn new(authorizer: &Arc<Authorizer>, minted: NonZeroU64) -> Box<Self> {
        Box::new(Self {
            authorizer: authorizer.clone(),
            minted,
            sent: authorizer.now(),
        })
    }

    /// Reads `response`: `Date`, and a 401.
    #[cold]
    pub(crate) fn read(&self, response: &impl SourceResponse) {
        self.authorizer.observe(response, self.minted, self.sent);
    }
}

impl fmt::Debug for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sample")
            .field("minted", &self.minted)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// Whether `response` came from the origin with this fingerprint.
pub(crate) fn from_origin(response: &impl SourceResponse, origin: u64) -> bool {
    response
        .final_target()
        .is_none_or(|target| Origin::fingerprint_of(target) == origin)
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::authorizer::fixture::key;
    use crate::{ManualClock, SourceAuthLayer};

    /// A sample shows the token it watches for and when it was sent, and not
    /// the layer it learns into.
    #[test]
    fn a_sample_shows_its_token_and_send_time_only() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let layer = SourceAuthLayer::new(key()).with_clock(clock);
        let watching = Watching::new(Watch::Sampled(NonZeroU64::MIN), layer.authorizer());
        let debug = format!("{watching:?}");
        assert!(
            debug.starts_with("Sampled(Sample { minted: 1, sent: SystemTime {"),
            "{debug}"
        );
        assert!(debug.ends_with(", .. })"), "{debug}");
        assert!(!debug.contains("Authorizer"), "{debug}");
    }
}
