//! Tokens for per-request grants, cached by subject, actor and scopes.

use std::sync::Arc;

use quick_cache::sync::{EntryAction, EntryResult, GuardResult};

use crate::error::Result;
use crate::events;
use crate::member::{GrantKey, MemberGrant, Signed};

use super::entries::{self, Entries};
use super::minted::{Clocks, Granted, Minted, Now, RefreshPolicy};
use crate::skew::MintTimes;

/// The token last minted for each subject, actor and scopes, reused only for
/// grants it satisfies.
///
/// An entry is the minted token itself, with no slot around it: a hit is one
/// lookup and one header clone, and a miss allocates only the token. Minting is
/// single-flight through the cache's placeholders: while one request signs for a
/// key, the others for that key wait for its token.
pub(crate) struct GrantCache {
    tokens: Entries<GrantKey, Arc<Minted>>,
}

impl GrantCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            tokens: Entries::new(capacity),
        }
    }

    /// How many grants have a cached token.
    pub(crate) fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The `Authorization` value to send now for `grant`, minting a token with
    /// `sign` (at the time it is given; told whether it replaces an earlier token)
    /// unless the cached one is fresh and satisfies the grant.
    ///
    /// A cached token satisfies a grant whose latest allowed `exp` (now plus its
    /// TTL, or its fixed expiry) is not before the token's own: a token never
    /// outlives the grant that asked for it. A grant that cannot be signed now is
    /// refused, hit or miss alike, and a miss that fails to sign leaves no entry.
    ///
    /// Returns the header, which token it is, and when the cache was asked.
    pub(crate) fn authorization(
        &self,
        clocks: Clocks<'_>,
        policy: &RefreshPolicy,
        grant: &MemberGrant,
        sign: impl FnOnce(&MemberGrant, MintTimes, bool) -> Result<Signed>,
    ) -> Result<Granted> {
        let now = clocks.read();
        let asking = Asking {
            latest_exp: grant.latest_exp(now.earliest(), now.offset)?,
            now,
            clocks,
            policy,
        };
        // A hit takes the shard's read lock only. A miss holds a placeholder while
        // it signs, so the other requests for this key wait for its token, and
        // dropping it on an error leaves nothing cached.
        match self.tokens.get_value_or_guard(grant.key(), None) {
            GuardResult::Value(minted) if asking.fresh(&minted) => {
                events::grant_token_hit();
                Ok(asking.sent(&minted))
            }
            GuardResult::Guard(vacant) => {
                let (now, times) = clocks.read_to_mint_at(now);
                let minted = asking.keep(sign(grant, times, false)?, now);
                let sent = asking.sent(&minted);
                entries::keep(vacant, minted);
                Ok(sent)
            }
            // Due (a timeout cannot happen without one).
            GuardResult::Value(_) | GuardResult::Timeout => self.refresh(&asking, grant, sign),
        }
    }

    /// Replaces a due token, unless another request just did; while one request
    /// mints, the others for this key wait for its token.
    fn refresh(
        &self,
        asking: &Asking<'_>,
        grant: &MemberGrant,
        sign: impl FnOnce(&MemberGrant, MintTimes, bool) -> Result<Signed>,
    ) -> Result<Granted> {
        let entry = self.tokens.entry(grant.key(), None, |_, minted| {
            if asking.fresh(minted) {
                EntryAction::Retain(asking.sent(minted))
            } else {
                EntryAction::ReplaceWithGuard
            }
        });
        let (guard, old) = match entry {
            EntryResult::Retained(sent) => {
                events::grant_token_hit();
                return Ok(sent);
            }
            EntryResult::Vacant(guard) => (guard, None),
            EntryResult::Replaced(guard, old) => {
                entries::replacing();
                (guard, Some(old))
            }
            EntryResult::Removed(..) | EntryResult::Timeout => {
                unreachable!("the callback never removes, and there is no timeout")
            }
        };
        if let Some(due) = &old {
            due.report_if_refused(grant, asking.now);
        }
        let (now, times) = asking.clocks.read_to_mint_at(asking.now);
        match (sign(grant, times, old.is_some()), old) {
            (Ok(token), _) => {
                let minted = asking.keep(token, now);
                let sent = asking.sent(&minted);
                entries::keep(guard, minted);
                Ok(sent)
            }
            // A failed refresh leaves the cache as it was, and sends the old token
            // only if it is still valid and satisfies this grant.
            (Err(error), Some(old)) => {
                let usable = asking.usable(&old);
                let sent = asking.sent(&old);
                entries::keep(guard, old);
                if usable { Ok(sent) } else { Err(error) }
            }
            (Err(error), None) => Err(error),
        }
    }
}

