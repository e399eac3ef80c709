//! Parsing one `Authorization` header value, with no I/O so a fuzzer can call it.
//!
//! The one parser of the crate: MockSource reads every credential with it (and
//! re-exports it as `testing::parse_authorization`), and the application-token
//! extractors read their Bearer token with it. It takes bytes rather than a
//! `HeaderValue`, because actix-web 4 has a `HeaderValue` type of its own.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The authentication scheme of an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `Bearer <credential>`: an API secret, a user token or a member token.
    Bearer,
    /// `Basic base64(<secret>:)`: an API secret as user name, with an empty password.
    Basic,
}

/// A credential taken from an `Authorization` header, not yet checked against anything.
///
/// `Debug` shows the scheme only.
///
#[cfg_attr(
    feature = "test-util",
    doc = r#"
```
use http::HeaderValue;
use source_auth::testing::{Scheme, parse_authorization};

let presented = parse_authorization(&HeaderValue::from_static("Basic c2tfdGVzdF9hYmM6"))?;
assert_eq!(presented.scheme(), Scheme::Basic);
assert_eq!(presented.credential(), "sk_test_abc");
assert!(!format!("{presented:?}").contains("sk_test_abc"));
# Ok::<(), source_auth::testing::ParseError>(())
```
"#
)]
pub struct Presented {
    scheme: Scheme,
    credential: SecretString,
}

impl Presented {
    /// How the credential was sent.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The credential: the bearer token, or the Basic user name. Secret; never print it.
    pub fn credential(&self) -> &str {
        self.credential.expose_secret()
    }
}

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presented")
            .field("scheme", &self.scheme)
            .field("credential", &"[REDACTED]")
            .finish()
    }
}

/// Why an `Authorization` header value could not be parsed.
///
/// [`code`](ParseError::code) is the `code` MockSource answers with, in a 401
/// `authentication_error`. Messages never repeat the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// Empty, not visible ASCII, or whitespace inside the credential.
    Malformed,
    /// A bare credential with no scheme in front of it.
    MissingScheme,
    /// A scheme other than `Bearer` or `Basic`.
    UnsupportedScheme,
    /// `Bearer` or `Basic` with nothing after it.
    MissingCredentials,
    /// Basic credentials that are not padded standard base64.
    InvalidBase64,
    /// Basic credentials that do not decode to UTF-8.
    BasicNotUtf8,
    /// Basic credentials with no `:` between user name and password.
    BasicMissingColon,
    /// Basic credentials with a password: Source wants the secret as user name and no password.
    BasicPasswordNotEmpty,
}

impl ParseError {
    /// A stable snake_case code for this error.
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed_authorization",
            Self::MissingScheme => "missing_scheme",
            Self::UnsupportedScheme => "unsupported_scheme",
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidBase64 => "invalid_base64",
            Self::BasicNotUtf8 => "basic_not_utf8",
            Self::BasicMissingColon => "basic_missing_colon",
            Self::BasicPasswordNotEmpty => "basic_password_not_empty",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => {
                "the Authorization header must be `<scheme> <credential>` in visible ASCII, with no spaces inside the credential"
            }
            Self::MissingScheme => {
                "the Authorization header has no scheme; send `Bearer <credential>`"
            }
            Self::UnsupportedScheme => "the Authorization scheme must be `Bearer` or `Basic`",
            Self::MissingCredentials => "the Authorization header has a scheme but no credential",
            Self::InvalidBase64 => "Basic credentials must be padded standard base64",
            Self::BasicNotUtf8 => "Basic credentials must decode to UTF-8",
            Self::BasicMissingColon => "Basic credentials must be `<secret>:` with a colon",
            Self::BasicPasswordNotEmpty => {
                "Basic credentials must carry the API secret as user name and an empty password"
            }
        })
    }
}

impl std::error::Error for ParseError {}

/// Parses an `Authorization` header value; see `testing::parse_authorization`
/// for the rules. Never panics.
pub(crate) fn parse(value: &[u8]) -> Result<Presented, ParseError> {
    // What `HeaderValue::to_str` accepts: visible ASCII, spaces and tabs.
    if !value
        .iter()
        .all(|&byte| byte == b'\t' || (b' '..=b'~').contains(&byte))
    {
        return Err(ParseError::Malformed);
    }
    let text = std::str::from_utf8(value)
        .map_err(|_| ParseError::Malformed)?
        .trim_matches([' ', '\t']);
    if text.is_empty() {
        return Err(ParseError::Malformed);
    }
    let Some((scheme, credential)) = text.split_once(' ') else {
        return Err(if scheme_of(text).is_some() {
            ParseError::MissingCredentials
        } else {
            ParseError::MissingScheme
        });
    };
    let scheme = scheme_of(scheme).ok_or(ParseError::UnsupportedScheme)?;
    let credential = credential.trim_start_matches(' ');
    if credential.contains([' ', '\t']) {
        return Err(ParseError::Malformed);
    }
    let credential = match scheme {
        Scheme::Bearer => SecretString::from(credential),
        Scheme::Basic => basic_user_name(credential)?,
    };
    Ok(Presented { scheme, credential })
}

