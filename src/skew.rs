//! Source's clock, as this host knows it: a bound on how far it is from the local one.
//!
//! Member tokens carry `iat` and `exp`, which Source judges on its own clock. A
//! host whose clock is off by minutes signs tokens that Source sees as already
//! expired or as issued in the future, so the layer signs on Source's time, which
//! it learns from the `Date` header of Source's responses: a [`SourceClock`].
//!
//! # A bound, not a point
//!
//! A response sent at local time `sent`, received at `received`, and dated `D`
//! (whole seconds) was made between the two, so Source's clock minus ours lies in
//! `[D − received, D + 1 s − sent]`: a [`ClockBound`]. The estimate keeps such a
//! bound, and uses each end for what it can guarantee:
//!
//! - **Minting** is on the [earliest](ClockBound::earliest) end: a token's `iat`,
//!   and the `exp` its TTL implies, are counted from the earliest time Source's
//!   clock can read. So once a sample is taken no token is issued in Source's
//!   future, and on a host whose clock is right, none ever is.
//! - **Freshness** is judged on the [latest](ClockBound::latest) end: a cached
//!   token is refreshed before the latest time Source's clock can read reaches its
//!   refresh deadline, so a token that may already have expired at Source is never
//!   sent (the monotonic clock keeps its own deadline beside it).
//!
//! # Which samples count
//!
//! Only responses from the origin the layer sends credentials to (the final one,
//! after any redirect a follower inside the layer made; see
//! [`crate::layer`]), carrying a `Date` and no `Age` (an `Age` means a cache
//! answered, so its `Date` is old), whose round trip on the monotonic clock took
//! at most [`MAX_SAMPLE_ROUND_TRIP`]. A slow upload, or a response that took
//! minutes, makes the round trip long and is not taken: its bound would be too
//! wide to say anything, and its midpoint could be anywhere.
//!
//! Responses are read to requests that carried a member token, the credential
//! whose validity depends on the clock (one the layer minted, or one a signer
//! sharing this estimate signed). The first response to a token is sampled,
//! for at most one token minted per [`SAMPLE_PERIOD`], whatever it carries:
//! sampling counts attempts, so a Source, proxy or stand-in that sends no `Date`
//! costs no more than one that does, and a cached token's requests pay two
//! relaxed loads for it. Every 401 from Source to such a token
//! is read too, since Source may have refused the token because of the clock,
//! and so is the next response after a 401 that carried no `Date` or a jump of
//! the local clock. [`ClockProbe`] asks for a sample with no credential at all,
//! for an app that wants Source's clock before its first member request.
//!
//! # How samples combine
//!
//! As NTP's clock filter and Marzullo's algorithm do, a new sample is intersected
//! with the estimate: the estimate only narrows, and one wide sample can neither
//! widen nor move it. Two clocks drift apart, so a sample that misses the kept
//! bound by no more than [`MAX_DRIFT_PPM`] of its age still narrows the bound
//! widened by that much, and a bound older than [`SAMPLE_KEPT`] is replaced
//! rather than narrowed.
//!
//! When a sample and the estimate do not overlap, one of the clocks was stepped
//! (this host's, by NTP or an operator, or Source's): **the new sample wins**, the
//! estimate restarts from it, and one INFO event says so.
//!
//! The local wall clock can also jump between samples (a suspend, an NTP step).
//! Every mint compares how far the wall clock and the monotonic clock moved since
//! the estimate was last anchored. A wall clock that fell behind the monotonic one
//! was stepped back, and the estimate moves by as much. One that ran ahead was
//! stepped forward or the host was suspended, which cannot be told apart: until
//! the next sample, tokens are issued with `iat` early enough for the first
//! reading and `exp` late enough for the second (within the 24-hour lifetime),
//! and the next response is sampled.
//!
//! # Bounds and events
//!
//! Before the first sample the local clock is used, as if the bound were zero.
//! An estimate reaching more than [`MAX_APPLIED_OFFSET`] either way is not
//! applied (a clock that far off is more likely broken than right) and is
//! reported once as a WARN event (feature `tracing`). A move of the earliest end
//! by more than [`REPORTED_CHANGE`] is reported as an INFO event.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use source_auth::skew::{ClockBound, ClockOffset};
//!
//! let local = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let offset = ClockOffset::ahead(Duration::from_secs(600));
//! assert_eq!(offset.apply(local), local + Duration::from_secs(600));
//! assert_eq!(offset.to_string(), "+600.000 s");
//! assert_eq!(ClockOffset::behind(Duration::from_millis(1500)).as_secs_f64(), -1.5);
//!
//! // Sent at 1000.2, received at 1000.4 (local), dated 1600: Source is between
//! // 599.6 and 600.8 s ahead.
//! let bound = ClockBound::from_response(
//!     local + Duration::from_millis(200),
//!     local + Duration::from_millis(400),
//!     UNIX_EPOCH + Duration::from_secs(1_700_000_600),
//! );
//! assert_eq!(bound.earliest(), ClockOffset::ahead(Duration::from_millis(599_600)));
//! assert_eq!(bound.latest(), ClockOffset::ahead(Duration::from_millis(600_800)));
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::events;

/// The largest offset applied: an estimate reaching beyond it is kept but not used.
pub const MAX_APPLIED_OFFSET: Duration = Duration::from_secs(60 * 60);

/// An estimate whose earliest end moves by more than this is reported.
pub const REPORTED_CHANGE: Duration = Duration::from_secs(3);

/// A response whose round trip, on the monotonic clock, took longer than this is
/// not a sample: its bound would be wider than this plus a second.
pub const MAX_SAMPLE_ROUND_TRIP: Duration = Duration::from_secs(3);

/// At most one token minted per this much monotonic time has its first response
/// read for `Date`, beside every 401 and the response after a jump.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// A kept bound older than this is replaced by the next sample rather than
/// narrowed by it.
pub const SAMPLE_KEPT: Duration = Duration::from_secs(60 * 60);

