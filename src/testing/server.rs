//! `MockSource`: the loopback server and the handle tests hold.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use http::{Method, StatusCode};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::clock::{Clock, SystemClock};
use crate::credential::{ApiKey, UserToken};
use crate::error::Result;
use crate::member::MemberGrant;
use crate::skew::ClockOffset;

use super::canned::{CannedResponse, check_status};
use super::expect::VerifyError;
use super::failure::FailNext;
use super::handler::{Observer, Shared, answer};
use super::record::{RecordedRequest, TokenFingerprint};
use super::registry::{Registry, Relationship, RelationshipStatus};

/// A Source API stand-in on `127.0.0.1`, for tests.
///
/// It authenticates every request the way Source does, whatever its method, then
/// answers with the [canned response](Self::respond) registered for its method and
/// path, or, for any other `GET /v1/…`, with 200 and the
/// [`Principal`](super::Principal) as JSON; failures get Source's error body. Register credentials at any time, even
/// while requests are in flight. Dropping it stops the server and closes its
/// connections; then, unless [`verify`](Self::verify) was called, an unmet
/// [expectation](CannedResponse::expect) makes it panic. `Debug` shows key ids but no secret.
///
/// ```
/// use source_auth::ApiKey;
/// use source_auth::testing::{MockSource, Relationship, RelationshipStatus};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = MockSource::start().await?;
/// assert!(mock.base_url().starts_with("http://127.0.0.1:"));
///
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// mock.add_api_key(&key);
/// mock.set_relationship(Relationship { member: "mem_patient1", caregiver: "mem_parent1" }, RelationshipStatus::Active)?;
/// assert!(!format!("{mock:?}").contains("sk_test_4eC39"));
/// assert!(mock.requests().is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MockSource {
    base_url: String,
    local_addr: SocketAddr,
    pub(super) shared: Arc<Shared>,
    server: JoinHandle<()>,
    /// Whether [`verify`](Self::verify) was called, so dropping does not verify again.
    verified: AtomicBool,
}

impl MockSource {
    /// Starts a server on an ephemeral port of `127.0.0.1`, on the current Tokio
    /// runtime, reading the system clock.
    pub async fn start() -> io::Result<Self> {
        Self::start_on(0).await
    }

