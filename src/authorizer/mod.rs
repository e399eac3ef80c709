//! The core every integration calls: which `Authorization` header a request gets.
//!
//! Adapters (tower, reqwest-middleware) check the request's origin with
//! [`Authorizer::sends_to`] and then call [`Authorizer::authorize`]; nothing else
//! builds headers, signs or caches.

mod slot;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, HeaderName};
use http::{Extensions, HeaderMap, HeaderValue};
use quick_cache::sync::Cache;
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::credential::{ApiKey, UserToken};
use crate::error::{Error, ErrorKind, Result};
use crate::member::{GrantKey, MemberGrant, MemberToken, TokenSigner};
use crate::origin::Origin;

pub(crate) use slot::RefreshPolicy;
use slot::TokenSlot;

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
    Token(MemberToken),
    Grant(TokenSlot),
    /// Building the header failed; every request gets this error.
    Broken(Error),
}

/// Decides and attaches the `Authorization` header for requests to Source.
pub(crate) struct Authorizer {
    default: DefaultAuth,
    signer: Option<TokenSigner>,
    clock: Arc<dyn Clock>,
    origin: Origin,
    refresh: RefreshPolicy,
    /// Tokens for per-request grants, keyed by subject, actor and scopes.
    grants: Cache<GrantKey, Arc<TokenSlot>>,
}

impl Authorizer {
    pub(crate) fn new(config: &AuthConfig) -> Self {
        let clock = config
            .clock
            .clone()
            .or_else(|| config.signer.as_ref().map(|signer| signer.clock().clone()))
            .unwrap_or_else(|| Arc::new(crate::SystemClock));
        let signer = config
            .signer
            .clone()
            .map(|signer| signer.with_shared_clock(clock.clone()));
        let default = match &config.credential {
            DefaultCredential::None => DefaultAuth::None,
            DefaultCredential::ApiKey { key, basic } => {
                let authorization = if *basic {
                    // Basic with the secret as user name and an empty password.
                    let user_pass = Zeroizing::new(format!("{}:", key.secret()));
                    sensitive(Zeroizing::new(format!(
                        "Basic {}",
                        STANDARD.encode(&*user_pass)
                    )))
                } else {
                    bearer(key.secret())
                };
                static_auth(authorization, None)
            }
            DefaultCredential::UserToken(token) => {
                let mut live_mode = HeaderValue::from_static(if token.is_live_mode() {
                    "true"
                } else {
                    "false"
                });
                // Not a secret, but every header this crate sets is kept out of logs alike.
                live_mode.set_sensitive(true);
                static_auth(bearer(token.secret()), Some(live_mode))
            }
            DefaultCredential::MemberToken(token) => DefaultAuth::Token(token.clone()),
            DefaultCredential::MemberGrant(grant) => {
                DefaultAuth::Grant(TokenSlot::new(grant.clone()))
            }
        };
        Self {
            default,
            signer,
            clock,
            origin: config.origin.clone(),
            refresh: config.refresh,
            grants: Cache::new(config.grant_cache_capacity),
        }
    }

    #[cfg(feature = "reqwest")]
    /// Whether a request for `scheme://host:port` goes to Source and gets credentials.
    pub(crate) fn sends_to(
        &self,
        scheme: Option<&str>,
        host: Option<&str>,
        port: Option<u16>,
    ) -> bool {
        self.origin.matches(scheme, host, port)
    }

    /// Whether a request for `uri` goes to Source and gets credentials.
    #[inline]
    pub(crate) fn sends_to_uri(&self, uri: &http::Uri) -> bool {
        self.origin.matches_uri(uri)
    }

    /// Sets `Authorization` (and `Source-Live-Mode` for user tokens) on a request to
    /// Source, unless the caller already set `Authorization`.
    ///
    /// A `MemberToken` or `MemberGrant` in `extensions` overrides the default
    /// credential; a token wins over a grant.
    #[inline]
    pub(crate) fn authorize(&self, headers: &mut HeaderMap, extensions: &Extensions) -> Result<()> {
        // On an empty map (the common case) this check is nearly free.
        if headers.contains_key(AUTHORIZATION) {
            return Ok(());
        }
        let (authorization, live_mode) = self.credential_for(extensions)?;
        headers.insert(AUTHORIZATION, authorization);
        if let Some(live_mode) = live_mode {
            headers.insert(SOURCE_LIVE_MODE, live_mode.clone());
        }
        Ok(())
    }

