//! `-v`: the first exchange of each step printed to stderr, so a user sees what is
//! sent (and what comes back) before loading a server with it.
//!
//! Both engines call [`Verbose::exchange`] after every exchange (the tokio engine's
//! worker.rs, the io_uring engine's `finish` in uring.rs); the first of each step
//! wins a flag shared by every worker and is printed whole: the request as HTTP/1.1
//! spells it (the bytes the HTTP/1.1 driver writes; HTTP/2 sends
//! the same fields in binary frames), then the response head and body as the driver
//! kept them, or the error. Secrets are hidden by the run's redaction rule (the
//! values of secret headers and query keys), and bodies are cut at [`BODY_SHOWN`].
//! A verbose run keeps every response's head and body (judge.rs).

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use kaioken_vm::{Program, Protocol, Redact};

use crate::ErrorKind;
use crate::stats::Outcome;
use crate::vu::Request;
use kaioken_http1::Capture;

/// Most body bytes shown of a request or a response.
const BODY_SHOWN: usize = 1024;

/// What came of an exchange, as the driver kept it.
pub(crate) struct Answer<'a> {
    pub outcome: Outcome,
    pub capture: Option<&'a Capture>,
    /// The failure's detail, if there was one.
    pub detail: Option<&'a str>,
}

/// Which steps have been shown, and the rule that hides secrets.
pub(crate) struct Verbose {
    rule: Redact,
    shown: Box<[AtomicBool]>,
}

impl Verbose {
    /// For a run of `program` whose output hides what `rule` says.
    pub fn new(program: &Program, rule: Redact) -> Verbose {
        Verbose {
            rule,
            shown: program
                .steps
                .iter()
                .map(|_| AtomicBool::new(false))
                .collect(),
        }
    }

    /// Print `request`'s exchange if it is the first of its step (every later one
    /// costs a relaxed load).
    pub fn exchange(
        &self,
        program: &Program,
        dial: &crate::dial::Dial,
        request: &Request<'_>,
        info: &crate::http1::StepInfo,
        answer: Answer<'_>,
    ) {
        let flag = &self.shown[request.step.index()];
        if flag.load(Ordering::Relaxed) || flag.swap(true, Ordering::AcqRel) {
            return;
        }
        let text = self.render(program, dial, request, info, answer);
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    #[cold]
    fn render(
        &self,
        program: &Program,
        dial: &crate::dial::Dial,
        request: &Request<'_>,
        info: &crate::http1::StepInfo,
        answer: Answer<'_>,
    ) -> String {
        let Answer {
            outcome,
            capture,
            detail,
        } = answer;
        let desc = program.step(request.step);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "── {:?} (s{}), its first exchange, over {} ──",
            desc.name,
            request.step.index(),
            request.protocol.name()
        );
        let mut wire = Vec::new();
        crate::http1::write_request(
            &mut wire,
            program,
            request.state,
            request.step,
            info,
            request.added(),
            request.hop,
        );
        let origin = match request.hop {
            Some(h) => &h.origin,
            None => &program.origins[desc.origin],
        };
        if request.protocol == Protocol::Http1 && dial.forwards(origin) {
            // As the driver sends it to an HTTP proxy.
            let auth = dial.forward_authorization(origin);
            crate::http1::to_absolute_form(&mut wire, &origin.authority, auth);
        }
        match request.protocol {
            Protocol::Http2 | Protocol::Http3 => {
                out.push_str("(HTTP/2 and HTTP/3 send these fields in binary frames)\n");
            }
            Protocol::WebSocket => out.push_str(
                "(a WebSocket message: the head is its connection's opening handshake, \
                 sent once; the body is the message)\n",
            ),
            Protocol::Grpc => out.push_str(
                "(a gRPC call on HTTP/2: the headers are its metadata; the body is the \
                 message as JSON, sent encoded by its schema; the reply is shown as JSON)\n",
            ),
            Protocol::Http1 => {}
        }
        let head_end = find_head_end(&wire).unwrap_or(wire.len());
        self.lines(&mut out, "> ", &wire[..head_end], &[]);
        self.body(&mut out, "> ", &wire[head_end..], &[]);
        // What the request sent that the rule hides: hidden in the response too,
        // wherever a server echoes it (in a JSON string holding the request's body,
        // say, where no key names it).
        let sent = self.rule.secrets(&String::from_utf8_lossy(&wire));
        match outcome {
            Outcome::Response { status, .. } => match capture {
                Some(c) if !c.head.is_empty() || !c.body.is_empty() => {
                    if c.head.is_empty() {
                        let _ = writeln!(out, "< status {status}");
                    } else {
                        self.lines(&mut out, "< ", &c.head, &sent);
                    }
                    self.body(&mut out, "< ", &c.body, &sent);
                    if c.truncated {
                        let _ = writeln!(out, "< (the body was kept up to {} bytes)", c.body_limit);
                    }
                }
                _ => out.push_str("< (the response was not kept)\n"),
            },
            Outcome::Error(kind) => {
                let _ = writeln!(
                    out,
                    "< no response: {}{}",
                    kind.name(),
                    detail.map_or(String::new(), |d| format!(" ({d})"))
                );
                if kind == ErrorKind::Timeout {
                    out.push_str("< (no complete response within the timeout)\n");
                }
            }
        }
        out.push('\n');
        out
    }

