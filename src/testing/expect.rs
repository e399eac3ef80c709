//! Expectations on canned responses ([`CannedResponse::expect`](super::CannedResponse::expect)),
//! and what [`MockSource::verify`](super::MockSource::verify) reports when one is
//! unmet: the requests that came closest, from a summary of the routes requested
//! that outlives the bounded record.

use std::collections::HashMap;
use std::fmt;
use std::ops::{Range, RangeFrom, RangeInclusive};

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize, Serializer};

/// How many times a canned response expects to be served: an exact count or a
/// range, from a `u64` or a `u64` range (`1`, `1..3`, `1..=3`, `2..`).
///
/// In JSON (the control API, `source-auth mock`'s meta files) a number, or
/// `{"min": N, "max": M}` with either bound optional; as JSON it is always the
/// latter, with `"max": null` for no upper bound.
///
/// ```
/// use source_auth::testing::Times;
///
/// assert!(Times::from(2).contains(2) && !Times::from(2).contains(3));
/// assert!(Times::from(1..3).contains(2) && !Times::from(1..3).contains(3));
/// assert!(Times::from(1..).contains(1_000));
/// let parsed: Times = serde_json::from_str(r#"{"min": 1}"#)?;
/// assert_eq!(parsed, Times::from(1..));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "TimesJson")]
pub struct Times {
    min: u64,
    max: Option<u64>,
}

impl Times {
    /// Exactly `n` times.
    pub fn exactly(n: u64) -> Self {
        Self {
            min: n,
            max: Some(n),
        }
    }

    /// Whether `n` requests meet the expectation.
    pub fn contains(self, n: u64) -> bool {
        n >= self.min && self.max.is_none_or(|max| n <= max)
    }
}

impl From<u64> for Times {
    fn from(n: u64) -> Self {
        Self::exactly(n)
    }
}

impl From<Range<u64>> for Times {
    /// An empty range (`3..3`) is met by no count.
    fn from(range: Range<u64>) -> Self {
        Self {
            min: range.start,
            max: Some(range.end.saturating_sub(1)),
        }
        .or_never(range.start >= range.end)
    }
}

impl From<RangeInclusive<u64>> for Times {
    /// An empty range (`3..=2`) is met by no count.
    fn from(range: RangeInclusive<u64>) -> Self {
        let (min, max) = range.into_inner();
        Self {
            min,
            max: Some(max),
        }
        .or_never(min > max)
    }
}

impl From<RangeFrom<u64>> for Times {
    fn from(range: RangeFrom<u64>) -> Self {
        Self {
            min: range.start,
            max: None,
        }
    }
}

impl Times {
    /// A range no count can meet, for an empty Rust range.
    fn or_never(self, empty: bool) -> Self {
        if empty {
            Self {
                min: u64::MAX,
                max: Some(0),
            }
        } else {
            self
        }
    }
}

impl fmt::Display for Times {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max {
            Some(max) if max == self.min => write!(f, "exactly {max}"),
            Some(max) => write!(f, "{} to {max}", self.min),
            None => write!(f, "at least {}", self.min),
        }
    }
}

/// `N` or `{"min": N, "max": M}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum TimesJson {
    Exactly(u64),
    Range(TimesRange),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimesRange {
    #[serde(default)]
    min: u64,
    max: Option<u64>,
}

impl TryFrom<TimesJson> for Times {
    type Error = &'static str;

    fn try_from(json: TimesJson) -> Result<Self, Self::Error> {
        match json {
            TimesJson::Exactly(n) => Ok(Self::exactly(n)),
            TimesJson::Range(TimesRange { min, max }) if max.is_some_and(|max| max < min) => {
                Err("`max` is less than `min`")
            }
            TimesJson::Range(TimesRange { min, max }) => Ok(Self { min, max }),
        }
    }
}

/// A canned response served a number of times its [`Times`] does not allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UnmetExpectation {
    /// The method it was registered for.
    #[serde(serialize_with = "method_str")]
    pub method: Method,
    /// The path it was registered for.
    pub path: String,
    /// How many times it expected to be served.
    pub expected: Times,
    /// How many times it was.
    pub served: u64,
    /// The requests that came closest, closest first, at most
    /// [`MAX_CLOSEST`] of them.
    pub closest: Vec<NearMiss>,
}

/// How many near misses an [`UnmetExpectation`] lists.
pub const MAX_CLOSEST: usize = 5;

/// Requests for one method and path that came close to an unmet expectation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NearMiss {
    /// Their method.
    #[serde(serialize_with = "method_str")]
    pub method: Method,
    /// Their path.
    pub path: String,
    /// How many requests were sent for this method and path.
    pub count: u64,
    /// The status the last of them was answered with.
    #[serde(serialize_with = "status_u16")]
    pub last_status: StatusCode,
    /// How they differ from the expectation's route.
    pub why: Closeness,
}

