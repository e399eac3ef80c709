//! Production resilience, end to end against a MockSource made to misbehave:
//! Source's clock 10 minutes off either way, a one-time 401, a key revoked and
//! rotated mid-run, and responses that must not be trusted. Over a real hyper-util
//! client and reqwest-middleware.

mod common;
mod support;

use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::Bytes;
use source_auth::skew::ClockOffset;
use source_auth::testing::{MockSource, Outcome, RecordedRequest, TokenFingerprint};
use source_auth::{
    ApiKey, Clock, MemberGrant, MemberToken, RotatingKey, SourceAuthLayer, TokenSigner,
};
use support::{get_with, hyper_client};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

const MEMBER: &str = "mem_5QW8j1oKqQjNaPk4Hv3f";
const TEN_MINUTES: Duration = Duration::from_secs(600);

fn other_key() -> ApiKey {
    ApiKey::new(
        "key_1FjqtVw3zSGyzoIti",
        "sk_test_5fD40IrkuMXkzEbsku2aeq8ed11111111",
    )
    .expect("valid key")
}

/// Sends a GET with `grant` through `layer`, over reqwest-middleware or hyper-util.
async fn send(
    via_middleware: bool,
    layer: &SourceAuthLayer,
    url: String,
    grant: MemberGrant,
) -> StatusCode {
    if via_middleware {
        send_middleware(layer, url, grant).await
    } else {
        send_hyper(layer, url, grant).await
    }
}

/// Sends a GET with `grant` through `layer` over hyper-util.
async fn send_hyper(layer: &SourceAuthLayer, url: String, grant: MemberGrant) -> StatusCode {
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(hyper_client());
    let response = client.oneshot(get_with(&url, grant)).await.expect("sent");
    response.status()
}

/// The same through reqwest-middleware.
async fn send_middleware(layer: &SourceAuthLayer, url: String, grant: MemberGrant) -> StatusCode {
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(layer.clone())
        .build();
    let response = client
        .get(url)
        .with_extension(grant)
        .send()
        .await
        .expect("sent");
    response.status()
}

fn codes(requests: &[RecordedRequest]) -> Vec<&str> {
    requests
        .iter()
        .map(|request| match &request.outcome {
            Outcome::Authenticated(_) => "ok",
            Outcome::Rejected { code, .. } => code,
            Outcome::Injected { code, .. } => code,
            _ => "other",
        })
        .collect()
}

fn fingerprints(requests: &[RecordedRequest]) -> Vec<TokenFingerprint> {
    requests
        .iter()
        .map(|request| request.credential.expect("a credential"))
        .collect()
}

