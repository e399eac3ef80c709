//! `source-auth`: Source credentials from the shell, built on the `source-auth`
//! library.
//!
//! - `source-auth token MEMBER_ID` signs a member or caregiver token with the API
//!   key in `SOURCE_API_KEY_ID` and `SOURCE_API_KEY_SECRET`;
//! - `source-auth inspect [TOKEN]` shows what a token says and every Source rule it
//!   breaks, and checks its signature when it can;
//! - `source-auth mock` runs MockSource on `127.0.0.1` for any language's tests.
//!
//! Secrets come from the environment only, never from flags (which end up in
//! shell history and `ps`), and no error shows a secret or a whole token.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod inspect;
mod mock;
mod token;

use std::fmt;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sign, inspect and serve Source health API credentials.
#[derive(Debug, Parser)]
#[command(name = "source-auth", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign a member (or caregiver) token with the API key in SOURCE_API_KEY_ID and
    /// SOURCE_API_KEY_SECRET, and print it.
    Token(token::TokenArgs),
    /// Show a member or application token's header and claims without trusting
    /// them, every Source rule it breaks, and whether its signature checks out.
    ///
    /// Exit status: 0 valid and verified, 1 invalid (a rule broken or a bad
    /// signature), 2 usage error, 3 no rule broken but the signature not checked
    /// (no matching key).
    Inspect(inspect::InspectArgs),
    /// Run MockSource, a stand-in for Source's API, on 127.0.0.1 until Ctrl-C;
    /// its base URL is the first line printed.
    Mock(mock::MockArgs),
}

/// Why a command failed: one line for standard error, and whether it was the
/// caller's usage (exit 2) or the work itself (exit 1).
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    usage: bool,
}

impl Failure {
    /// The work failed: exit status 1.
    pub(crate) fn new(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            usage: false,
        }
    }

    /// The arguments or the environment are wrong: exit status 2.
    pub(crate) fn usage(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            usage: true,
        }
    }
}

fn main() -> ExitCode {
    // Usage errors exit with 2, printed by clap.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Token(args) => token::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Mock(args) => mock::run(&args),
    };
    result.unwrap_or_else(|failure| {
        // The library's messages, and ours, never quote a secret or a token.
        eprintln!("source-auth: {}", failure.message);
        ExitCode::from(if failure.usage { 2 } else { 1 })
    })
}
