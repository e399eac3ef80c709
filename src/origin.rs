//! The one origin a layer may send credentials to.

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
        Self {
            authority: format!("{host}:{port}").into_boxed_str(),
            https,
            host: host.into_boxed_str(),
            port,
        }
    }

    /// Whether `uri`, an absolute request URI, goes to this origin.
    ///
    /// The same rule as [`Origin::matches`], on the hot path of every request: the
    /// authority is compared whole, so one with user info never matches.
    #[inline]
    pub(crate) fn matches_uri(&self, uri: &Uri) -> bool {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return false;
        };
        // `http::Uri` keeps the standard schemes in lowercase.
        let https = match scheme {
            "https" => true,
            "http" => false,
            _ => return false,
        };
        // Exact bytes first: request URIs are nearly always written in lowercase.
        let same = |a: &str, b: &str| a == b || a.eq_ignore_ascii_case(b);
        let authority = authority.as_str();
        https == self.https
            && ((self.port == default_port(https) && same(authority, &self.host))
                || same(authority, &self.authority))
    }

    /// Whether a request for `scheme://host:port` goes to this origin.
    #[cfg(any(test, feature = "reqwest"))]
    pub(crate) fn matches(
        &self,
        scheme: Option<&str>,
        host: Option<&str>,
        port: Option<u16>,
    ) -> bool {
        let https = match scheme {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            _ => return false,
        };
        https == self.https
            && port.unwrap_or(default_port(https)) == self.port
            && host.is_some_and(|host| host.eq_ignore_ascii_case(&self.host))
    }
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

    /// Both matching paths, checked to agree (but for user info, which only the
    /// whole-authority comparison sees and refuses).
    fn matches_uri(origin: &Origin, uri: &str) -> bool {
        let uri: Uri = uri.parse().expect("uri");
        let whole = origin.matches_uri(&uri);
        if !uri.to_string().contains('@') {
            let by_parts = origin.matches(uri.scheme_str(), uri.host(), uri.port_u16());
            assert_eq!(whole, by_parts, "{uri}");
        }
        whole
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
        assert!(!matches("https://user@api.sourcehealth.com/v1"));

        let local = origin("http://127.0.0.1:8080");
        assert!(matches_uri(&local, "http://127.0.0.1:8080/v1"));
        assert!(!matches_uri(&local, "http://127.0.0.1:8081/v1"));
        // Only http and https are schemes a request to Source can have.
        for other in ["ftp://127.0.0.1:8080/v1", "ws://127.0.0.1:8080/v1"] {
            assert!(!matches_uri(&local, other), "{other}");
        }
        assert!(!local.matches(None, Some("127.0.0.1"), Some(8080)));
    }
}
