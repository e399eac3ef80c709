//! SourceAuthLayer over hyper-util's legacy client, against a loopback server.

mod common;
mod support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::clock;
use common::{api_key, bearer_claims};
use http::Request;
use http_body_util::Empty;
use hyper::body::Bytes;
use source_auth::{
    Clock, Error, ErrorKind, ManualClock, MemberGrant, SourceAuthLayer, TokenSigner, UserToken,
};
use support::{Recorder, get, get_with, hyper_client};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::follow_redirect::FollowRedirectLayer;

/// Sends one GET through `layer` over a real hyper client and returns the error, if any.
async fn send(
    layer: &SourceAuthLayer,
    request: Request<Empty<Bytes>>,
) -> Result<(), source_auth::BoxError> {
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(hyper_client());
    client.oneshot(request).await.map(drop)
}

fn auth_error(err: source_auth::BoxError) -> Error {
    *err.downcast::<Error>().expect("a source_auth::Error")
}

#[tokio::test]
async fn api_key_as_bearer_and_as_basic() {
    let server = Recorder::start().await;
    let bearer = SourceAuthLayer::api_key(api_key())
        .base_url(&server.base_url)
        .unwrap();
    let basic = SourceAuthLayer::api_key_basic(api_key())
        .base_url(&server.base_url)
        .unwrap();
    send(&bearer, get(&server.url("/v1/members")))
        .await
        .unwrap();
    send(&basic, get(&server.url("/v1/members"))).await.unwrap();

    let expected_basic = format!("Basic {}", STANDARD.encode(format!("{}:", common::SECRET)));
    assert_eq!(
        server.authorizations(),
        [
            Some(format!("Bearer {}", common::SECRET)),
            Some(expected_basic)
        ]
    );
    assert!(server.seen().iter().all(|seen| seen.live_mode.is_none()));
}

#[tokio::test]
async fn user_token_with_live_mode_on_and_off() {
    let server = Recorder::start().await;
    for live in [true, false] {
        let token = UserToken::new("ut_2bdf6e1a9c").unwrap().live_mode(live);
        let layer = SourceAuthLayer::user_token(token)
            .base_url(&server.base_url)
            .unwrap();
        send(&layer, get(&server.url("/v1/users/me")))
            .await
            .unwrap();
    }
    let seen = server.seen();
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer ut_2bdf6e1a9c")
    );
    assert_eq!(seen[0].live_mode.as_deref(), Some("true"));
    assert_eq!(seen[1].live_mode.as_deref(), Some("false"));
}

#[tokio::test]
async fn other_origins_are_left_untouched() {
    let source = Recorder::start().await;
    let elsewhere = Recorder::start().await;
    let layer = SourceAuthLayer::api_key(api_key())
        .base_url(&source.base_url)
        .unwrap();
    // Another port on the same host, and the same port under another host name, are other origins.
    let same_port_other_host = source.base_url.replace("127.0.0.1", "localhost");
    send(&layer, get(&elsewhere.url("/v1/members")))
        .await
        .unwrap();
    send(&layer, get(&format!("{same_port_other_host}/v1/members")))
        .await
        .unwrap();
    assert_eq!(elsewhere.authorizations(), [None]);
    assert_eq!(source.authorizations(), [None]);
}

/// A client that follows redirects the safe way: `FollowRedirect` inside the
/// layer, so the layer sees only the request the caller made, never a hop.
fn redirecting_client(
    layer: SourceAuthLayer,
) -> impl tower::Service<
    Request<Empty<Bytes>>,
    Response = http::Response<hyper::body::Incoming>,
    Error = source_auth::BoxError,
> + Clone {
    ServiceBuilder::new()
        .layer(layer)
        .layer(FollowRedirectLayer::new())
        .service(hyper_client())
}

#[tokio::test]
async fn a_redirect_to_another_host_carries_no_credentials() {
    let elsewhere = Recorder::start().await;
    let source = Recorder::start_redirecting_to(Some(elsewhere.url("/landing"))).await;
    let layer = SourceAuthLayer::api_key(api_key())
        .base_url(&source.base_url)
        .unwrap();
    redirecting_client(layer)
        .oneshot(get(&source.url("/redirect")))
        .await
        .unwrap();
    assert_eq!(
        source.authorizations(),
        [Some(format!("Bearer {}", common::SECRET))]
    );
    assert_eq!(elsewhere.authorizations(), [None]);
}

