//! The one redaction rule: what every printer hides.
//!
//! A load test's scenario carries credentials — an `Authorization` header, an API
//! key, a token in a query string, a password in a URL — and kaioken prints a
//! scenario in many forms: diagnostics quote its source, `--dry-run` and `--dump ir`
//! show the IR, `--dump bytecode` the constant pool, the JSON report, the summary and
//! the live view name the target URL, `compare` prints the URLs that differ. All of
//! them ask this rule, so a secret hidden in one is hidden in all:
//!
//! - the value of a header named in [`SECRET_HEADERS`];
//! - the value of a query parameter whose key is in [`SECRET_QUERY_KEYS`];
//! - the password of a URL's userinfo (`http://user:<redacted>@host`);
//! - headers and query keys the user names (`--redact NAME`, or `redact = [...]` in
//!   a scenario): each name counts as both, compared without regard to case.
//!
//! Fixed text is replaced by [`REDACTED`], with no hint of its length; `${…}`
//! references stay visible, as they name a variable, not a value.
//!
//! Where it sits: in the VM crate because the bytecode listing (`Program`'s
//! `Display`) is the lowest printer; the compiler re-exports it for the IR dump and
//! diagnostics, and the CLI builds it once per command from its flags and the
//! scenario.

use std::borrow::Cow;
use std::ops::Range;

/// What a hidden value is replaced with.
pub const REDACTED: &str = "<redacted>";

/// The fewest characters a secret has for its every occurrence to be hidden
/// ([`Redact::text_and`]): a shorter one would hide common text.
pub const MIN_ECHOED: usize = 4;

/// Headers whose values are credentials, lowercase.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "x-csrf-token",
    "x-xsrf-token",
    "x-amz-security-token",
];

/// Query parameters whose values are credentials, lowercase.
pub const SECRET_QUERY_KEYS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth",
    "auth_token",
    "api_key",
    "apikey",
    "api-key",
    "key",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

/// The redaction rule: the built-in lists plus the names the user added.
///
/// # Example
///
/// ```
/// use kaioken_vm::Redact;
///
/// let rule = Redact::new(["X-Custom"]);
/// assert!(rule.is_secret_header(b"Authorization"));
/// assert!(rule.is_secret_header(b"x-custom"));
/// assert_eq!(
///     rule.url("http://me:hunter2@127.0.0.1/a?token=abc&page=2&x-custom=${V}z"),
///     "http://me:<redacted>@127.0.0.1/a?token=<redacted>&page=2&x-custom=${V}<redacted>"
/// );
/// assert_eq!(
///     rule.text("-H 'Authorization: Bearer abc${TOKEN}'"),
///     "-H 'Authorization: <redacted>${TOKEN}'"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redact {
    /// Names added by the user, lowercase, each once.
    extra: Vec<String>,
}

