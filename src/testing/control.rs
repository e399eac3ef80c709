//! The control API under `/__mock/` ([`MockSource::with_control_api`](super::MockSource::with_control_api)):
//! what a Rust test does through the `MockSource` handle, over HTTP with JSON, for
//! tests in any language. It needs no Source credential, is neither recorded nor
//! failed on purpose, and answers only requests whose `Host` is loopback.

use std::net::IpAddr;
use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::clock::unix_seconds;
use crate::credential::{ApiKey, KeyMode};
use crate::error::Error;
use crate::skew::ClockOffset;

use super::canned::{Audience, CannedResponse};
use super::expect::Times;
use super::handler::Shared;
use super::registry::{Relationship, RelationshipStatus};
use super::rejection::control_error;

/// The path prefix Source never uses.
pub(crate) const PREFIX: &str = "/__mock/";

/// The application whose tokens and JWK the control API hands out when the
/// request names none.
#[cfg(feature = "application")]
const DEFAULT_APPLICATION: &str = "app_mock";

/// A control request's answer, or the error it gets.
type Answer = Result<Response, Refusal>;

/// A control request refused: the status, and the error body's `code` and `message`.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn into_response(self) -> Response {
        control_error(self.status, self.code, &self.message)
    }
}

/// Answers a request for `PREFIX…`.
pub(crate) fn answer(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if !host_is_loopback(headers) {
        // A page on another site that resolves its name to 127.0.0.1 (DNS
        // rebinding) sends its own name as `Host`: the control API is not its.
        return refuse(
            StatusCode::FORBIDDEN,
            "host_not_loopback",
            "the control API answers only requests whose Host is localhost or a loopback address",
        )
        .into_response();
    }
    let route = &path[PREFIX.len()..];
    route_request(shared, method, route, query, body).unwrap_or_else(Refusal::into_response)
}

fn route_request(
    shared: &Shared,
    method: &Method,
    route: &str,
    query: Option<&str>,
    body: &[u8],
) -> Answer {
    if let Some(key_id) = route.strip_prefix("keys/") {
        return match *method {
            Method::DELETE => revoke_key(shared, key_id),
            _ => Err(not_found()),
        };
    }
    match (method.as_str(), route) {
        ("GET", "requests") => Ok(ok(json!({
            "requests": shared.requests(),
            "dropped": shared.dropped_requests(),
        }))),
        ("DELETE", "requests") => {
            shared.clear_requests();
            Ok(ok(json!({"cleared": true})))
        }
        ("PUT", "clock") => set_clock(shared, read(body)?),
        ("POST", "fail") => fail(shared, read(body)?),
        ("POST", "keys") => add_key(shared, read(body)?),
        ("POST", "relationships") => add_relationship(shared, read(body)?),
        ("POST", "responses") => add_response(shared, read(body)?),
        ("GET", "unused") => {
            let unused: Vec<_> = shared
                .unused_responses()
                .into_iter()
                .map(|(method, path)| json!({"method": method.as_str(), "path": path}))
                .collect();
            Ok(ok(json!({ "unused": unused })))
        }
        ("POST", "verify") => Ok(match shared.verify() {
            Ok(()) => ok(json!({"unmet": []})),
            Err(err) => (StatusCode::CONFLICT, Json(json!({"unmet": err.unmet()}))).into_response(),
        }),
        #[cfg(feature = "application")]
        ("POST", "application-token") => application_token(shared, read(body)?),
        #[cfg(feature = "application")]
        ("GET", "application-jwk") => application_jwk(shared, query),
        _ => {
            // Only the application endpoints read the query string.
            let _ = query;
            Err(not_found())
        }
    }
}

/// `{"offset_seconds": N}`: the mock's clock N seconds ahead (or behind, if
/// negative). Answered with the offset and `now`, the mock's time in Unix seconds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockRequest {
    offset_seconds: i64,
}

fn set_clock(shared: &Shared, request: ClockRequest) -> Answer {
    let by = Duration::from_secs(request.offset_seconds.unsigned_abs());
    let offset = if request.offset_seconds < 0 {
        ClockOffset::behind(by)
    } else {
        ClockOffset::ahead(by)
    };
    let mut registry = shared.registry_mut();
    registry.set_clock_offset(offset);
    // The mock's time now, so a test can see which way it moved.
    let now = unix_seconds(registry.now());
    Ok(ok(
        json!({"offset_seconds": request.offset_seconds, "now": now}),
    ))
}

/// `{"count": N, "status": S, "code": "…"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailRequest {
    count: usize,
    status: u16,
    code: String,
}

fn fail(shared: &Shared, request: FailRequest) -> Answer {
    let status = status(request.status)?;
    shared
        .fail_next(request.count, status, &request.code)
        .map_err(refused)?;
    Ok(ok(json!({"count": request.count})))
}

/// `{"id": "key_…", "secret": "sk_test_…"}`. `Debug` is not derived: it would show the secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRequest {
    id: String,
    secret: String,
}

fn add_key(shared: &Shared, request: KeyRequest) -> Answer {
    // ApiKey's errors name what is wrong, never the secret.
    let key = ApiKey::new(request.id, request.secret).map_err(refused)?;
    shared.registry_mut().add_api_key(&key);
    let mode = match key.mode() {
        KeyMode::Live => "live",
        _ => "test",
    };
    Ok(ok(json!({"id": key.id(), "mode": mode})))
}

fn revoke_key(shared: &Shared, key_id: &str) -> Answer {
    if shared.registry_mut().revoke_api_key(key_id) {
        Ok(ok(json!({"revoked": key_id})))
    } else {
        Err(refuse(
            StatusCode::NOT_FOUND,
            "unknown_key",
            "no API key with this id is registered",
        ))
    }
}

