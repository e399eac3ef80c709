//! Each mistake a new user made in a trial of the crate, written as they made it,
//! against real peers (MockSource, hyper-util's client, reqwest,
//! reqwest-middleware, an axum `Router`). Every one of them fails loudly now, at
//! startup where it can, with a message that says what to fix.

mod common;
mod jws;
mod support;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{SECRET, api_key, clock};
use http::Request;
use http::header::AUTHORIZATION;
use source_auth::application::{ApplicationKey, ApplicationVerifier};
use source_auth::axum::{ExtractorConfig, TokenIssuer};
use source_auth::testing::{MockSource, PrincipalKind, Relationship, RelationshipStatus};
use source_auth::{
    BoxError, Clock, Error, ErrorKind, MemberGrant, SourceAuthLayer, TokenSigner, TokenVerifier,
};
use support::{get as request_to, hyper_client};
use tower::{Layer, ServiceExt};

const PATIENT: &str = "mem_patient1";
const PARENT: &str = "mem_parent1";

/// MockSource that knows the test key and that mem_parent1 cares for mem_patient1.
async fn source() -> MockSource {
    let source = MockSource::start().await.expect("MockSource starts");
    source.add_api_key(&api_key());
    source
        .set_relationship(
            Relationship {
                member: PATIENT,
                caregiver: PARENT,
            },
            RelationshipStatus::Active,
        )
        .unwrap();
    source
}

/// The layer a web app's handlers call Source through, as the README advises.
fn per_request(source: &MockSource) -> SourceAuthLayer {
    SourceAuthLayer::per_request(TokenSigner::new(api_key()))
        .base_url(source.base_url())
        .unwrap()
}

/// The kind of the `source_auth::Error` inside a tower error.
fn kind_of(error: &BoxError) -> ErrorKind {
    error
        .downcast_ref::<Error>()
        .map(Error::kind)
        .expect("a source_auth::Error")
}

/// The kind of the `source_auth::Error` inside a reqwest-middleware error.
fn middleware_kind(error: &reqwest_middleware::Error) -> ErrorKind {
    let reqwest_middleware::Error::Middleware(inner) = error else {
        panic!("expected a middleware error, got {error:?}");
    };
    inner
        .downcast_ref::<Error>()
        .map(Error::kind)
        .expect("a source_auth::Error")
}

fn middleware(layer: SourceAuthLayer) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(layer)
        .build()
}

/// A handler copies the incoming request's `Authorization` (the API key, here)
/// onto its call to Source and also names the member it acts for: on every path
/// the request is refused, and Source never sees it.
#[tokio::test]
async fn a_forwarded_authorization_never_beats_the_member_asked_for() {
    let source = source().await;
    let url = format!("{}/v1/members/{PATIENT}", source.base_url());
    let forwarded = format!("Bearer {SECRET}");

    // tower, over hyper-util's client.
    let client = per_request(&source).layer(hyper_client());
    let mut request = request_to(&url);
    request
        .headers_mut()
        .insert(AUTHORIZATION, forwarded.parse().unwrap());
    request
        .extensions_mut()
        .insert(MemberGrant::member(PATIENT));
    let refused = client.clone().oneshot(request).await.unwrap_err();
    assert_eq!(kind_of(&refused), ErrorKind::ConflictingCredentials);
    assert!(!refused.to_string().contains(SECRET));

    // reqwest::Client as a tower service, with a request converted from http.
    let client = per_request(&source).layer(reqwest::Client::new());
    let mut request = Request::get(&url)
        .header(AUTHORIZATION, &forwarded)
        .body(reqwest::Body::from(""))
        .unwrap();
    request
        .extensions_mut()
        .insert(MemberGrant::member(PATIENT));
    let request = reqwest::Request::try_from(request).unwrap();
    let refused = client.oneshot(request).await.unwrap_err();
    assert_eq!(kind_of(&refused), ErrorKind::ConflictingCredentials);

    // reqwest-middleware.
    let refused = middleware(per_request(&source))
        .get(&url)
        .header(AUTHORIZATION, &forwarded)
        .with_extension(MemberGrant::member(PATIENT))
        .send()
        .await
        .unwrap_err();
    assert_eq!(middleware_kind(&refused), ErrorKind::ConflictingCredentials);

    assert!(source.requests().is_empty(), "nothing reached Source");

    // A caller's own header with no member asked for is still sent as it is.
    let client = SourceAuthLayer::new(api_key())
        .base_url(source.base_url())
        .unwrap()
        .layer(hyper_client());
    let mut request = request_to(&url);
    request
        .headers_mut()
        .insert(AUTHORIZATION, forwarded.parse().unwrap());
    assert_eq!(client.oneshot(request).await.unwrap().status(), 200);
    let principal = source.requests()[0]
        .principal()
        .map(|principal| principal.kind);
    assert_eq!(principal, Some(PrincipalKind::ApiKey));
}

