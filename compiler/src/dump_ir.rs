//! `--dump ir` and `--dry-run`: the IR as stable, readable text.
//!
//! In cranelift's style: a header line per scenario, a preamble declaring entities
//! (`o0` origins), then the body (`s0` steps). Source positions go in a trailing
//! `;` comment and can be switched off, which the golden tests do not need but
//! machine-independent comparisons (HAR → TOML → IR) do. Secrets are hidden by the
//! one redaction rule ([`Redact`]): secret headers' fixed text, secret query values.

use std::fmt::{self, Write};

use kaioken_grammar::format_duration;
use kaioken_vm::{Redact, Scheme, UrlPiece};

use crate::{Ir, IrLoc, Part, Template};

/// Print `ir`, with what `rule` calls secret hidden. With `with_locs`, each line
/// that came from the file ends with `; file:line:col`.
pub fn dump_ir(ir: &Ir, with_locs: bool, rule: &Redact) -> String {
    let mut out = String::new();
    // Each line is written straight into `out`, or into `text` first when a position
    // is padded after it: a 10,000-step recording prints tens of thousands of lines.
    let mut text = String::new();
    let mut line =
        |args: std::fmt::Arguments<'_>, loc: Option<&IrLoc>| match loc.filter(|_| with_locs) {
            Some(l) => {
                text.clear();
                let _ = text.write_fmt(args);
                let _ = writeln!(out, "{text:<48} ; {}:{}:{}", l.file, l.line, l.column);
            }
            None => {
                let _ = out.write_fmt(args);
                out.push('\n');
            }
        };
    let mut origins = Vec::new();
    let mut step_number = 0;
    for s in &ir.scenarios {
        let tags = if s.tags.is_empty() {
            String::new()
        } else {
            format!(" tags=[{}]", s.tags.join(", "))
        };
        line(
            format_args!("scenario {:?} weight={}{tags}", s.name, s.weight),
            s.loc.as_ref(),
        );
        for step in &s.steps {
            if !origins.contains(&step.origin) {
                let o = &step.origin;
                let scheme = if o.scheme == Scheme::Https {
                    "https"
                } else {
                    "http"
                };
                line(
                    format_args!("  o{} = origin {scheme}://{}", origins.len(), o.authority),
                    None,
                );
                origins.push(o.clone());
            }
        }
        for step in &s.steps {
            // Steps are numbered across scenarios, as the bytecode numbers them.
            let i = step_number;
            step_number += 1;
            let o = origins.iter().position(|o| *o == step.origin).unwrap_or(0);
            // A WebSocket step: its handshake's URL, then how it exchanges messages.
            let (method, ws) = match &step.kind {
                crate::StepKind::WebSocket(ws) => {
                    let mode = match ws.mode {
                        kaioken_vm::WsMode::Echo => "echo",
                        kaioken_vm::WsMode::FireAndForget => "fire_and_forget",
                    };
                    let interval = match ws.interval_micros {
                        0 => String::new(),
                        us => format!(" interval={us}us"),
                    };
                    ("WS", format!(" mode={mode} expect={}{interval}", ws.expect))
                }
                // A gRPC call is named by its kind: its method is POST, as every call's.
                crate::StepKind::Grpc(c) if c.server_streaming => {
                    ("gRPC server-streaming", String::new())
                }
                crate::StepKind::Grpc(_) => ("gRPC", String::new()),
                _ => (step.method.as_str(), String::new()),
            };
            line(
                format_args!(
                    "  step s{i} {:?} {method} o{o} {}{ws}",
                    step.name,
                    Quoted(&redacted_parts(&step.path, |p| rule.url_pieces(p)))
                ),
                step.loc.as_ref(),
            );
            for (name, value) in &step.headers {
                let hidden;
                let value = if rule.is_secret_header(name.as_bytes()) {
                    hidden = redacted(value);
                    &hidden
                } else {
                    value
                };
                line(
                    format_args!("    header {name:?} = {}", Quoted(value)),
                    None,
                );
            }
            if let Some(body) = &step.body {
                let body = redacted_parts(body, |p| rule.form_pieces(p));
                line(format_args!("    body {}", Quoted(&body)), None);
            }
            if !step.think_time.is_zero() {
                line(format_args!("    think {:?}", step.think_time), None);
            }
            for check in &step.checks {
                line(
                    format_args!("    check {:?} {}", check.name, check.expr),
                    check.loc.as_ref(),
                );
            }
            for x in &step.extracts {
                line(
                    format_args!("    extract {} <- {}", x.var, x.extractor),
                    x.loc.as_ref(),
                );
            }
        }
    }
    for (i, check) in ir.checks.iter().enumerate() {
        line(
            format_args!("check c{i} {:?} {}", check.name, check.expr),
            check.loc.as_ref(),
        );
    }
    for (i, t) in ir.thresholds.iter().enumerate() {
        let scope = if t.scope == crate::ThresholdScope::All {
            String::new()
        } else {
            format!("[{}] ", t.scope)
        };
        line(
            format_args!("threshold t{i} {scope}{} {}", t.metric.key(), t.threshold),
            t.loc.as_ref(),
        );
    }
    let l = &ir.load;
    let opt = |d: Option<String>| d.unwrap_or_else(|| "none".into());
    let common = format!(
        "duration={} max_requests={} warmup={}",
        opt(l.duration.map(format_duration)),
        opt(l.max_requests.map(|m| m.to_string())),
        format_duration(l.warmup),
    );
    let unit = match &l.arrival {
        None => {
            line(
                format_args!(
                    "load closed vus={} {common} rate={} ramp_up={}",
                    l.vus,
                    opt(l.rate.map(|r| format!("{r}/s"))),
                    format_duration(l.ramp_up),
                ),
                None,
            );
            " VUs"
        }
        Some(a) => {
            line(
                format_args!(
                    "load arrival_rate rate={}/s max_vus={} pre_allocated_vus={} {common} latency_correction={} queue_size={} queue_timeout={}",
                    a.rate,
                    l.vus,
                    a.pre_allocated_vus,
                    a.latency_correction,
                    a.queue_size,
                    format_duration(a.queue_timeout),
                ),
                None,
            );
            "/s"
        }
    };
    if !l.stages.is_empty() {
        line(format_args!("  stages from {}{unit}", l.start), None);
    }
    for (i, stage) in l.stages.iter().enumerate() {
        line(
            format_args!(
                "  stage {i} {} -> {}{unit}",
                format_duration(stage.duration),
                stage.target
            ),
            None,
        );
    }
    let s = &ir.settings;
    line(
        format_args!(
            "settings timeout={} http={} insecure={} cacert={}{} max_error_rate={} body_limit={} cookie_jar={} max_redirects={} compressed={} keepalive={} h2_streams={} trace_sample={}",
            format_duration(s.timeout),
            s.http.as_str(),
            s.insecure,
            opt(s
                .cacert
                .as_ref()
                .map(|c| format!("{:?}", c.display().to_string()))),
            client_cert(s),
            s.max_error_rate,
            s.body_limit,
            s.cookie_jar,
            s.max_redirects,
            s.compressed,
            s.keepalive,
            s.h2_streams,
            s.trace_sample,
        ),
        None,
    );
    for def in &ir.scripts.defs {
        let lines = def.source.lines().count().max(1);
        line(
            format_args!(
                "script {:?} at {}:{} ({lines} lines)",
                def.name, def.file, def.line
            ),
            None,
        );
    }
    for t in &ir.data {
        line(
            format_args!(
                "data {:?} {:?} rows={} columns=[{}] strategy={}{}",
                t.name,
                t.path,
                t.rows(),
                t.columns.join(", "),
                t.strategy.name(),
                match t.strategy {
                    kaioken_vm::DataStrategy::Sequential { wrap: false } => " on_exhausted=stop",
                    _ => "",
                }
            ),
            None,
        );
    }
    if !ir.scripts.defs.is_empty() {
        let l = &ir.scripts.limits;
        let env: Vec<&str> = l.env.iter().map(|(n, _)| n.as_str()).collect();
        line(
            format_args!(
                "scripting budget={} memory_mib={} env=[{}] network={}",
                format_duration(l.budget),
                l.memory >> 20,
                env.join(", "),
                l.network
            ),
            None,
        );
    }
    // Only when set, so that most dumps stay as they were.
    if !s.connect_to.is_empty()
        || s.dns_refresh.is_some()
        || s.unix_socket.is_some()
        || s.proxy.is_some()
    {
        let specs: Vec<String> = s.connect_to.iter().map(ToString::to_string).collect();
        line(
            format_args!(
                "network connect_to=[{}] dns_refresh={} unix_socket={} proxy_http={} proxy_https={} no_proxy=[{}]",
                specs.join(", "),
                opt(s.dns_refresh.map(format_duration)),
                opt(s
                    .unix_socket
                    .as_ref()
                    .map(|p| format!("{:?}", p.display().to_string()))),
                opt(s
                    .proxy
                    .as_ref()
                    .and_then(|p| p.http.as_ref())
                    .map(ToString::to_string)),
                opt(s
                    .proxy
                    .as_ref()
                    .and_then(|p| p.https.as_ref())
                    .map(ToString::to_string)),
                s.proxy
                    .as_ref()
                    .map(|p| p.no_proxy.join(", "))
                    .unwrap_or_default(),
            ),
            None,
        );
    }
    out
}

