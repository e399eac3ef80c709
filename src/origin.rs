//! The one origin a layer may send credentials to.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;

use http::Uri;

use crate::error::{Error, ErrorKind, Result};

/// Source's production API.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.sourcehealth.com";

/// A scheme, host and port that requests must match exactly to carry credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    https: bool,
    /// Lowercase, with IPv6 brackets as `http::Uri` and `url::Url` print them.
    host: Box<str>,
    port: u16,
    /// `host:port`, to compare a request's authority in one step.
    authority: Box<str>,
    /// `scheme://host`, with `:port` unless it is the scheme's default.
    base_url: Box<str>,
}

/// Where a request goes, as seen from the origin a layer sends credentials to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// Another origin: the layer adds no credential.
    Elsewhere,
    /// The layer's origin.
    Source,
    /// The layer's origin, with a user name or password in the URL. That is a
    /// credential its caller set (reqwest's `RequestBuilder` turns it into
    /// `Authorization: Basic`), so it counts as a caller-set `Authorization`.
    SourceWithUserinfo,
}

/// A request's scheme, host and port, for messages and events: never its path,
/// query or user info.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) scheme: Option<&'a str>,
    pub(crate) host: Option<&'a str>,
    pub(crate) port: Option<u16>,
}

impl<'a> Target<'a> {
    pub(crate) fn of_uri(uri: &'a Uri) -> Self {
        Self {
            scheme: uri.scheme_str(),
            host: uri.host(),
            port: uri.port_u16(),
        }
    }
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.scheme.unwrap_or("(no scheme)");
        let host = self.host.unwrap_or("(no host)");
        let port = self.port.or(match self.scheme {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => Some(443),
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => Some(80),
            _ => None,
        });
        match port {
            Some(port) => write!(f, "{scheme}://{host}:{port}"),
            None => write!(f, "{scheme}://{host}"),
        }
    }
}

impl Origin {
    /// Parses a base URL: `https://host[:port]`, or `http://` on a loopback host only.
    pub(crate) fn parse(base_url: &str) -> Result<Self> {
        let invalid = |why: &'static str| Error::new(ErrorKind::InvalidBaseUrl, why);
        let uri: Uri = base_url
            .parse()
            .map_err(|_| invalid("base URL must look like `https://api.sourcehealth.com`"))?;
        let authority = uri
            .authority()
            .ok_or_else(|| invalid("base URL must include a scheme and host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("base URL must not carry a user name or password"));
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return Err(invalid("base URL must name a host"));
        }
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if is_loopback(&host) => false,
            None => {
                return Err(invalid(
                    "base URL must start with its scheme: `https://`, or `http://` on a loopback host",
                ));
            }
            _ => {
                return Err(invalid(
                    "base URL must use https; plain http is allowed only for loopback hosts",
                ));
            }
        };
        // `http::Uri` accepts a port it cannot read as a number (`:99999`, `:`) and
        // then reports none at all; anything after the host must be a valid port.
        let has_port = authority.as_str().len() > authority.host().len();
        let port = match (has_port, authority.port_u16()) {
            (false, _) => default_port(https),
            (true, Some(port)) => port,
            (true, None) => {
                return Err(invalid("base URL's port must be a number from 0 to 65535"));
            }
        };
        Ok(Self::new(https, host, port))
    }

    fn new(https: bool, host: String, port: u16) -> Self {
        let scheme = if https { "https" } else { "http" };
        let base_url = if port == default_port(https) {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:{port}")
        };
        Self {
            authority: format!("{host}:{port}").into_boxed_str(),
            base_url: base_url.into_boxed_str(),
            https,
            host: host.into_boxed_str(),
            port,
        }
    }

