//! `SourceAuthLayer`: a tower layer that authenticates outbound requests to Source.
//!
//! Put it on any HTTP client that is a tower service — hyper-util's client,
//! `reqwest::Client` (feature `reqwest`), or your own stack — and every request
//! to Source's origin carries the right `Authorization` header. Requests to any
//! other origin that ask for no credential pass through untouched, and an
//! `Authorization` header the caller set is kept (see the precedence table).
//!
//! [`SourceAuthLayer::new`] takes any [`Credential`]; the named constructors are
//! the explicit forms, and the only way to ask for what `new` cannot infer.
//!
//! | built with | each request to Source gets |
//! |---|---|
//! | [`new`](SourceAuthLayer::new) with an [`ApiKey`], or [`api_key`](SourceAuthLayer::api_key) | `Bearer sk_…` |
//! | [`SourceAuthLayer::api_key_basic`] | `Basic base64("sk_…:")` |
//! | `new` with a [`UserToken`], or [`user_token`](SourceAuthLayer::user_token) | `Bearer …` and `Source-Live-Mode` |
//! | `new` with a [`MemberToken`], or [`member_token`](SourceAuthLayer::member_token) | `Bearer <jwt>`, refused once expired |
//! | [`SourceAuthLayer::member`] | a member token minted, cached and refreshed before it expires |
//! | [`SourceAuthLayer::per_request`] | only the credential each request carries |
//! | `new` with a [`RotatingKey`], or [`rotating_key`](SourceAuthLayer::rotating_key) | the handle's current `Bearer sk_…`, switched by [`RotatingKey::rotate`] |
//!
//! Build [`per_request`](SourceAuthLayer::per_request) for a client whose
//! requests act as members (a web app's handlers): a request that forgets its
//! credential is refused instead of sent with the API key. Build
//! [`new`](SourceAuthLayer::new) with the API key for the server's own calls, and
//! [`member`](SourceAuthLayer::member) for a client that always acts as one member.
//!
//! # Precedence
//!
//! A [`MemberGrant`] or [`MemberToken`] in a request's extensions is that
//! request's own credential: it goes out with it or not at all. One rule, on every
//! path (`http::Request`, `reqwest::Request`, reqwest-middleware):
//!
//! | the request carries | to the layer's [`origin`](SourceAuthLayer::origin) | to any other origin |
//! |---|---|---|
//! | nothing | the layer's default credential (`per_request`: refused, `MissingCredential`) | sent untouched |
//! | its own `Authorization`, or user info in its URL | kept; the layer adds nothing | sent untouched |
//! | a `MemberGrant` or `MemberToken` | that credential | refused, `NotSourceOrigin` |
//! | a `MemberGrant` or `MemberToken` and its own `Authorization` or user info | refused, `ConflictingCredentials` | refused, `NotSourceOrigin` |
//! | both a `MemberGrant` and a `MemberToken` | refused, `ConflictingCredentials` | refused, `ConflictingCredentials` |
//! | an `Arc`, `Box` or `Option` of either (`None` too) | refused, `WrappedCredential` | refused, `WrappedCredential` |
//!
//! User info counts as the caller's own credential because reqwest's
//! `RequestBuilder` turns it into `Authorization: Basic`. Grants' tokens are
//! cached by subject, actor and scopes, and a cached token
//! is reused only while it is fresh and expires no later than the grant allows
//! (its TTL from now, or its fixed expiry); otherwise a new one is minted. A grant
//! that cannot be signed is refused before anything is cached.
//!
//! # Redirects
//!
//! Follow redirects *inside* the layer: put tower-http's `FollowRedirectLayer`
//! after this one in a `ServiceBuilder`, as in the example below. Then the layer
//! sees only the request the caller made, and no hop passes through it: a redirect
//! from another server into Source's origin gets no key, and a member request that
//! bounces off-site is not re-sent with the layer's own credential (tower-http
//! clears extensions on a cross-origin hop). With `FollowRedirect` outside, each
//! hop is a new request to the layer, and one from a foreign server into Source
//! would pick up the API key.
//!
//! **Which policy.** `FollowRedirectLayer::new()` uses tower-http's `Standard`
//! policy, which drops `Authorization` on a redirect to another origin: safe.
//! A policy of your own must keep that filter: `FollowRedirectLayer::with_policy(
//! policy::Limited::new(5))` alone sends the layer's credential (the API key, or a
//! member token) to whatever host Source's answer redirects to. Write
//! `policy::Limited::new(5).and::<_, Body, Error>(policy::FilterCredentials::new())`, naming the
//! request body and the client's error type.
//!
//! **Where a response came from.** The layer reads a response only when it came
//! from its origin. It cannot see what sits inside it, so it relies on the
//! follower to say where the final response came from: tower-http records it as
//! `RequestUri` (the layer reads 0.7's and 0.6's, the version reqwest 0.13 uses),
//! and reqwest reports its final URL. A follower of your own inside the layer must
//! insert tower-http's `RequestUri` too; a response that carries none is taken as
//! coming from the request's own URI. A chain Source → elsewhere → Source loses
//! the token on the cross-origin hop, and Source's final 401 then retires a token
//! Source never saw: one extra mint, by design.
//!
//! ```
//! # use http_body_util::Empty;
//! # use hyper::body::Bytes;
//! # use hyper_util::{client::legacy::Client, rt::TokioExecutor};
//! # use source_auth::{ApiKey, SourceAuthLayer};
//! # use tower::ServiceBuilder;
//! use tower_http::follow_redirect::{FollowRedirectLayer, policy::{self, PolicyExt}};
//! # let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
//!
//! let client = ServiceBuilder::new()
//!     .layer(SourceAuthLayer::api_key(key))
//!     // Inside: redirects never pass the layer. Credentials never leave the origin.
//!     .layer(FollowRedirectLayer::with_policy(
//!         policy::Limited::new(5).and::<_, Empty<Bytes>, hyper_util::client::legacy::Error>(
//!             policy::FilterCredentials::new(),
//!         ),
//!     ))
//!     .service(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());
//! # let _ = client;
//! # Ok::<(), source_auth::Error>(())
//! ```
//!
//! # Responses
//!
//! The layer reads the responses to member tokens (so the inner service answers
//! `http::Response<_>`; on the reqwest path, `reqwest::Response`). From those that
//! come from its origin (after any redirect, the final one):
//!
//! - `Date`, of the first response to a token (at most one token minted per
//!   [`SAMPLE_PERIOD`](crate::skew::SAMPLE_PERIOD)) and of every 401, teaches it
//!   Source's clock, on which it signs `iat` and `exp` and
//!   judges its cached tokens ([`crate::skew`]);
//! - a 401 retires the cached token the request carried, by id, so the next
//!   request for that grant mints anew (within the same second, the new token is
//!   byte-identical to the old: HS256 is deterministic and `iat` has whole
//!   seconds);
//! - a 401 whose own `Date` proves that token was outside Source's window is
//!   marked [`SkewRefused`](crate::resend::SkewRefused): the one case the crate
//!   re-sends, once (reqwest-middleware by itself; tower through
//!   [`ResendOnSkew`](crate::resend) outside the layer, as `examples/retry.rs`
//!   does). Nothing else is ever re-sent.
//!
//! A response to any other request is not read, and costs nothing more.
//! [`prime`](SourceAuthLayer::prime) learns Source's clock before the first
//! member request, with no credential.
//!
//! # Errors
//!
//! The service's error type is tower's `BoxError`. When a request cannot be
//! authorized (a malformed grant, an expired token) the inner service is not
//! called and the error downcasts to [`source_auth::Error`](crate::Error); any
//! other error is the inner service's own.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, header::AUTHORIZATION};
//! use source_auth::{ApiKey, Error, ErrorKind, MemberGrant, SourceAuthLayer, TokenSigner};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
//! // Stands in for hyper-util's or reqwest's client: echoes the header it got.
//! let client = service_fn(|req: Request<()>| async move {
//!     let auth = req.headers().get(AUTHORIZATION).map(|v| v.is_sensitive());
//!     Ok::<_, Infallible>(Response::new(auth))
//! });
//! // Requests act as members: each must carry its own credential.
//! let client = ServiceBuilder::new()
//!     .layer(SourceAuthLayer::per_request(TokenSigner::new(key)))
//!     .service(client);
//!
//! // To Source as a member: authorized, and the header is marked sensitive.
//! let mut req = Request::get("https://api.sourcehealth.com/v1/members").body(())?;
//! req.extensions_mut().insert(MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f"));
//! assert_eq!(*client.clone().oneshot(req).await?.body(), Some(true));
//!
//! // One that forgot its credential is refused, not sent with the API key.
//! let req = Request::get("https://api.sourcehealth.com/v1/members").body(())?;
//! let refused = client.clone().oneshot(req).await.unwrap_err();
//! assert_eq!(refused.downcast_ref::<Error>().map(Error::kind), Some(ErrorKind::MissingCredential));
//!
//! // Anywhere else, asking for nothing: untouched.
//! let req = Request::get("https://example.com/").body(())?;
//! assert_eq!(*client.oneshot(req).await?.body(), None);
//! # Ok(())
//! # }
//! ```

