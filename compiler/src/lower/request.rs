//! One request: method, headers, body and think time.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): the
//! same rules serve `[request]` (with flags) and every `[[scenarios.steps]]` entry,
//! so a header kaioken must set itself is refused wherever it is written. The URL
//! has been split already (`url.rs`); the result is one IR [`Step`].

use std::time::Duration;

use kaioken_vm::{ExpectedStatus, Origin};

use super::{Lowerer, MAX_THINK_TIME};
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::{BodySource, DraftHeader};
use crate::located::Located;
use crate::{Part, Step, Template};

/// What a request is made of, wherever it was written.
pub(super) struct RequestSpec<'d> {
    pub(super) name: String,
    pub(super) method: Option<&'d Located<String>>,
    pub(super) headers: Vec<&'d DraftHeader>,
    pub(super) body: Option<&'d Located<BodySource>>,
    pub(super) checks: &'d [Located<String>],
    pub(super) think_time: Option<&'d Located<String>>,
    pub(super) expected_status: Option<&'d Located<String>>,
    /// An HTTP step's request, which says `connection: close` over HTTP/1.1 when
    /// connections carry one request; not a WebSocket handshake (whose
    /// `connection` is `Upgrade`) nor a gRPC call (HTTP/2, which has no such
    /// header).
    pub(super) http: bool,
}

/// A step's headers: those of `[request]` (and `-H`) that the step does not set
/// itself (names compare case-insensitively), then the step's own.
pub(super) fn step_headers<'d>(
    common: &'d [DraftHeader],
    own: &'d [DraftHeader],
) -> Vec<&'d DraftHeader> {
    let mut headers: Vec<&DraftHeader> = common
        .iter()
        .filter(|h| {
            !own.iter()
                .any(|o| o.name.value.eq_ignore_ascii_case(&h.name.value))
        })
        .collect();
    headers.extend(own.iter());
    headers
}