/// How fast two clocks are assumed to drift apart at most, in parts per million:
/// a new sample that misses the kept bound by no more than this much of the
/// bound's age is drift, not a step, and still narrows it.
pub const MAX_DRIFT_PPM: u32 = 500;

/// A wall clock that moved this much more or less than the monotonic one since
/// the estimate was anchored (beside the drift allowance) was stepped.
const JUMP_TOLERANCE: Duration = Duration::from_millis(100);

/// How far a remote clock (Source's) is from the local one: positive when it is
/// ahead. Kept in milliseconds; saturates rather than overflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ClockOffset {
    millis: i64,
}

impl ClockOffset {
    /// The clocks agree.
    pub const ZERO: Self = Self { millis: 0 };

    /// The remote clock is `by` ahead of the local one.
    pub fn ahead(by: Duration) -> Self {
        Self {
            millis: i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// The remote clock is `by` behind the local one.
    pub fn behind(by: Duration) -> Self {
        Self {
            millis: -Self::ahead(by).millis,
        }
    }

    /// The offset that takes `local` to `remote`.
    pub fn between(local: SystemTime, remote: SystemTime) -> Self {
        match remote.duration_since(local) {
            Ok(ahead) => Self::ahead(ahead),
            Err(behind) => Self::behind(behind.duration()),
        }
    }

    pub(crate) const fn from_millis(millis: i64) -> Self {
        Self { millis }
    }

    pub(crate) const fn as_millis(self) -> i64 {
        self.millis
    }

    /// How far apart the clocks are, either way.
    pub fn magnitude(self) -> Duration {
        Duration::from_millis(self.millis.unsigned_abs())
    }

    /// Whether the remote clock is ahead of the local one.
    pub fn is_ahead(self) -> bool {
        self.millis > 0
    }

    /// The offset in seconds, negative when the remote clock is behind.
    pub fn as_secs_f64(self) -> f64 {
        // Exact for any offset under 2^53 ms, about 285,000 years.
        self.millis as f64 / 1000.0
    }

    /// The remote clock's reading when the local one reads `local`. A result past
    /// what `SystemTime` holds stays at `local`.
    #[inline]
    pub fn apply(self, local: SystemTime) -> SystemTime {
        // Zero is the common case: no arithmetic on the hot path.
        if self.millis == 0 {
            return local;
        }
        let shifted = if self.millis > 0 {
            local.checked_add(self.magnitude())
        } else {
            local.checked_sub(self.magnitude())
        };
        shifted.unwrap_or(local)
    }

    /// The local clock's reading when the remote one reads `remote`: the inverse
    /// of [`apply`](Self::apply).
    pub fn unapply(self, remote: SystemTime) -> SystemTime {
        Self::from_millis(self.millis.saturating_neg()).apply(remote)
    }
}

impl fmt::Display for ClockOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.millis < 0 { '-' } else { '+' };
        let magnitude = self.millis.unsigned_abs();
        write!(f, "{sign}{}.{:03} s", magnitude / 1000, magnitude % 1000)
    }
}

/// Where Source's clock may be, relative to the local one: between
/// [`earliest`](Self::earliest) and [`latest`](Self::latest). See the
/// [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClockBound {
    earliest: ClockOffset,
    latest: ClockOffset,
}

impl ClockBound {
    /// The clocks agree exactly: what is assumed before the first sample.
    pub const ZERO: Self = Self {
        earliest: ClockOffset::ZERO,
        latest: ClockOffset::ZERO,
    };

    /// What one response says: sent at `sent` and received at `received` (local
    /// wall-clock times), dated `date` by Source, truncated to the second. A
    /// `received` before `sent` is read as a round trip of zero.
    pub fn from_response(sent: SystemTime, received: SystemTime, date: SystemTime) -> Self {
        let received = received.max(sent);
        Self {
            earliest: ClockOffset::between(received, date),
            latest: ClockOffset::between(sent, date + Duration::from_secs(1)),
        }
    }

    /// The earliest Source's clock can be, relative to ours: what tokens are
    /// minted on.
    pub fn earliest(&self) -> ClockOffset {
        self.earliest
    }

    /// The latest Source's clock can be, relative to ours: what a cached token's
    /// freshness is judged on.
    pub fn latest(&self) -> ClockOffset {
        self.latest
    }

    /// How wide the bound is: the uncertainty of the estimate.
    pub fn width(&self) -> Duration {
        Duration::from_millis(
            self.latest
                .as_millis()
                .saturating_sub(self.earliest.as_millis())
                .unsigned_abs(),
        )
    }

    /// Whether `offset` lies within the bound, ends included.
    pub fn contains(&self, offset: ClockOffset) -> bool {
        self.earliest <= offset && offset <= self.latest
    }

    /// Both ends moved by `millis`.
    fn shifted(self, millis: i64) -> Self {
        Self {
            earliest: ClockOffset::from_millis(self.earliest.as_millis().saturating_add(millis)),
            latest: ClockOffset::from_millis(self.latest.as_millis().saturating_add(millis)),
        }
    }

    /// Each end moved out by `millis`.
    fn widened(self, millis: i64) -> Self {
        Self {
            earliest: ClockOffset::from_millis(self.earliest.as_millis().saturating_sub(millis)),
            latest: ClockOffset::from_millis(self.latest.as_millis().saturating_add(millis)),
        }
    }

    /// Where both bounds hold, if anywhere.
    fn intersection(self, other: Self) -> Option<Self> {
        let earliest = self.earliest.max(other.earliest);
        let latest = self.latest.min(other.latest);
        (earliest <= latest).then_some(Self { earliest, latest })
    }

    /// Whether either end is further from zero than `bound`.
    fn beyond(self, bound: Duration) -> bool {
        self.earliest.magnitude() > bound || self.latest.magnitude() > bound
    }

