//! The `source-auth` command line, run as a process: `token`, `inspect`, `mock`
//! and usage errors.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/jws/mod.rs"]
mod jws;
#[path = "../../tests/interop/peers.rs"]
mod peers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command as Process, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use jws::{KEY_ID, SECRET, api_key};
use peers::Peer;
use predicates::prelude::*;
use serde_json::{Value, json};
use source_auth::testing::MockSource;
use source_auth::{MemberGrant, TokenSigner, TokenVerifier};

const PATIENT: &str = "mem_5QW8j1oKqQjNaPk4Hv3f";
const PARENT: &str = "mem_2bXq9VtLm4Rk7WcP1sZd";
const APP: &str = "app_5QW8j1oKqQjNaPk4Hv3f";
const USER: &str = "usr_2bXq9VtLm4Rk7WcP1sZd";

/// The binary, with no API key in its environment.
fn cli() -> Command {
    let mut command = Command::new(binary());
    command
        .env_remove("SOURCE_API_KEY_ID")
        .env_remove("SOURCE_API_KEY_SECRET");
    command
}

fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin!("source-auth").to_path_buf()
}

/// The binary, with the test key in its environment.
fn cli_with_key() -> Command {
    let mut command = cli();
    command
        .env("SOURCE_API_KEY_ID", KEY_ID)
        .env("SOURCE_API_KEY_SECRET", SECRET);
    command
}