/// What one request asks of the cache, read from the clock once.
struct Asking<'a> {
    /// The latest `exp` the request's grant allows.
    latest_exp: u64,
    now: Now<'a>,
    clocks: Clocks<'a>,
    policy: &'a RefreshPolicy,
}

impl Asking<'_> {
    fn fresh(&self, minted: &Minted) -> bool {
        minted.fresh_for(self.latest_exp, self.now)
    }

    fn usable(&self, minted: &Minted) -> bool {
        minted.usable_for(self.latest_exp, self.now)
    }

    /// `token`, minted at `now`, as a cache entry.
    fn keep(&self, token: Signed, now: Now<'_>) -> Arc<Minted> {
        Arc::new(Minted::new(token, self.clocks.mint_ids, now, self.policy))
    }

    /// What the request sends of `minted`.
    fn sent(&self, minted: &Minted) -> Granted {
        minted.granted(minted.authorization().clone(), self.now)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    use super::super::fixture::{Fixture, MINUTE, SECOND};
    use super::*;
    use crate::Clock;
    use crate::error::ErrorKind;
    use http::HeaderValue;

    /// Each deadline holds on the wall clock alone too: here only the wall clock
    /// moves, so the monotonic deadlines cannot mask a wrong comparison.
    #[test]
    fn wall_clock_deadlines_are_exclusive() {
        let cache = Fixture::per_request();
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let first = cache.send(&grant).expect("minted");
        let minted_at = cache.clock.now();
        // The refresh time (a minute before expiry): due, and refreshed.
        cache.clock.set(minted_at + 4 * MINUTE);
        let second = cache.send(&grant).expect("refreshed");
        assert_ne!(second, first);
        // At the second token's `exp` exactly, a failed refresh must not keep it.
        cache.clock.set(minted_at + 9 * MINUTE);
        assert_eq!(
            cache.send_refused(&grant).unwrap_err().kind(),
            ErrorKind::Signing
        );
    }

    /// Requests share the minted header: copying it per thread would re-copy it
    /// whenever requests alternate between members.
    #[test]
    fn hits_share_the_minted_header() {
        let address = |header: HeaderValue| header.as_bytes().as_ptr();
        let cache = Fixture::per_request();
        let grant = MemberGrant::member("mem_1");
        let minted = address(cache.send(&grant).unwrap());
        assert_eq!(address(cache.send(&grant).unwrap()), minted);
        assert_eq!(address(cache.send(&grant).unwrap()), minted);
    }

    #[test]
    fn a_cached_token_never_outlives_the_grant_that_asks_for_it() {
        let cache = Fixture::per_request();
        let long = MemberGrant::member("mem_1").ttl(24 * 60 * MINUTE);
        let short = MemberGrant::member("mem_1").ttl(MINUTE);
        let day = cache.send(&long).unwrap();
        let minute = cache.send(&short).unwrap();
        assert_ne!(minute, day);
        assert_eq!(cache.exp(&minute), cache.now_secs() + 60);
        // The shorter token satisfies the longer grant, so it is reused.
        assert_eq!(cache.send(&long).unwrap(), minute);

        // A fixed expiry counts the same way.
        let at = cache.clock.now() + 30 * SECOND;
        let fixed = cache
            .send(&MemberGrant::member("mem_1").expires_at(at))
            .unwrap();
        assert_eq!(cache.exp(&fixed), cache.now_secs() + 30);
    }

    /// A refresh that fails for a grant the cached token does not satisfy leaves
    /// that token for the grants it does satisfy.
    #[test]
    fn a_failed_refresh_for_a_shorter_grant_keeps_the_token_for_longer_ones() {
        let cache = Fixture::per_request();
        let long = MemberGrant::member("mem_1").ttl(60 * MINUTE);
        let short = MemberGrant::member("mem_1").ttl(MINUTE);
        let hour = cache.send(&long).unwrap();
        assert_eq!(
            cache.send_refused(&short).unwrap_err().kind(),
            ErrorKind::Signing
        );
        assert_eq!(cache.send_refused(&long).unwrap(), hour);
    }

    #[test]
    fn a_grant_that_cannot_be_signed_is_refused_even_on_a_fresh_token() {
        let cache = Fixture::per_request();
        let grant = MemberGrant::member("mem_1").expires_at(cache.clock.now() + 10 * MINUTE);
        let first = cache.send(&grant).expect("minted");
        for bad in [
            grant.clone().ttl(25 * 60 * MINUTE),
            grant.clone().ttl(Duration::ZERO),
            grant.clone().expires_at(cache.clock.now() - SECOND),
        ] {
            assert_eq!(
                cache.send(&bad).unwrap_err().kind(),
                ErrorKind::InvalidExpiry
            );
        }
        // And they leave nothing behind: the valid grant still gets its token.
        assert_eq!(cache.send(&grant).unwrap(), first);
        // Once its fixed expiry has passed, that grant is refused, but the next
        // grant for the same member is not.
        cache.clock.advance(11 * MINUTE);
        assert_eq!(
            cache.send(&grant).unwrap_err().kind(),
            ErrorKind::InvalidExpiry
        );
        let next = cache.send(&MemberGrant::member("mem_1")).unwrap();
        assert_eq!(cache.exp(&next), cache.now_secs() + 5 * 60);
    }

    /// A cache that holds nothing still sends every request its own token.
    #[test]
    fn a_cache_of_no_entries_mints_for_every_request() {
        let cache = Fixture::per_request_holding(0);
        let grant = MemberGrant::member("mem_1");
        let first = cache.send(&grant).expect("minted");
        assert_eq!(cache.exp(&first), cache.now_secs() + 5 * 60);
        assert_eq!(cache.exp(&cache.send(&grant).unwrap()), cache.exp(&first));
        assert_eq!(cache.cached_grants(), 0);
    }

    /// `Debug` of what the cache keeps shows its times, never the token.
    #[test]
    fn debug_never_shows_the_token() {
        let cache = Fixture::per_request();
        let grant = MemberGrant::member("mem_1");
        let header = cache.send(&grant).unwrap();
        let jwt = header.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let clocks = cache.clocks();
        let (now, times) = clocks.read_to_mint();
        let signed = cache.sign(&grant, times).unwrap();
        let minted = Minted::new(signed, clocks.mint_ids, now, &RefreshPolicy::default());
        for debug in [format!("{minted:?}"), format!("{header:?}")] {
            assert!(!debug.contains(jwt) && !debug.contains("eyJ"), "{debug}");
        }
        assert!(format!("{minted:?}").contains("refresh_deadline"));
    }

    #[test]
    fn a_miss_that_fails_to_sign_caches_nothing() {
        let cache = Fixture::per_request();
        let grant = MemberGrant::member("mem_1");
        let refused = cache.send_refused(&grant);
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::Signing);
        assert_eq!(cache.cached_grants(), 0);
        cache.send(&grant).expect("minted");
        assert_eq!(cache.cached_grants(), 1);
    }

    /// While one request mints for a grant, the others for it wait for that token
    /// rather than sign their own.
    #[test]
    fn concurrent_misses_on_one_grant_sign_once() {
        const WAITERS: usize = 4;
        let cache = Fixture::per_request();
        let grant = MemberGrant::member("mem_1");
        let signed = AtomicUsize::new(0);
        let sign = |grant: &MemberGrant, now, _| {
            signed.fetch_add(1, Ordering::SeqCst);
            cache.sign(grant, now)
        };
        let (started, first_is_signing) = mpsc::channel();
        let (release, until_released) = mpsc::channel::<()>();
        let all_waiting = Barrier::new(WAITERS + 1);
        let headers: Vec<HeaderValue> = std::thread::scope(|scope| {
            let (cache, grant, sign, all_waiting) = (&cache, &grant, &sign, &all_waiting);
            let first = scope.spawn(move || {
                cache.send_with(grant, |grant, now, refresh| {
                    started.send(()).unwrap();
                    until_released.recv().unwrap();
                    sign(grant, now, refresh)
                })
            });
            first_is_signing.recv().unwrap();
            let waiters: Vec<_> = (0..WAITERS)
                .map(|_| {
                    scope.spawn(move || {
                        all_waiting.wait();
                        cache.send_with(grant, sign)
                    })
                })
                .collect();
            all_waiting.wait();
            release.send(()).unwrap();
            std::iter::once(first)
                .chain(waiters)
                .map(|thread| thread.join().unwrap().unwrap())
                .collect()
        });
        assert_eq!(signed.load(Ordering::SeqCst), 1);
        assert!(headers.iter().all(|header| *header == headers[0]));
    }
}
