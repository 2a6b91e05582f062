//! The HAR front end: a recording made by a browser's developer tools or a proxy
//! (Chrome, Firefox, Charles, Insomnia, mitmproxy) into a located `Draft`, or into
//! scenario TOML for `kaioken import har`.
//!
//! ```text
//!  recording.har ─parse─► entries ─sort by start, filter─► Recording ─correlate─► Recording
//!   (JSON; each value's       (assets, other hosts,        (steps: method,      (extractors,
//!    byte range kept)          left out; WebSockets         URL, headers, body)   `${var}`s)
//!                              → their handshakes)
//!                                                                     │
//!                                  ┌──────────────────────────────────┴───────┐
//!                         to_draft ▼ (`kaioken run x.har`)         to_toml ▼ (`kaioken import har`)
//!                 Draft ─► lower ─► Ir                          scenario.toml ─► front::toml ─► Draft
//! ```
//!
//! Both outputs come from the same `Recording`, so a recording run directly and
//! the scenario imported from it lower to the same IR (a test checks this for every
//! fixture). What a recording holds that must not be replayed as is, is dropped here:
//! HTTP/2 and HTTP/3 pseudo-headers, hop-by-hop headers, `host` (from the URL),
//! `content-length` (computed from the body) and recorded cookies (a per-VU cookie
//! jar replaces them). Values that a response produced and a later request sends
//! back become extractors and `${var}`s, or `${URLENCODE(var)}`s where the request
//! sent them percent-encoded (`correlate`).
//!
//! Byte ranges come from `serde_json`'s `RawValue`: each borrowed raw value is a slice
//! of the file, so its offset is where it sits. An entry's own range, which every
//! step is located by, comes from `layout.rs` instead (a raw value is read twice:
//! once as raw text, once typed, and entries are most of the file).
//!
//! One job per file: this one parses the file, orders the entries and works on the
//! steps as a whole; `layout.rs` places `log`, `entries` and each entry in the file;
//! `entry.rs` keeps or leaves out one entry, with `headers.rs` and `body.rs` for what
//! its request sends; `correlate.rs` finds the values to extract;
//! `to_toml.rs` writes the scenario; `recording.rs` is the model between them.
//!
//! Work that splits without changing the result uses a second core: the layout
//! scan runs beside the typed reading, a recording of 512 entries or more has its
//! entries read in two halves (notes merged, the first error in replay order told),
//! and each response's candidates are found ahead of correlation's judging (and
//! freed by the helper once judged). While both threads run, neither frees what the
//! other allocated, but for a list per 64 responses and a channel's blocks: with an
//! allocator of locked per-thread arenas, as glibc's malloc is, they waited on each
//! other's locks thousands of times (mimalloc, the Linux binary's allocator, takes
//! such frees without a lock; the rule holds for any allocator).

mod body;
mod correlate;
mod entry;
mod headers;
mod layout;
pub(crate) mod recording;
mod timestamp;
pub(crate) mod to_toml;

use std::borrow::Cow;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, Error as _, IgnoredAny, Visitor};
use serde_json::value::RawValue;

use crate::compile_error::{CompileError, CompileErrorKind, CompileErrors};
use crate::draft::{BodySource, Draft, DraftHeader, DraftScenario, DraftStep};
use crate::located::{Loc, Located, Src, shorten};
use layout::Layout;
use recording::{RecordedResponse, Recording};

/// How a recording becomes a scenario: which entries are kept, and whether pauses
/// are replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HarOptions {
    /// Keep images, fonts, style sheets, scripts and media (left out by default:
    /// a CDN serves them, and a browser caches them).
    pub include_assets: bool,
    /// Keep only the entries for these hosts (`example.com` also keeps
    /// `api.example.com`; `host:port` matches that port only). Empty keeps all.
    pub include_hosts: Vec<String>,
    /// Replay the pause between one response and the next request as `think_time`.
    pub think_time: bool,
}

/// A scenario imported from a recording.
#[derive(Debug, Clone)]
pub struct HarImport {
    /// The scenario as TOML, with a comment header saying where it came from.
    pub toml: String,
    /// How many steps it has.
    pub steps: usize,
    /// How many entries the recording had.
    pub entries: usize,
    /// The variables that correlation extracts.
    pub variables: Vec<String>,
}

/// Whether a scenario file is a HAR recording, by its extension.
pub fn is_har(path: &str) -> bool {
    std::path::Path::new(path)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("har"))
}

