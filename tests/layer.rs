//! The layer's header logic, on `tower::service_fn` the way tower-http tests its
//! middleware: which credential each request gets, precedence, sensitivity,
//! overrides, the grant cache and refresh. Real clients and redirects are in
//! `layer_hyper.rs` and `layer_reqwest.rs`.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{SECRET, api_key, bearer_claims, clock};
use http::header::{ACCEPT, AUTHORIZATION};
use http::{HeaderMap, Request, Response};
use source_auth::{
    Clock, Error, ErrorKind, ManualClock, MemberClaims, MemberGrant, MemberToken, SourceAuthLayer,
    TokenSigner, UserToken,
};
use tower::{Layer, ServiceExt, service_fn};

const URL: &str = "https://api.sourcehealth.com/v1/members";
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Sends `request` through `layer` to a service that answers with the headers it got.
async fn headers_sent(layer: &SourceAuthLayer, request: Request<()>) -> Result<HeaderMap, Error> {
    let echo = service_fn(|request: Request<()>| async move {
        Ok::<_, Infallible>(Response::new(request.headers().clone()))
    });
    match layer.layer(echo).oneshot(request).await {
        Ok(response) => Ok(response.into_body()),
        Err(error) => Err(*error.downcast::<Error>().expect("a source_auth::Error")),
    }
}

/// The `Authorization` a request with `extension` (if any) goes out with.
async fn authorization(
    layer: &SourceAuthLayer,
    extension: Option<impl Clone + Send + Sync + 'static>,
) -> Result<String, Error> {
    let mut request = Request::get(URL).body(()).unwrap();
    if let Some(extension) = extension {
        request.extensions_mut().insert(extension);
    }
    let headers = headers_sent(layer, request).await?;
    Ok(headers[AUTHORIZATION].to_str().unwrap().to_owned())
}

/// The claims of the member token a request carrying `grant` goes out with.
async fn claims_for(
    layer: &SourceAuthLayer,
    clock: &ManualClock,
    grant: MemberGrant,
) -> MemberClaims {
    let sent = authorization(layer, Some(grant)).await.expect("authorized");
    bearer_claims(clock, &sent)
}

fn key_layer(clock: &ManualClock) -> SourceAuthLayer {
    SourceAuthLayer::api_key(api_key()).with_clock(clock.clone())
}

fn signer(clock: &ManualClock) -> TokenSigner {
    TokenSigner::new(api_key()).with_clock(clock.clone())
}

const NO_EXTENSION: Option<()> = None;

#[tokio::test]
async fn each_credential_sets_its_headers_all_sensitive() {
    let clock = clock();
    let token = signer(&clock).sign(&MemberGrant::member("mem_2")).unwrap();
    let basic = format!("Basic {}", STANDARD.encode(format!("{SECRET}:")));
    let cases = [
        (
            SourceAuthLayer::api_key(api_key()),
            Some(format!("Bearer {SECRET}")),
            None,
        ),
        (SourceAuthLayer::api_key_basic(api_key()), Some(basic), None),
        (
            SourceAuthLayer::user_token(UserToken::new("ut_abc").unwrap()),
            Some("Bearer ut_abc".to_owned()),
            Some("true"),
        ),
        (
            SourceAuthLayer::user_token(UserToken::new("ut_abc").unwrap().live_mode(false)),
            Some("Bearer ut_abc".to_owned()),
            Some("false"),
        ),
        (
            SourceAuthLayer::member_token(token.clone()).with_clock(clock.clone()),
            Some(format!("Bearer {}", token.as_str())),
            None,
        ),
        (
            SourceAuthLayer::member(signer(&clock), MemberGrant::member("mem_1")).unwrap(),
            None,
            None,
        ),
    ];
    for (layer, expected, live_mode) in cases {
        let headers = headers_sent(&layer, Request::get(URL).body(()).unwrap())
            .await
            .unwrap();
        let sent = &headers[AUTHORIZATION];
        match expected {
            Some(expected) => assert_eq!(sent, expected.as_str()),
            None => assert_eq!(bearer_claims(&clock, sent.to_str().unwrap()).sub, "mem_1"),
        }
        assert_eq!(
            headers.get("source-live-mode").map(|v| v.to_str().unwrap()),
            live_mode
        );
        assert!(
            headers.values().all(|value| value.is_sensitive()),
            "{layer:?}"
        );
    }
}

