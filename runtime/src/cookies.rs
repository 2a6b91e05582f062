//! `--cookie-jar`: a per-VU cookie store, fed by each response's `Set-Cookie` headers
//! and sending a `Cookie` header with each request it applies to.
//!
//! Matching domains, paths, expiry and `Secure` is `cookie_store`'s job (a well-kept
//! implementation of RFC 6265), not hand-parsed here. This path builds a URL per
//! request, so it allocates; it only runs for runs that ask for a jar.
//!
//! The jar is bounded as browsers bound theirs, so a server that sets cookie after
//! cookie cannot make every request grow: at most [`MAX_PER_DOMAIN`] cookies per
//! domain and [`MAX_COOKIES`] in all (a new cookie past either is not kept; one that
//! replaces a kept cookie of the same name, domain and path always is), and a `Cookie`
//! header of at most [`MAX_HEADER`] bytes (cookies that would go past it are left
//! out of that request).

use cookie_store::{Cookie, CookieStore};
use kaioken_vm::{Origin, Scheme};
use url::Url;

/// Most cookies kept for one domain (Chromium's limit).
pub(crate) const MAX_PER_DOMAIN: usize = 180;
/// Most cookies one VU's jar keeps (RFC 6265 6.1's minimum for a user agent).
pub(crate) const MAX_COOKIES: usize = 3000;
/// The longest `Cookie` header sent: what servers take by default in one header
/// line (nginx's and Node's 8 KiB-per-line buffers).
pub(crate) const MAX_HEADER: usize = 8 * 1024;

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
            let separator = if self.header.is_empty() { 0 } else { 2 };
            if self.header.len() + separator + name.len() + 1 + value.len() > MAX_HEADER {
                continue;
            }
            if separator > 0 {
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
            if let Ok(cookie) = Cookie::parse(value, url)
                && self.has_room_for(&cookie)
            {
                let _ = self.store.insert(cookie.into_owned(), url);
            }
        }
    }

    /// Whether `cookie` may be kept: it replaces a kept one, or both its domain and
    /// the jar are under their limits.
    fn has_room_for(&self, cookie: &Cookie<'_>) -> bool {
        let (mut all, mut domain) = (0, 0);
        for kept in self.store.iter_any().filter(|c| !c.is_expired()) {
            if kept.domain == cookie.domain {
                if kept.path == cookie.path && kept.name() == cookie.name() {
                    return true;
                }
                domain += 1;
            }
            all += 1;
        }
        domain < MAX_PER_DOMAIN && all < MAX_COOKIES
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

    #[test]
    fn the_jar_and_its_header_are_bounded() {
        let origin = Origin {
            scheme: Scheme::Http,
            host: "127.0.0.1".into(),
            port: 8080,
            authority: "127.0.0.1:8080".into(),
        };
        let mut jar = Jar::default();
        for batch in 0..50 {
            let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..100 {
                head.extend_from_slice(
                    format!("set-cookie: c{batch}_{i}=v; Path=/\r\n").as_bytes(),
                );
            }
            head.extend_from_slice(b"\r\n");
            jar.absorb(&origin, b"/", &head);
        }
        assert_eq!(jar.store.iter_any().count(), MAX_PER_DOMAIN);
        // A kept cookie is still replaced when the domain is full.
        jar.absorb(
            &origin,
            b"/",
            b"HTTP/1.1 200 OK\r\nset-cookie: c0_0=new; Path=/\r\n\r\n",
        );
        let header = String::from_utf8(jar.header_for(&origin, b"/").unwrap().to_vec()).unwrap();
        assert!(header.contains("c0_0=new"), "{header}");
        assert_eq!(header.split("; ").count(), MAX_PER_DOMAIN);
        // Large cookies: the header stops short of its limit.
        let mut jar = Jar::default();
        let big = "v".repeat(3000);
        for i in 0..5 {
            let head = format!("HTTP/1.1 200 OK\r\nset-cookie: big{i}={big}; Path=/\r\n\r\n");
            jar.absorb(&origin, b"/", head.as_bytes());
        }
        let header = jar.header_for(&origin, b"/").unwrap();
        assert!(header.len() <= MAX_HEADER, "{}", header.len());
        assert_eq!(header.split(|&b| b == b';').count(), 2);
    }
}
