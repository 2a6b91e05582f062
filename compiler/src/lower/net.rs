//! Where connections go: `--connect-to`, `--resolve`, `--dns-refresh` and
//! `--unix-socket` (and their `[target]` keys).
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): each
//! spec is parsed into a [`ConnectTo`] here, so that a malformed one is a located
//! error before the run; the runtime (runtime/src/dial.rs) resolves the names they
//! give when the run starts.

use std::net::IpAddr;

use kaioken_vm::{ConnectTo, Proxies, Proxy, ProxyKind};

use super::Lowerer;
use crate::HttpVersion;
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::Draft;
use crate::located::Located;

/// The settings this module lowers.
pub(super) struct Net {
    pub connect_to: Vec<ConnectTo>,
    pub dns_refresh: Option<std::time::Duration>,
    pub unix_socket: Option<std::path::PathBuf>,
    pub proxy: Option<Proxies>,
}

impl Lowerer<'_> {
    /// `connect_to`, then `resolve` (a later spec for the same `host:port` wins over
    /// an earlier one at run time), and `dns_refresh`.
    pub(super) fn net(&mut self, d: &Draft) -> Net {
        let mut connect_to = Vec::new();
        for (specs, resolve) in [(&d.connect_to, false), (&d.resolve, true)] {
            for spec in specs {
                let text = self.fold_env(spec);
                match parse_spec(&text, resolve) {
                    Ok(c) => connect_to.push(c),
                    Err(message) => {
                        let kind = CompileErrorKind::InvalidValue { message };
                        self.errors.push(CompileError::at(kind, &spec.loc, None));
                    }
                }
            }
        }
        let dns_refresh = d.dns_refresh.as_ref().map(|r| {
            self.duration(
                &Some(r.clone()),
                "dns_refresh",
                std::time::Duration::ZERO,
                true,
            )
        });
        Net {
            connect_to,
            dns_refresh: dns_refresh.filter(|d| !d.is_zero()),
            unix_socket: d.unix_socket.as_ref().map(|u| self.unix_socket(u)),
            proxy: self.proxies(d),
        }
    }

    /// `proxy` (for every origin), else with `proxy_from_env` the environment's
    /// `http_proxy`, `https_proxy` and `no_proxy` (lowercase first, as curl reads
    /// them, then uppercase).
    fn proxies(&mut self, d: &Draft) -> Option<Proxies> {
        let proxies = if let Some(given) = &d.proxy {
            let text = self.fold_env(given);
            match parse_proxy(&text) {
                Ok(p) => Proxies {
                    http: Some(p.clone()),
                    https: Some(p),
                    no_proxy: Vec::new(),
                },
                Err(message) => {
                    let kind = CompileErrorKind::InvalidValue { message };
                    self.errors.push(CompileError::at(kind, &given.loc, None));
                    return None;
                }
            }
        } else if d.proxy_from_env == Some(true) {
            let var = |name: &str| {
                [name.to_ascii_lowercase(), name.to_owned()]
                    .into_iter()
                    .find_map(|n| {
                        std::env::var(&n)
                            .ok()
                            .filter(|v| !v.trim().is_empty())
                            .map(|v| (n, v))
                    })
            };
            let mut from = |name: &str| -> Option<Proxy> {
                let (name, value) = var(name)?;
                match parse_proxy(value.trim()) {
                    Ok(p) => Some(p),
                    Err(message) => {
                        let message = format!("the environment's `{name}`: {message}");
                        self.errors
                            .push(CompileError::unlocated(CompileErrorKind::InvalidValue {
                                message,
                            }));
                        None
                    }
                }
            };
            let http = from("HTTP_PROXY");
            let https = from("HTTPS_PROXY");
            let no_proxy = var("NO_PROXY")
                .map(|(_, v)| {
                    v.split(',')
                        .map(|e| e.trim().to_ascii_lowercase())
                        .filter(|e| !e.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            Proxies {
                http,
                https,
                no_proxy,
            }
        } else {
            return None;
        };
        if proxies.http.is_none() && proxies.https.is_none() {
            return None;
        }
        let conflict = if self.http == HttpVersion::Http3 {
            Some("a proxy cannot carry HTTP/3 (QUIC runs on UDP); use HTTP/1.1 or HTTP/2")
        } else if d.unix_socket.is_some() {
            Some("`unix_socket` and a proxy both say where connections go; give one")
        } else {
            None
        };
        if let Some(message) = conflict {
            let kind = CompileErrorKind::Conflict {
                message: message.into(),
            };
            self.errors.push(match &d.proxy {
                Some(p) => CompileError::at(kind, &p.loc, None),
                None => CompileError::unlocated(kind),
            });
            return None;
        }
        Some(proxies)
    }

    /// `unix_socket`: checked now (it exists and is a socket) so that a typo is a
    /// located error before any load; not with HTTP/3, which runs on UDP, nor on
    /// Windows, where the runtime has no Unix-socket connector.
    fn unix_socket(&mut self, given: &Located<String>) -> std::path::PathBuf {
        let path = self.fold_env(given);
        let path = self.resolve_path(&path, &given.loc);
        if self.http == HttpVersion::Http3 {
            let kind = CompileErrorKind::Conflict {
                message: "`unix_socket` cannot carry HTTP/3 (QUIC runs on UDP); use HTTP/1.1 \
                          or HTTP/2"
                    .into(),
            };
            self.errors.push(CompileError::at(kind, &given.loc, None));
            return path;
        }
        if cfg!(not(unix)) {
            let kind = CompileErrorKind::InvalidValue {
                message: "unix sockets are not supported on Windows".into(),
            };
            self.errors.push(CompileError::at(kind, &given.loc, None));
            return path;
        }
        match std::fs::metadata(&path) {
            Ok(m) if is_socket(&m) => {}
            Ok(_) => {
                let kind = CompileErrorKind::InvalidValue {
                    message: format!("`{}` is not a Unix socket", path.display()),
                };
                self.errors.push(CompileError::at(kind, &given.loc, None));
            }
            Err(e) => {
                let kind = CompileErrorKind::Io {
                    path: path.display().to_string(),
                    message: e.to_string(),
                };
                self.errors.push(CompileError::at(kind, &given.loc, None));
            }
        }
        path
    }
}

/// Whether `m` describes a Unix socket (never, where there are none).
fn is_socket(m: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_socket()
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        false
    }
}

/// What a spec should look like, for the messages.
fn shape(resolve: bool) -> &'static str {
    if resolve {
        "`--resolve` expects `HOST:PORT:ADDRESS`, e.g. `example.com:443:127.0.0.1` \
         (IPv6 in brackets: `[::1]`)"
    } else {
        "`--connect-to` expects `HOST:PORT:TO_HOST:TO_PORT`, e.g. \
         `example.com:443:127.0.0.1:8443` (IPv6 in brackets: `[::1]`)"
    }
}