/// What a request went out with, or the kind of error that kept it in.
#[derive(Debug, PartialEq)]
enum Sent {
    Nothing,
    Header(String),
    Member(String),
    Refused(ErrorKind),
}

/// The precedence table of the README and the `layer` docs, row by row.
#[tokio::test]
async fn precedence_table() {
    let clock = clock();
    let layer = key_layer(&clock);
    let send = async |url: &str, callers_header: bool, token: bool, grant: bool| {
        // Headers of the caller's own other than `Authorization` change nothing.
        let mut request = Request::get(url)
            .header(ACCEPT, "application/json")
            .body(())
            .unwrap();
        if callers_header {
            request
                .headers_mut()
                .insert(AUTHORIZATION, "Bearer mine".parse().unwrap());
        }
        if token {
            request.extensions_mut().insert(self::token(&clock));
        }
        if grant {
            request
                .extensions_mut()
                .insert(MemberGrant::member("mem_kid1").caregiver("mem_mom1"));
        }
        match headers_sent(&layer, request).await {
            Err(error) => Sent::Refused(error.kind()),
            Ok(headers) => match headers.get(AUTHORIZATION) {
                None => Sent::Nothing,
                Some(value) if value == "Bearer mine" => {
                    assert!(
                        !value.is_sensitive(),
                        "the caller's header is left as it was"
                    );
                    Sent::Header("mine".into())
                }
                Some(value) if value == format!("Bearer {SECRET}").as_str() => {
                    Sent::Header("default".into())
                }
                Some(value) => Sent::Member(bearer_claims(&clock, value.to_str().unwrap()).sub),
            },
        }
    };
    const ELSEWHERE: &str = "https://example.com/v1";
    const USERINFO: &str = "https://user@api.sourcehealth.com/v1";
    use ErrorKind::{ConflictingCredentials as Conflict, NotSourceOrigin};
    // (url, caller's header, token, grant) => what went out
    let rows = [
        ((URL, false, false, false), Sent::Header("default".into())),
        ((URL, true, false, false), Sent::Header("mine".into())),
        ((URL, false, true, false), Sent::Member("mem_tok1".into())),
        ((URL, false, false, true), Sent::Member("mem_kid1".into())),
        ((URL, true, true, false), Sent::Refused(Conflict)),
        ((URL, true, false, true), Sent::Refused(Conflict)),
        ((URL, false, true, true), Sent::Refused(Conflict)),
        ((ELSEWHERE, false, false, false), Sent::Nothing),
        ((ELSEWHERE, true, false, false), Sent::Header("mine".into())),
        (
            (ELSEWHERE, false, true, false),
            Sent::Refused(NotSourceOrigin),
        ),
        (
            (ELSEWHERE, false, false, true),
            Sent::Refused(NotSourceOrigin),
        ),
        (
            (ELSEWHERE, true, false, true),
            Sent::Refused(NotSourceOrigin),
        ),
        ((USERINFO, false, false, false), Sent::Nothing),
        ((USERINFO, false, false, true), Sent::Refused(Conflict)),
        ((USERINFO, false, true, false), Sent::Refused(Conflict)),
    ];
    for ((url, callers_header, token, grant), expected) in rows {
        assert_eq!(
            send(url, callers_header, token, grant).await,
            expected,
            "{url} header={callers_header} token={token} grant={grant}"
        );
    }
}

/// A member token for `mem_tok1`.
fn token(clock: &ManualClock) -> MemberToken {
    signer(clock)
        .sign(&MemberGrant::member("mem_tok1"))
        .unwrap()
}

