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
use std::time::SystemTime;

use http::header::{AUTHORIZATION, HeaderName};
use http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::credential::{ApiKey, RotatingKey, UserToken};
use crate::error::{Error, ErrorKind, Result};
use crate::events;
use crate::member::{BEARER, MemberGrant, MemberToken, Signed, TokenSigner};
use crate::origin::{Destination, Origin, Target};
use crate::skew::SourceClock;

use alias::LoopbackAlias;
use grants::GrantCache;
pub(crate) use minted::RefreshPolicy;
use minted::{Clocks, Now, mark_refused};
use slot::TokenSlot;
pub(crate) use watch::{SourceResponse, Watch, Watching};
use watch::{from_origin, source_date};

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
}

impl<'a> Requested<'a> {
    /// The `MemberToken` or `MemberGrant` in `extensions`; both at once, or one
    /// in a wrapper (`Arc`, `Box`, `Option`), are refused rather than one
    /// silently dropped.
    #[inline]
    pub(crate) fn from_extensions(extensions: &'a Extensions) -> Result<Option<Self>> {
        let found = (
            extensions.get::<MemberToken>(),
            extensions.get::<MemberGrant>(),
        );
        wrapped::refuse_wrapped(
            extensions,
            usize::from(found.0.is_some()) + usize::from(found.1.is_some()),
        )?;
        match found {
            (Some(_), Some(_)) => Err(conflicting(
                "the request carries both a MemberToken and a MemberGrant in its extensions; give it one",
            )),
            (Some(token), None) => Ok(Some(Self::Token(token))),
            (None, grant) => Ok(grant.map(Self::Grant)),
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
    loopback_alias: LoopbackAlias,
}

impl Authorizer {
    pub(crate) fn new(config: &AuthConfig) -> Self {
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
        let (authorization, live_mode, minted) = self
            .credential_for(requested)
            .inspect_err(events::refused)?;
        headers.insert(AUTHORIZATION, authorization);
        if let Some(live_mode) = live_mode {
            headers.insert(SOURCE_LIVE_MODE, live_mode.clone());
        }
        Ok(minted.map_or(Watch::Nothing, |minted| self.watch(minted)))
    }

    /// What to read of the response to a request for Source that carried the
    /// token minted as `minted`: a 401, and `Date` when a sample is due. Only
    /// such responses are read: theirs is the credential whose validity depends
    /// on the clock, and a request sent with a fixed credential (an API key, a
    /// user token, a caller's token) pays nothing for the estimate.
    #[inline]
    fn watch(&self, minted: NonZeroU64) -> Watch {
        if self.source_clock.wants_sample() {
            Watch::Sampled(minted)
        } else {
            Watch::Minted(minted)
        }
    }

    /// Reads the response to a request sent at `sent` (local time) that carried
    /// the minted token `minted`, received now: only if it came from this layer's
    /// origin (a response from elsewhere could move the time this layer signs on),
    /// a 401 retires that token, and `Date` moves the estimate of Source's clock.
    pub(crate) fn observe(
        &self,
        response: &impl SourceResponse,
        minted: NonZeroU64,
        sent: SystemTime,
    ) {
        if !from_origin(response, self.origin_fingerprint) {
            return;
        }
        if response.status() == StatusCode::UNAUTHORIZED {
            mark_refused(minted);
        }
        if let Some(date) = source_date(response.headers()) {
            self.source_clock.observe(sent, self.clock.now(), date);
            events::clock_offset_sampled(&self.origin, &self.source_clock);
        }
    }

    /// The local wall clock's time, as a request is sent.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// [`Origin::fingerprint`] of the origin this layer sends credentials to.
    pub(crate) fn origin_fingerprint(&self) -> u64 {
        self.origin_fingerprint
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

    /// The `Authorization` value for a request, `Source-Live-Mode` for a user
    /// token, and the id of a minted token.
    #[inline]
    fn credential_for(
        &self,
        requested: Option<Requested<'_>>,
    ) -> Result<(HeaderValue, Option<&HeaderValue>, Option<NonZeroU64>)> {
        let (authorization, minted) = match (requested, &self.default) {
            (Some(Requested::Token(token)), _) | (None, DefaultAuth::Token(token)) => {
                (self.unexpired(token)?, None)
            }
            (Some(Requested::Grant(grant)), _) => {
                let (authorization, minted) = self.grant_authorization(grant)?;
                (authorization, Some(minted))
            }
            (
                None,
                DefaultAuth::Static {
                    authorization,
                    live_mode,
                },
            ) => return Ok((authorization.clone(), live_mode.as_ref(), None)),
            (None, DefaultAuth::Rotating { keys, basic }) => {
                let current = keys.current();
                let authorization = if *basic {
                    &current.basic
                } else {
                    &current.bearer
                };
                return Ok((authorization.clone(), None, None));
            }
            (None, DefaultAuth::Grant { grant, slot }) => {
                let (authorization, minted) = self.mint(slot, grant)?;
                (authorization, Some(minted))
            }
            (None, DefaultAuth::None) => {
                return Err(Error::new(
                    ErrorKind::MissingCredential,
                    "this layer has no default credential: put a MemberGrant or MemberToken in the request's extensions",
                ));
            }
        };
        Ok((authorization, None, minted))
    }

    fn signer(&self) -> Result<&TokenSigner> {
        self.signer.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::MissingSigner,
                "a member grant needs an API key to sign with: build the layer from an ApiKey or call `.signer(..)`",
            )
        })
    }

    fn grant_authorization(&self, grant: &MemberGrant) -> Result<(HeaderValue, NonZeroU64)> {
        self.grants.authorization(
            self.clocks(),
            &self.refresh,
            grant,
            |grant, now, refresh| self.sign(grant, now, refresh),
        )
    }

    fn mint(&self, slot: &TokenSlot, grant: &MemberGrant) -> Result<(HeaderValue, NonZeroU64)> {
        slot.authorization(
            self.clocks(),
            &self.refresh,
            grant,
            |grant, now, refresh| self.sign(grant, now, refresh),
        )
    }

    /// The clocks a cached token is judged by, and the signing key's generation.
    #[inline]
    fn clocks(&self) -> Clocks<'_> {
        Clocks {
            local: &*self.clock,
            source: &self.source_clock,
            key_generation: self.signer.as_ref().map_or(0, TokenSigner::key_generation),
        }
    }

    /// Signs a token for `grant` at `now`; `refresh` when it replaces an earlier one.
    fn sign(&self, grant: &MemberGrant, now: Now, refresh: bool) -> Result<Signed> {
        let token = self.signer()?.sign_header(grant, now.wall, now.offset)?;
        events::minted(grant, &token.key_id, token.exp, refresh);
        Ok(token)
    }

    /// The `Authorization` value for a ready-made token, refusing one past its `exp`.
    fn unexpired(&self, token: &MemberToken) -> Result<HeaderValue> {
        if self.source_clock.at(self.clock.now()) >= token.expires_at() {
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
