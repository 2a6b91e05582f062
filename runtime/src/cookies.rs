//! `--cookie-jar`: a per-VU cookie store, fed by each response's `Set-Cookie` headers
//! and sending a `Cookie` header with each request it applies to.
//!
//! Matching domains, paths, expiry and `Secure` is `cookie_store`'s job (a well-kept
//! implementation of RFC 6265), not hand-parsed here. This path builds a URL per
//! request, so it allocates; it only runs for runs that ask for a jar.

use cookie_store::CookieStore;
use kaioken_vm::{Origin, Scheme};
use url::Url;

/// One VU's cookies, and the buffer its `Cookie` header is written into.
#[derive(Debug, Default)]
pub(crate) struct Jar {
    store: CookieStore,
    header: Vec<u8>,
}

fn url_of(origin: &Origin, path: &[u8]) -> Option<Url> {
    let scheme = if origin.scheme == Scheme::Https {
        "https"
    } else {
        "http"
    };
    Url::parse(&format!(
        "{scheme}://{}{}",
        origin.authority,
        String::from_utf8_lossy(path)
    ))
    .ok()
}

impl Jar {
    /// The `Cookie` header value for a request to `origin` and `path`, if any cookie
    /// applies.
    pub fn header_for(&mut self, origin: &Origin, path: &[u8]) -> Option<&[u8]> {
        // An empty jar (most runs' first requests) needs no URL.
        self.store.iter_any().next()?;
        let url = url_of(origin, path)?;
        self.header.clear();
        for (name, value) in self.store.get_request_values(&url) {
            if !self.header.is_empty() {
                self.header.extend_from_slice(b"; ");
            }
            self.header.extend_from_slice(name.as_bytes());
            self.header.push(b'=');
            self.header.extend_from_slice(value.as_bytes());
        }
        (!self.header.is_empty()).then_some(&self.header)
    }

    /// Keep the cookies a response head sets (its `Set-Cookie` lines).
    pub fn absorb(&mut self, origin: &Origin, path: &[u8], head: &[u8]) {
        let mut url = None;
        for line in head.split(|&b| b == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            if !line[..colon].eq_ignore_ascii_case(b"set-cookie") {
                continue;
            }
            // Most responses set no cookie: the URL is built at the first that does.
            if url.is_none() {
                url = url_of(origin, path);
            }
            let (Some(url), Ok(value)) =
                (&url, std::str::from_utf8(line[colon + 1..].trim_ascii()))
            else {
                continue;
            };
            let _ = self.store.parse(value, url);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_and_sends_cookies_by_path() {
        let origin = Origin {
            scheme: Scheme::Http,
            host: "127.0.0.1".into(),
            port: 8080,
            authority: "127.0.0.1:8080".into(),
        };
        let mut jar = Jar::default();
        assert_eq!(jar.header_for(&origin, b"/"), None);
        jar.absorb(
            &origin,
            b"/login",
            b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; Path=/\r\nset-cookie: admin=1; Path=/admin\r\nx: y\r\n\r\n",
        );
        assert_eq!(
            jar.header_for(&origin, b"/items?x=1"),
            Some(b"sid=abc".as_slice())
        );
        let both = jar.header_for(&origin, b"/admin/panel").unwrap().to_vec();
        assert!(
            both == b"sid=abc; admin=1" || both == b"admin=1; sid=abc",
            "{}",
            String::from_utf8_lossy(&both)
        );
        // An expired cookie is removed.
        jar.absorb(
            &origin,
            b"/",
            b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=gone; Path=/; Max-Age=0\r\n\r\n",
        );
        assert_eq!(jar.header_for(&origin, b"/"), None);
    }
}
