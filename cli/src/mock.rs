//! `source-auth mock`: MockSource in the foreground, for tests in any language.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use http::{Method, StatusCode};
use serde::Deserialize;
use source_auth::testing::{
    Audience, CannedResponse, MockSource, Outcome, RecordedRequest, Relationship,
    RelationshipStatus, Times,
};
use source_auth::{ApiKey, ErrorKind};

use crate::Failure;

/// The file name ending of a canned response's body.
const BODY: &str = ".json";
/// The file name ending of the optional settings beside a body.
const SETTINGS: &str = ".meta.json";

#[derive(Debug, Args)]
pub(crate) struct MockArgs {
    /// The port to listen on, on 127.0.0.1 (default: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// An active relationship: the member cared for and the caregiver acting for
    /// them, as member=mem_…,caregiver=mem_…; repeat for several.
    #[arg(
        long = "relationship",
        value_name = "member=MEMBER_ID,caregiver=CAREGIVER_ID",
        value_parser = parse_relationship
    )]
    relationships: Vec<RelationshipArg>,
    /// Canned responses: DIR/GET/v1/members/mem_abc.json answers
    /// GET /v1/members/mem_abc with 200 and that body; an optional
    /// mem_abc.meta.json beside it sets {"status": N, "only_for": [...], "expect": N}.
    #[arg(long, value_name = "DIR")]
    responses: Option<PathBuf>,
}

/// `--relationship member=…,caregiver=…`, each id named by its role.
#[derive(Debug, Clone)]
struct RelationshipArg {
    member: String,
    caregiver: String,
}

fn parse_relationship(value: &str) -> Result<RelationshipArg, String> {
    let (mut member, mut caregiver) = (None, None);
    for field in value.split(',') {
        let slot = match field.split_once('=') {
            Some(("member", id)) => (&mut member, id),
            Some(("caregiver", id)) => (&mut caregiver, id),
            _ => {
                return Err(format!(
                    "expected member=MEMBER_ID,caregiver=CAREGIVER_ID, not {field:?}"
                ));
            }
        };
        if slot.0.replace(slot.1.to_owned()).is_some() {
            return Err("name the member and the caregiver once each".to_owned());
        }
    }
    match (member, caregiver) {
        (Some(member), Some(caregiver)) => Ok(RelationshipArg { member, caregiver }),
        _ => Err("name both: member=MEMBER_ID,caregiver=CAREGIVER_ID".to_owned()),
    }
}

pub(crate) fn run(args: &MockArgs) -> Result<ExitCode, Failure> {
    let api_key = match ApiKey::from_env() {
        Ok(key) => Some(key),
        Err(err) if err.kind() == ErrorKind::MissingEnvironment => None,
        Err(err) => {
            return Err(Failure::usage(format!(
                "the API key in the environment: {err}"
            )));
        }
    };
    let responses = match &args.responses {
        Some(dir) => load_responses(dir)?,
        None => Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::new(format!("cannot start the runtime: {err}")))?;
    runtime.block_on(async {
        let mock = MockSource::start_on(args.port)
            .await
            .map_err(|err| Failure::new(format!("cannot listen on 127.0.0.1:{}: {err}", args.port)))?
            .with_control_api();
        for relationship in &args.relationships {
            let relationship = Relationship {
                member: &relationship.member,
                caregiver: &relationship.caregiver,
            };
            mock.set_relationship(relationship, RelationshipStatus::Active)
                .map_err(|err| Failure::usage(format!("--relationship: {err}")))?;
        }
        let stop = stop_signal()?;
        for loaded in &responses {
            if let Err(err) = mock.respond(loaded.method.clone(), &loaded.path, loaded.response.clone()) {
                // Nothing was served, so nothing to report: verified here so
                // that dropping the mock does not panic over expectations.
                let _ = mock.verify();
                return Err(Failure::usage(format!("{}: {err}", loaded.file.display())));
            }
        }
        match &api_key {
            Some(key) => mock.add_api_key(key),
            None => eprintln!(
                "source-auth: no SOURCE_API_KEY_ID and SOURCE_API_KEY_SECRET: MockSource knows no API key"
            ),
        }
        // Only once all are accepted: what the mock serves, for the reader to check.
        for loaded in &responses {
            eprintln!("source-auth: route {}", route_line(loaded));
        }
        mock.on_request(|request| eprintln!("{}", log_line(request)));
        // The first line of standard output, for scripts to read.
        println!("{}", mock.base_url());
        stop.await;
        eprintln!("source-auth: stopping MockSource");
        for (method, path) in mock.unused_responses() {
            eprintln!("source-auth: never served: {method} {path}");
        }
        match mock.verify() {
            Ok(()) => Ok(ExitCode::SUCCESS),
            // Exit 1, as a failed test would: a script checks the status.
            Err(unmet) => Err(Failure::new(unmet)),
        }
    })
}