/// How a [`NearMiss`] differs from the route an expectation was for, closest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Closeness {
    /// The same method and path, but not served the response (refused, such as
    /// a principal it is not for).
    Refused,
    /// The same path, with another method.
    OtherMethod,
    /// The same method, with a path that differs by a trailing slash or by case.
    SlashOrCase,
    /// The same method, with a path that differs in one segment.
    OneSegment,
}

impl fmt::Display for Closeness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Refused => "same method and path, not served",
            Self::OtherMethod => "same path, another method",
            Self::SlashOrCase => "trailing slash or case differs",
            Self::OneSegment => "one path segment differs",
        })
    }
}

impl fmt::Display for UnmetExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: expected {}, served {}",
            self.method, self.path, self.expected, self.served
        )?;
        if self.closest.is_empty() {
            return f.write_str("; no request came close");
        }
        f.write_str("; closest:")?;
        for miss in &self.closest {
            write!(
                f,
                " {} {} ({}, {} sent, last {});",
                miss.method,
                miss.path,
                miss.why,
                miss.count,
                miss.last_status.as_u16()
            )?;
        }
        Ok(())
    }
}

/// What [`MockSource::verify`](super::MockSource::verify) returns when a
/// canned response's [expectation](super::CannedResponse::expect) is unmet: each
/// one, with the requests that came closest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    unmet: Vec<UnmetExpectation>,
}

