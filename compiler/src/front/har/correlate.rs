//! Correlation: values one response produced that later requests send back.
//!
//! A recording replayed as is sends yesterday's session token, CSRF token and order
//! ids; the server rejects them or, worse, every VU works on the same order. Here
//! each such value becomes an extractor on the step whose response first produced
//! it, and every later occurrence becomes `${var}`, or `${URLENCODE(var)}` where the
//! request sent it percent-encoded (a base64 token in a form body or a query string):
//!
//! ```text
//!  response i ──candidates──► (value, extractor spec, key)     JSON leaves, hidden
//!                                   │                           inputs, meta tags,
//!                                   │                           token-like headers
//!     ├─ sent by request ≤ i, as is or encoded? ──► the client knew it: skip
//!     ├─ sent by a request > i, as is or encoded? ──► no: nothing to correlate
//!     └─ does the spec, run by the VM's own extractor on the recorded response,
//!        give the value back? ──► yes: extract on step i, `${var}` (as is) or
//!                                 `${URLENCODE(var)}` (encoded) in steps > i
//! ```
//!
//! False positives cost more than misses (a wrong `${var}` breaks a request that
//! worked), so a value must look like an identifier or token (long enough, no
//! spaces, not `true`), match as a whole token, and be absent from every earlier
//! request. Headers the browser sets on its own (`accept`, `user-agent`, …) are
//! never rewritten.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write;

use kaioken_vm::{CompiledExtractor, ResponseView, SlotId};
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
#[derive(Debug, Clone, Default)]
struct Candidate {
    value: String,
    spec: String,
    /// Where the variable's name comes from: a JSON key, a form field, a header.
    key: String,
}

/// Find the correlated values of `steps`, add their extractors and replace later
/// occurrences with `${var}` (or `${URLENCODE(var)}` where sent percent-encoded).
/// `sent[i]` is everything request `i` carried as recorded (URL, every header value,
/// body), cookies included.
///
/// `base` is the origin whose steps' URLs are written relative to `[target] url`.
pub(crate) fn correlate(
    steps: &mut [RecordedStep],
    sent: &[Vec<String>],
    base: Option<&str>,
) -> Vec<Correlation> {
    let found = find(steps, sent, base);

    // Longest texts first, so that a value inside another is only replaced where the
    // longer one is not. Placeholder names until we know which are used.
    let mut order: Vec<(usize, &Form)> = found
        .iter()
        .enumerate()
        .flat_map(|(k, f)| f.forms.iter().map(move |form| (k, form)))
        .collect();
    order.sort_by_key(|(_, form)| std::cmp::Reverse(form.text.len()));
    let mut used_by: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); found.len()];
    let mut encoded_by: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); found.len()];
    for (k, form) in order {
        let placeholder = format!("\u{0}{k}");
        let seg = if form.encoded {
            Seg::Encoded(placeholder)
        } else {
            Seg::Var(placeholder)
        };
        for &j in &found[k].later {
            let mut n = 0;
            let start = path_start(steps, base, found[k].from, j);
            for (text, min, form_body) in targets_mut(&mut steps[j], start) {
                if form_body || !form.form_body_only {
                    n += text.replace(&form.text, &seg, min);
                }
            }
            if n > 0 {
                used_by[k].insert(j);
                if form.encoded {
                    encoded_by[k].insert(j);
                }
            }
        }
    }

    // Readable, unique names, in the order the values were found.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut next_suffix: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (k, f) in found.iter().enumerate() {
        if used_by[k].is_empty() {
            continue;
        }
        let (from, c) = (&f.from, &f.candidate);
        let base = var_name(&c.key);
        let mut var = base.clone();
        // Where to go on counting for this base: a recording with thousands of
        // `token`s would otherwise try `token_2` onwards for each.
        let n = next_suffix.entry(base.clone()).or_insert(2);
        while !taken.insert(var.clone()) {
            var = format!("{base}_{n}");
            *n += 1;
        }
        names.insert(format!("\u{0}{k}"), var.clone());
        steps[*from].extracts.push((var.clone(), c.spec.clone()));
        out.push(Correlation {
            var,
            spec: c.spec.clone(),
            from: *from,
            used_by: used_by[k].iter().copied().collect(),
            encoded_by: encoded_by[k].iter().copied().collect(),
        });
    }
    for step in steps.iter_mut() {
        for (text, _, _) in targets_mut(step, 0) {
            for name in text.segs.iter_mut().filter_map(Seg::var_mut) {
                if let Some(real) = names.get(name.as_str()) {
                    *name = real.clone();
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
    /// How a request may write it: [`forms`] of the value.
    forms: Vec<Form>,
}

/// One way a request may write a value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Form {
    text: String,
    /// Percent-encoded: sent back as `${URLENCODE(var)}`, which a server decodes to
    /// the same value.
    encoded: bool,
    /// Only in an `application/x-www-form-urlencoded` body (`+` for a space).
    form_body_only: bool,
}

/// The ways a request may write `value`: as is, then percent-encoded as
/// `${URLENCODE(…)}` does (RFC 3986: all but letters, digits and `-._~` as `%XX`) and
/// as HTML forms do (also `*` as is, `~` as `%7E`, and in a form body a space as `+`),
/// each with uppercase and lowercase hex. Each text once, the value's own first.
fn forms(value: &str) -> Vec<Form> {
    let mut out = vec![Form {
        text: value.to_owned(),
        encoded: false,
        form_body_only: false,
    }];
    // Letters, digits and `-._` are kept by every encoding: most values (ids,
    // hex and alphanumeric tokens) have no other form.
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return out;
    }
    for (html, plus) in [(false, false), (true, false), (true, true)] {
        for upper in [true, false] {
            let text = percent_encode(value, html, plus, upper);
            if !out.iter().any(|f| f.text == text) {
                out.push(Form {
                    text,
                    encoded: true,
                    form_body_only: plus,
                });
            }
        }
    }
    out
}

/// `value` percent-encoded byte by byte: RFC 3986 keeps letters, digits and `-._~`;
/// `html` (the WHATWG form serializer) keeps letters, digits and `*-._`, and writes a
/// space as `+` when `plus`.
fn percent_encode(value: &str, html: bool, plus: bool, upper: bool) -> String {
    let hex: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_')
            || (if html { b == b'*' } else { b == b'~' });
        if keep {
            out.push(char::from(b));
        } else if plus && b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(hex[usize::from(b >> 4)]));
            out.push(char::from(hex[usize::from(b & 15)]));
        }
    }
    out
}

