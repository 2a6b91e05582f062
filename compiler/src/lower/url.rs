//! URLs: a URL template into its fixed origin and its path template.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): the
//! origin (scheme, host, port) is what a connection is opened to, so it must be
//! fixed text; only the path may hold `${…}`. Steps may give a path alone, relative
//! to `[target] url`.

use kaioken_vm::{Origin, Scheme};

use super::Lowerer;
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::located::Located;
use crate::{Part, Template};

/// What an HTTP step on a cleartext origin is told when the run is HTTP/3.
pub(super) const HTTP3_NEEDS_TLS: &str = "HTTP/3 runs on QUIC, which is always TLS: use an `https://` URL (or drop `--http3` / `http = \"3\"`)";

impl Lowerer<'_> {
    /// A step's URL: a full URL is split like any other; one starting with `/` is a
    /// path under `base`, the origin of `[target] url`. So is one starting with a
    /// value an earlier step extracted (`${next}/items`, a relative `Location`): the
    /// VU refuses to send it unless the value starts with `/`, so the origin stays
    /// fixed. Any other value at the start (a data column, a script's) is taken for
    /// a scheme and host, which must be fixed text.
    pub(super) fn step_url(
        &mut self,
        url: &Located<String>,
        base: Option<&Origin>,
    ) -> Option<(Origin, Template)> {
        self.url_template(url).and_then(|t| {
            let relative = match t.parts.first() {
                Some(Part::Lit(b)) => b.starts_with(b"/"),
                Some(Part::Extracted(_)) => true,
                _ => false,
            };
            if !relative {
                return self.split_origin(url, t);
            }
            match base {
                Some(origin) => Some((origin.clone(), self.check_path(url, t)?)),
                None => {
                    let kind = CompileErrorKind::BadUrl {
                        reason: "a relative URL needs a base: `url` in `[target]`, or the URL on the command line (`kaioken -f FILE http://HOST:PORT`)".into(),
                    };
                    self.errors.push(CompileError::at(kind, &url.loc, None));
                    None
                }
            }
        })
    }

    /// Split a URL template into its fixed origin and its path template.
    pub(super) fn split_origin(
        &mut self,
        url: &Located<String>,
        t: Template,
    ) -> Option<(Origin, Template)> {
        let bad = |this: &mut Self, reason: String| {
            this.errors.push(CompileError::at(
                CompileErrorKind::BadUrl { reason },
                &url.loc,
                None,
            ));
            None
        };
        if t.parts.is_empty() {
            return bad(
                self,
                "the URL is empty; expected `http://` or `https://` and a host".into(),
            );
        }
        // The first part that is not fixed text, named as written.
        let computed = |t: &Template| {
            let part = t.parts.iter().find(|p| !matches!(p, Part::Lit(_)));
            part.map_or_else(String::new, ToString::to_string)
        };
        let Some(Part::Lit(first)) = t.parts.first() else {
            return bad(
                self,
                format!(
                    "the scheme and host must be fixed, not `{}`, a value computed per request",
                    computed(&t)
                ),
            );
        };
        let first = String::from_utf8_lossy(first).into_owned();
        let Some(scheme_end) = first.find("://") else {
            return bad(
                self,
                format!("`{first}` has no scheme; expected `http://` or `https://`"),
            );
        };
        let after = scheme_end + 3;
        let authority_end = first[after..].find(['/', '?', '#']).map(|i| after + i);
        if authority_end.is_none() && t.parts.len() > 1 {
            return bad(
                self,
                format!(
                    "the scheme and host must be fixed; `{}`, a value computed per request, cannot be part of them",
                    computed(&t)
                ),
            );
        }
        let authority_end = authority_end.unwrap_or(first.len());
        let origin_text = &first[..authority_end];
        let parsed = match url::Url::parse(origin_text) {
            Ok(u) => u,
            Err(e) => return bad(self, format!("`{origin_text}`: {e}")),
        };
        // A WebSocket URL's origin is its HTTP one: the handshake is an HTTP/1.1
        // request (websocket.rs makes the step a WebSocket one).
        let scheme = match parsed.scheme() {
            "http" | "ws" => Scheme::Http,
            "https" | "wss" => Scheme::Https,
            // gRPC: h2c, or HTTP/2 on TLS; the step's kind says it is a call.
            "grpc" => Scheme::Http,
            "grpcs" => Scheme::Https,
            other => {
                return bad(
                    self,
                    format!(
                        "scheme `{other}` is not supported; expected `http`, `https`, `ws`, \
                         `wss`, `grpc` or `grpcs`"
                    ),
                );
            }
        };
        // `http` picks the version of HTTP steps only: a `ws://` handshake is
        // HTTP/1.1 and a `grpc://` call is h2c whatever it says, so only an
        // `http://` URL cannot run.
        if parsed.scheme() == "http" && self.http == crate::HttpVersion::Http3 {
            // The URL is fine; it is the pair that cannot run, so no URL-shape help.
            self.conflict(&url.loc, HTTP3_NEEDS_TLS);
            return None;
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return bad(
                self,
                "credentials in the URL are not supported; send an `Authorization` header".into(),
            );
        }
        let host = match parsed.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return bad(self, "no host".into()),
        };
        let default_port = if scheme == Scheme::Https { 443 } else { 80 };
        let port = parsed.port().unwrap_or(default_port);
        let host_text = parsed.host_str().unwrap_or_default();
        let authority = if port == default_port {
            host_text.to_owned()
        } else {
            format!("{host_text}:{port}")
        };
        let mut path = Template::default();
        let rest = &first[authority_end..];
        if !rest.starts_with('/') {
            path.push_lit(b"/");
        }
        path.push_lit(rest.as_bytes());
        for part in &t.parts[1..] {
            match part {
                Part::Lit(bytes) => path.push_lit(bytes),
                Part::Builtin(_)
                | Part::Extracted(_)
                | Part::UrlEncoded(_)
                | Part::Random(..)
                | Part::Script(_)
                | Part::Setup(_)
                | Part::Data(..)
                | Part::DataEncoded(..)
                | Part::SetupEncoded(_) => path.parts.push(part.clone()),
            }
        }
        let path = self.check_path(url, path)?;
        Some((
            Origin {
                scheme,
                host,
                port,
                authority,
            },
            path,
        ))
    }

    /// A path template's fixed text, checked for what a request line cannot carry:
    /// a fragment, a space or a control character are errors (the user meant
    /// something else); other bytes a request target cannot carry as they are
    /// (non-ASCII, `"`, `<`, `{`, …) are percent-encoded, as a browser would send
    /// them. Values extracted at run time are encoded by the VM (`buf.sloturl`).
    fn check_path(&mut self, url: &Located<String>, path: Template) -> Option<Template> {
        let bad = |this: &mut Self, reason: String| {
            this.errors.push(CompileError::at(
                CompileErrorKind::BadUrl { reason },
                &url.loc,
                None,
            ));
            None
        };
        // Anywhere in the path, after a `${…}` too.
        let fragment = path.parts.iter().find_map(|p| match p {
            Part::Lit(b) => b
                .iter()
                .position(|&c| c == b'#')
                .map(|i| String::from_utf8_lossy(&b[i..]).into_owned()),
            _ => None,
        });
        if let Some(fragment) = fragment {
            return bad(
                self,
                format!("fragment `{fragment}` is never sent to a server; remove it"),
            );
        }
        let has_space = path.parts.iter().any(|p| matches!(p, Part::Lit(b) if b.iter().any(|c| c.is_ascii_whitespace() || c.is_ascii_control())));
        if has_space {
            return bad(
                self,
                "the path contains a space or control character; percent-encode it (`%20`)".into(),
            );
        }
        let parts = path
            .parts
            .into_iter()
            .map(|p| match p {
                Part::Lit(b) if !b.iter().all(|&c| kaioken_vm::target_allows(c)) => {
                    let mut encoded = Vec::with_capacity(b.len() + 8);
                    kaioken_vm::push_target_encoded(&mut encoded, &b);
                    Part::Lit(encoded)
                }
                other => other,
            })
            .collect();
        Some(Template { parts })
    }
}

