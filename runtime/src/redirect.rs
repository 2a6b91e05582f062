//! Following redirects: where a 3xx response sends a step's request next.
//!
//! Sits beside the drivers. A driver's parser keeps the `Location` of a redirect
//! response; [`follow`] resolves it against the URL just requested and decides the
//! method (RFC 9110 15.4: 303 becomes `GET`, except to a `HEAD`, and so does a `POST` answered by 301 or
//! 302, as browsers do; 307 and 308 keep the method and body). Each VU keeps a small
//! table of the origins its redirects led to ([`Origins`]), so a hop to another host
//! gets its own kept-alive connection without the program knowing that host.
//!
//! Every hop is a request: it is counted, timed and shown in the status counts. The
//! step's checks and extractors see only the last response. This path builds a URL
//! per hop (allocates); runs that meet no redirect never enter it.

use kaioken_vm::{Method, Origin, Scheme, StepDesc};
use url::{Host, Url};

// Whether a status is a redirect kaioken follows: the HTTP/1.1 parser needs it too.
pub(crate) use kaioken_http1::is_redirect;

/// The request a redirect asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    /// Where it goes.
    pub origin: Origin,
    /// The VU's connection slot for `origin` (see [`Origins`]).
    pub slot: usize,
    /// Path and query, from `/`.
    pub path: Vec<u8>,
    /// The method: the step's, or `GET` after a 303 (or a 301/302 to a `POST`).
    pub method: Method,
    /// Whether the step's body (and its `content-type`) is sent again.
    pub keep_body: bool,
    /// Whether `origin` differs from the step's own: the step's `host` and credential
    /// headers are then not sent (as browsers and curl do).
    pub cross_origin: bool,
    /// Which redirect of the step this is: 1 for the first.
    pub number: u32,
}

/// The request a redirect answered, as [`follow`] needs it.
pub(crate) struct Sent<'a> {
    /// The step's own origin.
    pub step_origin: &'a Origin,
    pub origin: &'a Origin,
    pub path: &'a [u8],
    pub method: &'a Method,
    /// Whether it carried the step's body.
    pub with_body: bool,
    /// Redirects already followed for the step.
    pub hops: u32,
}

impl<'a> Sent<'a> {
    /// The request just sent for `step`: the step's own (`hop` is `None`), or the
    /// redirect `hop` it led to, at `origin` and `path`.
    pub fn new(
        step: &'a StepDesc,
        step_origin: &'a Origin,
        hop: Option<&'a Hop>,
        path: &'a [u8],
    ) -> Sent<'a> {
        Sent {
            step_origin,
            origin: hop.map_or(step_origin, |h| &h.origin),
            path,
            method: hop.map_or(&step.method, |h| &h.method),
            with_body: step.body.is_some() && hop.is_none_or(|h| h.keep_body),
            hops: hop.map_or(0, |h| h.number),
        }
    }
}

/// The request to send next when the response to `sent` was `status` with
/// `location`: `None` when it is not a redirect to follow (not a redirect, no
/// `Location`, `max_redirects` reached, or not an `http(s)` URL). Both engines decide
/// here.
pub(crate) fn follow(
    status: u16,
    location: &[u8],
    sent: &Sent<'_>,
    max_redirects: u32,
    origins: &mut Origins,
) -> Option<Hop> {
    if sent.hops >= max_redirects || !is_redirect(status) || location.is_empty() {
        return None;
    }
    let location = std::str::from_utf8(location).ok()?.trim();
    let base = Url::parse(&format!(
        "{}://{}{}",
        scheme_name(sent.origin.scheme),
        sent.origin.authority,
        String::from_utf8_lossy(sent.path)
    ))
    .ok()?;
    let url = base.join(location).ok()?;
    let origin = origin_of(&url)?;
    let mut path = url.path().as_bytes().to_vec();
    if let Some(query) = url.query() {
        path.push(b'?');
        path.extend_from_slice(query.as_bytes());
    }
    let becomes_get = status == 303 && *sent.method != Method::Head
        || matches!(status, 301 | 302) && *sent.method == Method::Post;
    let (method, keep_body) = if becomes_get {
        (Method::Get, false)
    } else {
        (sent.method.clone(), sent.with_body)
    };
    Some(Hop {
        slot: origins.slot(&origin),
        cross_origin: origin != *sent.step_origin,
        origin,
        path,
        method,
        keep_body,
        number: sent.hops + 1,
    })
}

/// Whether a redirect's request sends the step's header `name` (lowercase): `host` and
/// credentials (`authorization`, `proxy-authorization`, `cookie`) only on the step's
/// own origin, as curl does (the cookie jar, if any, still sends the new origin's own
/// cookies); `content-type` only with the body.
pub(crate) fn keeps_header(name: &[u8], hop: Option<&Hop>) -> bool {
    let Some(hop) = hop else { return true };
    match name {
        b"host" | b"authorization" | b"proxy-authorization" | b"cookie" => !hop.cross_origin,
        b"content-type" => hop.keep_body,
        _ => true,
    }
}

fn scheme_name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    }
}

/// The origin of an absolute `http(s)` URL, spelled as the compiler spells origins.
fn origin_of(url: &Url) -> Option<Origin> {
    let scheme = match url.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    let (host, bracketed) = match url.host()? {
        Host::Domain(d) => (d.to_owned(), d.to_owned()),
        Host::Ipv4(a) => (a.to_string(), a.to_string()),
        Host::Ipv6(a) => (a.to_string(), format!("[{a}]")),
    };
    let default = if scheme == Scheme::Https { 443 } else { 80 };
    let port = url.port().unwrap_or(default);
    let authority = if port == default {
        bracketed
    } else {
        format!("{bracketed}:{port}")
    };
    Some(Origin {
        scheme,
        host,
        port,
        authority,
    })
}