/// With Source's clock 10 minutes ahead, a token signed on this host's clock has
/// expired at Source; 10 minutes behind, it was issued in Source's future. The
/// first response teaches the layer Source's clock and retires that token; the
/// next request is signed on Source's time and accepted. Over hyper with no
/// retry layer the caller sees that first 401; reqwest-middleware re-sends it.
#[tokio::test]
async fn signs_on_sources_clock_ten_minutes_either_way() {
    for (offset, refused_as) in [
        (ClockOffset::ahead(TEN_MINUTES), "token_expired"),
        (ClockOffset::behind(TEN_MINUTES), "invalid_token"),
    ] {
        for via_middleware in [false, true] {
            let mock = MockSource::start().await.unwrap();
            mock.add_api_key(&common::api_key());
            mock.set_clock_offset(offset);
            let kept_signer = TokenSigner::new(common::api_key());
            let layer = SourceAuthLayer::per_request(kept_signer.clone())
                .base_url(mock.base_url())
                .unwrap();
            let url = format!("{}/v1/members/{MEMBER}", layer.origin());
            let grant = MemberGrant::member(MEMBER);
            let mut statuses = Vec::new();
            for _ in 0..3 {
                statuses.push(send(via_middleware, &layer, url.clone(), grant.clone()).await);
            }
            let first = if via_middleware {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(
                statuses,
                [first, StatusCode::OK, StatusCode::OK],
                "{offset}, middleware: {via_middleware}"
            );
            let expected: &[&str] = if via_middleware {
                &[refused_as, "ok", "ok", "ok"]
            } else {
                &[refused_as, "ok", "ok"]
            };
            assert_eq!(codes(&mock.requests()), expected);
            // `Date` has whole seconds: the bound holds the true offset, within
            // a second and the round trip.
            let bound = layer.source_clock().bound();
            assert!(bound.contains(offset), "{bound} for {offset}");
            assert!(bound.width() <= Duration::from_millis(1500), "{bound}");
            let learned = layer.source_clock().offset();
            // A clone of the signer the layer was built from shares its estimate.
            assert_eq!(kept_signer.source_clock().offset(), learned);

            // The token endpoint's signer, given the layer's estimate, signs
            // tokens Source accepts too.
            let signer =
                TokenSigner::new(common::api_key()).with_source_clock(layer.source_clock().clone());
            let token = signer.sign(&grant).unwrap();
            // A layer sending it judges its expiry on Source's clock too.
            let plain = SourceAuthLayer::member_token(token)
                .with_source_clock(layer.source_clock().clone())
                .base_url(mock.base_url())
                .unwrap();
            let client = ServiceBuilder::new().layer(plain).service(hyper_client());
            let response = client.oneshot(support::get(&url)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{offset}");
        }
    }
}

/// A one-time 401 to a cached token retires it: the next request mints anew.
/// A 401 to a token the caller made retires nothing; there is nothing to re-mint.
#[tokio::test]
async fn a_one_time_401_retires_the_token_sent_and_only_a_minted_one() {
    let clock = common::clock();
    let mock = MockSource::start().await.unwrap().with_clock(clock.clone());
    mock.add_api_key(&common::api_key());
    let layer = SourceAuthLayer::per_request(TokenSigner::new(common::api_key()))
        .with_clock(clock.clone())
        .base_url(mock.base_url())
        .unwrap();
    let url = format!("{}/v1/members/{MEMBER}", layer.origin());
    let grant = MemberGrant::member(MEMBER);
    for via_middleware in [false, true] {
        let before = mock.requests().len();
        let send = |grant| send(via_middleware, &layer, url.clone(), grant);
        assert_eq!(send(grant.clone()).await, StatusCode::OK);
        mock.fail_next(1, StatusCode::UNAUTHORIZED, "invalid_token")
            .unwrap();
        assert_eq!(send(grant.clone()).await, StatusCode::UNAUTHORIZED);
        // A second later, so that a new token differs from the old one.
        clock.advance(Duration::from_secs(1));
        assert_eq!(send(grant.clone()).await, StatusCode::OK);
        assert_eq!(send(grant.clone()).await, StatusCode::OK);
        let sent = fingerprints(&mock.requests()[before..]);
        assert_eq!(sent[0], sent[1], "the cached token, refused once");
        assert_ne!(sent[2], sent[1], "minted anew after the 401");
        assert_eq!(sent[3], sent[2], "and cached again");
        clock.advance(Duration::from_secs(1));
    }

    // A caller's own token: the 401 is the caller's to handle, and the layer
    // keeps sending what it was given.
    let token = TokenSigner::new(common::api_key())
        .with_clock(clock.clone())
        .sign(&grant)
        .unwrap();
    let before = mock.requests().len();
    mock.fail_next(1, StatusCode::UNAUTHORIZED, "invalid_token")
        .unwrap();
    for expected in [StatusCode::UNAUTHORIZED, StatusCode::OK] {
        let client = ServiceBuilder::new()
            .layer(layer.clone())
            .service(hyper_client());
        let request = get_with::<MemberToken>(&url, token.clone());
        assert_eq!(client.oneshot(request).await.unwrap().status(), expected);
    }
    let sent = fingerprints(&mock.requests()[before..]);
    assert_eq!(sent[0], sent[1]);
}

/// A key revoked at Source mid-run gets 401s until the app rotates to a new key;
/// from then on every request signs with, and sends, the new key.
#[tokio::test]
async fn a_revoked_key_then_a_rotation() {
    let mock = MockSource::start().await.unwrap();
    mock.add_api_key(&common::api_key());
    let keys = RotatingKey::new(common::api_key());
    let layer = SourceAuthLayer::new(keys.clone())
        .base_url(mock.base_url())
        .unwrap();
    let endpoint_signer = TokenSigner::rotating(keys.clone());
    let url = format!("{}/v1/members/{MEMBER}", layer.origin());
    let grant = MemberGrant::member(MEMBER);
    let as_key = || async {
        let client = ServiceBuilder::new()
            .layer(layer.clone())
            .service(hyper_client());
        client.oneshot(support::get(&url)).await.unwrap().status()
    };

    assert_eq!(as_key().await, StatusCode::OK);
    assert_eq!(
        send_hyper(&layer, url.clone(), grant.clone()).await,
        StatusCode::OK
    );
    assert!(mock.revoke_api_key(common::KEY_ID));
    assert_eq!(
        send_hyper(&layer, url.clone(), grant.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(as_key().await, StatusCode::UNAUTHORIZED);

    mock.add_api_key(&other_key());
    keys.rotate(other_key()).unwrap();
    assert_eq!(
        send_hyper(&layer, url.clone(), grant.clone()).await,
        StatusCode::OK
    );
    assert_eq!(
        send_middleware(&layer, url.clone(), grant.clone()).await,
        StatusCode::OK
    );
    assert_eq!(as_key().await, StatusCode::OK);
    assert_eq!(endpoint_signer.sign(&grant).unwrap().claims().sub, MEMBER);
    assert_eq!(&*endpoint_signer.key_id(), "key_1FjqtVw3zSGyzoIti");

    let requests = mock.requests();
    assert_eq!(
        codes(&requests),
        [
            "ok",
            "ok",
            "unknown_key",
            "invalid_api_key",
            "ok",
            "ok",
            "ok"
        ]
    );
    let key_ids: Vec<_> = requests
        .iter()
        .filter_map(|request| request.principal()?.key_id.clone())
        .collect();
    assert_eq!(
        key_ids,
        [
            common::KEY_ID,
            common::KEY_ID,
            "key_1FjqtVw3zSGyzoIti",
            "key_1FjqtVw3zSGyzoIti",
            "key_1FjqtVw3zSGyzoIti"
        ]
    );
}

/// A stand-in for the network whose responses say they came from `final_uri`
/// (as tower-http's `FollowRedirect` records it), with this status and headers.
fn answering(
    final_uri: &'static str,
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
) -> impl Service<Request<Empty<Bytes>>, Response = Response<()>, Error = std::convert::Infallible>
{
    tower::service_fn(move |_: Request<Empty<Bytes>>| {
        let mut response = Response::builder().status(status);
        for (name, value) in &headers {
            response = response.header(*name, value.as_str());
        }
        let mut response = response.body(()).unwrap();
        response
            .extensions_mut()
            .insert(tower_http::follow_redirect::RequestUri(
                final_uri.parse().unwrap(),
            ));
        std::future::ready(Ok(response))
    })
}

/// Only a response from the origin the layer sends credentials to is read: one
/// redirected elsewhere, or one a cache answered (`Age`), moves nothing.
#[tokio::test]
async fn only_sources_own_fresh_responses_are_read() {
    let clock = common::clock();
    let far_ahead = httpdate::fmt_http_date(clock.now() + TEN_MINUTES);
    let date = vec![("date", far_ahead.clone())];
    let cached = vec![("date", far_ahead), ("age", "30".to_owned())];
    let layer = || {
        SourceAuthLayer::member(
            TokenSigner::new(common::api_key()),
            MemberGrant::member(MEMBER),
        )
        .unwrap()
        .with_clock(clock.clone())
    };
    let request = || support::get("https://api.sourcehealth.com/v1/members");

    for (final_uri, headers, learns) in [
        ("https://elsewhere.example/v1/members", date.clone(), false),
        ("https://api.sourcehealth.com/v1/members", cached, false),
        ("https://API.sourcehealth.com:443/v1/members", date, true),
    ] {
        let layer = layer();
        let described = format!("{final_uri} {headers:?}");
        let mut service = layer.layer(answering(final_uri, StatusCode::OK, headers));
        service
            .ready()
            .await
            .unwrap()
            .call(request())
            .await
            .unwrap();
        let offset = layer.source_clock().offset();
        assert_eq!(offset != ClockOffset::ZERO, learns, "{described}: {offset}");
    }
}

/// A 401 redirected in from another origin retires nothing; one from Source does.
#[tokio::test]
async fn only_sources_401_retires_a_token() {
    let clock = common::clock();
    let tokens_sent = |final_uri: &'static str| {
        let clock = clock.clone();
        async move {
            let layer = SourceAuthLayer::member(
                TokenSigner::new(common::api_key()),
                MemberGrant::member(MEMBER),
            )
            .unwrap()
            .with_clock(clock.clone());
            let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let recorder = {
                let seen = seen.clone();
                tower::service_fn(move |request: Request<Empty<Bytes>>| {
                    seen.lock()
                        .unwrap()
                        .push(request.headers()["authorization"].clone());
                    let mut response = Response::builder()
                        .status(StatusCode::UNAUTHORIZED)
                        .body(())
                        .unwrap();
                    response
                        .extensions_mut()
                        .insert(tower_http::follow_redirect::RequestUri(
                            final_uri.parse().unwrap(),
                        ));
                    async { Ok::<_, std::convert::Infallible>(response) }
                })
            };
            let mut service = layer.layer(recorder);
            for _ in 0..2 {
                let request = support::get("https://api.sourcehealth.com/v1/members");
                service.ready().await.unwrap().call(request).await.unwrap();
                clock.advance(Duration::from_secs(1));
            }
            seen.lock().unwrap().clone()
        }
    };
    let elsewhere = tokens_sent("https://elsewhere.example/v1/members").await;
    assert_eq!(elsewhere[0], elsewhere[1]);
    let from_source = tokens_sent("https://api.sourcehealth.com/v1/members").await;
    assert_ne!(from_source[0], from_source[1]);
}

/// Once Source's clock is known most responses are not samples, and are read for
/// a 401 alone: one from Source still retires the token, and one a redirect
/// brought in from another origin still does not.
#[tokio::test]
async fn an_unsampled_401_retires_a_token_only_from_source() {
    let clock = common::clock();
    let source = "https://api.sourcehealth.com/v1/members";
    for (final_uri, retires) in [
        ("https://elsewhere.example/v1/members", false),
        (source, true),
    ] {
        let layer = SourceAuthLayer::member(
            TokenSigner::new(common::api_key()),
            MemberGrant::member(MEMBER),
        )
        .unwrap()
        .with_clock(clock.clone());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        // Source's `Date` first, so the estimate is known; then the 401; then 200.
        let network = {
            let seen = seen.clone();
            let clock = clock.clone();
            tower::service_fn(move |request: Request<Empty<Bytes>>| {
                let mut seen = seen.lock().unwrap();
                seen.push(request.headers()["authorization"].clone());
                let (status, from) = match seen.len() {
                    1 => (StatusCode::OK, source),
                    2 => (StatusCode::UNAUTHORIZED, final_uri),
                    _ => (StatusCode::OK, source),
                };
                let mut response = Response::builder()
                    .status(status)
                    .header("date", httpdate::fmt_http_date(clock.now()))
                    .body(())
                    .unwrap();
                response
                    .extensions_mut()
                    .insert(tower_http::follow_redirect::RequestUri(
                        from.parse().unwrap(),
                    ));
                std::future::ready(Ok::<_, std::convert::Infallible>(response))
            })
        };
        let mut service = layer.layer(network);
        for _ in 0..3 {
            let request = support::get(source);
            service.ready().await.unwrap().call(request).await.unwrap();
            clock.advance(Duration::from_secs(1));
        }
        let sent = seen.lock().unwrap().clone();
        assert_eq!(sent[0], sent[1], "the cached token");
        assert_eq!(sent[2] != sent[1], retires, "401 from {final_uri}");
    }
}

/// reqwest follows redirects itself and reports where the response came from: one
/// from another origin (a clock ten minutes ahead, answering 401) neither moves
/// the estimate nor retires the token, over the middleware or the tower service.
#[tokio::test]
async fn reqwest_reads_nothing_of_a_response_redirected_elsewhere() {
    let elsewhere = MockSource::start().await.unwrap();
    elsewhere.set_clock_offset(ClockOffset::ahead(TEN_MINUTES));
    let foreign = format!("{}/v1/members/{MEMBER}", elsewhere.base_url());
    let source = support::Recorder::start_redirecting_to(Some(foreign)).await;
    for via_middleware in [true, false] {
        // On a manual clock at the real time, so that the foreign `Date` would
        // be within the bound the estimate applies.
        let clock = source_auth::ManualClock::new(std::time::SystemTime::now());
        let layer = SourceAuthLayer::per_request(TokenSigner::new(common::api_key()))
            .with_clock(clock.clone())
            .base_url(&source.base_url)
            .unwrap();
        let url = source.url("/redirect");
        let before = source.authorizations().len();
        for _ in 0..2 {
            let status = if via_middleware {
                send_middleware(&layer, url.clone(), MemberGrant::member(MEMBER)).await
            } else {
                let client = ServiceBuilder::new()
                    .layer(layer.clone())
                    .service(reqwest::Client::new());
                // reqwest keeps extensions private; its conversion carries them.
                let request = Request::get(&url)
                    .extension(MemberGrant::member(MEMBER))
                    .body(Vec::new())
                    .unwrap();
                let request = reqwest::Request::try_from(request).unwrap();
                client.oneshot(request).await.unwrap().status()
            };
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            // A second later, so that a token minted anew would differ.
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(layer.source_clock().offset(), ClockOffset::ZERO);
        let sent = &source.authorizations()[before..];
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], sent[1], "middleware: {via_middleware}");
    }
}

/// Many tasks and members while Source's clock moves and the key rotates: every
/// token Source accepts was for the member its request asked for, every request
/// succeeds after at most a few 401s, and the counts are reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stress_skew_and_rotation_while_requests_run() {
    const TASKS: usize = 16;
    const MEMBERS: usize = 40;
    const REQUESTS_PER_TASK: usize = 60;
    const ATTEMPTS: usize = 4;

    let mock = MockSource::start().await.unwrap();
    mock.add_api_key(&common::api_key());
    let keys = RotatingKey::new(common::api_key());
    let layer = SourceAuthLayer::per_request(TokenSigner::rotating(keys.clone()))
        .base_url(mock.base_url())
        .unwrap();
    let members: Vec<String> = (0..MEMBERS).map(|n| format!("mem_stress{n:04}")).collect();

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let layer = layer.clone();
            let members = members.clone();
            tokio::spawn(async move {
                let client = ServiceBuilder::new()
                    .layer(layer.clone())
                    .service(hyper_client());
                let mut unauthorized = 0;
                for n in 0..REQUESTS_PER_TASK {
                    let member = &members[(task * 7 + n) % MEMBERS];
                    let url = format!("{}/v1/members/{member}", layer.origin());
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        let request = get_with(&url, MemberGrant::member(member));
                        let status = client.clone().oneshot(request).await.unwrap().status();
                        if status == StatusCode::OK {
                            break;
                        }
                        assert_eq!(status, StatusCode::UNAUTHORIZED);
                        unauthorized += 1;
                        assert!(attempts < ATTEMPTS, "{member}: {attempts} attempts");
                    }
                }
                unauthorized
            })
        })
        .collect();

    // Meanwhile, as requests arrive, Source's clock jumps ahead, the key
    // rotates, the old key is revoked, and Source's clock jumps behind.
    let arrived = |count: usize| {
        let mock = &mock;
        async move {
            while mock.requests().len() < count {
                tokio::task::yield_now().await;
            }
        }
    };
    arrived(150).await;
    mock.set_clock_offset(ClockOffset::ahead(TEN_MINUTES));
    arrived(350).await;
    mock.add_api_key(&other_key());
    keys.rotate(other_key()).unwrap();
    arrived(450).await;
    assert!(mock.revoke_api_key(common::KEY_ID));
    arrived(600).await;
    mock.set_clock_offset(ClockOffset::behind(Duration::from_secs(300)));
    let mut unauthorized = 0;
    for task in tasks {
        unauthorized += task.await.unwrap();
    }

    let requests = mock.requests();
    let mut tokens = std::collections::HashSet::new();
    for request in &requests {
        let asked_for = request.path.rsplit('/').next().unwrap();
        tokens.insert(request.credential.expect("a credential"));
        match &request.outcome {
            Outcome::Authenticated(principal) => {
                assert_eq!(principal.member.as_deref(), Some(asked_for));
            }
            Outcome::Rejected { status, .. } => assert_eq!(*status, StatusCode::UNAUTHORIZED),
            other => panic!("{other:?}"),
        }
    }
    let total = TASKS * REQUESTS_PER_TASK;
    // The record keeps the last MAX_RECORDED_REQUESTS, and counts the rest.
    let dropped = usize::try_from(mock.dropped_requests()).unwrap();
    assert_eq!(requests.len() + dropped, total + unauthorized);
    println!(
        "stress: {total} requests succeeded, {unauthorized} 401s on the way, {} tokens minted, \
         Source's clock learned as {}",
        tokens.len(),
        layer.source_clock().offset()
    );
}