    /// Both ends in one word, for a lock-free read: each end's milliseconds,
    /// saturated to 32 bits (about 24 days, far past [`MAX_APPLIED_OFFSET`]).
    fn pack(self) -> u64 {
        // Clamped to 32 bits, so the casts keep every bit of the value.
        let end = |offset: ClockOffset| {
            u64::from(offset.as_millis().clamp(i32::MIN.into(), i32::MAX.into()) as i32 as u32)
        };
        (end(self.earliest) << 32) | end(self.latest)
    }

    fn unpack(word: u64) -> Self {
        // The low 32 bits of each half, read back as the signed value packed.
        let end = |bits: u64| ClockOffset::from_millis(i64::from(bits as u32 as i32));
        Self {
            earliest: end(word >> 32),
            latest: end(word),
        }
    }
}

impl fmt::Display for ClockBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", self.earliest, self.latest)
    }
}

/// One response read for `Date`: when its request was sent and its response
/// received on the monotonic clock, the local wall clock on receipt, and `Date`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) sent: Instant,
    pub(crate) received: Instant,
    pub(crate) received_wall: SystemTime,
    pub(crate) date: SystemTime,
}

impl Sample {
    /// What it says of Source's clock, unless its round trip was too long to say
    /// anything.
    fn bound(&self) -> Option<ClockBound> {
        let round_trip = self.received.saturating_duration_since(self.sent);
        if round_trip > MAX_SAMPLE_ROUND_TRIP {
            return None;
        }
        // The send time on the wall clock, from the round trip on the monotonic
        // one: a wall clock stepped in between cannot stretch or invert it.
        let sent_wall = self.received_wall.checked_sub(round_trip)?;
        Some(ClockBound::from_response(
            sent_wall,
            self.received_wall,
            self.date,
        ))
    }
}

#[cfg(test)]
impl Sample {
    /// A response received at `wall` (and now on the monotonic clock) with no
    /// round trip, dated `date`.
    pub(crate) fn instant(wall: SystemTime, date: SystemTime) -> Self {
        let now = Instant::now();
        Self {
            sent: now,
            received: now,
            received_wall: wall,
            date,
        }
    }
}

/// The times to mint a token on, read from the estimate and the local clock
/// once: Source's earliest time now, which its `exp` counts from, and the time
/// its `iat` is written at: earlier still while a forward jump of the local wall
/// clock has not been settled by a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MintTimes {
    pub(crate) now: SystemTime,
    pub(crate) iat: SystemTime,
    /// The earliest end, which also moves a grant's fixed expiry.
    pub(crate) offset: ClockOffset,
    /// Whether the token's first response is to be a sample.
    pub(crate) sample: bool,
}

/// Source's clock as this host knows it: a shared, lock-free [`ClockBound`].
///
/// A layer keeps one, learned from Source's responses, and signs every member
/// token on it. Its [`TokenSigner`](crate::TokenSigner) shares it, so a signer
/// cloned before it went into the layer (say, the one the extractors' token
/// endpoint uses) signs on the same estimate; a signer made separately takes it
/// with [`TokenSigner::with_source_clock`](crate::TokenSigner::with_source_clock).
/// Clones share one estimate. See the [module docs](self) for how it is made.
///
/// ```
/// use source_auth::{ApiKey, SourceAuthLayer, TokenSigner};
/// use source_auth::skew::ClockBound;
///
/// let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// let signer = TokenSigner::new(key);
/// // The layer learns into the signer's estimate, which every clone of it shares.
/// let layer = SourceAuthLayer::per_request(signer.clone());
/// assert!(!signer.source_clock().is_sampled());
/// assert_eq!(layer.source_clock().bound(), ClockBound::ZERO);
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct SourceClock {
    estimate: Arc<Estimate>,
}

struct Estimate {
    /// The bound applied, packed ([`ClockBound::pack`]): zero until a sample,
    /// and zero while the estimate reaches beyond [`MAX_APPLIED_OFFSET`].
    applied: AtomicU64,
    /// Set when the next response should be read for `Date` whatever its token
    /// (an unread 401, a jump of the local clock); claimed by one request.
    sample_requested: AtomicBool,
    /// Whether a request may yet be refused for the clock: no sample taken, a
    /// 401 since the last one, or a jump of the local clock. Only then are
    /// requests kept for a re-send ([`crate::resend`]).
    resend_armed: AtomicBool,
    /// How many samples have been taken, for a probe to tell whether its own was.
    samples: AtomicU64,
    /// Bumped whenever the estimate restarts rather than narrows (a sample that
    /// contradicts it, a jump of the local clock): a token minted on the old one
    /// may be outside Source's window, whatever the clocks say now.
    epoch: AtomicU64,
    /// What samples have said; written only by samples and mints.
    kept: Mutex<Kept>,
}

