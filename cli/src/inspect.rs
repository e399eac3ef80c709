//! `source-auth inspect`: what a token says, which of Source's rules it breaks,
//! and whether its signature checks out.
//!
//! The header and claims are decoded here, without trusting them, so that a
//! token is shown even when it is expired or forged. The rules on ids and scopes
//! are the library's (`MemberGrant::validate`), and signatures are checked by the
//! library's verifiers; once a signature checks out, the library's full
//! verification runs too, so `inspect` never calls valid a token it refuses.

use std::cmp::Ordering;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use serde::Serialize;
use serde_json::{Map, Value};
use source_auth::application::{ApplicationKey, ApplicationVerifier};
use source_auth::{ApiKey, ErrorKind, MemberGrant, TokenVerifier};

use crate::Failure;

/// Longer tokens are refused unread by Source's verifiers, and here.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// The longest lifetime (`exp − iat`) Source allows.
const MAX_LIFETIME: u64 = 24 * 60 * 60;
/// How far `iat` and `nbf` may lie ahead of this machine's clock before they
/// count as in the future: the library verifiers' default leeway.
const CLOCK_SKEW: u64 = 30;
/// The issuer of every application token.
const APPLICATION_ISSUER: &str = "sourcehealth";

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The token, or `-` (the default) for standard input. An `Authorization:
    /// Bearer …` line, as `token --output header` prints, is read too.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
    /// The application's public key, a JWK file, to verify an application token
    /// (alg EdDSA) with.
    #[arg(long, value_name = "FILE", requires = "app")]
    jwk: Option<PathBuf>,
    /// The application an application token must be for, `app_…`.
    #[arg(long, value_name = "APP_ID")]
    app: Option<String>,
    /// Print a JSON report, for scripts.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &InspectArgs) -> Result<ExitCode, Failure> {
    let text = match args.token.as_deref() {
        None | Some("-") => read_stdin()?,
        Some(token) => token.to_owned(),
    };
    let token = bare_token(&text);
    if token.starts_with("sk_") {
        // Never echoed: it is the key itself.
        return Err(Failure::usage(
            "that is an API secret (sk_…), not a token: `inspect` reads member and application \
             tokens; keep the secret in SOURCE_API_KEY_SECRET",
        ));
    }
    let keys = Keys::load(args)?;
    let report = inspect(token, &keys, SystemTime::now());
    if args.json {
        // A report is strings, numbers and JSON values: it always serializes.
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", report.to_text());
    }
    Ok(ExitCode::from(report.exit_status()))
}

fn read_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_TOKEN_LEN as u64 * 2)
        .read_to_string(&mut text)
        .map_err(|err| {
            Failure::usage(format!("cannot read the token from standard input: {err}"))
        })?;
    Ok(text)
}

/// The token in `text`: surrounding space, an `Authorization:` name and a
/// `Bearer` scheme are dropped.
fn bare_token(text: &str) -> &str {
    let text = text.trim();
    let text = strip_prefix_ignoring_case(text, "authorization:").trim_start();
    strip_prefix_ignoring_case(text, "bearer ").trim()
}

fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> &'a str {
    match text.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => &text[prefix.len()..],
        _ => text,
    }
}

/// The keys a signature can be checked with.
#[derive(Debug)]
struct Keys {
    /// The API key in the environment, for member tokens.
    api_key: Option<ApiKeyVerifier>,
    /// From `--jwk` and `--app`, for application tokens.
    application: Option<ApplicationVerifier>,
    /// `--app`: the application an application token must be for.
    application_id: Option<String>,
}

impl Keys {
    fn load(args: &InspectArgs) -> Result<Self, Failure> {
        let api_key = match ApiKey::from_env() {
            Ok(key) => Some(ApiKeyVerifier {
                key_id: key.id().to_owned(),
                verifier: TokenVerifier::new([key]).map_err(Failure::usage)?,
            }),
            Err(err) if err.kind() == ErrorKind::MissingEnvironment => None,
            Err(err) => {
                return Err(Failure::usage(format!(
                    "the API key in the environment: {err}"
                )));
            }
        };
        let application = match (&args.jwk, &args.app) {
            (Some(path), Some(app)) => {
                let jwk = std::fs::read_to_string(path).map_err(|err| {
                    Failure::usage(format!("cannot read --jwk {}: {err}", path.display()))
                })?;
                let key = ApplicationKey::from_jwk(&jwk)
                    .map_err(|err| Failure::usage(format!("--jwk {}: {err}", path.display())))?;
                Some(ApplicationVerifier::new(app, [key]).map_err(Failure::usage)?)
            }
            _ => None,
        };
        Ok(Self {
            api_key,
            application,
            application_id: args.app.clone(),
        })
    }
}

