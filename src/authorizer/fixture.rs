//! The layer's own slot or the per-request cache, with a manual clock and a real
//! signer: what the unit tests of both send requests through.

use std::num::NonZeroU64;
use std::time::{Duration, SystemTime};

use http::HeaderValue;

use crate::error::{Error, ErrorKind, Result};
use crate::member::{MemberGrant, Signed};
use crate::skew::{MintTimes, Sample, SourceClock};
use crate::{ApiKey, Clock, ManualClock, TokenSigner};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::grants::GrantCache;
use super::minted::{Clocks, MintIds, RefreshPolicy, Refusals};
use super::slot::TokenSlot;

pub(super) const MINUTE: Duration = Duration::from_secs(60);
pub(super) const SECOND: Duration = Duration::from_secs(1);

const KEY_ID: &str = "key_test1";
const SECRET: &str = "sk_test_0123456789abcdef0123456789abcdef";

pub(super) enum Store {
    LayersOwn(TokenSlot),
    PerRequest(GrantCache),
}

/// Where tokens are kept, and a way to send one request through it for a grant.
pub(super) struct Fixture {
    pub(super) clock: ManualClock,
    pub(super) source_clock: SourceClock,
    pub(super) signer: TokenSigner,
    pub(super) refusals: Refusals,
    mint_ids: MintIds,
    policy: RefreshPolicy,
    store: Store,
}

impl Fixture {
    /// The slot of a layer's own grant.
    pub(super) fn layers_own() -> Self {
        Self::with(Store::LayersOwn(TokenSlot::default()))
    }

    /// The per-request grant cache.
    pub(super) fn per_request() -> Self {
        Self::per_request_holding(16)
    }

    /// The per-request grant cache, holding at most `capacity` grants' tokens.
    pub(super) fn per_request_holding(capacity: usize) -> Self {
        Self::with(Store::PerRequest(GrantCache::new(capacity)))
    }

    fn with(store: Store) -> Self {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        Self::signing_with(store, TokenSigner::new(key()), clock)
    }

    /// Signing with `signer` on `clock`.
    pub(super) fn signing_with(store: Store, signer: TokenSigner, clock: ManualClock) -> Self {
        Self {
            signer: signer.with_clock(clock.clone()),
            source_clock: SourceClock::new(),
            clock,
            refusals: Refusals::default(),
            mint_ids: MintIds::new(),
            policy: RefreshPolicy::default(),
            store,
        }
    }

    /// Sends a request for `grant`, signing if it must.
    pub(super) fn send(&self, grant: &MemberGrant) -> Result<HeaderValue> {
        self.send_with(grant, |grant, times, _| self.sign(grant, times))
    }

    /// What the layer signs for `grant` at `times`.
    pub(super) fn sign(&self, grant: &MemberGrant, times: MintTimes) -> Result<Signed> {
        self.signer.sign_header(grant, times)
    }

    /// Source's response, received now with no round trip, said `date`.
    pub(super) fn learn(&self, date: SystemTime) {
        let now = self.clock.monotonic();
        assert!(self.source_clock.observe(&Sample {
            sent: now,
            received: now,
            received_wall: self.clock.now(),
            date,
        }));
    }