impl Default for Estimate {
    fn default() -> Self {
        Self {
            applied: AtomicU64::new(ClockBound::ZERO.pack()),
            sample_requested: AtomicBool::new(false),
            resend_armed: AtomicBool::new(true),
            samples: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            kept: Mutex::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Kept {
    bound: Option<Anchored>,
    /// Whether an estimate beyond the bound has been reported.
    warned: bool,
    /// When (monotonic) a token was last minted to have its first response
    /// sampled: at most one per [`SAMPLE_PERIOD`].
    sample_claimed: Option<Instant>,
}

/// A bound, with when it was last brought up to date on both local clocks.
#[derive(Debug, Clone, Copy)]
struct Anchored {
    bound: ClockBound,
    wall: SystemTime,
    monotonic: Instant,
    /// When a sample last narrowed it.
    sampled: Instant,
    /// How far the local wall clock ran ahead of the monotonic one since that
    /// sample, in milliseconds: a forward step or a suspend, which cannot be told
    /// apart, so `iat` is written this much earlier until the next sample.
    unsettled_millis: i64,
}

impl Anchored {
    fn from_sample(bound: ClockBound, sample: &Sample) -> Self {
        Self {
            bound,
            wall: sample.received_wall,
            monotonic: sample.received,
            sampled: sample.received,
            unsettled_millis: 0,
        }
    }

    /// Brings the anchor to `wall` and `monotonic`, folding in a jump of the wall
    /// clock. Returns whether it found one.
    fn settle(&mut self, wall: SystemTime, monotonic: Instant) -> bool {
        let elapsed = monotonic.saturating_duration_since(self.monotonic);
        let moved = ClockOffset::between(self.wall, wall).as_millis();
        let jump = moved.saturating_sub(millis(elapsed));
        let tolerance = millis(JUMP_TOLERANCE.saturating_add(drift(elapsed)));
        if jump.abs() <= tolerance {
            return false;
        }
        if jump > 0 {
            self.unsettled_millis = self.unsettled_millis.saturating_add(jump);
        } else {
            // Stepped back: first undoing an unsettled step forward, then the
            // local clock reads less than it did, so Source is that much further
            // ahead of it.
            let back = jump.saturating_neg();
            let undone = back.min(self.unsettled_millis);
            self.unsettled_millis -= undone;
            self.bound = self.bound.shifted(back - undone);
        }
        self.wall = wall;
        self.monotonic = monotonic;
        true
    }
}

/// `MAX_DRIFT_PPM` of `elapsed`.
fn drift(elapsed: Duration) -> Duration {
    let nanos = elapsed.as_nanos() * u128::from(MAX_DRIFT_PPM) / 1_000_000;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl SourceClock {
    /// An estimate with no sample yet: the local clock, until samples arrive.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bound applied now: zero until a sample arrives, and zero while the
    /// estimate reaches beyond [`MAX_APPLIED_OFFSET`].
    #[inline]
    pub fn bound(&self) -> ClockBound {
        ClockBound::unpack(self.estimate.applied.load(Ordering::Relaxed))
    }

    /// The offset tokens are minted on: the [earliest](ClockBound::earliest) end
    /// of [`bound`](Self::bound).
    #[inline]
    pub fn offset(&self) -> ClockOffset {
        self.bound().earliest()
    }

    /// The earliest time Source's clock can read when the local clock reads
    /// `local`: what tokens are minted on.
    #[inline]
    pub fn at(&self, local: SystemTime) -> SystemTime {
        self.offset().apply(local)
    }

    /// How many samples have been taken so far.
    pub(crate) fn samples(&self) -> u64 {
        self.estimate.samples.load(Ordering::Relaxed)
    }

    /// Whether a sample has been taken: until then the local clock is used.
    pub fn is_sampled(&self) -> bool {
        self.lock().bound.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.estimate
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the response to a request sending the token `first` belongs to
    /// should be read for `Date`: the first response to a token minted to be
    /// sampled, and the next one after [`sample_soon`](Self::sample_soon). Two relaxed loads once each
    /// is claimed: no shared write, and no clock arithmetic, per request.
    #[inline]
    pub(crate) fn wants_sample(&self, first: &FirstResponse) -> bool {
        first.claim() || {
            let requested = &self.estimate.sample_requested;
            requested.load(Ordering::Relaxed) && requested.swap(false, Ordering::Relaxed)
        }
    }

    /// Asks for the next response to be read: the estimate may be what made
    /// Source refuse a token, or the local clock jumped.
    pub(crate) fn sample_soon(&self) {
        self.estimate
            .sample_requested
            .store(true, Ordering::Relaxed);
    }

    /// Learns from a response from Source: `sample`, if it carried a `Date`,
    /// and whether it was a 401 (`refused`). Returns whether a sample was taken.
    pub(crate) fn learn(&self, sample: Option<&Sample>, refused: bool) -> bool {
        let taken = sample.is_some_and(|sample| self.observe(sample));
        if refused {
            self.estimate.resend_armed.store(true, Ordering::Relaxed);
            if !taken {
                self.sample_soon();
            }
        } else if taken {
            self.estimate.resend_armed.store(false, Ordering::Relaxed);
        }
        taken
    }

    /// Whether a request sent now may be refused for the clock, so that keeping
    /// it for a re-send is worth its cost: until a sample is taken, after a 401
    /// until a sample that is not one, and after a jump of the local clock.
    #[cfg(any(test, feature = "reqwest", feature = "retry"))]
    #[inline]
    pub(crate) fn may_refuse_for_skew(&self) -> bool {
        self.estimate.resend_armed.load(Ordering::Relaxed)
    }

    /// Takes `sample`, unless its round trip was too long. Returns whether it
    /// was taken.
    pub(crate) fn observe(&self, sample: &Sample) -> bool {
        let Some(bound) = sample.bound() else {
            return false;
        };
        let mut kept = self.lock();
        let before = self.bound();
        let combined = match kept.bound {
            Some(mut anchored)
                if sample.received.saturating_duration_since(anchored.sampled) <= SAMPLE_KEPT =>
            {
                anchored.settle(sample.received_wall, sample.received);
                let age = sample.received.saturating_duration_since(anchored.sampled);
                // Drift only excuses a disagreement: a sample the kept bound agrees
                // with narrows it without widening it first.
                let overlap = anchored.bound.intersection(bound).or_else(|| {
                    let widened = anchored.bound.widened(millis(drift(age)));
                    widened.intersection(bound)
                });
                match overlap {
                    // A jump since the kept sample makes it unreliable: the new one
                    // alone holds.
                    Some(_) if anchored.unsettled_millis != 0 => self.restart(bound),
                    Some(both) => both,
                    None => {
                        events::clock_samples_disagreed(anchored.bound, bound);
                        self.restart(bound)
                    }
                }
            }
            // The first sample replaces the local clock, which was only assumed:
            // tokens minted on it are due unless it turns out to be right.
            None if bound.contains(ClockOffset::ZERO) => bound,
            // A stale bound is replaced too.
            _ => self.restart(bound),
        };
        kept.bound = Some(Anchored::from_sample(combined, sample));
        self.estimate.samples.fetch_add(1, Ordering::Relaxed);
        let applied = self.apply(&mut kept, combined);
        if applied
            .earliest
            .as_millis()
            .abs_diff(before.earliest.as_millis())
            > u64::try_from(REPORTED_CHANGE.as_millis()).unwrap_or(u64::MAX)
        {
            events::clock_offset_changed(applied);
        }
        true
    }

    /// `bound`, which replaces the estimate: tokens minted on the old one are due.
    fn restart(&self, bound: ClockBound) -> ClockBound {
        self.estimate.epoch.fetch_add(1, Ordering::Relaxed);
        bound
    }

    /// Which estimate tokens are minted on now: a number that changes whenever
    /// the estimate restarts.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.estimate.epoch.load(Ordering::Relaxed)
    }

    /// Publishes `bound` for lock-free readers, or zero if it reaches too far.
    fn apply(&self, kept: &mut Kept, bound: ClockBound) -> ClockBound {
        let applied = if bound.beyond(MAX_APPLIED_OFFSET) {
            if !std::mem::replace(&mut kept.warned, true) {
                events::clock_offset_beyond_bound(bound, MAX_APPLIED_OFFSET);
            }
            ClockBound::ZERO
        } else {
            bound
        };
        self.estimate
            .applied
            .store(applied.pack(), Ordering::Relaxed);
        applied
    }

    /// The times to mint a token on when the local clocks read `wall` and
    /// `monotonic`, after folding in any jump of the wall clock since the
    /// estimate was anchored (and asking for a sample if there was one).
    pub(crate) fn mint_times(&self, wall: SystemTime, monotonic: Instant) -> MintTimes {
        let mut kept = self.lock();
        // Attempts are counted, not successes: a Source that sends no `Date`
        // costs no more samples than one that does.
        let sample = kept
            .sample_claimed
            .is_none_or(|claimed| monotonic.saturating_duration_since(claimed) >= SAMPLE_PERIOD);
        if sample {
            kept.sample_claimed = Some(monotonic);
        }
        let Some(anchored) = &mut kept.bound else {
            return MintTimes {
                now: wall,
                iat: wall,
                offset: ClockOffset::ZERO,
                sample,
            };
        };
        if anchored.settle(wall, monotonic) {
            let bound = self.restart(anchored.bound);
            self.apply(&mut kept, bound);
            self.sample_soon();
            self.estimate.resend_armed.store(true, Ordering::Relaxed);
        }
        let unsettled = kept.bound.map_or(0, |anchored| anchored.unsettled_millis);
        let offset = self.offset();
        let iat = ClockOffset::from_millis(offset.as_millis().saturating_sub(unsettled));
        let (now, iat) = (offset.apply(wall), iat.apply(wall));
        MintTimes {
            now,
            iat,
            offset,
            sample,
        }
    }
}

impl fmt::Debug for SourceClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceClock")
            .field("bound", &self.bound())
            .finish()
    }
}

/// Whether the first response to one token is still to be claimed as a sample:
/// each minted token and each `MemberToken` has one, armed when it was minted
/// ([`MintTimes::sample`]). Sampling counts attempts, whether or not the answer
/// carried a `Date`.
#[derive(Debug, Default)]
pub(crate) struct FirstResponse(AtomicBool);

impl FirstResponse {
    /// For a token whose first response is a sample when `armed`.
    pub(crate) fn new(armed: bool) -> Self {
        Self(AtomicBool::new(!armed))
    }

    /// True once: for the first request that asks.
    #[inline]
    pub(crate) fn claim(&self) -> bool {
        !self.0.load(Ordering::Relaxed) && !self.0.swap(true, Ordering::Relaxed)
    }
}

/// Marks a request, in its extensions, as a probe of Source's clock: the layer
/// sends it with no credential at all and reads the `Date` of Source's answer (a
/// 401, for most paths) into its estimate, so that the first member request
/// already signs on Source's clock. See
/// [`SourceAuthLayer::prime`](crate::SourceAuthLayer::prime)
/// and the README's production section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockProbe;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(seconds: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis)
    }

