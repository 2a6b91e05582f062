//! WebSocket steps: a `ws://` or `wss://` target with `[websocket]` and the `--ws-*`
//! flags, and `ws = { … }` steps in `[[scenarios.steps]]`.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): a
//! WebSocket step is lowered as a request (its handshake's URL and headers, its
//! message as the body, so templates and `${…}` work as everywhere) and then made a
//! [`StepKind::WebSocket`] with its mode, the replies it waits for and its
//! connection's message interval.

use std::time::Duration;

use kaioken_vm::{Origin, WsMode, WsStep};

use super::request::RequestSpec;
use super::{Lowerer, MAX_THINK_TIME};
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::{BodySource, Draft, DraftStep, DraftWebSocket};
use crate::located::Located;
use crate::{Step, StepKind, Template};

/// The most replies an echo exchange may wait for.
const MAX_EXPECT: i64 = 10_000;

/// Whether `url` is written with a WebSocket scheme.
pub(super) fn is_ws_url(url: &str) -> bool {
    let lower = url.get(..6).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("ws://") || lower.starts_with("wss://")
}

/// What of a WebSocket exchange is written beside its URL and message.
struct Exchange<'d> {
    mode: Option<&'d Located<String>>,
    expect: Option<&'d Located<i64>>,
    interval: Option<&'d Located<String>>,
}

