//! A minted token's `Authorization` value, when to refresh it and when to stop
//! using it: what the layer's own slot and the per-request cache both keep.

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::hash::{BuildHasher, Hash, Hasher};
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::HeaderValue;

use crate::clock::{Clock, at_unix_seconds};
use crate::events;
#[cfg(doc)]
use crate::member::TokenSigner;
use crate::member::{MemberGrant, Signed};
use crate::skew::{ClockOffset, FirstResponse, MintTimes, SourceClock};

/// The default refresh margin is a quarter of the token's lifetime, at most this.
const MAX_DEFAULT_MARGIN: Duration = Duration::from_secs(60);

/// When to refresh a cached token: `margin` before it expires, less up to `jitter`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefreshPolicy {
    /// `None`: min(25 % of the lifetime, 60 s).
    pub(crate) margin: Option<Duration>,
    pub(crate) jitter: Duration,
    /// Draws each token's jitter, with its id: random per layer, so that layers
    /// started together spread out, and fixed by a simulation so that it replays.
    pub(crate) seed: u64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            margin: None,
            jitter: Duration::ZERO,
            seed: RandomState::new().hash_one(0u8),
        }
    }
}

impl RefreshPolicy {
    /// How long after minting to refresh the token minted as `id` that lives
    /// `lifetime`.
    fn refresh_after(&self, lifetime: Duration, id: NonZeroU64) -> Duration {
        let margin = self
            .margin
            .unwrap_or_else(|| (lifetime / 4).min(MAX_DEFAULT_MARGIN));
        lifetime.saturating_sub(margin.saturating_add(self.jitter_for(id)))
    }

    /// A duration spread uniformly over `[0, jitter)`, drawn from the seed and `id`.
    fn jitter_for(&self, id: NonZeroU64) -> Duration {
        let nanos = u64::try_from(self.jitter.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        // SipHash with fixed keys: the same draw for the same seed and id.
        let mut hasher = DefaultHasher::new();
        (self.seed, id).hash(&mut hasher);
        Duration::from_nanos(hasher.finish() % nanos)
    }
}

/// What one freshness decision reads. A token is due for refresh when any clock
/// says so: the latest Source's wall clock can read (the local wall clock, which
/// counts a system suspend and follows NTP steps, plus the latest end of the
/// [`SourceClock`] bound) or the monotonic clock (which a wall clock stepped back
/// cannot hold still); or when the key that signed it is no longer the current
/// one, or Source refused it. Every decision about a cached token goes through
/// [`Minted::due`] with these, so each input is added in one place.
#[derive(Debug, Clone, Copy)]
pub(super) struct Now<'a> {
    /// The local wall clock.
    pub(super) wall: SystemTime,
    /// The latest Source's clock can read: what freshness is judged on.
    pub(super) latest: SystemTime,
    pub(super) monotonic: Instant,
    /// The earliest end of the bound, which also moves a grant's fixed expiry.
    pub(super) offset: ClockOffset,
    /// The signing key's generation now ([`TokenSigner::key_generation`]).
    pub(super) key_generation: u64,
    /// Which estimate of Source's clock is current ([`SourceClock::epoch`]).
    pub(super) clock_epoch: u64,
    /// The tokens Source refused.
    pub(super) refusals: &'a Refusals,
    /// The estimate, which decides which responses are samples.
    pub(super) source: &'a SourceClock,
}

impl Now<'_> {
    /// The earliest Source's clock can read: what a grant's TTL counts from.
    pub(super) fn earliest(&self) -> SystemTime {
        self.offset.apply(self.wall)
    }
}

/// Where a [`Now`] is read from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clocks<'a> {
    pub(super) local: &'a dyn Clock,
    pub(super) source: &'a SourceClock,
    pub(super) key_generation: u64,
    pub(super) refusals: &'a Refusals,
    /// Numbers the tokens minted.
    pub(super) mint_ids: &'a MintIds,
}

