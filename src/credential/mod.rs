//! The credentials Source accepts: API keys, user tokens and member tokens.
//!
//! | credential | sent as |
//! |---|---|
//! | [`ApiKey`] | `Authorization: Bearer sk_…`, or Basic with the secret as username |
//! | [`UserToken`] | `Authorization: Bearer …` plus `Source-Live-Mode: true\|false` |
//! | [`MemberToken`] | `Authorization: Bearer <jwt>`, signed with an API key |
//!
//! ```
//! use source_auth::{ApiKey, Credential, KeyMode, UserToken};
//!
//! let key = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
//! assert_eq!(key.mode(), KeyMode::Test);
//! // The secret never shows in Debug output.
//! assert!(!format!("{key:?}").contains("sk_test_"));
//!
//! let user = UserToken::new("ut_abc123")?.live_mode(false);
//! let credentials = [Credential::from(key), Credential::from(user)];
//! assert_eq!(credentials.len(), 2);
//! # Ok::<(), source_auth::Error>(())
//! ```

pub(crate) mod api_key;
mod rotating;
mod user_token;

pub use api_key::{ApiKey, KeyMode};
pub use rotating::RotatingKey;
pub use user_token::UserToken;

use crate::MemberToken;

/// Any credential Source accepts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credential {
    /// A secret API key, which can also sign member tokens.
    ApiKey(ApiKey),
    /// A token issued to a Source user at login.
    UserToken(UserToken),
    /// A member or caregiver token already signed.
    MemberToken(MemberToken),
    /// An API key the app can replace while it runs.
    RotatingKey(RotatingKey),
}

impl From<RotatingKey> for Credential {
    fn from(keys: RotatingKey) -> Self {
        Self::RotatingKey(keys)
    }
}

impl From<ApiKey> for Credential {
    fn from(key: ApiKey) -> Self {
        Self::ApiKey(key)
    }
}

impl From<UserToken> for Credential {
    fn from(token: UserToken) -> Self {
        Self::UserToken(token)
    }
}

impl From<MemberToken> for Credential {
    fn from(token: MemberToken) -> Self {
        Self::MemberToken(token)
    }
}
