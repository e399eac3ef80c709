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
#[command(name = "source-auth", version)]
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
    let args: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // --help and --version print to standard output and exit 0.
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            // clap's first paragraph, on one line.
            let rendered = err.to_string();
            let paragraph: Vec<_> = rendered
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = paragraph.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            let hint = if err.kind() == clap::error::ErrorKind::UnknownArgument
                && args.iter().any(|arg| is_secret_flag(arg))
            {
                "; the API key is read from SOURCE_API_KEY_ID and SOURCE_API_KEY_SECRET in the \
                 environment, never from a flag"
            } else {
                ""
            };
            eprintln!(
                "source-auth: {}{hint} (see --help)",
                redacted(message, &args)
            );
            return ExitCode::from(2);
        }
    };
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

/// `--secret` or `--key`, with or without `=value`: flags people reach for to
/// pass an API key.
fn is_secret_flag(arg: &str) -> bool {
    let flag = arg.split_once('=').map_or(arg, |(flag, _)| flag);
    matches!(flag, "--secret" | "--key" | "--api-key" | "--api-secret")
}

/// Whether `word` is shaped like an API secret (`sk_…`) or a JWT (`eyJ….…`).
fn is_secret_word(word: &str) -> bool {
    word.starts_with("sk_") || (word.starts_with("eyJ") && word.contains('.'))
}

/// The words of `text`: runs of `[A-Za-z0-9_.-]`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !is_word_char(c))
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// `message` with every argument that holds a secret or a token replaced as a
/// whole (clap quotes refused arguments, and a secret may hold `+`, `/` or
/// `=`), and then every word shaped like one: a secret pasted in the wrong
/// place must not reach a terminal log.
fn redacted(message: &str, args: &[String]) -> String {
    let mut message = message.to_owned();
    let mut secrets: Vec<&str> = args
        .iter()
        .filter(|arg| words(arg).any(is_secret_word))
        .flat_map(|arg| {
            // clap quotes the value of `--flag=value` without its flag.
            let value = arg.split_once('=').map(|(_, value)| value);
            std::iter::once(arg.as_str()).chain(value)
        })
        .filter(|secret| words(secret).any(is_secret_word))
        .collect();
    // Longest first, so that a value never leaves the rest of its argument.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    for secret in secrets {
        message = message.replace(secret, "[redacted]");
    }
    let mut out = String::with_capacity(message.len());
    let mut word = String::new();
    fn flush(word: &mut String, out: &mut String) {
        out.push_str(if is_secret_word(word) {
            "[redacted]"
        } else {
            word
        });
        word.clear();
    }
    for c in message.chars() {
        if is_word_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::{is_secret_flag, redacted};

    #[test]
    fn secrets_and_tokens_in_clap_messages_are_redacted() {
        assert_eq!(
            redacted("unexpected argument 'sk_test_abc123' found", &[]),
            "unexpected argument '[redacted]' found"
        );
        assert_eq!(
            redacted(
                "invalid value 'eyJhbGci.eyJzdWIi.sig' for '--ttl <DURATION>'",
                &[]
            ),
            "invalid value '[redacted]' for '--ttl <DURATION>'"
        );
        let plain = "unexpected argument '--secret' found; a-b.c_d eyJnodot";
        assert_eq!(redacted(plain, &[]), plain);
    }

    #[test]
    fn an_argument_holding_a_secret_is_redacted_whole_whatever_its_characters() {
        let secret = "sk_live_AAAA+BBBB/CCCC=DDDD";
        let args = [
            "source-auth".to_owned(),
            "token".to_owned(),
            secret.to_owned(),
        ];
        assert_eq!(
            redacted(&format!("unexpected argument '{secret}' found"), &args),
            "unexpected argument '[redacted]' found"
        );
        let flag = format!("--ttl={secret}");
        let args = ["source-auth".to_owned(), flag.clone()];
        assert_eq!(
            redacted(
                &format!("invalid value '{secret}' for '--ttl'; {flag}"),
                &args
            ),
            "invalid value '[redacted]' for '--ttl'; [redacted]"
        );
        let token = "x+eyJhbGci.eyJzdWIi.sig/=";
        let args = [token.to_owned(), "plain".to_owned()];
        assert_eq!(
            redacted(&format!("'{token}' and 'plain'"), &args),
            "'[redacted]' and 'plain'"
        );
    }

    #[test]
    fn secret_flags_are_recognised_with_or_without_a_value() {
        for flag in [
            "--secret",
            "--key",
            "--secret=sk_x",
            "--key=x",
            "--api-key",
            "--api-secret=y",
        ] {
            assert!(is_secret_flag(flag), "{flag}");
        }
        for other in ["--ttl", "secret", "--keys", "-k", "--secretive=1"] {
            assert!(!is_secret_flag(other), "{other}");
        }
    }
}