    /// A head's lines, each behind `mark`, with secrets hidden (and `sent`, the
    /// request's, wherever they are).
    fn lines(&self, out: &mut String, mark: &str, head: &[u8], sent: &[String]) {
        let text = self.rule.text_and(&String::from_utf8_lossy(head), sent);
        for line in text.lines().filter(|l| !l.is_empty()) {
            let _ = writeln!(out, "{mark}{}", Visible(line));
        }
        let _ = writeln!(out, "{}", mark.trim_end());
    }
}

impl Verbose {
    /// A body behind `mark`: text with secrets hidden (an echoed header, a token in
    /// a URL, `sent`: the request's, wherever they are), binary as a byte count; cut
    /// at [`BODY_SHOWN`].
    fn body(&self, out: &mut String, mark: &str, body: &[u8], sent: &[String]) {
        if body.is_empty() {
            return;
        }
        let shown = &body[..body.len().min(BODY_SHOWN)];
        // A cut may split a character: the text is what decodes before it.
        let text = match std::str::from_utf8(shown) {
            Ok(text) => Some(text),
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&shown[..e.valid_up_to()]).ok()
            }
            Err(_) => None,
        };
        let Some(text) = text.filter(|t| !t.contains('\0')) else {
            let _ = writeln!(out, "{mark}({} bytes of binary data)", body.len());
            return;
        };
        for line in self.rule.text_and(text, sent).lines() {
            let _ = writeln!(out, "{mark}{}", Visible(line));
        }
        if body.len() > BODY_SHOWN {
            let _ = writeln!(out, "{mark}… ({BODY_SHOWN} of {} bytes shown)", body.len());
        }
    }
}

/// A line from the server (or the scenario) as the terminal shows it: control
/// characters but the tab written as escapes (`\x1b`), so that a body cannot move
/// the cursor, clear the screen or recolour what follows, and a byte that is not
/// printable is seen.
struct Visible<'a>(&'a str);

impl std::fmt::Display for Visible<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\t' => f.write_char(c)?,
                c if c.is_control() && u32::from(c) < 0x80 => write!(f, "\\x{:02x}", u32::from(c))?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Where a head ends: just past its blank line.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes, b"\r\n\r\n").map(|i| i + 4)
}

#[cfg(test)]
mod tests {
    use super::Visible;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        let shown = Visible("\u{1b}[2Jtab\there\u{7}\r é \u{85}").to_string();
        assert_eq!(shown, "\\x1b[2Jtab\there\\x07\\x0d é \\u{85}");
    }
}