/// A credential's template with its fixed text hidden; the variables that fill it
/// in at run time stay visible.
/// ` cert="…"` and ` key="…"` when a client certificate is set: the files' names,
/// never what they hold. Nothing at all without one, so that the dump, and the
/// report fingerprint hashed from it, of every scenario without a client
/// certificate stays what it was (`kaioken compare` matches baselines by it).
fn client_cert(s: &crate::Settings) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (name, path) in [("cert", &s.cert), ("key", &s.key)] {
        if let Some(path) = path {
            let _ = write!(out, " {name}={:?}", path.display().to_string());
        }
    }
    out
}

fn redacted(t: &Template) -> Template {
    let parts = t
        .parts
        .iter()
        .map(|p| match p {
            Part::Lit(_) => Part::Lit(kaioken_vm::REDACTED.as_bytes().to_vec()),
            other => other.clone(),
        })
        .collect();
    Template { parts }
}

/// A path (with `url_pieces`) or a body (with `form_pieces`) with its secret query
/// values' fixed text hidden.
fn redacted_parts<'t>(
    t: &'t Template,
    redact: impl for<'p> FnOnce(&[UrlPiece<'p>]) -> Vec<std::borrow::Cow<'p, str>>,
) -> std::borrow::Cow<'t, Template> {
    let texts: Vec<String> = t
        .parts
        .iter()
        .map(|p| match p {
            Part::Lit(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            other => other.to_string(),
        })
        .collect();
    let pieces: Vec<UrlPiece<'_>> = t
        .parts
        .iter()
        .zip(&texts)
        .map(|(p, text)| match p {
            Part::Lit(_) => UrlPiece::Text(text),
            _ => UrlPiece::Var(text),
        })
        .collect();
    let shown = redact(&pieces);
    if shown
        .iter()
        .all(|s| matches!(s, std::borrow::Cow::Borrowed(_)))
    {
        return std::borrow::Cow::Borrowed(t);
    }
    let parts = t
        .parts
        .iter()
        .zip(shown)
        .map(|(p, shown)| match (p, shown) {
            (Part::Lit(_), std::borrow::Cow::Owned(text)) => Part::Lit(text.into_bytes()),
            (other, _) => other.clone(),
        })
        .collect();
    std::borrow::Cow::Owned(Template { parts })
}