impl<'a> Clocks<'a> {
    /// Every clock, read precisely: for per-request grants.
    pub(super) fn read(&self) -> Now<'a> {
        self.at(self.local.now(), self.local.monotonic())
    }

    /// Both clocks read coarsely ([`Clock::now_coarse`],
    /// [`Clock::monotonic_coarse`]): enough for the hot path of a token refreshed
    /// well ahead of its whole-second `exp`, at a fraction of the cost of precise
    /// reads. A coarse send time is never later than the real one, so a sample
    /// taken on it is only wider.
    #[inline]
    pub(super) fn read_coarse(&self) -> Now<'a> {
        self.at(self.local.now_coarse(), self.local.monotonic_coarse())
    }

    /// Every clock, read precisely, to mint on: the estimate first folds in any
    /// jump of the local wall clock, and the times to sign at come with it.
    pub(super) fn read_to_mint(&self) -> (Now<'a>, MintTimes) {
        self.mint_reading(self.local.now(), self.local.monotonic())
    }

    /// [`read_to_mint`](Self::read_to_mint) at the precise reading `read` took.
    pub(super) fn read_to_mint_at(&self, read: Now<'a>) -> (Now<'a>, MintTimes) {
        self.mint_reading(read.wall, read.monotonic)
    }

    fn mint_reading(&self, wall: SystemTime, monotonic: Instant) -> (Now<'a>, MintTimes) {
        let times = self.source.mint_times(wall, monotonic);
        (self.at(wall, monotonic), times)
    }

    #[inline]
    fn at(&self, local_wall: SystemTime, monotonic: Instant) -> Now<'a> {
        let bound = self.source.bound();
        Now {
            wall: local_wall,
            latest: bound.latest().apply(local_wall),
            monotonic,
            offset: bound.earliest(),
            key_generation: self.key_generation,
            clock_epoch: self.source.epoch(),
            refusals: self.refusals,
            source: self.source,
        }
    }
}

/// Minted tokens Source answered 401 to, by [`Minted::id`]: slot `id % len` holds
/// `id` (ids start at one; zero is empty). One table per layer: a response future
/// marks the id it carried, and the cache sees the mark on its next use of that
/// token. Ids are never reused within a layer, so a stale mark matches nothing.
/// Two tokens refused at once whose ids share a slot lose one mark; that token is
/// refused again on its next use and marked again.
#[derive(Debug)]
pub(crate) struct Refusals([AtomicU64; 64]);

impl Default for Refusals {
    fn default() -> Self {
        Self([const { AtomicU64::new(0) }; 64])
    }
}

impl Refusals {
    /// Marks the token minted as `id` as refused by Source.
    pub(crate) fn mark(&self, id: NonZeroU64) {
        self.slot(id).store(id.get(), Ordering::Relaxed);
    }

    /// Whether Source refused the token minted as `id`.
    #[inline]
    fn marked(&self, id: NonZeroU64) -> bool {
        self.slot(id).load(Ordering::Relaxed) == id.get()
    }

    #[inline]
    fn slot(&self, id: NonZeroU64) -> &AtomicU64 {
        // The remainder is below 64, so it fits.
        &self.0[(id.get() % self.0.len() as u64) as usize]
    }
}

/// Hands out [`Minted::id`]s, from one so that zero can mean none: one sequence
/// per layer, so that one layer's mints never move another's (nor a
/// simulation's replay). `layer` tells layers apart wherever tokens of several
/// may meet: a thread's copy of a header, a response on its way back.
#[derive(Debug)]
pub(crate) struct MintIds {
    pub(crate) layer: u64,
    next: AtomicU64,
}

impl MintIds {
    /// A sequence for a new layer, which it names by a process-unique number.
    pub(crate) fn new() -> Self {
        static LAYERS: AtomicU64 = AtomicU64::new(1);
        Self {
            layer: LAYERS.fetch_add(1, Ordering::Relaxed),
            next: AtomicU64::new(1),
        }
    }

    fn next(&self) -> NonZeroU64 {
        // 2^64 mints would take centuries at a billion a second.
        NonZeroU64::new(self.next.fetch_add(1, Ordering::Relaxed)).unwrap_or(NonZeroU64::MIN)
    }
}

