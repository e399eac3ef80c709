//! `MockSource`: the loopback server and the handle tests hold.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

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

use super::canned::CannedResponse;
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
/// connections. `Debug` shows key ids but no secret.
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
        })
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
        MemberGrant::member(relationship.member)
            .caregiver(relationship.caregiver)
            .validate()?;
        self.shared
            .registry_mut()
            .set_relationship(relationship, status);
        Ok(())
    }

    /// Answers authorized `method` requests for exactly `path` with `response`,
    /// replacing any response registered for them before.
    ///
    /// The credential is checked first, as for every request, so an
    /// unauthenticated request still gets 401. A principal the response is not
    /// [for](CannedResponse::only_for) gets 403 `principal_not_allowed`. `path`
    /// matches the request's path exactly (no prefix, no trailing-slash
    /// folding); the request's query string is not matched, only recorded
    /// ([`RecordedRequest::query`]). Fails with [`ErrorKind::InvalidPath`] for a
    /// path that does not start with `/` or holds a `?` or `#`.
    ///
    /// [`ErrorKind::InvalidPath`]: crate::ErrorKind::InvalidPath
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
    /// and a fingerprint of its credential, if it had one.
    pub fn fail_next(&self, n: usize, status: StatusCode, code: &str) {
        self.shared.set_fail_next(FailNext::new(n, status, code));
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

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
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