impl Lowerer<'_> {
    /// The mode, replies and interval of an exchange.
    fn ws_exchange(&mut self, e: &Exchange<'_>) -> WsStep {
        let mode = match e.mode {
            None => WsMode::Echo,
            Some(m) => match m.value.as_str() {
                "echo" => WsMode::Echo,
                "fire_and_forget" => WsMode::FireAndForget,
                other => {
                    let hint = crate::suggest::closest(other, ["echo", "fire_and_forget"])
                        .map_or(String::new(), |c| format!(" (did you mean `{c}`?)"));
                    let kind = CompileErrorKind::InvalidValue {
                        message: format!(
                            "unknown WebSocket mode `{other}`; expected `echo` or \
                             `fire_and_forget`{hint}"
                        ),
                    };
                    self.errors.push(CompileError::at(kind, &m.loc, None));
                    WsMode::Echo
                }
            },
        };
        let expect = match e.expect {
            None => 1,
            Some(x) if mode == WsMode::FireAndForget => {
                self.conflict(
                    &x.loc,
                    "`expect` counts the replies an echo exchange waits for; \
                     `fire_and_forget` waits for none",
                );
                1
            }
            Some(x) if !(1..=MAX_EXPECT).contains(&x.value) => {
                self.out_of_range(x, "expect", "from 1 to 10000 replies");
                1
            }
            Some(x) => x.value as u32,
        };
        let interval = match e.interval {
            None => Duration::ZERO,
            Some(i) => {
                let d = self.duration(&Some(i.clone()), "message_interval", Duration::ZERO, false);
                if d > MAX_THINK_TIME {
                    self.out_of_range(i, "message_interval", "at most 1h");
                }
                d.min(MAX_THINK_TIME)
            }
        };
        WsStep {
            mode,
            expect,
            // At most an hour: well within a u32 of microseconds.
            interval_micros: u32::try_from(interval.as_micros()).unwrap_or(u32::MAX),
        }
    }

    /// Make `step`, lowered as a request, the WebSocket exchange `ws`.
    fn make_ws(mut step: Step, ws: WsStep) -> Step {
        step.method = "GET".into();
        step.kind = StepKind::WebSocket(ws);
        step
    }

    /// The one step of a `ws://` or `wss://` target: the message from `-b` (or
    /// `--body-file`, `[request] body`) or `[websocket] message`.
    pub(super) fn ws_target(
        &mut self,
        d: &Draft,
        url: &Located<String>,
        split: Option<(Origin, Template)>,
    ) -> Option<Step> {
        let w = &d.websocket;
        if let Some(m) = &d.method {
            self.conflict(&m.loc, "a WebSocket message has no method; remove it");
        }
        if let Some(e) = &d.expected_status {
            self.conflict(
                &e.loc,
                "a WebSocket exchange's status is a close code (`ws:1000` when it \
                 completed); `expected_status` applies to HTTP responses",
            );
        }
        let message = match (&d.body, &w.message) {
            (Some(body), Some(message)) if body.loc.is_file => {
                self.conflict(
                    &message.loc,
                    "the message is given twice: `[request] body` and `[websocket] message`",
                );
                None
            }
            // A flag overrides the file.
            (Some(body), _) => Some(body.clone()),
            (None, Some(message)) => Some(Located {
                value: BodySource::Text(message.value.clone()),
                loc: message.loc.clone(),
            }),
            (None, None) => {
                self.conflict(
                    &url.loc,
                    "a WebSocket target needs a message to send: `-b`, or `message` in \
                     `[websocket]`",
                );
                None
            }
        };
        let ws = self.ws_exchange(&Exchange {
            mode: w.mode.as_ref(),
            expect: w.expect.as_ref(),
            interval: w.interval.as_ref(),
        });
        let spec = RequestSpec {
            name: "request".into(),
            method: None,
            headers: d.headers.iter().collect(),
            body: message.as_ref(),
            checks: &d.request_checks,
            think_time: d.think_time.as_ref(),
            expected_status: None,
            http: false,
        };
        let step = self.request(spec, split, url)?;
        message.map(|_| Self::make_ws(step, ws))
    }

    /// `[websocket]` and the `--ws-*` flags where no step is a WebSocket one.
    pub(super) fn ws_settings_unused(&mut self, w: &DraftWebSocket, url: Option<&str>) {
        let target = url.map_or(String::new(), |u| format!("; the target is `{u}`"));
        let message = format!(
            "this applies to WebSocket exchanges: a `ws://` or `wss://` target, or \
             `ws` steps{target}"
        );
        if let Some(section) = &w.section {
            self.conflict(section, &message);
        } else if let Some(loc) = [w.interval.as_ref(), w.mode.as_ref()]
            .into_iter()
            .flatten()
            .map(|v| &v.loc)
            .next()
        {
            self.conflict(loc, &message);
        }
    }

    /// `[websocket]` with `[[scenarios]]`: its mode and interval are the `ws` steps'
    /// defaults; the message and replies are each step's own.
    pub(super) fn ws_scenario_settings(&mut self, w: &DraftWebSocket) {
        if let Some(m) = &w.message {
            self.conflict(
                &m.loc,
                "with `[[scenarios]]`, each `ws` step sets its own message (`send`)",
            );
        }
        if let Some(x) = &w.expect {
            self.conflict(
                &x.loc,
                "with `[[scenarios]]`, each `ws` step sets its own `expect`",
            );
        }
    }

    /// A `[[scenarios.steps]]` entry with `ws = { … }`. `url` is relative to `base`
    /// (an `http` or `ws` target; `https` and `wss` alike), or a `ws://` or
    /// `wss://` URL.
    pub(super) fn ws_step(
        &mut self,
        d: &Draft,
        st: &DraftStep,
        name: String,
        base: Option<&Origin>,
    ) -> Option<Step> {
        let ws = st.ws.as_ref()?;
        for (loc, what) in [
            (
                st.url.as_ref().map(|u| &u.loc),
                "`url` (write it in `ws = { url = … }`)",
            ),
            (st.method.as_ref().map(|m| &m.loc), "`method`"),
            (
                st.body.as_ref().map(|b| &b.loc),
                "`body` (write the message as `send`)",
            ),
            (
                st.expected_status.as_ref().map(|e| &e.loc),
                "`expected_status` (its status is a close code)",
            ),
        ] {
            if let Some(loc) = loc {
                self.conflict(loc, &format!("a `ws` step takes no {what}"));
            }
        }
        let Some(url) = &ws.url else {
            self.conflict(&ws.loc, "a `ws` step needs a `url`");
            return None;
        };
        let Some(send) = &ws.send else {
            self.conflict(&ws.loc, "a `ws` step needs a message to `send`");
            return None;
        };
        let relative = url.value.starts_with('/') || url.value.starts_with("${");
        if !relative && !is_ws_url(&url.value) {
            let kind = CompileErrorKind::BadUrl {
                reason: "a `ws` step's URL is `ws://…` or `wss://…`, or a path relative to \
                         `[target] url`"
                    .into(),
            };
            self.errors.push(CompileError::at(kind, &url.loc, None));
            return None;
        }
        let split = self.step_url(url, base);
        let message = Located {
            value: BodySource::Text(send.value.clone()),
            loc: send.loc.clone(),
        };
        let exchange = self.ws_exchange(&Exchange {
            mode: ws.mode.as_ref().or(d.websocket.mode.as_ref()),
            expect: ws.expect.as_ref(),
            interval: ws.interval.as_ref().or(d.websocket.interval.as_ref()),
        });
        let spec = RequestSpec {
            name,
            method: None,
            headers: super::request::step_headers(&d.headers, &st.headers),
            body: Some(&message),
            checks: &st.checks,
            think_time: st.think_time.as_ref().or(d.think_time.as_ref()),
            expected_status: None,
            http: false,
        };
        let step = self.request(spec, split, url)?;
        Some(Self::make_ws(step, exchange))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kaioken_vm::{Scheme, WsMode, WsStep};

    use crate::lower::tests::{errors, ok, text};
    use crate::{Flags, Input, StepKind, lower};

    fn ws(kind: &StepKind) -> WsStep {
        match kind {
            StepKind::WebSocket(ws) => *ws,
            other => panic!("not a WebSocket step: {other:?}"),
        }
    }

    /// A `ws://` target on the command line: `-b` is the message, the flags set the
    /// mode and interval, `-H` the handshake's headers.
    #[test]
    fn a_ws_target_from_flags() {
        let ir = lower(&Input {
            flags: Flags {
                url: Some("ws://127.0.0.1:8765/chat".into()),
                body: Some("hello ${REQUEST_ID}".into()),
                headers: vec!["Sec-WebSocket-Protocol: chat".into()],
                ws_message_interval: Some("100ms".into()),
                ws_fire_and_forget: true,
                ..Flags::default()
            },
            ..Input::default()
        })
        .unwrap();
        let step = &ir.scenarios[0].steps[0];
        assert_eq!(
            ws(&step.kind),
            WsStep {
                mode: WsMode::FireAndForget,
                expect: 1,
                interval_micros: 100_000,
            }
        );
        assert_eq!(step.method, "GET");
        assert_eq!(
            (step.origin.scheme, step.origin.authority.as_str()),
            (Scheme::Http, "127.0.0.1:8765")
        );
        assert_eq!(text(&step.path), "/chat");
        assert_eq!(text(step.body.as_ref().unwrap()), "hello ${REQUEST_ID}");
        assert_eq!(step.headers[0].0, "sec-websocket-protocol");
    }

    /// `keepalive = false` leaves WebSocket handshakes alone: their `connection` is
    /// the upgrade's (`connection: close` got them refused), while an HTTP step
    /// beside them still asks the server to close.
    #[test]
    fn no_keepalive_keeps_the_upgrade() {
        let ir = lower(&Input {
            flags: Flags {
                url: Some("ws://127.0.0.1:8765/chat".into()),
                body: Some("hello".into()),
                no_keepalive: true,
                ..Flags::default()
            },
            ..Input::default()
        })
        .unwrap();
        let step = &ir.scenarios[0].steps[0];
        assert!(
            step.headers.iter().all(|(name, _)| name != "connection"),
            "{:?}",
            step.headers
        );
        let ir = ok(r#"
[target]
url = "http://127.0.0.1:8080"
keepalive = false

[[scenarios]]
[[scenarios.steps]]
url = "/"

[[scenarios.steps]]
ws = { url = "ws://127.0.0.1:8765/chat", send = "hi" }
"#);
        let connection = |i: usize| {
            let steps = &ir.scenarios[0].steps;
            steps[i]
                .headers
                .iter()
                .find(|(name, _)| name == "connection")
                .map(|(_, value)| text(value))
        };
        assert_eq!(connection(0).as_deref(), Some("close"));
        assert_eq!(connection(1), None);
    }

    /// `[websocket]` with a `wss://` target; its default port is 443.
    #[test]
    fn a_websocket_section() {
        let ir = ok(r#"
[target]
url = "wss://example.test/socket"

[websocket]
message = '{"op": "ping"}'
mode = "echo"
message_interval = "250ms"
expect = 2
"#);
        let step = &ir.scenarios[0].steps[0];
        assert_eq!(
            ws(&step.kind),
            WsStep {
                mode: WsMode::Echo,
                expect: 2,
                interval_micros: 250_000,
            }
        );
        assert_eq!((step.origin.scheme, step.origin.port), (Scheme::Https, 443));
        assert_eq!(text(step.body.as_ref().unwrap()), r#"{"op": "ping"}"#);
    }

    /// `ws` steps resolve against the target (`http` → `ws`), take the
    /// `[websocket]` defaults, and chain with HTTP steps.
    #[test]
    fn ws_steps_in_scenarios() {
        let ir = ok(r#"
[target]
url = "http://127.0.0.1:8080"

[websocket]
message_interval = "50ms"

[[scenarios]]
[[scenarios.steps]]
url = "/login"
extract = { token = "json:$.token" }

[[scenarios.steps]]
name = "say"
ws = { url = "/socket?t=${token}", send = "hi ${token}", expect = 3 }
checks = ['body contains "hi"']
extract = { echoed = "body" }

[[scenarios.steps]]
ws = { url = "ws://127.0.0.1:9000/other", send = "x", mode = "fire_and_forget", message_interval = "0s" }
"#);
        let steps = &ir.scenarios[0].steps;
        assert_eq!(steps[0].kind, StepKind::Http);
        let say = &steps[1];
        assert_eq!(say.name, "say");
        assert_eq!(
            ws(&say.kind),
            WsStep {
                mode: WsMode::Echo,
                expect: 3,
                interval_micros: 50_000,
            }
        );
        assert_eq!(say.origin.authority, "127.0.0.1:8080");
        assert_eq!(text(&say.path), "/socket?t=${token}");
        assert_eq!(say.checks.len(), 1);
        assert_eq!(say.extracts[0].var, "echoed");
        let other = ws(&steps[2].kind);
        assert_eq!(
            (other.mode, other.interval_micros),
            (WsMode::FireAndForget, 0)
        );
        assert_eq!(steps[2].origin.port, 9000);
        assert_eq!(steps[2].think_time, Duration::ZERO);
    }

    #[test]
    fn bad_websocket_settings_are_located() {
        assert_eq!(
            errors(
                r#"
[target]
url = "ws://h/"

[request]
method = "POST"

[websocket]
message = "m"
mode = "fire_and_forgot"
expect = 0
message_interval = "2h"
"#
            ),
            [
                "5:11 [POST] a WebSocket message has no method; remove it",
                "9:9 [fire_and_forgot] invalid value: unknown WebSocket mode `fire_and_forgot`; expected `echo` or `fire_and_forget` (did you mean `fire_and_forget`?)",
                "10:10 [0] `expect` is out of range; expected from 1 to 10000 replies",
                "11:21 [2h] `message_interval` is out of range; expected at most 1h",
            ]
        );
        assert_eq!(
            errors("[target]\nurl = \"ws://h/\"\n"),
            [
                "2:8 [ws://h/] a WebSocket target needs a message to send: `-b`, or `message` in `[websocket]`"
            ]
        );
        assert_eq!(
            errors(
                "[target]\nurl = \"ws://h/\"\n[websocket]\nmessage = \"m\"\nmode = \"fire_and_forget\"\nexpect = 2\n"
            ),
            [
                "6:10 [2] `expect` counts the replies an echo exchange waits for; `fire_and_forget` waits for none"
            ]
        );
    }

    #[test]
    fn a_websocket_section_needs_a_websocket_target() {
        let e = errors("[target]\nurl = \"http://h/\"\n[websocket]\nmessage = \"m\"\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("3:1 [[websocket]")
                && e[0].ends_with(
                    "this applies to WebSocket exchanges: a `ws://` or `wss://` target, or \
                     `ws` steps; the target is `http://h/`"
                ),
            "{e:?}"
        );
        let flag = lower(&Input {
            flags: Flags {
                url: Some("http://h/".into()),
                ws_message_interval: Some("1s".into()),
                ..Flags::default()
            },
            ..Input::default()
        })
        .unwrap_err();
        assert_eq!(
            flag.errors[0].to_string(),
            "this applies to WebSocket exchanges: a `ws://` or `wss://` target, or `ws` \
             steps; the target is `http://h/`"
        );
    }

    #[test]
    fn bad_ws_steps_are_located() {
        assert_eq!(
            errors(
                r#"
[target]
url = "http://h"

[websocket]
message = "m"

[[scenarios]]
[[scenarios.steps]]
url = "/x"
method = "POST"
body = "b"
ws = { url = "/s", send = "x" }

[[scenarios.steps]]
ws = { url = "http://h/s", send = "x" }

[[scenarios.steps]]
ws = { send = "x" }

[[scenarios.steps]]
url = "ws://h/s"
"#
            ),
            [
                "5:12 [m] with `[[scenarios]]`, each `ws` step sets its own message (`send`)",
                "9:8 [/x] a `ws` step takes no `url` (write it in `ws = { url = … }`)",
                "10:11 [POST] a `ws` step takes no `method`",
                "11:9 [b] a `ws` step takes no `body` (write the message as `send`)",
                "15:15 [http://h/s] invalid URL: a `ws` step's URL is `ws://…` or `wss://…`, or a path relative to `[target] url`",
                "18:6 [{ send = \"x\" }] a `ws` step needs a `url`",
                "21:8 [ws://h/s] a `ws://` URL makes a WebSocket step: write it as `ws = { url = \"…\", send = \"…\" }`",
            ]
        );
    }

    /// The interval compiles to a `pace` right before the step's `send`; the
    /// program validates and the step's protocol is WebSocket.
    #[test]
    fn an_interval_is_a_pace_before_the_send() {
        let ir = ok(
            "[target]\nurl = \"ws://h/\"\n[websocket]\nmessage = \"m\"\nmessage_interval = \"20ms\"\n",
        );
        let program = crate::compile(&ir).unwrap();
        let send = program
            .code
            .iter()
            .position(|op| matches!(op, kaioken_vm::Op::Send { .. }))
            .unwrap();
        assert_eq!(
            program.code[send - 1],
            kaioken_vm::Op::Pace { micros: 20_000 }
        );
        assert_eq!(program.code[send - 1].mnemonic(), "pace");
        assert_eq!(program.steps[0].protocol, kaioken_vm::Protocol::WebSocket);
        assert!(program.has_think_time());
    }
}
