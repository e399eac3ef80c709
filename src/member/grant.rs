use std::time::{Duration, SystemTime, UNIX_EPOCH};

use compact_str::CompactString;

use crate::clock::since_epoch;
use crate::error::{Error, ErrorKind, Result};
use crate::id::is_visible_ascii;
use crate::skew::ClockOffset;

use super::MAX_TOKEN_LIFETIME;
use super::claims::validate_members;

/// Member tokens live 5 minutes unless told otherwise, as in Source's examples.
const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
/// The longest scope.
pub(crate) const MAX_SCOPE_LEN: usize = 128;
/// The most scopes one grant may carry.
pub(crate) const MAX_SCOPES: usize = 32;
/// The most bytes all of a grant's scopes may take together. With the id limits,
/// this bounds a cached grant and its token to a few KiB.
pub(crate) const MAX_SCOPE_BYTES: usize = 1024;

/// What a member token grants: who it is for, who acts, for how long, with what scopes.
///
/// Building a grant never fails; [`TokenSigner::sign`](crate::TokenSigner::sign)
/// validates it. A grant carries at most 32 scopes of at most 128 bytes each and
/// 1 KiB in all.
///
/// ```
/// use std::time::Duration;
/// use source_auth::MemberGrant;
///
/// let member = MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f");
/// let caregiver = MemberGrant::member("mem_patient1").caregiver("mem_parent1")
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
    pub(crate) subject: CompactString,
    pub(crate) actor: Option<CompactString>,
    pub(crate) scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    After(Duration),
    At(SystemTime),
}

impl MemberGrant {
    /// A token for `member` (`sub`), acting as themselves unless a
    /// [`caregiver`](Self::caregiver) is named.
    pub fn member(member: impl AsRef<str>) -> Self {
        Self {
            key: GrantKey {
                subject: member.as_ref().into(),
                actor: None,
                scopes: Vec::new(),
            },
            expiry: Expiry::After(DEFAULT_TTL),
        }
    }

    /// Makes this a caregiver token: `caregiver` (`act`) acts for the member the
    /// grant was built for (`sub`), as in
    /// `MemberGrant::member(patient).caregiver(parent)`. Each id is named by its
    /// role where it is given, so the two cannot be swapped unnoticed.
    pub fn caregiver(mut self, caregiver: impl AsRef<str>) -> Self {
        self.key.actor = Some(caregiver.as_ref().into());
        self
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

    /// The scopes set with [`scopes`](Self::scopes). The setter keeps the claim's
    /// name, so the getter cannot; `ExtractorConfig` uses the same pair.
    pub fn scopes_granted(&self) -> &[String] {
        &self.key.scopes
    }

    pub(crate) fn key(&self) -> &GrantKey {
        &self.key
    }

    /// The latest `exp` (whole seconds since the Unix epoch) a token for this grant
    /// may carry when signed or reused at Source's time `now`; refuses a grant whose
    /// expiry is not after `now` or is more than 24 hours ahead. A fixed expiry is
    /// a time on the app's clock, so it is moved by `offset`, Source's clock's
    /// offset from the app's, to end at the instant the app asked for.
    pub(crate) fn latest_exp(&self, now: SystemTime, offset: ClockOffset) -> Result<u64> {
        let now = since_epoch(now)?;
        let invalid = |message| Err(Error::new(ErrorKind::InvalidExpiry, message));
        let exp = match self.expiry {
            Expiry::After(ttl) => now.checked_add(ttl),
            Expiry::At(at) => offset.apply(at).duration_since(UNIX_EPOCH).ok(),
        };
        let Some(exp) = exp.map(|exp| exp.as_secs()) else {
            return invalid("the token's expiry must be after now");
        };
        let now = now.as_secs();
        if exp <= now {
            return invalid("the token's expiry must be at least one second after now");
        }
        if exp - now > MAX_TOKEN_LIFETIME.as_secs() {
            return invalid("the token's expiry must be at most 24 hours after now");
        }
        Ok(exp)
    }

    /// Checks everything about the grant that does not depend on the time, as
    /// [`TokenSigner::sign`](crate::TokenSigner::sign) does first: member ids
    /// (`mem_` followed by letters and digits), a caregiver other than the member,
    /// and the scopes (at most 32, 1 KiB in all, each 1 to 128 characters of
    /// visible ASCII). Fails with the first rule broken.
    ///
    /// To refuse a bad id where it enters your app (a form, a config file), before
    /// any token is signed:
    ///
    /// ```
    /// use source_auth::{ErrorKind, MemberGrant};
    ///
    /// assert!(MemberGrant::member("mem_patient1").caregiver("mem_parent1").validate().is_ok());
    /// let swapped = MemberGrant::member("mem_parent1").caregiver("mem_parent1").validate();
    /// assert_eq!(swapped.unwrap_err().kind(), ErrorKind::ActorIsSubject);
    /// let bad = MemberGrant::member("patient 1").validate();
    /// assert_eq!(bad.unwrap_err().kind(), ErrorKind::InvalidMemberId);
    /// ```
    pub fn validate(&self) -> Result<()> {
        validate_members(&self.key.subject, self.key.actor.as_deref())?;
        validate_scopes(&self.key.scopes)
    }
}

/// At most 32 scopes, 1 KiB in all, each 1 to 128 characters of visible ASCII.
pub(crate) fn validate_scopes(scopes: &[String]) -> Result<()> {
    let total: usize = scopes.iter().map(String::len).sum();
    if scopes.len() > MAX_SCOPES
        || total > MAX_SCOPE_BYTES
        || !scopes
            .iter()
            .all(|scope| is_visible_ascii(scope, MAX_SCOPE_LEN))
    {
        return Err(Error::new(
            ErrorKind::InvalidScope,
            "a grant carries at most 32 scopes, 1 KiB in all, each 1 to 128 characters of visible ASCII",
        ));
    }
    Ok(())
}
