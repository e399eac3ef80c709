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
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if is_loopback(&host) => false,
            Some("http") => {
                return Err(invalid(
                    "base URL must use https; plain http is allowed only for loopback hosts",
                ));
            }
            _ => return Err(invalid("base URL must use https")),
        };
        Ok(Self {
            port: authority.port_u16().unwrap_or(default_port(https)),
            https,
            host: host.into_boxed_str(),
        })
    }

    /// Whether a request for `scheme://host:port` goes to this origin.
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
        Self {
            https: true,
            host: DEFAULT_BASE_URL["https://".len()..].into(),
            port: 443,
        }
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

    fn matches_uri(origin: &Origin, uri: &str) -> bool {
        let uri: Uri = uri.parse().expect("uri");
        origin.matches(uri.scheme_str(), uri.host(), uri.port_u16())
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

        let local = origin("http://127.0.0.1:8080");
        assert!(matches_uri(&local, "http://127.0.0.1:8080/v1"));
        assert!(!matches_uri(&local, "http://127.0.0.1:8081/v1"));
    }
}