/// `base_url("http://localhost:P")` and requests to `http://127.0.0.1:P`: a grant
/// is refused with a message naming both origins, where it used to go out with
/// no credential and come back as Source's 401.
#[tokio::test]
async fn a_grant_for_another_origin_is_refused_naming_both() {
    let source = source().await;
    let port = source.local_addr().port();
    let layer = SourceAuthLayer::per_request(TokenSigner::new(api_key()))
        .base_url(&format!("http://localhost:{port}"))
        .unwrap();
    assert_eq!(layer.origin(), format!("http://localhost:{port}"));
    let url = format!("{}/v1/members/{PATIENT}", source.base_url());

    let check = |error: &str| {
        assert!(
            error.contains(&format!("http://localhost:{port}"))
                && error.contains(&format!("http://127.0.0.1:{port}")),
            "{error}"
        );
    };
    let client = layer.clone().layer(hyper_client());
    let grant = MemberGrant::member(PATIENT);
    let refused = client
        .oneshot(support::get_with(&url, grant.clone()))
        .await
        .unwrap_err();
    assert_eq!(kind_of(&refused), ErrorKind::NotSourceOrigin);
    check(&refused.to_string());

    let client = layer.clone().layer(reqwest::Client::new());
    let mut request = Request::get(&url).body(reqwest::Body::from("")).unwrap();
    request.extensions_mut().insert(grant.clone());
    let refused = client
        .oneshot(reqwest::Request::try_from(request).unwrap())
        .await
        .unwrap_err();
    assert_eq!(kind_of(&refused), ErrorKind::NotSourceOrigin);
    check(&refused.to_string());

    let refused = middleware(layer.clone())
        .get(&url)
        .with_extension(grant.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(middleware_kind(&refused), ErrorKind::NotSourceOrigin);
    check(&refused.to_string());

    // That check comes first: with a caller's header too, it is still the origin.
    let refused = middleware(layer.clone())
        .get(&url)
        .header(AUTHORIZATION, "Bearer mine")
        .with_extension(grant)
        .send()
        .await
        .unwrap_err();
    assert_eq!(middleware_kind(&refused), ErrorKind::NotSourceOrigin);
    assert!(source.requests().is_empty(), "nothing was sent");

    // A request that asks for nothing still goes anywhere untouched.
    let response = middleware(layer).get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

/// User info in a URL for Source's origin is the caller's own credential, on
/// every path: the layer adds nothing, and a grant beside it is refused.
#[tokio::test]
async fn user_info_is_the_callers_credential_on_every_path() {
    let source = source().await;
    let with_user = source
        .base_url()
        .replace("http://", &format!("http://{SECRET}@"));
    let url = format!("{with_user}/v1/members/{PATIENT}");
    let key_layer = || {
        SourceAuthLayer::new(api_key())
            .base_url(source.base_url())
            .unwrap()
    };

    // tower over hyper: the layer adds no key; hyper sends no user info either.
    let response = key_layer()
        .layer(hyper_client())
        .oneshot(request_to(&url))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let refused = per_request(&source)
        .layer(hyper_client())
        .oneshot(support::get_with(&url, MemberGrant::member(PATIENT)))
        .await
        .unwrap_err();
    assert_eq!(kind_of(&refused), ErrorKind::ConflictingCredentials);

    // reqwest::Request::new keeps the user info in the URL: the layer adds no key.
    let request = reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap());
    let response = key_layer()
        .layer(reqwest::Client::new())
        .oneshot(request)
        .await
        .unwrap();
    assert_ne!(response.status(), 200, "the layer added no key");
    let mut request = Request::get(&url).body(reqwest::Body::from("")).unwrap();
    request
        .extensions_mut()
        .insert(MemberGrant::member(PATIENT));
    let refused = per_request(&source)
        .layer(reqwest::Client::new())
        .oneshot(reqwest::Request::try_from(request).unwrap())
        .await
        .unwrap_err();
    assert_eq!(kind_of(&refused), ErrorKind::ConflictingCredentials);

    // reqwest-middleware: the builder made the user info `Authorization: Basic`,
    // which is kept as the caller's (here, the key as Basic user name).
    let response = middleware(key_layer()).get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let refused = middleware(per_request(&source))
        .get(&url)
        .with_extension(MemberGrant::member(PATIENT))
        .send()
        .await
        .unwrap_err();
    assert_eq!(middleware_kind(&refused), ErrorKind::ConflictingCredentials);
}

/// The roles are named where they are given, so the grant and the relationship
/// read the same way; a relationship recorded the wrong way round is Source's 403.
#[tokio::test]
async fn caregiver_roles_are_named_at_the_call_site() {
    let source = source().await;
    let client = per_request(&source).layer(hyper_client());
    let url = format!("{}/v1/members/{PATIENT}", source.base_url());
    let grant = MemberGrant::member(PATIENT).caregiver(PARENT);
    assert_eq!((grant.subject(), grant.actor()), (PATIENT, Some(PARENT)));
    let response = client
        .clone()
        .oneshot(support::get_with(&url, grant))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let backwards = MemberGrant::member(PARENT).caregiver(PATIENT);
    let response = client
        .oneshot(support::get_with(&url, backwards))
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

/// Configuration that could verify or sign nothing is refused when it is built.
#[test]
fn configuration_is_checked_when_built() {
    let jwk = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    let key = || ApplicationKey::from_jwk(jwk).unwrap();
    for id in [
        "my-plugin",
        "",
        "app_",
        "app_has space",
        "usr_5QW8j1oKqQjNaPk4",
    ] {
        let err = ApplicationVerifier::new(id, [key()]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidApplicationId, "{id:?}");
        assert!(err.to_string().contains("`app_`"), "{err}");
    }
    let none = ApplicationVerifier::new("app_5QW8j1oKqQjNaPk4", []).unwrap_err();
    assert_eq!(none.kind(), ErrorKind::NoVerificationKeys);
    let verifier = ApplicationVerifier::new("app_5QW8j1oKqQjNaPk4", [key()]).unwrap();
    assert_eq!(verifier.application_id(), "app_5QW8j1oKqQjNaPk4");

    let none = TokenVerifier::new([]).unwrap_err();
    assert_eq!(none.kind(), ErrorKind::NoVerificationKeys);
    assert!(none.to_string().contains("at least one API key"), "{none}");

    let signer = TokenSigner::new(api_key());
    let day_and_more = ExtractorConfig::new().ttl(Duration::from_secs(25 * 3600));
    let err = TokenIssuer::new(signer.clone(), day_and_more).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidExpiry);
    let two_words = ExtractorConfig::new().scopes(["read profile"]);
    let err = TokenIssuer::new(signer, two_words).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidScope);
}

