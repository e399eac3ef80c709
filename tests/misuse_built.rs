//! The second trial's mistakes, written as a new user made them, against real
//! peers (MockSource, hyper-util's client, reqwest, reqwest-middleware): the
//! layer's own grant is configuration, checked when built, and a credential put
//! in a request's extensions inside a wrapper never goes out as the API key.

mod common;
mod log_capture;
mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{api_key, clock};
use http::Request;
use log_capture::LogCapture;
use source_auth::axum::{ExtractorConfig, TokenIssuer};
use source_auth::testing::MockSource;
use source_auth::{
    BoxError, Clock, Error, ErrorKind, MemberGrant, MemberToken, RotatingKey, SourceAuthLayer,
    TokenSigner, UserToken,
};
use support::{get, get_with, hyper_client};
use tower::{Layer, ServiceExt};

const PATIENT: &str = "mem_patient1";
const PARENT: &str = "mem_parent1";
const HOUR: Duration = Duration::from_secs(3600);

fn source_error(error: &BoxError) -> &Error {
    error.downcast_ref::<Error>().expect("a source_auth::Error")
}

/// `SourceAuthLayer::member` refuses, when built, every grant that signing would
/// refuse on each request, with the same kind.
#[test]
fn the_layers_own_grant_is_checked_when_built() {
    let signer = TokenSigner::new(api_key());
    let refused = |signer: &TokenSigner, grant: MemberGrant| {
        SourceAuthLayer::member(signer.clone(), grant)
            .map(|_| ())
            .unwrap_err()
            .kind()
    };
    let cases = [
        (MemberGrant::member("patient 1"), ErrorKind::InvalidMemberId),
        (
            MemberGrant::member(PATIENT).caregiver("parent 1"),
            ErrorKind::InvalidMemberId,
        ),
        (
            MemberGrant::member(PATIENT).caregiver(PATIENT),
            ErrorKind::ActorIsSubject,
        ),
        (
            MemberGrant::member(PATIENT).scopes(["read profile"]),
            ErrorKind::InvalidScope,
        ),
        (
            MemberGrant::member(PATIENT).ttl(25 * HOUR),
            ErrorKind::InvalidExpiry,
        ),
        (
            MemberGrant::member(PATIENT).expires_at(SystemTime::now() - HOUR),
            ErrorKind::InvalidExpiry,
        ),
    ];
    for (grant, kind) in cases {
        assert_eq!(refused(&signer, grant.clone()), kind, "{grant:?}");
        // The same kind signing gives.
        assert_eq!(signer.sign(&grant).unwrap_err().kind(), kind);
    }
    // 24 hours is allowed, but not with `iat` backdated: exp − iat is over 24 hours.
    let day = MemberGrant::member(PATIENT).ttl(24 * HOUR);
    assert!(SourceAuthLayer::member(signer.clone(), day.clone()).is_ok());
    let backdated = signer.clone().iat_backdate(Duration::from_secs(5));
    assert_eq!(refused(&backdated, day.clone()), ErrorKind::InvalidExpiry);
    // Nor with such a signer given afterwards, in place of the one it was built with.
    let replaced = SourceAuthLayer::member(signer.clone(), day)
        .unwrap()
        .signer(backdated)
        .map(|_| ())
        .unwrap_err();
    assert_eq!(replaced.kind(), ErrorKind::InvalidExpiry);
    // At the signer's clock: a fixed expiry still ahead of it is fine.
    let clock = clock();
    let at_clock = TokenSigner::new(api_key()).with_clock(clock.clone());
    let fixed = MemberGrant::member(PATIENT).expires_at(clock.now() + HOUR);
    assert!(SourceAuthLayer::member(at_clock, fixed).is_ok());
}

/// A layer that sends a `RotatingKey` refuses a signer with a fixed key, which
/// would go on signing with the old key after a rotation; a signer on the same
/// keys is taken, and so is a fixed signer on a layer with a fixed key.
#[test]
fn a_rotating_layer_takes_only_a_rotating_signer() {
    let keys = RotatingKey::new(api_key());
    let fixed = SourceAuthLayer::rotating_key(keys.clone())
        .signer(TokenSigner::new(api_key()))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(fixed.kind(), ErrorKind::SignerNotRotating);
    assert!(
        fixed.to_string().contains("TokenSigner::rotating"),
        "{fixed}"
    );
    assert!(
        SourceAuthLayer::rotating_key_basic(keys.clone())
            .signer(TokenSigner::new(api_key()))
            .is_err()
    );
    assert!(
        SourceAuthLayer::rotating_key(keys.clone())
            .signer(TokenSigner::rotating(keys))
            .is_ok()
    );
    assert!(
        SourceAuthLayer::new(api_key())
            .signer(TokenSigner::new(api_key()))
            .is_ok()
    );
}

