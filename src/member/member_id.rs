use std::fmt;
use std::str::FromStr;

use compact_str::CompactString;

use crate::error::{Error, ErrorKind, InvalidInput};
use crate::id::is_source_id;

/// A well-formed Source member id (`mem_` followed by letters and digits), checked
/// where it enters the app.
///
/// [`parse`](Self::parse) is for untrusted input, such as a path segment: its
/// error is an [`InvalidInput`], which a handler can return as it is (with the
/// `axum` or `actix-web` feature) to answer 400 in Source's error shape, code
/// `invalid_member_id`. The crate's own caregiver endpoints check their path
/// parameter with it.
///
/// ```
/// use source_auth::{ErrorKind, MemberGrant, MemberId};
///
/// let patient = MemberId::parse("mem_patient1")?;
/// let grant = MemberGrant::member(&patient).caregiver("mem_parent1");
/// assert_eq!(grant.subject(), "mem_patient1");
///
/// let bad = MemberId::parse("mem_1/../admin").unwrap_err();
/// assert_eq!(bad.kind(), ErrorKind::InvalidMemberId);
/// assert_eq!(bad.status(), 400);
/// # Ok::<(), source_auth::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberId(CompactString);

impl MemberId {
    /// Checks `id` as untrusted input: `mem_` followed by 1 to 64 ASCII letters
    /// and digits.
    pub fn parse(id: &str) -> Result<Self, InvalidInput> {
        if is_source_id(id, "mem_") {
            Ok(Self(id.into()))
        } else {
            Err(InvalidInput::from(Error::new(
                ErrorKind::InvalidMemberId,
                "The member id must be `mem_` followed by letters and digits.",
            )))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for MemberId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MemberId {
    type Err = InvalidInput;

    fn from_str(id: &str) -> Result<Self, InvalidInput> {
        Self::parse(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parsed_id_reads_back_every_way() {
        let id: MemberId = "mem_5QW8j1oKqQjNaPk4Hv3f".parse().unwrap();
        assert_eq!(id.as_str(), "mem_5QW8j1oKqQjNaPk4Hv3f");
        assert_eq!(AsRef::<str>::as_ref(&id), "mem_5QW8j1oKqQjNaPk4Hv3f");
        assert_eq!(id.to_string(), "mem_5QW8j1oKqQjNaPk4Hv3f");
        for bad in [
            "",
            "mem_",
            "patient 1",
            "usr_5QW8j1oKqQjNaPk4Hv3f",
            "mem_a/b",
        ] {
            let err = bad.parse::<MemberId>().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidMemberId, "{bad:?}");
            // Fixed text: the input is never echoed.
            assert_eq!(
                err.to_string(),
                "The member id must be `mem_` followed by letters and digits."
            );
        }
    }
}