/// A VU's connection slots: the program's origins first, then the ones its redirects
/// led to. Bounded: past [`Origins::MAX`] extra origins the oldest is replaced (and
/// its connection dropped by the driver).
#[derive(Debug)]
pub(crate) struct Origins {
    all: Vec<Origin>,
    /// How many of `all` are the program's.
    fixed: usize,
    /// Which extra slot is replaced next when full.
    next: usize,
    /// A slot whose origin was replaced: its connection must be dropped.
    pub evicted: Option<usize>,
}

impl Origins {
    /// Most extra origins a VU keeps connections to.
    pub const MAX: usize = 8;

    pub fn new(program_origins: &[Origin]) -> Origins {
        Origins {
            all: program_origins.to_vec(),
            fixed: program_origins.len(),
            next: 0,
            evicted: None,
        }
    }

    /// The connection slot for `origin`.
    pub fn slot(&mut self, origin: &Origin) -> usize {
        if let Some(i) = self.all.iter().position(|o| o == origin) {
            return i;
        }
        if self.all.len() < self.fixed + Origins::MAX {
            self.all.push(origin.clone());
            return self.all.len() - 1;
        }
        let i = self.fixed + self.next;
        self.next = (self.next + 1) % Origins::MAX;
        self.all[i] = origin.clone();
        self.evicted = Some(i);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(scheme: Scheme, host: &str, port: u16, authority: &str) -> Origin {
        Origin {
            scheme,
            host: host.into(),
            port,
            authority: authority.into(),
        }
    }

    fn hop(status: u16, location: &str, method: &str) -> Option<Hop> {
        let from = origin(Scheme::Http, "127.0.0.1", 8080, "127.0.0.1:8080");
        let mut origins = Origins::new(std::slice::from_ref(&from));
        let method = Method::new(method);
        let sent = Sent {
            step_origin: &from,
            origin: &from,
            path: b"/a/b?x=1",
            method: &method,
            with_body: true,
            hops: 0,
        };
        follow(status, location.as_bytes(), &sent, 10, &mut origins)
    }

    #[test]
    fn relative_locations_resolve_against_the_request() {
        let h = hop(302, "/c?d=2", "GET").unwrap();
        assert_eq!(h.path, b"/c?d=2");
        assert_eq!(h.slot, 0);
        assert!(!h.cross_origin);
        assert_eq!(hop(302, "c", "GET").unwrap().path, b"/a/c");
        assert_eq!(hop(302, "../e", "GET").unwrap().path, b"/e");
    }

    #[test]
    fn absolute_locations_change_origin() {
        let h = hop(301, "https://example.test/x", "GET").unwrap();
        assert_eq!(
            h.origin,
            origin(Scheme::Https, "example.test", 443, "example.test")
        );
        assert_eq!(h.slot, 1);
        assert!(h.cross_origin);
        let h = hop(307, "http://[::1]:9000/y", "GET").unwrap();
        assert_eq!(h.origin, origin(Scheme::Http, "::1", 9000, "[::1]:9000"));
        assert!(hop(302, "ftp://example.test/", "GET").is_none());
    }

    #[test]
    fn methods_follow_rfc_9110() {
        let h = hop(303, "/z", "POST").unwrap();
        assert_eq!((h.method.as_str(), h.keep_body), ("GET", false));
        let h = hop(302, "/z", "POST").unwrap();
        assert_eq!((h.method.as_str(), h.keep_body), ("GET", false));
        let h = hop(307, "/z", "POST").unwrap();
        assert_eq!((h.method.as_str(), h.keep_body), ("POST", true));
        let h = hop(308, "/z", "PUT").unwrap();
        assert_eq!((h.method.as_str(), h.keep_body), ("PUT", true));
        let h = hop(303, "/z", "HEAD").unwrap();
        assert_eq!(h.method, "HEAD");
        let h = hop(302, "/z", "DELETE").unwrap();
        assert_eq!(h.method, "DELETE");
    }

    #[test]
    fn the_limit_stops_following() {
        let from = origin(Scheme::Http, "127.0.0.1", 8080, "127.0.0.1:8080");
        let mut origins = Origins::new(std::slice::from_ref(&from));
        let sent = |hops| Sent {
            step_origin: &from,
            origin: &from,
            path: b"/",
            method: &Method::Get,
            with_body: false,
            hops,
        };
        let next = follow(302, b"/x", &sent(2), 3, &mut origins).unwrap();
        assert_eq!(next.number, 3);
        assert_eq!(follow(302, b"/x", &sent(3), 3, &mut origins), None);
        assert_eq!(follow(200, b"/x", &sent(0), 3, &mut origins), None);
        assert_eq!(follow(302, b"", &sent(0), 3, &mut origins), None);
        assert_eq!(follow(302, b"\xff/x", &sent(0), 3, &mut origins), None);
    }

    #[test]
    fn extra_origins_are_bounded() {
        let program = [origin(Scheme::Http, "a", 80, "a")];
        let mut origins = Origins::new(&program);
        for i in 0..Origins::MAX {
            let o = origin(Scheme::Http, &format!("h{i}"), 80, &format!("h{i}"));
            assert_eq!(origins.slot(&o), 1 + i);
            assert_eq!(origins.slot(&o), 1 + i, "reused");
        }
        assert_eq!(origins.evicted, None);
        let o = origin(Scheme::Http, "new", 80, "new");
        assert_eq!(origins.slot(&o), 1);
        assert_eq!(origins.evicted, Some(1));
        assert_eq!(origins.slot(&program[0]), 0);
    }
}