/// A template as a quoted string with `${BUILTIN}` for run-time parts. Long
/// literals (bodies from files) are cut, with their length. Written straight to
/// the output: a dry run prints tens of thousands of them for a large recording.
struct Quoted<'t>(&'t Template);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Bytes of text shown before a literal is cut.
        const MAX: usize = 120;
        f.write_char('"')?;
        let mut shown = 0;
        let mut total = 0;
        for part in &self.0.parts {
            match part {
                Part::Lit(bytes) => {
                    total += bytes.len();
                    // Characters of escaped text this literal may still show.
                    let mut budget = MAX.saturating_sub(shown);
                    let mut rest = &*String::from_utf8_lossy(bytes);
                    while budget > 0 {
                        // Printable ASCII other than quotes and `\` is shown as is,
                        // a run at a time; any other character escaped.
                        let plain = rest
                            .bytes()
                            .take(budget)
                            .take_while(|b| {
                                matches!(b, b' '..=b'~') && !matches!(b, b'"' | b'\'' | b'\\')
                            })
                            .count();
                        if plain > 0 {
                            f.write_str(&rest[..plain])?;
                            budget -= plain;
                            shown += plain;
                            rest = &rest[plain..];
                        } else if let Some(c) = rest.chars().next() {
                            for e in c.escape_debug().take(budget) {
                                f.write_char(e)?;
                                budget -= 1;
                                shown += e.len_utf8();
                            }
                            rest = &rest[c.len_utf8()..];
                        } else {
                            break;
                        }
                    }
                }
                other => {
                    let mut counted = Counted { f, written: 0 };
                    write!(counted, "{other}")?;
                    shown += counted.written;
                }
            }
        }
        if total > MAX {
            write!(f, "…\" ({total} bytes)")
        } else {
            f.write_char('"')
        }
    }
}

/// A writer that counts the bytes it passes on.
struct Counted<'a, 'f> {
    f: &'a mut fmt::Formatter<'f>,
    written: usize,
}

impl Write for Counted<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.written += s.len();
        self.f.write_str(s)
    }
}
