//! SourceAuthLayer over `reqwest::Client` as a tower service, and as reqwest-middleware.

#![cfg(feature = "reqwest")]

mod common;
mod support;

use std::time::Duration;

use common::{SECRET, api_key, bearer_claims};
use source_auth::{ErrorKind, ManualClock, MemberGrant, SourceAuthLayer, TokenSigner, UserToken};
use support::Recorder;
use tower::{ServiceBuilder, ServiceExt};

/// reqwest-middleware over reqwest, with an API-key layer for `server` on `clock`.
fn middleware_client(
    server: &Recorder,
    clock: &ManualClock,
) -> reqwest_middleware::ClientWithMiddleware {
    let layer = SourceAuthLayer::api_key(api_key())
        .with_clock(clock.clone())
        .base_url(&server.base_url)
        .unwrap();
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(layer)
        .build()
}

/// Why the middleware refused a request.
fn refusal(err: reqwest_middleware::Error) -> ErrorKind {
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("expected a middleware error, got {err:?}");
    };
    inner
        .downcast_ref::<source_auth::Error>()
        .expect("a source_auth::Error")
        .kind()
}

fn request(url: &str) -> reqwest::Request {
    reqwest::Request::new(reqwest::Method::GET, url.parse().expect("valid url"))
}

#[tokio::test]
async fn reqwest_client_as_a_tower_service() {
    let server = Recorder::start().await;
    let layers = [
        SourceAuthLayer::api_key(api_key()),
        SourceAuthLayer::user_token(UserToken::new("ut_abc").unwrap().live_mode(false)),
    ];
    for layer in layers {
        let client = ServiceBuilder::new()
            .layer(layer.base_url(&server.base_url).unwrap())
            .service(reqwest::Client::new());
        let response = client
            .oneshot(request(&server.url("/v1/members")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let seen = server.seen();
    assert_eq!(seen[0].authorization, Some(format!("Bearer {SECRET}")));
    assert_eq!(seen[1].authorization.as_deref(), Some("Bearer ut_abc"));
    assert_eq!(seen[1].live_mode.as_deref(), Some("false"));
}

#[tokio::test]
async fn reqwest_redirect_to_another_host_carries_no_key() {
    let elsewhere = Recorder::start().await;
    // `localhost` and `127.0.0.1` are different hosts to reqwest and to the layer.
    let foreign = elsewhere.url("/landing").replace("127.0.0.1", "localhost");
    let source = Recorder::start_redirecting_to(Some(foreign)).await;
    let client = ServiceBuilder::new()
        .layer(
            SourceAuthLayer::api_key(api_key())
                .base_url(&source.base_url)
                .unwrap(),
        )
        .service(reqwest::Client::new());
    let response = client
        .oneshot(request(&source.url("/redirect")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(source.authorizations(), [Some(format!("Bearer {SECRET}"))]);
    assert_eq!(elsewhere.authorizations(), [None]);
}

#[tokio::test]
async fn reqwest_foreign_origin_untouched_and_own_header_kept() {
    let source = Recorder::start().await;
    let elsewhere = Recorder::start().await;
    let client = ServiceBuilder::new()
        .layer(
            SourceAuthLayer::api_key(api_key())
                .base_url(&source.base_url)
                .unwrap(),
        )
        .service(reqwest::Client::new());
    client
        .clone()
        .oneshot(request(&elsewhere.url("/v1/x")))
        .await
        .unwrap();
    let mut own = request(&source.url("/v1/x"));
    own.headers_mut()
        .insert("authorization", "Bearer mine".parse().unwrap());
    client.oneshot(own).await.unwrap();
    assert_eq!(elsewhere.authorizations(), [None]);
    assert_eq!(source.authorizations(), [Some("Bearer mine".to_owned())]);
}

#[tokio::test]
async fn reqwest_middleware_with_per_request_override() {
    let server = Recorder::start().await;
    let clock = common::clock();
    let client = middleware_client(&server, &clock);

    client.get(server.url("/v1/key")).send().await.unwrap();
    client
        .get(server.url("/v1/grant"))
        .with_extension(MemberGrant::member("mem_kid1").caregiver("mem_dad1"))
        .send()
        .await
        .unwrap();
    let token = TokenSigner::new(api_key())
        .with_clock(clock.clone())
        .sign(&MemberGrant::member("mem_tok1"))
        .unwrap();
    client
        .get(server.url("/v1/token"))
        .with_extension(token.clone())
        .send()
        .await
        .unwrap();

    let seen = server.authorizations();
    assert_eq!(seen[0], Some(format!("Bearer {SECRET}")));
    let claims = bearer_claims(&clock, seen[1].as_deref().unwrap());
    assert_eq!(
        (claims.sub.as_str(), claims.act.as_deref()),
        ("mem_kid1", Some("mem_dad1"))
    );
    assert_eq!(seen[2], Some(format!("Bearer {}", token.as_str())));
}

#[tokio::test]
async fn reqwest_middleware_refuses_an_invalid_grant_without_sending() {
    let server = Recorder::start().await;
    let client = middleware_client(&server, &common::clock());
    let err = client
        .get(server.url("/v1/x"))
        .with_extension(MemberGrant::member("mem_ok1").ttl(Duration::from_secs(25 * 3600)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refusal(err), ErrorKind::InvalidExpiry);
    assert!(server.seen().is_empty());
}

/// A `reqwest::Request` converted from an `http::Request` that carries `credential`
/// (a `MemberGrant` or a `MemberToken`).
fn converted_with_grant<T: Clone + Send + Sync + 'static>(
    url: &str,
    credential: T,
) -> reqwest::Request {
    let mut request = http::Request::get(url).body(Vec::<u8>::new()).unwrap();
    request.extensions_mut().insert(credential);
    let mut request = reqwest::Request::try_from(request).unwrap();
    // A GET carries no body at all, as reqwest's own builder makes it.
    *request.body_mut() = None;
    request
}

#[tokio::test]
async fn a_converted_request_keeps_its_member_grant_on_the_tower_path() {
    let server = Recorder::start().await;
    let clock = common::clock();
    let layer = SourceAuthLayer::api_key(api_key())
        .with_clock(clock.clone())
        .base_url(&server.base_url)
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(layer)
        .service(reqwest::Client::new());
    let request = converted_with_grant(&server.url("/v1/members"), MemberGrant::member("mem_1"));
    client.oneshot(request).await.unwrap();
    let seen = server.seen();
    let claims = bearer_claims(&clock, seen[0].authorization.as_deref().unwrap());
    assert_eq!(claims.sub, "mem_1");
    assert_eq!(seen[0].path, "/v1/members");
    // The URL and the absence of a body survive the conversions.
    assert_eq!(seen[0].content_length, None);
}

#[tokio::test]
async fn a_converted_request_keeps_its_member_grant_through_middleware() {
    let server = Recorder::start().await;
    let clock = common::clock();
    let client = middleware_client(&server, &clock);
    let grant = MemberGrant::member("mem_kid1").caregiver("mem_dad1");
    let request = converted_with_grant(&server.url("/v1/members?x=1"), grant.clone());
    client.execute(request).await.unwrap();
    // The same grant given to the middleware as well is no conflict.
    let mut extensions = http::Extensions::new();
    extensions.insert(grant.clone());
    let request = converted_with_grant(&server.url("/v1/members"), grant);
    client
        .execute_with_extensions(request, &mut extensions)
        .await
        .unwrap();
    let seen = server.authorizations();
    assert_eq!(seen.len(), 2);
    for sent in seen {
        let claims = bearer_claims(&clock, sent.as_deref().unwrap());
        assert_eq!(
            (claims.sub.as_str(), claims.act.as_deref()),
            ("mem_kid1", Some("mem_dad1"))
        );
    }
}

#[tokio::test]
async fn two_different_credentials_on_one_request_are_refused_unsent() {
    let server = Recorder::start().await;
    let client = middleware_client(&server, &common::clock());
    let request = converted_with_grant(&server.url("/v1/x"), MemberGrant::member("mem_1"));
    let mut extensions = http::Extensions::new();
    extensions.insert(MemberGrant::member("mem_2"));
    let err = client
        .execute_with_extensions(request, &mut extensions)
        .await
        .unwrap_err();
    assert_eq!(refusal(err), ErrorKind::ConflictingCredentials);
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn the_same_token_in_both_places_is_sent_and_two_tokens_are_refused() {
    let server = Recorder::start().await;
    let clock = common::clock();
    let client = middleware_client(&server, &clock);
    let signer = TokenSigner::new(api_key()).with_clock(clock.clone());
    let token = signer.sign(&MemberGrant::member("mem_1")).unwrap();
    let other = signer.sign(&MemberGrant::member("mem_2")).unwrap();
    for (given, sent) in [(token.clone(), true), (other, false)] {
        let request = converted_with_grant(&server.url("/v1/x"), token.clone());
        let mut extensions = http::Extensions::new();
        extensions.insert(given);
        let result = client
            .execute_with_extensions(request, &mut extensions)
            .await;
        match sent {
            true => assert!(result.is_ok()),
            false => assert_eq!(
                refusal(result.unwrap_err()),
                ErrorKind::ConflictingCredentials
            ),
        }
    }
    assert_eq!(
        server.authorizations(),
        [Some(format!("Bearer {}", token.as_str()))]
    );
}

/// An inner service that is not ready keeps the layer from being ready: the
/// layer passes backpressure through on the reqwest path too.
#[test]
fn readiness_is_the_inner_services() {
    use std::task::{Context, Poll, Waker};
    use tower::{Layer, Service};

    struct NeverReady;
    impl Service<reqwest::Request> for NeverReady {
        type Response = reqwest::Response;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<reqwest::Response, Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Pending
        }
        fn call(&mut self, _: reqwest::Request) -> Self::Future {
            std::future::ready(Ok(http::Response::new("").into()))
        }
    }

    let mut service = SourceAuthLayer::api_key(api_key()).layer(NeverReady);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Service::<reqwest::Request>::poll_ready(&mut service, &mut cx).is_pending());
}