    /// Starts a server on `port` of `127.0.0.1` (0 for any free port), as
    /// [`start`](Self::start) does; fails when the port is taken.
    ///
    /// ```
    /// use source_auth::testing::MockSource;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// // A port that was free a moment ago, as a test suite might pick it.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let mock = MockSource::start_on(port).await?;
    /// assert_eq!(mock.base_url(), format!("http://127.0.0.1:{port}"));
    /// // Taken now: a second mock cannot have it.
    /// assert!(MockSource::start_on(port).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_on(port: u16) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(Registry::new(Arc::new(SystemClock))));
        let router = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        Ok(Self {
            base_url: format!("http://{local_addr}"),
            local_addr,
            shared,
            server: tokio::spawn(serve(listener, router)),
            verified: AtomicBool::new(false),
        })
    }

    /// Turns on the control API: under `/__mock/`, what a test does through
    /// this handle, over HTTP with JSON, for tests in any language (the
    /// `testing` module's docs list the endpoints; `source-auth mock` has it on).
    ///
    /// It is the one exception to "checks credentials on every method and
    /// path": it needs no Source credential, so it answers only requests whose
    /// `Host` is `localhost` or a loopback address (a page elsewhere that rebinds
    /// its name to 127.0.0.1 gets 403 `host_not_loopback`). Its requests are not
    /// recorded and do not count toward [`fail_next`](Self::fail_next). Off by
    /// default: then `/__mock/` is a path like any other.
    ///
    /// ```
    /// use source_auth::testing::MockSource;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = MockSource::start().await?.with_control_api();
    /// let mut stream = tokio::net::TcpStream::connect(mock.local_addr()).await?;
    /// let body = r#"{"method":"GET","path":"/v1/members/mem_abc","expect":1}"#;
    /// let request = format!(
    ///     "POST /__mock/responses HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
    ///     body.len()
    /// );
    /// stream.write_all(request.as_bytes()).await?;
    /// let mut response = String::new();
    /// stream.read_to_string(&mut response).await?;
    /// assert!(response.starts_with("HTTP/1.1 200"));
    /// assert_eq!(mock.unused_responses().len(), 1);
    /// assert!(mock.requests().is_empty());
    /// # assert!(mock.verify().is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_control_api(self) -> Self {
        self.shared.enable_control_api();
        self
    }

    /// Reads the time from `clock` from now on, as `TokenSigner::with_clock` and
    /// the layer's `with_clock` do: member tokens are checked, and application
    /// tokens dated, against it. Share a `ManualClock` with the signer so a test can
    /// step past `exp`: `MockSource::start().await?.with_clock(clock.clone())`.
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.shared.registry_mut().set_clock(Arc::new(clock));
        self
    }

    /// Runs the mock's clock `offset` away from the clock it reads (the system
    /// clock, or the one from [`with_clock`](Self::with_clock)), as a Source whose
    /// clock is off from the client's; replaces any offset set before.
    ///
    /// Every response's `Date` header shows that time; member tokens' `exp` and
    /// `iat` are checked, and application tokens dated, against it.
    pub fn set_clock_offset(&self, offset: ClockOffset) {
        self.shared.registry_mut().set_clock_offset(offset);
    }

    /// `http://127.0.0.1:<port>`, with no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Accepts `key` as Bearer or Basic, and member tokens it signed (by `kid`).
    /// Replaces a key with the same id. Live mode follows the key's prefix.
    pub fn add_api_key(&self, key: &ApiKey) {
        self.shared.registry_mut().add_api_key(key);
    }

    /// Revokes the API key `key_id` (`key_…`), as a key revoked at Source: from
    /// now on its secret gets 401 `invalid_api_key` and member tokens it signed get
    /// 401 `unknown_key`, as if it had never been added. [`add_api_key`](Self::add_api_key)
    /// with the key accepts it again. Returns whether such a key was registered.
    ///
    /// Named by id, as Source names a key, so a test that knows only the `kid` of
    /// a token or a [`Principal::key_id`](super::Principal::key_id) can revoke it.
    pub fn revoke_api_key(&self, key_id: &str) -> bool {
        self.shared.registry_mut().revoke_api_key(key_id)
    }

    /// Accepts `token` as Bearer. Live mode comes from each request's
    /// `Source-Live-Mode` header, as at Source, not from the token's setting.
    pub fn add_user_token(&self, token: &UserToken) {
        self.shared.registry_mut().add_user_token(token);
    }

    /// Records whether the relationship's caregiver may act for its member:
    /// caregiver tokens (`sub` = member, `act` = caregiver) get 403 unless the pair
    /// is active.
    ///
    /// Fails when either id is not a member id, or they are the same member.
    pub fn set_relationship(
        &self,
        relationship: Relationship<'_>,
        status: RelationshipStatus,
    ) -> Result<()> {
        self.shared.set_relationship(relationship, status)
    }

    /// Answers authorized `method` requests for exactly `path` with `response`,
    /// replacing any response registered for them before, and with it its
    /// [expectation](CannedResponse::expect) and the count of requests it was
    /// served: only the new response's expectation is verified, counted from
    /// now.
    ///
    /// The credential is checked first, as for every request, so an
    /// unauthenticated request still gets 401. A principal the response is not
    /// [for](CannedResponse::only_for) gets 403 `principal_not_allowed`. `path`
    /// matches the request's path exactly (no prefix, no trailing-slash
    /// folding); the request's query string is not matched, only recorded
    /// ([`RecordedRequest::query`]). Fails with [`ErrorKind::InvalidPath`] for a
    /// path that does not start with `/` or holds a `?` or `#`, and with
    /// [`ErrorKind::InvalidStatus`] for a status other than 200 to 599 or one of
    /// 204 and 304, which carry no body.
    ///
    /// [`ErrorKind::InvalidPath`]: crate::ErrorKind::InvalidPath
    /// [`ErrorKind::InvalidStatus`]: crate::ErrorKind::InvalidStatus
    ///
    /// ```
    /// use http::{Method, StatusCode};
    /// use serde_json::json;
    /// use source_auth::testing::{Audience, CannedResponse, MockSource};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = MockSource::start().await?;
    /// mock.respond(
    ///     Method::POST,
    ///     "/v1/appointments",
    ///     CannedResponse::json(json!({"object": "appointment", "id": "apt_1"}))
    ///         .with_status(StatusCode::CREATED)
    ///         .only_for(Audience::Member("mem_abc".into())),
    /// )?;
    /// assert!(mock.respond(Method::GET, "/v1/members?limit=1", CannedResponse::json(json!([]))).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn respond(&self, method: Method, path: &str, response: CannedResponse) -> Result<()> {
        self.shared.responses_mut().insert(method, path, response)
    }

    /// Fails the next `n` requests to arrive, whatever their method, path and
    /// credential, with `status` and Source's error body with `code`; replaces
    /// any failures still owed (`n` = 0 cancels them).
    ///
    /// The failure comes before the credential is checked, as a Source that is
    /// down answers. `status` is sent as given, so give a 4xx or 5xx; the error
    /// `type` follows it: `authentication_error` for 401, `authorization_error`
    /// for 403, `invalid_request_error` for other 4xx, `api_error` otherwise. Each
    /// failed request is recorded, with [`Outcome::Injected`](super::Outcome::Injected)
    /// and a fingerprint of its credential, if it had one. Requests to the
    /// [control API](Self::with_control_api) are not failed and not counted.
    ///
    /// Fails with [`ErrorKind::InvalidStatus`](crate::ErrorKind::InvalidStatus),
    /// changing nothing, for a status that carries no body (below 200, 204, 304)
    /// or above 599.
    pub fn fail_next(&self, n: usize, status: StatusCode, code: &str) -> Result<()> {
        self.shared.fail_next(n, status, code)
    }

    /// Calls `observer` with each request as it is recorded, after MockSource
    /// decided its answer and before it is sent; replaces any observer set before.
    ///
    /// It runs on the server's task, so keep it quick: print a log line, or send
    /// the request down a channel. Like [`requests`](Self::requests), it never
    /// sees a credential.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use source_auth::testing::MockSource;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = MockSource::start().await?;
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let lines = Arc::clone(&log);
    /// mock.on_request(move |request| {
    ///     let line = format!("{} {} {}", request.method, request.path, request.status.as_u16());
    ///     lines.lock().unwrap().push(line);
    /// });
    ///
    /// let mut stream = tokio::net::TcpStream::connect(mock.local_addr()).await?;
    /// stream.write_all(b"DELETE /v1/members/mem_abc HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n\r\n").await?;
    /// stream.read_to_end(&mut Vec::new()).await?;
    /// assert_eq!(*log.lock().unwrap(), ["DELETE /v1/members/mem_abc 401"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_request(&self, observer: impl Fn(&RecordedRequest) + Send + Sync + 'static) {
        self.shared.set_observer(Observer(Arc::new(observer)));
    }

    /// The requests received so far, oldest first: the last
    /// [`MAX_RECORDED_REQUESTS`](super::MAX_RECORDED_REQUESTS) of them, since
    /// older ones are dropped to keep memory bounded
    /// ([`dropped_requests`](Self::dropped_requests) counts them). Requests to
    /// the [control API](Self::with_control_api) are not recorded.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// How many of the oldest requests were dropped from
    /// [`requests`](Self::requests) to keep to its cap.
    pub fn dropped_requests(&self) -> u64 {
        self.shared.dropped_requests()
    }

    /// The canned responses that no request was served, as method and path,
    /// sorted by path: a typo in a registered path, or a trailing slash, shows
    /// up here.
    ///
    /// ```
    /// use http::Method;
    /// use serde_json::json;
    /// use source_auth::testing::{CannedResponse, MockSource};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = MockSource::start().await?;
    /// mock.respond(Method::GET, "/v1/member/mem_abc", CannedResponse::json(json!({})))?;
    /// assert_eq!(mock.unused_responses(), [(Method::GET, "/v1/member/mem_abc".to_owned())]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn unused_responses(&self) -> Vec<(Method, String)> {
        self.shared.unused_responses()
    }

    /// Checks every [expectation](CannedResponse::expect): an error listing each
    /// one unmet, with the requests that came closest (the same path with
    /// another method; the same method with a path that differs by a trailing
    /// slash, by case, or in one segment; and the same route refused). The
    /// closest requests are judged from the first 1,024 distinct methods and
    /// paths requested (later ones still count for routes already known, so
    /// memory stays bounded), even once the requests themselves were dropped
    /// from the record.
    ///
    /// A mock dropped with unmet expectations panics with the same list, as
    /// wiremock's does, unless `verify` was called or the thread is already
    /// panicking.
    ///
    /// ```
    /// use http::Method;
    /// use serde_json::json;
    /// use source_auth::testing::{CannedResponse, MockSource};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = MockSource::start().await?;
    /// mock.respond(Method::GET, "/v1/member/mem_abc", CannedResponse::json(json!({})).expect(1))?;
    /// // ... the app under test asks for /v1/members/mem_abc instead ...
    /// let err = mock.verify().unwrap_err();
    /// assert_eq!(err.unmet()[0].served, 0);
    /// assert!(err.to_string().contains("GET /v1/member/mem_abc: expected exactly 1, served 0"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn verify(&self) -> std::result::Result<(), VerifyError> {
        self.verified.store(true, Ordering::Relaxed);
        self.shared.verify()
    }

    /// The fingerprint this mock records for `credential`, to find a known token
    /// among [`requests`](Self::requests).
    pub fn fingerprint(&self, credential: &str) -> TokenFingerprint {
        self.shared.fingerprint(credential)
    }
}

