//! `ApplicationVerifier` and the claims it returns.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::id::is_source_id;
use crate::jws::{self, Malformed, Parts};
use crate::lifetime::TimeRules;
use crate::member::MAX_TOKEN_LEN;

use super::eddsa::{self, EDDSA};
use super::{APPLICATION_ID_PREFIX, ApplicationKey, ISSUER, USER_ID_PREFIX};

/// What a verified application token says.
///
/// `user` and `application` are checked (a well-formed `usr_…` id, and the
/// verifier's application id); `purpose` is returned as Source wrote it, unchecked
/// (Source's demo plugin uses `"verification"`): check it yourself if your
/// backend gives tokens of different purposes different rights.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplicationClaims {
    /// The Source user the plugin acts for (`usr`, `usr_…`).
    pub user: String,
    /// The application the token is for (`app`): the verifier's application id.
    pub application: String,
    /// What Source issued the token for (`purpose`), as is.
    pub purpose: String,
    /// When Source issued the token (`iat`).
    pub issued_at: SystemTime,
    /// When the token expires (`exp`).
    pub expires_at: SystemTime,
}

/// The payload on the wire, in the order Source writes it.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireClaims {
    pub(crate) purpose: String,
    pub(crate) app: String,
    pub(crate) usr: String,
    pub(crate) iat: u64,
    pub(crate) iss: String,
    pub(crate) exp: u64,
    /// Source does not write it; honoured when present (RFC 7519).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nbf: Option<u64>,
}

/// Verifies the application tokens Source gives a frame plugin, for one application.
///
/// A token is accepted only if all of these hold:
///
/// - at most 8 KiB, three base64url parts, a JSON header and payload in UTF-8;
/// - header `alg` exactly `EdDSA` (`none`, HMAC and RSA are refused, and so is any
///   `crit`);
/// - when a configured key has a `kid`, the token's `kid` names it (keys without a
///   `kid` are tried for any token; Source's own JWKs have none);
/// - an Ed25519 signature by one of the keys, checked strictly (`verify_strict`:
///   no malleable or non-canonical signatures, no small-order keys);
/// - `iss` is `sourcehealth`, `app` is this verifier's application id, `usr` is a
///   well-formed `usr_…` id, and `purpose` is a string;
/// - `exp` not passed (with the leeway), `iat` not in the future, an `nbf` if
///   present reached, and `0 < exp − iat ≤ 24 h`.
///
/// Each failure has its own [`ErrorKind`]; no message quotes the token.
///
/// ```
/// use source_auth::ErrorKind;
/// use source_auth::application::{ApplicationKey, ApplicationVerifier};
///
/// let jwk = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"EdDSA"}"#;
/// let verifier = ApplicationVerifier::new("app_5QW8j1oKqQjNaPk4", [ApplicationKey::from_jwk(jwk)?])?;
///
/// // An HS256 token is refused whatever its key: alg must be EdDSA.
/// let hs256 = "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl";
/// assert_eq!(verifier.verify(hs256).unwrap_err().kind(), ErrorKind::InvalidToken);
/// # Ok::<(), source_auth::Error>(())
/// ```
///
/// Cloning is cheap (the id and keys are shared), so extractors clone it out of
/// the app state per request.
#[derive(Debug, Clone)]
pub struct ApplicationVerifier {
    application_id: Arc<str>,
    /// A verifier holds a key or two (during a rotation), so a scan is quickest.
    keys: Arc<[ApplicationKey]>,
    time: TimeRules,
}

impl ApplicationVerifier {
    /// A verifier for tokens Source issued to `application_id` (`app_…`), signed by
    /// any of `keys`.
    ///
    /// Refuses, when built rather than on every token, an `application_id` that is
    /// not `app_` followed by letters and digits
    /// ([`ErrorKind::InvalidApplicationId`]) and an empty `keys`
    /// ([`ErrorKind::NoVerificationKeys`]).
    pub fn new(
        application_id: impl Into<String>,
        keys: impl IntoIterator<Item = ApplicationKey>,
    ) -> Result<Self> {
        let application_id = application_id.into();
        if !is_source_id(&application_id, APPLICATION_ID_PREFIX) {
            return Err(Error::new(
                ErrorKind::InvalidApplicationId,
                "an ApplicationVerifier's application id must be `app_` followed by letters and digits, as Source shows it",
            ));
        }
        let keys: Arc<[ApplicationKey]> = keys.into_iter().collect();
        if keys.is_empty() {
            return Err(Error::new(
                ErrorKind::NoVerificationKeys,
                "an ApplicationVerifier needs at least one application key (the JWK Source gives the application)",
            ));
        }
        Ok(Self {
            application_id: application_id.into(),
            keys,
            time: TimeRules::default(),
        })
    }

