//! The interop peers, Node's `jose` and Python's PyJWT, installed under the target
//! directory on first use, once even when several tests or test processes start
//! together; shared by the library's interop tests and the CLI's. When they cannot
//! be installed the tests fail with the reason; they never skip.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};
use source_auth::MemberClaims;

use crate::common::KEY_ID;

/// What to install; the marker file `.installed` in each peer's folder records it.
const JOSE: &str = "jose@6";
const PYJWT: &str = "PyJWT>=2.10,<3";
/// PyJWT's EdDSA runs on `cryptography`.
const CRYPTOGRAPHY: &str = "cryptography>=44,<51";

#[derive(Debug, Clone, Copy)]
pub enum Peer {
    Jose,
    PyJwt,
}

impl Peer {
    /// A command that runs this peer's script, installing the peer first if needed.
    pub fn command(self) -> Command {
        match self {
            Peer::Jose => {
                static NODE: OnceLock<PathBuf> = OnceLock::new();
                let dir = NODE.get_or_init(install_jose);
                let mut command = Command::new("node");
                command.arg(dir.join("jose.mjs"));
                command
            }
            Peer::PyJwt => {
                static PYTHON: OnceLock<PathBuf> = OnceLock::new();
                let dir = PYTHON.get_or_init(install_pyjwt);
                let mut command = Command::new("python3");
                command
                    .arg(dir.join("pyjwt.py"))
                    .env("PYTHONPATH", dir)
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                command
            }
        }
    }

    /// Sends one JSON request on stdin and reads the JSON answer.
    pub fn ask(self, request: &Value) -> Value {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("could not start the {self:?} peer: {err}"));
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(request.to_string().as_bytes())
            .expect("the peer reads its request");
        let output = child.wait_with_output().expect("the peer runs");
        assert!(
            output.status.success(),
            "the {self:?} peer failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("the peer answers JSON")
    }

    /// Verifies `token` with `secret` and returns the peer's view of header and payload.
    pub fn verify(self, token: &str, secret: &str) -> (Value, Value) {
        let answer = self.ask(&json!({ "op": "verify", "token": token, "secret": secret }));
        (answer["header"].clone(), answer["payload"].clone())
    }

    /// Signs `claims` the way this peer's users do.
    pub fn sign(self, claims: &MemberClaims, secret: &str) -> String {
        let request = json!({ "op": "sign", "claims": claims, "kid": KEY_ID, "secret": secret });
        match &self.ask(&request)["token"] {
            Value::String(token) => token.clone(),
            other => panic!("the {self:?} peer answered no token: {other}"),
        }
    }
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop")
}

fn install_jose() -> PathBuf {
    let dir = interop_dir().join("node");
    // The script goes next to node_modules, so that `import 'jose'` resolves.
    let script = ("jose.mjs", include_str!("jose.mjs"));
    install_once(&dir, JOSE, script, || {
        let mut npm = Command::new("npm");
        npm.arg("install").arg("--prefix").arg(&dir).args([
            "--no-audit",
            "--no-fund",
            "--no-progress",
            "--loglevel=error",
            JOSE,
        ]);
        npm
    });
    dir
}

fn install_pyjwt() -> PathBuf {
    let dir = interop_dir().join("python");
    // The script goes into the install folder too, so that any package's tests
    // find it there.
    let script = ("pyjwt.py", include_str!("pyjwt.py"));
    install_once(&dir, &format!("{PYJWT} {CRYPTOGRAPHY}"), script, || {
        let mut pip = Command::new("python3");
        // `--target` leaves the system's packages alone, so a Debian Python that
        // refuses plain installs (PEP 668) may allow this one.
        pip.env("PIP_BREAK_SYSTEM_PACKAGES", "1")
            .args(["-m", "pip", "install", "--upgrade", "--target"])
            .arg(&dir)
            .args([
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                PYJWT,
                CRYPTOGRAPHY,
            ]);
        pip
    });
    dir
}

/// Runs `installer` unless `dir` already holds `spec`, and writes the script `name`
/// with `text` into `dir` unless it is there already, all under a file lock so that
/// parallel test processes install once and never run a half-written script.
fn install_once(
    dir: &Path,
    spec: &str,
    (name, text): (&str, &str),
    installer: impl FnOnce() -> Command,
) {
    fs::create_dir_all(dir).expect("create the interop directory");
    let mut lock = fd_lock::RwLock::new(
        File::create(dir.with_extension("lock")).expect("create the install lock"),
    );
    let _installing = lock.write().expect("take the install lock");
    let path = dir.join(name);
    if !fs::read_to_string(&path).is_ok_and(|written| written == text) {
        fs::write(path, text).expect("write the peer script");
    }
    let marker = dir.join(".installed");
    if fs::read_to_string(&marker).is_ok_and(|installed| installed == spec) {
        return;
    }
    let mut command = installer();
    let output = command.output().unwrap_or_else(|err| {
        panic!(
            "cannot install {spec} for the interop tests: could not run {:?}: {err}. \
             These tests need Node.js with npm and Python 3 with pip on PATH.",
            command.get_program()
        )
    });
    assert!(
        output.status.success(),
        "cannot install {spec} for the interop tests: {command:?} exited with {}.\n{}{}\
         These tests need the npm registry and PyPI to be reachable.",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    fs::write(marker, spec).expect("mark the peer installed");
}