/// The confused deputy: an app fetches a URL a user gave it, and that server
/// redirects into Source. With `FollowRedirect` outside the layer, that hop would
/// pick up the API key.
#[tokio::test]
async fn a_redirect_from_another_host_into_source_picks_up_no_key() {
    let source = Recorder::start().await;
    let attacker = Recorder::start_redirecting_to(Some(source.url("/v1/members"))).await;
    let layer = SourceAuthLayer::api_key(api_key())
        .base_url(&source.base_url)
        .unwrap();
    redirecting_client(layer)
        .oneshot(get(&attacker.url("/redirect")))
        .await
        .unwrap();
    assert_eq!(attacker.authorizations(), [None]);
    assert_eq!(source.authorizations(), [None]);
}

/// tower-http clears a request's extensions on a cross-origin hop, so a
/// `MemberGrant` that bounced off-site and back would reach Source with the
/// layer's API key if the layer saw the hop. Inside the layer it never does.
#[tokio::test]
async fn a_member_request_bounced_off_site_and_back_never_gets_the_key() {
    let source = Recorder::start().await;
    let elsewhere = Recorder::start_redirecting_to(Some(source.url("/v1/back"))).await;
    source.redirect_to(elsewhere.url("/redirect"));
    let clock = clock();
    let layer = SourceAuthLayer::api_key(api_key())
        .with_clock(clock.clone())
        .base_url(&source.base_url)
        .unwrap();
    redirecting_client(layer)
        .oneshot(get_with(
            &source.url("/redirect"),
            MemberGrant::member("mem_1"),
        ))
        .await
        .unwrap();
    let seen = source.authorizations();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        bearer_claims(&clock, seen[0].as_deref().unwrap()).sub,
        "mem_1"
    );
    // The member token was dropped on the way off-site, and nothing replaced it.
    assert_eq!(seen[1], None);
    assert_eq!(elsewhere.authorizations(), [None]);
}

#[tokio::test]
async fn a_request_that_cannot_be_authorized_is_not_sent() {
    let server = Recorder::start().await;
    let clock = clock();
    let layer = SourceAuthLayer::api_key(api_key())
        .with_clock(clock.clone())
        .base_url(&server.base_url)
        .unwrap();

    let bad_grant = get_with(&server.url("/v1/x"), MemberGrant::member("not-a-member"));
    let err = auth_error(send(&layer, bad_grant).await.unwrap_err());
    assert_eq!(err.kind(), ErrorKind::InvalidMemberId);

    let same = get_with(
        &server.url("/v1/x"),
        MemberGrant::member("mem_1").caregiver("mem_1"),
    );
    assert_eq!(
        auth_error(send(&layer, same).await.unwrap_err()).kind(),
        ErrorKind::ActorIsSubject
    );

    // A user-token layer has no key to sign grants with.
    let user = SourceAuthLayer::user_token(UserToken::new("ut_abc").unwrap())
        .base_url(&server.base_url)
        .unwrap();
    let grant = get_with(&server.url("/v1/x"), MemberGrant::member("mem_1"));
    assert_eq!(
        auth_error(send(&user, grant).await.unwrap_err()).kind(),
        ErrorKind::MissingSigner
    );

    // A layer for per-request credentials only refuses a request that has none.
    let only = SourceAuthLayer::per_request(TokenSigner::new(api_key()))
        .base_url(&server.base_url)
        .unwrap();
    assert_eq!(
        auth_error(send(&only, get(&server.url("/v1/x"))).await.unwrap_err()).kind(),
        ErrorKind::MissingCredential
    );

    assert!(server.seen().is_empty(), "nothing reached the server");
}

#[tokio::test]
async fn an_inner_error_is_not_an_auth_error() {
    // Nothing listens on this port once the listener is dropped.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let layer = SourceAuthLayer::api_key(api_key())
        .base_url(&base_url)
        .unwrap();
    let err = send(&layer, get(&format!("{base_url}/v1/x")))
        .await
        .unwrap_err();
    assert!(err.downcast_ref::<Error>().is_none());
    assert!(
        err.downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some()
    );
}

