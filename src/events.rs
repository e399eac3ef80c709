//! What the layer and middleware tell `tracing` (feature `tracing`), for the
//! operator who asks "why did my request go out without a token?".
//!
//! Never a token, a secret or a header value; member ids only at TRACE, since in a
//! health API they identify patients. Without the feature every function here is
//! empty and compiles away.

use std::time::Duration;

use crate::error::Error;
use crate::member::MemberGrant;
use crate::origin::Target;
use crate::skew::ClockOffset;

/// A member token was minted for `grant`, or refreshed when `refresh`.
#[inline]
pub(crate) fn minted(grant: &MemberGrant, key_id: &str, expires_at: u64, refresh: bool) {
    #[cfg(feature = "tracing")]
    {
        let kind = if grant.actor().is_some() {
            "caregiver"
        } else {
            "member"
        };
        // One event either way: with the ids at TRACE, without them at DEBUG.
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(
                grant = kind,
                key_id,
                expires_at,
                refresh,
                subject = grant.subject(),
                actor = grant.actor(),
                "source-auth minted a member token"
            );
        } else {
            tracing::debug!(
                grant = kind,
                key_id,
                expires_at,
                refresh,
                "source-auth minted a member token"
            );
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (grant, key_id, expires_at, refresh);
}

/// A request to Source was refused and not sent.
#[inline]
pub(crate) fn refused(error: &Error) {
    #[cfg(feature = "tracing")]
    tracing::debug!(kind = ?error.kind(), "source-auth refused a request; it was not sent");
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}

/// A request was left alone: it is not for the configured Source origin.
#[inline]
pub(crate) fn not_for_source(target: Target<'_>) {
    #[cfg(feature = "tracing")]
    tracing::trace!(
        scheme = target.scheme,
        host = target.host,
        "source-auth left a request alone: not for Source's origin, so no credential"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = target;
}

/// A request to Source kept the `Authorization` header its caller set.
#[inline]
pub(crate) fn callers_authorization_kept() {
    #[cfg(feature = "tracing")]
    tracing::trace!("source-auth kept the caller's own Authorization header");
}

/// The estimate of Source's clock moved by more than a few seconds.
#[inline]
pub(crate) fn clock_offset_changed(offset: ClockOffset) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        offset_seconds = offset.as_secs_f64(),
        "source-auth now signs on Source's clock, {offset} from this host's"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = offset;
}

/// Source's clock seemed further from ours than the layer applies; reported once.
#[inline]
pub(crate) fn clock_offset_beyond_bound(offset: ClockOffset, bound: Duration) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        offset_seconds = offset.as_secs_f64(),
        bound_seconds = bound.as_secs(),
        "source-auth: Source's clock seems {offset} from this host's, beyond the {} s it \
         corrects for, so it signs on this host's clock; check the system clock",
        bound.as_secs()
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (offset, bound);
}

/// Source answered 401 to a cached token, which will not be sent again.
#[inline]
pub(crate) fn retired(caregiver: bool, key_id: &str) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        grant = if caregiver { "caregiver" } else { "member" },
        key_id,
        "source-auth retired a cached member token after Source answered 401"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (caregiver, key_id);
}

/// The API key was rotated: requests sign with, and send, the new one.
#[inline]
pub(crate) fn key_rotated(key_id: &str) {
    #[cfg(feature = "tracing")]
    tracing::info!(key_id, "source-auth rotated its API key");
    #[cfg(not(feature = "tracing"))]
    let _ = key_id;
}
