//! The layer's own grant's token, refreshed ahead of expiry by a single minter.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;
use http::HeaderValue;

use crate::error::Result;
use crate::events;
use crate::member::{MemberGrant, Signed};

use super::minted::{Clocks, Granted, Minted, Now, RefreshPolicy};
use crate::skew::MintTimes;

thread_local! {
    /// This thread's own copy of a member layer's own token, which every request
    /// of that layer sends. Clones of one shared header value all bump one
    /// reference count, which threads sending at once would fight over; a copy per
    /// thread keeps that hot path free of shared writes, and holding the token
    /// itself spares it loading the slot. The per-request cache does not use it:
    /// requests alternating between members would re-copy the header every time.
    static THREAD_COPY: RefCell<Option<ThreadCopy>> = const { RefCell::new(None) };
}

/// A thread's copy of the token a layer (named in the token) last sent from it.
struct ThreadCopy {
    minted: Arc<Minted>,
    authorization: HeaderValue,
}

/// What this thread's copy answers a request sent at `now` by the layer whose
/// slot holds the token minted as `current`: the token, unless the copy is of
/// another token (or another layer's) or the token is due.
#[inline]
fn from_thread_copy(layer: u64, current: u64, now: Now<'_>) -> Option<Granted> {
    THREAD_COPY.with_borrow(|copy| {
        let ThreadCopy {
            minted,
            authorization,
        } = copy.as_ref()?;
        let sent = minted.sent();
        (sent.layer == layer && sent.id.get() == current && !minted.due(now))
            .then(|| minted.granted(authorization.clone(), now))
    })
}

/// Makes this thread's copy of `minted`'s header, sharing no reference count
/// with any other thread's, and sends it at `now`. Its later requests send the
/// copy ([`from_thread_copy`]) while `minted` is current and not due.
fn thread_copy(minted: &Arc<Minted>, now: Now<'_>) -> Granted {
    let mut authorization = HeaderValue::from_bytes(minted.authorization().as_bytes())
        .expect("a header value's bytes make a valid header value");
    authorization.set_sensitive(true);
    THREAD_COPY.set(Some(ThreadCopy {
        minted: Arc::clone(minted),
        authorization: authorization.clone(),
    }));
    minted.granted(authorization, now)
}

/// The token last minted for a layer's own grant, which every request it sends
/// reads, and only for that grant.
#[derive(Debug, Default)]
pub(crate) struct TokenSlot {
    /// Lock-free reads when a thread's copy is not of the current token.
    current: ArcSwapOption<Minted>,
    /// The id of `current`, stored after it: a thread whose copy has this id
    /// (and this layer) sends its copy without loading `current`. Zero: none yet.
    current_id: AtomicU64,
    /// Held while minting so that concurrent requests on a stale token mint once.
    minting: Mutex<()>,
}