/// The values to correlate, in the order found.
///
/// A text is matched as a whole token, so wherever one occurs, its first run of
/// letters and digits is a run of the request's text too: one at the text's start
/// cannot be glued to a letter or digit before it, and one inside is bounded by the
/// text's own other characters (`2Fabc` in `%2Fabc%3D`). Indexing those runs once
/// (the first request that sent each, the last that may send it back) rules out
/// almost every candidate without a search; a recording of a few hundred entries with
/// JSON responses has tens of thousands of candidates, and searching every later
/// request for each took minutes. Each form of a value ([`forms`]) is looked up by
/// its own run: an encoded value's first run differs from the value's when it starts
/// with a character that is encoded (`/abc` is `%2Fabc`) or one that is not ASCII.
fn find(steps: &[RecordedStep], sent: &[Vec<String>], base: Option<&str>) -> Vec<Found> {
    // Each response's values (its JSON parsed, its leaves named) are found on a
    // second thread, ahead of the loop that judges them. They are passed on a batch
    // of responses at a time (a few hundred at most wait), so the threads rarely
    // have to wake each other. Judged batches go back to the helper to be freed:
    // freeing its strings here while it allocates more would contend for its malloc
    // arena (thousands of waits with glibc's malloc; see har.rs's module docs).
    const BATCH: usize = 64;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<Candidate>>>(4);
        let (spent, judged) = std::sync::mpsc::channel::<Vec<Vec<Candidate>>>();
        let helper = s.spawn(move || {
            for batch in steps.chunks(BATCH) {
                let found = batch.iter().map(|step| candidates(&step.response));
                if tx.send(found.collect()).is_err() {
                    break;
                }
                judged.try_iter().for_each(drop);
            }
            // The judging ends once this side is closed; its last batches come back
            // until then.
            drop(tx);
            judged.iter().for_each(drop);
        });
        // Judged responses go back a batch at a time, the last with the last
        // response; `spent` moves into the judging, so the helper's last wait ends
        // with it.
        let mut back = Vec::with_capacity(BATCH);
        let mut judged_so_far = 0;
        let found = judge(steps, sent, base, rx.iter().flatten(), move |candidates| {
            back.push(candidates);
            judged_so_far += 1;
            if back.len() == BATCH || judged_so_far == steps.len() {
                let _ = spent.send(std::mem::replace(&mut back, Vec::with_capacity(BATCH)));
            }
        });
        helper
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        found
    })
}

