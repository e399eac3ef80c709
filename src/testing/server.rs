//! `MockSource`: the loopback server and the handle tests hold.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::clock::{Clock, SystemClock};
use crate::credential::{ApiKey, UserToken};
use crate::error::Result;
use crate::member::MemberGrant;

use super::handler::{Shared, answer};
use super::record::{RecordedRequest, TokenFingerprint};
use super::registry::{Registry, Relationship, RelationshipStatus};

/// A Source API stand-in on `127.0.0.1`, for tests.
///
/// It authenticates every request the way Source does and answers any
/// authenticated `GET /v1/…` with 200 and the [`Principal`](super::Principal) as
/// JSON; failures get Source's error body. Register credentials at any time, even
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
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
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
