//! The credentials and relationships MockSource knows, and how it checks a credential.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::credential::{ApiKey, KeyMode, UserToken};
use crate::member::TokenVerifier;
use crate::skew::ClockOffset;

use super::record::{Principal, PrincipalKind};
use super::rejection::Rejection;
use crate::authorization::{Presented, Scheme};

/// Whether a caregiver may currently act for a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelationshipStatus {
    /// Caregiver tokens for the pair are accepted.
    Active,
    /// Caregiver tokens for the pair get 403, as if there were no relationship.
    Inactive,
}

/// A caregiver and the member they act for, each named by its role so the two
/// cannot be swapped unnoticed (as in `MemberGrant::member(member).caregiver(caregiver)`).
///
/// ```
/// use source_auth::testing::Relationship;
///
/// let parent_of = Relationship { member: "mem_patient1", caregiver: "mem_parent1" };
/// assert_eq!(parent_of.member, "mem_patient1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Relationship<'a> {
    /// The member cared for: `sub` in a caregiver token.
    pub member: &'a str,
    /// The member acting for them: `act` in a caregiver token.
    pub caregiver: &'a str,
}

/// The mock's time: the clock it reads, which tests may move by hand, plus the
/// offset a test set to play a Source whose clock is off. The verifier reads this
/// too, so `exp` and `iat` are judged on the time the `Date` header shows.
#[derive(Debug, Clone)]
struct MockClock {
    clock: Arc<dyn Clock>,
    offset: ClockOffset,
}

impl Clock for MockClock {
    fn now(&self) -> SystemTime {
        self.offset.apply(self.clock.now())
    }
}

/// `Debug` is safe to derive: keys, tokens and the verifier all redact their secrets.
#[derive(Debug)]
pub(crate) struct Registry {
    api_keys: Vec<ApiKey>,
    user_tokens: Vec<UserToken>,
    /// Keyed by (subject, caregiver).
    relationships: HashMap<(String, String), RelationshipStatus>,
    clock: MockClock,
    /// Rebuilt whenever a key or the time changes, so it knows exactly the
    /// registered keys and reads the mock's time.
    verifier: Option<TokenVerifier>,
    #[cfg(feature = "application")]
    pub(crate) applications: super::application::Applications,
}