#[tokio::test]
async fn a_request_that_asks_for_a_credential_gets_it_or_nothing() {
    let clock = clock();
    let layer = key_layer(&clock);
    let expired = signer(&clock)
        .sign(&MemberGrant::member("mem_1").ttl(MINUTE))
        .unwrap();
    clock.advance(2 * MINUTE);
    assert_eq!(
        authorization(&layer, Some(expired))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Expired
    );
    for (grant, kind) in [
        (
            MemberGrant::member("not-a-member"),
            ErrorKind::InvalidMemberId,
        ),
        (
            MemberGrant::member("mem_1").caregiver("mem_1"),
            ErrorKind::ActorIsSubject,
        ),
        (
            MemberGrant::member("mem_1").ttl(25 * HOUR),
            ErrorKind::InvalidExpiry,
        ),
        (
            MemberGrant::member("mem_1").scopes(vec!["s"; 33]),
            ErrorKind::InvalidScope,
        ),
    ] {
        assert_eq!(
            authorization(&layer, Some(grant)).await.unwrap_err().kind(),
            kind
        );
    }
    // No key to sign with, and no default at all: refused, each with its own kind.
    let user = SourceAuthLayer::user_token(UserToken::new("ut_abc").unwrap());
    let grant = Some(MemberGrant::member("mem_1"));
    assert_eq!(
        authorization(&user, grant).await.unwrap_err().kind(),
        ErrorKind::MissingSigner
    );
    let only = SourceAuthLayer::per_request(signer(&clock));
    assert_eq!(
        authorization(&only, NO_EXTENSION).await.unwrap_err().kind(),
        ErrorKind::MissingCredential
    );
}

#[tokio::test]
async fn a_cached_token_never_outlives_the_grant_that_asks_for_it() {
    let clock = clock();
    let layer = key_layer(&clock);
    let now = common::NOW;
    let day = claims_for(&layer, &clock, MemberGrant::member("mem_1").ttl(24 * HOUR)).await;
    assert_eq!(day.exp, now + 24 * 3600);
    let minute = claims_for(&layer, &clock, MemberGrant::member("mem_1").ttl(MINUTE)).await;
    assert_eq!(minute.exp, now + 60);
    let at = clock.now() + 10 * MINUTE;
    let fixed = claims_for(&layer, &clock, MemberGrant::member("mem_1").expires_at(at)).await;
    assert!(fixed.exp <= now + 600);
}

#[tokio::test]
async fn no_grant_wedges_the_cache_for_the_next_one() {
    let clock = clock();
    let layer = key_layer(&clock);
    let soon = clock.now() + 2 * MINUTE;
    claims_for(
        &layer,
        &clock,
        MemberGrant::member("mem_1").expires_at(soon),
    )
    .await;
    clock.advance(3 * MINUTE);
    // That grant's time has passed: it is refused, and the next one is not.
    let stale = Some(MemberGrant::member("mem_1").expires_at(soon));
    assert_eq!(
        authorization(&layer, stale).await.unwrap_err().kind(),
        ErrorKind::InvalidExpiry
    );
    let fresh = claims_for(&layer, &clock, MemberGrant::member("mem_1")).await;
    assert_eq!(fresh.exp, common::NOW + 180 + 300);

    // Grants that can never be signed leave nothing behind for their member.
    for bad in [
        MemberGrant::member("mem_2").ttl(25 * HOUR),
        MemberGrant::member("mem_2").ttl(Duration::ZERO),
    ] {
        assert_eq!(
            authorization(&layer, Some(bad)).await.unwrap_err().kind(),
            ErrorKind::InvalidExpiry
        );
    }
    assert_eq!(
        claims_for(&layer, &clock, MemberGrant::member("mem_2"))
            .await
            .sub,
        "mem_2"
    );
}

#[tokio::test]
async fn per_request_grants_are_cached_per_subject_actor_and_scopes() {
    let clock = clock();
    let layer = key_layer(&clock);
    let grants = [
        MemberGrant::member("mem_1"),
        MemberGrant::member("mem_1").caregiver("mem_2"),
        MemberGrant::member("mem_1").scopes(["read"]),
    ];
    let mut first = Vec::new();
    for grant in &grants {
        first.push(authorization(&layer, Some(grant.clone())).await.unwrap());
    }
    clock.advance(Duration::from_secs(10));
    for (grant, first) in grants.iter().zip(&first) {
        assert_eq!(
            &authorization(&layer, Some(grant.clone())).await.unwrap(),
            first
        );
    }
    assert_ne!(first[0], first[1]);
    assert_ne!(first[0], first[2]);
    assert_ne!(first[1], first[2]);
}