/// A piece of a URL given in parts, as templates and the bytecode hold one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPiece<'a> {
    /// Fixed text.
    Text(&'a str),
    /// A value filled in at run time, shown as written (`${token}`).
    Var(&'a str),
}

impl Redact {
    /// The built-in rule plus `extra` names (headers or query keys, any case).
    pub fn new<S: AsRef<str>>(extra: impl IntoIterator<Item = S>) -> Redact {
        let mut names: Vec<String> = extra
            .into_iter()
            .map(|n| n.as_ref().trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        names.sort();
        names.dedup();
        Redact { extra: names }
    }

    /// The names the user added, lowercase and sorted.
    pub fn extra(&self) -> &[String] {
        &self.extra
    }

    /// Whether a header's value is a secret.
    pub fn is_secret_header(&self, name: &[u8]) -> bool {
        self.listed(SECRET_HEADERS, name)
    }

    /// Whether a query parameter's value is a secret: its key is a secret query
    /// key, or a secret header's name (`?x-api-key=…`, `?authorization=…`).
    pub fn is_secret_key(&self, key: &[u8]) -> bool {
        self.listed(SECRET_QUERY_KEYS, key) || self.listed(SECRET_HEADERS, key)
    }

    fn listed(&self, builtin: &[&str], name: &[u8]) -> bool {
        builtin
            .iter()
            .any(|s| s.as_bytes().eq_ignore_ascii_case(name))
            || self
                .extra
                .iter()
                .any(|s| s.as_bytes().eq_ignore_ascii_case(name))
    }

    /// A URL (or a path and query) with its userinfo password and its secret query
    /// values hidden; `${…}` references in it stay.
    pub fn url(&self, url: &str) -> String {
        let (head, rest) = match url.find("://") {
            Some(i) => {
                let end = url[i + 3..]
                    .find(['/', '?', '#'])
                    .map_or(url.len(), |j| i + 3 + j);
                (self.text(&url[..end]), &url[end..])
            }
            None => (String::new(), url),
        };
        let mut pieces = Vec::new();
        let mut at = 0;
        for r in var_ranges(rest) {
            if r.start > at {
                pieces.push(UrlPiece::Text(&rest[at..r.start]));
            }
            pieces.push(UrlPiece::Var(&rest[r.clone()]));
            at = r.end;
        }
        if at < rest.len() || pieces.is_empty() {
            pieces.push(UrlPiece::Text(&rest[at..]));
        }
        head + &self.url_pieces(&pieces).concat()
    }

    /// A path and query given in pieces, each as it prints once redacted: the
    /// fixed text of a secret query value is hidden, run-time values are shown as
    /// given. One output per piece, so a printer that keeps the pieces apart (the
    /// bytecode's constant pool) can tell which of them held a secret.
    pub fn url_pieces<'a>(&self, pieces: &[UrlPiece<'a>]) -> Vec<Cow<'a, str>> {
        self.pieces(pieces, State::Path)
    }

    /// [`Redact::url_pieces`] for a query without its `?`: a form body
    /// (`user=a&password=b`), whose secret values are hidden as a URL's are.
    pub fn form_pieces<'a>(&self, pieces: &[UrlPiece<'a>]) -> Vec<Cow<'a, str>> {
        self.pieces(pieces, State::Key)
    }

    fn pieces<'a>(&self, pieces: &[UrlPiece<'a>], start: State) -> Vec<Cow<'a, str>> {
        let mut state = start;
        // The key being read; `None` once a run-time value made it unknowable.
        let mut key: Option<String> = Some(String::new());
        let mut out = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let text = match *piece {
                UrlPiece::Var(v) => {
                    if state == State::Key {
                        key = None;
                    }
                    out.push(Cow::Borrowed(v));
                    continue;
                }
                UrlPiece::Text(t) => t,
            };
            // A copy only once something in the piece is hidden (most have nothing).
            let mut shown: Option<String> = None;
            let mut hiding = false;
            for (i, c) in text.char_indices() {
                match (&state, c) {
                    (State::Fragment, _) => {}
                    (_, '#') => state = State::Fragment,
                    (State::Path, '?') | (State::Key | State::Value { .. }, '&') => {
                        state = State::Key;
                        key = Some(String::new());
                    }
                    (State::Key, '=') => {
                        let secret = key
                            .as_deref()
                            .is_some_and(|k| self.is_secret_key(k.as_bytes()));
                        state = State::Value { secret };
                    }
                    (State::Key, c) => {
                        if let Some(k) = &mut key {
                            k.push(c);
                        }
                    }
                    (State::Value { secret: true }, _) => {
                        let shown = shown.get_or_insert_with(|| text[..i].to_owned());
                        if !hiding {
                            shown.push_str(REDACTED);
                            hiding = true;
                        }
                        continue;
                    }
                    _ => {}
                }
                hiding = false;
                if let Some(shown) = &mut shown {
                    shown.push(c);
                }
            }
            out.push(shown.map_or(Cow::Borrowed(text), Cow::Owned));
        }
        out
    }

    /// Free text (a source file, a flag, a message) with every secret the rule
    /// recognises in it hidden: URL passwords and secret query values wherever they
    /// appear, and the values of secret headers written as `Name: value` (a flag,
    /// an HTTP head), `"Name" = "value"` (TOML) or `"name": "Name", "value": "…"`
    /// (HAR).
    pub fn text(&self, text: &str) -> String {
        self.text_mapped(text).text
    }

    /// The secrets `text` holds, as written: what [`Redact::text`] hides of it, but
    /// for values shorter than [`MIN_ECHOED`].
    pub fn secrets(&self, text: &str) -> Vec<String> {
        let mut found: Vec<String> = self
            .text_mapped(text)
            .edits
            .iter()
            .map(|(r, _)| text[r.clone()].to_owned())
            .filter(|s| s.chars().count() >= MIN_ECHOED)
            .collect();
        found.sort();
        found.dedup();
        found
    }

    /// [`Redact::text`], and every occurrence of one of `secrets` hidden too,
    /// wherever it is: a server's echo of what a request sent (its JSON string
    /// holding the request's body, where no key names the value).
    pub fn text_and(&self, text: &str, secrets: &[String]) -> String {
        let mut out = self.text(text);
        for secret in secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// [`Redact::text`], with a map from offsets in `text` to offsets in the result,
    /// so that a diagnostic's underline still points at what it pointed at.
    pub fn text_mapped(&self, text: &str) -> Redacted {
        let mut hidden = Vec::new();
        userinfo_ranges(text, &mut hidden);
        self.query_ranges(text, &mut hidden);
        self.header_ranges(text, &mut hidden);
        self.quoted_key_ranges(text, &mut hidden);
        hide_ranges(text, hidden)
    }

    /// String values of quoted keys named as secret query keys: `"api_key": "…"`
    /// (JSON, such as a body that echoes a request) or `"token" = "…"` (TOML).
    fn quoted_key_ranges(&self, text: &str, hidden: &mut Vec<Range<usize>>) {
        let lower = text.to_ascii_lowercase();
        let b = text.as_bytes();
        let names = SECRET_QUERY_KEYS
            .iter()
            .copied()
            .chain(self.extra.iter().map(String::as_str));
        for name in names {
            for (start, _) in lower.match_indices(name) {
                let end = start + name.len();
                let quoted = start > 0
                    && matches!(b[start - 1], b'"' | b'\'')
                    && b.get(end) == Some(&b[start - 1]);
                if !quoted {
                    continue;
                }
                let Some(r) = header_value(text, start, end) else {
                    continue;
                };
                if r.start > 0 && matches!(b[r.start - 1], b'"' | b'\'') {
                    hidden.push(r);
                }
            }
        }
    }

    /// Secret query values in free text: `?key=value` or `&key=value`, the value
    /// ending at `&`, `#`, white space or a quote.
    fn query_ranges(&self, text: &str, hidden: &mut Vec<Range<usize>>) {
        let b = text.as_bytes();
        for (i, _) in text.match_indices(['?', '&']) {
            let key_end = (i + 1..b.len())
                .find(|&j| b[j] == b'=' || ends_value(b[j]) || b[j] == b'?')
                .unwrap_or(b.len());
            if key_end == b.len() || b[key_end] != b'=' {
                continue;
            }
            if !self.is_secret_key(&b[i + 1..key_end]) {
                continue;
            }
            let end = value_end(text, key_end + 1);
            hidden.push(key_end + 1..end);
        }
    }

    /// Values of secret headers in free text (see [`Redact::text`]).
    fn header_ranges(&self, text: &str, hidden: &mut Vec<Range<usize>>) {
        let lower = text.to_ascii_lowercase();
        let b = text.as_bytes();
        let names = SECRET_HEADERS
            .iter()
            .copied()
            .chain(self.extra.iter().map(String::as_str));
        for name in names {
            for (start, _) in lower.match_indices(name) {
                let end = start + name.len();
                let word = |j: usize| b[j].is_ascii_alphanumeric() || b"-_".contains(&b[j]);
                if (start > 0 && word(start - 1)) || (end < b.len() && word(end)) {
                    continue;
                }
                // A query's key (`?cookie=…`, `&authorization=…`) is not a header:
                // the query's own rule judges it, as it does in a URL.
                if start > 0 && matches!(b[start - 1], b'?' | b'&') {
                    continue;
                }
                if let Some(r) = header_value(text, start, end) {
                    hidden.push(r);
                }
            }
        }
    }
}

