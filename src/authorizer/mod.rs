//! The core every integration calls: which `Authorization` header a request gets.
//!
//! Adapters (tower, reqwest-middleware) check the request's origin with
//! [`Authorizer::sends_to_uri`], find the credential the request asked for with
//! [`Requested`], and then call [`Authorizer::authorize`]; nothing else builds
//! headers, signs or caches.

mod alias;
mod entries;
#[cfg(test)]
mod fixture;
mod grants;
mod minted;
mod slot;

mod watch;
mod wrapped;

use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::header::{AUTHORIZATION, HeaderName};
use http::{Extensions, HeaderMap, HeaderValue};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::credential::{ApiKey, RotatingKey, UserToken};
use crate::error::{Error, ErrorKind, Result};
use crate::events;
use crate::member::{BEARER, MemberGrant, MemberToken, Signed, TokenSigner};
use crate::origin::{Destination, Origin, Target};
use crate::skew::{ClockProbe, MintTimes, Sample, SourceClock};

use alias::LoopbackAlias;
use grants::GrantCache;
pub(crate) use minted::RefreshPolicy;
use minted::{Clocks, Granted, MintIds, Refusals};
use slot::TokenSlot;
pub(crate) use watch::{SourceResponse, Watch};

/// Source's header choosing live or test mode for a user token.
const SOURCE_LIVE_MODE: HeaderName = HeaderName::from_static("source-live-mode");
pub(crate) const DEFAULT_GRANT_CACHE_CAPACITY: usize = 10_000;

/// The credential a layer sends when a request carries no override.
#[derive(Clone, Debug)]
pub(crate) enum DefaultCredential {
    /// Only per-request grants or tokens; a request with neither is refused.
    None,
    ApiKey {
        key: ApiKey,
        basic: bool,
    },
    RotatingKey {
        keys: RotatingKey,
        basic: bool,
    },
    UserToken(UserToken),
    MemberToken(MemberToken),
    MemberGrant(MemberGrant),
}

/// Everything a layer is configured with; cheap to clone while building.
#[derive(Clone, Debug)]
pub(crate) struct AuthConfig {
    pub(crate) credential: DefaultCredential,
    pub(crate) signer: Option<TokenSigner>,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    /// Learned from Source's responses; the signer's, unless set.
    pub(crate) source_clock: SourceClock,
    pub(crate) origin: Origin,
    pub(crate) refresh: RefreshPolicy,
    pub(crate) grant_cache_capacity: usize,
}

/// The default credential, turned into headers once.
enum DefaultAuth {
    None,
    Static {
        authorization: HeaderValue,
        live_mode: Option<HeaderValue>,
    },
    /// The current key of a handle the app may rotate.
    Rotating {
        keys: RotatingKey,
        basic: bool,
    },
    Token(MemberToken),
    Grant {
        grant: MemberGrant,
        slot: TokenSlot,
    },
}