/// No request is lost to skew: with Source's clock 10 minutes ahead or behind,
/// the very first member request after start-up gets Source's answer to a valid
/// token. reqwest-middleware re-sends by itself; hyper-util's client and
/// `reqwest::Client` as a tower service re-send through `tower::retry` with
/// `ResendOnSkew`, outside the layer. Each re-sends exactly once.
#[tokio::test]
async fn the_first_request_after_start_up_survives_ten_minutes_of_skew_on_every_path() {
    use source_auth::resend::ResendOnSkew;
    use tower::retry::RetryLayer;

    for offset in [
        ClockOffset::ahead(TEN_MINUTES),
        ClockOffset::behind(TEN_MINUTES),
    ] {
        for path in ["reqwest-middleware", "hyper", "reqwest tower"] {
            let mock = MockSource::start().await.unwrap();
            mock.add_api_key(&common::api_key());
            mock.set_clock_offset(offset);
            let layer = SourceAuthLayer::per_request(TokenSigner::new(common::api_key()))
                .base_url(mock.base_url())
                .unwrap();
            let url = format!("{}/v1/members/{MEMBER}", layer.origin());
            let grant = MemberGrant::member(MEMBER);
            let resend = RetryLayer::new(ResendOnSkew::new(layer.source_clock().clone()));
            let status = match path {
                "reqwest-middleware" => send_middleware(&layer, url, grant).await,
                "hyper" => {
                    let client = ServiceBuilder::new()
                        .layer(resend)
                        .layer(layer.clone())
                        .service(hyper_client());
                    client
                        .oneshot(get_with(&url, grant))
                        .await
                        .unwrap()
                        .status()
                }
                _ => {
                    let client = ServiceBuilder::new()
                        .layer(resend)
                        .layer(layer.clone())
                        .service(reqwest::Client::new());
                    let mut request = http::Request::get(&url).body(Vec::<u8>::new()).unwrap();
                    request.extensions_mut().insert(grant);
                    let request = reqwest::Request::try_from(request).unwrap();
                    client.oneshot(request).await.unwrap().status()
                }
            };
            assert_eq!(status, StatusCode::OK, "{offset} over {path}");
            let refused_as = if offset.is_ahead() {
                "token_expired"
            } else {
                "invalid_token"
            };
            assert_eq!(
                codes(&mock.requests()),
                [refused_as, "ok"],
                "{offset} over {path}"
            );
        }
    }
}