/// Which of each response's `candidates` (in the steps' order) later requests send
/// back, and how. Each response's candidates, their kept values taken, are handed
/// to `spent` once judged.
fn judge(
    steps: &[RecordedStep],
    sent: &[Vec<String>],
    base: Option<&str>,
    candidates: impl Iterator<Item = Vec<Candidate>>,
    mut spent: impl FnMut(Vec<Candidate>),
) -> Vec<Found> {
    // For each word, the requests that sent it, in order.
    let mut sent_in: HashMap<&str, Seen, Fnv> = HashMap::default();
    for (k, texts) in sent.iter().enumerate() {
        for word in texts.iter().flat_map(|t| words(t)) {
            sent_in
                .entry(word)
                .and_modify(|seen| seen.push(k))
                .or_insert(Seen::One(k));
        }
    }
    // For each word, the steps whose rewritable text has it, in order.
    let mut sent_back: HashMap<&str, Seen, Fnv> = HashMap::default();
    for (j, step) in steps.iter().enumerate() {
        for (text, _, _) in targets(step, 0) {
            for word in text.segs.iter().flat_map(|s| match s {
                Seg::Lit(t) => words(t),
                Seg::Var(_) | Seg::Encoded(_) => words(""),
            }) {
                sent_back
                    .entry(word)
                    .and_modify(|seen| seen.push(j))
                    .or_insert(Seen::One(j));
            }
        }
    }

    // Looked up for each of tens of thousands of candidates: hashed, not ordered.
    let mut known: HashSet<String, Fnv> = HashSet::default();
    let mut chosen: HashSet<String, Fnv> = HashSet::default();
    // Values no request after the one that first produced them sends: no later
    // response's copy is sent back either. A list of records repeats its dates and
    // statuses in every response.
    let mut unused: HashSet<String, Fnv> = HashSet::default();
    let mut found = Vec::new();
    let mut extractors = Extractors::default();
    // Each candidate's requests, in order without repeats; reused from one to the next.
    let mut earlier: Vec<usize> = Vec::new();
    let mut later: Vec<usize> = Vec::new();
    for (i, mut candidates) in candidates.enumerate() {
        for c in &mut candidates {
            if chosen.contains(&c.value) || known.contains(&c.value) || unused.contains(&c.value) {
                continue;
            }
            let forms = forms(&c.value);
            // The requests up to this one that may have sent a form already, and the
            // later ones that may send one back.
            earlier.clear();
            later.clear();
            for form in &forms {
                // Texts without a letter or digit are rare: search for them.
                match words(&form.text).next() {
                    Some(w) => {
                        let sent_by = sent_in.get(w).map_or(&[][..], Seen::as_slice);
                        earlier.extend(sent_by.iter().copied().take_while(|&k| k <= i));
                        let back = sent_back.get(w).map_or(&[][..], Seen::as_slice);
                        later.extend(back.iter().copied().filter(|&j| j > i));
                    }
                    None => {
                        earlier.extend(0..=i);
                        later.extend(i + 1..steps.len());
                    }
                }
            }
            if forms.len() > 1 {
                for list in [&mut earlier, &mut later] {
                    list.sort_unstable();
                    list.dedup();
                }
            }
            if earlier.iter().flat_map(|&k| &sent[k]).any(|s| {
                forms
                    .iter()
                    .any(|f| occurrences(s, &f.text).next().is_some())
            }) {
                known.insert(std::mem::take(&mut c.value));
                continue;
            }
            let used_later = later.iter().any(|&j| {
                targets(&steps[j], path_start(steps, base, i, j)).any(|(t, min, form_body)| {
                    forms
                        .iter()
                        .any(|f| (form_body || !f.form_body_only) && t.has_token(&f.text, min))
                })
            });
            if !used_later {
                unused.insert(std::mem::take(&mut c.value));
                continue;
            }
            if extractors.extracts_to(&c.spec, &steps[i].response, &c.value) {
                chosen.insert(c.value.clone());
                found.push(Found {
                    from: i,
                    candidate: std::mem::take(c),
                    later: later.clone(),
                    forms,
                });
            }
        }
        spent(candidates);
    }
    found
}

