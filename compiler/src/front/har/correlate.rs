//! Correlation: values one response produced that later requests send back.
//!
//! A recording replayed as is sends yesterday's session token, CSRF token and order
//! ids; the server rejects them or, worse, every VU works on the same order. Here
//! each such value becomes an extractor on the step whose response first produced
//! it, and every later occurrence becomes `${var}`:
//!
//! ```text
//!  response i ──candidates──► (value, extractor spec, key)     JSON leaves, hidden
//!                                   │                           inputs, meta tags,
//!                                   │                           token-like headers
//!     ├─ sent by request ≤ i?  ──► the client knew it: not produced here, skip
//!     ├─ sent by a request > i? ──► no: nothing to correlate
//!     └─ does the spec, run by the VM's own extractor on the recorded response,
//!        give the value back? ──► yes: extract on step i, `${var}` in steps > i
//! ```
//!
//! False positives cost more than misses (a wrong `${var}` breaks a request that
//! worked), so a value must look like an identifier or token (long enough, no
//! spaces, not `true`), match as a whole token, and be absent from every earlier
//! request. Headers the browser sets on its own (`accept`, `user-agent`, …) are
//! never rewritten.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kaioken_vm::{CompiledExtractor, ExtractKind, ResponseView, SlotId};
use serde_json::Value;

use super::recording::{Correlation, RecordedResponse, RecordedStep, Seg, Text, occurrences};

/// Body bytes a VU keeps for extractors by default (`body_limit`); a value past
/// them would be found in the recording but never at run time.
const BODY_LIMIT: usize = 64 * 1024;

/// Most candidates read from one response: a huge JSON array of records is data,
/// not session state, and walking all of it would only slow the import down.
const MAX_CANDIDATES: usize = 5000;

/// Request headers whose values the client sets on its own; never rewritten.
fn is_client_header(name: &str) -> bool {
    name.starts_with("sec-")
        || matches!(
            name,
            "accept"
                | "accept-encoding"
                | "accept-language"
                | "content-type"
                | "user-agent"
                | "cache-control"
                | "pragma"
                | "dnt"
                | "origin"
                | "upgrade-insecure-requests"
                | "priority"
                | "if-none-match"
                | "if-modified-since"
        )
}

/// A value a response holds and the extractor that takes it from there.
#[derive(Debug, Clone)]
struct Candidate {
    value: String,
    spec: String,
    /// Where the variable's name comes from: a JSON key, a form field, a header.
    key: String,
}

/// Find the correlated values of `steps`, add their extractors and replace later
/// occurrences with `${var}`. `sent[i]` is everything request `i` carried as
/// recorded (URL, every header value, body), cookies included.
pub(crate) fn correlate(steps: &mut [RecordedStep], sent: &[Vec<String>]) -> Vec<Correlation> {
    let found = find(steps, sent);

    // Longest values first, so that a value inside another is only replaced where the
    // longer one is not. Placeholder names until we know which are used.
    let mut order: Vec<usize> = (0..found.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(found[k].candidate.value.len()));
    let mut used_by: Vec<Vec<usize>> = vec![Vec::new(); found.len()];
    for k in order {
        let f = &found[k];
        let placeholder = format!("\u{0}{k}");
        for &j in &f.later {
            let mut n = 0;
            for (text, min) in targets_mut(&mut steps[j]) {
                n += text.replace(&f.candidate.value, &placeholder, min);
            }
            if n > 0 {
                used_by[k].push(j);
            }
        }
    }

    // Readable, unique names, in the order the values were found.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for (k, f) in found.iter().enumerate() {
        if used_by[k].is_empty() {
            continue;
        }
        let (from, c) = (&f.from, &f.candidate);
        let base = var_name(&c.key);
        let mut var = base.clone();
        let mut n = 2;
        while !taken.insert(var.clone()) {
            var = format!("{base}_{n}");
            n += 1;
        }
        names.insert(format!("\u{0}{k}"), var.clone());
        steps[*from].extracts.push((var.clone(), c.spec.clone()));
        out.push(Correlation {
            var,
            spec: c.spec.clone(),
            from: *from,
            used_by: used_by[k].clone(),
        });
    }
    for step in steps.iter_mut() {
        for (text, _) in targets_mut(step) {
            for seg in &mut text.segs {
                if let Seg::Var(name) = seg {
                    if let Some(real) = names.get(name.as_str()) {
                        *name = real.clone();
                    }
                }
            }
        }
        step.extracts.sort();
        // kaioken does not decompress bodies: ask for them plain where a value is
        // taken from one.
        if !step.extracts.is_empty() {
            step.headers.retain(|(name, _)| name != "accept-encoding");
        }
    }
    out
}

