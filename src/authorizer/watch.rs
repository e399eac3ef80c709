//! What the layer reads of Source's responses: `Date`, to learn Source's clock,
//! and 401, to stop sending a token Source refused and to tell whether the
//! refusal was about the clock.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError, RwLock, Weak};
use std::time::{Instant, SystemTime};

use http::header::{AGE, DATE};
use http::{Extensions, HeaderMap, StatusCode};

use crate::origin::{Origin, Target};
use crate::resend;
use crate::skew::SourceClock;

use super::Authorizer;
use super::minted::SentToken;

/// A response, as the layer reads it on every path.
pub(crate) trait SourceResponse {
    fn status(&self) -> StatusCode;
    fn headers(&self) -> &HeaderMap;
    fn extensions_mut(&mut self) -> &mut Extensions;
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

    fn extensions_mut(&mut self) -> &mut Extensions {
        self.extensions_mut()
    }

    /// tower-http's `FollowRedirect` records the URI it last requested, under a
    /// type of each major version: 0.7's, and 0.6's (the one reqwest 0.13 uses).
    fn final_target(&self) -> Option<Target<'_>> {
        let extensions = self.extensions();
        extensions
            .get::<tower_http::follow_redirect::RequestUri>()
            .map(|uri| &uri.0)
            .or_else(|| {
                extensions
                    .get::<tower_http_06::follow_redirect::RequestUri>()
                    .map(|uri| &uri.0)
            })
            .map(Target::of_uri)
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

    fn extensions_mut(&mut self) -> &mut Extensions {
        self.extensions_mut()
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

/// What the layer reads of the response to one request it let through: plain
/// data (the layer is found again by its number, [`find`], only when there is
/// something to read), so a request pays no shared reference count for it.
#[derive(Debug, Clone)]
pub(crate) enum Watch {
    /// Nothing: the request carried no member token.
    Nothing,
    /// A token the layer minted, sent at `at` (monotonic): a 401 retires it, and
    /// `Date` is read on a 401 or when `sample`.
    Minted {
        token: SentToken,
        at: Instant,
        sample: bool,
    },
    /// A ready-made `MemberToken`, sent at `at` by the layer numbered `layer`:
    /// `Date` teaches the estimate it was signed on, on a 401 or when `sample`.
    Token {
        layer: u64,
        clock: SourceClock,
        at: Instant,
        sample: bool,
    },
    /// A [`ClockProbe`](crate::skew::ClockProbe), sent with no credential at
    /// `at` by the layer numbered `layer`: its answer (a 401, most likely) is
    /// read for `Date` only.
    Probe { layer: u64, at: Instant },
}

impl Watch {
    /// Reads `response`, on its way to the caller.
    #[inline]
    pub(crate) fn read(&self, response: &mut impl SourceResponse) {
        let (layer, sample) = match self {
            Self::Nothing => return,
            Self::Minted { token, sample, .. } => (token.layer, *sample),
            Self::Token { layer, sample, .. } => (*layer, *sample),
            Self::Probe { layer, .. } => (*layer, true),
        };
        if sample || response.status() == StatusCode::UNAUTHORIZED {
            if let Some(authorizer) = find(layer) {
                read_from(&authorizer, self, response);
            }
        }
    }
}

/// Reads `response` to a request `watch` describes, which `authorizer` let
/// through, if it came from the authorizer's origin: a 401 retires a minted
/// token, `Date` is a sample (on a 401, or when one is due), and a 401 whose
/// own `Date` proves a minted token was outside Source's window is marked
/// [`resend::SkewRefused`] for a re-send.
#[cold]
fn read_from(authorizer: &Authorizer, watch: &Watch, response: &mut impl SourceResponse) {
    if !from_origin(response, authorizer.origin_fingerprint) {
        return;
    }
    let (clock, at) = match watch {
        Watch::Nothing => return,
        Watch::Minted { at, .. } | Watch::Probe { at, .. } => (authorizer.source_clock(), *at),
        Watch::Token { clock, at, .. } => (clock, *at),
    };
    // A probe carries no credential: its 401 says nothing of the clock.
    let refused =
        response.status() == StatusCode::UNAUTHORIZED && !matches!(watch, Watch::Probe { .. });
    let date = source_date(response.headers());
    if let Watch::Minted { token, .. } = watch {
        if refused {
            authorizer.retire(token.id);
            if date.is_some_and(|date| {
                resend::outside_window(token.iat.into(), token.exp.into(), date)
            }) {
                response.extensions_mut().insert(resend::SkewRefused);
            }
        }
    }
    authorizer.learn(clock, at, date, refused);
}

/// Whether `response` came from the origin with this fingerprint: where a
/// redirect follower inside the layer says it came from, else from the request's
/// own URI, which is the origin's (a response is read only for a request to it).
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

/// Every live layer by its number, for the rare response that needs its layer
/// (a 401, a sample): a directory, not shared state. Each layer reads and
/// writes only its own entry's estimate and caches, so layers never affect each
/// other; an entry leaves when its layer is dropped.
static LAYERS: LazyLock<RwLock<HashMap<u64, Weak<Authorizer>>>> = LazyLock::new(RwLock::default);

/// Lists `authorizer` under `layer`.
pub(crate) fn register(layer: u64, authorizer: Weak<Authorizer>) {
    LAYERS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(layer, authorizer);
}

/// Takes the layer numbered `layer` off the list.
pub(crate) fn unregister(layer: u64) {
    LAYERS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&layer);
}

/// The layer numbered `layer`, while it lives.
fn find(layer: u64) -> Option<Arc<Authorizer>> {
    LAYERS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&layer)
        .and_then(Weak::upgrade)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::key;
    use super::*;
    use crate::SourceAuthLayer;

    /// A dropped layer leaves the directory, so a process that builds many
    /// layers (one per test, or per tenant) does not grow it for ever.
    #[test]
    fn a_dropped_layer_leaves_the_directory() {
        let layer = SourceAuthLayer::new(key());
        let number = layer.authorizer().mint_ids.layer;
        let listed = || {
            LAYERS
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(&number)
        };
        assert!(listed());
        assert!(find(number).is_some());
        drop(layer);
        assert!(!listed());
    }
}
