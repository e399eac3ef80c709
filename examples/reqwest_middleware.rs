//! SourceAuthLayer as middleware in a reqwest-middleware client, against a local MockSource.
//!
//! `cargo run --example reqwest_middleware --features reqwest`

use source_auth::testing::{MockSource, Relationship, RelationshipStatus};
use source_auth::{ApiKey, BoxError, MemberGrant, SourceAuthLayer, TokenSigner};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let source = MockSource::start().await?;
    let key = ApiKey::new("key_demo1", "sk_test_demo0000000000000000000000000000")?;
    source.add_api_key(&key);
    source.set_relationship(
        Relationship {
            member: "mem_patient1",
            caregiver: "mem_parent1",
        },
        RelationshipStatus::Active,
    )?;

    // Every request acts as one member by default, with a token refreshed before it expires.
    let layer = SourceAuthLayer::member(TokenSigner::new(key), MemberGrant::member("mem_parent1"))?
        .base_url(source.base_url())?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(layer)
        .build();

    let url = format!("{}/v1/members/mem_patient1", source.base_url());
    let as_member = client.get(&url).send().await?;
    println!(
        "as the member: {} {}",
        as_member.status(),
        as_member.text().await?
    );

    // One request as a caregiver instead.
    let as_caregiver = client
        .get(&url)
        .with_extension(MemberGrant::member("mem_patient1").caregiver("mem_parent1"))
        .send()
        .await?;
    println!(
        "as a caregiver: {} {}",
        as_caregiver.status(),
        as_caregiver.text().await?
    );
    Ok(())
}