#[tokio::test]
async fn an_expired_token_is_never_sent() {
    let server = Recorder::start().await;
    let clock = clock();
    let signer = TokenSigner::new(api_key()).with_clock(clock.clone());
    let token = signer
        .sign(&MemberGrant::member("mem_1").ttl(Duration::from_secs(60)))
        .unwrap();
    let layer = SourceAuthLayer::member_token(token.clone())
        .with_clock(clock.clone())
        .base_url(&server.base_url)
        .unwrap();

    send(&layer, get(&server.url("/v1/x"))).await.unwrap();
    clock.set(token.expires_at());
    let err = auth_error(send(&layer, get(&server.url("/v1/x"))).await.unwrap_err());
    assert_eq!(err.kind(), ErrorKind::Expired);
    // The same for a token passed per request.
    let per_request = SourceAuthLayer::api_key(api_key())
        .with_clock(clock.clone())
        .base_url(&server.base_url)
        .unwrap();
    let request = get_with(&server.url("/v1/x"), token);
    assert_eq!(
        auth_error(send(&per_request, request).await.unwrap_err()).kind(),
        ErrorKind::Expired
    );

    // A grant whose fixed expiry has passed cannot be re-minted, and its old token is not sent.
    let fixed = MemberGrant::member("mem_2").expires_at(clock.now() + Duration::from_secs(120));
    let layer = SourceAuthLayer::member(signer, fixed)
        .unwrap()
        .base_url(&server.base_url)
        .unwrap();
    send(&layer, get(&server.url("/v1/x"))).await.unwrap();
    clock.advance(Duration::from_secs(120));
    let err = auth_error(send(&layer, get(&server.url("/v1/x"))).await.unwrap_err());
    assert_eq!(err.kind(), ErrorKind::InvalidExpiry);

    assert_eq!(
        server.seen().len(),
        2,
        "only the two requests made before expiry were sent"
    );
}

/// A clock that moves one second forward every time it is read, so every mint
/// writes a different `iat` and each extra mint shows up as a distinct token.
/// Each read also takes a millisecond of real time, which widens the window in
/// which concurrent requests all find the cached token stale.
#[derive(Debug, Clone)]
struct TickingClock(ManualClock);

impl Clock for TickingClock {
    fn now(&self) -> std::time::SystemTime {
        std::thread::sleep(Duration::from_millis(1));
        self.0.advance(Duration::from_secs(1));
        self.0.now()
    }

    // Time passes for the monotonic clock too, as `Clock::monotonic` asks.
    fn monotonic(&self) -> std::time::Instant {
        self.0.monotonic()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_thousand_concurrent_requests_at_expiry_mint_once() {
    const TASKS: usize = 1000;
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    let server = Recorder::start().await;
    let manual = clock();
    let signer = TokenSigner::new(api_key()).with_clock(TickingClock(manual.clone()));
    let layer = SourceAuthLayer::member(signer, MemberGrant::member("mem_1").ttl(DAY))
        .unwrap()
        .base_url(&server.base_url)
        .unwrap();
    let client = ServiceBuilder::new().layer(layer).service(hyper_client());
    client
        .clone()
        .oneshot(get(&server.url("/v1/first")))
        .await
        .unwrap();

    // The cached token is now inside its one-minute refresh margin, and every task asks at once.
    manual.advance(DAY - Duration::from_secs(50));
    let start = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let client = client.clone();
            let start = start.clone();
            let url = server.url("/v1/burst");
            tokio::spawn(async move {
                start.wait().await;
                client.oneshot(get(&url)).await.map(drop)
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let seen = server.seen();
    let first = seen
        .iter()
        .find(|s| s.path == "/v1/first")
        .unwrap()
        .authorization
        .clone();
    let burst: std::collections::HashSet<_> = seen
        .iter()
        .filter(|s| s.path == "/v1/burst")
        .map(|s| s.authorization.clone())
        .collect();
    assert_eq!(seen.len(), TASKS + 1);
    assert_eq!(burst.len(), 1, "one mint for all {TASKS} requests");
    assert!(!burst.contains(&first), "the burst got the refreshed token");
}