/// After a laptop sleep or an NTP step the wall clock is past the layer's token's
/// `exp` while the monotonic clock has not moved: the next request carries a new
/// token, one Source accepts.
#[tokio::test]
async fn the_layers_own_token_follows_the_wall_clock_after_a_suspend() {
    let clock = clock();
    let source = source().await.with_clock(clock.clone());
    let signer = TokenSigner::new(api_key()).with_clock(clock.clone());
    let client = SourceAuthLayer::member(signer, MemberGrant::member(PATIENT))
        .unwrap()
        .base_url(source.base_url())
        .unwrap()
        .layer(hyper_client());
    let url = format!("{}/v1/members/{PATIENT}", source.base_url());
    assert_eq!(
        client
            .clone()
            .oneshot(request_to(&url))
            .await
            .unwrap()
            .status(),
        200
    );
    clock.set(clock.now() + Duration::from_secs(10 * 60));
    assert_eq!(
        client.oneshot(request_to(&url)).await.unwrap().status(),
        200
    );
    let tokens: Vec<_> = source
        .requests()
        .iter()
        .map(|request| request.credential)
        .collect();
    assert_ne!(tokens[0], tokens[1], "a new token after the step");
}

/// `crit` in any form, and a private or encryption JWK, are refused.
#[test]
fn keys_and_headers_are_read_strictly() {
    let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    let d_null = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":null}}"#);
    let err = ApplicationKey::from_jwk(&d_null).unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    for strict in [r#""use":"enc""#, r#""key_ops":["sign"]"#] {
        let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}",{strict}}}"#);
        let err = ApplicationKey::from_jwk(&jwk).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidApplicationKey, "{jwk}");
    }

    // A member token whose header says `"crit": null`, correctly signed.
    let header = format!(
        r#"{{"alg":"HS256","kid":"{}","crit":null}}"#,
        common::KEY_ID
    );
    let payload = format!(
        r#"{{"sub":"{PATIENT}","iat":{},"exp":{},"scopes":[]}}"#,
        common::NOW,
        common::NOW + 300
    );
    let token = jws::hs256(&header, &payload, SECRET);
    let err = TokenVerifier::new([api_key()])
        .unwrap()
        .with_clock(clock())
        .verify(&token)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidToken);
}

/// An `ExtractorConfig` where earlier versions read it: loudly a 500, never the
/// defaults.
#[tokio::test]
async fn a_configuration_left_in_the_request_extensions_is_a_loud_500() {
    use source_auth::axum::token_endpoint;

    #[derive(Debug)]
    struct User;
    impl source_auth::SourceIdentity for User {
        fn source_member_id(&self) -> Option<&str> {
            Some(PATIENT)
        }
    }
    impl<S: Send + Sync> axum::extract::FromRequestParts<S> for User {
        type Rejection = std::convert::Infallible;
        async fn from_request_parts(
            _: &mut http::request::Parts,
            _: &S,
        ) -> Result<Self, Self::Rejection> {
            Ok(User)
        }
    }

    let issuer = TokenIssuer::new(TokenSigner::new(api_key()), ExtractorConfig::default()).unwrap();
    let app = Router::new()
        .route("/source-token", get(token_endpoint::<User>))
        .layer(axum::Extension(
            ExtractorConfig::new().ttl(Duration::from_secs(60)),
        ))
        .with_state(issuer);
    let response = app
        .oneshot(Request::get("/source-token").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
}
