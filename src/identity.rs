//! How the app tells this crate which Source member its user is.
//!
//! Implement [`SourceIdentity`] for the app's own user type; the axum and
//! actix-web extractors use it to sign a member or caregiver token for that user.
//!
//! ```
//! use source_auth::SourceIdentity;
//!
//! struct User {
//!     email: String,
//!     source_member_id: Option<String>,
//! }
//!
//! impl SourceIdentity for User {
//!     fn source_member_id(&self) -> Option<&str> {
//!         self.source_member_id.as_deref()
//!     }
//! }
//!
//! let user = User { email: "ada@example.com".into(), source_member_id: Some("mem_ada1".into()) };
//! assert_eq!(user.source_member_id(), Some("mem_ada1"));
//! ```

/// A user of the app that may be a Source member.
pub trait SourceIdentity {
    /// The Source member id (`mem_…`) of this user, or `None` when the user has none.
    fn source_member_id(&self) -> Option<&str>;
}