#[cfg(test)]
mod tests {
    use kaioken_vm::{Origin, Scheme};

    use crate::lower::tests::{errors, lower_env, text};

    /// The origin and path of `[target] url = "{url}"`.
    fn split(url: &str) -> (Origin, String) {
        let ir = lower_env(&format!("[target]\nurl = \"{url}\"\n"), &[]).unwrap();
        let step = &ir.scenarios[0].steps[0];
        (step.origin.clone(), text(&step.path))
    }

    fn url_errors(url: &str) -> Vec<String> {
        errors(&format!("[target]\nurl = \"{url}\"\n"))
    }

    #[test]
    fn default_ports_are_left_out_of_the_authority() {
        let (o, path) = split("http://Example.test");
        assert_eq!(
            (o.scheme, o.host.as_str(), o.port, o.authority.as_str()),
            (Scheme::Http, "example.test", 80, "example.test")
        );
        assert_eq!(path, "/");
        let (o, _) = split("https://example.test:443/");
        assert_eq!((o.port, o.authority.as_str()), (443, "example.test"));
        let (o, _) = split("https://example.test:8443/");
        assert_eq!((o.port, o.authority.as_str()), (8443, "example.test:8443"));
        let (o, _) = split("http://127.0.0.1:80/");
        assert_eq!((o.port, o.authority.as_str()), (80, "127.0.0.1"));
    }

    #[test]
    fn paths_and_queries() {
        assert_eq!(split("http://h?q=1").1, "/?q=1");
        assert_eq!(
            split("http://h/a/${VU}/b?x=${ITERATION}").1,
            "/a/${VU}/b?x=${ITERATION}"
        );
    }

    #[test]
    fn ipv6_hosts_are_kept_without_brackets() {
        let (o, path) = split("http://[::1]:8080/x");
        assert_eq!(o.host, "::1");
        assert_eq!(o.authority, "[::1]:8080");
        assert_eq!(path, "/x");
        assert_eq!(split("http://[::1]/").0.authority, "[::1]");
    }