/// Import a recording as scenario TOML (`kaioken import har`).
///
/// # Example
///
/// ```
/// use kaioken_compiler::{HarOptions, import_har};
///
/// let har = r#"{"log": {"entries": [{
///     "startedDateTime": "2024-01-01T00:00:00Z", "time": 12,
///     "request": {"method": "GET", "url": "http://127.0.0.1:8080/a?b=1",
///                 "headers": [{"name": "Accept", "value": "text/html"}]},
///     "response": {"status": 200, "headers": [], "content": {"mimeType": "text/html"}}
/// }]}}"#;
/// let imported = import_har("rec.har", har, &HarOptions::default())?;
/// assert!(imported.toml.contains(r#"url = "/a?b=1""#));
/// assert_eq!(imported.steps, 1);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The file is not JSON (located at the line and column), not a HAR recording, or
/// has no request left to replay once filtered.
pub fn import(name: &str, text: &str, options: &HarOptions) -> Result<HarImport, CompileErrors> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let src = Src::new(name, text);
    let rec = record(&src, options)?;
    Ok(HarImport {
        toml: to_toml::write(&rec),
        steps: rec.steps.len(),
        entries: rec.entries,
        variables: rec.correlations.iter().map(|c| c.var.clone()).collect(),
    })
}

/// Read a recording into `draft`, as one `[[scenarios]]` entry.
pub(crate) fn read(src: &Src, options: &HarOptions, draft: &mut Draft) -> Result<(), CompileError> {
    let rec = record(src, options)?;
    to_draft(rec, src, draft);
    Ok(())
}

/// A JSON value and the bytes of the file it was read from.
struct At<'a, T> {
    value: T,
    raw: &'a str,
}

impl<'de: 'a, 'a, T: Deserialize<'a>> Deserialize<'de> for At<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &'a RawValue = Deserialize::deserialize(d)?;
        let raw = raw.get();
        // The inner error's position is relative to `raw`; the outer parser puts its
        // own (the end of this value) on the message instead.
        let value = serde_json::from_str(raw).map_err(|e| {
            D::Error::custom(crate::compile_error::without_position(&e.to_string()))
        })?;
        Ok(At { value, raw })
    }
}

impl<T> At<'_, T> {
    /// Where this value is in `text` (the file, which `raw` is a slice of).
    fn span(&self, text: &str) -> Range<usize> {
        let start = (self.raw.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        start..start + self.raw.len()
    }
}

#[derive(Deserialize)]
struct HarFile<'a> {
    #[serde(borrow)]
    log: Option<Log<'a>>,
}

#[derive(Deserialize)]
struct Log<'a> {
    #[serde(borrow)]
    entries: Option<Vec<Entry<'a>>>,
}

/// A JSON string, borrowed from the file when it has no escapes (most recorded
/// names and values are), copied when it has. Read as a `String` would be, with the
/// same errors; a recording holds tens of thousands of them.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        d.deserialize_str(Visit).map(Str)
    }
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(rename = "startedDateTime", borrow)]
    started: Option<Str<'a>>,
    time: Option<f64>,
    #[serde(borrow)]
    request: Option<Request<'a>>,
    #[serde(borrow)]
    response: Option<Response<'a>>,
    #[serde(rename = "_resourceType", borrow)]
    resource_type: Option<Str<'a>>,
    #[serde(rename = "_webSocketMessages")]
    websocket_messages: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    method: Option<At<'a, String>>,
    #[serde(borrow)]
    url: Option<At<'a, String>>,
    #[serde(borrow)]
    headers: Option<Vec<At<'a, NameValue<'a>>>>,
    cookies: Option<Vec<IgnoredAny>>,
    #[serde(rename = "postData", borrow)]
    post_data: Option<At<'a, PostData<'a>>>,
}

#[derive(Deserialize)]
struct NameValue<'a> {
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow)]
    value: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct PostData<'a> {
    #[serde(rename = "mimeType", borrow)]
    mime_type: Option<Str<'a>>,
    #[serde(borrow)]
    text: Option<Str<'a>>,
    params: Option<Vec<Param>>,
}

#[derive(Deserialize)]
struct Param {
    name: String,
    value: Option<String>,
    #[serde(rename = "fileName")]
    file_name: Option<String>,
}

#[derive(Deserialize)]
struct Response<'a> {
    status: Option<f64>,
    #[serde(borrow)]
    headers: Option<Vec<NameValue<'a>>>,
    cookies: Option<Vec<IgnoredAny>>,
    #[serde(borrow)]
    content: Option<Content<'a>>,
}

#[derive(Deserialize)]
struct Content<'a> {
    #[serde(rename = "mimeType", borrow)]
    mime_type: Option<Str<'a>>,
    #[serde(borrow)]
    text: Option<Str<'a>>,
    #[serde(borrow)]
    encoding: Option<Str<'a>>,
}

/// Parse the file and make it plain: sorted, filtered, correlated. Each entry is
/// read by [`entry::read`] (with [`headers`] and [`body`]); what follows works on
/// the steps as a whole: pauses, the base origin, names, correlation.
fn record(src: &Src, options: &HarOptions) -> Result<Recording, CompileError> {
    record_split(src, options, PARALLEL_ENTRIES)
}

