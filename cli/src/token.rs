//! `source-auth token`: signs a member or caregiver token and prints it.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use source_auth::{ApiKey, MemberGrant, TokenSigner};

use crate::Failure;

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The member the token is for (`sub`), `mem_…`. With --caregiver, the member
    /// cared for.
    #[arg(value_name = "MEMBER_ID")]
    member: String,
    /// The caregiver acting for MEMBER_ID (`act`), `mem_…`: makes a caregiver token.
    #[arg(long, value_name = "CAREGIVER_ID")]
    caregiver: Option<String>,
    /// How long the token lives, such as 90s, 10m or 1h (at most 24h; default 5m).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    ttl: Option<Duration>,
    /// A scope to grant; repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// What to print.
    #[arg(long, value_enum, default_value_t = Output::Jwt)]
    output: Output,
}

/// The forms `token` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// The bare JWT.
    Jwt,
    /// An `Authorization: Bearer …` header line, for curl's -H.
    Header,
    /// The token endpoint's JSON: `{"token":…,"expires_at":…}`, in Unix seconds.
    Json,
}

pub(crate) fn run(args: &TokenArgs) -> Result<ExitCode, Failure> {
    let key = ApiKey::from_env().map_err(Failure::usage)?;
    let mut grant = MemberGrant::member(&args.member).scopes(args.scopes.iter().cloned());
    if let Some(caregiver) = &args.caregiver {
        grant = grant.caregiver(caregiver);
    }
    if let Some(ttl) = args.ttl {
        grant = grant.ttl(ttl);
    }
    let token = TokenSigner::new(key).sign(&grant).map_err(Failure::new)?;
    match args.output {
        Output::Jwt => println!("{}", token.as_str()),
        Output::Header => println!("Authorization: Bearer {}", token.as_str()),
        Output::Json => println!(
            "{}",
            serde_json::json!({ "token": token.as_str(), "expires_at": token.claims().exp })
        ),
    }
    Ok(ExitCode::SUCCESS)
}
