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
        let address = self.base_url.strip_prefix("http://").expect("an http URL");
        let mut stream = TcpStream::connect(address).expect("the mock listens");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: 0\r\n"
        );
        if let Some(authorization) = authorization {
            request += &format!("Authorization: {authorization}\r\n");
        }
        stream
            .write_all(format!("{request}\r\n").as_bytes())
            .expect("sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("an answer");
        let status = response[9..12].parse().expect("a status");
        let body = response.split_once("\r\n\r\n").expect("a body").1;
        (status, serde_json::from_str(body).expect("a JSON body"))
    }

    /// Ctrl-C, then what it logged on standard error.
    fn interrupt(mut self) -> String {
        let stopped = Process::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(stopped.success());
        let status = self.child.wait().expect("the mock stops");
        assert!(status.success(), "{status}");
        let mut log = String::new();
        let stderr: &mut ChildStderr = self.child.stderr.as_mut().expect("piped");
        stderr.read_to_string(&mut log).expect("a log");
        log
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
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-responses-{}-{}",
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