/// The requests (or steps) a word occurs in, in order. Most words of a recording
/// (ids, tokens) occur in one, which needs no list of its own.
enum Seen {
    One(usize),
    Many(Vec<usize>),
}

impl Seen {
    /// Add `k`, at least the last one added.
    fn push(&mut self, k: usize) {
        match self {
            Seen::One(first) if *first != k => *self = Seen::Many(vec![*first, k]),
            Seen::One(_) => {}
            Seen::Many(list) => {
                if list.last() != Some(&k) {
                    list.push(k);
                }
            }
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Seen::One(k) => std::slice::from_ref(k),
            Seen::Many(list) => list,
        }
    }
}

/// FNV-1a, for the words and values of one recording: hundreds of thousands of
/// short strings, for which SipHash's setup and rounds cost more than the lookups
/// themselves. Its defence against keys chosen to collide is moot for a file the
/// user recorded.
type Fnv = fnv::FnvBuildHasher;

/// The maximal runs of letters and digits in `text`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The texts of a request that may carry a correlated value, each with the first
/// byte where one may start and whether it is an `application/x-www-form-urlencoded`
/// body. In the URL path, that byte is `path_start` ([`path_start`]).
fn targets(step: &RecordedStep, path_start: usize) -> impl Iterator<Item = (&Text, usize, bool)> {
    let form = has_form_body(step);
    std::iter::once((&step.path, path_start, false))
        .chain(
            step.headers
                .iter()
                .filter(|(name, _)| !is_client_header(name))
                .map(|(_, v)| (v, 0, false)),
        )
        .chain(step.body.iter().map(move |b| (b, 0, form)))
}

fn targets_mut(
    step: &mut RecordedStep,
    path_start: usize,
) -> impl Iterator<Item = (&mut Text, usize, bool)> {
    let form = has_form_body(step);
    std::iter::once((&mut step.path, path_start, false))
        .chain(
            step.headers
                .iter_mut()
                .filter(|(name, _)| !is_client_header(name))
                .map(|(_, v)| (v, 0, false)),
        )
        .chain(step.body.iter_mut().map(move |b| (b, 0, form)))
}

/// Where in step `later`'s path a value that step `from`'s response produced may
/// start. A path keeps its leading `/`, except where a relative `Location` (or a
/// JSON link) of that origin is the path's whole start: `/orders/98765abc/items`
/// becomes `${location}/items`, a URL relative to `[target] url` that a VU sends
/// only if the value is a path. So the step must be on the base origin (a URL
/// written in full cannot hold `${…}` in its origin) and on the producer's.
fn path_start(steps: &[RecordedStep], base: Option<&str>, from: usize, later: usize) -> usize {
    let origin = steps[later].origin.as_str();
    usize::from(!(base == Some(origin) && steps[from].origin == origin))
}

/// Whether the step's body is a form (`content-type` is never rewritten, so it is
/// one literal).
fn has_form_body(step: &RecordedStep) -> bool {
    step.headers.iter().any(|(name, value)| {
        name == "content-type"
            && value.segs.iter().any(|s| {
                matches!(s, Seg::Lit(t) if t.trim_start().to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded"))
            })
    })
}

/// The correlator's extractors, each compiled once: the candidates of thousands of
/// responses share a handful of specs (`json:$.token`).
#[derive(Default)]
struct Extractors(HashMap<String, Option<CompiledExtractor>, Fnv>);

impl Extractors {
    /// Whether running `spec` on the recorded response, as a VU would, gives `value`.
    fn extracts_to(&mut self, spec: &str, response: &RecordedResponse, value: &str) -> bool {
        if !self.0.contains_key(spec) {
            self.0.insert(spec.to_owned(), compiled(spec));
        }
        let Some(Some(extractor)) = self.0.get(spec) else {
            return false;
        };
        let mut out = Vec::new();
        extractor.extract(&Recorded(response), &mut out) && out == value.as_bytes()
    }
}

/// `spec` compiled as the VM runs it, unless it does not parse.
fn compiled(spec: &str) -> Option<CompiledExtractor> {
    let extractor = kaioken_grammar::parse_extractor(spec).ok()?;
    // The correlator writes its own specs; none runs a script.
    let kind = crate::compile::builtin_extract_kind(&extractor).ok()?;
    Some(CompiledExtractor {
        var: String::new(),
        slot: SlotId::from_index(0),
        spec: spec.to_owned(),
        kind,
    })
}

/// A recorded response seen the way the VM sees a live one.
struct Recorded<'r>(&'r RecordedResponse);