/// Where a URL redactor is.
#[derive(PartialEq)]
enum State {
    Path,
    Key,
    Value { secret: bool },
    Fragment,
}

/// Text with parts hidden, and where its offsets moved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every hidden part replaced by [`REDACTED`].
    pub text: String,
    /// Each replaced range of the original, and the length of its replacement, in
    /// order.
    edits: Vec<(Range<usize>, usize)>,
}

impl Redacted {
    /// Where offset `at` of the original text is in the redacted text: shifted by
    /// the replacements before it; inside a replaced range, the replacement's start.
    pub fn offset(&self, at: usize) -> usize {
        let mut shift: isize = 0;
        for (range, len) in &self.edits {
            if at < range.start {
                break;
            }
            if at < range.end {
                return (range.start as isize + shift) as usize;
            }
            shift += *len as isize - range.len() as isize;
        }
        (at as isize + shift) as usize
    }

    /// Where the range `span` of the original text is in the redacted text: a range
    /// that starts or ends inside a replaced part takes in the whole replacement.
    pub fn span(&self, span: Range<usize>) -> Range<usize> {
        let start = self.offset(span.start);
        let mut end = self.offset(span.end);
        for (range, len) in &self.edits {
            if range.start < span.end && span.end < range.end {
                end = self.offset(range.start) + len;
            }
        }
        start..end.max(start)
    }
}