/// The `Authorization` value of a minted token and when to stop using it.
///
/// Each deadline is kept twice, on the wall clock and on the monotonic clock, and a
/// token is used only while both agree: a wall clock stepped back cannot keep a
/// token past the lifetime Source counts, and one stepped forward retires it early.
#[derive(Debug)]
pub(super) struct Minted {
    /// Unique per mint within its layer (named in `sent`), so a thread can tell
    /// whether its own copy is current, and a response future which token Source
    /// refused.
    pub(super) id: NonZeroU64,
    /// The layer that minted it.
    layer: u64,
    /// The generation of the key that signed it.
    key_generation: u64,
    /// The estimate of Source's clock it was minted on.
    clock_epoch: u64,
    /// The id of the key that signed it, for events.
    pub(super) key_id: Arc<str>,
    authorization: HeaderValue,
    /// The token's `iat` and `exp`, in whole seconds since the Unix epoch.
    pub(super) iat: u64,
    pub(super) exp: u64,
    /// When the latest Source's clock can read reaches this, refresh.
    refresh_at: SystemTime,
    /// Claimed by the first request that sends it: its response is a sample.
    first_response: FirstResponse,
    refresh_deadline: Instant,
    expiry_deadline: Instant,
}

impl Minted {
    /// `token`, signed at `now`, with the next of `ids`.
    pub(super) fn new(token: Signed, ids: &MintIds, now: Now<'_>, policy: &RefreshPolicy) -> Self {
        let id = ids.next();
        let Now {
            latest, monotonic, ..
        } = now;
        // What is left of it at Source, if Source's clock is as late as it can be.
        let lifetime = at_unix_seconds(token.exp)
            .duration_since(latest)
            .unwrap_or_default();
        let refresh_after = policy.refresh_after(lifetime, id);
        // A deadline past what `Instant` can hold is today: refresh at once.
        let deadline = |after| monotonic.checked_add(after).unwrap_or(monotonic);
        Self {
            id,
            layer: ids.layer,
            key_generation: token.key_generation,
            clock_epoch: now.clock_epoch,
            key_id: token.key_id,
            authorization: token.authorization,
            iat: token.iat,
            exp: token.exp,
            refresh_at: latest + refresh_after,
            first_response: FirstResponse::new(token.sample),
            refresh_deadline: deadline(refresh_after),
            expiry_deadline: deadline(lifetime),
        }
    }

    /// `Bearer <jwt>`, shared with every request that sends it.
    pub(super) fn authorization(&self) -> &HeaderValue {
        &self.authorization
    }

    /// What a request sending it at `now` gets: its header, which token it is,
    /// when it was sent, and whether its response is a sample.
    #[inline]
    pub(super) fn granted(&self, authorization: HeaderValue, now: Now<'_>) -> Granted {
        Granted {
            authorization,
            token: self.sent(),
            at: now.monotonic,
            sample: now.source.wants_sample(&self.first_response),
        }
    }

    /// What a request that sends it carries along, for its response to be read.
    #[inline]
    pub(super) fn sent(&self) -> SentToken {
        SentToken {
            layer: self.layer,
            id: self.id,
            // Unix seconds fit 32 bits until 2106; a later time saturates, which
            // can only keep a 401 from being taken for the clock's.
            iat: u32::try_from(self.iat).unwrap_or(u32::MAX),
            exp: u32::try_from(self.exp).unwrap_or(u32::MAX),
        }
    }

    /// Whether this token is due for refresh: the one freshness rule. Any clock
    /// that has reached its refresh deadline makes it due, and so do a newer key
    /// and Source's 401.
    #[inline]
    pub(super) fn due(&self, now: Now<'_>) -> bool {
        now.latest >= self.refresh_at
            || now.monotonic >= self.refresh_deadline
            || now.key_generation != self.key_generation
            || now.clock_epoch != self.clock_epoch
            || self.refused(now)
    }

    /// Whether Source answered 401 to this token ([`Refusals::mark`]).
    #[inline]
    fn refused(&self, now: Now<'_>) -> bool {
        now.refusals.marked(self.id)
    }

    /// Reports that this token, due, is being replaced because Source refused it.
    pub(super) fn report_if_refused(&self, grant: &MemberGrant, now: Now<'_>) {
        if self.refused(now) {
            events::retired(grant.actor().is_some(), &self.key_id);
        }
    }