/// [`record`], reading the entries in two halves on two threads from `split_from`
/// entries.
fn record_split(
    src: &Src,
    options: &HarOptions,
    split_from: usize,
) -> Result<Recording, CompileError> {
    // A missing comma near the end must be reported as such, not as whatever type
    // mismatch the typed reading trips on before it: when the typed reading fails,
    // the syntax of the whole file is checked first (a file that reads needs no
    // second pass; a 10,000-entry recording is megabytes).
    //
    // Each entry's place in the file is found by a scan of its own, on a second
    // thread while the typed reading goes on (a quarter of the reading's work).
    let (file, layout) = std::thread::scope(|s| {
        let layout = s.spawn(|| Layout::of(&src.text));
        let file = serde_json::from_str::<HarFile<'_>>(&src.text);
        (file, layout.join())
    });
    let file = file.map_err(|e| {
        let syntax = serde_json::from_str::<IgnoredAny>(&src.text).err();
        json_error(src, syntax.as_ref().unwrap_or(&e))
    })?;
    // The reading's error is told before anything of the scan's, even a panic.
    let layout = layout.unwrap_or_else(|p| std::panic::resume_unwind(p));
    let Some(log) = file.log else {
        return Err(not_har(src, "no `log` object at the top level", None));
    };
    let Some(entries) = log.entries else {
        let start = layout.log;
        return Err(not_har(
            src,
            "`log` has no `entries` array",
            start.map(|s| s..s + 1),
        ));
    };
    // Each entry's place; the typed reading has accepted the file, so the layout has
    // one for each (a layout that disagrees places them at the file's start).
    let spans = if layout.spans.len() == entries.len() {
        layout.spans
    } else {
        vec![0..0; entries.len()]
    };
    let starts: Vec<Option<i64>> = entries
        .iter()
        .map(|e| e.started.as_deref().and_then(timestamp::parse_micros))
        .collect();
    let total = entries.len();
    let mut notes = Notes::default();
    // Recorders write entries as requests finish, or grouped by page; replay them in
    // the order they started. Without a readable start for each, keep the file's.
    // The order is sorted, not the entries (hundreds of bytes each).
    let mut order: Vec<usize> = (0..total).collect();
    if starts.iter().all(Option::is_some) {
        order.sort_by_key(|&i| starts[i]);
    } else if total > 0 {
        notes.order = true;
    }
    let entry = |&i: &usize| (starts[i], &entries[i], spans[i].clone());

    // Each entry is read by itself: a long recording's second half is read on a
    // second thread. The first error in the order of replay is the one told. The
    // entries are freed by this thread once both halves are read: freeing them on
    // the helper while this thread allocates would contend for its malloc arena
    // (with glibc's malloc; see the module docs).
    let parts = if total >= split_from {
        let (first, second) = order.split_at(total / 2);
        std::thread::scope(|s| {
            let second = s.spawn(|| read_entries(second.iter().map(entry), src, options));
            let first = read_entries(first.iter().map(entry), src, options);
            match (first, second.join()) {
                // The first half's error comes before anything of the second's in
                // replay order, even a panic.
                (Err(e), _) => vec![Err(e)],
                (first, Ok(second)) => vec![first, second],
                (Ok(_), Err(panic)) => std::panic::resume_unwind(panic),
            }
        })
    } else {
        vec![read_entries(order.iter().map(entry), src, options)]
    };
    drop(entries);
    let mut steps = Vec::new();
    let mut sent = Vec::new();
    let mut timing = Vec::new();
    let mut cookie_jar = false;
    for part in parts {
        let (kept, part_notes) = part?;
        notes.merge(part_notes);
        for (started, kept) in kept {
            // One kept request with a session turns the per-VU cookie jar on.
            cookie_jar |= kept.cookies;
            steps.push(kept.step);
            sent.push(kept.sent);
            timing.push((started, kept.time));
        }
    }

    if steps.is_empty() {
        let mut help = String::new();
        help.push_str(
            "`--include-assets` keeps images, fonts, scripts and style sheets; `--include-host` chooses which hosts to keep",
        );
        let kind = CompileErrorKind::NoRequests {
            message: format!(
                "{}, {}",
                plural(total, "entry", "entries"),
                notes.left_out().unwrap_or("none of them a request".into())
            ),
            help,
        };
        let start = layout.entries;
        return Err(CompileError::in_source(kind, src, start.map(|s| s..s + 1)));
    }

    if options.think_time {
        for i in 0..steps.len() - 1 {
            if let ((Some(start), time), (Some(next), _)) = (timing[i], timing[i + 1]) {
                // Saturating: recorded times can be anything, and entries without a
                // readable start leave the rest unsorted.
                let took_us = (time * 1000.0).round().clamp(0.0, i64::MAX as f64) as i64;
                let gap_us = next.saturating_sub(start).saturating_sub(took_us);
                let ms = gap_us.saturating_add(500) / 1000;
                if ms >= 1 {
                    // A user away for longer than the longest think time gets the
                    // longest one.
                    let pause = Duration::from_millis(ms as u64).min(crate::lower::MAX_THINK_TIME);
                    steps[i].think_time = Some(pause);
                }
            }
        }
    }

    // The origin most steps use is the base; ties go to the first.
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for s in &steps {
        match counts.iter_mut().find(|c| c.0 == s.origin) {
            Some(c) => c.1 += 1,
            None => counts.push((&s.origin, 1)),
        }
    }
    let base = counts
        .iter()
        .fold(None::<(&str, usize)>, |best, &c| match best {
            Some(b) if b.1 >= c.1 => Some(b),
            _ => Some(c),
        })
        .map(|(o, _)| o.to_owned());

    // `GET /path`, or `GET host/path` off the base origin.
    for s in &mut steps {
        let path = s.path.render();
        let path = path.split('?').next().unwrap_or("/");
        let host = match base.as_deref() {
            Some(b) if b == s.origin => "",
            _ => s.origin.split_once("://").map_or("", |(_, h)| h),
        };
        s.name = shorten(&format!("{} {host}{path}", s.method), 60);
    }

    let correlations = correlate::correlate(&mut steps, &sent, base.as_deref());
    let name = std::path::Path::new(&*src.name).file_stem().map_or_else(
        || "recording".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    Ok(Recording {
        file: src.name.to_string(),
        name,
        base,
        cookie_jar,
        steps,
        entries: total,
        notes: notes.sentences(options),
        correlations,
    })
}

/// From how many entries a recording's entries are read on two threads (fewer are
/// read before a thread would start).
const PARALLEL_ENTRIES: usize = 512;

/// A kept entry, with its start.
type KeptEntry = (Option<i64>, entry::Kept);

/// Read `entries` in order ([`entry::read`]): those kept, with their starts, and the
/// notes on those left out; or the first error.
fn read_entries<'e, 'a: 'e>(
    entries: impl ExactSizeIterator<Item = (Option<i64>, &'e Entry<'a>, Range<usize>)>,
    src: &Src,
    options: &HarOptions,
) -> Result<(Vec<KeptEntry>, Notes), CompileError> {
    let mut kept = Vec::with_capacity(entries.len());
    let mut notes = Notes::default();
    let mut urls = entry::Urls::default();
    for (started, entry, span) in entries {
        if let Some(k) = entry::read(entry, span, src, options, &mut urls, &mut notes)? {
            kept.push((started, k));
        }
    }
    Ok((kept, notes))
}