mod future;
mod prime;
mod service;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::authorizer::{
    AuthConfig, Authorizer, DEFAULT_GRANT_CACHE_CAPACITY, DefaultCredential, RefreshPolicy,
};
use crate::clock::Clock;
use crate::credential::{ApiKey, Credential, RotatingKey, UserToken};
use crate::error::{Error, ErrorKind, Result};
use crate::member::{MemberGrant, MemberToken, TokenSigner};
use crate::origin::Origin;
use crate::skew::SourceClock;

pub use future::ResponseFuture;
pub use service::SourceAuth;

/// A tower layer that adds Source credentials to requests for Source's origin.
///
/// Cheap to clone; every service it makes shares one token cache. See the
/// [module docs](self) for an example.
#[derive(Clone)]
pub struct SourceAuthLayer {
    config: AuthConfig,
    authorizer: Arc<Authorizer>,
}

impl SourceAuthLayer {
    /// A layer sending `credential`. An API key is sent as a Bearer token and also
    /// signs per-request member grants.
    pub fn new(credential: impl Into<Credential>) -> Self {
        match credential.into() {
            Credential::ApiKey(key) => Self::api_key(key),
            Credential::UserToken(token) => Self::user_token(token),
            Credential::MemberToken(token) => Self::member_token(token),
            Credential::RotatingKey(keys) => Self::rotating_key(keys),
        }
    }