    fn ms(millis: i64) -> ClockOffset {
        ClockOffset::from_millis(millis)
    }

    /// A response sent at `sent_ms` and received `round_trip_ms` later, on both
    /// clocks (milliseconds after `base`, and after 1000 s on the wall clock),
    /// dated `date`.
    fn sample(base: Instant, sent_ms: u64, round_trip_ms: u64, date: SystemTime) -> Sample {
        let received = sent_ms + round_trip_ms;
        Sample {
            sent: base + Duration::from_millis(sent_ms),
            received: base + Duration::from_millis(received),
            received_wall: at(1000, received),
            date,
        }
    }

    #[test]
    fn a_response_bounds_the_offset_by_its_round_trip_and_dates_second() {
        // Sent at 1000.2, received at 1000.4, dated 1600: Source made it between
        // 1600.0 and 1601.0, while ours read between 1000.2 and 1000.4.
        let bound = ClockBound::from_response(at(1000, 200), at(1000, 400), at(1600, 0));
        assert_eq!(bound.earliest(), ms(599_600));
        assert_eq!(bound.latest(), ms(600_800));
        assert_eq!(bound.width(), Duration::from_millis(1200));
        assert!(bound.contains(ms(600_000)) && !bound.contains(ms(600_801)));
        assert_eq!(bound.to_string(), "[+599.600 s, +600.800 s]");
        // Received before sent (a wall clock stepped back): no round trip.
        let inverted = ClockBound::from_response(at(1000, 400), at(1000, 200), at(1600, 0));
        assert_eq!(inverted.earliest(), ms(599_600));
        assert_eq!(inverted.latest(), ms(600_600));
    }