/// Not a HAR recording: `message` says what is missing, at `span` (or the file's
/// first character).
fn not_har(src: &Src, message: &str, span: Option<Range<usize>>) -> CompileError {
    let kind = CompileErrorKind::NotHar {
        message: message.to_owned(),
    };
    CompileError::in_source(kind, src, span.or(Some(0..src.text.len().min(1))))
}

/// The recorded response, with a text body when there is one.
fn recorded_response(response: Option<&Response<'_>>, status: u16) -> RecordedResponse {
    let Some(r) = response else {
        return RecordedResponse::default();
    };
    let content = r.content.as_ref();
    let body = content.and_then(|c| {
        let text = c.text.as_deref()?;
        if c.encoding
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("base64"))
        {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()?;
            String::from_utf8(bytes).ok()
        } else {
            Some(text.to_owned())
        }
    });
    RecordedResponse {
        status,
        headers: r
            .headers
            .iter()
            .flatten()
            .map(|h| {
                (
                    String::from(&*h.name),
                    h.value.as_deref().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body,
        mime_type: content
            .and_then(|c| c.mime_type.as_deref())
            .unwrap_or_default()
            .to_ascii_lowercase(),
    }
}

/// What was left out, counted for the comment header and the "nothing left" error.
#[derive(Debug, Default)]
struct Notes {
    assets: usize,
    websockets: Vec<String>,
    other_schemes: Vec<String>,
    other_hosts: std::collections::BTreeSet<String>,
    unparsable: Vec<String>,
    bad_methods: Vec<String>,
    bad_headers: Vec<String>,
    multipart: usize,
    credentials: bool,
    order: bool,
}

impl Notes {
    /// Add the notes on later entries.
    fn merge(&mut self, later: Notes) {
        let Notes {
            assets,
            websockets,
            other_schemes,
            other_hosts,
            unparsable,
            bad_methods,
            bad_headers,
            multipart,
            credentials,
            order,
        } = later;
        self.assets += assets;
        self.websockets.extend(websockets);
        self.other_schemes.extend(other_schemes);
        self.other_hosts.extend(other_hosts);
        self.unparsable.extend(unparsable);
        self.bad_methods.extend(bad_methods);
        self.bad_headers.extend(bad_headers);
        self.multipart += multipart;
        self.credentials |= credentials;
        self.order |= order;
    }

    /// The entries left out, as one phrase: `left out: 9 static assets, …`.
    fn left_out(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.assets > 0 {
            parts.push(format!(
                "{} (`--include-assets` keeps them)",
                plural(self.assets, "static asset", "static assets")
            ));
        }
        if !self.other_hosts.is_empty() {
            let hosts: Vec<_> = self
                .other_hosts
                .iter()
                .take(3)
                .map(|h| format!("`{h}`"))
                .collect();
            let more = if self.other_hosts.len() > 3 {
                ", …"
            } else {
                ""
            };
            parts.push(format!(
                "requests to other hosts ({}{more})",
                hosts.join(", ")
            ));
        }
        if !self.other_schemes.is_empty() {
            let mut schemes = self.other_schemes.clone();
            schemes.sort();
            schemes.dedup();
            parts.push(format!(
                "{} (`{}:`)",
                plural(self.other_schemes.len(), "non-HTTP URL", "non-HTTP URLs"),
                schemes.join(":`, `")
            ));
        }
        if !self.unparsable.is_empty() {
            parts.push(plural(
                self.unparsable.len(),
                "unreadable URL",
                "unreadable URLs",
            ));
        }
        if !self.bad_methods.is_empty() {
            parts.push(plural(
                self.bad_methods.len(),
                "invalid method",
                "invalid methods",
            ));
        }
        (!parts.is_empty()).then(|| format!("left out: {}", parts.join(", ")))
    }

    /// Sentences for the comment header.
    fn sentences(&self, options: &HarOptions) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.left_out());
        if !options.include_hosts.is_empty() {
            out.push(format!(
                "Only hosts {} (`--include-host`).",
                options.include_hosts.join(", ")
            ));
        }
        if self.multipart > 0 {
            out.push(if self.multipart == 1 {
                "1 multipart body recorded without its text was left out; add it with `body_file`."
                    .to_owned()
            } else {
                format!(
                    "{} multipart bodies recorded without their text were left out; add them with `body_file`.",
                    self.multipart
                )
            });
        }
        if !self.bad_headers.is_empty() {
            let mut names = self.bad_headers.clone();
            names.sort();
            names.dedup();
            out.push(format!(
                "Headers with invalid names or control characters were dropped: {}.",
                names.join(", ")
            ));
        }
        if !self.websockets.is_empty() {
            let n = self.websockets.len();
            out.push(format!(
                "{} replayed as {} opening handshake (`ws:` as `http:`, `wss:` as `https:`, HTTP/1.1 only, checked for a 101); {} messages are not sent.",
                plural(n, "WebSocket connection is", "WebSocket connections are"),
                if n == 1 { "its" } else { "their" },
                if n == 1 { "its" } else { "their" },
            ));
        }
        if self.credentials {
            out.push(
                "Credentials in URLs were removed; send an `authorization` header instead.".into(),
            );
        }
        if self.order {
            out.push(
                "Some entries have no readable `startedDateTime`: steps keep the file's order."
                    .into(),
            );
        }
        out
    }
}