    /// Sends `Authorization: Bearer sk_…`; per-request grants are signed with `key`.
    pub fn api_key(key: ApiKey) -> Self {
        Self::api_key_with(key, false)
    }

    /// Sends the API key as HTTP Basic: the secret as user name, an empty password.
    pub fn api_key_basic(key: ApiKey) -> Self {
        Self::api_key_with(key, true)
    }

    fn api_key_with(key: ApiKey, basic: bool) -> Self {
        let signer = TokenSigner::new(key.clone());
        Self::from_config(DefaultCredential::ApiKey { key, basic }, Some(signer))
    }

    /// Sends the current key of `keys` as a Bearer token, and signs per-request
    /// grants with it: after [`RotatingKey::rotate`] every request sends and signs
    /// with the new key, and tokens signed with the old one are not sent again.
    pub fn rotating_key(keys: RotatingKey) -> Self {
        Self::rotating_key_with(keys, false)
    }

    /// [`rotating_key`](Self::rotating_key), sending the key as HTTP Basic.
    pub fn rotating_key_basic(keys: RotatingKey) -> Self {
        Self::rotating_key_with(keys, true)
    }

    fn rotating_key_with(keys: RotatingKey, basic: bool) -> Self {
        let signer = TokenSigner::rotating(keys.clone());
        Self::from_config(DefaultCredential::RotatingKey { keys, basic }, Some(signer))
    }

    /// Sends a user token with `Source-Live-Mode` set from the token.
    pub fn user_token(token: UserToken) -> Self {
        Self::from_config(DefaultCredential::UserToken(token), None)
    }