/// `{"member": "mem_…", "caregiver": "mem_…", "active": true}`; active by default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelationshipRequest {
    member: String,
    caregiver: String,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

fn add_relationship(shared: &Shared, request: RelationshipRequest) -> Answer {
    let relationship = Relationship {
        member: &request.member,
        caregiver: &request.caregiver,
    };
    let status = if request.active {
        RelationshipStatus::Active
    } else {
        RelationshipStatus::Inactive
    };
    shared
        .set_relationship(relationship, status)
        .map_err(refused)?;
    Ok(ok(json!({
        "member": request.member,
        "caregiver": request.caregiver,
        "active": request.active,
    })))
}

/// A canned response: `{"method", "path", "status", "body", "only_for", "expect"}`;
/// only `method` and `path` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseRequest {
    method: String,
    path: String,
    #[serde(default = "ok_status")]
    status: u16,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    only_for: Vec<Audience>,
    expect: Option<Times>,
}

fn ok_status() -> u16 {
    200
}

fn add_response(shared: &Shared, request: ResponseRequest) -> Answer {
    let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_method",
            "`method` is not an HTTP method",
        )
    })?;
    let mut response = CannedResponse::json(request.body).with_status(status(request.status)?);
    for audience in request.only_for {
        response = response.only_for(audience);
    }
    if let Some(times) = request.expect {
        response = response.expect(times);
    }
    shared
        .responses_mut()
        .insert(method.clone(), &request.path, response)
        .map_err(refused)?;
    Ok(ok(json!({"method": method.as_str(), "path": request.path})))
}

/// `{"user": "usr_…", "application": "app_…"}`, the application optional.
#[cfg(feature = "application")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplicationTokenRequest {
    user: String,
    application: Option<String>,
}

#[cfg(feature = "application")]
fn application_token(shared: &Shared, request: ApplicationTokenRequest) -> Answer {
    let application = request
        .application
        .as_deref()
        .unwrap_or(DEFAULT_APPLICATION);
    let token = shared
        .application_token(application, &request.user)
        .map_err(refused)?;
    Ok(ok(json!({"token": token, "application": application})))
}

/// The JWK of `?application=app_…`, or of the default application.
#[cfg(feature = "application")]
fn application_jwk(shared: &Shared, query: Option<&str>) -> Answer {
    let application = query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("application="))
        .unwrap_or(DEFAULT_APPLICATION);
    let key = shared.application(application).map_err(refused)?;
    // `to_jwk` writes plain JSON.
    let jwk: Value = serde_json::from_str(&key.to_jwk()).unwrap_or_default();
    Ok(ok(jwk))
}

/// `code` as a status MockSource may answer with, or a 400.
fn status(code: u16) -> Result<StatusCode, Refusal> {
    StatusCode::from_u16(code)
        .map_err(|_| ())
        .and_then(|status| super::canned::check_status(status).map_err(|_| ()))
        .map_err(|()| {
            refuse(
                StatusCode::BAD_REQUEST,
                "invalid_status",
                "give a status from 200 to 599, other than 204 and 304",
            )
        })
}

/// The body as `T`, or a 400.
fn read<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|err| {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "the body is not the JSON this endpoint takes: {}",
                unquoted(&err)
            ),
        )
    })
}

/// serde's message, unless it quotes a string from the body (which may be a
/// secret): then only where the error is.
fn unquoted(err: &serde_json::Error) -> String {
    let message = err.to_string();
    if message.contains('"') {
        format!(
            "a value has the wrong type, at line {} column {}",
            err.line(),
            err.column()
        )
    } else {
        message
    }
}

/// Whether `Host` names this machine: `localhost` or a loopback address, with
/// or without a port.
fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
    else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').map_or("", |(name, _)| name),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

fn ok(body: Value) -> Response {
    Json(body).into_response()
}

fn not_found() -> Refusal {
    refuse(
        StatusCode::NOT_FOUND,
        "not_found",
        "the control API has no such method and path",
    )
}

/// The library's refusal of what a control request asked for, as a 400.
fn refused(err: Error) -> Refusal {
    // The crate's messages never carry a secret.
    refuse(StatusCode::BAD_REQUEST, err.kind().code(), err.to_string())
}

fn refuse(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn only_loopback_hosts_reach_the_control_api() {
        let with_host = |host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            host_is_loopback(&headers)
        };
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:5",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:80",
        ] {
            assert!(with_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:80",
            "localhost.evil.example",
            "10.0.0.1",
            "[::2]:80",
            "",
            "[::1",
        ] {
            assert!(!with_host(host), "{host}");
        }
        assert!(!host_is_loopback(&HeaderMap::new()));
    }

    #[test]
    fn a_bad_body_is_refused_without_quoting_its_strings() {
        let secret = "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000";
        let body = format!(r#"{{"count": "{secret}", "status": 503, "code": "x"}}"#);
        let err = serde_json::from_str::<FailRequest>(&body).err().unwrap();
        assert_eq!(
            unquoted(&err),
            "a value has the wrong type, at line 1 column 52"
        );
        let err = serde_json::from_slice::<ClockRequest>(br#"{"offset": 1}"#)
            .err()
            .unwrap();
        assert!(
            unquoted(&err).starts_with("unknown field `offset`"),
            "{err}"
        );
        let refusal = read::<ClockRequest>(b"[]").err().unwrap();
        assert_eq!(
            (refusal.status, refusal.code),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
    }
}