/// The credential a request asked for in its extensions, overriding the layer's.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Requested<'a> {
    Token(&'a MemberToken),
    Grant(&'a MemberGrant),
    /// No credential at all: a [`ClockProbe`].
    Probe,
}

impl<'a> Requested<'a> {
    /// The `MemberToken`, `MemberGrant` or `ClockProbe` in `extensions`; two at
    /// once, or a credential in a wrapper (`Arc`, `Box`, `Option`), are refused
    /// rather than one silently dropped.
    #[inline]
    pub(crate) fn from_extensions(extensions: &'a Extensions) -> Result<Option<Self>> {
        // An empty map (the common case) is told apart without hashing a type.
        if extensions.is_empty() {
            return Ok(None);
        }
        let found = (
            extensions.get::<MemberToken>(),
            extensions.get::<MemberGrant>(),
            extensions.get::<ClockProbe>(),
        );
        wrapped::refuse_wrapped(
            extensions,
            usize::from(found.0.is_some())
                + usize::from(found.1.is_some())
                + usize::from(found.2.is_some()),
        )?;
        match found {
            (Some(_), Some(_), _) => Err(conflicting(
                "the request carries both a MemberToken and a MemberGrant in its extensions; give it one",
            )),
            (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => Err(conflicting(
                "the request carries a ClockProbe, which is sent with no credential, beside a \
                 MemberGrant or MemberToken; send the probe on its own",
            )),
            (Some(token), None, None) => Ok(Some(Self::Token(token))),
            (None, Some(grant), None) => Ok(Some(Self::Grant(grant))),
            (None, None, probe) => Ok(probe.map(|_| Self::Probe)),
        }
    }

    /// What a request asked for in either of two extension maps (reqwest's own and
    /// reqwest-middleware's); the same credential in both is fine, two different
    /// ones are refused rather than guessed between.
    #[cfg(feature = "reqwest")]
    pub(crate) fn from_either(
        first: &'a Extensions,
        second: &'a Extensions,
    ) -> Result<Option<Self>> {
        match (
            Self::from_extensions(first)?,
            Self::from_extensions(second)?,
        ) {
            (Some(one), Some(other)) if !one.same_as(other) => Err(conflicting(
                "the request carries two different member credentials in its extensions; give it one",
            )),
            (one, other) => Ok(one.or(other)),
        }
    }

    #[cfg(feature = "reqwest")]
    fn same_as(self, other: Self) -> bool {
        match (self, other) {
            (Self::Token(one), Self::Token(other)) => one.authorization() == other.authorization(),
            (Self::Grant(one), Self::Grant(other)) => one == other,
            (Self::Probe, Self::Probe) => true,
            _ => false,
        }
    }
}

fn conflicting(message: &'static str) -> Error {
    Error::new(ErrorKind::ConflictingCredentials, message)
}

/// Decides and attaches the `Authorization` header for requests to Source.
pub(crate) struct Authorizer {
    default: DefaultAuth,
    signer: Option<TokenSigner>,
    clock: Arc<dyn Clock>,
    source_clock: SourceClock,
    origin: Origin,
    /// `origin.fingerprint()`, handed to response futures.
    origin_fingerprint: u64,
    refresh: RefreshPolicy,
    /// Tokens for per-request grants.
    grants: GrantCache,
    /// The tokens Source refused, and the numbers tokens are minted under.
    refusals: Refusals,
    mint_ids: MintIds,
    loopback_alias: LoopbackAlias,
}

impl Authorizer {
    /// An authorizer for `config`, listed so that the responses it reads find it.
    pub(crate) fn shared(config: &AuthConfig) -> Arc<Self> {
        let authorizer = Arc::new(Self::new(config));
        watch::register(authorizer.mint_ids.layer, Arc::downgrade(&authorizer));
        authorizer
    }

    fn new(config: &AuthConfig) -> Self {
        let clock = config
            .clock
            .clone()
            .or_else(|| config.signer.as_ref().map(|signer| signer.clock().clone()))
            .unwrap_or_else(|| Arc::new(crate::SystemClock));
        let signer = config.signer.clone().map(|signer| {
            signer
                .with_shared_clock(clock.clone())
                .with_source_clock(config.source_clock.clone())
        });
        let default = match &config.credential {
            DefaultCredential::None => DefaultAuth::None,
            DefaultCredential::ApiKey { key, basic } => DefaultAuth::Static {
                authorization: key.authorization(*basic),
                live_mode: None,
            },
            DefaultCredential::RotatingKey { keys, basic } => DefaultAuth::Rotating {
                keys: keys.clone(),
                basic: *basic,
            },
            DefaultCredential::UserToken(token) => {
                let mut live_mode = HeaderValue::from_static(if token.is_live_mode() {
                    "true"
                } else {
                    "false"
                });
                // Not a secret, but every header this crate sets is kept out of logs alike.
                live_mode.set_sensitive(true);
                DefaultAuth::Static {
                    authorization: bearer(token.secret()),
                    live_mode: Some(live_mode),
                }
            }
            DefaultCredential::MemberToken(token) => DefaultAuth::Token(token.clone()),
            DefaultCredential::MemberGrant(grant) => DefaultAuth::Grant {
                grant: grant.clone(),
                slot: TokenSlot::default(),
            },
        };
        Self {
            default,
            signer,
            clock,
            source_clock: config.source_clock.clone(),
            origin: config.origin.clone(),
            origin_fingerprint: config.origin.fingerprint(),
            refresh: config.refresh,
            grants: GrantCache::new(config.grant_cache_capacity),
            refusals: Refusals::default(),
            mint_ids: MintIds::new(),
            loopback_alias: LoopbackAlias::default(),
        }
    }

    /// The origin this authorizer sends credentials to.
    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Applies the one precedence rule to a request going to `destination`
    /// (`target` describes it, for messages) that carries `headers` and asked for
    /// `requested` in its extensions (an error there, such as two credentials at
    /// once, is reported and returned as it is):
    ///
    /// - a per-request credential on a request to another origin is refused
    ///   (`NotSourceOrigin`): sent without it, it would fail far from the cause;
    /// - a per-request credential beside a caller-set `Authorization` (or user
    ///   info in the URL) is refused (`ConflictingCredentials`): either would
    ///   send another credential than the one asked for;
    /// - otherwise a caller-set header is kept, and a request to Source gets the
    ///   requested credential, or else the layer's default.
    ///
    /// On success `Authorization` (and `Source-Live-Mode` for user tokens) is set
    /// when the layer supplies it, and the returned [`Watch`] says what to read of
    /// the response; on failure nothing was changed and nothing may be sent.
    #[inline]
    pub(crate) fn authorize<'t>(
        &self,
        destination: Destination,
        target: impl FnOnce() -> Target<'t>,
        headers: &mut HeaderMap,
        requested: Result<Option<Requested<'_>>>,
    ) -> Result<Watch> {
        let requested = requested.inspect_err(events::refused)?;
        let callers_own = match destination {
            Destination::Elsewhere => {
                let target = target();
                if requested.is_some() {
                    return Err(self.not_source_origin(target)).inspect_err(events::refused);
                }
                self.loopback_alias.notice(&self.origin, target);
                events::not_for_source(target);
                return Ok(Watch::Nothing);
            }
            // An empty map (the common case) is told apart without hashing the name.
            Destination::Source => !headers.is_empty() && headers.contains_key(AUTHORIZATION),
            Destination::SourceWithUserinfo => true,
        };
        if callers_own {
            if requested.is_some() {
                return Err(conflicting(
                    "the request carries a MemberGrant or MemberToken and also its own Authorization \
                     header (or a user name in its URL); remove one, since either would send \
                     another credential than the one the request asked for",
                ))
                .inspect_err(events::refused);
            }
            events::callers_authorization_kept();
            return Ok(Watch::Nothing);
        }
        self.credential_for(requested, headers)
            .inspect_err(events::refused)
    }

    /// What to read of the response to a request for Source that carries the
    /// minted token `granted`: a 401, and `Date` when it is a sample. A request
    /// sent with a fixed credential (an API key, a user token) pays nothing for
    /// the estimate.
    #[inline]
    fn watch_minted(&self, granted: &Granted) -> Watch {
        Watch::Minted {
            token: granted.token,
            at: granted.at,
            sample: granted.sample,
        }
    }

    /// What to read of the response to a request that carries a ready-made
    /// token: `Date`, into the estimate `clock` it was signed on, on a 401 or
    /// when a sample is due.
    fn watch_token(&self, token: &MemberToken) -> Watch {
        let clock = token.source_clock();
        Watch::Token {
            layer: self.mint_ids.layer,
            sample: clock.wants_sample(token.first_response()),
            clock: clock.clone(),
            at: self.clock.monotonic(),
        }
    }

    /// Stops sending the token minted as `id`: Source refused it.
    pub(crate) fn retire(&self, id: NonZeroU64) {
        self.refusals.mark(id);
    }

    /// Learns from a response from this layer's origin, to a request sent at
    /// `sent` (monotonic), received now: its `Date`, if any, is a sample for
    /// `clock`; `refused` says it was a 401, which keeps re-sends possible.
    pub(crate) fn learn(
        &self,
        clock: &SourceClock,
        sent: Instant,
        date: Option<SystemTime>,
        refused: bool,
    ) {
        let sample = date.map(|date| Sample {
            sent,
            received: self.clock.monotonic(),
            received_wall: self.clock.now(),
            date,
        });
        if clock.learn(sample.as_ref(), refused) {
            events::clock_offset_sampled(&self.origin, clock);
        }
    }

    /// The estimate of Source's clock this layer signs on.
    pub(crate) fn source_clock(&self) -> &SourceClock {
        &self.source_clock
    }

    fn not_source_origin(&self, target: Target<'_>) -> Error {
        Error::new(
            ErrorKind::NotSourceOrigin,
            format!(
                "the request carries a MemberGrant or MemberToken but goes to {target}, not to \
                 {}, the origin this layer sends credentials to; send it there, or build the \
                 layer with `.base_url(..)` for the origin you call",
                self.origin.describe()
            ),
        )
    }

    /// Sets `Authorization` for a request (and `Source-Live-Mode` for a user
    /// token; nothing for a probe), and says what to read of its response.
    #[inline]
    fn credential_for(
        &self,
        requested: Option<Requested<'_>>,
        headers: &mut HeaderMap,
    ) -> Result<Watch> {
        let (authorization, watch) = match (requested, &self.default) {
            (
                None,
                DefaultAuth::Static {
                    authorization,
                    live_mode,
                },
            ) => {
                headers.insert(AUTHORIZATION, authorization.clone());
                if let Some(live_mode) = live_mode {
                    headers.insert(SOURCE_LIVE_MODE, live_mode.clone());
                }
                return Ok(Watch::Nothing);
            }
            (None, DefaultAuth::Rotating { keys, basic }) => {
                let current = keys.current();
                let authorization = if *basic {
                    &current.basic
                } else {
                    &current.bearer
                };
                (authorization.clone(), Watch::Nothing)
            }
            (Some(Requested::Token(token)), _) | (None, DefaultAuth::Token(token)) => {
                (self.unexpired(token)?, self.watch_token(token))
            }
            (Some(Requested::Grant(grant)), _) => {
                let granted = self.grant_authorization(grant)?;
                let watch = self.watch_minted(&granted);
                (granted.authorization, watch)
            }
            (None, DefaultAuth::Grant { grant, slot }) => {
                let granted = self.mint(slot, grant)?;
                let watch = self.watch_minted(&granted);
                (granted.authorization, watch)
            }
            (Some(Requested::Probe), _) => {
                return Ok(Watch::Probe {
                    layer: self.mint_ids.layer,
                    at: self.clock.monotonic(),
                });
            }
            (None, DefaultAuth::None) => {
                return Err(Error::new(
                    ErrorKind::MissingCredential,
                    "this layer has no default credential: put a MemberGrant or MemberToken in the request's extensions",
                ));
            }
        };
        headers.insert(AUTHORIZATION, authorization);
        Ok(watch)
    }

    fn signer(&self) -> Result<&TokenSigner> {
        self.signer.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::MissingSigner,
                "a member grant needs an API key to sign with: build the layer from an ApiKey or call `.signer(..)`",
            )
        })
    }

    fn grant_authorization(&self, grant: &MemberGrant) -> Result<Granted> {
        self.grants.authorization(
            self.clocks(),
            &self.refresh,
            grant,
            |grant, times, refresh| self.sign(grant, times, refresh),
        )
    }

    fn mint(&self, slot: &TokenSlot, grant: &MemberGrant) -> Result<Granted> {
        slot.authorization(
            self.clocks(),
            &self.refresh,
            grant,
            |grant, times, refresh| self.sign(grant, times, refresh),
        )
    }

    /// The clocks a cached token is judged by, and the signing key's generation.
    #[inline]
    fn clocks(&self) -> Clocks<'_> {
        Clocks {
            local: &*self.clock,
            source: &self.source_clock,
            key_generation: self.signer.as_ref().map_or(0, TokenSigner::key_generation),
            refusals: &self.refusals,
            mint_ids: &self.mint_ids,
        }
    }

    /// Signs a token for `grant` at `times`; `refresh` when it replaces an earlier one.
    fn sign(&self, grant: &MemberGrant, times: MintTimes, refresh: bool) -> Result<Signed> {
        let token = self.signer()?.sign_header(grant, times)?;
        events::minted(grant, &token.key_id, token.exp, refresh);
        Ok(token)
    }

    /// The `Authorization` value for a ready-made token, refusing one that may be
    /// past its `exp` on Source's clock.
    fn unexpired(&self, token: &MemberToken) -> Result<HeaderValue> {
        let latest = self.source_clock.bound().latest().apply(self.clock.now());
        if latest >= token.expires_at() {
            return Err(Error::new(
                ErrorKind::Expired,
                "the member token has expired; sign a new one, or give the layer a MemberGrant so it refreshes tokens itself",
            ));
        }
        Ok(token.authorization().clone())
    }
}