#[tokio::test]
async fn the_layers_member_token_is_refreshed_before_it_expires() {
    let clock = clock();
    let layer =
        SourceAuthLayer::member(signer(&clock), MemberGrant::member("mem_1").ttl(5 * MINUTE))
            .unwrap()
            .refresh_margin(MINUTE);
    let first = authorization(&layer, NO_EXTENSION).await.unwrap();
    clock.advance(4 * MINUTE - Duration::from_secs(1));
    assert_eq!(authorization(&layer, NO_EXTENSION).await.unwrap(), first);
    clock.advance(Duration::from_secs(1));
    let second = authorization(&layer, NO_EXTENSION).await.unwrap();
    assert_ne!(second, first);
    assert_eq!(bearer_claims(&clock, &second).iat, common::NOW + 240);
}

#[tokio::test]
async fn a_ready_made_token_is_refused_once_expired() {
    let clock = clock();
    let token: MemberToken = signer(&clock)
        .sign(&MemberGrant::member("mem_1").ttl(MINUTE))
        .unwrap();
    let layer = SourceAuthLayer::member_token(token).with_clock(clock.clone());
    assert!(authorization(&layer, NO_EXTENSION).await.is_ok());
    clock.advance(MINUTE);
    assert_eq!(
        authorization(&layer, NO_EXTENSION)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Expired
    );
}

#[test]
fn debug_names_the_credential_kind_and_origin_never_the_secret() {
    let layer = SourceAuthLayer::api_key(api_key())
        .base_url("https://source.example:8443")
        .unwrap();
    let debug = format!("{layer:?}");
    assert!(
        debug.contains("api key") && debug.contains("source.example"),
        "{debug}"
    );
    assert!(!debug.contains(SECRET), "{debug}");
}

/// As tower-http's futures do, a response future polled again after it finished
/// panics with a clear message rather than invent an error.
#[test]
#[should_panic(expected = "`ResponseFuture` polled after completion")]
fn a_finished_future_polled_again_panics() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    use tower::Service;

    let echo = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let mut service = SourceAuthLayer::per_request(signer(&clock())).layer(echo);
    let mut future = Box::pin(service.call(Request::get(URL).body(()).unwrap()));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(future.as_mut().poll(&mut cx), Poll::Ready(Err(_))));
    let _ = future.as_mut().poll(&mut cx);
}

/// An inner service that is not ready keeps the layer from being ready, and one
/// that fails to get ready fails it: backpressure passes through untouched.
#[test]
fn readiness_is_the_inner_services() {
    use std::task::{Context, Poll, Waker};
    use tower::Service;

    struct Readiness(Poll<Result<(), &'static str>>);
    impl Service<Request<()>> for Readiness {
        type Response = Response<()>;
        type Error = &'static str;
        type Future = std::future::Ready<Result<Response<()>, &'static str>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.0
        }
        fn call(&mut self, _: Request<()>) -> Self::Future {
            std::future::ready(Ok(Response::new(())))
        }
    }

    let mut cx = Context::from_waker(Waker::noop());
    let layer = SourceAuthLayer::api_key(api_key());
    assert!(
        layer
            .layer(Readiness(Poll::Pending))
            .poll_ready(&mut cx)
            .is_pending()
    );
    let failed = layer
        .layer(Readiness(Poll::Ready(Err("down"))))
        .poll_ready(&mut cx);
    assert!(matches!(failed, Poll::Ready(Err(error)) if error.to_string() == "down"));
    let ready = layer
        .layer(Readiness(Poll::Ready(Ok(()))))
        .poll_ready(&mut cx);
    assert!(matches!(ready, Poll::Ready(Ok(()))));
}

/// `Debug` of the response future says whether the request was sent or refused,
/// and never shows the credential or the refusal's input.
#[tokio::test]
async fn the_response_futures_debug_says_sent_or_refused() {
    use tower::Service;

    let echo = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let mut service = SourceAuthLayer::api_key(api_key()).layer(echo);
    let sent = service.call(Request::get(URL).body(()).unwrap());
    let debug = format!("{sent:?}");
    assert_eq!(debug, r#"ResponseFuture { state: "sent" }"#);
    let mut request = Request::get(URL).body(()).unwrap();
    request
        .extensions_mut()
        .insert(MemberGrant::member("not a member"));
    let refused = service.call(request);
    assert_eq!(
        format!("{refused:?}"),
        r#"ResponseFuture { state: "refused" }"#
    );
    assert!(refused.await.is_err() && sent.await.is_ok());
}