/// The `${…}` references in `text`, in order.
fn var_ranges(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("${").map(|i| from + i) {
        // `$${` is an escaped `${`, not a reference.
        if i > 0 && text.as_bytes()[i - 1] == b'$' {
            from = i + 2;
            continue;
        }
        match text[i..].find('}') {
            Some(j) => {
                out.push(i..i + j + 1);
                from = i + j + 1;
            }
            None => break,
        }
    }
    out
}

/// Replace the fixed text in each of `ranges` (`${…}` references kept) by
/// [`REDACTED`].
fn hide_ranges(text: &str, mut ranges: Vec<Range<usize>>) -> Redacted {
    ranges.retain(|r| !r.is_empty());
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::new();
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    // The fixed runs of each range: the parts between its references.
    let vars = var_ranges(text);
    let mut runs = Vec::new();
    for r in merged {
        let mut at = r.start;
        for v in vars.iter().filter(|v| v.end > r.start && v.start < r.end) {
            if v.start > at {
                runs.push(at..v.start);
            }
            at = at.max(v.end);
        }
        if at < r.end {
            runs.push(at..r.end);
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut edits = Vec::with_capacity(runs.len());
    let mut at = 0;
    for run in runs {
        out.push_str(&text[at..run.start]);
        out.push_str(REDACTED);
        at = run.end;
        edits.push((run, REDACTED.len()));
    }
    out.push_str(&text[at..]);
    Redacted { text: out, edits }
}

/// Whether `b` ends a value in free text.
fn ends_value(b: u8) -> bool {
    b.is_ascii_whitespace() || b"&#\"'`<>".contains(&b)
}

/// Where a query value starting at `from` ends: `&`, `#`, white space or a quote,
/// reading over `${…}` references whole.
fn value_end(text: &str, from: usize) -> usize {
    let b = text.as_bytes();
    let mut j = from;
    while j < b.len() && !ends_value(b[j]) {
        // Bytes, not `str` slicing: `j` may be inside a multi-byte character.
        if b[j..].starts_with(b"${")
            && let Some(k) = b[j..].iter().position(|&c| c == b'}')
        {
            j += k + 1;
            continue;
        }
        j += 1;
    }
    j
}

/// Passwords in `scheme://user:password@host`.
fn userinfo_ranges(text: &str, hidden: &mut Vec<Range<usize>>) {
    let b = text.as_bytes();
    for (i, _) in text.match_indices("://") {
        let from = i + 3;
        // The last `@` of the authority ends the userinfo (a password may hold one).
        let Some(at) = (from..b.len())
            .take_while(|&j| !ends_value(b[j]) && !b"/?".contains(&b[j]))
            .filter(|&j| b[j] == b'@')
            .last()
        else {
            continue;
        };
        if let Some(colon) = text[from..at].find(':') {
            hidden.push(from + colon + 1..at);
        }
    }
}

/// The value after a secret header's name at `start..end` in free text, if it is
/// written as one: `Name: value`, `"Name" = "value"`, `"name": "Name", "value":
/// "value"`.
fn header_value(text: &str, start: usize, end: usize) -> Option<Range<usize>> {
    let b = text.as_bytes();
    let skip = |mut j: usize| {
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        j
    };
    let open = (start > 0 && matches!(b[start - 1], b'"' | b'\'')).then(|| b[start - 1]);
    let mut p = end;
    let closed = open.is_some_and(|q| p < b.len() && b[p] == q);
    if closed {
        p += 1;
    }
    p = skip(p);
    match b.get(p) {
        Some(b':' | b'=') => p = skip(p + 1),
        // HAR: `"name": "Authorization", "value": "…"`.
        Some(b',') if closed => {
            let rest = &text[skip(p + 1)..];
            let key = rest.strip_prefix("\"value\"")?;
            let q = skip(text.len() - key.len());
            if b.get(q) != Some(&b':') {
                return None;
            }
            return string_contents(text, skip(q + 1));
        }
        _ => return None,
    }
    if p < b.len() && matches!(b[p], b'"' | b'\'') {
        return string_contents(text, p);
    }
    // Unquoted: to the end of the line, or of the quoted flag it is in.
    let stop = |c: u8| c == b'\n' || c == b'\r' || (open.is_some() && !closed && Some(c) == open);
    let mut e = (p..b.len()).find(|&j| stop(b[j])).unwrap_or(b.len());
    while e > p && b[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    Some(p..e)
}

/// The contents of the quoted string starting at `p` (`"…"` with escapes, `'…'`,
/// or their triple-quoted forms).
fn string_contents(text: &str, p: usize) -> Option<Range<usize>> {
    let b = text.as_bytes();
    let q = *b.get(p)?;
    if q != b'"' && q != b'\'' {
        return None;
    }
    let triple = [q, q, q];
    if b[p..].starts_with(&triple) {
        let from = p + 3;
        let close = text[from..].find(std::str::from_utf8(&triple).ok()?)?;
        return Some(from..from + close);
    }
    let from = p + 1;
    let mut j = from;
    while j < b.len() && b[j] != q && b[j] != b'\n' {
        if q == b'"' && b[j] == b'\\' {
            j += 1;
        }
        j += 1;
    }
    Some(from..j.min(b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Redact {
        Redact::new(["X-Custom", "  ", "x-custom"])
    }

    /// A request's secrets, hidden wherever a response echoes them: inside a JSON
    /// string, where no key names them. Shorter than `MIN_ECHOED`, only where the
    /// rule finds them.
    #[test]
    fn a_request_s_secrets_are_hidden_where_they_are_echoed() {
        let rule = Redact::default();
        let request = "POST /?token=ab HTTP/1.1\r\nauthorization: Bearer t0k3n\r\n\r\n{\"password\":\"pw-s3cr3t\"}";
        let sent = rule.secrets(request);
        assert_eq!(sent, ["Bearer t0k3n", "pw-s3cr3t"]);
        let echo = r#"{"data": "{\"password\":\"pw-s3cr3t\"}", "ab": "Bearer t0k3n"}"#;
        assert_eq!(
            rule.text_and(echo, &sent),
            r#"{"data": "{\"password\":\"<redacted>\"}", "ab": "<redacted>"}"#
        );
        assert_eq!(rule.text_and("plain", &sent), "plain");
    }

    /// Found by fuzzing: a secret query value followed by a multi-byte character (a
    /// byte-order mark in a recording) was sliced inside the character.
    #[test]
    fn values_with_multi_byte_characters_are_hidden_whole() {
        let rule = Redact::default();
        let text = "https://h/?api_key=abc\u{feff}def&x=1 and ${T}";
        assert_eq!(
            rule.text(text),
            "https://h/?api_key=<redacted>&x=1 and ${T}"
        );
        // A reference stays visible (a diagnostic may be about it); the literal
        // text around it is hidden.
        let text = "?token=é${A}é";
        assert_eq!(rule.text(text), "?token=<redacted>${A}<redacted>");
    }

    #[test]
    fn names_are_built_in_or_added_and_compared_without_case() {
        let r = rule();
        assert_eq!(r.extra(), ["x-custom"]);
        for name in SECRET_HEADERS {
            assert!(
                r.is_secret_header(name.to_ascii_uppercase().as_bytes()),
                "{name}"
            );
        }
        for key in SECRET_QUERY_KEYS {
            assert!(r.is_secret_key(key.as_bytes()), "{key}");
        }
        assert!(r.is_secret_header(b"X-CUSTOM") && r.is_secret_key(b"X-Custom"));
        assert!(!r.is_secret_header(b"accept") && !r.is_secret_key(b"page"));
        assert!(!Redact::default().is_secret_header(b"x-custom"));
    }

    #[test]
    fn urls_lose_passwords_and_secret_query_values() {
        let r = rule();
        assert_eq!(
            r.url("https://user:p@ss@h:8443/x?token=abc&a=1&Api_Key=k#frag?token=f"),
            "https://user:<redacted>@h:8443/x?token=<redacted>&a=1&Api_Key=<redacted>#frag?token=f"
        );
        assert_eq!(r.url("/plain?page=2&q=token"), "/plain?page=2&q=token");
        assert_eq!(
            r.url("/a?key=${K}&sig=a${VU}b"),
            "/a?key=${K}&sig=<redacted>${VU}<redacted>"
        );
        assert_eq!(r.url("http://user@h/"), "http://user@h/");
        assert_eq!(r.url("/a?token"), "/a?token");
    }

    #[test]
    fn url_pieces_carry_the_query_state_across_pieces() {
        let r = rule();
        let out = r.url_pieces(&[
            UrlPiece::Text("/x?a=1&token=ab"),
            UrlPiece::Var("${v0}"),
            UrlPiece::Text("cd&b="),
            UrlPiece::Var("${v1}"),
            UrlPiece::Text("&"),
            UrlPiece::Var("${k}"),
            UrlPiece::Text("=z"),
        ]);
        assert_eq!(
            out,
            [
                "/x?a=1&token=<redacted>",
                "${v0}",
                "<redacted>&b=",
                "${v1}",
                "&",
                "${k}",
                "=z"
            ]
        );
        assert!(
            matches!(out[4], Cow::Borrowed(_)),
            "unchanged pieces are borrowed"
        );
    }

    #[test]
    fn form_bodies_are_read_as_queries() {
        let r = rule();
        let out = r.form_pieces(&[
            UrlPiece::Text("user=alice&password=s3cret&csrf="),
            UrlPiece::Var("${csrf}"),
        ]);
        assert_eq!(out.concat(), "user=alice&password=<redacted>&csrf=${csrf}");
        assert_eq!(
            r.form_pieces(&[UrlPiece::Text("{\"a\": 1}")]).concat(),
            "{\"a\": 1}"
        );
    }

    #[test]
    fn free_text_hides_headers_in_each_way_they_are_written() {
        let r = rule();
        let cases = [
            (
                "--header \"Authorization: Bearer SECRET123${NOPE}\"",
                "--header \"Authorization: <redacted>${NOPE}\"",
            ),
            (
                "Authorization: Bearer SECRET123${NOPE}",
                "Authorization: <redacted>${NOPE}",
            ),
            (
                "headers = { \"X-Api-Key\" = \"k1\", 'cookie' = 's=1', accept = \"*/*\" }",
                "headers = { \"X-Api-Key\" = \"<redacted>\", 'cookie' = '<redacted>', accept = \"*/*\" }",
            ),
            (
                "x-custom = \"\"\"a\nb\"\"\"\n",
                "x-custom = \"\"\"<redacted>\"\"\"\n",
            ),
            (
                "{\"name\": \"Authorization\", \"value\": \"Bearer a\\\"b\"}",
                "{\"name\": \"Authorization\", \"value\": \"<redacted>\"}",
            ),
            (
                "x-api-key: k\r\nAccept: x\r\n",
                "x-api-key: <redacted>\r\nAccept: x\r\n",
            ),
            // Not a header: part of a longer name, or no value.
            (
                "cookie_jar = true\nmy-cookie: 1\nauthorization",
                "cookie_jar = true\nmy-cookie: 1\nauthorization",
            ),
            (
                "url = \"http://u:pw@h/a?token=t1&x=1\"",
                "url = \"http://u:<redacted>@h/a?token=<redacted>&x=1\"",
            ),
            // A query's key named as a header is judged as a query's key, as in the
            // URL (a secret header's name is a secret key): the request line (`-v`)
            // keeps the rest of itself.
            (
                "> GET /a?cookie=c&Authorization=S2&page=3&token=t&b=2 HTTP/1.1",
                "> GET /a?cookie=<redacted>&Authorization=<redacted>&page=3&token=<redacted>&b=2 HTTP/1.1",
            ),
            // A quoted key named as a secret query key, with a string value (an
            // echoed query in a JSON body); other values and keys stay.
            (
                "{\"args\": {\"api_key\": \"k3y\", \"page\": \"2\"}, \"token\": 7, \"keys\": \"x\"}",
                "{\"args\": {\"api_key\": \"<redacted>\", \"page\": \"2\"}, \"token\": 7, \"keys\": \"x\"}",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(r.text(text), want, "{text:?}");
        }
    }

    #[test]
    fn offsets_map_around_replacements() {
        let r = rule();
        let text = "Authorization: Bearer SECRET123${NOPE}";
        let red = r.text_mapped(text);
        assert_eq!(red.text, "Authorization: <redacted>${NOPE}");
        let at = text.find("${NOPE}").unwrap();
        assert_eq!(&red.text[red.offset(at)..], "${NOPE}");
        assert_eq!(red.offset(3), 3);
        assert_eq!(red.offset(text.find("SECRET").unwrap()), 15);
        assert_eq!(red.offset(text.len()), red.text.len());
        // A span over part of the secret covers the whole replacement.
        let secret = text.find("SECRET").unwrap();
        assert_eq!(&red.text[red.span(secret..secret + 3)], REDACTED);
        assert_eq!(&red.text[red.span(at..text.len())], "${NOPE}");
    }
}