    #[test]
    fn bounds_survive_packing_whatever_their_sign() {
        for (earliest, latest) in [
            (0, 0),
            (-3_600_000, -3_599_000),
            (-1, 1),
            (599_600, 600_800),
        ] {
            let bound = ClockBound {
                earliest: ms(earliest),
                latest: ms(latest),
            };
            assert_eq!(ClockBound::unpack(bound.pack()), bound);
        }
        let huge = ClockBound {
            earliest: ms(i64::MIN),
            latest: ms(i64::MAX),
        };
        let packed = ClockBound::unpack(huge.pack());
        assert_eq!(packed.earliest(), ms(i32::MIN.into()));
        assert_eq!(packed.latest(), ms(i32::MAX.into()));
    }

    /// The defect this estimate fixes: on a host whose clock is right, a sample
    /// taken at any fraction of a second never puts `iat` in Source's future.
    #[test]
    fn on_a_correct_clock_no_token_is_issued_in_sources_future() {
        for fraction in (0..8).map(|eighth| eighth * 125) {
            let clock = SourceClock::new();
            let base = Instant::now();
            // Source's clock is ours: the response left at 1000 s + fraction + 10 ms.
            let date = UNIX_EPOCH + Duration::from_secs(1000);
            let taken = clock.observe(&Sample {
                sent: base + Duration::from_millis(fraction),
                received: base + Duration::from_millis(fraction + 20),
                received_wall: at(1000, fraction + 20),
                date,
            });
            assert!(taken);
            assert!(
                clock.bound().contains(ClockOffset::ZERO),
                "{}",
                clock.bound()
            );
            for later in 0..120u64 {
                let now = at(1001, later * 37 % 1000);
                let monotonic = base + Duration::from_millis(1001 + later * 37 % 1000 - 1000);
                let times = clock.mint_times(now, monotonic);
                assert!(times.iat <= now, "iat {:?} after {now:?}", times.iat);
                assert!(times.now <= now);
            }
        }
    }

    #[test]
    fn a_slow_round_trip_is_not_a_sample() {
        let clock = SourceClock::new();
        let base = Instant::now();
        let slow = sample(base, 0, 6_000, at(1003, 0));
        assert!(!clock.observe(&slow));
        assert!(!clock.is_sampled());
        assert_eq!(clock.bound(), ClockBound::ZERO);
        // At the bound it still counts.
        let limit = u64::try_from(MAX_SAMPLE_ROUND_TRIP.as_millis()).unwrap();
        assert!(clock.observe(&sample(base, 0, limit, at(1003, 0))));
        // A wall clock stepped between send and receive does not stretch it: the
        // round trip is the monotonic one.
        let stepped = Sample {
            received_wall: at(5000, 0),
            ..sample(base, 10_000, 100, at(5000, 0))
        };
        assert!(clock.observe(&stepped));
    }

    /// Samples intersect: the estimate narrows, and a wide sample that agrees
    /// neither widens nor moves it.
    #[test]
    fn samples_narrow_the_estimate_and_a_wide_one_moves_nothing() {
        let clock = SourceClock::new();
        let base = Instant::now();
        // Received at 1000.100, dated 1600: Source is 599.9 to 600.9 s ahead
        // (the round trip of 0 adds nothing).
        assert!(clock.observe(&sample(base, 100, 0, at(1600, 0))));
        assert_eq!(clock.bound().earliest(), ms(599_900));
        assert_eq!(clock.bound().latest(), ms(600_900));
        // Received at 1000.700, dated 1601: 600.3 to 601.3 ahead. Both hold:
        // 600.3 to 600.9.
        assert!(clock.observe(&sample(base, 700, 0, at(1601, 0))));
        assert_eq!(clock.bound().earliest(), ms(600_300));
        assert_eq!(clock.bound().latest(), ms(600_900));
        // A wide sample (a 2.5 s round trip) that agrees changes nothing.
        let before = clock.bound();
        assert!(clock.observe(&sample(base, 1000, 2500, at(1602, 0))));
        assert_eq!(clock.bound(), before);
        assert_eq!(clock.offset(), ms(600_300));
        assert_eq!(clock.at(at(2000, 0)), at(2600, 300));
    }

    /// Samples that contradict the estimate mean a clock was stepped: the new one wins.
    #[test]
    fn a_contradicting_sample_wins() {
        let clock = SourceClock::new();
        let base = Instant::now();
        assert!(clock.observe(&sample(base, 0, 0, at(1600, 0))));
        assert!(clock.observe(&sample(base, 500, 0, at(399, 0))));
        assert_eq!(clock.bound().earliest(), ms(-601_500));
        assert_eq!(clock.bound().latest(), ms(-600_500));
    }

    /// An old bound is widened by the drift allowance before it is intersected,
    /// and one older than `SAMPLE_KEPT` is replaced.
    #[test]
    fn old_samples_widen_with_drift_and_expire() {
        let clock = SourceClock::new();
        let base = Instant::now();
        assert!(clock.observe(&sample(base, 0, 0, at(1000, 0))));
        assert_eq!(clock.bound().latest(), ms(1000));
        // Half an hour later (on both clocks), a sample 1.2 to 2.2 s ahead misses
        // it by 0.2 s: drift, since the old bound widened by 0.9 s (500 ppm of
        // 30 minutes) reaches 1.9 s. They agree on 1.2 to 1.9 s.
        let half_hour = 30 * 60 * 1000;
        let later = Sample {
            sent: base + Duration::from_millis(half_hour),
            received: base + Duration::from_millis(half_hour),
            received_wall: at(1000 + 30 * 60, 0),
            date: at(1000 + 30 * 60, 0) + Duration::from_millis(1200),
        };
        assert!(clock.observe(&later));
        assert_eq!(clock.bound().earliest(), ms(1200));
        assert_eq!(clock.bound().latest(), ms(1900));
        // ...and after `SAMPLE_KEPT` a sample replaces the bound outright.
        let kept_ms = u64::try_from(SAMPLE_KEPT.as_millis()).unwrap() + half_hour + 1;
        let much_later = Sample {
            sent: base + Duration::from_millis(kept_ms),
            received: base + Duration::from_millis(kept_ms),
            received_wall: at(1000, kept_ms),
            date: at(1000, kept_ms) + Duration::from_millis(1500),
        };
        // It overlaps the old bound, but does not narrow it: it alone holds.
        let epoch = clock.epoch();
        assert!(clock.observe(&much_later));
        assert_eq!(clock.bound().earliest(), ms(1500));
        assert_eq!(clock.bound().width(), Duration::from_secs(1));
        assert_ne!(clock.epoch(), epoch);
    }