/// `TokenIssuer::new(signer.iat_backdate(5 s), config.ttl(24 h))` used to pass,
/// and then every extraction failed with a 500.
#[test]
fn an_issuer_whose_backdate_makes_every_token_too_long_is_refused() {
    let signer = TokenSigner::new(api_key()).iat_backdate(Duration::from_secs(5));
    let err = TokenIssuer::new(signer.clone(), ExtractorConfig::new().ttl(24 * HOUR)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidExpiry);
    assert!(err.to_string().contains("24 hours"), "{err}");
    let ok = TokenIssuer::new(signer, ExtractorConfig::new().ttl(24 * HOUR - HOUR));
    assert!(ok.is_ok());
}

/// Every wrapper of every per-request credential, `None` included.
fn wrapped_credentials(token: &MemberToken) -> Vec<(&'static str, &'static str, Wrapped)> {
    let grant = MemberGrant::member(PATIENT);
    vec![
        (
            "Arc",
            "MemberGrant",
            Wrapped::ArcGrant(Arc::new(grant.clone())),
        ),
        (
            "Box",
            "MemberGrant",
            Wrapped::BoxGrant(Box::new(grant.clone())),
        ),
        ("Option", "MemberGrant", Wrapped::OptionGrant(Some(grant))),
        ("Option", "MemberGrant", Wrapped::OptionGrant(None)),
        (
            "Arc",
            "MemberToken",
            Wrapped::ArcToken(Arc::new(token.clone())),
        ),
        (
            "Box",
            "MemberToken",
            Wrapped::BoxToken(Box::new(token.clone())),
        ),
        (
            "Option",
            "MemberToken",
            Wrapped::OptionToken(Some(token.clone())),
        ),
        ("Option", "MemberToken", Wrapped::OptionToken(None)),
    ]
}

#[derive(Clone)]
enum Wrapped {
    ArcGrant(Arc<MemberGrant>),
    BoxGrant(Box<MemberGrant>),
    OptionGrant(Option<MemberGrant>),
    ArcToken(Arc<MemberToken>),
    BoxToken(Box<MemberToken>),
    OptionToken(Option<MemberToken>),
}

impl Wrapped {
    fn insert(self, extensions: &mut http::Extensions) {
        match self {
            Self::ArcGrant(value) => extensions.insert(value).map(drop),
            Self::BoxGrant(value) => extensions.insert(value).map(drop),
            Self::OptionGrant(value) => extensions.insert(value).map(drop),
            Self::ArcToken(value) => extensions.insert(value).map(drop),
            Self::BoxToken(value) => extensions.insert(value).map(drop),
            Self::OptionToken(value) => extensions.insert(value).map(drop),
        };
    }

    fn onto(
        self,
        request: reqwest_middleware::RequestBuilder,
    ) -> reqwest_middleware::RequestBuilder {
        match self {
            Self::ArcGrant(value) => request.with_extension(value),
            Self::BoxGrant(value) => request.with_extension(value),
            Self::OptionGrant(value) => request.with_extension(value),
            Self::ArcToken(value) => request.with_extension(value),
            Self::BoxToken(value) => request.with_extension(value),
            Self::OptionToken(value) => request.with_extension(value),
        }
    }
}

/// Every kind of layer.
fn layers(source: &MockSource, token: &MemberToken) -> Vec<SourceAuthLayer> {
    let signer = TokenSigner::new(api_key());
    [
        SourceAuthLayer::new(api_key()),
        SourceAuthLayer::api_key_basic(api_key()),
        SourceAuthLayer::rotating_key(RotatingKey::new(api_key())),
        SourceAuthLayer::user_token(UserToken::new("ut_2bdf6e1a").unwrap()),
        SourceAuthLayer::member_token(token.clone()),
        SourceAuthLayer::member(signer.clone(), MemberGrant::member(PARENT)).unwrap(),
        SourceAuthLayer::per_request(signer),
    ]
    .into_iter()
    .map(|layer| layer.base_url(source.base_url()).unwrap())
    .collect()
}

fn assert_names(error: &Error, wrapper: &str, bare: &str) {
    assert_eq!(error.kind(), ErrorKind::WrappedCredential);
    let message = error.to_string();
    assert!(message.contains(&format!("{wrapper}<{bare}>")), "{message}");
    assert!(
        message.contains(&format!("insert the {bare} itself")),
        "{message}"
    );
}