    /// The host, lowercase: a metric's label for what is learned of it.
    #[cfg(feature = "metrics")]
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// `scheme://host`, with `:port` unless it is the scheme's default.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// This origin as `scheme://host:port`, its port always spelled out, as
    /// messages that compare it with a request's [`Target`] show it.
    pub(crate) fn describe(&self) -> Target<'_> {
        Target {
            scheme: Some(if self.https { "https" } else { "http" }),
            host: Some(&self.host),
            port: Some(self.port),
        }
    }

    /// Where `uri`, an absolute request URI, goes.
    ///
    /// The same rule as [`Origin::destination`], on the hot path of every request:
    /// the authority is compared whole first, and only an authority with user info
    /// is compared again without it.
    #[inline]
    pub(crate) fn destination_of_uri(&self, uri: &Uri) -> Destination {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Destination::Elsewhere;
        };
        // `http::Uri` keeps the standard schemes in lowercase.
        let https = match scheme {
            "https" => true,
            "http" => false,
            _ => return Destination::Elsewhere,
        };
        let authority = authority.as_str();
        if self.matches_authority(https, authority) {
            return Destination::Source;
        }
        // User info ends at the last `@`, as `http::Uri::host` reads it.
        match authority.rsplit_once('@') {
            Some((_, host_and_port)) if self.matches_authority(https, host_and_port) => {
                Destination::SourceWithUserinfo
            }
            _ => Destination::Elsewhere,
        }
    }

    /// Whether `authority` (`host[:port]`, no user info) of a request with this
    /// scheme is this origin's.
    #[inline]
    fn matches_authority(&self, https: bool, authority: &str) -> bool {
        https == self.https
            && ((self.port == default_port(https) && same_host(authority, &self.host))
                || same_host(authority, &self.authority))
    }

    /// A number that names this origin, for a response future that holds no
    /// reference to it: equal to [`fingerprint_of`](Self::fingerprint_of) a target
    /// on this origin (and, but for a 64-bit collision, only then).
    pub(crate) fn fingerprint(&self) -> u64 {
        fingerprint(self.https, &self.host, self.port)
    }

    /// [`fingerprint`](Self::fingerprint) of the origin `target` is on; zero (no
    /// origin's) when it is not http or https or has no host.
    pub(crate) fn fingerprint_of(target: Target<'_>) -> u64 {
        let https = match target.scheme {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            _ => return 0,
        };
        match target.host {
            Some(host) => fingerprint(https, host, target.port.unwrap_or(default_port(https))),
            None => 0,
        }
    }

    /// Where a request for `scheme://host:port` goes; `userinfo` when its URL has a
    /// user name or password.
    #[cfg(any(test, feature = "reqwest"))]
    pub(crate) fn destination(&self, target: Target<'_>, userinfo: bool) -> Destination {
        let https = match target.scheme {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            _ => return Destination::Elsewhere,
        };
        let matches = https == self.https
            && target.port.unwrap_or(default_port(https)) == self.port
            && target
                .host
                .is_some_and(|host| host.eq_ignore_ascii_case(&self.host));
        match (matches, userinfo) {
            (false, _) => Destination::Elsewhere,
            (true, false) => Destination::Source,
            (true, true) => Destination::SourceWithUserinfo,
        }
    }
}

impl Origin {
    /// Whether `target`, not this origin, is this loopback origin spelled another
    /// way (`localhost`, `127.0.0.1`, `[::1]`) with the same scheme and port: a
    /// request the app most likely meant for this origin.
    #[cfg(feature = "tracing")]
    pub(crate) fn is_loopback_alias(&self, target: Target<'_>) -> bool {
        let https = match target.scheme {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            _ => return false,
        };
        https == self.https
            && target.port.unwrap_or(default_port(https)) == self.port
            && is_loopback(&self.host)
            && target
                .host
                .is_some_and(|host| is_loopback(&host.to_ascii_lowercase()))
    }
}

/// Whether two hosts (or `host:port`s) are the same, ignoring ASCII case: exact
/// bytes first, since request URIs are nearly always written in lowercase, and
/// lengths before either.
#[inline(always)]
fn same_host(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a == b || a.eq_ignore_ascii_case(b))
}

/// SipHash with fixed keys of the scheme, lowercase host and port, never zero.
fn fingerprint(https: bool, host: &str, port: u16) -> u64 {
    let mut hasher = DefaultHasher::new();
    https.hash(&mut hasher);
    for byte in host.bytes() {
        byte.to_ascii_lowercase().hash(&mut hasher);
    }
    port.hash(&mut hasher);
    hasher.finish().max(1)
}

impl Default for Origin {
    fn default() -> Self {
        Self::new(true, DEFAULT_BASE_URL["https://".len()..].to_owned(), 443)
    }
}

fn default_port(https: bool) -> u16 {
    if https { 443 } else { 80 }
}

