//! A string for a schema's `pattern`: the pattern parsed with `regex-syntax` and walked
//! once, taking the first alternative, the fewest repetitions and a plain character
//! of each class (`a`, `A`, `0`, … when the class has one), so the same pattern always
//! gives the same short, readable string. The result is checked with `regex` (JSON
//! Schema's patterns are unanchored searches) and against the length bounds; a pattern
//! Rust's syntax does not read (ECMA-262's lookarounds and backreferences) or that
//! nothing generated matches gives `None`, and the importer a placeholder.
//!
//! Part of the OpenAPI importer's value generation ([`super::schema`]).

use regex_syntax::hir::{Class, Hir, HirKind};

/// The most repetitions added beyond a repetition's minimum to reach `minLength`.
const MAX_EXTRA: u32 = 64;

/// The longest string generated: nested repetitions multiply, and a value this long
/// is no parameter anyone sends.
const MAX_BYTES: usize = 16 * 1024;

/// A string that `pattern` matches, of `min..=max` characters, or `None`.
pub(super) fn generate(pattern: &str, min: usize, max: Option<usize>) -> Option<String> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let re = regex::Regex::new(pattern).ok()?;
    let fits = |s: &str| {
        let n = s.chars().count();
        n >= min && max.is_none_or(|m| n <= m) && re.is_match(s)
    };
    let mut shortest = None;
    for extra in 0..=MAX_EXTRA {
        let mut out = String::new();
        if !emit(&hir, extra, &mut out) {
            return None;
        }
        if fits(&out) {
            return Some(out);
        }
        if shortest.is_none() {
            shortest = Some(out.clone());
        }
        // More repetitions only lengthen the string: stop when that cannot help.
        if out.chars().count() >= min || extra > 0 && shortest.as_deref() == Some(&out) {
            break;
        }
    }
    // An unanchored pattern still matches once the string is padded.
    let mut padded = shortest?;
    while padded.chars().count() < min {
        padded.push('x');
    }
    fits(&padded).then_some(padded)
}

/// Write the string for `hir`, each repetition `extra` times beyond its minimum (as
/// its maximum allows); false when a part has nothing to write (an empty class).
fn emit(hir: &Hir, extra: u32, out: &mut String) -> bool {
    if out.len() > MAX_BYTES {
        return false;
    }
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
            Ok(s) => {
                out.push_str(s);
                true
            }
            Err(_) => false,
        },
        HirKind::Class(class) => match pick(class) {
            Some(c) => {
                out.push(c);
                true
            }
            None => false,
        },
        HirKind::Repetition(rep) => {
            let n = rep.min.saturating_add(extra);
            let n = rep.max.map_or(n, |m| n.min(m));
            (0..n).all(|_| emit(&rep.sub, extra, out))
        }
        HirKind::Capture(cap) => emit(&cap.sub, extra, out),
        HirKind::Concat(parts) => parts.iter().all(|p| emit(p, extra, out)),
        HirKind::Alternation(alts) => alts.iter().any(|a| {
            let at = out.len();
            let ok = emit(a, extra, out);
            if !ok {
                out.truncate(at);
            }
            ok
        }),
    }
}

/// A plain character of the class: a letter or digit when it has one, else printable
/// ASCII, else its first.
fn pick(class: &Class) -> Option<char> {
    let has = |c: char| match class {
        Class::Unicode(u) => u.ranges().iter().any(|r| r.start() <= c && c <= r.end()),
        Class::Bytes(b) => {
            c.is_ascii()
                && b.ranges()
                    .iter()
                    .any(|r| r.start() <= c as u8 && c as u8 <= r.end())
        }
    };
    let preferred = ['a', 'A', '0', '-', '_', '.', ' '];
    if let Some(c) = preferred.into_iter().find(|c| has(*c)) {
        return Some(c);
    }
    if let Some(c) = ('!'..='~').find(|c| has(*c)) {
        return Some(c);
    }
    match class {
        Class::Unicode(u) => u.ranges().first().map(|r| r.start()),
        Class::Bytes(b) => b
            .ranges()
            .first()
            .map(|r| r.start())
            .filter(u8::is_ascii)
            .map(char::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_give_matching_strings() {
        let g = |p: &str| generate(p, 0, None);
        assert_eq!(g("^[a-z]+$").as_deref(), Some("a"));
        assert_eq!(g(r"^\d{3}-\d{4}$").as_deref(), Some("000-0000"));
        assert_eq!(g("^(foo|bar)[A-Z]?$").as_deref(), Some("foo"));
        assert_eq!(g(r"^[^a-z]{2}$").as_deref(), Some("AA"));
        assert_eq!(g(r"^\w+@\w+\.com$").as_deref(), Some("a@a.com"));
        assert_eq!(g("abc").as_deref(), Some("abc"));
        // Lengths: more repetitions, or padding when the pattern is unanchored.
        assert_eq!(generate("^[a-z]+$", 4, Some(6)).as_deref(), Some("aaaa"));
        assert_eq!(generate("[0-9]{2}", 5, None).as_deref(), Some("00xxx"));
        assert_eq!(generate("^[0-9]{2}$", 5, None), None);
        assert_eq!(generate("^[a-z]{4}$", 0, Some(3)), None);
        // ECMA-262 features Rust's syntax does not have.
        assert_eq!(g(r"^(?=.*\d)\w+$"), None);
        assert_eq!(g(r"^(a)\1$"), None);
        assert_eq!(g("[z-a]"), None);
        // Nested repetitions stop at the size limit rather than run away.
        assert_eq!(generate("^((a{2,}){2,}){2,}$", 100_000, None), None);
    }
}
