//! One recorded entry into a step, or left out.
//!
//! Part of the HAR front end (recording.har → **entries** → Recording → Draft or
//! TOML): an entry is kept when its URL parses, its scheme is HTTP (a WebSocket
//! becomes its opening handshake), its host is wanted, it is not a static asset
//! and its method is a token; each left out is counted in [`Notes`]. A kept entry
//! becomes a [`RecordedStep`] with its headers (`headers.rs`) and body (`body.rs`).

use super::recording::{RecordedStep, StepSpans, Text};
use std::ops::Range;

use super::{
    Entry, HarOptions, Notes, body, headers, host_matches, is_asset, is_token_byte, not_har,
    recorded_response,
};
use crate::compile_error::CompileError;
use crate::located::Src;

/// A kept entry: its step, and what the recording says about it besides.
pub(super) struct Kept {
    pub step: RecordedStep,
    /// What the request sent (URL, header values, body): what correlation must not
    /// mistake for a value the server produced.
    pub sent: Vec<String>,
    /// How long the exchange took, in milliseconds (0 when not recorded).
    pub time: f64,
    /// Whether it carried a session (cookies sent or set), which the replay must keep
    /// per VU.
    pub cookies: bool,
}

/// Read one entry. `None`: left out, and counted in `notes`.
///
/// # Errors
///
/// An entry without a `request`, or a request without `method` and `url`: the file
/// is not a recording a replay can be made of.
pub(super) fn read(
    e: &Entry<'_>,
    entry_span: Range<usize>,
    src: &Src,
    options: &HarOptions,
    notes: &mut Notes,
) -> Result<Option<Kept>, CompileError> {
    let Some(request) = &e.request else {
        return Err(not_har(
            src,
            "an entry has no `request`",
            Some(entry_span.start..entry_span.start + 1),
        ));
    };
    let (Some(method), Some(url)) = (&request.method, &request.url) else {
        return Err(not_har(
            src,
            "a request needs `method` and `url`",
            Some(entry_span.start..entry_span.start + 1),
        ));
    };
    let response = e.response.as_ref();
    let headers = request.headers.as_deref().unwrap_or_default();
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h.value.name.eq_ignore_ascii_case(name))
            .and_then(|h| h.value.value.as_deref())
    };
    let Ok(parsed) = url::Url::parse(url.value.trim()) else {
        notes.unparsable.push(url.value.clone());
        return Ok(None);
    };
    let status = response.and_then(|r| r.status).unwrap_or(0.0);
    let websocket = matches!(parsed.scheme(), "ws" | "wss")
        || header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        || status == 101.0
        || e.resource_type.as_deref() == Some("websocket")
        || e.websocket_messages.is_some();
    let mut parsed = parsed;
    if websocket {
        // Replayed as its opening handshake: the same GET over HTTP/1.1, which a
        // WebSocket server answers with 101. The messages are not sent.
        let scheme = match parsed.scheme() {
            "ws" => Some("http"),
            "wss" => Some("https"),
            _ => None,
        };
        if let Some(scheme) = scheme {
            let _ = parsed.set_scheme(scheme);
        }
    }
    if !matches!(parsed.scheme(), "http" | "https") {
        notes.other_schemes.push(parsed.scheme().to_owned());
        return Ok(None);
    }
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let port = parsed.port_or_known_default().unwrap_or(0);
    if !options.include_hosts.is_empty()
        && !options
            .include_hosts
            .iter()
            .any(|h| host_matches(h, &host, port))
    {
        notes.other_hosts.insert(host);
        return Ok(None);
    }
    let response_mime = response
        .and_then(|r| r.content.as_ref())
        .and_then(|c| c.mime_type.as_deref())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !options.include_assets
        && is_asset(parsed.path(), &response_mime, e.resource_type.as_deref())
    {
        notes.assets += 1;
        return Ok(None);
    }
    let method_value = method.value.trim();
    if method_value.is_empty() || !method_value.bytes().all(is_token_byte) {
        notes.bad_methods.push(method.value.clone());
        return Ok(None);
    }

    // A session the replay must keep per VU, if a kept request had one.
    let cookies = request.cookies.as_ref().is_some_and(|c| !c.is_empty())
        || header("cookie").is_some()
        || response.is_some_and(|r| {
            r.cookies.as_ref().is_some_and(|c| !c.is_empty())
                || r.headers
                    .iter()
                    .flatten()
                    .any(|h| h.name.eq_ignore_ascii_case("set-cookie"))
        });

    // The request as the recording sent it: what correlation must not mistake
    // for a value the server produced.
    let mut sent_raw = vec![url.value.clone()];
    sent_raw.extend(
        headers
            .iter()
            .filter_map(|h| h.value.value.as_deref().map(str::to_owned)),
    );

    let mut clean = parsed.clone();
    clean.set_fragment(None);
    if !clean.username().is_empty() || clean.password().is_some() {
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        notes.credentials = true;
    }
    let origin = clean.origin().ascii_serialization();
    let path = clean[url::Position::BeforePath..url::Position::AfterQuery].to_owned();
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };

    let mut kept = headers::keep(headers, websocket, &entry_span, src, notes);
    let mut body_span = None;
    let mut body = None;
    if let Some(post) = &request.post_data {
        let read = body::read(post, src, notes);
        if let Some(content_type) = read.content_type
            && !kept.iter().any(|k| k.0 == "content-type")
        {
            kept.push(("content-type".into(), content_type, read.span.clone()));
        }
        sent_raw.extend(read.sent);
        body = read.text.map(Text::literal);
        body_span = Some(read.span);
    }
    // Sorted, as a TOML table would have them.
    kept.sort_by(|a, b| a.0.cmp(&b.0));

    let status = if (0.0..=999.0).contains(&status) {
        status as u16
    } else {
        0
    };
    let checks = if (100..600).contains(&status) {
        vec![format!("status == {status}")]
    } else {
        Vec::new()
    };
    let expected_status = ((100..600).contains(&status) && !(200..400).contains(&status))
        .then(|| format!("{},{status}", kaioken_vm::ExpectedStatus::default()));
    if websocket {
        notes.websockets.push(url.value.clone());
    }
    let (headers, header_spans) = kept
        .into_iter()
        .map(|(n, v, s)| ((n.clone(), Text::literal(v)), (n, s)))
        .unzip();
    let step = RecordedStep {
        // Named once the base origin is known.
        name: String::new(),
        method: method_value.to_owned(),
        origin,
        path: Text::literal(path),
        headers,
        body,
        extracts: Vec::new(),
        checks,
        expected_status,
        think_time: None,
        response: recorded_response(response, status),
        spans: StepSpans {
            entry: entry_span,
            url: Some(url.span(&src.text)),
            method: Some(method.span(&src.text)),
            body: body_span,
            headers: header_spans,
        },
    };
    Ok(Some(Kept {
        step,
        sent: sent_raw,
        time: e.time.filter(|t| t.is_finite() && *t > 0.0).unwrap_or(0.0),
        cookies,
    }))
}