fn is_loopback(host: &str) -> bool {
    let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || unbracketed
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        Origin::parse(url).expect("valid base URL")
    }

    /// Both paths (the whole authority, and scheme, host and port as reqwest's
    /// `Url` gives them), checked to agree.
    fn destination(origin: &Origin, uri: &str) -> Destination {
        let uri: Uri = uri.parse().expect("uri");
        let whole = origin.destination_of_uri(&uri);
        let userinfo = uri.authority().is_some_and(|a| a.as_str().contains('@'));
        let by_parts = origin.destination(Target::of_uri(&uri), userinfo);
        assert_eq!(whole, by_parts, "{uri}");
        whole
    }

    fn matches_uri(origin: &Origin, uri: &str) -> bool {
        destination(origin, uri) == Destination::Source
    }

    #[test]
    fn default_is_source_production() {
        assert_eq!(Origin::default(), origin(DEFAULT_BASE_URL));
        assert_eq!(
            Origin::default(),
            origin("https://API.sourcehealth.com:443/v1/")
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:3000",
            "http://[::1]:9000",
            "http://127.8.9.10",
        ] {
            assert!(Origin::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.sourcehealth.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "api.sourcehealth.com",
            "/v1",
            "",
            "https://user:pw@api.sourcehealth.com",
            "http://localhost.evil.com",
            "http://localhost:99999",
            "https://api.sourcehealth.com:65536",
            "https://:443",
            "https://",
            "http://:8080",
        ] {
            assert_eq!(
                Origin::parse(bad).unwrap_err().kind(),
                ErrorKind::InvalidBaseUrl,
                "{bad}"
            );
        }
    }

    /// A base URL without its scheme is told so, not that it must use https.
    #[test]
    fn a_missing_scheme_is_named() {
        for bare in ["localhost:8080", "127.0.0.1:3000"] {
            let err = Origin::parse(bare).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidBaseUrl, "{bare}");
            assert!(
                err.to_string().contains("must start with its scheme"),
                "{bare}: {err}"
            );
        }
    }

    #[test]
    fn matching_is_exact_on_scheme_host_and_port() {
        let source = Origin::default();
        let matches = |uri: &str| matches_uri(&source, uri);
        assert!(matches("https://api.sourcehealth.com/v1/members"));
        assert!(matches("https://API.SOURCEHEALTH.COM:443/v1"));
        assert!(!matches("http://api.sourcehealth.com/v1"));
        assert!(!matches("https://api.sourcehealth.com:8443/v1"));
        assert!(!matches("https://api.sourcehealth.com.evil.com/v1"));
        assert!(!matches("https://evil.com/https://api.sourcehealth.com"));
        assert!(!matches("/v1/members"));
        assert!(!matches("https://api.sourcehealth.com@evil.com/v1"));

        let local = origin("http://127.0.0.1:8080");
        assert!(matches_uri(&local, "http://127.0.0.1:8080/v1"));
        assert!(!matches_uri(&local, "http://127.0.0.1:8081/v1"));
        // Only http and https are schemes a request to Source can have.
        for other in ["ftp://127.0.0.1:8080/v1", "ws://127.0.0.1:8080/v1"] {
            assert!(!matches_uri(&local, other), "{other}");
        }
        let no_scheme = Target {
            scheme: None,
            host: Some("127.0.0.1"),
            port: Some(8080),
        };
        assert_eq!(local.destination(no_scheme, false), Destination::Elsewhere);
    }

    /// User info in a URL for Source's origin is a credential the caller set.
    #[test]
    fn user_info_marks_a_callers_credential() {
        let source = Origin::default();
        for uri in [
            "https://user@api.sourcehealth.com/v1",
            "https://sk_test_x:@API.sourcehealth.com:443/v1",
            "https://a@b@api.sourcehealth.com/v1",
        ] {
            assert_eq!(
                destination(&source, uri),
                Destination::SourceWithUserinfo,
                "{uri}"
            );
        }
        for uri in [
            "https://api.sourcehealth.com@evil.com/v1",
            "https://user@api.sourcehealth.com:444/v1",
            "http://user@api.sourcehealth.com/v1",
        ] {
            assert_eq!(destination(&source, uri), Destination::Elsewhere, "{uri}");
        }
    }

    #[test]
    fn base_url_and_description_name_the_origin() {
        let source = Origin::default();
        assert_eq!(source.base_url(), "https://api.sourcehealth.com");
        assert_eq!(
            source.describe().to_string(),
            "https://api.sourcehealth.com:443"
        );
        let local = origin("http://LOCALHOST:8080/v1");
        assert_eq!(local.base_url(), "http://localhost:8080");
        assert_eq!(local.describe().to_string(), "http://localhost:8080");
        assert_eq!(origin("http://[::1]").base_url(), "http://[::1]");
        let uri: Uri = "http://127.0.0.1/v1".parse().unwrap();
        assert_eq!(Target::of_uri(&uri).to_string(), "http://127.0.0.1:80");
        let relative: Uri = "/v1".parse().unwrap();
        assert_eq!(
            Target::of_uri(&relative).to_string(),
            "(no scheme)://(no host)"
        );
        let elsewhere: Uri = "https://example.com/v1".parse().unwrap();
        assert_eq!(
            Target::of_uri(&elsewhere).to_string(),
            "https://example.com:443"
        );
        let other: Uri = "ftp://example.com/".parse().unwrap();
        assert_eq!(Target::of_uri(&other).to_string(), "ftp://example.com");
    }

    /// A target's fingerprint is its origin's exactly when it is on that origin:
    /// scheme and host in any case, the port given or implied; any other scheme,
    /// or no host, is no origin's.
    #[test]
    fn a_fingerprint_names_one_origin() {
        let fingerprint_of = |uri: &str| {
            let uri: Uri = uri.parse().unwrap();
            Origin::fingerprint_of(Target::of_uri(&uri))
        };
        let production = Origin::default().fingerprint();
        assert_eq!(
            fingerprint_of("https://api.sourcehealth.com/v1"),
            production
        );
        assert_eq!(
            fingerprint_of("HTTPS://API.sourcehealth.com:443/"),
            production
        );
        assert_ne!(
            fingerprint_of("http://api.sourcehealth.com:443/"),
            production
        );
        assert_ne!(fingerprint_of("https://sourcehealth.com/"), production);
        let local = origin("http://localhost:8080").fingerprint();
        assert_eq!(fingerprint_of("HTTP://LocalHost:8080/v1"), local);
        assert_ne!(fingerprint_of("http://localhost:8081/v1"), local);
        assert_ne!(production, local);
        let plain = origin("http://localhost").fingerprint();
        assert_eq!(fingerprint_of("http://localhost/"), plain);
        assert_eq!(fingerprint_of("ftp://localhost/"), 0);
        assert_eq!(fingerprint_of("/v1"), 0);
    }

    /// Another spelling of a loopback origin: same scheme and port, a loopback
    /// host; nothing else is one.
    #[cfg(feature = "tracing")]
    #[test]
    fn loopback_aliases() {
        let target = |scheme, host, port| Target {
            scheme: Some(scheme),
            host: Some(host),
            port,
        };
        let http = origin("http://localhost:8080");
        let https = origin("https://127.0.0.1:8443");
        for (origin, alias) in [
            (&http, target("http", "127.0.0.1", Some(8080))),
            (&http, target("HTTP", "[::1]", Some(8080))),
            (&https, target("https", "LocalHost", Some(8443))),
            (&origin("http://[::1]"), target("http", "localhost", None)),
            (
                &origin("https://localhost"),
                target("https", "127.0.0.1", None),
            ),
        ] {
            assert!(origin.is_loopback_alias(alias), "{alias}");
        }
        for (origin, other) in [
            (&http, target("https", "127.0.0.1", Some(8080))),
            (&http, target("http", "127.0.0.1", Some(8081))),
            (&http, target("http", "example.com", Some(8080))),
            (&http, target("ftp", "127.0.0.1", Some(8080))),
            (&https, target("http", "localhost", Some(8443))),
            (
                &origin("https://api.sourcehealth.com"),
                target("https", "localhost", None),
            ),
        ] {
            assert!(!origin.is_loopback_alias(other), "{other}");
        }
        let no_host = Target {
            scheme: Some("http"),
            host: None,
            port: Some(8080),
        };
        assert!(!http.is_loopback_alias(no_host));
    }
}