impl VerifyError {
    /// Every unmet expectation, sorted by path, then method.
    pub fn unmet(&self) -> &[UnmetExpectation] {
        &self.unmet
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MockSource: {} unmet expectation(s)", self.unmet.len())?;
        for unmet in &self.unmet {
            write!(f, "\n- {unmet}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyError {}

/// Ok when nothing is unmet.
pub(crate) fn verdict(unmet: Vec<UnmetExpectation>) -> Result<(), VerifyError> {
    if unmet.is_empty() {
        Ok(())
    } else {
        Err(VerifyError { unmet })
    }
}

/// How many distinct methods and paths [`SeenRoutes`] keeps.
pub(crate) const MAX_SEEN_ROUTES: usize = 1024;

/// Each method and path requested, with a count and the last status: what
/// "closest" is judged from, kept apart from the record, which drops old requests.
#[derive(Debug, Default)]
pub(crate) struct SeenRoutes {
    routes: HashMap<(Method, String), (u64, StatusCode)>,
}

impl SeenRoutes {
    /// Counts a request; once [`MAX_SEEN_ROUTES`] routes are known, a new one is
    /// not kept (requests for known routes still count).
    pub(crate) fn see(&mut self, method: &Method, path: &str, status: StatusCode) {
        let key = (method.clone(), path.to_owned());
        if let Some((count, last)) = self.routes.get_mut(&key) {
            *count += 1;
            *last = status;
        } else if self.routes.len() < MAX_SEEN_ROUTES {
            self.routes.insert(key, (1, status));
        }
    }

    /// `unmet` with the requests that came closest to it.
    pub(crate) fn closest_to(&self, mut unmet: UnmetExpectation) -> UnmetExpectation {
        let mut closest: Vec<_> = self
            .routes
            .iter()
            .filter_map(|((method, path), &(count, last_status))| {
                let why = closeness((&unmet.method, &unmet.path), (method, path))?;
                Some(NearMiss {
                    method: method.clone(),
                    path: path.clone(),
                    count,
                    last_status,
                    why,
                })
            })
            .collect();
        closest.sort_by(|a, b| {
            (a.why, &a.path, a.method.as_str()).cmp(&(b.why, &b.path, b.method.as_str()))
        });
        closest.truncate(MAX_CLOSEST);
        unmet.closest = closest;
        unmet
    }
}

/// How close a request for `seen` came to `expected`, if close at all.
fn closeness(expected: (&Method, &str), seen: (&Method, &str)) -> Option<Closeness> {
    let same_method = expected.0 == seen.0;
    if expected.1 == seen.1 {
        return Some(if same_method {
            Closeness::Refused
        } else {
            Closeness::OtherMethod
        });
    }
    if !same_method {
        return None;
    }
    let folded = |path: &str| path.trim_end_matches('/').to_lowercase();
    if folded(expected.1) == folded(seen.1) {
        return Some(Closeness::SlashOrCase);
    }
    let (expected, seen): (Vec<_>, Vec<_>) =
        (expected.1.split('/').collect(), seen.1.split('/').collect());
    let differing = expected.iter().zip(&seen).filter(|(a, b)| a != b).count();
    (expected.len() == seen.len() && differing == 1).then_some(Closeness::OneSegment)
}

fn method_str<S: Serializer>(method: &Method, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(method.as_str())
}

fn status_u16<S: Serializer>(status: &StatusCode, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u16(status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_meet_exact_and_ranged_expectations() {
        assert!(Times::from(0).contains(0) && !Times::from(0).contains(1));
        let inclusive = Times::from(1..=3);
        assert_eq!(
            [0, 1, 3, 4].map(|n| inclusive.contains(n)),
            [false, true, true, false]
        );
        let half_open = Times::from(1..3);
        assert_eq!(
            [0, 1, 2, 3].map(|n| half_open.contains(n)),
            [false, true, true, false]
        );
        assert!(!Times::from(2..).contains(1) && Times::from(2..).contains(u64::MAX));
        // A one-count range is that count, not empty.
        assert_eq!(Times::from(2..=2), Times::exactly(2));
        #[allow(clippy::reversed_empty_ranges)] // empty on purpose
        for empty in [Times::from(3..3), Times::from(3..=2)] {
            assert!((0..10).all(|n| !empty.contains(n)), "{empty:?}");
        }
    }

    #[test]
    fn times_read_and_write_json() {
        let read = |json: &str| serde_json::from_str::<Times>(json);
        assert_eq!(read("2").unwrap(), Times::exactly(2));
        assert_eq!(read(r#"{"min":1,"max":3}"#).unwrap(), Times::from(1..=3));
        assert_eq!(read(r#"{"max":3}"#).unwrap(), Times::from(0..=3));
        assert!(read(r#"{"min":3,"max":2}"#).is_err());
        assert_eq!(read(r#"{"min":2,"max":2}"#).unwrap(), Times::exactly(2));
        assert!(read(r#"{"min":1,"most":2}"#).is_err());
        assert!(read("-1").is_err());
        assert_eq!(
            serde_json::to_string(&Times::from(2..)).unwrap(),
            r#"{"min":2,"max":null}"#
        );
        assert_eq!(Times::from(1..=3).to_string(), "1 to 3");
        assert_eq!(Times::exactly(2).to_string(), "exactly 2");
        assert_eq!(Times::from(2..).to_string(), "at least 2");
    }

    #[test]
    fn closeness_ranks_refused_then_method_then_slash_or_case_then_one_segment() {
        let get = Method::GET;
        let post = Method::POST;
        let route = (&get, "/v1/members/mem_a");
        assert_eq!(
            closeness(route, (&get, "/v1/members/mem_a")),
            Some(Closeness::Refused)
        );
        assert_eq!(
            closeness(route, (&post, "/v1/members/mem_a")),
            Some(Closeness::OtherMethod)
        );
        assert_eq!(
            closeness(route, (&get, "/v1/members/mem_a/")),
            Some(Closeness::SlashOrCase)
        );
        assert_eq!(
            closeness(route, (&get, "/v1/Members/mem_a")),
            Some(Closeness::SlashOrCase)
        );
        assert_eq!(
            closeness(route, (&get, "/v1/member/mem_a")),
            Some(Closeness::OneSegment)
        );
        assert_eq!(closeness(route, (&get, "/v1/member/mem_b")), None);
        assert_eq!(closeness(route, (&get, "/v1/members/mem_a/x")), None);
        assert_eq!(closeness(route, (&post, "/v1/members/mem_a/")), None);
        assert!(Closeness::Refused < Closeness::OtherMethod);
        assert!(Closeness::SlashOrCase < Closeness::OneSegment);
    }

    #[test]
    fn seen_routes_are_bounded_and_keep_counting_known_ones() {
        let mut seen = SeenRoutes::default();
        for i in 0..MAX_SEEN_ROUTES + 10 {
            seen.see(&Method::GET, &format!("/v1/x{i}"), StatusCode::OK);
        }
        assert_eq!(seen.routes.len(), MAX_SEEN_ROUTES);
        seen.see(&Method::GET, "/v1/x0", StatusCode::NOT_FOUND);
        assert_eq!(
            seen.routes[&(Method::GET, "/v1/x0".to_owned())],
            (2, StatusCode::NOT_FOUND)
        );
    }

    #[test]
    fn closest_requests_are_sorted_and_capped() {
        let mut seen = SeenRoutes::default();
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            seen.see(&method, "/v1/a", StatusCode::NOT_FOUND);
        }
        seen.see(&Method::GET, "/v1/a/", StatusCode::OK);
        seen.see(&Method::GET, "/v1/a", StatusCode::FORBIDDEN);
        seen.see(&Method::GET, "/v1/b", StatusCode::OK);
        let unmet = seen.closest_to(UnmetExpectation {
            method: Method::GET,
            path: "/v1/a".to_owned(),
            expected: Times::exactly(1),
            served: 0,
            closest: Vec::new(),
        });
        let shown: Vec<_> = unmet
            .closest
            .iter()
            .map(|m| (m.method.as_str(), m.why))
            .collect();
        assert_eq!(
            shown,
            [
                ("GET", Closeness::Refused),
                ("DELETE", Closeness::OtherMethod),
                ("PATCH", Closeness::OtherMethod),
                ("POST", Closeness::OtherMethod),
                ("PUT", Closeness::OtherMethod),
            ]
        );
        assert_eq!(unmet.closest[0].last_status, StatusCode::FORBIDDEN);
        let text = unmet.to_string();
        assert!(text.starts_with("GET /v1/a: expected exactly 1, served 0; closest: GET /v1/a (same method and path, not served, 1 sent, last 403);"), "{text}");
    }
}