fn scheme_of(word: &str) -> Option<Scheme> {
    if word.eq_ignore_ascii_case("bearer") {
        Some(Scheme::Bearer)
    } else if word.eq_ignore_ascii_case("basic") {
        Some(Scheme::Basic)
    } else {
        None
    }
}

/// The user name of `base64("<user>:")`, which must be non-empty with an empty password.
fn basic_user_name(encoded: &str) -> Result<SecretString, ParseError> {
    let decoded = Zeroizing::new(
        STANDARD
            .decode(encoded)
            .map_err(|_| ParseError::InvalidBase64)?,
    );
    let decoded = std::str::from_utf8(&decoded).map_err(|_| ParseError::BasicNotUtf8)?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or(ParseError::BasicMissingColon)?;
    if !password.is_empty() {
        return Err(ParseError::BasicPasswordNotEmpty);
    }
    if user.is_empty() {
        return Err(ParseError::MissingCredentials);
    }
    Ok(SecretString::from(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &[u8]) -> Result<(Scheme, String), ParseError> {
        super::parse(value).map(|p| (p.scheme(), p.credential().to_owned()))
    }

    fn basic(payload: &[u8]) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(payload)).into_bytes()
    }

    /// `Debug` names the scheme and hides the credential.
    #[test]
    fn debug_shows_the_scheme_never_the_credential() {
        let presented = super::parse(b"Bearer sk_test_secret0123").unwrap();
        assert_eq!(
            format!("{presented:?}"),
            r#"Presented { scheme: Bearer, credential: "[REDACTED]" }"#
        );
    }

    #[test]
    fn accepts_bearer_in_any_case_with_extra_spaces() {
        for value in [
            "Bearer abc",
            "BEARER abc",
            "bearer   abc",
            " \tBearer abc \t",
        ] {
            assert_eq!(
                parse(value.as_bytes()),
                Ok((Scheme::Bearer, "abc".to_owned())),
                "{value:?}"
            );
        }
    }

    #[test]
    fn accepts_basic_with_an_empty_password() {
        assert_eq!(
            parse(&basic(b"sk_test_abc:")),
            Ok((Scheme::Basic, "sk_test_abc".to_owned()))
        );
        assert_eq!(
            parse(b"bAsIc c2tfdGVzdF9hYmM6"),
            Ok((Scheme::Basic, "sk_test_abc".to_owned()))
        );
    }

    #[test]
    fn rejects_each_malformation_with_its_own_error() {
        let cases: [(&[u8], ParseError); 15] = [
            (b"", ParseError::Malformed),
            (b"   ", ParseError::Malformed),
            (b"Bearer \xffabc", ParseError::Malformed),
            (b"Bearer a\x7fb", ParseError::Malformed),
            (b"Bearer a\r\nb", ParseError::Malformed),
            (b"Bearer a b", ParseError::Malformed),
            (b"Bearer a\tb", ParseError::Malformed),
            (b"sk_test_abc", ParseError::MissingScheme),
            (b"Bearer", ParseError::MissingCredentials),
            (b"basic ", ParseError::MissingCredentials),
            (b"Token abc", ParseError::UnsupportedScheme),
            (b"Basic !!!!", ParseError::InvalidBase64),
            (b"Basic c2tfdGVzdF9hYmM", ParseError::InvalidBase64),
            (&basic(b"\xff\xfe:"), ParseError::BasicNotUtf8),
            (&basic(b"sk_test_abc"), ParseError::BasicMissingColon),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse(value),
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
        assert_eq!(
            parse(&basic(b"sk_test_abc:pw")),
            Err(ParseError::BasicPasswordNotEmpty)
        );
        assert_eq!(parse(&basic(b":")), Err(ParseError::MissingCredentials));
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            ParseError::Malformed,
            ParseError::MissingScheme,
            ParseError::UnsupportedScheme,
            ParseError::MissingCredentials,
            ParseError::InvalidBase64,
            ParseError::BasicNotUtf8,
            ParseError::BasicMissingColon,
            ParseError::BasicPasswordNotEmpty,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