/// The environment's API key, as its id and a verifier of its tokens.
#[derive(Debug)]
struct ApiKeyVerifier {
    key_id: String,
    verifier: TokenVerifier,
}

/// What `inspect` found.
#[derive(Debug, Serialize)]
struct Report {
    /// `member`, `application`, or `unreadable` when the token could not be decoded.
    kind: &'static str,
    header: Option<Map<String, Value>>,
    claims: Option<Map<String, Value>>,
    /// The time claims, each with its date and how far from now.
    times: Vec<TimeClaim>,
    broken: Vec<Broken>,
    signature: Signature,
}

/// A rule the token breaks, with a stable name for scripts.
#[derive(Debug, Serialize)]
struct Broken {
    rule: &'static str,
    message: String,
}

#[derive(Debug, Serialize)]
struct TimeClaim {
    claim: &'static str,
    at: String,
    relative: String,
}

#[derive(Debug, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
enum Signature {
    /// Checked with this key.
    Verified(String),
    /// Checked, and wrong.
    Invalid(String),
    /// Not checked, and why.
    Unchecked(String),
}

impl Report {
    fn exit_status(&self) -> u8 {
        match (&self.signature, self.broken.is_empty()) {
            (_, false) | (Signature::Invalid(_), _) => 1,
            (Signature::Verified(_), true) => 0,
            (Signature::Unchecked(_), true) => 3,
        }
    }

    fn to_text(&self) -> String {
        let mut text = format!("{} token\n", self.kind);
        for (name, part) in [("header", &self.header), ("claims", &self.claims)] {
            if let Some(part) = part {
                text += &format!("{name:<10}{}\n", Value::Object(part.clone()));
            }
        }
        for time in &self.times {
            text += &format!("{:<10}{} ({})\n", time.claim, time.at, time.relative);
        }
        text += &match &self.signature {
            Signature::Verified(detail) => format!("{:<10}verified {detail}\n", "signature"),
            Signature::Invalid(detail) => format!("{:<10}INVALID: {detail}\n", "signature"),
            Signature::Unchecked(detail) => format!("{:<10}not checked: {detail}\n", "signature"),
        };
        if self.broken.is_empty() {
            text += "rules     none broken\n";
        } else {
            text += "rules broken:\n";
            for broken in &self.broken {
                text += &format!("  {}: {}\n", broken.rule, broken.message);
            }
        }
        text
    }
}

/// Inspects `token` at `now`.
fn inspect(token: &str, keys: &Keys, now: SystemTime) -> Report {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (header, claims) = match decode(token) {
        Ok(parts) => parts,
        Err(why) => {
            return Report {
                kind: "unreadable",
                header: None,
                claims: None,
                times: Vec::new(),
                broken: vec![Broken {
                    rule: "malformed",
                    message: why.to_owned(),
                }],
                signature: Signature::Unchecked("the token could not be decoded".to_owned()),
            };
        }
    };
    let mut checks = Checks {
        header: &header,
        claims: &claims,
        now,
        broken: Vec::new(),
        times: Vec::new(),
    };
    if token.len() > MAX_TOKEN_LEN {
        checks.broke(
            "too_large",
            "the token is over 8 KiB; Source's verifiers refuse it unread",
        );
    }
    if header.contains_key("crit") {
        checks.broke(
            "crit",
            "the header names critical extensions (`crit`), which Source refuses",
        );
    }
    checks.times();
    let application = header.get("alg").and_then(Value::as_str) == Some("EdDSA");
    let signature = if application {
        checks.application(keys.application_id.as_deref());
        checks.application_signature(token, keys.application.as_ref())
    } else {
        checks.member(keys.api_key.as_ref());
        checks.member_signature(token, keys.api_key.as_ref())
    };
    Report {
        kind: if application { "application" } else { "member" },
        times: checks.times,
        broken: checks.broken,
        header: Some(header),
        claims: Some(claims),
        signature,
    }
}

type JsonObject = Map<String, Value>;

/// The header and payload of a compact JWS, as JSON objects.
fn decode(token: &str) -> Result<(JsonObject, JsonObject), &'static str> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT: a JWT is three base64url parts separated by dots");
    };
    let object = |part: &str, what| {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| what)?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(object)) => Ok(object),
            _ => Err(what),
        }
    };
    Ok((
        object(header, "the header is not base64url of a JSON object")?,
        object(payload, "the payload is not base64url of a JSON object")?,
    ))
}