/// A 401 that is not about the clock (a token Source refused once, for its own
/// reasons) is never re-sent, on any path: the caller gets it.
#[tokio::test]
async fn only_a_refusal_for_the_clock_is_re_sent() {
    use source_auth::resend::ResendOnSkew;
    use tower::retry::RetryLayer;

    for path in ["reqwest-middleware", "hyper"] {
        let mock = MockSource::start().await.unwrap();
        mock.add_api_key(&common::api_key());
        let layer = SourceAuthLayer::per_request(TokenSigner::new(common::api_key()))
            .base_url(mock.base_url())
            .unwrap();
        let url = format!("{}/v1/members/{MEMBER}", layer.origin());
        mock.fail_next(1, StatusCode::UNAUTHORIZED, "invalid_token")
            .unwrap();
        let status = if path == "hyper" {
            let client = ServiceBuilder::new()
                .layer(RetryLayer::new(ResendOnSkew::new(
                    layer.source_clock().clone(),
                )))
                .layer(layer.clone())
                .service(hyper_client());
            let request = get_with(&url, MemberGrant::member(MEMBER));
            client.oneshot(request).await.unwrap().status()
        } else {
            send_middleware(&layer, url, MemberGrant::member(MEMBER)).await
        };
        assert_eq!(status, StatusCode::UNAUTHORIZED, "over {path}");
        assert_eq!(mock.requests().len(), 1, "over {path}");
    }
}