    /// Sends a ready-made member token until it expires; after that requests fail
    /// with [`ErrorKind::Expired`].
    pub fn member_token(token: MemberToken) -> Self {
        Self::from_config(DefaultCredential::MemberToken(token), None)
    }

    /// Mints a member token for `grant` with `signer`, caches it, and refreshes it
    /// before it expires. The signer's clock is the layer's clock.
    ///
    /// The grant is the layer's configuration, so it is checked here: `signer`
    /// signs it once, and what that refuses (a malformed member or caregiver id,
    /// the caregiver as the member, bad scopes, a TTL over 24 hours, or over 24
    /// hours with the signer's `iat_backdate`, a fixed expiry already passed) is
    /// refused with the error signing gives. A fixed
    /// [`expires_at`](MemberGrant::expires_at) that passes later fails the
    /// requests made after it with [`ErrorKind::InvalidExpiry`]:
    /// give a long-lived layer a TTL instead.
    pub fn member(signer: TokenSigner, grant: MemberGrant) -> Result<Self> {
        signer.check(&grant)?;
        Ok(Self::from_config(
            DefaultCredential::MemberGrant(grant),
            Some(signer),
        ))
    }

    /// Sends only per-request credentials: every request must carry a
    /// `MemberGrant` or `MemberToken` in its extensions; grants are signed with `signer`.
    pub fn per_request(signer: TokenSigner) -> Self {
        Self::from_config(DefaultCredential::None, Some(signer))
    }

    fn from_config(credential: DefaultCredential, signer: Option<TokenSigner>) -> Self {
        let source_clock = signer
            .as_ref()
            .map_or_else(SourceClock::new, |signer| signer.source_clock().clone());
        let config = AuthConfig {
            credential,
            signer,
            clock: None,
            source_clock,
            origin: Origin::default(),
            refresh: RefreshPolicy::default(),
            grant_cache_capacity: DEFAULT_GRANT_CACHE_CAPACITY,
        };
        Self {
            authorizer: Authorizer::shared(&config),
            config,
        }
    }

    fn reconfigure(mut self, change: impl FnOnce(&mut AuthConfig)) -> Self {
        change(&mut self.config);
        self.authorizer = Authorizer::shared(&self.config);
        self
    }

    /// Sends credentials only to this origin instead of `https://api.sourcehealth.com`.
    ///
    /// It must be `https`, or plain `http` on a loopback host (for tests and
    /// `testing::MockSource`, feature `test-util`); any path is ignored.
    pub fn base_url(self, base_url: &str) -> Result<Self> {
        let origin = Origin::parse(base_url)?;
        Ok(self.reconfigure(|config| config.origin = origin))
    }

    /// The origin this layer sends credentials to, as `scheme://host` with `:port`
    /// unless it is the scheme's default: `https://api.sourcehealth.com` unless
    /// [`base_url`](Self::base_url) set another. Build request URLs from it, so the
    /// app keeps one copy of its base URL:
    ///
    /// ```
    /// # use source_auth::{ApiKey, SourceAuthLayer};
    /// # let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
    /// let layer = SourceAuthLayer::new(key).base_url("http://LOCALHOST:8080/v1")?;
    /// assert_eq!(layer.origin(), "http://localhost:8080");
    /// let url = format!("{}/v1/members", layer.origin());
    /// # Ok::<(), source_auth::Error>(())
    /// ```
    pub fn origin(&self) -> &str {
        self.config.origin.base_url()
    }