/// Split `text` into its `:`-separated fields, a field in `[…]` (an IPv6 address)
/// kept whole and unbracketed. `None` for an unclosed bracket.
fn fields(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        if let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']')?;
            out.push(inner[..close].to_owned());
            rest = &inner[close + 1..];
            match rest.strip_prefix(':') {
                Some(r) => rest = r,
                None if rest.is_empty() => return Some(out),
                None => return None,
            }
        } else {
            match rest.find(':') {
                Some(i) => {
                    out.push(rest[..i].to_owned());
                    rest = &rest[i + 1..];
                }
                None => {
                    out.push(rest.to_owned());
                    return Some(out);
                }
            }
        }
    }
}

/// Parse `HOST:PORT:TO_HOST:TO_PORT`, or with `resolve`, `HOST:PORT:ADDRESS`.
fn parse_spec(text: &str, resolve: bool) -> Result<ConnectTo, String> {
    let shape = shape(resolve);
    let Some(fields) = fields(text.trim()) else {
        return Err(format!("`{text}`: an unclosed or misplaced `[`; {shape}"));
    };
    let want = if resolve { 3 } else { 4 };
    if fields.len() != want {
        return Err(format!(
            "`{text}` has {} part(s) where {want} are expected; {shape}",
            fields.len()
        ));
    }
    let port = |p: &str| -> Result<u16, String> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "`{p}` in `{text}` is not a port (1 to 65535); {shape}"
            )),
        }
    };
    let host = |h: &str| -> Result<String, String> {
        let ok = !h.is_empty()
            && (h.parse::<IpAddr>().is_ok()
                || h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'));
        if ok {
            Ok(h.to_ascii_lowercase())
        } else {
            Err(format!(
                "`{h}` in `{text}` is not a host name or address; {shape}"
            ))
        }
    };
    let from_host = host(&fields[0])?;
    let from_port = port(&fields[1])?;
    let (to_host, to_port) = if resolve {
        let addr = &fields[2];
        if addr.parse::<IpAddr>().is_err() {
            return Err(format!(
                "`{addr}` in `{text}` is not an IP address (`--connect-to` takes a name); {shape}"
            ));
        }
        (addr.to_ascii_lowercase(), from_port)
    } else {
        (host(&fields[2])?, port(&fields[3])?)
    };
    Ok(ConnectTo {
        host: from_host,
        port: from_port,
        to_host,
        to_port,
    })
}

