use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind, Result};
use crate::id::is_visible_ascii;

use super::claims::validate_members;

/// Member tokens live 5 minutes unless told otherwise, as in Source's examples.
const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
const MAX_SCOPE_LEN: usize = 128;

/// What a member token grants: who it is for, who acts, for how long, with what scopes.
///
/// Building a grant never fails; [`TokenSigner::sign`](crate::TokenSigner::sign)
/// validates it.
///
/// ```
/// use std::time::Duration;
/// use source_auth::MemberGrant;
///
/// let member = MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f");
/// let caregiver = MemberGrant::caregiver("mem_patient1", "mem_parent1")
///     .ttl(Duration::from_secs(15 * 60))
///     .scopes(["read:profile"]);
/// assert_eq!(caregiver.actor(), Some("mem_parent1"));
/// assert_eq!(member.subject(), "mem_5QW8j1oKqQjNaPk4Hv3f");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberGrant {
    key: GrantKey,
    expiry: Expiry,
}

/// The part of a grant that names a distinct token: the cache key for minted tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GrantKey {
    pub(crate) subject: String,
    pub(crate) actor: Option<String>,
    pub(crate) scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    After(Duration),
    At(SystemTime),
}

impl MemberGrant {
    /// A token for `subject` acting as themselves.
    pub fn member(subject: impl Into<String>) -> Self {
        Self::new(subject.into(), None)
    }

    /// A token for `actor` acting as caregiver for `subject`.
    pub fn caregiver(subject: impl Into<String>, actor: impl Into<String>) -> Self {
        Self::new(subject.into(), Some(actor.into()))
    }

    fn new(subject: String, actor: Option<String>) -> Self {
        Self {
            key: GrantKey {
                subject,
                actor,
                scopes: Vec::new(),
            },
            expiry: Expiry::After(DEFAULT_TTL),
        }
    }

    /// The token expires this long after it is signed (default 5 minutes, at most 24 hours).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.expiry = Expiry::After(ttl);
        self
    }

    /// The token expires at this instant (at most 24 hours after it is signed).
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expiry = Expiry::At(at);
        self
    }

    /// The permission scopes to grant (default none).
    pub fn scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.key.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The member the token is about.
    pub fn subject(&self) -> &str {
        &self.key.subject
    }

    /// The caregiver acting for the subject, if any.
    pub fn actor(&self) -> Option<&str> {
        self.key.actor.as_deref()
    }

    /// The scopes to grant.
    pub fn scopes_granted(&self) -> &[String] {
        &self.key.scopes
    }

    pub(crate) fn key(&self) -> &GrantKey {
        &self.key
    }

    /// When a token signed `now` (since the Unix epoch) expires, since the Unix epoch.
    pub(crate) fn expiry_from(&self, now: Duration) -> Option<Duration> {
        match self.expiry {
            Expiry::After(ttl) => now.checked_add(ttl),
            Expiry::At(at) => at.duration_since(UNIX_EPOCH).ok(),
        }
    }

    /// Checks everything about the grant that does not depend on the time.
    pub(crate) fn validate(&self) -> Result<()> {
        validate_members(&self.key.subject, self.key.actor.as_deref())?;
        if !self
            .key
            .scopes
            .iter()
            .all(|scope| is_visible_ascii(scope, MAX_SCOPE_LEN))
        {
            return Err(Error::new(
                ErrorKind::InvalidScope,
                "each scope must be 1 to 128 characters of visible ASCII",
            ));
        }
        Ok(())
    }
}