/// The rules, checked one by one so that every broken one is named.
struct Checks<'a> {
    header: &'a Map<String, Value>,
    claims: &'a Map<String, Value>,
    now: u64,
    broken: Vec<Broken>,
    times: Vec<TimeClaim>,
}

impl<'a> Checks<'a> {
    fn broke(&mut self, rule: &'static str, message: impl Into<String>) {
        self.broken.push(Broken {
            rule,
            message: message.into(),
        });
    }

    /// A string claim, or a broken rule named `<claim>_missing` when absent or not
    /// a string.
    fn string(&mut self, claim: &'static str, rule: &'static str) -> Option<&'a str> {
        let claims: &'a Map<String, Value> = self.claims;
        let value = claims.get(claim).and_then(Value::as_str);
        if value.is_none() {
            self.broke(rule, format!("`{claim}` is missing or not a string"));
        }
        value
    }

    /// `iat`, `exp` and `nbf`: present where required, in order, not expired,
    /// not in the future, a lifetime of at most 24 hours.
    fn times(&mut self) {
        let iat = self.time("iat", "iat_missing", true);
        let exp = self.time("exp", "exp_missing", true);
        let nbf = self.time("nbf", "nbf_invalid", false);
        let now = self.now;
        if let Some(exp) = exp.filter(|&exp| exp <= now) {
            self.broke(
                "expired",
                format!("the token expired {} ago", words(now - exp)),
            );
        }
        if let Some(iat) = iat.filter(|&iat| iat > now + CLOCK_SKEW) {
            self.broke(
                "iat_in_future",
                format!("`iat` is {} in the future", words(iat - now)),
            );
        }
        if let Some(nbf) = nbf.filter(|&nbf| nbf > now + CLOCK_SKEW) {
            self.broke(
                "not_yet_valid",
                format!("`nbf` is {} in the future", words(nbf - now)),
            );
        }
        match (iat, exp) {
            (Some(iat), Some(exp)) if exp <= iat => {
                self.broke("exp_not_after_iat", "`exp` is not after `iat`");
            }
            (Some(iat), Some(exp)) if exp - iat > MAX_LIFETIME => self.broke(
                "lifetime_over_24h",
                format!(
                    "the token lives {} (`exp − iat`); Source allows at most 24h",
                    words(exp - iat)
                ),
            ),
            _ => {}
        }
    }

    /// The time claim `claim` in seconds, shown among the times; `rule` is broken
    /// when it is not whole seconds, or absent though `required`.
    fn time(&mut self, claim: &'static str, rule: &'static str, required: bool) -> Option<u64> {
        let value = self.claims.get(claim);
        if value.is_none() && !required {
            return None;
        }
        let Some(seconds) = value.and_then(Value::as_u64) else {
            self.broke(
                rule,
                format!("`{claim}` is missing or not whole seconds since the epoch"),
            );
            return None;
        };
        self.times.push(time_claim(claim, seconds, self.now));
        Some(seconds)
    }

    /// Member token rules: HS256, a `kid` (the environment's key, if there is
    /// one), member ids, a caregiver other than the member, scopes.
    fn member(&mut self, api_key: Option<&ApiKeyVerifier>) {
        let alg = self.header.get("alg").and_then(Value::as_str);
        if alg != Some("HS256") {
            self.broke(
                "alg",
                format!("`alg` is {}; member tokens are HS256", shown(alg)),
            );
        }
        match (self.header.get("kid").and_then(Value::as_str), api_key) {
            (None, _) => self.broke("kid_missing", "the header has no `kid` naming the API key"),
            (Some(kid), Some(key)) if kid != key.key_id => self.broke(
                "kid_not_environment_key",
                format!(
                    "`kid` is {kid:?}, but the key in the environment is {}",
                    key.key_id
                ),
            ),
            _ => {}
        }
        let sub = self.string("sub", "sub_missing");
        let act = match self.claims.get("act") {
            None => None,
            Some(_) => self.string("act", "act_not_member_id"),
        };
        let member_id = |id: &str| MemberGrant::member(id).validate().is_ok();
        if sub.is_some_and(|sub| !member_id(sub)) {
            self.broke(
                "sub_not_member_id",
                "`sub` is not a member id (`mem_` followed by letters and digits)",
            );
        }
        if act.is_some_and(|act| !member_id(act)) {
            self.broke(
                "act_not_member_id",
                "`act` (the caregiver) is not a member id (`mem_` followed by letters and digits)",
            );
        }
        if sub.is_some() && sub == act {
            self.broke(
                "caregiver_is_member",
                "`act` (the caregiver) is `sub` (the member): a caregiver token needs two members",
            );
        }
        let scopes = match self.claims.get("scopes") {
            None => Some(Vec::new()),
            Some(Value::Array(scopes)) => scopes
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect(),
            Some(_) => None,
        };
        match (scopes, sub) {
            (None, _) => self.broke("scopes_invalid", "`scopes` is not an array of strings"),
            // The library checks scopes once the ids pass; their own rules are above.
            (Some(scopes), Some(sub)) => {
                let mut grant = MemberGrant::member(sub).scopes(scopes);
                if let Some(act) = act {
                    grant = grant.caregiver(act);
                }
                if let Err(err) = grant.validate() {
                    if err.kind() == ErrorKind::InvalidScope {
                        self.broke("scopes_invalid", err.to_string());
                    }
                }
            }
            (Some(_), None) => {}
        }
    }

    fn member_signature(&mut self, token: &str, api_key: Option<&ApiKeyVerifier>) -> Signature {
        let Some(ApiKeyVerifier { key_id, verifier }) = api_key else {
            return Signature::Unchecked(
                "no API key in SOURCE_API_KEY_ID and SOURCE_API_KEY_SECRET".to_owned(),
            );
        };
        if self.header.get("kid").and_then(Value::as_str) != Some(key_id.as_str()) {
            return Signature::Unchecked(format!(
                "`kid` does not name the key in the environment, {key_id}"
            ));
        }
        let verified = verifier
            .verify_signature(token)
            .map(|()| verifier.verify(token).map(drop));
        self.signature(verified, format!("with {key_id} from the environment"))
    }

    /// Application token rules: Source's issuer, an application (the one given
    /// with --app), a user, a purpose.
    fn application(&mut self, application_id: Option<&str>) {
        let issuer = self.string("iss", "iss_missing");
        if issuer.is_some_and(|issuer| issuer != APPLICATION_ISSUER) {
            self.broke("wrong_issuer", format!("`iss` is not {APPLICATION_ISSUER}"));
        }
        let app = self.string("app", "app_missing");
        if let (Some(app), Some(expected)) = (app, application_id) {
            if app != expected {
                self.broke(
                    "wrong_application",
                    format!("`app` is {app:?}, not {expected}"),
                );
            }
        }
        self.string("usr", "usr_missing");
        self.string("purpose", "purpose_missing");
    }

    fn application_signature(
        &mut self,
        token: &str,
        verifier: Option<&ApplicationVerifier>,
    ) -> Signature {
        let Some(verifier) = verifier else {
            return Signature::Unchecked(
                "no application key: give --jwk FILE --app APP_ID".to_owned(),
            );
        };
        let verified = verifier
            .verify_signature(token)
            .map(|()| verifier.verify(token).map(drop));
        self.signature(verified, "with the --jwk key".to_owned())
    }

    /// The signature's status from a signature check whose success carries the
    /// library's full verification; a refusal no rule here names is a broken rule
    /// of its own, so that `inspect` never passes what the library refuses.
    fn signature(
        &mut self,
        verified: Result<Result<(), source_auth::Error>, source_auth::Error>,
        key: String,
    ) -> Signature {
        match verified {
            Err(err) => Signature::Invalid(err.to_string()),
            Ok(full) => {
                if let Err(err) = full {
                    if self.broken.is_empty() {
                        self.broke("refused_by_verifier", err.to_string());
                    }
                }
                Signature::Verified(key)
            }
        }
    }
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "missing".to_owned(), |value| format!("{value:?}"))
}

/// `claim` at `seconds` since the epoch, as a date and relative to `now`.
fn time_claim(claim: &'static str, seconds: u64, now: u64) -> TimeClaim {
    // RFC 3339 has four-digit years.
    let at = if seconds < YEAR_10000 {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string()
    } else {
        "after the year 9999".to_owned()
    };
    let relative = match seconds.cmp(&now) {
        Ordering::Greater => format!("in {}", words(seconds - now)),
        Ordering::Less => format!("{} ago", words(now - seconds)),
        Ordering::Equal => "now".to_owned(),
    };
    TimeClaim {
        claim,
        at,
        relative,
    }
}

/// 10000-01-01T00:00:00Z, in seconds since the epoch.
const YEAR_10000: u64 = 253_402_300_800;

/// `seconds` in words, such as `3m 20s`.
fn words(seconds: u64) -> String {
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}