/// A proxy URL: `http://`, `socks5://` or `socks5h://`, optional `user:password@`
/// (percent-decoded), host, and port (1080 when left out, as curl has it). No
/// scheme is `http://`, as curl reads it.
fn parse_proxy(text: &str) -> Result<Proxy, String> {
    let shape = "a proxy is `http://HOST:PORT`, `socks5://HOST:PORT` or `socks5h://HOST:PORT`, \
                 with `USER:PASSWORD@` before the host if it needs them";
    let (scheme, rest) = text.split_once("://").unwrap_or(("http", text));
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "http" => ProxyKind::Http,
        "socks5" => ProxyKind::Socks5,
        "socks5h" => ProxyKind::Socks5h,
        other => {
            return Err(format!("unsupported proxy scheme `{other}://`; {shape}"));
        }
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') || rest.contains('?') {
        return Err(format!("a proxy URL has no path; {shape}"));
    }
    let (credentials, hostport) = match rest.rsplit_once('@') {
        Some((creds, hp)) => {
            let (user, pass) = creds.split_once(':').unwrap_or((creds, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| "the proxy's credentials are not UTF-8 once decoded".to_owned())
            };
            (Some((decode(user)?, decode(pass)?)), hp)
        }
        None => (None, rest),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let (h, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("an unclosed `[` in the proxy's host; {shape}"))?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty()
        || !(host.parse::<std::net::IpAddr>().is_ok()
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'))
    {
        return Err(format!(
            "the proxy's host `{host}` is not a host name or address; {shape}"
        ));
    }
    let port = match port {
        None => 1080,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "the proxy's port `{p}` is not a port (1 to 65535); {shape}"
                ));
            }
        },
    };
    Ok(Proxy {
        kind,
        host: host.to_ascii_lowercase(),
        port,
        credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str, resolve: bool) -> String {
        parse_spec(text, resolve).unwrap().to_string()
    }

    #[test]
    fn specs_parse_with_bracketed_ipv6() {
        assert_eq!(
            ok("Example.com:443:127.0.0.1:8443", false),
            "example.com:443:127.0.0.1:8443"
        );
        assert_eq!(ok("a.test:80:[::1]:8080", false), "a.test:80:[::1]:8080");
        assert_eq!(
            ok("a.test:80:backend.internal:81", false),
            "a.test:80:backend.internal:81"
        );
        assert_eq!(ok("a.test:443:10.0.0.7", true), "a.test:443:10.0.0.7:443");
        assert_eq!(ok("[::1]:443:[fe80::1]", true), "[::1]:443:[fe80::1]:443");
    }

    #[test]
    fn proxy_urls_parse_and_hide_their_password() {
        let p = |t: &str| parse_proxy(t).map(|p| p.to_string());
        assert_eq!(p("http://127.0.0.1:8888").unwrap(), "http://127.0.0.1:8888");
        assert_eq!(
            p("Proxy.example:3128").unwrap(),
            "http://proxy.example:3128"
        );
        assert_eq!(
            p("socks5h://u:p%40ss@[::1]:1080/").unwrap(),
            format!("socks5h://u:{}@[::1]:1080", kaioken_vm::REDACTED)
        );
        assert_eq!(p("socks5://localhost").unwrap(), "socks5://localhost:1080");
        let creds = parse_proxy("socks5://u:p%40ss@h:1").unwrap().credentials;
        assert_eq!(creds, Some(("u".into(), "p@ss".into())));
        assert!(
            p("https://proxy:443")
                .unwrap_err()
                .starts_with("unsupported proxy scheme `https://`")
        );
        assert!(
            p("socks4://proxy:1080")
                .unwrap_err()
                .starts_with("unsupported proxy scheme `socks4://`")
        );
        assert!(
            p("http://proxy:0")
                .unwrap_err()
                .starts_with("the proxy's port `0`")
        );
        assert!(
            p("http://proxy:80/path")
                .unwrap_err()
                .starts_with("a proxy URL has no path")
        );
    }

    #[test]
    fn no_proxy_matches_hosts_their_subdomains_and_ports() {
        let proxy = parse_proxy("http://p:1").unwrap();
        let proxies = Proxies {
            http: Some(proxy.clone()),
            https: None,
            no_proxy: vec![
                "example.com".into(),
                ".internal".into(),
                "10.0.0.1:8080".into(),
            ],
        };
        use kaioken_vm::Scheme::{Http, Https};
        let via = |s, h: &str, p| proxies.for_origin(s, h, p).is_some();
        assert!(via(Http, "other.test", 80));
        assert!(!via(Http, "example.com", 80));
        assert!(!via(Http, "api.EXAMPLE.com", 80));
        assert!(via(Http, "notexample.com", 80));
        assert!(!via(Http, "db.internal", 80));
        assert!(!via(Http, "10.0.0.1", 8080));
        assert!(via(Http, "10.0.0.1", 80));
        assert!(!via(Https, "other.test", 443), "no https proxy");
        let all = Proxies {
            no_proxy: vec!["*".into()],
            ..proxies.clone()
        };
        assert!(all.for_origin(Http, "other.test", 80).is_none());
    }

    #[test]
    fn malformed_specs_say_what_is_wrong() {
        let err = |t: &str, r: bool| parse_spec(t, r).unwrap_err();
        assert!(err("a.test:443:127.0.0.1", false).starts_with(
            "`a.test:443:127.0.0.1` has 3 part(s) where 4 are expected; `--connect-to` expects"
        ));
        assert!(
            err("a.test:https:127.0.0.1:1", false)
                .starts_with("`https` in `a.test:https:127.0.0.1:1` is not a port (1 to 65535)")
        );
        assert!(err("a.test:443:127.0.0.1:0", false).starts_with("`0` in"));
        assert!(err("a.test:443:backend", true).starts_with(
            "`backend` in `a.test:443:backend` is not an IP address (`--connect-to` takes a name)"
        ));
        assert!(err("a.test:443:[::1", true).starts_with("`a.test:443:[::1`: an unclosed"));
        assert!(err(":443:127.0.0.1", true).starts_with("`` in `:443:127.0.0.1` is not a host"));
        assert!(err("a b:443:127.0.0.1", true).starts_with("`a b` in"));
    }
}