    #[test]
    fn fragments_are_refused_anywhere() {
        assert_eq!(
            url_errors("http://h/a#top"),
            [
                "2:8 [http://h/a#top] invalid URL: fragment `#top` is never sent to a server; remove it"
            ]
        );
        assert_eq!(
            url_errors("http://h/${VU}#x"),
            [
                "2:8 [http://h/${VU}#x] invalid URL: fragment `#x` is never sent to a server; remove it"
            ]
        );
    }

    #[test]
    fn what_cannot_be_sent() {
        let reason = |url: &str| {
            let e = url_errors(url);
            assert_eq!(e.len(), 1, "{e:?}");
            let at = format!("2:8 [{url}] invalid URL: ");
            e[0].strip_prefix(&at)
                .unwrap_or_else(|| panic!("{e:?}"))
                .to_owned()
        };
        assert_eq!(
            reason("example.test/a"),
            "`example.test/a` has no scheme; expected `http://` or `https://`"
        );
        assert_eq!(
            reason("ftp://h/"),
            "scheme `ftp` is not supported; expected `http`, `https`, `ws`, `wss`, `grpc` or `grpcs`"
        );
        assert_eq!(
            reason("http://u:p@h/"),
            "credentials in the URL are not supported; send an `Authorization` header"
        );
        assert_eq!(
            reason(""),
            "the URL is empty; expected `http://` or `https://` and a host"
        );
        assert_eq!(
            reason("${VU}://h/"),
            "the scheme and host must be fixed, not `${VU}`, a value computed per request"
        );
        assert_eq!(
            reason("${RANDOM(1,9)}/x"),
            "the scheme and host must be fixed, not `${RANDOM(1,9)}`, a value computed per request"
        );
        assert_eq!(
            reason("http://h${VU}/"),
            "the scheme and host must be fixed; `${VU}`, a value computed per request, cannot be part of them"
        );
        assert_eq!(
            reason("http://h/a b"),
            "the path contains a space or control character; percent-encode it (`%20`)"
        );
        assert_eq!(
            reason("http://h:99999/"),
            "`http://h:99999`: invalid port number"
        );
    }

    /// A step's path relative to `[target] url` is checked as a full URL's is; what a
    /// request target cannot carry as it is gets percent-encoded, `%` left alone.
    #[test]
    fn relative_paths_are_checked_and_encoded_like_full_ones() {
        let step = |url: &str| {
            format!(
                "[target]\nurl = \"http://h/\"\n[[scenarios]]\n[[scenarios.steps]]\nurl = '{url}'\n"
            )
        };
        assert_eq!(
            errors(&step("/a b")),
            [
                "5:8 [/a b] invalid URL: the path contains a space or control character; percent-encode it (`%20`)"
            ]
        );
        assert_eq!(
            errors(&step("/a#b")),
            ["5:8 [/a#b] invalid URL: fragment `#b` is never sent to a server; remove it"]
        );
        let path = |url: &str| {
            let ir = lower_env(&step(url), &[]).unwrap();
            text(&ir.scenarios[0].steps[0].path)
        };
        assert_eq!(
            path("/caf\u{e9}/{x}|\\\"y\"?q=<1>%20"),
            "/caf%C3%A9/%7Bx%7D%7C%5C%22y%22?q=%3C1%3E%20"
        );
        assert_eq!(split("http://h/\u{e9}?q=${VU}^").1, "/%C3%A9?q=${VU}%5E");
    }

    /// A URL may start with a value an earlier step extracted (a relative
    /// `Location`): a path under `[target] url`, which the VU checks starts with `/`
    /// before sending. Other values at the start still name the scheme and host.
    #[test]
    fn a_step_url_may_start_with_an_extracted_value() {
        let scenario = |url: &str| {
            format!(
                "[target]\nurl = \"http://h:8080/\"\n[[scenarios]]\n[[scenarios.steps]]\nurl = \"/orders\"\nextract = {{ next = \"header:Location\" }}\n[[scenarios.steps]]\nurl = '{url}'\n"
            )
        };
        let ir = lower_env(&scenario("${next}/items?x=1"), &[]).unwrap();
        let step = &ir.scenarios[0].steps[1];
        assert_eq!(step.origin.authority, "h:8080");
        assert_eq!(text(&step.path), "${next}/items?x=1");
        assert_eq!(
            errors(&scenario("${VU}/items")),
            [
                "8:8 [${VU}/items] invalid URL: the scheme and host must be fixed, not `${VU}`, a value computed per request"
            ]
        );
        assert_eq!(
            errors(&scenario("${URLENCODE(next)}")),
            [
                "8:8 [${URLENCODE(next)}] invalid URL: the scheme and host must be fixed, not `${URLENCODE(next)}`, a value computed per request"
            ]
        );
    }

    #[test]
    fn a_relative_step_needs_a_target() {
        assert_eq!(
            errors("[[scenarios]]\n[[scenarios.steps]]\nurl = \"/a\"\n"),
            [
                "3:8 [/a] invalid URL: a relative URL needs a base: `url` in `[target]`, or the URL on the command line (`kaioken -f FILE http://HOST:PORT`)"
            ]
        );
    }
}