/// One call at start-up learns Source's clock with no credential, so that the
/// first member request is already signed on it: over hyper-util with no retry
/// layer, and over reqwest-middleware. The probe carries no credential even
/// through a layer built from the API key.
#[tokio::test]
async fn priming_learns_sources_clock_before_the_first_member_request() {
    for offset in [
        ClockOffset::ahead(TEN_MINUTES),
        ClockOffset::behind(TEN_MINUTES),
    ] {
        for via_middleware in [false, true] {
            let mock = MockSource::start().await.unwrap();
            mock.add_api_key(&common::api_key());
            mock.set_clock_offset(offset);
            let layer = SourceAuthLayer::new(common::api_key())
                .base_url(mock.base_url())
                .unwrap();
            let bound = if via_middleware {
                let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                    .with(layer.clone())
                    .build();
                layer.prime_middleware(&client).await.unwrap()
            } else {
                let client = ServiceBuilder::new()
                    .layer(layer.clone())
                    .service(hyper_client());
                layer.prime(client).await.unwrap()
            };
            assert!(bound.contains(offset), "{bound} for {offset}");
            let url = format!("{}/v1/members/{MEMBER}", layer.origin());
            let status = send(via_middleware, &layer, url, MemberGrant::member(MEMBER)).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{offset}, middleware: {via_middleware}"
            );
            let requests = mock.requests();
            assert_eq!(codes(&requests), ["missing_authorization", "ok"]);
            assert!(
                requests[0].credential.is_none(),
                "the probe sent a credential"
            );
        }
    }
}

