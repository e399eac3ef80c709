//! What the layer and middleware tell `tracing` (feature `tracing`), for the
//! operator who asks "why did my request go out without a token?".
//!
//! Never a token, a secret or a header value; member ids only at TRACE, since in a
//! health API they identify patients. Without the feature every function here is
//! empty and compiles away.

use crate::error::Error;
use crate::member::MemberGrant;
use crate::origin::Target;

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
