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
#[derive(Debug)]
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

/// Parses a recording's URLs. Nearly all of them share an origin, and parsing a
/// host is most of a URL's parse (the URL standard maps every host name, even
/// `127.0.0.1`, through IDNA): a URL that begins with the last origin's text,
/// followed by a path, is parsed against that URL instead, which gives the same
/// result without parsing the host again (a path-absolute reference keeps its
/// base's scheme, credentials, host and port, and nothing else).
#[derive(Default)]
pub(super) struct Urls {
    /// The text before the path of the last URL parsed in full, and that URL.
    last: Option<(String, url::Url)>,
}

impl Urls {
    pub fn parse(&mut self, text: &str) -> Result<url::Url, url::ParseError> {
        if let Some((origin, base)) = &self.last
            && let Some(rest) = text.strip_prefix(origin.as_str())
            // A second slash (`\` is one, in http and https) would begin a host.
            && rest.starts_with('/')
            && !rest[1..].starts_with(['/', '\\'])
        {
            return base.join(rest);
        }
        let url = url::Url::parse(text)?;
        // Only an origin written plainly: the parser also drops tabs and newlines
        // anywhere, which a prefix compared byte by byte would not.
        self.last = text
            .split_once("://")
            .map(|(scheme, after)| {
                let end = after.find(['/', '\\', '?', '#']).unwrap_or(after.len());
                scheme.len() + 3 + end
            })
            .filter(|&end| !text[..end].contains(['\t', '\n', '\r']))
            .map(|end| (text[..end].to_owned(), url.clone()));
        Ok(url)
    }
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
    urls: &mut Urls,
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
    let Ok(parsed) = urls.parse(url.value.trim()) else {
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
        && is_asset(
            method.value.trim(),
            parsed.path(),
            &response_mime,
            e.resource_type.as_deref(),
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Parsed after each other URL (so against it wherever it is taken as the
    /// base), each URL is what parsing it alone gives.
    #[test]
    fn urls_parsed_against_the_last_origin_are_parsed_alone() {
        let urls = [
            "http://127.0.0.1:8080/api/1?q=1#f",
            "http://127.0.0.1:8080/api/2",
            "http://127.0.0.1:8080//evil.example/x",
            "http://127.0.0.1:8080/\\evil.example/x",
            "http://127.0.0.1:8080?only=query",
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080.evil/x",
            "http://127.0.0.1:80801/x",
            "http://127.0.0.1:8080@evil/x",
            "http://127.0.0.1:80/default-port",
            "HTTP://User:Pw@Example.COM:443/a/../b?x=%41 y",
            "HTTP://User:Pw@Example.COM:443/c/./d",
            "https://user:pw@example.com:443/e",
            "https://[::1]:8443/v6",
            "https://[::1]:8443/v6/2?\ttab",
            "https://exa\tmple.com/tabbed-host",
            "https://exa\tmple.com/again",
            "https://example.com/%2e%2e/dots",
            "https://bücher.example/ü?ü#ü",
            "https://bücher.example/second",
            "ws://127.0.0.1:9000/socket",
            "data:text/plain,hi",
            "http://127.0.0.1:8080/after-data",
        ];
        let mut parser = Urls::default();
        parser.parse(urls[0]).unwrap();
        let origin = parser.last.as_ref().map(|(o, _)| o.as_str());
        assert_eq!(origin, Some("http://127.0.0.1:8080"));
        parser.parse("https://exa\tmple.com/x").unwrap();
        assert!(parser.last.is_none());
        for first in urls {
            for second in urls {
                let mut parser = Urls::default();
                let _ = parser.parse(first);
                assert_eq!(
                    parser.parse(second).map(String::from),
                    url::Url::parse(second).map(String::from),
                    "{second} after {first}"
                );
            }
        }
    }
}