fn stdout_of(command: &mut Command) -> String {
    let output = command.assert().success().get_output().stdout.clone();
    String::from_utf8(output).expect("UTF-8 output")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Standard error is one line that shows no secret.
fn one_clean_line() -> impl Predicate<str> {
    predicate::function(|stderr: &str| {
        stderr.lines().count() == 1 && !stderr.contains(SECRET) && !stderr.contains("eyJ")
    })
}

// --- token ---------------------------------------------------------------

#[test]
fn a_printed_token_verifies_with_the_library_and_with_pyjwt() {
    let token = stdout_of(cli_with_key().args([
        "token",
        PATIENT,
        "--caregiver",
        PARENT,
        "--ttl",
        "10m",
        "--scope",
        "read:profile",
        "--scope",
        "write:messages",
    ]));
    let token = token.trim_end();
    let claims = TokenVerifier::new([api_key()])
        .unwrap()
        .verify(token)
        .expect("the library verifies it");
    assert_eq!(claims.sub, PATIENT);
    assert_eq!(claims.act.as_deref(), Some(PARENT));
    assert_eq!(claims.scopes, ["read:profile", "write:messages"]);
    assert_eq!(claims.exp - claims.iat, 600);

    let (header, payload) = Peer::PyJwt.verify(token, SECRET);
    assert_eq!(header, json!({ "alg": "HS256", "kid": KEY_ID }));
    assert_eq!(payload, serde_json::to_value(&claims).unwrap());
}

#[test]
fn token_prints_a_header_line_or_the_token_endpoints_json() {
    let verifier = TokenVerifier::new([api_key()]).unwrap();
    let line = stdout_of(cli_with_key().args(["token", PATIENT, "--output", "header"]));
    let jwt = line
        .trim_end()
        .strip_prefix("Authorization: Bearer ")
        .expect("a header line");
    let claims = verifier.verify(jwt).expect("a valid token");
    // The library's default lifetime, 5 minutes, and no caregiver.
    assert_eq!((claims.exp - claims.iat, claims.act), (300, None));

    let json: Value = serde_json::from_str(&stdout_of(
        cli_with_key().args(["token", PATIENT, "--output", "json"]),
    ))
    .expect("JSON");
    let claims = verifier
        .verify(json["token"].as_str().expect("a token"))
        .expect("a valid token");
    assert_eq!(json["expires_at"], json!(claims.exp));
    assert_eq!(json.as_object().map(|o| o.len()), Some(2));
}

#[test]
fn token_refuses_bad_grants_in_one_line_without_the_secret() {
    for args in [
        vec!["token", "patient1"],
        vec!["token", PATIENT, "--caregiver", PATIENT],
        vec!["token", PATIENT, "--ttl", "25h"],
        vec!["token", PATIENT, "--scope", "two words"],
    ] {
        cli_with_key()
            .args(&args)
            .assert()
            .code(1)
            .stdout("")
            .stderr(one_clean_line());
    }
}

#[test]
fn token_needs_the_key_from_the_environment_never_a_flag() {
    cli()
        .args(["token", PATIENT])
        .assert()
        .code(2)
        .stderr(one_clean_line().and(predicate::str::contains("SOURCE_API_KEY")));
    let malformed = "sk_test_short";
    cli()
        .args(["token", PATIENT])
        .env("SOURCE_API_KEY_ID", KEY_ID)
        .env("SOURCE_API_KEY_SECRET", malformed)
        .assert()
        .code(2)
        .stderr(one_clean_line().and(predicate::str::contains(malformed).not()));
    for flag in ["--secret", "--api-key-secret", "--key"] {
        cli_with_key()
            .args(["token", PATIENT, flag, SECRET])
            .assert()
            .code(2)
            .stderr(one_clean_line());
    }
    // Pasted where clap quotes what it refuses: redacted.
    cli_with_key()
        .args(["token", PATIENT, SECRET])
        .assert()
        .code(2)
        .stderr(one_clean_line().and(predicate::str::contains("[redacted]")));
}

// --- inspect -------------------------------------------------------------

fn member_token(grant: &MemberGrant) -> String {
    TokenSigner::new(api_key())
        .sign(grant)
        .expect("a valid grant")
        .as_str()
        .to_owned()
}

/// `inspect [ARGS] --json TOKEN`: the exit status and the report.
fn inspect_json(command: &mut Command, args: &[&str], token: &str) -> (i32, Value) {
    let output = command
        .arg("inspect")
        .args(args)
        .args(["--json", token])
        .output()
        .expect("runs");
    let report = serde_json::from_slice(&output.stdout).expect("a JSON report");
    (output.status.code().expect("an exit status"), report)
}

fn broken_rules(report: &Value) -> Vec<&str> {
    report["broken"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|broken| broken["rule"].as_str().expect("a rule name"))
        .collect()
}

#[test]
fn a_valid_verified_token_exits_0_from_an_argument_or_standard_input() {
    let token = member_token(&MemberGrant::member(PATIENT).caregiver(PARENT));
    cli_with_key()
        .args(["inspect", &token])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains(format!(r#""sub":"{PATIENT}""#))
                .and(predicate::str::contains(format!(r#""act":"{PARENT}""#)))
                .and(predicate::str::contains("verified"))
                .and(predicate::str::contains("in 5m"))
                .and(predicate::str::contains("none broken"))
                .and(predicate::str::contains(token.as_str()).not()),
        );
    for (args, stdin) in [
        (vec!["inspect"], format!("{token}\n")),
        (vec!["inspect", "-"], token.clone()),
        (vec!["inspect"], format!("Authorization: Bearer {token}\n")),
    ] {
        cli_with_key()
            .args(&args)
            .write_stdin(stdin)
            .assert()
            .code(0);
    }
    let (status, report) = inspect_json(&mut cli_with_key(), &[], &token);
    assert_eq!(status, 0);
    assert_eq!(report["kind"], "member");
    assert_eq!(report["signature"]["status"], "verified");
    assert_eq!(report["header"], json!({ "alg": "HS256", "kid": KEY_ID }));
    assert_eq!(report["claims"]["sub"], PATIENT);
}

#[test]
fn without_a_key_inspect_says_it_did_not_check_the_signature_and_exits_3() {
    let token = member_token(&MemberGrant::member(PATIENT));
    cli().args(["inspect", &token]).assert().code(3).stdout(
        predicate::str::contains("not checked").and(predicate::str::contains("none broken")),
    );
    let (status, report) = inspect_json(&mut cli(), &[], &token);
    assert_eq!(
        (status, &report["signature"]["status"]),
        (3, &json!("unchecked"))
    );
}

/// Each bad token, signed with the test key, and the rules `inspect` must name.
fn bad_tokens() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let now = now();
    let header = jws::header(KEY_ID);
    let sign = |header: &str, payload: String| jws::hs256(header, &payload, SECRET);
    let claims = |sub: &str, act: Option<&str>, iat: u64, exp: u64| {
        let mut claims = json!({ "sub": sub, "iat": iat, "exp": exp, "scopes": [] });
        if let Some(act) = act {
            claims["act"] = json!(act);
        }
        claims.to_string()
    };
    vec![
        ("expired", sign(&header, claims(PATIENT, None, now - 900, now - 600)), vec!["expired"]),
        ("iat ahead", sign(&header, claims(PATIENT, None, now + 3600, now + 3900)), vec!["iat_in_future"]),
        ("a day and more", sign(&header, claims(PATIENT, None, now, now + 25 * 3600)), vec!["lifetime_over_24h"]),
        ("exp at iat", sign(&header, claims(PATIENT, None, now + 10, now + 10)), vec!["exp_not_after_iat"]),
        ("caregiver is member", sign(&header, claims(PATIENT, Some(PATIENT), now, now + 60)), vec!["caregiver_is_member"]),
        ("sub a user", sign(&header, claims(USER, None, now, now + 60)), vec!["sub_not_member_id"]),
        ("act no id", sign(&header, claims(PATIENT, Some("parent"), now, now + 60)), vec!["act_not_member_id"]),
        ("no sub", sign(&header, json!({ "iat": now, "exp": now + 60, "scopes": [] }).to_string()), vec!["sub_missing"]),
        ("no times", sign(&header, json!({ "sub": PATIENT, "scopes": [] }).to_string()), vec!["iat_missing", "exp_missing"]),
        ("exp a string", sign(&header, json!({ "sub": PATIENT, "iat": now, "exp": "soon" }).to_string()), vec!["exp_missing"]),
        ("nbf ahead", sign(&header, json!({ "sub": PATIENT, "iat": now, "exp": now + 600, "nbf": now + 300, "scopes": [] }).to_string()), vec!["not_yet_valid"]),
        ("scopes not a list", sign(&header, json!({ "sub": PATIENT, "iat": now, "exp": now + 60, "scopes": "all" }).to_string()), vec!["scopes_invalid"]),
        ("scope with a space", sign(&header, json!({ "sub": PATIENT, "iat": now, "exp": now + 60, "scopes": ["two words"] }).to_string()), vec!["scopes_invalid"]),
        ("another kid", sign(&jws::header("key_other1"), claims(PATIENT, None, now, now + 60)), vec!["kid_not_environment_key"]),
        ("no kid", sign(r#"{"alg":"HS256"}"#, claims(PATIENT, None, now, now + 60)), vec!["kid_missing"]),
        ("alg none", format!("{}.{}.", jws::b64(r#"{"alg":"none","kid":"key_0EipsUv2yRFxynHshisN"}"#), jws::b64(claims(PATIENT, None, now, now + 60))), vec!["alg"]),
        ("crit", sign(r#"{"alg":"HS256","kid":"key_0EipsUv2yRFxynHshisN","crit":["exp"]}"#, claims(PATIENT, None, now, now + 60)), vec!["crit"]),
        ("not a JWT", "eyJhbGciOiJIUzI1NiJ9.notjson".to_owned(), vec!["malformed"]),
        (
            // A terminal escape in a claim is shown escaped, never sent to the terminal.
            "escape in kid",
            sign(
                r#"{"alg":"HS256","kid":"key_\u001b[2J"}"#,
                claims(PATIENT, None, now, now + 60),
            ),
            vec!["kid_not_environment_key"],
        ),
        (
            "everything at once",
            sign(&jws::header("key_other1"), claims("mem_a", Some("mem_a"), now - 7200, now - 3600)),
            vec!["expired", "kid_not_environment_key", "caregiver_is_member"],
        ),
        ("too large", sign(&header, json!({ "sub": PATIENT, "iat": now, "exp": now + 60, "scopes": [], "pad": "a".repeat(9000) }).to_string()), vec!["too_large"]),
    ]
}

#[test]
fn inspect_names_each_broken_rule_and_exits_1() {
    for (case, token, rules) in bad_tokens() {
        let (status, report) = inspect_json(&mut cli_with_key(), &[], &token);
        assert_eq!(status, 1, "{case}: {report}");
        let broken = broken_rules(&report);
        for rule in &rules {
            assert!(broken.contains(rule), "{case}: {rule} not in {broken:?}");
        }
        let text = cli_with_key()
            .args(["inspect", &token])
            .output()
            .expect("runs");
        assert_eq!(text.status.code(), Some(1), "{case}");
        let stdout = String::from_utf8_lossy(&text.stdout);
        for rule in &rules {
            assert!(stdout.contains(&format!("  {rule}: ")), "{case}: {stdout}");
        }
        assert!(
            !stdout.contains(&token) && !stdout.contains(SECRET) && !stdout.contains('\u{1b}'),
            "{case}"
        );
        assert!(text.stderr.is_empty(), "{case}");
    }
}

#[test]
fn a_bad_signature_is_invalid_and_a_good_one_on_bad_claims_is_verified() {
    let now = now();
    let payload = json!({ "sub": PATIENT, "iat": now, "exp": now + 60, "scopes": [] }).to_string();
    let forged = jws::hs256(
        &jws::header(KEY_ID),
        &payload,
        "sk_test_someoneElsesSecret00000000000000",
    );
    let (status, report) = inspect_json(&mut cli_with_key(), &[], &forged);
    assert_eq!(status, 1);
    assert_eq!(report["signature"]["status"], "invalid");
    assert!(broken_rules(&report).is_empty());

    let expired = jws::hs256(
        &jws::header(KEY_ID),
        &json!({ "sub": PATIENT, "iat": now - 900, "exp": now - 600, "scopes": [] }).to_string(),
        SECRET,
    );
    let (status, report) = inspect_json(&mut cli_with_key(), &[], &expired);
    assert_eq!(
        (status, &report["signature"]["status"]),
        (1, &json!("verified"))
    );
    // Without the key, the same broken rule still fails it.
    assert_eq!(inspect_json(&mut cli(), &[], &expired).0, 1);
}

/// An application token MockSource issued, and its public JWK in a file.
fn application_token() -> (String, PathBuf) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mock = runtime
        .block_on(MockSource::start())
        .expect("the mock starts");
    let token = mock.application_token(APP, USER).expect("valid ids");
    let jwk = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-{}-{}.jwk",
        std::process::id(),
        now()
    ));
    std::fs::write(&jwk, mock.application(APP).expect("a valid id").to_jwk())
        .expect("write the JWK");
    (token, jwk)
}

#[test]
fn application_tokens_are_read_and_verified_with_a_jwk() {
    let (token, jwk) = application_token();
    let jwk = jwk.to_str().expect("a UTF-8 path");
    let (status, report) = inspect_json(&mut cli(), &["--jwk", jwk, "--app", APP], &token);
    assert_eq!(status, 0, "{report}");
    assert_eq!(report["kind"], "application");
    assert_eq!(report["claims"]["usr"], USER);
    assert_eq!(report["signature"]["status"], "verified");

    let (status, report) = inspect_json(&mut cli(), &[], &token);
    assert_eq!(
        (status, &report["signature"]["status"]),
        (3, &json!("unchecked"))
    );

    let (status, report) = inspect_json(&mut cli(), &["--app", "app_other1"], &token);
    assert_eq!(status, 1);
    assert_eq!(broken_rules(&report), ["wrong_application"]);

    // Another application's key: the signature does not check out.
    let (_, other_jwk) = application_token();
    let other_jwk = other_jwk.to_str().expect("a UTF-8 path");
    let (status, report) = inspect_json(&mut cli(), &["--jwk", other_jwk, "--app", APP], &token);
    assert_eq!(
        (status, &report["signature"]["status"]),
        (1, &json!("invalid"))
    );
}

#[test]
fn usage_errors_exit_2() {
    let (token, jwk) = application_token();
    let unreadable = jwk.with_extension("missing");
    let runs: [Vec<&str>; 9] = [
        vec![],
        vec!["frobnicate"],
        vec!["token"],
        vec!["token", PATIENT, "--ttl", "ten minutes"],
        vec!["token", PATIENT, "--output", "yaml"],
        vec!["inspect", "--jwk", jwk.to_str().unwrap(), &token],
        vec![
            "inspect",
            "--jwk",
            unreadable.to_str().unwrap(),
            "--app",
            APP,
            &token,
        ],
        vec!["mock", "--port", "http"],
        vec!["mock", "--relationship", "member=mem_a"],
    ];
    for args in runs.iter().chain([&vec!["inspect", &token, &token]]) {
        let output = cli_with_key().args(args).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            !stderr.contains(SECRET) && !stderr.contains(&token),
            "{args:?}"
        );
    }
    // A malformed key in the environment is the caller's to fix, and not shown.
    cli()
        .args(["inspect", &token])
        .env("SOURCE_API_KEY_ID", "key with spaces")
        .env("SOURCE_API_KEY_SECRET", SECRET)
        .assert()
        .code(2)
        .stderr(one_clean_line());
}

// --- mock ----------------------------------------------------------------

/// A running `source-auth mock`, killed if a test fails before stopping it.
struct Mock {
    child: Child,
    base_url: String,
}

impl Mock {
    fn start(configure: impl FnOnce(&mut Process)) -> Self {
        let mut command = Process::new(binary());
        command
            .arg("mock")
            .env_remove("SOURCE_API_KEY_ID")
            .env_remove("SOURCE_API_KEY_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        configure(&mut command);
        let mut child = command.spawn().expect("the mock starts");
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut first_line)
            .expect("the mock prints its URL");
        Self {
            child,
            base_url: first_line.trim_end().to_owned(),
        }
    }

    /// `METHOD path` with an optional `Authorization`: the status and the JSON body.
    fn call(&self, method: &str, path: &str, authorization: Option<&str>) -> (u16, Value) {
        let authorization = authorization.map(|value| format!("Authorization: {value}\r\n"));
        self.send(method, path, authorization.as_deref().unwrap_or(""), "")
    }

    /// `METHOD path` with `headers` (whole lines) and `body`, sent as is from
    /// `Host: 127.0.0.1:PORT`: the status and the JSON body.
    fn send(&self, method: &str, path: &str, headers: &str, body: &str) -> (u16, Value) {
        let address = self.address();
        let mut stream = TcpStream::connect(address).expect("the mock listens");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("an answer");
        let status = response[9..12].parse().expect("a status");
        let body = response.split_once("\r\n\r\n").expect("a body").1;
        (status, serde_json::from_str(body).expect("a JSON body"))
    }

    fn address(&self) -> &str {
        self.base_url.strip_prefix("http://").expect("an http URL")
    }

    /// Ctrl-C, then what it logged on standard error.
    fn interrupt(self) -> String {
        let (status, log) = self.stop("-INT");
        assert!(status.success(), "{status}: {log}");
        log
    }

    /// `kill SIGNAL`: how the mock exited and what it logged on standard error.
    fn stop(mut self, signal: &str) -> (std::process::ExitStatus, String) {
        let stopped = Process::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(stopped.success());
        let status = self.child.wait().expect("the mock stops");
        let mut log = String::new();
        let stderr: &mut ChildStderr = self.child.stderr.as_mut().expect("piped");
        stderr.read_to_string(&mut log).expect("a log");
        (status, log)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        // Already gone after `interrupt`; otherwise a failed test's leftover.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A responses folder: `GET /v1/members/PATIENT` for that member only,
/// `POST /v1/appointments` with 201 for anyone.
fn responses_dir() -> PathBuf {
    // One per call: tests run at once and change theirs.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-responses-{}-{}-{made}",
        std::process::id(),
        now()
    ));
    let members = dir.join("GET/v1/members");
    std::fs::create_dir_all(&members).expect("create the folder");
    std::fs::create_dir_all(dir.join("POST/v1")).expect("create the folder");
    let write = |path: PathBuf, json: Value| std::fs::write(path, json.to_string()).expect("write");
    write(
        members.join(format!("{PATIENT}.json")),
        json!({ "object": "member", "id": PATIENT }),
    );
    write(
        members.join(format!("{PATIENT}.meta.json")),
        json!({ "only_for": [{ "member": PATIENT }] }),
    );
    write(
        dir.join("POST/v1/appointments.json"),
        json!({ "object": "appointment" }),
    );
    write(
        dir.join("POST/v1/appointments.meta.json"),
        json!({ "status": 201 }),
    );
    dir
}

#[test]
fn mock_answers_the_key_from_the_environment_and_canned_responses_to_their_principal() {
    let dir = responses_dir();
    let mock = Mock::start(|command| {
        command
            .env("SOURCE_API_KEY_ID", KEY_ID)
            .env("SOURCE_API_KEY_SECRET", SECRET)
            .arg("--responses")
            .arg(&dir)
            .args([
                "--relationship",
                &format!("caregiver={PARENT},member={PATIENT}"),
            ]);
    });
    assert!(
        mock.base_url.starts_with("http://127.0.0.1:"),
        "{}",
        mock.base_url
    );
    let key = format!("Bearer {SECRET}");
    let member = format!("Bearer {}", member_token(&MemberGrant::member(PATIENT)));
    let caregiver = format!(
        "Bearer {}",
        member_token(&MemberGrant::member(PATIENT).caregiver(PARENT))
    );

    let (status, body) = mock.call("GET", "/v1/members", Some(&key));
    assert_eq!((status, &body["kind"]), (200, &json!("api_key")));
    let (status, body) = mock.call(
        "GET",
        "/v1/members",
        Some("Bearer sk_test_0000000000000000000000000000wrong"),
    );
    assert_eq!((status, &body["code"]), (401, &json!("invalid_api_key")));
    // The relationship from the flag: the caregiver is let in.
    let (status, body) = mock.call("GET", "/v1/members", Some(&caregiver));
    assert_eq!((status, &body["kind"]), (200, &json!("caregiver")));

    let (status, body) = mock.call("GET", &format!("/v1/members/{PATIENT}"), Some(&member));
    assert_eq!(
        (status, body),
        (200, json!({ "object": "member", "id": PATIENT }))
    );
    for other in [&key, &caregiver] {
        let (status, body) = mock.call("GET", &format!("/v1/members/{PATIENT}"), Some(other));
        assert_eq!(
            (status, &body["code"]),
            (403, &json!("principal_not_allowed"))
        );
    }
    let (status, body) = mock.call("POST", "/v1/appointments", Some(&key));
    assert_eq!((status, body), (201, json!({ "object": "appointment" })));
    let (status, _) = mock.call("POST", "/v1/appointments", None);
    assert_eq!(status, 401);

    let log = mock.interrupt();
    for line in [
        "GET /v1/members 200 api_key",
        "GET /v1/members 401 invalid_api_key",
        &format!("GET /v1/members/{PATIENT} 200 member"),
        &format!("GET /v1/members/{PATIENT} 403 principal_not_allowed"),
        "POST /v1/appointments 201 api_key",
        "POST /v1/appointments 401 missing_authorization",
    ] {
        assert!(
            log.lines().any(|logged| logged == line),
            "{line} not in\n{log}"
        );
    }
    assert!(!log.contains(SECRET) && !log.contains("eyJ"), "{log}");
}

#[test]
fn mock_listens_on_the_port_given_and_says_when_it_has_no_key() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mock = Mock::start(|command| {
        command.args(["--port", &port.to_string()]);
    });
    assert_eq!(mock.base_url, format!("http://127.0.0.1:{port}"));
    let (status, body) = mock.call("GET", "/v1/members", Some(&format!("Bearer {SECRET}")));
    assert_eq!((status, &body["code"]), (401, &json!("invalid_api_key")));
    let log = mock.interrupt();
    assert!(log.contains("no SOURCE_API_KEY_ID"), "{log}");
}

#[test]
fn mock_refuses_a_responses_folder_it_cannot_serve() {
    let dir = responses_dir();
    std::fs::create_dir_all(dir.join("get")).expect("create");
    cli()
        .args(["mock", "--responses"])
        .arg(&dir)
        .assert()
        .code(2)
        .stdout("")
        .stderr(one_clean_line().and(predicate::str::contains("capitals")));
    std::fs::remove_dir(dir.join("get")).expect("remove");
    let settings = dir.join("POST/v1/appointments.meta.json");
    let body = dir.join("POST/v1/appointments.json");
    let broken: [(&Path, &str); 4] = [
        (&settings, r#"{"status": 1000}"#),
        (&settings, r#"{"only_for": ["everyone"]}"#),
        (&settings, r#"{"status": 201, "for": "api_keys"}"#),
        (&body, "not JSON"),
    ];
    for (file, text) in broken {
        std::fs::write(file, text).expect("write");
        cli()
            .args(["mock", "--responses"])
            .arg(&dir)
            .assert()
            .code(2)
            .stderr(one_clean_line());
        std::fs::write(file, "{}").expect("write");
    }
    // Settings with no body beside them answer nothing: refused, not ignored.
    std::fs::remove_file(&body).expect("remove");
    cli()
        .args(["mock", "--responses"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(one_clean_line().and(predicate::str::contains("without a body")));
}

// --- mock: issue 22 ------------------------------------------------------

/// A control API call from a loopback `Host`.
fn control(mock: &Mock, method: &str, path: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    mock.send(method, path, "Content-Type: application/json\r\n", &body)
}

fn bearer(credential: &str) -> String {
    format!("Authorization: Bearer {credential}\r\n")
}

#[test]
fn mock_control_api_drives_every_endpoint_without_a_credential() {
    // No key in the environment: the control API adds one.
    let mock = Mock::start(|_| {});
    let (status, body) = control(&mock, "GET", "/__mock/requests", Value::Null);
    assert_eq!((status, body), (200, json!({"requests": [], "dropped": 0})));

    let (status, body) = control(
        &mock,
        "POST",
        "/__mock/keys",
        json!({"id": KEY_ID, "secret": SECRET}),
    );
    assert_eq!((status, body), (200, json!({"id": KEY_ID, "mode": "test"})));
    let live = "sk_live_4eC39HqLyjWDarjtT1zdp7dcLIVE0000";
    let (status, body) = control(
        &mock,
        "POST",
        "/__mock/keys",
        json!({"id": "key_live1", "secret": live}),
    );
    assert_eq!(
        (status, body),
        (200, json!({"id": "key_live1", "mode": "live"}))
    );
    let (status, body) = mock.send("GET", "/v1/members", &bearer(SECRET), "");
    assert_eq!((status, &body["kind"]), (200, &json!("api_key")));

    let (status, _) = control(
        &mock,
        "POST",
        "/__mock/relationships",
        json!({"member": PATIENT, "caregiver": PARENT}),
    );
    assert_eq!(status, 200);
    let caregiver = member_token(&MemberGrant::member(PATIENT).caregiver(PARENT));
    let (status, body) = mock.send("GET", "/v1/members", &bearer(&caregiver), "");
    assert_eq!((status, &body["kind"]), (200, &json!("caregiver")));
    let (status, body) = control(
        &mock,
        "POST",
        "/__mock/relationships",
        json!({"member": PATIENT, "caregiver": PATIENT}),
    );
    assert_eq!((status, &body["code"]), (400, &json!("actor_is_subject")));

    let record = format!("/v1/members/{PATIENT}");
    let (status, _) = control(
        &mock,
        "POST",
        "/__mock/responses",
        json!({"method": "GET", "path": record, "status": 201, "body": {"id": PATIENT},
               "only_for": [{"member": PATIENT}], "expect": 1}),
    );
    assert_eq!(status, 200);
    let (status, _) = control(
        &mock,
        "POST",
        "/__mock/responses",
        json!({"method": "DELETE", "path": "/v1/never", "expect": {"min": 1}}),
    );
    assert_eq!(status, 200);
    for refused in [
        json!({"method": "GET", "path": "/v1/x", "status": 204}),
        json!({"method": "GET", "path": "v1/x"}),
        json!({"method": "G ET", "path": "/v1/x"}),
        json!({"method": "GET", "path": "/v1/x", "expect": {"min": 2, "max": 1}}),
    ] {
        let (status, body) = control(&mock, "POST", "/__mock/responses", refused.clone());
        assert_eq!(status, 400, "{refused}: {body}");
    }
    let member = member_token(&MemberGrant::member(PATIENT));
    let (status, body) = mock.send("GET", &record, &bearer(&member), "");
    assert_eq!((status, body), (201, json!({"id": PATIENT})));
    let (status, body) = mock.send("GET", &record, &bearer(SECRET), "");
    assert_eq!(
        (status, &body["code"]),
        (403, &json!("principal_not_allowed"))
    );

    // Source's clock an hour ahead: a 5-minute token has expired there.
    let (status, _) = control(
        &mock,
        "PUT",
        "/__mock/clock",
        json!({"offset_seconds": 3600}),
    );
    assert_eq!(status, 200);
    let (status, body) = mock.send("GET", "/v1/members", &bearer(&member), "");
    assert_eq!((status, &body["code"]), (401, &json!("token_expired")));
    let (status, body) = control(
        &mock,
        "PUT",
        "/__mock/clock",
        json!({"offset_seconds": -10}),
    );
    assert_eq!(status, 200);
    // Behind, not ahead.
    let mock_now = body["now"].as_u64().expect("now");
    assert!((now() - 12..=now() - 9).contains(&mock_now), "{body}");
    let (status, _) = mock.send("GET", "/v1/members", &bearer(&member), "");
    assert_eq!(status, 200);

    let (status, _) = control(
        &mock,
        "POST",
        "/__mock/fail",
        json!({"count": 1, "status": 503, "code": "unavailable"}),
    );
    assert_eq!(status, 200);
    // Control requests are not failed, nor counted.
    let (status, body) = control(&mock, "GET", "/__mock/unused", Value::Null);
    assert_eq!(
        (status, body),
        (
            200,
            json!({"unused": [{"method": "DELETE", "path": "/v1/never"}]})
        )
    );
    let (status, body) = mock.send("GET", "/v1/members", &bearer(SECRET), "");
    assert_eq!((status, &body["code"]), (503, &json!("unavailable")));
    let (status, body) = control(
        &mock,
        "POST",
        "/__mock/fail",
        json!({"count": 1, "status": 101, "code": "x"}),
    );
    assert_eq!((status, &body["code"]), (400, &json!("invalid_status")));

    let (status, body) = control(&mock, "POST", "/__mock/verify", Value::Null);
    assert_eq!(status, 409);
    assert_eq!(body["unmet"][0]["path"], "/v1/never");
    assert_eq!(body["unmet"][0]["expected"], json!({"min": 1, "max": null}));
    assert_eq!(body["unmet"].as_array().map(Vec::len), Some(1));

    let (status, body) = control(
        &mock,
        "POST",
        "/__mock/application-token",
        json!({"user": USER}),
    );
    assert_eq!((status, &body["application"]), (200, &json!("app_mock")));
    let token = body["token"].as_str().expect("a token").to_owned();
    let (status, jwk) = control(&mock, "GET", "/__mock/application-jwk", Value::Null);
    assert_eq!((status, &jwk["kty"]), (200, &json!("OKP")));
    let key = source_auth::application::ApplicationKey::from_jwk(&jwk.to_string()).expect("a JWK");
    let verifier = source_auth::application::ApplicationVerifier::new("app_mock", [key]).unwrap();
    let verifier = verifier.with_clock(source_auth::testing::ManualClock::new(
        SystemTime::now() - std::time::Duration::from_secs(10),
    ));
    assert_eq!(verifier.verify(&token).expect("verifies").user, USER);
    let (status, body) = control(
        &mock,
        "GET",
        &format!("/__mock/application-jwk?application={APP}"),
        Value::Null,
    );
    assert_eq!(status, 200);
    assert_ne!(body["x"], jwk["x"], "each application has its own key");

    let (status, body) = mock.send("DELETE", &format!("/__mock/keys/{KEY_ID}"), "", "");
    assert_eq!((status, body), (200, json!({"revoked": KEY_ID})));
    let (status, body) = mock.send("GET", "/v1/members", &bearer(SECRET), "");
    assert_eq!((status, &body["code"]), (401, &json!("invalid_api_key")));
    let (status, _) = mock.send("DELETE", &format!("/__mock/keys/{KEY_ID}"), "", "");
    assert_eq!(status, 404);

    // A page elsewhere, rebinding its name to 127.0.0.1, is refused.
    let body = r#"{"offset_seconds": 1}"#;
    let rebound = format!(
        "PUT /__mock/clock HTTP/1.1\r\nHost: attacker.example:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        &mock.address()[10..],
        body.len()
    );
    let mut stream = TcpStream::connect(mock.address()).unwrap();
    stream.write_all(rebound.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(response.contains("host_not_loopback"), "{response}");

    let (status, recorded) = control(&mock, "GET", "/__mock/requests", Value::Null);
    assert_eq!(status, 200);
    let text = recorded.to_string();
    assert!(
        !text.contains(SECRET) && !text.contains("eyJ") && !text.contains("__mock"),
        "{text}"
    );
    let requests = recorded["requests"].as_array().expect("a list");
    let seen: Vec<_> = requests
        .iter()
        .map(|r| {
            (
                r["status"].as_u64().unwrap(),
                r["outcome"]["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (200, "authenticated"),
            (200, "authenticated"),
            (201, "authenticated"),
            (403, "rejected"),
            (401, "rejected"),
            (200, "authenticated"),
            (503, "injected"),
            (401, "rejected"),
        ]
    );
    // Refused with 403, and still who it was.
    assert_eq!(requests[3]["outcome"]["principal"]["kind"], "api_key");
    assert_eq!(requests[2]["credential"], requests[5]["credential"]);

    let (status, _) = mock.send("DELETE", "/__mock/requests", "", "");
    assert_eq!(status, 200);
    let (_, body) = control(&mock, "GET", "/__mock/requests", Value::Null);
    assert_eq!(body, json!({"requests": [], "dropped": 0}));
    let (status, body) = control(&mock, "GET", "/__mock/nothing", Value::Null);
    assert_eq!((status, &body["code"]), (404, &json!("not_found")));

    // SIGTERM with DELETE /v1/never unmet: reported, and a failing exit.
    let (status, log) = mock.stop("-TERM");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("DELETE /v1/never: expected at least 1, served 0"),
        "{log}"
    );
    assert!(!log.contains(SECRET) && !log.contains("eyJ"), "{log}");
}

#[test]
fn mock_reports_unmet_expectations_when_interrupted_and_exits_1() {
    let dir = responses_dir();
    std::fs::write(
        dir.join("POST/v1/appointments.meta.json"),
        json!({"status": 201, "expect": 1}).to_string(),
    )
    .expect("write");
    let start = || {
        Mock::start(|command| {
            command
                .env("SOURCE_API_KEY_ID", KEY_ID)
                .env("SOURCE_API_KEY_SECRET", SECRET)
                .arg("--responses")
                .arg(&dir);
        })
    };
    let mock = start();
    // Close, but not it: a trailing slash.
    let (status, _) = mock.call(
        "POST",
        "/v1/appointments/",
        Some(&format!("Bearer {SECRET}")),
    );
    assert_eq!(status, 404);
    let (status, log) = mock.stop("-INT");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("POST /v1/appointments: expected exactly 1, served 0; closest: POST /v1/appointments/ (trailing slash or case differs, 1 sent, last 404);"),
        "{log}"
    );
    assert!(
        log.contains(&format!("never served: GET /v1/members/{PATIENT}")),
        "{log}"
    );

    let mock = start();
    let (status, _) = mock.call(
        "POST",
        "/v1/appointments",
        Some(&format!("Bearer {SECRET}")),
    );
    assert_eq!(status, 201);
    let (status, log) = mock.stop("-TERM");
    assert!(status.success(), "{log}");
}

#[test]
fn mock_prints_the_routes_it_loaded_at_start() {
    let dir = responses_dir();
    let mock = Mock::start(|command| {
        command.arg("--responses").arg(&dir);
    });
    let log = mock.interrupt();
    let routes: Vec<_> = log
        .lines()
        .filter(|line| line.contains(" route "))
        .collect();
    assert_eq!(
        routes,
        [
            format!(
                "source-auth: route GET /v1/members/{PATIENT} 200 [{{\"member\":\"{PATIENT}\"}}]"
            ),
            "source-auth: route POST /v1/appointments 201 anyone".to_owned(),
        ]
    );
}

/// `mock --responses dir` exits 2 with one line on standard error holding `needle`.
fn assert_refused(dir: &Path, needle: &str) {
    let output = cli()
        .args(["mock", "--responses"])
        .arg(dir)
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty(), "it never started");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{needle} not in {stderr}");
}

#[test]
fn mock_refuses_links_out_of_the_folder_and_loops_naming_the_link() {
    use std::os::unix::fs::symlink;
    let dir = responses_dir();
    let outside = dir.with_extension("outside.json");
    std::fs::write(&outside, "{}").expect("write");
    let leak = dir.join("GET/v1/leak.json");
    symlink(&outside, &leak).expect("link");
    assert_refused(&dir, &format!("{}: links to", leak.display()));
    std::fs::remove_file(&leak).expect("remove");

    // Two self-loops: refused at once, not walked for ever.
    let (a, b) = (dir.join("GET/v1/a"), dir.join("GET/v1/b"));
    symlink(".", &a).expect("link");
    symlink(".", &b).expect("link");
    assert_refused(&dir, &format!("{}: links back to", a.display()));
    std::fs::remove_file(&a).expect("remove");
    std::fs::remove_file(&b).expect("remove");

    // A link that stays inside and loops nowhere is followed.
    symlink(
        dir.join("POST/v1/appointments.json"),
        dir.join("GET/v1/copy.json"),
    )
    .expect("link");
    let mock = Mock::start(|command| {
        command.arg("--responses").arg(&dir);
    });
    let log = mock.interrupt();
    assert!(log.contains("route GET /v1/copy 200 anyone"), "{log}");
}

#[test]
fn mock_refuses_dot_segments_and_collisions_naming_both_files() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = responses_dir();
    let dots = dir.join("GET/v1/members/...json");
    std::fs::write(&dots, "{}").expect("write");
    assert_refused(
        &dir,
        &format!("{}: a path segment cannot be", dots.display()),
    );
    std::fs::remove_file(&dots).expect("remove");

    std::fs::create_dir_all(dir.join("GET/v1/x")).expect("create");
    let dot = dir.join("GET/v1/x/..json");
    std::fs::write(&dot, "{}").expect("write");
    std::fs::write(dir.join("GET/v1/x.json"), "{}").expect("write");
    assert_refused(
        &dir,
        &format!("{}: a path segment cannot be", dot.display()),
    );
    std::fs::remove_file(&dot).expect("remove");

    // Two names that are not UTF-8 read as the same path.
    let first = dir.join(OsStr::from_bytes(b"GET/v1/\xff.json"));
    let second = dir.join(OsStr::from_bytes(b"GET/v1/\xfe.json"));
    std::fs::write(&first, "{}").expect("write");
    std::fs::write(&second, "{}").expect("write");
    assert_refused(
        &dir,
        &format!(
            "{} and {} both answer GET /v1/\u{fffd}",
            second.display(),
            first.display()
        ),
    );
}

#[test]
fn mock_refuses_statuses_without_a_body_naming_the_file() {
    let dir = responses_dir();
    let settings = dir.join("POST/v1/appointments.meta.json");
    // An expectation registered before the refusal is not reported as unmet.
    std::fs::write(
        dir.join(format!("GET/v1/members/{PATIENT}.meta.json")),
        json!({"expect": 1}).to_string(),
    )
    .expect("write");
    for status in [100, 101, 199, 204, 304, 600] {
        std::fs::write(&settings, json!({ "status": status }).to_string()).expect("write");
        assert_refused(&dir, "appointments.json: MockSource answers with a body");
    }
}

#[test]
fn mock_memory_stays_bounded_under_10000_large_unauthenticated_posts() {
    // Its log (10,000 lines) is not read here.
    let mock = Mock::start(|command| {
        command.stderr(Stdio::null());
    });
    let body = "a".repeat(64 * 1024);
    let request = format!(
        "POST /v1/members HTTP/1.1\r\nHost: mock\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    for _ in 0..10_000 {
        let mut stream = TcpStream::connect(mock.address()).expect("connects");
        stream.write_all(request.as_bytes()).expect("sent");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("an answer");
        assert!(response.starts_with(b"HTTP/1.1 401"));
    }
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", mock.child.id())).expect("/proc");
    let resident_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    // The last 1,000 bodies (64 MiB) and the rest of the process; all 10,000
    // would be over 640 MiB.
    assert!(resident_kib < 160 * 1024, "{resident_kib} KiB resident");
    let (_, body) = control(&mock, "GET", "/__mock/unused", Value::Null);
    assert_eq!(body, json!({"unused": []}));
}

#[test]
fn secrets_given_as_arguments_are_redacted_whole_and_flags_for_them_get_a_hint() {
    let secret = "sk_live_AAAA+BBBB/CCCC=DDDD";
    for args in [
        vec!["token", PATIENT, secret],
        vec!["token", PATIENT, "--ttl", secret],
        vec!["token", PATIENT, &format!("--ttl={secret}")],
    ] {
        let output = cli_with_key().args(&args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("[redacted]"), "{stderr}");
        for part in ["AAAA", "BBBB", "CCCC", "DDDD"] {
            assert!(!stderr.contains(part), "{args:?}: {stderr}");
        }
    }
    for flag in ["--secret", "--key"] {
        let output = cli()
            .args(["token", PATIENT, flag, SECRET])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2));
        assert!(stderr.contains("SOURCE_API_KEY_SECRET"), "{flag}: {stderr}");
        assert!(!stderr.contains(SECRET), "{stderr}");
    }
    let output = cli()
        .args(["token", PATIENT, "--frobnicate"])
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("SOURCE_API_KEY_SECRET"));
}

#[test]
fn inspect_given_an_api_secret_says_so_without_echoing_it() {
    for input in [SECRET, "sk_live_AAAA+BBBB/CCCC=DDDD"] {
        cli()
            .args(["inspect", input])
            .assert()
            .code(2)
            .stdout("")
            .stderr(
                one_clean_line()
                    .and(predicate::str::contains("an API secret"))
                    .and(predicate::str::contains("not a token"))
                    .and(predicate::str::contains("BBBB").not()),
            );
        cli()
            .arg("inspect")
            .write_stdin(format!("Authorization: Bearer {input}\n"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("an API secret"));
    }
}