/// `Bearer <token>`, marked sensitive.
fn bearer(token: &str) -> HeaderValue {
    sensitive(&Zeroizing::new(format!("{BEARER}{token}")))
}

/// A header value that HTTP/2's HPACK will not index and that `Debug` hides.
///
/// Only for values this crate has validated as visible ASCII: API secrets and user
/// tokens are checked when built, and member tokens and Basic credentials are
/// base64, so building the header cannot fail.
fn sensitive(value: &str) -> HeaderValue {
    let mut value = HeaderValue::from_str(value)
        .expect("credentials are validated as visible ASCII before they get here");
    value.set_sensitive(true);
    value
}

impl Drop for Authorizer {
    fn drop(&mut self) {
        watch::unregister(self.mint_ids.layer);
    }
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = match &self.default {
            DefaultAuth::None => "none",
            DefaultAuth::Static {
                live_mode: None, ..
            } => "api key",
            DefaultAuth::Static { .. } => "user token",
            DefaultAuth::Rotating { .. } => "rotating api key",
            DefaultAuth::Token(_) => "member token",
            DefaultAuth::Grant { .. } => "member grant",
        };
        f.debug_struct("Authorizer")
            .field("default", &default)
            .field("origin", &self.origin)
            .field("source_clock", &self.source_clock)
            .field("signer", &self.signer)
            .field("cached_grants", &self.grants.len())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "reqwest"))]