/// A value to correlate.
struct Found {
    /// The step whose response produced it.
    from: usize,
    candidate: Candidate,
    /// The later steps that may send it back (the others certainly do not).
    later: Vec<usize>,
}

/// The values to correlate, in the order found.
///
/// A value is matched as a whole token, so an occurrence starts with the value's first
/// run of letters and digits, standing alone. Indexing those runs once (the first
/// request that sent each, the last that may send it back) rules out almost every
/// candidate without a search; a recording of a few hundred entries with JSON
/// responses has tens of thousands of candidates, and searching every later request
/// for each took minutes.
fn find(steps: &[RecordedStep], sent: &[Vec<String>]) -> Vec<Found> {
    let mut first_sent: HashMap<&str, usize> = HashMap::new();
    for (k, texts) in sent.iter().enumerate() {
        for word in texts.iter().flat_map(|t| words(t)) {
            first_sent.entry(word).or_insert(k);
        }
    }
    // For each word, the steps whose rewritable text has it, in order.
    let mut sent_back: HashMap<&str, Vec<usize>> = HashMap::new();
    for (j, step) in steps.iter().enumerate() {
        for (text, _) in targets(step) {
            for word in text.segs.iter().flat_map(|s| match s {
                Seg::Lit(t) => words(t),
                Seg::Var(_) => Vec::new(),
            }) {
                let list = sent_back.entry(word).or_default();
                if list.last() != Some(&j) {
                    list.push(j);
                }
            }
        }
    }
    let all_steps: Vec<usize> = (0..steps.len()).collect();

    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    let mut found = Vec::new();
    for i in 0..steps.len() {
        for c in candidates(&steps[i].response) {
            if chosen.contains(&c.value) || known.contains(&c.value) {
                continue;
            }
            // Values that do not start with a letter or digit are rare: search for them.
            let (maybe_known, later) = match first_word(&c.value) {
                Some(w) => (
                    first_sent.get(w).is_some_and(|&k| k <= i),
                    sent_back.get(w).map_or(&[][..], Vec::as_slice),
                ),
                None => (true, &all_steps[..]),
            };
            let later: Vec<usize> = later.iter().copied().filter(|&j| j > i).collect();
            if maybe_known
                && sent[..=i]
                    .iter()
                    .flatten()
                    .any(|s| occurrences(s, &c.value).next().is_some())
            {
                known.insert(c.value);
                continue;
            }
            let used_later = later
                .iter()
                .any(|&j| targets(&steps[j]).any(|(t, min)| t.has_token(&c.value, min)));
            if used_later && extracts_to(&c.spec, &steps[i].response, &c.value) {
                chosen.insert(c.value.clone());
                found.push(Found {
                    from: i,
                    candidate: c,
                    later,
                });
            }
        }
    }
    found
}

/// The maximal runs of letters and digits in `text`.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The run of letters and digits `value` starts with, if it starts with one.
fn first_word(value: &str) -> Option<&str> {
    let end = value
        .char_indices()
        .find(|(_, c)| !c.is_alphanumeric())
        .map_or(value.len(), |(i, _)| i);
    (end > 0).then(|| &value[..end])
}

/// The texts of a request that may carry a correlated value, each with the first
/// byte where one may start (a URL path keeps its leading `/`).
fn targets(step: &RecordedStep) -> impl Iterator<Item = (&Text, usize)> {
    std::iter::once((&step.path, 1))
        .chain(
            step.headers
                .iter()
                .filter(|(name, _)| !is_client_header(name))
                .map(|(_, v)| (v, 0)),
        )
        .chain(step.body.iter().map(|b| (b, 0)))
}