    /// The first sample replaces the local clock, which was only assumed:
    /// tokens minted on it are due (a new epoch) unless it turns out right.
    #[test]
    fn a_first_sample_restarts_the_estimate_only_if_the_local_clock_was_wrong() {
        let right = SourceClock::new();
        let epoch = right.epoch();
        assert!(right.observe(&Sample::instant(at(1000, 0), at(1000, 0))));
        assert_eq!(right.epoch(), epoch);
        let wrong = SourceClock::new();
        let epoch = wrong.epoch();
        assert!(wrong.observe(&Sample::instant(at(1000, 0), at(1600, 0))));
        assert_ne!(wrong.epoch(), epoch);
    }

    /// After a jump of the local clock the next sample alone holds, even where
    /// it agrees with the kept bound, which the jump made unreliable.
    #[test]
    fn after_a_jump_the_next_sample_restarts_the_estimate() {
        let clock = SourceClock::new();
        let base = Instant::now();
        assert!(clock.observe(&sample(base, 0, 0, at(1000, 0))));
        let on = |seconds| base + Duration::from_secs(seconds);
        // A suspend: the wall clock, and Source's, 300 s ahead of the monotonic.
        clock.mint_times(at(1310, 0), on(10));
        let epoch = clock.epoch();
        let after = Sample {
            sent: on(11),
            received: on(11),
            received_wall: at(1311, 0),
            date: at(1311, 0),
        };
        assert!(clock.observe(&after));
        assert_ne!(clock.epoch(), epoch);
        let times = clock.mint_times(at(1311, 0), on(11));
        assert_eq!((times.now, times.iat), (at(1311, 0), at(1311, 0)));
    }

    /// A wall clock stepped back moves the estimate by as much; one that ran
    /// ahead (a forward step or a suspend) writes `iat` early enough for either,
    /// and asks for a sample.
    #[test]
    fn jumps_of_the_local_wall_clock_are_folded_in_when_minting() {
        let clock = SourceClock::new();
        let base = Instant::now();
        assert!(clock.observe(&sample(base, 0, 0, at(1000, 0))));
        clock.learn(Some(&sample(base, 0, 0, at(1000, 0))), false);
        assert!(!clock.may_refuse_for_skew());
        // Ten seconds on, the wall clock reads 60 s less than it should.
        let monotonic = base + Duration::from_secs(10);
        let times = clock.mint_times(at(950, 0), monotonic);
        assert_eq!(clock.offset(), ms(60_000));
        assert_eq!(times.now, at(1010, 0));
        assert_eq!(times.iat, times.now);
        assert!(clock.may_refuse_for_skew());
        // A sample is asked for, of whichever token is sent next, once.
        let cached = FirstResponse::new(true);
        assert!(cached.claim());
        assert!(clock.wants_sample(&cached));
        assert!(!clock.wants_sample(&cached));
        // Then it runs 300 s ahead of the monotonic clock: Source may be where it
        // was (a suspend) or 300 s behind it (a step).
        let times = clock.mint_times(at(1260, 0), base + Duration::from_secs(20));
        assert_eq!(times.now, at(1320, 0));
        assert_eq!(times.iat, at(1020, 0));
        // A small wobble is no jump.
        let times = clock.mint_times(at(1260, 50), base + Duration::from_secs(20));
        assert_eq!(times.iat, at(1020, 50));
        // The next sample settles it, alone.
        let settled = Sample {
            sent: base + Duration::from_secs(21),
            received: base + Duration::from_secs(21),
            received_wall: at(1261, 0),
            date: at(1021, 0),
        };
        assert!(clock.observe(&settled));
        let times = clock.mint_times(at(1261, 0), base + Duration::from_secs(21));
        assert_eq!(times.iat, times.now);
        assert_eq!(times.now, at(1021, 0));
    }

    /// A step back first undoes an unsettled step forward, and only what is left
    /// of it moves the estimate.
    #[test]
    fn a_step_back_first_undoes_an_unsettled_step_forward() {
        let clock = SourceClock::new();
        let base = Instant::now();
        assert!(clock.observe(&sample(base, 0, 0, at(1000, 0))));
        let on = |seconds| base + Duration::from_secs(seconds);
        // Ten seconds on, the wall clock runs 300 s ahead: `iat` goes 300 s back.
        let times = clock.mint_times(at(1310, 0), on(10));
        assert_eq!((times.now, times.iat), (at(1310, 0), at(1010, 0)));
        // Then it steps back 100 s: 200 s are still unsettled, the bound stays.
        let times = clock.mint_times(at(1220, 0), on(20));
        assert_eq!(clock.offset(), ms(0));
        assert_eq!((times.now, times.iat), (at(1220, 0), at(1020, 0)));
        // Then back 300 s more: 200 s undo the rest, 100 s move the bound.
        let times = clock.mint_times(at(930, 0), on(30));
        assert_eq!(clock.offset(), ms(100_000));
        assert_eq!((times.now, times.iat), (at(1030, 0), at(1030, 0)));
    }

    /// A bound is applied while both ends are within the hour, the hour itself
    /// included, and not once either end passes it.
    #[test]
    fn a_bound_reaching_past_the_hour_either_way_is_beyond() {
        let hour = i64::try_from(MAX_APPLIED_OFFSET.as_millis()).unwrap();
        let bound = |earliest, latest| ClockBound {
            earliest: ms(earliest),
            latest: ms(latest),
        };
        assert!(!bound(hour - 1000, hour).beyond(MAX_APPLIED_OFFSET));
        assert!(!bound(-hour, 1 - hour).beyond(MAX_APPLIED_OFFSET));
        assert!(bound(hour - 1000, hour + 1).beyond(MAX_APPLIED_OFFSET));
        assert!(bound(-hour - 1, 1000 - hour).beyond(MAX_APPLIED_OFFSET));
        assert!(!bound(0, 1000).beyond(MAX_APPLIED_OFFSET));
    }