impl Drop for MockSource {
    fn drop(&mut self) {
        // Dropping the task drops the listener and every connection with it.
        self.server.abort();
        if self.verified.load(Ordering::Relaxed) || std::thread::panicking() {
            return;
        }
        if let Err(err) = self.shared.verify() {
            panic!("{err}");
        }
    }
}

/// What the handle and the control API both change, checked the same way.
impl Shared {
    pub(crate) fn set_relationship(
        &self,
        relationship: Relationship<'_>,
        status: RelationshipStatus,
    ) -> Result<()> {
        MemberGrant::member(relationship.member)
            .caregiver(relationship.caregiver)
            .validate()?;
        self.registry_mut().set_relationship(relationship, status);
        Ok(())
    }

    pub(crate) fn fail_next(&self, n: usize, status: StatusCode, code: &str) -> Result<()> {
        self.set_fail_next(FailNext::new(n, check_status(status)?, code));
        Ok(())
    }
}

/// Accepts connections until aborted. Each is served on its own task, owned here
/// so that aborting this one closes them all (axum's `serve` would detach them).
async fn serve(listener: TcpListener, router: Router) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // An accept error concerns one attempt (a peer that gave up, or a
            // momentary lack of file descriptors); let others run, then retry.
            tokio::task::yield_now().await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        let service = TowerToHyperService::new(router.clone());
        connections.spawn(async move {
            // A broken connection is its client's to see; the server carries on.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