impl Registry {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        let clock = MockClock {
            clock,
            offset: ClockOffset::ZERO,
        };
        Self {
            api_keys: Vec::new(),
            user_tokens: Vec::new(),
            relationships: HashMap::new(),
            verifier: None,
            clock,
            #[cfg(feature = "application")]
            applications: Default::default(),
        }
    }

    /// Reads `clock` from now on; the offset stays.
    pub(crate) fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock.clock = clock;
        self.rebuild_verifier();
    }

    /// Runs `offset` away from the clock, replacing any offset set before.
    pub(crate) fn set_clock_offset(&mut self, offset: ClockOffset) {
        self.clock.offset = offset;
        self.rebuild_verifier();
    }

    /// The mock's time: its clock plus the offset.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Adds `key`, replacing any key with the same id.
    pub(crate) fn add_api_key(&mut self, key: &ApiKey) {
        self.remove_api_key(key.id());
        self.api_keys.push(key.clone());
        self.rebuild_verifier();
    }

    /// Forgets the key `key_id`, as Source forgets a revoked key: whether it was known.
    pub(crate) fn revoke_api_key(&mut self, key_id: &str) -> bool {
        let revoked = self.remove_api_key(key_id);
        self.rebuild_verifier();
        revoked
    }

    /// Whether a key `key_id` was there to remove. The verifier still knows it
    /// until the caller rebuilds it.
    fn remove_api_key(&mut self, key_id: &str) -> bool {
        let before = self.api_keys.len();
        self.api_keys.retain(|known| known.id() != key_id);
        self.api_keys.len() != before
    }

    /// The verifier knows every key and reads the mock's clock.
    fn rebuild_verifier(&mut self) {
        // `None` until a key is registered: a verifier needs one.
        self.verifier = TokenVerifier::new(self.api_keys.iter().cloned())
            .ok()
            .map(|verifier| verifier.with_clock(self.clock.clone()));
    }

    pub(crate) fn add_user_token(&mut self, token: &UserToken) {
        self.user_tokens.push(token.clone());
    }

    pub(crate) fn set_relationship(
        &mut self,
        relationship: Relationship<'_>,
        status: RelationshipStatus,
    ) {
        self.relationships.insert(
            (
                relationship.member.to_owned(),
                relationship.caregiver.to_owned(),
            ),
            status,
        );
    }

    /// Checks `presented` as Source would. `user_live_mode` is the request's
    /// `Source-Live-Mode`, which only user tokens read.
    pub(crate) fn authenticate(
        &self,
        presented: &Presented,
        user_live_mode: impl FnOnce() -> Result<bool, Rejection>,
    ) -> Result<Principal, Rejection> {
        let credential = presented.credential();
        if presented.scheme() == Scheme::Basic {
            return self.api_key_principal(credential);
        }
        if find_secret(&self.user_tokens, UserToken::secret, credential).is_some() {
            return Ok(Principal {
                kind: PrincipalKind::User,
                key_id: None,
                member: None,
                actor: None,
                live_mode: user_live_mode()?,
            });
        }
        if credential.starts_with("sk_") {
            return self.api_key_principal(credential);
        }
        self.member_principal(credential)
    }

    fn api_key_principal(&self, secret: &str) -> Result<Principal, Rejection> {
        let key = find_secret(&self.api_keys, ApiKey::secret, secret).ok_or_else(|| {
            Rejection::authentication("invalid_api_key", "the API secret matches no API key")
        })?;
        Ok(Principal {
            kind: PrincipalKind::ApiKey,
            key_id: Some(key.id().to_owned()),
            member: None,
            actor: None,
            live_mode: key.mode() == KeyMode::Live,
        })
    }

    fn member_principal(&self, token: &str) -> Result<Principal, Rejection> {
        let unknown_key =
            || Rejection::authentication("unknown_key", "the member token's key is not registered");
        let verifier = self.verifier.as_ref().ok_or_else(unknown_key)?;
        let (claims, key_id) = verifier.verify_with_key_id(token)?;
        // The verifier knows only registered keys, so this finds the one that signed.
        let key = self
            .api_keys
            .iter()
            .find(|key| key.id() == &*key_id)
            .ok_or_else(unknown_key)?;
        let principal = Principal {
            kind: match claims.act {
                None => PrincipalKind::Member,
                Some(_) => PrincipalKind::Caregiver,
            },
            key_id: Some(key.id().to_owned()),
            member: Some(claims.sub),
            actor: claims.act,
            live_mode: key.mode() == KeyMode::Live,
        };
        match (&principal.member, &principal.actor) {
            (Some(member), Some(actor)) if !self.is_active(member, actor) => {
                let message = if self.is_active(actor, member) {
                    "the caregiver has no active relationship with the member, but the reverse \
                     relationship is active: are `sub` and `act` swapped? `sub` is the member \
                     cared for, `act` the caregiver"
                } else {
                    "the caregiver has no active relationship with the member"
                };
                Err(Rejection::authorization(
                    "no_active_relationship",
                    message,
                    principal,
                ))
            }
            _ => Ok(principal),
        }
    }

    /// Whether `caregiver` may act for `member`.
    fn is_active(&self, member: &str, caregiver: &str) -> bool {
        // Owned keys: one allocation each, on a test double's path.
        self.relationships
            .get(&(member.to_owned(), caregiver.to_owned()))
            == Some(&RelationshipStatus::Active)
    }
}

/// The item whose secret equals `presented`, comparing each in constant time.
fn find_secret<'a, T>(
    items: &'a [T],
    secret: impl Fn(&T) -> &str,
    presented: &str,
) -> Option<&'a T> {
    // Look at every item, so the time taken does not tell which one matched.
    items.iter().fold(None, |found, item| {
        if bool::from(secret(item).as_bytes().ct_eq(presented.as_bytes())) {
            Some(item)
        } else {
            found
        }
    })
}
