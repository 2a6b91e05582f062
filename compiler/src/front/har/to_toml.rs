//! A [`Recording`] as scenario TOML, in the schema of `docs/scenario.md`, for
//! `kaioken import har`: a comment header saying where it came from and what was
//! left out, `[target]`, then one `[[scenarios]]` with a `[[scenarios.steps]]` per
//! request. Each step's headers are a `[scenarios.steps.headers]` table, one per
//! line, so the file reads and diffs well.
//!
//! The text is written by hand rather than through `toml::to_string`: the comments,
//! the key order and the choice of quotes are what make it readable, and
//! `toml`'s serializer keeps none of them.

use super::format_pause;
use super::recording::{Recording, literal};

/// The scenario file for `rec`.
pub(crate) fn write(rec: &Recording) -> String {
    let mut out = String::new();
    let mut comment = Vec::new();
    let steps = rec.steps.len();
    comment.push(format!(
        "Imported from `{}` by `kaioken import har`: {} of {} {} became {}.",
        file_name(&rec.file),
        steps,
        rec.entries,
        if rec.entries == 1 { "entry" } else { "entries" },
        if steps == 1 { "a step" } else { "steps" },
    ));
    comment.extend(rec.notes.iter().map(|n| sentence(n)));
    comment.push(
        "Not replayed as recorded: HTTP/2 pseudo-headers, hop-by-hop headers, `host` (from the URL), \
         `content-length` (computed from each body) and cookies."
            .into(),
    );
    if rec.cookie_jar {
        comment.push(
            "The recording had cookies: `cookie_jar` gives each VU its own session instead.".into(),
        );
    }
    if rec.has_redirects() {
        comment.push(
            "Redirects are not followed (`follow_redirects = false`): the recording holds \
             each hop as a step of its own."
                .into(),
        );
    }
    for c in &rec.correlations {
        let numbers = |steps: &[usize]| {
            let n: Vec<String> = steps.iter().map(|s| (s + 1).to_string()).collect();
            n.join(", ")
        };
        let s = if c.used_by.len() == 1 { "" } else { "s" };
        let sent = if c.encoded_by.is_empty() {
            format!("sent by step{s} {}", numbers(&c.used_by))
        } else if c.encoded_by == c.used_by {
            format!("sent percent-encoded by step{s} {}", numbers(&c.used_by))
        } else {
            format!(
                "sent by step{s} {} (percent-encoded by {})",
                numbers(&c.used_by),
                numbers(&c.encoded_by)
            )
        };
        comment.push(format!(
            "`{}` is taken from step {}'s response (`{}`) and {sent}.",
            c.var,
            c.from + 1,
            c.spec,
        ));
    }
    comment.push(
        "Review before running: recorded credentials (`authorization` headers, passwords in \
         bodies) are kept as they were."
            .into(),
    );
    for paragraph in &comment {
        // A line break in a recorded value would end the comment.
        let paragraph = paragraph.replace(|c: char| c.is_control(), " ");
        for line in wrap(&paragraph, 86) {
            out.push_str("# ");
            out.push_str(&line);
            out.push('\n');
        }
    }

    out.push_str("\n[target]\n");
    if let Some(base) = &rec.base {
        out.push_str(&format!("url = {}\n", string(&literal(base))));
    }
    if rec.cookie_jar {
        out.push_str("cookie_jar = true\n");
    }
    if rec.has_redirects() {
        out.push_str("follow_redirects = false\n");
    }

    out.push_str(&format!("\n[[scenarios]]\nname = {}\n", string(&rec.name)));
    for (i, step) in rec.steps.iter().enumerate() {
        let r = &step.response;
        let recorded = match r.status {
            0 => "failed, no response".to_owned(),
            status if r.mime_type.is_empty() => status.to_string(),
            status => format!("{status} {}", r.mime_type),
        };
        let recorded = recorded.replace(|c: char| c.is_control(), " ");
        out.push_str(&format!("\n# step {}: recorded {recorded}\n", i + 1));
        out.push_str("[[scenarios.steps]]\n");
        out.push_str(&format!("name = {}\n", string(&step.name)));
        out.push_str(&format!("method = {}\n", string(&step.method)));
        out.push_str(&format!(
            "url = {}\n",
            string(&step.url(rec.base.as_deref()))
        ));
        if let Some(body) = &step.body {
            out.push_str(&format!("body = {}\n", string(&body.render())));
        }
        push_checks(&mut out, &step.checks);
        if let Some(expected) = &step.expected_status {
            out.push_str(&format!("expected_status = {}\n", string(expected)));
        }
        push_extracts(&mut out, &step.extracts);
        if let Some(pause) = step.think_time {
            out.push_str(&format!("think_time = {}\n", string(&format_pause(pause))));
        }
        if !step.headers.is_empty() {
            out.push_str("\n[scenarios.steps.headers]\n");
            for (name, value) in &step.headers {
                out.push_str(&format!("{} = {}\n", key(name), string(&value.render())));
            }
        }
    }
    out
}

/// A step's `checks = [...]` line, when it has checks.
pub(crate) fn push_checks(out: &mut String, checks: &[String]) {
    if !checks.is_empty() {
        let checks: Vec<String> = checks.iter().map(|c| string(c)).collect();
        out.push_str(&format!("checks = [{}]\n", checks.join(", ")));
    }
}

/// A step's `extract = { var = "spec", ... }` line, when it extracts.
pub(crate) fn push_extracts(out: &mut String, extracts: &[(String, String)]) {
    if !extracts.is_empty() {
        let pairs: Vec<String> = extracts
            .iter()
            .map(|(var, spec)| format!("{} = {}", key(var), string(spec)))
            .collect();
        out.push_str(&format!("extract = {{ {} }}\n", pairs.join(", ")));
    }
}

fn file_name(path: &str) -> &str {
    std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

/// A note as a sentence: capitalised, ending with a period.
pub(crate) fn sentence(note: &str) -> String {
    let mut s = String::new();
    let mut chars = note.chars();
    if let Some(c) = chars.next() {
        s.extend(c.to_uppercase());
        s.push_str(chars.as_str());
    }
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// Words of `text` in lines of at most `width` characters (a longer word gets its own
/// line).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A TOML key: bare when it can be, quoted otherwise.
pub(crate) fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare { name.to_owned() } else { basic(name) }
}

/// A TOML string: a literal `'…'` when that spares escapes (JSON bodies, regexes),
/// a basic `"…"` string otherwise.
pub(crate) fn string(s: &str) -> String {
    let literal_ok = !s.contains('\'') && !s.chars().any(|c| c.is_control());
    if literal_ok && (s.contains('"') || s.contains('\\')) {
        format!("'{s}'")
    } else {
        basic(s)
    }
}

/// A TOML basic string, every character that needs it escaped.
pub(crate) fn basic(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_toml() {
        for s in [
            "plain",
            r#"{"a": "b\n"}"#,
            "it's",
            "tab\there\nnew line \u{7f} \u{1b}",
            r#"both ' and ""#,
            "",
        ] {
            let doc = format!("v = {}\n{} = 1\n", string(s), key(s));
            let parsed: toml::Table = toml::from_str(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
            assert_eq!(parsed["v"].as_str(), Some(s), "{doc}");
            assert!(parsed.contains_key(s), "{doc}");
        }
        assert_eq!(string(r#"{"a": 1}"#), r#"'{"a": 1}'"#);
        assert_eq!(key("content-type"), "content-type");
        assert_eq!(key("x.y"), r#""x.y""#);
    }

    #[test]
    fn wraps_on_words() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("toolongword x", 4), ["toolongword", "x"]);
    }
}
