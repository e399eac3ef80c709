use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::id::is_source_id;

/// The payload of a member token, in the order Source's Node client writes it.
///
/// `act` is left out (not `null`) when there is no caregiver; `scopes` is always written.
///
/// ```
/// use source_auth::MemberClaims;
///
/// let claims: MemberClaims = serde_json::from_str(
///     r#"{"sub":"mem_1","iat":1655132531,"exp":1655132831,"scopes":[]}"#,
/// ).unwrap();
/// assert_eq!(claims.act, None);
/// assert_eq!(
///     serde_json::to_string(&claims).unwrap(),
///     r#"{"sub":"mem_1","iat":1655132531,"exp":1655132831,"scopes":[]}"#,
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberClaims {
    /// The member the token is about.
    pub sub: String,
    /// The caregiver acting for `sub`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<String>,
    /// Issued at, in whole seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, in whole seconds since the Unix epoch.
    pub exp: u64,
    /// Permission scopes; Source asks for `[]` for now.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// [`MemberClaims`] borrowed from a grant: the same JSON, written without copying
/// the ids, for signers that need only the token.
#[derive(Serialize)]
pub(crate) struct ClaimsOut<'a> {
    pub(crate) sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) act: Option<&'a str>,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    pub(crate) scopes: &'a [String],
}

/// Checks the member ids of a subject and optional actor.
pub(crate) fn validate_members(subject: &str, actor: Option<&str>) -> Result<()> {
    if !is_source_id(subject, "mem_") {
        return Err(Error::new(
            ErrorKind::InvalidMemberId,
            "subject must be a member id: `mem_` followed by letters and digits",
        ));
    }
    if let Some(actor) = actor {
        if !is_source_id(actor, "mem_") {
            return Err(Error::new(
                ErrorKind::InvalidMemberId,
                "actor must be a member id: `mem_` followed by letters and digits",
            ));
        }
        if actor == subject {
            return Err(Error::new(
                ErrorKind::ActorIsSubject,
                "a caregiver token needs an actor other than its subject; use a member token instead",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_claims_write_the_same_json() {
        for (act, scopes) in [
            (None, vec![]),
            (Some("mem_parent1"), vec![]),
            (
                Some("mem_parent1"),
                vec!["read:profile".to_owned(), "a\"b".to_owned()],
            ),
        ] {
            let owned = MemberClaims {
                sub: "mem_patient1".to_owned(),
                act: act.map(str::to_owned),
                iat: 1_700_000_000,
                exp: 1_700_000_300,
                scopes: scopes.clone(),
            };
            let borrowed = ClaimsOut {
                sub: "mem_patient1",
                act,
                iat: 1_700_000_000,
                exp: 1_700_000_300,
                scopes: &scopes,
            };
            assert_eq!(
                serde_json::to_string(&borrowed).unwrap(),
                serde_json::to_string(&owned).unwrap()
            );
        }
    }
}
