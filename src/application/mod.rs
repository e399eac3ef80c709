//! Application tokens: verify the tokens Source gives frame plugins.
//!
//! A frame plugin is a page Source's web app loads in an iframe. Through
//! `@source-health/bridge` it gets a short-lived *application token* that Source
//! signed with the application's Ed25519 key, and sends it to the customer's own
//! backend as `Authorization: Bearer <token>`. The backend verifies it with the
//! application's public key (a JWK) before it trusts the Source user inside:
//!
//! - header `{"alg":"EdDSA","crv":"Ed25519","kid":"<application id>"}`;
//! - payload `{"purpose":"verification","app":"app_…","usr":"usr_…","iat":N,"iss":"sourcehealth","exp":N}`,
//!   about 15 minutes of lifetime.
//!
//! [`ApplicationKey::from_jwk`] reads the public JWK, an [`ApplicationVerifier`]
//! checks tokens for one application (see its docs for every rule), and
//! [`ApplicationClaims`] is what it returns. With the `axum` or `actix-web`
//! feature, `source_auth::axum::SourceApplication` and
//! `source_auth::actix::SourceApplication` do the same as extractors. With
//! `test-util`, `MockSource` issues application tokens for tests.
//!
//! ```
//! use source_auth::application::{ApplicationKey, ApplicationVerifier};
//! use source_auth::testing::MockSource;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = MockSource::start().await?;
//! // In production: the JWK Source gives you for your application.
//! let jwk = source.application("app_5QW8j1oKqQjNaPk4")?.to_jwk();
//!
//! let verifier = ApplicationVerifier::new("app_5QW8j1oKqQjNaPk4", [ApplicationKey::from_jwk(&jwk)?])?;
//! // What the plugin would send, as Source shapes it.
//! let token = source.application_token("app_5QW8j1oKqQjNaPk4", "usr_ada1")?;
//!
//! let claims = verifier.verify(&token)?;
//! assert_eq!(claims.user, "usr_ada1");
//! assert_eq!(claims.purpose, "verification");
//!
//! let other = ApplicationVerifier::new("app_someoneElse", [ApplicationKey::from_jwk(&jwk)?])?;
//! assert!(other.verify(&token).is_err());
//! # Ok(())
//! # }
//! ```

pub(crate) mod eddsa;
#[cfg(any(feature = "axum", feature = "actix-web"))]
pub(crate) mod extract;
mod key;
mod verifier;

pub use key::ApplicationKey;
#[cfg(feature = "test-util")]
pub(crate) use verifier::WireClaims;
pub use verifier::{ApplicationClaims, ApplicationVerifier};

/// The `iss` of every application token.
pub(crate) const ISSUER: &str = "sourcehealth";
/// Source user ids are `usr_` followed by letters and digits.
pub(crate) const USER_ID_PREFIX: &str = "usr_";
/// Application ids are `app_` followed by letters and digits.
pub(crate) const APPLICATION_ID_PREFIX: &str = "app_";