    /// Whether to send this token for a grant whose latest allowed `exp` is
    /// `latest_exp`: it satisfies the grant and is not due.
    pub(super) fn fresh_for(&self, latest_exp: u64, now: Now<'_>) -> bool {
        self.exp <= latest_exp && !self.due(now)
    }

    /// Whether a token due for refresh may still be sent for such a grant when
    /// minting its successor failed: it satisfies the grant, has not expired by
    /// either clock, was signed by the current key, and Source has not refused it.
    pub(super) fn usable_for(&self, latest_exp: u64, now: Now<'_>) -> bool {
        self.exp <= latest_exp
            && now.key_generation == self.key_generation
            && !self.refused(now)
            && now.latest < at_unix_seconds(self.exp)
            && now.monotonic < self.expiry_deadline
    }
}

/// What a request sending a minted token keeps of it, for its response: which
/// layer minted which token, to retire it on a 401, and its `iat` and `exp`, to tell whether the
/// 401 was about the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SentToken {
    pub(crate) layer: u64,
    pub(crate) id: NonZeroU64,
    pub(crate) iat: u32,
    pub(crate) exp: u32,
}

/// The `Authorization` value a request gets from a cache, which token it is,
/// when (monotonic) the cache was asked (the request's send time, for a
/// sample), and whether its response is to be read for `Date`.
#[derive(Debug)]
pub(crate) struct Granted {
    pub(crate) authorization: HeaderValue,
    pub(crate) token: SentToken,
    pub(crate) at: Instant,
    pub(crate) sample: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn default_margin_is_a_quarter_of_the_lifetime_up_to_a_minute() {
        let policy = RefreshPolicy::default();
        assert_eq!(policy.refresh_after(2 * MINUTE, ID), 90 * SECOND);
        assert_eq!(policy.refresh_after(60 * MINUTE, ID), 59 * MINUTE);
    }

    #[test]
    fn margin_and_jitter_never_refresh_before_minting() {
        let policy = RefreshPolicy {
            margin: Some(10 * MINUTE),
            jitter: MINUTE,
            seed: 7,
        };
        assert_eq!(policy.refresh_after(5 * MINUTE, ID), Duration::ZERO);
        let jittered = RefreshPolicy {
            margin: Some(MINUTE),
            ..policy
        };
        let after = jittered.refresh_after(10 * MINUTE, ID);
        assert!(after > 8 * MINUTE && after <= 9 * MINUTE);
    }

    #[test]
    fn jitter_spreads_over_its_whole_range_and_replays_from_its_seed() {
        let policy = RefreshPolicy {
            jitter: MINUTE,
            seed: 42,
            ..RefreshPolicy::default()
        };
        let ids = (1..=400).map(|id| NonZeroU64::new(id).unwrap());
        let samples: Vec<Duration> = ids.clone().map(|id| policy.jitter_for(id)).collect();
        assert!(samples.iter().all(|jitter| *jitter < MINUTE));
        // Uniform over [0, 60 s): 400 draws all land in one half with odds 2^-399.
        assert!(samples.iter().any(|jitter| *jitter < 30 * SECOND));
        assert!(samples.iter().any(|jitter| *jitter >= 30 * SECOND));
        // The same seed draws the same jitter; another seed, others.
        let again: Vec<Duration> = ids.clone().map(|id| policy.jitter_for(id)).collect();
        assert_eq!(again, samples);
        let reseeded = RefreshPolicy { seed: 43, ..policy };
        assert_ne!(
            ids.map(|id| reseeded.jitter_for(id)).collect::<Vec<_>>(),
            samples
        );
        let none = RefreshPolicy {
            jitter: Duration::ZERO,
            ..policy
        };
        assert_eq!(none.jitter_for(ID), Duration::ZERO);
    }

    /// Minted at `MINTED_AT` (Unix seconds) by key generation 0, expiring ten
    /// minutes later: due after nine, with the default margin of a minute.
    const MINTED_AT: u64 = 1_700_000_000;
    const EXP: u64 = MINTED_AT + 600;
    const ID: NonZeroU64 = NonZeroU64::MIN;
    static NO_SAMPLES: std::sync::LazyLock<SourceClock> =
        std::sync::LazyLock::new(SourceClock::new);