fn targets_mut(step: &mut RecordedStep) -> impl Iterator<Item = (&mut Text, usize)> {
    std::iter::once((&mut step.path, 1))
        .chain(
            step.headers
                .iter_mut()
                .filter(|(name, _)| !is_client_header(name))
                .map(|(_, v)| (v, 0)),
        )
        .chain(step.body.iter_mut().map(|b| (b, 0)))
}

/// Whether running `spec` on the recorded response, as a VU would, gives `value`.
fn extracts_to(spec: &str, response: &RecordedResponse, value: &str) -> bool {
    let Ok(extractor) = kaioken_grammar::parse_extractor(spec) else {
        return false;
    };
    let kind = match extractor {
        kaioken_grammar::Extractor::Json(path) => {
            match jsonpath_rust::parser::parse_json_path(&path) {
                Ok(q) => ExtractKind::json(q),
                Err(_) => return false,
            }
        }
        kaioken_grammar::Extractor::Regex(re) => match regex::bytes::Regex::new(&re) {
            Ok(re) => ExtractKind::Regex(re),
            Err(_) => return false,
        },
        kaioken_grammar::Extractor::Header(name) => {
            ExtractKind::Header(name.to_ascii_lowercase().into_bytes().into())
        }
        kaioken_grammar::Extractor::Body => ExtractKind::Body,
    };
    let extractor = CompiledExtractor {
        var: String::new(),
        slot: SlotId::from_index(0),
        spec: spec.to_owned(),
        kind,
    };
    let mut out = Vec::new();
    extractor.extract(&Recorded(response), &mut out) && out == value.as_bytes()
}

/// A recorded response seen the way the VM sees a live one.
struct Recorded<'r>(&'r RecordedResponse);

impl ResponseView for Recorded<'_> {
    fn status(&self) -> u16 {
        self.0.status
    }
    fn duration(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    fn body(&self) -> &[u8] {
        let body = self.0.body.as_deref().unwrap_or_default().as_bytes();
        &body[..body.len().min(BODY_LIMIT)]
    }
    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.0
            .headers
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

/// The values of a response worth correlating, best source first: JSON leaves, then
/// HTML hidden inputs and meta tags, then headers.
fn candidates(r: &RecordedResponse) -> Vec<Candidate> {
    let mut out = Vec::new();
    if let Some(body) = r.body.as_deref() {
        let trimmed = body.trim_start();
        if r.mime_type.contains("json") || trimmed.starts_with('{') || trimmed.starts_with('[') {
            if let Ok(json) = serde_json::from_str::<Value>(body) {
                json_leaves(&json, &mut String::from("$"), ("", ""), &mut out);
            }
        }
        if r.mime_type.contains("html") || body.contains("<input") || body.contains("<meta") {
            html_fields(body, &mut out);
        }
    }
    for (name, value) in &r.headers {
        let lower = name.to_ascii_lowercase();
        let interesting = ["token", "csrf", "xsrf", "session", "nonce", "auth"]
            .iter()
            .any(|w| lower.contains(w))
            || (lower == "location" && value.starts_with('/'));
        if interesting
            && lower != "set-cookie"
            && value.len() >= 8
            && !value.contains(char::is_whitespace)
        {
            let key = lower.strip_prefix("x-").unwrap_or(&lower).to_owned();
            out.push(Candidate {
                value: value.clone(),
                spec: format!("header:{name}"),
                key,
            });
        }
    }
    out
}

/// Whether a JSON key names an identifier: `id`, `user_id`, `orderId`, `uuid`.
fn is_id_key(key: &str) -> bool {
    let snake = var_name(key);
    snake == "id" || snake.ends_with("_id") || snake.ends_with("uuid") || snake.ends_with("guid")
}

/// Whether a string looks like a token rather than a word: no spaces, not a URL, and
/// a digit in it or long and mixed-case (base64, JWTs).
fn is_token_like(s: &str) -> bool {
    let has = |f: fn(&char) -> bool| s.chars().any(|c| f(&c));
    !s.contains(char::is_whitespace)
        && !s.contains("://")
        && (has(char::is_ascii_digit)
            || (s.len() >= 16 && has(char::is_ascii_uppercase) && has(char::is_ascii_lowercase)))
}

/// The leaves of `v` worth correlating. `names` is the key `v` is under and the key
/// of the object holding it: a bare `id` is named after its object (`user_id`).
fn json_leaves(v: &Value, path: &mut String, names: (&str, &str), out: &mut Vec<Candidate>) {
    if out.len() >= MAX_CANDIDATES {
        return;
    }
    let (key, parent) = names;
    let keep = path.len();
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                push_key(path, k);
                json_leaves(child, path, (k, key), out);
                path.truncate(keep);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                json_leaves(child, path, names, out);
                path.truncate(keep);
            }
        }
        Value::String(s) => {
            let id = is_id_key(key) && s.len() >= 4 && !s.contains(char::is_whitespace);
            if (id || (s.len() >= 8 && is_token_like(s))) && !is_common(s) {
                out.push(Candidate {
                    value: s.clone(),
                    spec: format!("json:{path}"),
                    key: leaf_name(key, parent),
                });
            }
        }
        Value::Number(n) if is_id_key(key) && (n.is_i64() || n.is_u64()) => {
            let text = n.to_string();
            if text.trim_start_matches('-').len() >= 4 {
                out.push(Candidate {
                    value: text,
                    spec: format!("json:{path}"),
                    key: leaf_name(key, parent),
                });
            }
        }
        _ => {}
    }
}