/// `.with_extension(Arc::new(grant))` on an API-key client used to go out with
/// the API key; on a `per_request` client it was `MissingCredential`. Now every
/// path and every layer refuses it, naming the wrapper, and Source sees nothing.
#[tokio::test]
async fn a_wrapped_credential_is_refused_on_every_path_and_layer() {
    let source = MockSource::start().await.unwrap();
    source.add_api_key(&api_key());
    let token = TokenSigner::new(api_key())
        .sign(&MemberGrant::member(PATIENT))
        .unwrap();
    let url = format!("{}/v1/members/{PATIENT}", source.base_url());
    for layer in layers(&source, &token) {
        for (wrapper, bare, wrapped) in wrapped_credentials(&token) {
            // tower, over hyper-util's client.
            let mut request = get_with(&url, ());
            wrapped.clone().insert(request.extensions_mut());
            let refused = layer.clone().layer(hyper_client()).oneshot(request).await;
            assert_names(source_error(&refused.unwrap_err()), wrapper, bare);

            // reqwest::Client as a tower service, from an http::Request.
            let mut request = Request::get(&url).body(reqwest::Body::from("")).unwrap();
            wrapped.clone().insert(request.extensions_mut());
            let request = reqwest::Request::try_from(request).unwrap();
            let client = layer.clone().layer(reqwest::Client::new());
            let refused = client.oneshot(request).await.unwrap_err();
            assert_names(source_error(&refused), wrapper, bare);

            // reqwest-middleware.
            let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                .with(layer.clone())
                .build();
            let refused = wrapped.onto(client.get(&url)).send().await.unwrap_err();
            let reqwest_middleware::Error::Middleware(inner) = refused else {
                panic!("expected a middleware error, got {refused:?}");
            };
            let error = inner.downcast_ref::<Error>().expect("a source_auth::Error");
            assert_names(error, wrapper, bare);
        }
    }
    // To another origin too: it would go out with nothing, far from the cause.
    let mut request = get_with(
        "http://example.invalid/",
        Arc::new(MemberGrant::member(PATIENT)),
    );
    request.extensions_mut().insert(7_u32);
    let refused = SourceAuthLayer::new(api_key())
        .layer(hyper_client())
        .oneshot(request)
        .await
        .unwrap_err();
    assert_names(source_error(&refused), "Arc", "MemberGrant");
    assert!(source.requests().is_empty(), "nothing reached Source");

    // Other extensions beside a bare credential, or alone, change nothing.
    let client = layers(&source, &token).remove(0).layer(hyper_client());
    let mut request = get_with(&url, MemberGrant::member(PATIENT));
    request.extensions_mut().insert(Arc::new(7_u32));
    assert_eq!(client.clone().oneshot(request).await.unwrap().status(), 200);
    let request = get_with(&url, Some(7_u32));
    assert_eq!(client.oneshot(request).await.unwrap().status(), 200);
}

/// `base_url("http://localhost:P")` and requests to `http://127.0.0.1:P`: they
/// get no credential, as before, but the layer says so once, at WARN, naming
/// both origins, where it used to log only at TRACE.
#[tokio::test]
async fn a_loopback_alias_is_warned_about_once_per_layer() {
    let logs = LogCapture::start();
    let source = MockSource::start().await.unwrap();
    source.add_api_key(&api_key());
    let port = source.base_url().rsplit(':').next().unwrap().to_owned();
    let layer = || {
        SourceAuthLayer::new(api_key())
            .base_url(&format!("http://localhost:{port}"))
            .unwrap()
    };
    let warnings = || {
        logs.lines()
            .into_iter()
            .filter(|line| line.contains("WARN"))
            .collect::<Vec<_>>()
    };
    let client = layer().layer(hyper_client());
    // Its own origin, and other hosts and ports, say nothing.
    let own = client
        .clone()
        .oneshot(get(&format!("http://LOCALHOST:{port}/v1/x")));
    assert!(own.await.is_ok());
    let other_port = client.clone().oneshot(get("http://127.0.0.1:9/v1/x"));
    assert!(other_port.await.is_err(), "nothing listens on port 9");
    let other_scheme = client
        .clone()
        .oneshot(get(&format!("https://127.0.0.1:{port}/v1/x")));
    assert!(
        other_scheme.await.is_err(),
        "hyper-util's client speaks no TLS"
    );
    assert_eq!(warnings(), Vec::<String>::new());

    let alias = format!("{}/v1/x", source.base_url());
    for _ in 0..3 {
        let response = client.clone().oneshot(get(&alias)).await.unwrap();
        assert_eq!(
            response.status(),
            401,
            "sent without a credential, as before"
        );
    }
    let ipv6 = client
        .clone()
        .oneshot(get(&format!("http://[::1]:{port}/v1/x")));
    let _ = ipv6.await;
    let warned = warnings();
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert!(
        warned[0].contains(&format!("http://localhost:{port}")),
        "{}",
        warned[0]
    );
    assert!(
        warned[0].contains(&format!("http://127.0.0.1:{port}")),
        "{}",
        warned[0]
    );

    // Another layer warns for itself; `[::1]` is an alias too.
    let client = layer().layer(hyper_client());
    let _ = client
        .oneshot(get(&format!("http://[::1]:{port}/v1/x")))
        .await;
    let warned = warnings();
    assert_eq!(warned.len(), 2, "{warned:#?}");
    assert!(
        warned[1].contains(&format!("http://[::1]:{port}")),
        "{}",
        warned[1]
    );
}
