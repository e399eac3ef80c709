//! Mints a member token and a caregiver token with a demo key and prints what they
//! carry. Needs no configuration: `cargo run --example quickstart`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use source_auth::{ApiKey, MemberGrant, MemberToken, TokenSigner};

/// A made-up test-mode key: Source knows nothing of it.
const DEMO_KEY_ID: &str = "key_0EipsUv2yRFxynHshisN";
const DEMO_SECRET: &str = "sk_test_DemoKeyForTheQuickstartOnly0000";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let signer = TokenSigner::new(ApiKey::new(DEMO_KEY_ID, DEMO_SECRET)?);

    let member = signer.sign(&MemberGrant::member("mem_5QW8j1oKqQjNaPk4Hv3f"))?;
    show("member token", &member)?;

    let caregiver = MemberGrant::caregiver("mem_5QW8j1oKqQjNaPk4Hv3f", "mem_2bXq9VtLm4Rk7WcP1sZd")
        .ttl(Duration::from_secs(15 * 60));
    show("caregiver token", &signer.sign(&caregiver)?)?;
    Ok(())
}

/// Prints the token's decoded header and claims, then the token itself.
fn show(title: &str, token: &MemberToken) -> Result<(), Box<dyn std::error::Error>> {
    println!("{title}");
    let mut parts = token.as_str().split('.');
    for name in ["header", "claims"] {
        let json = URL_SAFE_NO_PAD.decode(parts.next().unwrap_or_default())?;
        println!("  {name}: {}", String::from_utf8(json)?);
    }
    println!(
        "  token (signed with the DEMO key, valid nowhere): {}\n",
        token.as_str()
    );
    Ok(())
}