    /// One token minted per period has its first response sampled: attempts,
    /// whatever the answers carry.
    #[test]
    fn one_token_minted_per_period_is_sampled() {
        let clock = SourceClock::new();
        let start = Instant::now();
        let wall = at(1000, 0);
        assert!(clock.mint_times(wall, start).sample);
        assert!(
            !clock
                .mint_times(wall, start + Duration::from_millis(999))
                .sample
        );
        assert!(clock.mint_times(wall, start + SAMPLE_PERIOD).sample);
        assert!(!clock.mint_times(wall, start + SAMPLE_PERIOD).sample);
    }

    /// Before the first sample, the local clock.
    #[test]
    fn before_any_sample_the_local_clock_is_used() {
        let clock = SourceClock::new();
        let times = clock.mint_times(at(1000, 0), Instant::now());
        assert_eq!(
            (times.now, times.iat, times.offset),
            (at(1000, 0), at(1000, 0), ms(0))
        );
        assert_eq!(
            format!("{clock:?}"),
            "SourceClock { bound: ClockBound { earliest: ClockOffset { millis: 0 }, latest: ClockOffset { millis: 0 } } }"
        );
    }

    #[test]
    fn an_estimate_beyond_the_bound_is_not_applied() {
        let clock = SourceClock::new();
        let base = Instant::now();
        assert!(clock.observe(&sample(base, 0, 0, at(1000 + 15 * 60, 0))));
        assert_eq!(clock.offset(), ms(15 * 60_000));
        let beyond = 1000 + MAX_APPLIED_OFFSET.as_secs() + 1;
        assert!(clock.observe(&sample(base, 0, 0, at(beyond, 0))));
        assert_eq!(clock.bound(), ClockBound::ZERO);
        assert!(clock.is_sampled());
        // Within the bound again: applied again.
        assert!(clock.observe(&sample(base, 0, 0, at(1000 - 15 * 60, 0))));
        assert_eq!(clock.offset(), ms(-15 * 60_000));
    }

    /// The first response to each token is claimed, once, whatever it carries,
    /// and the next one after `sample_soon`, by whichever token asks.
    #[test]
    fn sampling_claims_each_tokens_first_response() {
        let clock = SourceClock::new();
        let (first, second) = (FirstResponse::new(true), FirstResponse::new(true));
        assert!(clock.wants_sample(&first));
        // No sample arrives (a Source that sends no `Date`): still only once.
        assert!((0..100).all(|_| !clock.clone().wants_sample(&first)));
        assert!(clock.wants_sample(&second));
        // A token minted not to be sampled is not, unless a sample is asked for.
        let unarmed = FirstResponse::new(false);
        assert!(!clock.wants_sample(&unarmed));
        clock.sample_soon();
        assert!(clock.wants_sample(&first));
        assert!(!clock.wants_sample(&first) && !clock.wants_sample(&second));
    }

    /// A 401 keeps re-sends possible until a sample that is not one.
    #[test]
    fn a_refusal_arms_re_sends_until_a_good_sample() {
        let clock = SourceClock::new();
        let base = Instant::now();
        assert!(clock.may_refuse_for_skew());
        assert!(clock.learn(Some(&sample(base, 0, 0, at(1000, 0))), false));
        assert!(!clock.may_refuse_for_skew());
        // A 401 with no `Date`: armed, and the next response is sampled.
        let cached = FirstResponse::new(true);
        assert!(clock.wants_sample(&cached));
        assert!(!clock.wants_sample(&cached));
        assert!(!clock.learn(None, true));
        assert!(clock.may_refuse_for_skew());
        assert!(clock.wants_sample(&cached));
        // A 401 that is a sample stays armed; a good sample disarms.
        assert!(clock.learn(Some(&sample(base, 0, 0, at(1000, 0))), true));
        assert!(clock.may_refuse_for_skew());
        assert!(clock.learn(Some(&sample(base, 0, 0, at(1000, 0))), false));
        assert!(!clock.may_refuse_for_skew());
        // A slow sample teaches nothing and changes nothing.
        assert!(!clock.learn(Some(&sample(base, 0, 9_000, at(1000, 0))), false));
        assert!(!clock.may_refuse_for_skew());
    }
    #[test]
    fn zero_is_written_with_a_plus() {
        assert_eq!(ClockOffset::ZERO.to_string(), "+0.000 s");
        assert_eq!(ClockOffset::from_millis(-1).to_string(), "-0.001 s");
    }

    #[test]
    fn between_and_apply_agree_both_ways() {
        let local = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for remote in [
            local + Duration::from_millis(600_250),
            local - Duration::from_millis(600_250),
            local,
        ] {
            let offset = ClockOffset::between(local, remote);
            assert_eq!(offset.apply(local), remote);
            assert_eq!(offset.unapply(remote), local);
        }
        let behind = ClockOffset::between(local, local - Duration::from_secs(3));
        assert!(!behind.is_ahead());
        assert_eq!(behind.magnitude(), Duration::from_secs(3));
        assert_eq!(behind.to_string(), "-3.000 s");
        assert!(ClockOffset::ahead(Duration::from_millis(1)).is_ahead());
        assert!(!ClockOffset::ZERO.is_ahead());
    }

    #[test]
    fn extreme_offsets_saturate_rather_than_overflow() {
        let huge = ClockOffset::ahead(Duration::MAX);
        assert_eq!(huge.as_millis(), i64::MAX);
        assert_eq!(ClockOffset::behind(Duration::MAX).as_millis(), -i64::MAX);
    }
}
