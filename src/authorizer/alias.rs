//! One warning per layer when a request goes to its loopback origin spelled
//! another way: `base_url("http://localhost:P")` and requests to
//! `http://127.0.0.1:P` send no credential, and Source's (or MockSource's) 401
//! then points away from the cause.

#[cfg(feature = "tracing")]
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(feature = "tracing")]
use crate::events;
use crate::origin::{Origin, Target};

/// Whether this layer has warned yet. Without the `tracing` feature it is
/// empty and costs nothing.
#[derive(Debug, Default)]
pub(crate) struct LoopbackAlias {
    #[cfg(feature = "tracing")]
    warned: AtomicBool,
}

impl LoopbackAlias {
    /// Called only for requests that are not for `origin`, so a request for it
    /// pays nothing; warns at most once.
    #[inline]
    pub(crate) fn notice(&self, origin: &Origin, target: Target<'_>) {
        #[cfg(feature = "tracing")]
        if !self.warned.load(Ordering::Relaxed)
            && origin.is_loopback_alias(target)
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            events::loopback_alias(origin, target);
        }
        #[cfg(not(feature = "tracing"))]
        let _ = (origin, target);
    }
}