    /// How long after `exp` (and before `nbf` or `iat`) a token is still accepted,
    /// for clock skew (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.time.leeway = leeway;
        self
    }

    /// Reads the time from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.time.clock = Arc::new(clock);
        self
    }

    /// The application id tokens must carry in `app`.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// Checks `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<ApplicationClaims> {
        let parts = self.signed(token)?;
        let claims: WireClaims = parts.claims().map_err(malformed)?;
        self.check_claims(claims)
    }

    /// Checks only that one of this verifier's keys signed `token` (EdDSA), and
    /// nothing it claims: not `iss`, `app`, `usr` or the times.
    ///
    /// For tools that report on a token, such as `source-auth inspect`. Never
    /// accept a token on this alone: [`verify`](Self::verify) is the check for that.
    pub fn verify_signature(&self, token: &str) -> Result<()> {
        self.signed(token).map(|_| ())
    }

    /// The parts of `token`, once its signature checked out.
    fn signed<'t>(&self, token: &'t str) -> Result<Parts<'t>> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::new(
                ErrorKind::TokenTooLarge,
                "application token is larger than 8 KiB",
            ));
        }
        let parts = Parts::split(token).map_err(malformed)?;
        self.check_signature(&parts)?;
        Ok(parts)
    }

    /// Checks the header and that one of the keys the `kid` allows signed `parts`.
    fn check_signature(&self, parts: &Parts<'_>) -> Result<()> {
        let mut buffer = [0; jws::MAX_HEADER_BYTES];
        let header = parts.header(&mut buffer).map_err(malformed)?;
        header.require_alg(EDDSA).map_err(malformed)?;
        let mut candidates = self
            .keys
            .iter()
            .filter(|key| key.kid.is_none() || key.kid.as_deref() == header.kid.as_deref())
            .peekable();
        if candidates.peek().is_none() {
            return Err(Error::new(
                ErrorKind::UnknownKey,
                "application token's `kid` names no key this verifier knows",
            ));
        }
        if candidates.any(|key| eddsa::verify(parts, &key.key).is_ok()) {
            Ok(())
        } else {
            Err(malformed(Malformed::Signature))
        }
    }

    fn check_claims(&self, claims: WireClaims) -> Result<ApplicationClaims> {
        if claims.iss != ISSUER {
            return Err(Error::new(
                ErrorKind::WrongIssuer,
                "application token's `iss` is not `sourcehealth`",
            ));
        }
        if *claims.app != *self.application_id {
            return Err(Error::new(
                ErrorKind::WrongApplication,
                "application token is for another application than this verifier's",
            ));
        }
        if !is_source_id(&claims.usr, USER_ID_PREFIX) {
            return Err(Error::new(
                ErrorKind::InvalidUserId,
                "application token's `usr` is not `usr_` followed by letters and digits",
            ));
        }
        self.time
            .check("application token", claims.iat, claims.exp, claims.nbf)?;
        // Both are within a day of now, so neither overflows; checked all the same.
        let (Some(issued_at), Some(expires_at)) = (time_at(claims.iat), time_at(claims.exp)) else {
            return Err(malformed(Malformed::Claims));
        };
        Ok(ApplicationClaims {
            user: claims.usr,
            application: claims.app,
            purpose: claims.purpose,
            issued_at,
            expires_at,
        })
    }
}

fn time_at(seconds: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

fn malformed(why: Malformed) -> Error {
    invalid_token(match why {
        Malformed::Shape => "application token is not a well-formed JWT",
        Malformed::Algorithm => {
            "application token must be signed with EdDSA, with no critical extensions"
        }
        // Application tokens need no `kid`; the header parser never reports this for them.
        Malformed::NoKeyId => "application token has no `kid`",
        Malformed::Signature => "application token's signature does not match its key",
        Malformed::Claims => {
            "application token's claims are malformed or lack `purpose`, `app`, `usr`, `iat`, `iss` or `exp`"
        }
    })
}

fn invalid_token(message: &'static str) -> Error {
    Error::new(ErrorKind::InvalidToken, message)
}
