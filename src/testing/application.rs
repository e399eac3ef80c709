//! MockSource as the issuer of application tokens: one Ed25519 key pair per
//! application id, made on first use and kept, and tokens shaped as Source's are.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use crate::application::eddsa;
use crate::application::{
    APPLICATION_ID_PREFIX, ApplicationKey, ISSUER, USER_ID_PREFIX, WireClaims,
};
use crate::clock::unix_seconds;
use crate::error::{Error, ErrorKind, Result};
use crate::id::is_source_id;

use super::MockSource;
use super::handler::Shared;

/// How long Source's application tokens live.
const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The `purpose` Source's demo plugin gets.
const PURPOSE: &str = "verification";

/// The applications' signing keys, by application id. `Debug` shows public keys
/// only (ed25519-dalek's `SigningKey` hides its secret), and each key is zeroized
/// on drop.
#[derive(Debug, Default)]
pub(crate) struct Applications {
    keys: HashMap<String, SigningKey>,
}

impl Applications {
    /// The key of `application_id`, made on first use.
    fn signing_key(&mut self, application_id: &str) -> Result<&SigningKey> {
        if !is_source_id(application_id, APPLICATION_ID_PREFIX) {
            return Err(Error::new(
                ErrorKind::InvalidApplicationId,
                "an application id is `app_` followed by letters and digits",
            ));
        }
        Ok(match self.keys.entry(application_id.to_owned()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(generate()?),
        })
    }
}

/// A fresh key from the operating system's randomness.
fn generate() -> Result<SigningKey> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|_| {
        Error::new(
            ErrorKind::Signing,
            "the operating system gave no randomness for an application key",
        )
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

impl MockSource {
    /// The public key of `application_id` (`app_…`), as a backend would configure
    /// it; the key pair is made on first use and kept for this mock's lifetime.
    ///
    /// Fails with [`ErrorKind::InvalidApplicationId`] for a malformed id.
    #[cfg_attr(docsrs, doc(cfg(feature = "application")))]
    pub fn application(&self, application_id: &str) -> Result<ApplicationKey> {
        self.shared.application(application_id)
    }

    /// An application token for `user_id` (`usr_…`) in `application_id`, exactly
    /// as Source shapes it: header `{"alg":"EdDSA","crv":"Ed25519","kid":<application_id>}`,
    /// payload `{"purpose":"verification","app":…,"usr":…,"iat":N,"iss":"sourcehealth","exp":N}`,
    /// 15 minutes from the mock's clock, signed with the application's key.
    ///
    /// Fails with [`ErrorKind::InvalidApplicationId`] or
    /// [`ErrorKind::InvalidUserId`] for a malformed id.
    #[cfg_attr(docsrs, doc(cfg(feature = "application")))]
    pub fn application_token(&self, application_id: &str, user_id: &str) -> Result<String> {
        self.shared.application_token(application_id, user_id)
    }
}

/// The handle's methods, and the control API's `application-token` and `application-jwk`.
impl Shared {
    pub(crate) fn application(&self, application_id: &str) -> Result<ApplicationKey> {
        let mut registry = self.registry_mut();
        let key = registry.applications.signing_key(application_id)?;
        Ok(ApplicationKey::new(key.verifying_key()))
    }

    pub(crate) fn application_token(&self, application_id: &str, user_id: &str) -> Result<String> {
        if !is_source_id(user_id, USER_ID_PREFIX) {
            return Err(Error::new(
                ErrorKind::InvalidUserId,
                "a Source user id is `usr_` followed by letters and digits",
            ));
        }
        let mut registry = self.registry_mut();
        let iat = unix_seconds(registry.now()).unwrap_or(0);
        let claims = WireClaims {
            purpose: PURPOSE.to_owned(),
            app: application_id.to_owned(),
            usr: user_id.to_owned(),
            iat,
            iss: ISSUER.to_owned(),
            exp: iat + TOKEN_LIFETIME.as_secs(),
            nbf: None,
        };
        let key = registry.applications.signing_key(application_id)?;
        // Plain strings and numbers cannot fail to serialize.
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        eddsa::sign(&eddsa::header_segment(application_id), &payload, key)
            .ok_or_else(|| Error::new(ErrorKind::Signing, "could not encode the application token"))
    }
}