/// Ctrl-C or, on Unix, SIGTERM (what `kill` and test runners send), listened
/// for from this call on: a signal sent as soon as the URL is printed is not missed.
fn stop_signal() -> Result<impl Future<Output = ()>, Failure> {
    let cannot = |err| Failure::new(format!("cannot wait for Ctrl-C: {err}"));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).map_err(cannot)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(cannot)?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = cannot;
        Ok(async {
            // Without a handler, Ctrl-C ends the process anyway.
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// `METHOD /path STATUS audience [expect]`, as loaded from `--responses`.
fn route_line(loaded: &Loaded) -> String {
    let response = &loaded.response;
    let audience = if response.audiences().is_empty() {
        "anyone".to_owned()
    } else {
        // Audiences are ids and names: they always serialize.
        serde_json::to_string(response.audiences()).unwrap_or_default()
    };
    let expect = response
        .expected()
        .map(|times| format!(" expect {times}"))
        .unwrap_or_default();
    format!(
        "{} {} {} {audience}{expect}",
        loaded.method,
        loaded.path,
        response.status().as_u16()
    )
}

/// `METHOD /path STATUS what`: the principal's kind, or the error code; never a
/// credential, a query string or a body.
fn log_line(request: &RecordedRequest) -> String {
    let what = match &request.outcome {
        Outcome::Authenticated(principal) => serde_json::to_value(principal.kind)
            .ok()
            .and_then(|kind| kind.as_str().map(str::to_owned))
            .unwrap_or_default(),
        Outcome::Rejected { code, .. } => (*code).to_owned(),
        Outcome::Injected { code, .. } => format!("{code} (injected)"),
        _ => String::new(),
    };
    format!(
        "{} {} {} {what}",
        request.method,
        request.path,
        request.status.as_u16()
    )
}

/// Settings beside a body, in `NAME.meta.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// The status, 200 by default.
    #[serde(default)]
    status: Option<u16>,
    /// Who may see the response (`"api_keys"`, `"users"`, `{"member": "mem_…"}`,
    /// `{"caregiver_of": "mem_…"}`); anyone authenticated when empty.
    #[serde(default)]
    only_for: Vec<Audience>,
    /// How many times it must be served before the mock stops.
    #[serde(default)]
    expect: Option<Times>,
}

/// A canned response read from `--responses`, with the file it came from.
#[derive(Debug)]
struct Loaded {
    method: Method,
    path: String,
    response: CannedResponse,
    file: PathBuf,
}

/// Every canned response under `dir`, laid out as `dir/METHOD/path.json`.
fn load_responses(dir: &Path) -> Result<Vec<Loaded>, Failure> {
    let root = fs::canonicalize(dir)
        .map_err(|err| Failure::usage(format!("cannot read {}: {err}", dir.display())))?;
    let mut responses = Vec::new();
    let mut routes: HashMap<(Method, String), PathBuf> = HashMap::new();
    for method_dir in sorted_entries(dir)? {
        let name = file_name(&method_dir);
        let method = Method::from_bytes(name.as_bytes())
            .ok()
            .filter(|_| name.bytes().all(|b| b.is_ascii_uppercase()))
            .ok_or_else(|| {
                Failure::usage(format!(
                    "{}: name each folder of --responses after a method in capitals, such as GET",
                    method_dir.display()
                ))
            })?;
        let mut files = Vec::new();
        collect_files(&method_dir, &mut vec![root.clone()], &root, &mut files)?;
        for file in files {
            let text = file.to_string_lossy();
            if let Some(body_file) = text.strip_suffix(SETTINGS) {
                if !Path::new(&format!("{body_file}{BODY}")).is_file() {
                    return Err(Failure::usage(format!(
                        "{}: settings without a body file {body_file}{BODY}",
                        file.display()
                    )));
                }
                continue;
            }
            let Some(stem) = text.strip_suffix(BODY) else {
                return Err(Failure::usage(format!(
                    "{}: a canned response is a .json file",
                    file.display()
                )));
            };
            // `..json` would be a `..` segment, and `x/..json` the path of `x.json`.
            // (Read from the name itself: `Path` drops a trailing `.` component.)
            let name = file_name(&file);
            if matches!(name.strip_suffix(BODY), Some("" | "." | "..")) {
                return Err(Failure::usage(format!(
                    "{}: a path segment cannot be empty, `.` or `..`",
                    file.display()
                )));
            }
            let relative = Path::new(stem)
                .strip_prefix(&method_dir)
                .unwrap_or(Path::new(stem));
            let segments: Vec<_> = relative.iter().map(|s| s.to_string_lossy()).collect();
            let path = format!("/{}", segments.join("/"));
            if let Some(first) = routes.insert((method.clone(), path.clone()), file.clone()) {
                return Err(Failure::usage(format!(
                    "{} and {} both answer {method} {path}",
                    first.display(),
                    file.display()
                )));
            }
            let response = canned_response(&file, Path::new(&format!("{stem}{SETTINGS}")))?;
            responses.push(Loaded {
                method: method.clone(),
                path,
                response,
                file,
            });
        }
    }
    Ok(responses)
}

fn canned_response(body_file: &Path, settings_file: &Path) -> Result<CannedResponse, Failure> {
    let mut response = CannedResponse::json(read_json(body_file)?);
    if settings_file.is_file() {
        let settings: Settings =
            serde_json::from_value(read_json(settings_file)?).map_err(|err| {
                Failure::usage(format!(
                    "{}: expected {{\"status\": N, \"only_for\": [...], \"expect\": N}}: {err}",
                    settings_file.display()
                ))
            })?;
        if let Some(status) = settings.status {
            // MockSource refuses statuses without a body when it is given them.
            let status = StatusCode::from_u16(status).map_err(|_| {
                Failure::usage(format!(
                    "{}: {status} is not an HTTP status",
                    settings_file.display()
                ))
            })?;
            response = response.with_status(status);
        }
        for audience in settings.only_for {
            response = response.only_for(audience);
        }
        if let Some(times) = settings.expect {
            response = response.expect(times);
        }
    }
    Ok(response)
}

fn read_json(file: &Path) -> Result<serde_json::Value, Failure> {
    let text = fs::read_to_string(file)
        .map_err(|err| Failure::usage(format!("cannot read {}: {err}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|err| Failure::usage(format!("{} is not JSON: {err}", file.display())))
}

/// The files under `dir`, at any depth. `open` holds the real paths of the
/// folders being walked, from `root` down: a link may point anywhere inside
/// `root` except back up to one of them, which would make the walk endless.
fn collect_files(
    dir: &Path,
    open: &mut Vec<PathBuf>,
    root: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<(), Failure> {
    let real = followed(dir, open, root)?;
    open.push(real);
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            collect_files(&entry, open, root, files)?;
        } else {
            followed(&entry, open, root)?;
            files.push(entry);
        }
    }
    open.pop();
    Ok(())
}

/// The real path of `entry`, refusing a link that leaves `root`, or one to a
/// folder in `open`.
fn followed(entry: &Path, open: &[PathBuf], root: &Path) -> Result<PathBuf, Failure> {
    let refuse = |why: String| Failure::usage(format!("{}: {why}", entry.display()));
    let real = fs::canonicalize(entry).map_err(|err| refuse(format!("cannot follow: {err}")))?;
    if !real.starts_with(root) {
        return Err(refuse(format!(
            "links to {}, outside {}",
            real.display(),
            root.display()
        )));
    }
    if open.contains(&real) {
        return Err(refuse(format!("links back to {}, a loop", real.display())));
    }
    Ok(real)
}

/// The entries of `dir`, sorted so that loading is the same on every machine.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let unreadable = |err| Failure::usage(format!("cannot read {}: {err}", dir.display()));
    let mut entries = fs::read_dir(dir)
        .map_err(unreadable)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