/// The name for a leaf: its key, or for a bare `id` its object's key too
/// (`{"user": {"id": 7}}` → `user_id`, `{"orders": [{"id": …}]}` → `order_id`).
fn leaf_name(key: &str, parent: &str) -> String {
    let key = var_name(key);
    let parent = var_name(parent);
    if !matches!(key.as_str(), "id" | "uuid" | "guid") || parent == "value" {
        return key;
    }
    let singular = match parent.strip_suffix('s') {
        Some(stem) if stem.len() >= 3 && !stem.ends_with('s') => stem,
        _ => &parent,
    };
    format!("{singular}_{key}")
}

/// Append `.key`, or `['key']` when the key is not a plain name.
fn push_key(path: &mut String, key: &str) {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push_str("['");
        for c in key.chars() {
            if matches!(c, '\'' | '\\') {
                path.push('\\');
            }
            path.push(c);
        }
        path.push_str("']");
    }
}

/// Words that are never session state, however long.
fn is_common(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "undefined" | "none" | "ok" | "success"
    )
}

/// `<input type="hidden" name=… value=…>` and `<meta name=… content=…>`: each as a
/// regex on the tag as the page writes it, attribute order, case and quotes included.
fn html_fields(body: &str, out: &mut Vec<Candidate>) {
    use std::sync::LazyLock;
    static TAG: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(?is)<(input|meta)\b([^>]*)>").expect("valid"));
    static ATTR: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r#"([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"#,
        )
        .expect("valid")
    });
    /// One attribute: its name lowercase and as written, its value, its quote.
    struct Attr<'t> {
        name: String,
        written: &'t str,
        value: &'t str,
        quote: Option<char>,
    }
    for tag in TAG.captures_iter(body) {
        if out.len() >= MAX_CANDIDATES {
            return;
        }
        let is_meta = tag[1].eq_ignore_ascii_case("meta");
        let attrs: Vec<Attr<'_>> = ATTR
            .captures_iter(tag.get(2).map_or("", |m| m.as_str()))
            .filter_map(|a| {
                let written = a.get(1)?.as_str();
                let (value, quote) = match (a.get(2), a.get(3), a.get(4)) {
                    (Some(v), _, _) => (v, Some('"')),
                    (_, Some(v), _) => (v, Some('\'')),
                    (_, _, Some(v)) => (v, None),
                    _ => return None,
                };
                Some(Attr {
                    name: written.to_ascii_lowercase(),
                    written,
                    value: value.as_str(),
                    quote,
                })
            })
            .collect();
        let find = |n: &str| attrs.iter().position(|a| a.name == n);
        let value_attr = if is_meta { "content" } else { "value" };
        if !is_meta && !find("type").is_some_and(|t| attrs[t].value.eq_ignore_ascii_case("hidden"))
        {
            continue;
        }
        let (Some(n), Some(v)) = (find("name"), find(value_attr)) else {
            continue;
        };
        let (name, value) = (&attrs[n], &attrs[v]);
        if value.value.len() < 8
            || value.value.contains(char::is_whitespace)
            || is_common(value.value)
        {
            continue;
        }
        let name_re = match name.quote {
            Some(q) => format!(
                "{}={q}{}{q}",
                regex::escape(name.written),
                regex::escape(name.value)
            ),
            None => format!(
                r"{}={}\b",
                regex::escape(name.written),
                regex::escape(name.value)
            ),
        };
        let value_re = match value.quote {
            Some(q) => format!("{}={q}([^{q}]*){q}", regex::escape(value.written)),
            None => format!(r#"{}=([^\s"'=<>`]+)"#, regex::escape(value.written)),
        };
        let re = if n < v {
            format!(r"{name_re}[^>]*?{value_re}")
        } else {
            format!(r"{value_re}[^>]*?{name_re}")
        };
        out.push(Candidate {
            value: value.value.to_owned(),
            spec: format!("regex:{re}"),
            key: name.value.to_owned(),
        });
    }
}

