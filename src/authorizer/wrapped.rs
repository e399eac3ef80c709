//! A per-request credential put in a request's extensions inside a wrapper.
//!
//! `Extensions` is keyed by type, so an `Arc<MemberGrant>` or `Option<MemberToken>`
//! is not a `MemberGrant` or `MemberToken` to the layer: without this check such a
//! request would go out with the layer's default credential (the API key), or be
//! refused as carrying none. It is refused with an error naming the wrapper and
//! the type to insert instead.

use std::sync::Arc;

use http::Extensions;

use crate::error::{Error, ErrorKind, Result};
use crate::member::{MemberGrant, MemberToken};

/// Refuses `extensions` when they hold a wrapped `MemberGrant` or `MemberToken`
/// (`None` included). `bare` is how many bare ones were found: only a map with
/// more entries than those is searched, so a request with no extensions, or with
/// only its credential, pays one length check.
#[inline]
pub(crate) fn refuse_wrapped(extensions: &Extensions, bare: usize) -> Result<()> {
    if extensions.len() <= bare {
        return Ok(());
    }
    search(extensions)
}

#[cold]
#[inline(never)]
fn search(extensions: &Extensions) -> Result<()> {
    wrapped::<MemberGrant>(extensions, "MemberGrant")?;
    wrapped::<MemberToken>(extensions, "MemberToken")
}

fn wrapped<T: Send + Sync + 'static>(extensions: &Extensions, bare: &str) -> Result<()> {
    let wrapper = if extensions.get::<Arc<T>>().is_some() {
        "Arc"
    } else if extensions.get::<Box<T>>().is_some() {
        "Box"
    } else if extensions.get::<Option<T>>().is_some() {
        "Option"
    } else {
        return Ok(());
    };
    Err(Error::new(
        ErrorKind::WrappedCredential,
        format!(
            "the request's extensions hold an {wrapper}<{bare}>, which the layer does not read \
             as a credential; insert the {bare} itself (clone it out of the {wrapper}, or leave \
             it out when there is none)"
        ),
    ))
}