impl TokenSlot {
    /// The `Authorization` value to send now for `grant`, minting a token with
    /// `sign` (at the time it is given; told whether it replaces an earlier token)
    /// unless the cached one is fresh.
    ///
    /// On the hot path the token was minted for this very grant, so it satisfies
    /// it, and only [`Minted::due`] is asked, with both clocks read coarsely
    /// (BENCHMARKS.md has the cost), usually of this thread's copy: after a
    /// suspend or an NTP step forward the wall clock is what says Source's `exp`
    /// has come, while the monotonic clock has not moved. Minting and the
    /// failed-refresh fallback read both precisely.
    ///
    /// Returns the header, which token it is, and when the cache was asked.
    pub(crate) fn authorization(
        &self,
        clocks: Clocks<'_>,
        policy: &RefreshPolicy,
        grant: &MemberGrant,
        sign: impl FnOnce(&MemberGrant, MintTimes, bool) -> Result<Signed>,
    ) -> Result<Granted> {
        let now = clocks.read_coarse();
        let current = self.current_id.load(Ordering::Acquire);
        if let Some(granted) = from_thread_copy(clocks.mint_ids.layer, current, now) {
            events::layer_token_hit();
            return Ok(granted);
        }
        if let Some(minted) = &*self.current.load() {
            if !minted.due(now) {
                events::layer_token_hit();
                return Ok(thread_copy(minted, now));
            }
        }
        // A std mutex, held only for the synchronous mint and never across an `.await`.
        let _minting = self.minting.lock().unwrap_or_else(PoisonError::into_inner);
        // Another request may have minted while this one waited for the lock.
        let (now, times) = clocks.read_to_mint();
        let latest_exp = grant.latest_exp(now.earliest(), now.offset)?;
        let current = self.current.load_full();
        if let Some(minted) = &current {
            if minted.fresh_for(latest_exp, now) {
                events::layer_token_hit();
                return Ok(thread_copy(minted, now));
            }
        }
        if let Some(due) = &current {
            due.report_if_refused(grant, now);
        }
        match sign(grant, times, current.is_some()) {
            Ok(token) => {
                let minted = Minted::new(token, clocks.mint_ids, now, policy);
                let granted = minted.granted(minted.authorization().clone(), now);
                let id = minted.id.get();
                self.current.store(Some(Arc::new(minted)));
                self.current_id.store(id, Ordering::Release);
                Ok(granted)
            }
            // A failed refresh keeps a token that is still valid.
            Err(error) => match &current {
                Some(old) if old.usable_for(latest_exp, now) => Ok(thread_copy(old, now)),
                _ => Err(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{Fixture, MINUTE, SECOND};
    use super::super::minted::Clocks;
    use crate::{Clock, MemberGrant};
    use http::HeaderValue;

    /// After a suspend or an NTP step the wall clock is past `exp` while the
    /// monotonic clock has not moved: the next request gets a new token.
    #[test]
    fn the_layers_own_token_follows_a_wall_clock_stepped_past_its_expiry() {
        let slot = Fixture::layers_own();
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let first = slot.send(&grant).expect("minted");
        slot.clock.set(slot.clock.now() + 10 * MINUTE);
        let second = slot.send(&grant).unwrap();
        assert_ne!(second, first);
        assert_eq!(slot.exp(&second), slot.now_secs() + 300);
        // And time passing alone still retires it.
        slot.clock.advance(4 * MINUTE);
        assert_ne!(slot.send(&grant).unwrap(), second);
    }

    /// Two layers sending from one thread each send their own token: the
    /// thread's copy of one layer's token is never taken for the other's, even
    /// when both minted under the same id.
    #[test]
    fn layers_sending_from_one_thread_each_send_their_own_token() {
        let (one, other) = (Fixture::layers_own(), Fixture::layers_own());
        let (first_grant, second_grant) = (
            MemberGrant::member("mem_1").ttl(5 * MINUTE),
            MemberGrant::member("mem_2").ttl(5 * MINUTE),
        );
        let first = one.send(&first_grant).unwrap();
        let second = other.send(&second_grant).unwrap();
        assert_ne!(first, second);
        for _ in 0..3 {
            assert_eq!(one.send(&first_grant).unwrap(), first);
            assert_eq!(other.send(&second_grant).unwrap(), second);
        }
    }

    /// A request whose reading of the key's generation predates a rotation
    /// reaches the slot after another request replaced the token: it sends the
    /// current token, never its thread's copy of the replaced one, which its
    /// stale reading would not call due.
    #[test]
    fn a_thread_never_sends_its_copy_of_a_replaced_token() {
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let slot = Fixture::layers_own();
        let sign = |grant: &MemberGrant, times, _| slot.sign(grant, times);
        let first = slot.send(&grant).unwrap();
        // This thread's copy of the first token.
        assert_eq!(slot.send(&grant).unwrap(), first);
        let stale = slot.clocks();
        // Read after a rotation: the first token is due, and a second replaces it.
        let rotated = Clocks {
            key_generation: stale.key_generation + 1,
            ..slot.clocks()
        };
        slot.clock.advance(SECOND);
        let (second, _) = slot.send_reading(rotated, &grant, sign).unwrap();
        assert_ne!(second, first);
        let (sent, _) = slot.send_reading(stale, &grant, sign).unwrap();
        assert_eq!(sent, second);
    }

    /// Each thread gets its own copy of the header, made once per token.
    #[test]
    fn each_thread_copies_the_header_once_per_token() {
        let address = |header: HeaderValue| header.as_bytes().as_ptr();
        let grant = MemberGrant::member("mem_1").ttl(5 * MINUTE);
        let slot = Fixture::layers_own();
        let first = slot.send(&grant).unwrap();
        let minted = address(first.clone());
        let copy = address(slot.send(&grant).unwrap());
        assert_ne!(copy, minted);
        assert_eq!(address(slot.send(&grant).unwrap()), copy);
        let other_thread =
            std::thread::scope(|scope| scope.spawn(|| slot.send(&grant).unwrap()).join().unwrap());
        assert_ne!(address(other_thread), copy);
        // The copy follows a new token, never the old one.
        slot.clock.advance(4 * MINUTE);
        let refreshed = slot.send(&grant).unwrap();
        assert_ne!(refreshed, first);
        assert_eq!(slot.send(&grant).unwrap(), refreshed);
        assert_eq!(slot.send(&grant).unwrap(), refreshed);
    }
}
