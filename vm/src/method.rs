//! Request methods, decided once by the compiler so the engines compare enums, not
//! strings, on every request.

use std::fmt;

/// An HTTP request method. Methods are case-sensitive (RFC 9110 §9.1): `get` is an
/// extension method, not `GET`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`: the response has no body whatever its headers say.
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// Any other token, as written (`TRACE`, `PROPFIND`, …).
    Other(Box<str>),
}

impl Method {
    /// The method for `token`, as written.
    pub fn new(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.into()),
        }
    }

    /// The method's token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(token) => token,
        }
    }

    /// Whether requests conventionally carry a body, so one without a body still says
    /// `content-length: 0` (some servers answer 411 otherwise).
    pub fn expects_body(&self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }

    /// Whether the method is idempotent (RFC 9110 §9.2.2: `GET`, `HEAD`, `OPTIONS`,
    /// `TRACE`, `PUT`, `DELETE`): sending it twice has the effect of sending it once,
    /// so a request the server may have read before its connection closed can be
    /// sent again. Any other method (`POST`, `PATCH`, an extension) is not sent
    /// twice.
    pub fn is_idempotent(&self) -> bool {
        match self {
            Method::Get | Method::Head | Method::Options | Method::Put | Method::Delete => true,
            Method::Post | Method::Patch => false,
            Method::Other(token) => &**token == "TRACE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Method {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rfc_9110_s_idempotent_methods_are_idempotent() {
        let idempotent = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"];
        for token in idempotent {
            assert!(Method::new(token).is_idempotent(), "{token}");
        }
        for token in ["POST", "PATCH", "PROPFIND", "trace", "get"] {
            assert!(!Method::new(token).is_idempotent(), "{token}");
        }
    }

    #[test]
    fn round_trips_and_is_case_sensitive() {
        for token in [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND",
        ] {
            assert_eq!(Method::new(token).as_str(), token);
        }
        assert_eq!(Method::new("get"), Method::Other("get".into()));
        assert!(Method::new("POST").expects_body());
        assert!(!Method::new("post").expects_body());
        assert!(!Method::Get.expects_body());
    }
}