    /// The `Authorization` value for a request, and `Source-Live-Mode` for a user token.
    #[inline]
    fn credential_for(
        &self,
        extensions: &Extensions,
    ) -> Result<(HeaderValue, Option<&HeaderValue>)> {
        if let Some(token) = extensions.get::<MemberToken>() {
            return Ok((self.unexpired(token)?, None));
        }
        if let Some(grant) = extensions.get::<MemberGrant>() {
            return Ok((self.grant_authorization(grant)?, None));
        }
        let authorization = match &self.default {
            DefaultAuth::Static {
                authorization,
                live_mode,
            } => return Ok((authorization.clone(), live_mode.as_ref())),
            DefaultAuth::Token(token) => self.unexpired(token)?,
            DefaultAuth::Grant(slot) => self.mint(slot)?,
            DefaultAuth::Broken(error) => return Err(error.clone()),
            DefaultAuth::None => {
                return Err(Error::new(
                    ErrorKind::MissingSigner,
                    "this layer has no default credential: put a MemberGrant or MemberToken in the request's extensions",
                ));
            }
        };
        Ok((authorization, None))
    }

    fn signer(&self) -> Result<&TokenSigner> {
        self.signer.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::MissingSigner,
                "a member grant needs an API key to sign with: build the layer from an ApiKey or call `.signer(..)`",
            )
        })
    }

    fn grant_authorization(&self, grant: &MemberGrant) -> Result<HeaderValue> {
        // Refuse before caching anything when nothing can sign.
        self.signer()?;
        let slot = match self.grants.get(grant.key()) {
            Some(slot) => slot,
            None => {
                // Validate before caching so malformed grants cannot fill the cache.
                grant.validate()?;
                // Concurrent misses on one key wait for a single insert.
                let inserted = self.grants.get_or_insert_with(grant.key(), || {
                    Ok::<_, Infallible>(Arc::new(TokenSlot::new(grant.clone())))
                });
                match inserted {
                    Ok(slot) => slot,
                    Err(never) => match never {},
                }
            }
        };
        self.mint(&slot)
    }

    fn mint(&self, slot: &TokenSlot) -> Result<HeaderValue> {
        let signer = self.signer()?;
        slot.authorization(&*self.clock, &self.refresh, |grant| signer.sign(grant))
    }

    /// The `Authorization` value for a ready-made token, refusing one past its `exp`.
    fn unexpired(&self, token: &MemberToken) -> Result<HeaderValue> {
        if self.clock.now() >= token.expires_at() {
            return Err(Error::new(
                ErrorKind::Expired,
                "the member token has expired; sign a new one, or give the layer a MemberGrant so it refreshes tokens itself",
            ));
        }
        bearer(token.as_str())
    }
}

fn static_auth(authorization: Result<HeaderValue>, live_mode: Option<HeaderValue>) -> DefaultAuth {
    match authorization {
        Ok(authorization) => DefaultAuth::Static {
            authorization,
            live_mode,
        },
        Err(error) => DefaultAuth::Broken(error),
    }
}

/// `Bearer <token>`, marked sensitive.
fn bearer(token: &str) -> Result<HeaderValue> {
    sensitive(Zeroizing::new(format!("Bearer {token}")))
}

/// A header value that HTTP/2's HPACK will not index and that `Debug` hides.
fn sensitive(value: Zeroizing<String>) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        Error::new(
            ErrorKind::InvalidToken,
            "credential has characters an HTTP header cannot carry",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = match &self.default {
            DefaultAuth::None => "none",
            DefaultAuth::Static {
                live_mode: None, ..
            } => "api key",
            DefaultAuth::Static { .. } => "user token",
            DefaultAuth::Token(_) => "member token",
            DefaultAuth::Grant(_) => "member grant",
            DefaultAuth::Broken(_) => "invalid",
        };
        f.debug_struct("Authorizer")
            .field("default", &default)
            .field("origin", &self.origin)
            .field("signer", &self.signer)
            .field("cached_grants", &self.grants.len())
            .finish_non_exhaustive()
    }
}