    /// What the cache reads the time and the key's generation from.
    pub(super) fn clocks(&self) -> Clocks<'_> {
        Clocks {
            local: &self.clock,
            source: &self.source_clock,
            key_generation: self.signer.key_generation(),
            refusals: &self.refusals,
            mint_ids: &self.mint_ids,
        }
    }

    /// How many grants the per-request cache holds a token for.
    pub(super) fn cached_grants(&self) -> usize {
        match &self.store {
            Store::LayersOwn(_) => 0,
            Store::PerRequest(cache) => cache.len(),
        }
    }

    /// Sends a request for `grant` with a signer that always fails.
    pub(super) fn send_refused(&self, grant: &MemberGrant) -> Result<HeaderValue> {
        self.send_with(grant, |_, _, _| {
            Err(Error::new(ErrorKind::Signing, "refused for the test"))
        })
    }

    /// Sends a request for `grant`, signing with `sign` if it must.
    pub(super) fn send_with(
        &self,
        grant: &MemberGrant,
        sign: impl FnOnce(&MemberGrant, MintTimes, bool) -> Result<Signed>,
    ) -> Result<HeaderValue> {
        self.send_for_id(grant, sign).map(|(header, _)| header)
    }

    /// Sends a request for `grant`, signing with `sign` if it must; also returns
    /// the id of the token sent.
    pub(super) fn send_for_id(
        &self,
        grant: &MemberGrant,
        sign: impl FnOnce(&MemberGrant, MintTimes, bool) -> Result<Signed>,
    ) -> Result<(HeaderValue, NonZeroU64)> {
        self.send_reading(self.clocks(), grant, sign)
    }

    /// Sends a request for `grant` that read `clocks`, signing with `sign` if it
    /// must; also returns the id of the token sent.
    pub(super) fn send_reading(
        &self,
        clocks: Clocks<'_>,
        grant: &MemberGrant,
        sign: impl FnOnce(&MemberGrant, MintTimes, bool) -> Result<Signed>,
    ) -> Result<(HeaderValue, NonZeroU64)> {
        let granted = match &self.store {
            Store::LayersOwn(slot) => slot.authorization(clocks, &self.policy, grant, sign),
            Store::PerRequest(cache) => cache.authorization(clocks, &self.policy, grant, sign),
        }?;
        Ok((granted.authorization, granted.token.id))
    }

    /// The `exp` of the token in `header`.
    pub(super) fn exp(&self, header: &HeaderValue) -> u64 {
        let jwt = header.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let payload = jwt.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        claims["exp"].as_u64().unwrap()
    }

    /// The `kid` in `header`'s token.
    pub(super) fn kid(&self, header: &HeaderValue) -> String {
        let jwt = header.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let segment = jwt.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    }

    pub(super) fn now_secs(&self) -> u64 {
        crate::clock::unix_seconds(self.clock.now()).unwrap()
    }
}

pub(super) fn key() -> ApiKey {
    ApiKey::new(KEY_ID, SECRET).expect("valid key")
}

/// What the layer's own slot and the per-request cache both must do.
mod tests {
    use super::*;

    fn both() -> [Fixture; 2] {
        [Fixture::layers_own(), Fixture::per_request()]
    }