    /// Signs per-request member grants with `signer` (layers built from an API key
    /// already have one). The layer then learns Source's clock into the signer's
    /// [`SourceClock`].
    ///
    /// A layer built from a [`RotatingKey`] refuses a signer with a fixed key
    /// ([`ErrorKind::SignerNotRotating`]): it
    /// would keep signing with the old key after [`RotatingKey::rotate`]. Give it
    /// `TokenSigner::rotating(keys.clone())`. A layer built with
    /// [`member`](Self::member) checks its grant again against the new signer,
    /// as `member` did, and refuses it with the error signing gives.
    pub fn signer(self, signer: TokenSigner) -> Result<Self> {
        if matches!(
            self.config.credential,
            DefaultCredential::RotatingKey { .. }
        ) && !signer.is_rotating()
        {
            return Err(Error::new(
                ErrorKind::SignerNotRotating,
                "this layer sends a RotatingKey, but `.signer(..)` was given a TokenSigner with a \
                 fixed key, which would keep signing with the old key after a rotation; give it \
                 `TokenSigner::rotating(keys.clone())`",
            ));
        }
        // The layer's own grant was checked against the signer it was built with;
        // this one may sign it differently (`iat_backdate`, its clock).
        if let DefaultCredential::MemberGrant(grant) = &self.config.credential {
            signer.check(grant)?;
        }
        Ok(self.reconfigure(|config| {
            config.source_clock = signer.source_clock().clone();
            config.signer = Some(signer);
        }))
    }

    /// Learns Source's clock into `source_clock` and signs on it, instead of the
    /// one its signer came with: for several layers, or a layer and a separately
    /// made signer, that should share one estimate.
    pub fn with_source_clock(self, source_clock: SourceClock) -> Self {
        self.reconfigure(|config| config.source_clock = source_clock)
    }

    /// The estimate of Source's clock this layer signs on and learns into, from
    /// the `Date` of Source's responses (see [`crate::skew`]). A signer that
    /// should sign on it (the extractors' token endpoint's) takes a clone:
    /// `TokenSigner::new(key).with_source_clock(layer.source_clock().clone())`.
    /// A signer the layer was built from already shares it.
    pub fn source_clock(&self) -> &SourceClock {
        &self.config.source_clock
    }

    /// Refreshes a cached member token this long before it expires, instead of the
    /// default min(25 % of its lifetime, 60 s).
    pub fn refresh_margin(self, margin: Duration) -> Self {
        self.reconfigure(|config| config.refresh.margin = Some(margin))
    }

    /// Refreshes each token up to this much earlier again, at random, so that many
    /// clients started together do not all refresh at once (default zero).
    pub fn refresh_jitter(self, jitter: Duration) -> Self {
        self.reconfigure(|config| config.refresh.jitter = jitter)
    }

    /// How many per-request grants' tokens to keep (default 10,000).
    ///
    /// Size it to the members (or caregiver and member pairs, and scope sets)
    /// active within a token's lifetime, five minutes by default. A hit costs a
    /// lookup and a header clone; a member whose entry was evicted just gets a new
    /// token minted, one HS256 signature and about a microsecond more. An entry
    /// takes about 0.6 KiB for Source-sized ids and no scopes (the default
    /// capacity about 6 MiB; see BENCHMARKS.md), and never more than the limits on
    /// ids and scopes allow (at most 32 scopes, 1 KiB in all, a token under 4 KiB),
    /// so the cache's memory is at most this many times that bound.
    pub fn grant_cache_capacity(self, capacity: usize) -> Self {
        self.reconfigure(|config| config.grant_cache_capacity = capacity)
    }

    /// Reads the time from `clock` for signing, refreshing and expiry checks, as
    /// `TokenSigner::with_clock` and `TokenVerifier::with_clock` do.
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        self.reconfigure(|config| config.clock = Some(clock))
    }

    /// Draws refresh jitter from `seed`, so that a simulation replays exactly.
    #[cfg(test)]
    pub(crate) fn set_refresh_seed(&mut self, seed: u64) {
        self.config.refresh.seed = seed;
        self.authorizer = Authorizer::shared(&self.config);
    }

    #[cfg(any(test, feature = "reqwest"))]
    pub(crate) fn authorizer(&self) -> &Arc<Authorizer> {
        &self.authorizer
    }
}

impl<S> Layer<S> for SourceAuthLayer {
    type Service = SourceAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SourceAuth::new(inner, self.authorizer.clone())
    }
}

impl fmt::Debug for SourceAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceAuthLayer")
            .field("authorizer", &self.authorizer)
            .finish()
    }
}