/// A variable name from a key: `accessToken` → `access_token`, `csrf-token` →
/// `csrf_token`; `value` when nothing usable is left.
pub(crate) fn var_name(key: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let out = out.trim_matches('_');
    match out.chars().next() {
        None => "value".to_owned(),
        Some(c) if c.is_ascii_digit() => format!("v_{out}"),
        Some(_) => out.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(var_name("accessToken"), "access_token");
        assert_eq!(var_name("csrf-token"), "csrf_token");
        assert_eq!(
            var_name("__RequestVerificationToken"),
            "request_verification_token"
        );
        assert_eq!(var_name("ID"), "id");
        assert_eq!(var_name("2fa"), "v_2fa");
        assert_eq!(var_name("ü"), "value");
    }

    #[test]
    fn hidden_inputs_and_meta_tags() {
        let html = r#"<meta name="csrf-token" content="Zm9vYmFyYmF6cXV4">
            <form><INPUT Value='a1b2c3d4e5' type=hidden name='authenticity_token'>
            <input type="text" name="user" value="alice12345"></form>"#;
        let mut out = Vec::new();
        html_fields(html, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|c| (c.key.as_str(), c.value.as_str(), c.spec.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "csrf-token",
                    "Zm9vYmFyYmF6cXV4",
                    r#"regex:name="csrf\-token"[^>]*?content="([^"]*)""#
                ),
                (
                    "authenticity_token",
                    "a1b2c3d4e5",
                    r"regex:Value='([^']*)'[^>]*?name='authenticity_token'"
                ),
            ]
        );
        let response = RecordedResponse {
            body: Some(html.to_owned()),
            ..RecordedResponse::default()
        };
        for c in &out {
            assert!(extracts_to(&c.spec, &response, &c.value), "{c:?}");
        }
    }

    #[test]
    fn json_paths_round_trip_through_the_vm_extractor() {
        let body = r#"{"data": {"token": "eyJhbGciOiJIUzI1NiJ9.e30.x", "user": {"id": 48213, "name": "alice"}},
                        "odd-key": ["ord_7f3k29x1"], "ok": true, "count": 12}"#;
        let mut out = Vec::new();
        json_leaves(
            &serde_json::from_str(body).unwrap(),
            &mut "$".into(),
            ("", ""),
            &mut out,
        );
        let got: Vec<_> = out
            .iter()
            .map(|c| (c.key.as_str(), c.spec.as_str(), c.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("token", "json:$.data.token", "eyJhbGciOiJIUzI1NiJ9.e30.x"),
                ("user_id", "json:$.data.user.id", "48213"),
                ("odd_key", "json:$['odd-key'][0]", "ord_7f3k29x1"),
            ]
        );
        let response = RecordedResponse {
            body: Some(body.to_owned()),
            mime_type: "application/json".into(),
            ..RecordedResponse::default()
        };
        for c in &out {
            assert!(extracts_to(&c.spec, &response, &c.value), "{c:?}");
        }
    }
}