    #[test]
    fn a_failed_refresh_keeps_a_token_that_is_still_valid() {
        for store in both() {
            let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
            let first = store.send(&grant).expect("minted");

            // Due for refresh (one minute before expiry), but the signer fails: keep the old one.
            store.clock.advance(4 * MINUTE + 30 * SECOND);
            assert_eq!(store.send_refused(&grant).expect("old token kept"), first);

            // Once the old token has expired, the failure is reported, never the old token.
            store.clock.advance(MINUTE);
            let err = store.send_refused(&grant).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Signing);

            // And a working signer recovers with a new token.
            assert_ne!(store.send(&grant).expect("minted again"), first);
        }
    }

    #[test]
    fn a_token_is_refreshed_exactly_at_its_refresh_time() {
        for store in both() {
            let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
            let first = store.send(&grant).expect("minted");
            // The default margin for 5 minutes is 60 s: fresh until 4 minutes, not at.
            store.clock.advance(4 * MINUTE - Duration::from_millis(1));
            assert_eq!(store.send(&grant).unwrap(), first);
            store.clock.advance(Duration::from_millis(1));
            let second = store.send(&grant).unwrap();
            assert_ne!(second, first);
            assert_eq!(store.send(&grant).unwrap(), second);
            assert_eq!(store.send(&grant).unwrap(), second);
        }
    }

    /// Each deadline holds on the monotonic clock alone: here the wall clock is
    /// stepped back to a minute after minting whenever time passes.
    #[test]
    fn monotonic_deadlines_are_exclusive() {
        for store in both() {
            let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
            let minted_at = store.clock.now();
            let first = store.send(&grant).expect("minted");
            // Exactly at the monotonic refresh deadline: refreshed.
            store.clock.advance(4 * MINUTE);
            store.clock.set(minted_at + MINUTE);
            let second = store.send(&grant).expect("refreshed");
            assert_ne!(second, first);
            // Exactly at the second token's monotonic expiry: a failed refresh reports.
            store.clock.advance(5 * MINUTE);
            store.clock.set(minted_at + 2 * MINUTE);
            assert_eq!(
                store.send_refused(&grant).unwrap_err().kind(),
                ErrorKind::Signing
            );
        }
    }

    #[test]
    fn a_wall_clock_stepped_back_does_not_keep_a_token_past_its_lifetime() {
        for store in both() {
            let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
            let first = store.send(&grant).expect("minted");
            // 4.5 minutes pass, then the wall clock is stepped back an hour: by the
            // wall clock the token is young, but Source sees it expire in 30 s.
            store.clock.advance(4 * MINUTE + 30 * SECOND);
            let stepped_back = store.clock.now() - 60 * MINUTE;
            store.clock.set(stepped_back);
            let second = store.send(&grant).expect("refreshed");
            assert_ne!(second, first);

            // Once its real lifetime has passed, a failing signer reports its error
            // rather than hand out a token the wall clock, stepped back again, calls valid.
            store.clock.advance(5 * MINUTE + SECOND);
            store.clock.set(stepped_back);
            assert_eq!(
                store.send_refused(&grant).unwrap_err().kind(),
                ErrorKind::Signing
            );
        }
    }

    /// Source's clock is an input to the one rule: a token Source already sees as
    /// due is replaced, and tokens are minted on Source's time.
    #[test]
    fn a_token_is_judged_and_minted_on_sources_clock() {
        for store in both() {
            let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
            let first = store.send(&grant).expect("minted");
            assert_eq!(store.exp(&first), store.now_secs() + 300);
            // Source turns out to be 10 minutes ahead: by its clock the token has expired.
            let local = store.clock.now();
            store.learn(local + 10 * MINUTE);
            let second = store.send(&grant).expect("minted on Source's time");
            assert_ne!(second, first);
            assert_eq!(store.exp(&second), store.now_secs() + 600 + 300);
            assert_eq!(store.send(&grant).unwrap(), second);
        }
    }

    /// A grant's fixed expiry is a time on the app's clock: on Source's clock the
    /// token ends at that same instant.
    #[test]
    fn a_fixed_expiry_ends_at_the_instant_the_app_asked_for() {
        for store in both() {
            let local = store.clock.now();
            store.learn(local + 10 * MINUTE);
            let grant = MemberGrant::member("mem_1").expires_at(local + 5 * MINUTE);
            let header = store.send(&grant).expect("minted");
            // Source's clock reads between 600 and 601 s ahead: minted on the earliest.
            assert_eq!(store.exp(&header), store.now_secs() + 300 + 600);
        }
    }

    /// A token Source answered 401 to is replaced on its next use; marking an
    /// older token never retires a newer one.
    #[test]
    fn a_refused_token_is_replaced_and_only_that_one() {
        for store in both() {
            let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
            let sign = |grant: &MemberGrant, times, _| store.sign(grant, times);
            let (first, first_id) = store.send_for_id(&grant, sign).expect("minted");
            store.refusals.mark(first_id);
            // A second later, so that the new token's bytes differ too.
            store.clock.advance(SECOND);
            let (second, second_id) = store.send_for_id(&grant, sign).expect("re-minted");
            assert_ne!(second, first);
            assert_ne!(second_id, first_id);
            // A late 401 for the first token leaves the second alone.
            store.refusals.mark(first_id);
            assert_eq!(store.send(&grant).unwrap(), second);
            // A refused token is not kept even when minting its successor fails.
            store.refusals.mark(second_id);
            assert_eq!(
                store.send_refused(&grant).unwrap_err().kind(),
                ErrorKind::Signing
            );
        }
    }

    /// After a rotation no token signed with the old key is sent again, even
    /// when minting with the new one fails.
    #[test]
    fn a_rotation_retires_every_token_the_old_key_signed() {
        let clock =
            || ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let keys = crate::RotatingKey::new(key());
        let signer = || TokenSigner::rotating(keys.clone());
        let stores = [
            Fixture::signing_with(Store::LayersOwn(TokenSlot::default()), signer(), clock()),
            Fixture::signing_with(Store::PerRequest(GrantCache::new(16)), signer(), clock()),
        ];
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let before: Vec<_> = stores
            .iter()
            .map(|store| {
                let first = store.send(&grant).unwrap();
                // Until the key rotates, the cached token is sent: a second
                // later, a token minted anew would differ.
                store.clock.advance(SECOND);
                assert_eq!(store.send(&grant).unwrap(), first);
                first
            })
            .collect();
        let new_secret = "sk_test_fedcba9876543210fedcba9876543210";
        keys.rotate(ApiKey::new("key_test2", new_secret).unwrap())
            .unwrap();
        for (store, before) in stores.iter().zip(before) {
            assert_eq!(
                store.send_refused(&grant).unwrap_err().kind(),
                ErrorKind::Signing
            );
            let after = store.send(&grant).unwrap();
            assert_ne!(after, before);
            assert_eq!(store.kid(&after), "key_test2");
            assert_eq!(store.send(&grant).unwrap(), after);
        }
    }
}
