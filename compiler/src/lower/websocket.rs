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
        };
        let step = self.request(spec, split, url)?;
        Some(Self::make_ws(step, exchange))
    }
}