impl Lowerer<'_> {
    /// The parts of a request common to `[request]` and scenario steps: method,
    /// headers, body, checks, once the URL is split.
    pub(super) fn request(
        &mut self,
        spec: RequestSpec<'_>,
        split: Option<(Origin, Template)>,
        url: &Located<String>,
    ) -> Option<Step> {
        let method = match spec.method {
            Some(m) => {
                let valid = !m.value.is_empty()
                    && m.value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !valid {
                    self.errors
                        .push(CompileError::at(CompileErrorKind::BadMethod, &m.loc, None));
                }
                m.value.clone()
            }
            // As curl does: a body makes the default method POST.
            None if spec.body.is_some() => "POST".into(),
            None => "GET".into(),
        };
        let mut headers = Vec::new();
        let mut has_user_agent = false;
        let mut has_accept_encoding = false;
        for h in &spec.headers {
            let name = h.name.value.to_ascii_lowercase();
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid {
                let kind = CompileErrorKind::BadHeader {
                    reason: format!("`{}` is not a valid header name", h.name.value),
                };
                self.errors.push(CompileError::at(kind, &h.name.loc, None));
                continue;
            }
            // `connection: upgrade` asks for a protocol switch (a WebSocket handshake);
            // any other `connection` is kaioken's to manage.
            let upgrade = name == "connection" && h.value.value.eq_ignore_ascii_case("upgrade");
            let switchless = match self.http {
                crate::HttpVersion::Http1 => None,
                crate::HttpVersion::Http2 => Some(("HTTP/2", "`http2` or `--http2`")),
                crate::HttpVersion::Http3 => Some(("HTTP/3", "`http = \"3\"` or `--http3`")),
            };
            if let Some((version, how)) = switchless.filter(|_| upgrade || name == "upgrade") {
                // The header is well formed; it is the pair that cannot run, so no
                // header-shape help.
                self.conflict(
                    &h.name.loc,
                    &format!(
                        "`{name}` asks for a protocol switch, which {version} does not have (drop {how} to send this handshake over HTTP/1.1)"
                    ),
                );
                continue;
            }
            if !upgrade
                && matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                )
            {
                let kind = CompileErrorKind::BadHeader {
                    reason: format!("`{name}` is set by kaioken from the body and connection"),
                };
                self.errors.push(CompileError::at(kind, &h.name.loc, None));
                continue;
            }
            has_user_agent |= name == "user-agent";
            has_accept_encoding |= name == "accept-encoding";
            if let Some(value) = self.template(&h.value) {
                // The same rule the runtime applies to values built at run time.
                let fault = value.parts.iter().find_map(|p| match p {
                    Part::Lit(b) => kaioken_vm::header_value_fault(b),
                    _ => None,
                });
                if let Some(fault) = fault {
                    let what = match fault.byte {
                        b'\r' | b'\n' => "a line break".to_owned(),
                        _ => fault.byte_name(),
                    };
                    let kind = CompileErrorKind::BadHeader {
                        reason: format!("a header value cannot contain {what}"),
                    };
                    self.errors.push(CompileError::at(kind, &h.value.loc, None));
                }
                headers.push((name, value));
            }
        }
        if !has_user_agent {
            headers.push(("user-agent".into(), Template::literal(crate::USER_AGENT)));
        }
        if !self.keepalive && self.http == crate::HttpVersion::Http1 && spec.http {
            // The server closes the connection after its response (HTTP/2 and
            // HTTP/3 have no such header: their drivers close the connection).
            headers.push(("connection".into(), Template::literal("close")));
        }
        if self.compressed && !has_accept_encoding {
            headers.push((
                "accept-encoding".into(),
                Template::literal(crate::ACCEPT_ENCODING),
            ));
        }
        let body = match spec.body {
            None => None,
            Some(Located {
                value: BodySource::Multipart(fields),
                ..
            }) => {
                let set = spec
                    .headers
                    .iter()
                    .find(|h| h.name.value.eq_ignore_ascii_case("content-type"));
                if let Some(h) = set {
                    let kind = CompileErrorKind::BadHeader {
                        reason: "`content-type` is set by `multipart`, with its boundary".into(),
                    };
                    self.errors.push(CompileError::at(kind, &h.value.loc, None));
                }
                self.multipart(fields).map(|m| {
                    headers.push(("content-type".into(), Template::literal(m.content_type)));
                    m.body
                })
            }
            Some(Located {
                value: BodySource::Text(text),
                loc,
            }) => self.template(&Located {
                value: text.clone(),
                loc: loc.clone(),
            }),
            Some(Located {
                value: BodySource::File(path),
                loc,
            }) => {
                let path = self.fold_env(&Located {
                    value: path.clone(),
                    loc: loc.clone(),
                });
                let path = self.resolve_path(&path, loc);
                match std::fs::read(&path) {
                    Ok(bytes) => Some(Template::literal(bytes)),
                    Err(e) => {
                        let kind = CompileErrorKind::Io {
                            path: path.display().to_string(),
                            message: e.to_string(),
                        };
                        self.errors.push(CompileError::at(kind, loc, None));
                        None
                    }
                }
            }
        };
        let checks = spec
            .checks
            .iter()
            .filter_map(|c| self.check(c, None))
            .collect();
        let think_time = match spec.think_time {
            Some(t) => {
                let d = self.duration(&Some(t.clone()), "think_time", Duration::ZERO, false);
                if d > MAX_THINK_TIME {
                    self.out_of_range(t, "think_time", "at most 1h");
                }
                d.min(MAX_THINK_TIME)
            }
            None => Duration::ZERO,
        };
        let expected_status = match spec.expected_status {
            Some(e) => match ExpectedStatus::parse(&e.value) {
                Ok(set) => set,
                Err(reason) => {
                    let kind = CompileErrorKind::Grammar {
                        message: format!("invalid `expected_status`: {reason}"),
                        help: Some(
                            "write codes (404), ranges (200-299) or classes (2xx), separated by commas, e.g. \"200-399,404\"",
                        ),
                    };
                    self.errors.push(CompileError::at(kind, &e.loc, None));
                    ExpectedStatus::default()
                }
            },
            None => ExpectedStatus::default(),
        };
        let (origin, path) = split?;
        // An `http://` URL was refused as it was split; a path relative to a
        // `ws://` or `grpc://` target has a cleartext origin too.
        if spec.http
            && origin.scheme == kaioken_vm::Scheme::Http
            && self.http == crate::HttpVersion::Http3
        {
            self.conflict(&url.loc, super::url::HTTP3_NEEDS_TLS);
            return None;
        }
        Some(Step {
            name: spec.name,
            method,
            origin,
            path,
            headers,
            body,
            checks,
            extracts: Vec::new(),
            think_time,
            expected_status,
            kind: crate::StepKind::Http,
            loc: url.loc.ir_loc(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::step_headers;
    use crate::draft::DraftHeader;
    use crate::located::{Loc, Located};
    use crate::lower::tests::{errors, ok, text};
    use crate::{ConfigFile, Flags, Input, Step, lower};

    /// The one request of a file with `[target] url = "http://h/"` and `request` as
    /// the `[request]` table's body.
    fn request(request: &str) -> Step {
        let ir = ok(&format!(
            "[target]\nurl = \"http://h/\"\n[request]\n{request}"
        ));
        ir.scenarios[0].steps[0].clone()
    }

    fn request_errors(request: &str) -> Vec<String> {
        errors(&format!(
            "[target]\nurl = \"http://h/\"\n[request]\n{request}"
        ))
    }

    fn headers(step: &Step) -> Vec<String> {
        step.headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", text(v)))
            .collect()
    }

    #[test]
    fn method_defaults_like_curl() {
        assert_eq!(request("").method, "GET");
        assert_eq!(request("body = \"x\"").method, "POST");
        assert_eq!(request("body = \"x\"\nmethod = \"PUT\"").method, "PUT");
        // Any token is a method; kaioken does not keep a list.
        assert_eq!(request("method = \"PURGE\"").method, "PURGE");
        assert_eq!(
            request_errors("method = \"GE T\""),
            ["4:11 [GE T] invalid HTTP method"]
        );
    }

    #[test]
    fn headers_are_lowercased_and_get_a_user_agent() {
        let step = request("headers = { \"X-Trace\" = \"${VU}\", \"Accept\" = \"*/*\" }");
        assert_eq!(
            headers(&step),
            [
                "accept: */*",
                "x-trace: ${VU}",
                &format!("user-agent: {}", crate::USER_AGENT),
            ]
        );
        let step = request("headers = { \"User-Agent\" = \"probe/1\" }");
        assert_eq!(headers(&step), ["user-agent: probe/1"]);
    }

    #[test]
    fn headers_kaioken_sets_itself_are_refused() {
        assert_eq!(
            request_errors(
                "headers = { \"Content-Length\" = \"3\", \"Connection\" = \"close\", \"a b\" = \"1\", \"x\" = \"1\\n2\" }"
            ),
            [
                // In name order (a TOML table). A key has no span of its own: the value
                // is underlined.
                "4:53 [close] invalid header: `connection` is set by kaioken from the body and connection",
                "4:33 [3] invalid header: `content-length` is set by kaioken from the body and connection",
                "4:70 [1] invalid header: `a b` is not a valid header name",
                // An escape: the value no longer maps onto the file, so all of it is.
                "4:80 [\"1\\n2\"] invalid header: a header value cannot contain a line break",
            ]
        );
    }

    /// A fixed header value follows the rule values built at run time follow: no
    /// control byte but tab, whether written in the file or folded in from the
    /// environment.
    #[test]
    fn header_values_with_control_bytes_are_refused() {
        assert_eq!(
            request_errors(r#"headers = { "a" = "x\u0000y", "b" = "x\u001b", "c" = "tab\tok" }"#),
            [
                "4:19 [\"x\\u0000y\"] invalid header: a header value cannot contain a NUL byte (0x00)",
                "4:37 [\"x\\u001b\"] invalid header: a header value cannot contain a control byte (0x1b)",
            ]
        );
    }

    #[test]
    fn a_protocol_switch_is_for_http1_only() {
        let step =
            request("headers = { \"Connection\" = \"Upgrade\", \"Upgrade\" = \"websocket\" }");
        assert_eq!(
            headers(&step)[..2],
            ["connection: Upgrade", "upgrade: websocket"]
        );
        assert_eq!(
            errors(
                "[target]\nurl = \"http://h/\"\nhttp2 = true\n[request]\nheaders = { \"Upgrade\" = \"websocket\" }"
            ),
            [
                "5:26 [websocket] `upgrade` asks for a protocol switch, which HTTP/2 does not have (drop `http2` or `--http2` to send this handshake over HTTP/1.1)"
            ]
        );
        // The header is well formed: the help says how to run it, not how to write
        // a header.
        let e = crate::lower::tests::lower_env(
            "[target]\nurl = \"http://h/\"\nhttp2 = true\n[request]\nheaders = { \"Connection\" = \"Upgrade\" }",
            &[],
        )
        .unwrap_err();
        let helps: Vec<String> = e
            .errors
            .iter()
            .map(|e| miette::Diagnostic::help(e).map_or(String::new(), |h| h.to_string()))
            .collect();
        assert_eq!(helps, [""]);
    }

    #[test]
    fn bodies_are_templates_and_add_no_content_type() {
        let step = request("body = '{\"vu\": ${VU}}'");
        assert_eq!(text(step.body.as_ref().unwrap()), "{\"vu\": ${VU}}");
        // The server is told the type only if the scenario says so.
        assert!(!headers(&step).iter().any(|h| h.starts_with("content-type")));
        let step = request("body = \"{}\"\nheaders = { \"Content-Type\" = \"application/json\" }");
        assert_eq!(headers(&step)[0], "content-type: application/json");
        assert_eq!(request("").body, None);
    }

    #[test]
    fn a_body_file_is_read_relative_to_the_scenario() {
        let dir = std::env::temp_dir().join(format!("kaioken-body-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("body.json"), b"{\"raw\": \"${not a template}\"}").unwrap();
        let input = |text: &str| Input {
            config: Some(ConfigFile {
                name: dir.join("s.toml").display().to_string(),
                text: format!("[target]\nurl = \"http://h/\"\n[request]\n{text}"),
            }),
            ..Input::default()
        };
        let ir = lower(&input("body_file = \"body.json\"")).unwrap();
        let step = &ir.scenarios[0].steps[0];
        // Raw bytes: a file is not a template.
        assert_eq!(
            step.body.as_ref().unwrap().as_literal().unwrap(),
            b"{\"raw\": \"${not a template}\"}"
        );
        assert_eq!(step.method, "POST");

        let e = lower(&input("body_file = \"missing.json\"")).unwrap_err();
        let missing = dir.join("missing.json").display().to_string();
        assert_eq!(
            crate::lower::tests::located(&e.errors[0]),
            format!(
                "4:14 [missing.json] cannot read `{missing}`: No such file or directory (os error 2)"
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `expected_status` takes codes, ranges and classes; a bad list is located
    /// and says how to write one.
    #[test]
    fn expected_status() {
        assert_eq!(request("").expected_status.to_string(), "200-399");
        assert_eq!(
            request("expected_status = \"2xx,404\"")
                .expected_status
                .to_string(),
            "200-299,404"
        );
        assert_eq!(
            request_errors("expected_status = \"200-abc\""),
            [
                "4:20 [200-abc] invalid `expected_status`: `abc` is not a status code from 100 to 999"
            ]
        );
    }

    #[test]
    fn think_time_is_capped_at_an_hour() {
        assert_eq!(
            request("think_time = \"250ms\"").think_time,
            Duration::from_millis(250)
        );
        assert_eq!(request("").think_time, Duration::ZERO);
        assert_eq!(
            request_errors("think_time = \"2h\""),
            ["4:15 [2h] `think_time` is out of range; expected at most 1h"]
        );
    }

    #[test]
    fn flags_make_a_request_too() {
        let ir = lower(&Input {
            flags: Flags {
                url: Some("http://h/".into()),
                method: Some("DELETE".into()),
                headers: vec!["X-Id: ${REQUEST_ID}".into()],
                ..Flags::default()
            },
            ..Input::default()
        })
        .unwrap();
        let step = &ir.scenarios[0].steps[0];
        assert_eq!(step.method, "DELETE");
        assert_eq!(headers(step)[0], "x-id: ${REQUEST_ID}");
    }

    #[test]
    fn step_headers_replace_common_ones_by_name() {
        let header = |name: &str, value: &str| DraftHeader {
            name: Located {
                value: name.into(),
                loc: Loc::flag("-H", name),
            },
            value: Located {
                value: value.into(),
                loc: Loc::flag("-H", value),
            },
        };
        let common = [header("Accept", "*/*"), header("x-a", "1")];
        let own = [header("accept", "text/html"), header("x-b", "2")];
        let merged: Vec<_> = step_headers(&common, &own)
            .iter()
            .map(|h| format!("{}: {}", h.name.value, h.value.value))
            .collect();
        assert_eq!(merged, ["x-a: 1", "accept: text/html", "x-b: 2"]);
        assert_eq!(step_headers(&common, &[]).len(), 2);
    }
}