mod tests {
    use super::*;

    fn with(insert: impl FnOnce(&mut Extensions)) -> Extensions {
        let mut extensions = Extensions::new();
        insert(&mut extensions);
        extensions
    }

    /// reqwest's and reqwest-middleware's maps may both hold the request's
    /// credential: the same one (a probe included) is that credential, two
    /// different ones are refused.
    #[test]
    fn the_same_credential_in_both_maps_is_one_and_two_different_are_refused() {
        let grant = |member: &str| MemberGrant::member(member);
        let probe = with(|map| {
            map.insert(ClockProbe);
        });
        let asked = |first: &Extensions, second: &Extensions| {
            Requested::from_either(first, second).map(|requested| match requested {
                Some(Requested::Probe) => "probe",
                Some(Requested::Grant(_)) => "grant",
                Some(Requested::Token(_)) => "token",
                None => "none",
            })
        };
        assert_eq!(asked(&probe, &probe).unwrap(), "probe");
        assert_eq!(asked(&probe, &Extensions::new()).unwrap(), "probe");
        let one = with(|map| {
            map.insert(grant("mem_1"));
        });
        let other = with(|map| {
            map.insert(grant("mem_2"));
        });
        assert_eq!(asked(&one, &one.clone()).unwrap(), "grant");
        let signer = TokenSigner::new(fixture::key());
        let token = |member: &str| {
            let token = signer.sign(&grant(member)).unwrap();
            with(|map| {
                map.insert(token);
            })
        };
        let (token_one, token_other) = (token("mem_1"), token("mem_2"));
        assert_eq!(asked(&token_one, &token_one.clone()).unwrap(), "token");
        for (first, second) in [
            (&one, &other),
            (&one, &probe),
            (&probe, &other),
            (&token_one, &token_other),
            (&token_one, &one),
        ] {
            let refused = asked(first, second).unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::ConflictingCredentials);
        }
    }
}