    fn minted(ids: &MintIds, refusals: &Refusals, monotonic: Instant) -> Minted {
        let token = Signed {
            authorization: HeaderValue::from_static("Bearer token"),
            sample: false,
            iat: MINTED_AT,
            exp: EXP,
            key_id: "key_test".into(),
            key_generation: 0,
        };
        Minted::new(
            token,
            ids,
            now(0, monotonic, refusals),
            &RefreshPolicy::default(),
        )
    }

    /// `after` seconds past minting, on both clocks, with key generation 0 and
    /// Source's clock known exactly.
    fn now(after: u64, minted_monotonic: Instant, refusals: &Refusals) -> Now<'_> {
        let wall = at_unix_seconds(MINTED_AT + after);
        Now {
            wall,
            latest: wall,
            monotonic: minted_monotonic + Duration::from_secs(after),
            offset: ClockOffset::ZERO,
            key_generation: 0,
            clock_epoch: 0,
            refusals,
            source: &NO_SAMPLES,
        }
    }

    /// Each of the five reasons alone makes a token due.
    #[test]
    fn any_one_clock_a_new_key_or_a_refusal_makes_a_token_due() {
        let (start, ids, refusals) = (Instant::now(), MintIds::new(), Refusals::default());
        let token = minted(&ids, &refusals, start);
        let fresh = now(60, start, &refusals);
        assert!(!token.due(fresh));
        assert!(token.due(now(540, start, &refusals)));
        let wall_alone = Now {
            latest: at_unix_seconds(MINTED_AT + 540),
            ..fresh
        };
        assert!(token.due(wall_alone));
        // Judged on the latest Source's clock can read, not the earliest.
        let earliest_alone = Now {
            offset: ClockOffset::ahead(Duration::from_secs(480)),
            ..fresh
        };
        assert!(!token.due(earliest_alone));
        let monotonic_alone = Now {
            monotonic: start + Duration::from_secs(540),
            ..fresh
        };
        assert!(token.due(monotonic_alone));
        let new_key = Now {
            key_generation: 1,
            ..fresh
        };
        assert!(token.due(new_key));
        let new_estimate = Now {
            clock_epoch: 1,
            ..fresh
        };
        assert!(token.due(new_estimate));
        refusals.mark(token.id);
        assert!(token.refused(fresh));
        assert!(token.due(fresh));
        // Another layer's refusals are its own.
        assert!(!token.due(now(60, start, &Refusals::default())));
    }

    /// Two tokens refused one after the other, in different slots, both stay refused.
    #[test]
    fn refusals_of_different_tokens_are_both_kept() {
        let (start, ids, refusals) = (Instant::now(), MintIds::new(), Refusals::default());
        let first = minted(&ids, &refusals, start);
        let second = minted(&ids, &refusals, start);
        let fresh = now(0, start, &refusals);
        assert!(!first.refused(fresh) && !second.refused(fresh));
        refusals.mark(first.id);
        refusals.mark(second.id);
        assert!(first.refused(fresh));
        assert!(second.refused(fresh));
    }

    /// A due token is a fallback only while it satisfies the grant, was signed by
    /// the current key, was not refused and has not expired by either clock.
    #[test]
    fn a_due_token_is_usable_only_while_every_condition_holds() {
        let (start, ids, refusals) = (Instant::now(), MintIds::new(), Refusals::default());
        let token = minted(&ids, &refusals, start);
        let due = now(590, start, &refusals);
        assert!(token.due(due));
        assert!(token.usable_for(EXP, due));
        assert!(
            !token.usable_for(EXP - 1, due),
            "a grant asking for an earlier exp"
        );
        let new_key = Now {
            key_generation: 1,
            ..due
        };
        assert!(!token.usable_for(EXP, new_key));
        assert!(
            !token.usable_for(EXP, now(600, start, &refusals)),
            "expired"
        );
        let monotonic_expired = Now {
            monotonic: start + Duration::from_secs(600),
            ..due
        };
        assert!(!token.usable_for(EXP, monotonic_expired));
        refusals.mark(token.id);
        assert!(!token.usable_for(EXP, due));
    }
}