/// `1 entry`, `3 entries`.
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Whether `host` (and `port`) matches an `--include-host` pattern.
fn host_matches(pattern: &str, host: &str, port: u16) -> bool {
    let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    let (pattern_host, pattern_port) = match pattern.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
            (h.to_owned(), p.parse::<u16>().ok())
        }
        _ => (pattern.clone(), None),
    };
    let pattern_host = pattern_host.trim_start_matches('[').trim_end_matches(']');
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host_ok = host == pattern_host || host.ends_with(&format!(".{pattern_host}"));
    host_ok && pattern_port.is_none_or(|p| p == port)
}

/// Static assets: `GET`s and `HEAD`s of images, fonts, style sheets, scripts and
/// media. Decided by Chrome's resource type, and by the response's type; the URL's
/// extension decides only for requests whose response has no type, or only a generic
/// one (no response, `application/octet-stream`). Any other method changes state
/// whatever it sends or gets back (an upload `PUT …/photo.jpg`, a `POST` answered
/// with a chart image): no cache serves it, so it is never an asset.
fn is_asset(method: &str, path: &str, mime: &str, resource_type: Option<&str>) -> bool {
    if !(method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD")) {
        return false;
    }
    let mime = mime.split(';').next().unwrap_or_default().trim();
    let by_type = matches!(
        resource_type,
        Some("image" | "stylesheet" | "script" | "font" | "media")
    );
    if by_type {
        return true;
    }
    // Chrome writes `x-unknown` for a response without a type.
    let typed = !matches!(
        mime,
        "" | "x-unknown" | "application/octet-stream" | "binary/octet-stream"
    );
    if typed {
        return ["image/", "font/", "audio/", "video/"]
            .iter()
            .any(|p| mime.starts_with(p))
            || mime.contains("javascript")
            || mime.contains("ecmascript")
            || mime.contains("font")
            || matches!(
                mime,
                "text/css" | "application/vnd.ms-fontobject" | "application/wasm"
            );
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    let ext = last
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    matches!(
        ext.as_str(),
        "png"
            | "jpg"
            | "jpeg"
            | "gif"
            | "svg"
            | "ico"
            | "webp"
            | "avif"
            | "bmp"
            | "tif"
            | "tiff"
            | "css"
            | "js"
            | "mjs"
            | "map"
            | "woff"
            | "woff2"
            | "ttf"
            | "otf"
            | "eot"
            | "mp4"
            | "webm"
            | "mp3"
            | "ogg"
            | "oga"
            | "wav"
            | "m4a"
            | "m4v"
            | "mov"
            | "flac"
            | "aac"
    )
}

/// Whether a header value can be sent: no control characters but tab (RFC 9110).
fn is_header_value(value: &str) -> bool {
    !value.chars().any(|c| c.is_control() && c != '\t')
}

/// An HTTP token character (RFC 9110 `tchar`), for methods and header names.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `1.2s`, `250ms`: as a person would write a pause.
fn format_pause(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        let text = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// A JSON syntax error, located where the parser stopped.
fn json_error(src: &Src, e: &serde_json::Error) -> CompileError {
    json_error_as(src, e, |message| CompileErrorKind::NotHar { message })
}

/// A `serde_json` error located on the character it names: a syntax error as
/// [`CompileErrorKind::JsonSyntax`], a value of the wrong shape as `shape(message)`.
/// Shared by the JSON front ends (HAR, Postman).
pub(crate) fn json_error_as(
    src: &Src,
    e: &serde_json::Error,
    shape: impl FnOnce(String) -> CompileErrorKind,
) -> CompileError {
    let message = crate::compile_error::without_position(&e.to_string()).to_owned();
    let kind = match e.classify() {
        serde_json::error::Category::Data => shape(message),
        _ => CompileErrorKind::JsonSyntax { message },
    };
    // serde_json counts lines from 1 and columns in bytes from 1 (0 at a line's end).
    CompileError::in_source(kind, src, Some(src.char_at(e.line(), e.column())))
}

/// The recording as draft values, located in the HAR file. It is taken apart: its
/// strings move into the draft rather than being copied.
fn to_draft(rec: Recording, src: &Src, draft: &mut Draft) {
    let at = |span: &Range<usize>| Loc {
        src: src.clone(),
        span: span.clone(),
        contents_at: None,
        is_file: true,
    };
    let located = |value: String, span: &Range<usize>| Located {
        value,
        loc: at(span),
    };
    let base = rec.base.as_deref();
    if let Some(base) = base {
        let first = rec.steps.iter().find(|s| s.origin == base);
        let span = first.and_then(|s| s.spans.url.clone()).unwrap_or(0..0);
        draft.url = Some(located(recording::literal(base), &span));
    }
    if rec.cookie_jar {
        draft.cookie_jar = Some(true);
    }
    if rec.has_redirects() {
        draft.follow_redirects = Some(false);
    }
    let whole = 0..src.text.len().min(1);
    let scenario_loc = at(&rec
        .steps
        .first()
        .map_or(whole.clone(), |s| s.spans.entry.clone()));
    let mut steps = Vec::with_capacity(rec.steps.len());
    for s in rec.steps {
        let url = s.url(base);
        let recording::RecordedStep {
            name,
            method,
            headers,
            body,
            extracts,
            checks,
            expected_status,
            think_time,
            spans,
            ..
        } = s;
        let entry = &spans.entry;
        let url_loc = match &spans.url {
            Some(span) => Loc::toml(src, span.clone(), Some(&url)),
            None => at(entry),
        };
        let header_span = |name: &str| {
            spans
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map_or(entry, |(_, span)| span)
        };
        steps.push(DraftStep {
            name: Some(name),
            url: Some(Located {
                value: url,
                loc: url_loc,
            }),
            method: Some(located(method, spans.method.as_ref().unwrap_or(entry))),
            headers: headers
                .into_iter()
                .map(|(name, value)| {
                    let span = header_span(&name);
                    DraftHeader {
                        value: located(value.into_rendered(), span),
                        name: located(name, span),
                    }
                })
                .collect(),
            body: body.map(|b| Located {
                value: BodySource::Text(b.into_rendered()),
                loc: at(spans.body.as_ref().unwrap_or(entry)),
            }),
            checks: checks.into_iter().map(|c| located(c, entry)).collect(),
            extracts: extracts
                .into_iter()
                .map(|(var, spec)| (var, located(spec, entry)))
                .collect(),
            think_time: think_time.map(|d| located(format_pause(d), entry)),
            expected_status: expected_status.map(|e| located(e, entry)),
            grpc: None,
            ws: None,
            loc: at(entry),
        });
    }
    draft.scenarios.push(DraftScenario {
        name: Some(located(rec.name, &whole)),
        weight: None,
        tags: Vec::new(),
        steps,
        loc: scenario_loc,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recording of `n` entries of each kind the notes count, in turn, and of
    /// requests that send back the token of the last such request's response;
    /// entries in `bad` have no `request`. With `started`, the entries' starts are
    /// shuffled.
    fn long_recording(n: usize, bad: &[usize], started: bool) -> String {
        let entries: Vec<String> = (0..n)
            .map(|i| {
                let request = match i % 9 {
                    0 => format!(r#""method": "GET", "url": "http://a.test/logo{i}.png""#),
                    1 => format!(r#""method": "GET", "url": "http://other{}.test/x""#, i % 5),
                    2 => r#""method": "GET", "url": "wss://a.test/socket""#.into(),
                    3 => format!(r#""method": "GET", "url": "ftp://a.test/{i}""#),
                    4 => format!(r#""method": "GET", "url": "http://[{i}/""#),
                    5 => format!(r#""method": "G T{i}", "url": "http://a.test/m""#),
                    6 => format!(
                        r#""method": "GET", "url": "http://u:p@a.test/c{i}",
                           "headers": [{{"name": "bad name{i}", "value": "v"}}]"#
                    ),
                    7 => r#""method": "POST", "url": "http://a.test/up",
                           "postData": {"mimeType": "multipart/form-data; boundary=x",
                                        "params": [{"name": "f", "fileName": "a.png"}]}"#
                        .into(),
                    _ => format!(
                        r#""method": "GET", "url": "http://a.test/items/{i}?t=tk{}abcdefgh""#,
                        i.saturating_sub(9)
                    ),
                };
                let request = if started {
                    // 7919 is prime: `t` runs over 0..n in a shuffled order.
                    let t = i * 7919 % n * 10;
                    let (m, s, ms) = (t / 60_000, t / 1000 % 60, t % 1000);
                    format!(
                        r#""startedDateTime": "2026-11-30T10:{m:02}:{s:02}.{ms:03}Z", {request}"#
                    )
                } else {
                    request
                };
                let request = if bad.contains(&i) {
                    String::new()
                } else {
                    format!(r#""request": {{{request}}},"#)
                };
                // The images' responses have no type: their extension says what they are.
                let mime = if i % 9 == 0 { "" } else { "application/json" };
                format!(
                    r#"{{{request} "response": {{"status": 200, "content": {{"mimeType": "{mime}",
                       "text": "{{\"token\": \"tk{i}abcdefgh\"}}"}}}}}}"#
                )
                .replace('\n', " ")
            })
            .collect();
        format!(r#"{{"log": {{"entries": [{}]}}}}"#, entries.join(",\n"))
    }

    /// The entries of `text`, in the file's order, and their places.
    fn entries_of(text: &str) -> (Vec<Entry<'_>>, Vec<Range<usize>>) {
        let file: HarFile<'_> = serde_json::from_str(text).unwrap();
        (file.log.unwrap().entries.unwrap(), Layout::of(text).spans)
    }

    /// Entries as `record` hands them to `read_entries`.
    fn placed<'e, 'a>(
        entries: &'e [Entry<'a>],
        spans: &[Range<usize>],
    ) -> impl ExactSizeIterator<Item = (Option<i64>, &'e Entry<'a>, Range<usize>)> {
        entries
            .iter()
            .zip(spans.to_vec())
            .map(|(e, s)| (None, e, s))
    }

    /// A long recording's entries are read in two halves: what is kept, and the
    /// notes on what is not, are those of one reading of all.
    #[test]
    fn entries_read_in_two_halves_as_in_one() {
        let text = long_recording(2 * PARALLEL_ENTRIES + 7, &[], false);
        let src = Src::new("long.har", text.as_str());
        let options = HarOptions {
            include_hosts: vec!["a.test".into()],
            ..HarOptions::default()
        };
        let (entries, spans) = entries_of(&text);
        let (whole, whole_notes) = read_entries(placed(&entries, &spans), &src, &options).unwrap();
        let half = entries.len() / 2;
        let first = placed(&entries[..half], &spans[..half]);
        let (mut kept, mut notes) = read_entries(first, &src, &options).unwrap();
        let second = placed(&entries[half..], &spans[half..]);
        let (later, later_notes) = read_entries(second, &src, &options).unwrap();
        kept.extend(later);
        notes.merge(later_notes);
        assert_eq!(format!("{kept:?}"), format!("{whole:?}"));
        assert_eq!(format!("{notes:?}"), format!("{whole_notes:?}"));
        // Every kind was met, in both halves.
        let sentences = notes.sentences(&options).join(" ");
        for want in [
            "115 static assets",
            "`other0.test`, `other1.test`, `other2.test`, …",
            "115 WebSocket connections",
            "115 non-HTTP URLs (`ftp:`)",
            "115 unreadable URLs",
            "114 invalid methods",
            // From both halves.
            "bad name1023, ",
            "bad name6, ",
            "Credentials",
            "114 multipart bodies",
        ] {
            assert!(sentences.contains(want), "lacks {want:?}: {sentences}");
        }
    }

    /// A long recording makes the same scenario whether its entries are read on
    /// one thread or two: the replay order (its starts shuffled), what is left
    /// out, the correlated tokens.
    #[test]
    fn a_long_recording_reads_the_same_on_two_threads() {
        let n = 2 * PARALLEL_ENTRIES + 7;
        let text = long_recording(n, &[], true);
        let src = Src::new("long.har", text.as_str());
        let options = HarOptions {
            include_hosts: vec!["a.test".into()],
            ..HarOptions::default()
        };
        let one = record_split(&src, &options, usize::MAX).unwrap();
        let two = record_split(&src, &options, PARALLEL_ENTRIES).unwrap();
        assert_eq!(one.entries, n);
        let (one, two) = (to_toml::write(&one), to_toml::write(&two));
        assert_eq!(one, two);
        // What was compared: steps out of the file's order, notes, correlations.
        let first = one.find("/items/").unwrap();
        assert!(!one[first..].starts_with("/items/8?"), "{one}");
        assert!(one.contains("static assets"), "{one}");
        assert!(one.contains("${"), "{one}");
    }

    /// With errors in both halves, the first in the order of replay is told.
    #[test]
    fn the_first_bad_entry_is_told_when_both_halves_have_one() {
        let n = 2 * PARALLEL_ENTRIES;
        for bad in [vec![10, n - 10], vec![n - 10], vec![n / 2 - 1, n / 2]] {
            let text = long_recording(n, &bad, false);
            let errors = import("long.har", &text, &HarOptions::default()).unwrap_err();
            let drawn = errors.render(false).unwrap();
            assert!(drawn.contains("an entry has no `request`"), "{drawn}");
            // One entry to a line, the first on the file's first.
            let line = bad[0] + 1;
            assert!(
                drawn.contains(&format!("[long.har:{line}:")),
                "{bad:?}: {drawn}"
            );
        }
    }

    /// Found by fuzzing: serde_json's column for this input falls inside the `؝`, and
    /// slicing the text there panicked. The error is located on the character.
    #[test]
    fn a_json_error_inside_a_character_is_located_on_it() {
        let text = "\"b\u{61d}\r";
        let errors = import("x.har", text, &HarOptions::default()).unwrap_err();
        let drawn = errors.render(false).unwrap();
        assert!(drawn.contains("invalid JSON: control character"), "{drawn}");
        assert!(drawn.contains("[x.har:1:3]"), "{drawn}");
    }

    #[test]
    fn assets() {
        assert!(is_asset("GET", "/a/logo.PNG", "", None));
        assert!(is_asset("GET", "/a/logo.png", "x-unknown", None));
        assert!(is_asset(
            "HEAD",
            "/a/font.woff2",
            "application/octet-stream",
            None
        ));
        assert!(is_asset(
            "GET",
            "/app",
            "application/javascript; charset=utf-8",
            None
        ));
        assert!(is_asset("GET", "/x", "", Some("font")));
        assert!(!is_asset(
            "GET",
            "/api/items",
            "application/json",
            Some("xhr")
        ));
        assert!(!is_asset(
            "GET",
            "/index.html",
            "text/html",
            Some("document")
        ));
        // A recorded type decides over the extension.
        assert!(!is_asset(
            "GET",
            "/api/export.css",
            "application/json",
            None
        ));
        // Only a GET or a HEAD is served by a cache: any other method changes state.
        assert!(!is_asset(
            "PUT",
            "/api/users/7/avatar.png",
            "application/json",
            None
        ));
        assert!(!is_asset("POST", "/api/chart", "image/png", None));
        assert!(!is_asset("DELETE", "/api/files/report.css", "", None));
        assert!(!is_asset("post", "/upload", "", Some("image")));
    }

    #[test]
    fn hosts() {
        assert!(host_matches("example.com", "api.example.com", 443));
        assert!(host_matches("Example.com", "example.com", 443));
        assert!(!host_matches("example.com", "notexample.com", 443));
        assert!(host_matches("127.0.0.1:8080", "127.0.0.1", 8080));
        assert!(!host_matches("127.0.0.1:8080", "127.0.0.1", 8081));
        assert!(host_matches("[::1]:80", "[::1]", 80));
    }

    #[test]
    fn pauses() {
        assert_eq!(format_pause(Duration::from_millis(1200)), "1.2s");
        assert_eq!(format_pause(Duration::from_millis(250)), "250ms");
        assert_eq!(format_pause(Duration::from_millis(61_000)), "61s");
        assert_eq!(format_pause(Duration::from_millis(1005)), "1.005s");
    }
}