/// A probe whose answer teaches nothing (no `Date`) fails loudly.
#[tokio::test]
async fn a_probe_that_teaches_nothing_is_an_error() {
    let layer = SourceAuthLayer::new(common::api_key());
    let undated = tower::service_fn(|_: Request<()>| async {
        Ok::<_, std::convert::Infallible>(Response::new(()))
    });
    let client = ServiceBuilder::new().layer(layer.clone()).service(undated);
    let error = layer.prime(client).await.unwrap_err();
    let error = error
        .downcast_ref::<source_auth::Error>()
        .expect("the crate's error");
    assert_eq!(error.kind(), source_auth::ErrorKind::ClockNotLearned);
}

/// The README's first way: the extractor's signer signs a `MemberToken` and the
/// app sends it through a layer built from a clone of that signer. Source's
/// 401 to that token teaches the signer's estimate, so the next token it signs
/// is accepted.
#[tokio::test]
async fn a_signer_learns_from_the_answers_to_its_own_tokens() {
    let mock = MockSource::start().await.unwrap();
    mock.add_api_key(&common::api_key());
    mock.set_clock_offset(ClockOffset::ahead(TEN_MINUTES));
    let signer = TokenSigner::new(common::api_key());
    let layer = SourceAuthLayer::per_request(signer.clone())
        .base_url(mock.base_url())
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(hyper_client());
    let url = format!("{}/v1/members/{MEMBER}", layer.origin());
    let grant = MemberGrant::member(MEMBER);
    let first = signer.sign(&grant).unwrap();
    let response = client.clone().oneshot(get_with(&url, first)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        signer
            .source_clock()
            .bound()
            .contains(ClockOffset::ahead(TEN_MINUTES))
    );
    let second = signer.sign(&grant).unwrap();
    let response = client.oneshot(get_with(&url, second)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// tower-http 0.6's `FollowRedirect` (the version reqwest 0.13 depends on)
/// inside the layer: a foreign host Source redirects to, answering 401 with a
/// `Date` ten minutes off, moves nothing and retires nothing.
#[tokio::test]
async fn a_foreign_host_behind_tower_http_06_redirects_is_not_read() {
    use std::sync::{Arc, Mutex};
    let clock = common::clock();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let now = clock.clone();
    let network = tower::service_fn(move |request: Request<Empty<Bytes>>| {
        let (log, now) = (log.clone(), now.clone());
        async move {
            let host = request.uri().host().unwrap_or_default().to_owned();
            let auth = request.headers().get(http::header::AUTHORIZATION).cloned();
            let token = auth.map(|value| value.to_str().unwrap().len().to_string());
            log.lock()
                .unwrap()
                .push(format!("{host} {}", token.is_some()));
            if let Some(value) = request.headers().get(http::header::AUTHORIZATION) {
                log.lock().unwrap().push(value.to_str().unwrap().to_owned());
            }
            let mut response = Response::new(Empty::<Bytes>::new());
            if host == "api.sourcehealth.com" {
                *response.status_mut() = StatusCode::FOUND;
                response.headers_mut().insert(
                    http::header::LOCATION,
                    "https://elsewhere.example/v1/x".parse().unwrap(),
                );
            } else {
                *response.status_mut() = StatusCode::UNAUTHORIZED;
            }
            let date = httpdate::fmt_http_date(now.now() + TEN_MINUTES);
            response
                .headers_mut()
                .insert(http::header::DATE, date.parse().unwrap());
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let layer =
        SourceAuthLayer::per_request(TokenSigner::new(common::api_key())).with_clock(clock.clone());
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .layer(tower_http_06::follow_redirect::FollowRedirectLayer::new())
        .service(network);
    let url = "https://api.sourcehealth.com/v1/members";
    for _ in 0..2 {
        let response = client
            .clone()
            .oneshot(get_with(url, MemberGrant::member(MEMBER)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(!layer.source_clock().is_sampled());
    // The foreign host never got the token, and the one sent to Source was not
    // retired by the foreign 401: the second request sent the same token.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 6, "two hops each, and the token sent to Source");
    assert_eq!(
        [&seen[0], &seen[2], &seen[3], &seen[5]],
        [
            "api.sourcehealth.com true",
            "elsewhere.example false",
            "api.sourcehealth.com true",
            "elsewhere.example false"
        ]
    );
    assert_eq!(
        seen[1], seen[4],
        "the token Source got was retired by a foreign 401"
    );
}
