//! The fixtures every test binary shares: the test key, the fixed "now" and a
//! clock stopped there.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::time::{Duration, UNIX_EPOCH};

use source_auth::{ApiKey, ManualClock, MemberClaims, TokenVerifier};

/// The key id from Source's docs.
pub const KEY_ID: &str = "key_0EipsUv2yRFxynHshisN";
/// A fixed test-mode secret, 44 bytes; the golden vectors are signed with it.
pub const SECRET: &str = "sk_test_51GoldenVectorsForSourceAuthRust0001";
/// The fixed "now" of the tests, in seconds since the Unix epoch.
pub const NOW: u64 = 1_700_000_000;

/// The test key.
pub fn api_key() -> ApiKey {
    ApiKey::new(KEY_ID, SECRET).expect("valid test key")
}

/// A clock stopped at [`NOW`].
pub fn clock() -> ManualClock {
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW))
}

/// The claims of `Authorization: Bearer <member token>`, verified at `clock`'s time.
pub fn bearer_claims(clock: &ManualClock, authorization: &str) -> MemberClaims {
    let jwt = authorization.strip_prefix("Bearer ").expect("bearer");
    TokenVerifier::new([api_key()])
        .unwrap()
        .with_clock(clock.clone())
        .verify(jwt)
        .expect("a valid member token")
}