impl ResponseView for Recorded<'_> {
    fn completed(&self) -> bool {
        true
    }
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
        if (r.mime_type.contains("json") || trimmed.starts_with('{') || trimmed.starts_with('['))
            && let Ok(json) = serde_json::from_str::<Value>(body)
        {
            json_leaves(&json, &mut String::from("$"), ("", ""), &mut out);
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
            // A relative one that names something the server made (an id, a
            // token: `/orders/98765abc`), not a page every session goes to
            // (`/dashboard`), which later paths would otherwise all start with.
            || (lower == "location" && value.starts_with('/') && is_token_like(value));
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
                let _ = write!(path, "[{i}]");
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
    if !matches!(key.as_str(), "id" | "uuid" | "guid") {
        return key;
    }
    let parent = var_name(parent);
    if parent == "value" {
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
    let plain = kaioken_grammar::is_identifier(key);
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
    [
        "true",
        "false",
        "null",
        "undefined",
        "none",
        "ok",
        "success",
    ]
    .iter()
    .any(|w| s.eq_ignore_ascii_case(w))
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
    let mut out = String::with_capacity(key.len() + 2);
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
    // Never one at the start: a `_` is only written after something.
    while out.ends_with('_') {
        out.pop();
    }
    match out.bytes().next() {
        None => "value".to_owned(),
        Some(c) if c.is_ascii_digit() => {
            out.insert_str(0, "v_");
            out
        }
        Some(_) => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step on one origin; its request as recorded is `sent`'s entry.
    fn step(
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
        response: &str,
    ) -> (RecordedStep, Vec<String>) {
        let mut sent = vec![format!("https://app.example{path}")];
        sent.extend(headers.iter().map(|(_, v)| (*v).to_owned()));
        sent.extend(body.map(str::to_owned));
        let step = RecordedStep {
            name: path.to_owned(),
            method: if body.is_some() { "POST" } else { "GET" }.into(),
            origin: "https://app.example".into(),
            path: Text::literal(path),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), Text::literal(*v)))
                .collect(),
            body: body.map(Text::literal),
            extracts: Vec::new(),
            checks: Vec::new(),
            expected_status: None,
            think_time: None,
            response: RecordedResponse {
                status: 200,
                body: Some(response.to_owned()),
                mime_type: "text/html".into(),
                ..RecordedResponse::default()
            },
            spans: Default::default(),
        };
        (step, sent)
    }

    fn run(recorded: Vec<(RecordedStep, Vec<String>)>) -> (Vec<RecordedStep>, Vec<Correlation>) {
        let (mut steps, sent): (Vec<_>, Vec<_>) = recorded.into_iter().unzip();
        let found = correlate(&mut steps, &sent, Some("https://app.example"));
        (steps, found)
    }

    /// `step` answered by a redirect or a `201` to `location`.
    fn located(
        path: &str,
        headers: &[(&str, &str)],
        location: &str,
    ) -> (RecordedStep, Vec<String>) {
        let (mut step, sent) = step(path, headers, None, "");
        step.response.status = 302;
        step.response.headers = vec![("location".into(), location.into())];
        (step, sent)
    }

    /// A relative `Location` names what the server made (`/orders/98765abc`), and a
    /// later path that starts with it, or is it, starts with the value extracted
    /// again: a URL relative to `[target] url`. Not on another origin (its URL is
    /// written in full), and not a page every session is sent to.
    #[test]
    fn relative_locations_start_later_paths() {
        let (steps, found) = run(vec![
            located("/orders", &[], "/orders/98765abc"),
            step("/orders/98765abc", &[], None, ""),
            step(
                "/orders/98765abc/items?x=1",
                &[("x-next", "/orders/98765abc")],
                None,
                "",
            ),
            // Not a whole token: a longer id.
            step("/orders/98765abcd", &[], None, ""),
            // Inside a path, as any value.
            step("/archive/orders/98765abc", &[], None, ""),
        ]);
        assert_eq!(
            found,
            [Correlation {
                var: "location".into(),
                spec: "header:location".into(),
                from: 0,
                used_by: vec![1, 2, 4],
                encoded_by: vec![],
            }]
        );
        let paths: Vec<String> = steps.iter().map(|s| s.path.render()).collect();
        assert_eq!(
            paths,
            [
                "/orders",
                "${location}",
                "${location}/items?x=1",
                "/orders/98765abcd",
                "/archive${location}",
            ]
        );
        assert_eq!(steps[2].headers[0].1.render(), "${location}");

        // A redirect's query (a session id) goes with it.
        let (steps, found) = run(vec![
            located("/start", &[], "/api/next/55667?s=q1w2e3r4t5"),
            step("/api/next/55667?s=q1w2e3r4t5", &[], None, ""),
        ]);
        assert_eq!(found.len(), 1);
        assert_eq!(steps[1].path.render(), "${location}");

        // Pages every session goes to are not values; `/` is too short to be one.
        for page in ["/dashboard", "/", "/account/settings"] {
            let (steps, found) = run(vec![
                located("/login", &[], page),
                step(page, &[], None, ""),
                step(&format!("{page}/x"), &[], None, ""),
            ]);
            assert!(found.is_empty(), "{page}: {found:?}");
            assert_eq!(steps[1].path.render(), page);
        }

        // On another origin, the URL is written in full: its origin cannot be
        // followed by `${…}`.
        let (mut other, sent) = step("/orders/98765abc", &[], None, "");
        other.origin = "https://cdn.example".into();
        let (steps, found) = run(vec![
            located("/orders", &[], "/orders/98765abc"),
            (other, sent),
        ]);
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(steps[1].path.render(), "/orders/98765abc");
    }

    const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

    #[test]
    fn encodings() {
        let texts = |v: &str| -> Vec<(String, bool, bool)> {
            forms(v)
                .into_iter()
                .map(|f| (f.text, f.encoded, f.form_body_only))
                .collect()
        };
        let t = |s: &str, encoded: bool, form: bool| (s.to_owned(), encoded, form);
        assert_eq!(texts("a1b2-c3.d4_e5"), [t("a1b2-c3.d4_e5", false, false)]);
        assert_eq!(
            texts("ab+c/d=="),
            [
                t("ab+c/d==", false, false),
                t("ab%2Bc%2Fd%3D%3D", true, false),
                t("ab%2bc%2fd%3d%3d", true, false),
            ]
        );
        // RFC 3986 keeps `~` and encodes `*`; an HTML form the other way round; only
        // a form body writes a space as `+`.
        assert_eq!(
            texts("x~y* z"),
            [
                t("x~y* z", false, false),
                t("x~y%2A%20z", true, false),
                t("x~y%2a%20z", true, false),
                t("x%7Ey*%20z", true, false),
                t("x%7ey*%20z", true, false),
                t("x%7Ey*+z", true, true),
                t("x%7ey*+z", true, true),
            ]
        );
        assert_eq!(percent_encode("é", false, false, true), "%C3%A9");
    }

    #[test]
    fn values_sent_back_encoded_become_urlencode() {
        const TOKEN: &str = "Zx+9kQ/w8T==";
        let page = format!(r#"<input type="hidden" name="authenticity_token" value="{TOKEN}">"#);
        let (steps, found) = run(vec![
            step("/login", &[], None, &page),
            step(
                "/login",
                &[FORM],
                Some("user=alice&authenticity_token=Zx%2B9kQ%2Fw8T%3D%3D&commit=Sign+in"),
                "",
            ),
            // Lowercase hex, in a query string; as is, in a header.
            step(
                "/search?q=x&t=Zx%2b9kQ%2fw8T%3d%3d",
                &[("x-csrf-token", TOKEN)],
                None,
                "",
            ),
            // Not a whole token: glued to a letter.
            step("/other?t=Zx%2B9kQ%2Fw8T%3D%3Dx", &[], None, ""),
        ]);
        assert_eq!(
            found,
            [Correlation {
                var: "authenticity_token".into(),
                spec: r#"regex:name="authenticity_token"[^>]*?value="([^"]*)""#.into(),
                from: 0,
                used_by: vec![1, 2],
                encoded_by: vec![1, 2],
            }]
        );
        assert_eq!(
            steps[1].body.as_ref().unwrap().render(),
            "user=alice&authenticity_token=${URLENCODE(authenticity_token)}&commit=Sign+in"
        );
        assert_eq!(
            steps[2].path.render(),
            "/search?q=x&t=${URLENCODE(authenticity_token)}"
        );
        assert_eq!(steps[2].headers[0].1.render(), "${authenticity_token}");
        assert_eq!(steps[3].path.render(), "/other?t=Zx%2B9kQ%2Fw8T%3D%3Dx");
    }

    #[test]
    fn values_starting_with_an_encoded_character_are_indexed_by_their_encoding() {
        // `/abc…` is `%2Fabc…` encoded, `é…` is `%C3%A9…`: their first runs of letters
        // and digits are not the value's.
        for (value, encoded) in [
            ("/k9Qz7Lm2Xw", "%2Fk9Qz7Lm2Xw"),
            ("+k9Qz7Lm2Xw", "%2bk9Qz7Lm2Xw"),
            ("ék9Qz7Lm2Xw", "%C3%A9k9Qz7Lm2Xw"),
        ] {
            let page = format!(r#"<meta name="csrf-token" content="{value}">"#);
            let (steps, found) = run(vec![
                step("/", &[], None, &page),
                step(&format!("/a?t={encoded}&n=1"), &[], None, ""),
            ]);
            assert_eq!(found.len(), 1, "{value}");
            assert_eq!(found[0].encoded_by, [1], "{value}");
            assert_eq!(
                steps[1].path.render(),
                "/a?t=${URLENCODE(csrf_token)}&n=1",
                "{value}"
            );
        }
    }

    #[test]
    fn values_the_client_sent_encoded_are_not_session_state() {
        const TOKEN: &str = "Zx+9kQ/w8T==";
        let page = format!(r#"<input type="hidden" name="state" value="{TOKEN}">"#);
        // The client sent it encoded in its own request, and the page echoes it back.
        let (steps, found) = run(vec![
            step("/callback?state=Zx%2B9kQ%2Fw8T%3D%3D", &[], None, &page),
            step("/next?state=Zx%2B9kQ%2Fw8T%3D%3D", &[], None, ""),
        ]);
        assert_eq!(found, []);
        assert_eq!(steps[1].path.render(), "/next?state=Zx%2B9kQ%2Fw8T%3D%3D");
        // Lowercase hex, in a form body sent before the page.
        let (_, found) = run(vec![
            step("/start", &[FORM], Some("state=Zx%2b9kQ%2fw8T%3d%3d"), ""),
            step("/callback", &[], None, &page),
            step("/next?state=Zx%2B9kQ%2Fw8T%3D%3D", &[], None, ""),
        ]);
        assert_eq!(found, []);
    }

    #[test]
    fn a_plus_for_a_space_only_in_a_form_body() {
        // Not a value correlation finds today (candidates have no spaces), but the
        // form is there: `+` is a space in a form body only.
        let value = "k9Qz 7Lm2Xw";
        let f = forms(value);
        let plus: Vec<&Form> = f.iter().filter(|f| f.form_body_only).collect();
        assert_eq!(plus.len(), 1);
        assert_eq!(plus[0].text, "k9Qz+7Lm2Xw");
        let (steps, _) = run(vec![
            step("/a?t=k9Qz+7Lm2Xw", &[], None, ""),
            step("/b", &[FORM], Some("t=k9Qz+7Lm2Xw"), ""),
            step("/c", &[], Some("t=k9Qz+7Lm2Xw"), ""),
        ]);
        let found_in = |step: &RecordedStep| {
            targets(step, 1).any(|(t, min, form_body)| {
                f.iter()
                    .any(|f| (form_body || !f.form_body_only) && t.has_token(&f.text, min))
            })
        };
        assert!(!found_in(&steps[0]));
        assert!(found_in(&steps[1]));
        assert!(!found_in(&steps[2]));
        assert!(has_form_body(&steps[1]) && !has_form_body(&steps[2]));
    }

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
            assert!(
                Extractors::default().extracts_to(&c.spec, &response, &c.value),
                "{c:?}"
            );
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
            assert!(
                Extractors::default().extracts_to(&c.spec, &response, &c.value),
                "{c:?}"
            );
        }
    }
}
