//! Numbers as the view prints them, the same spellings as the end-of-run summary.

use std::time::Duration;

/// Group digits: 1283110 → "1,283,110" (the view and the end-of-run summary alike).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in µs, in the unit that reads best: `850µs`, `1.20ms`, `45.0ms`, `1.20s`.
pub(crate) fn latency_us(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if us < 1000 {
        format!("{us}µs")
    } else if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.2}ms")
    }
}

/// A rate: whole and grouped from 100 on (`12,164`), one decimal below (`42.5`).
pub(crate) fn rate(r: f64) -> String {
    if r >= 100.0 {
        thousands(r.round() as u64)
    } else {
        format!("{r:.1}")
    }
}

/// A load level (VUs or iterations/s): whole numbers as such (`0`, `3,000`), others
/// as a [`rate`].
pub(crate) fn level(x: f64) -> String {
    if x >= 0.0 && x.fract() == 0.0 {
        thousands(x as u64)
    } else {
        rate(x)
    }
}

/// Bytes per second: `512 B/s`, `1.2 KiB/s`, `3.40 MiB/s`, `1.10 GiB/s`.
pub(crate) fn bytes_per_s(b: f64) -> String {
    format!("{}/s", size(b))
}

/// A number of bytes: `512 B`, `1.2 KiB`, `3.40 MiB`, `1.10 GiB`.
pub(crate) fn bytes(b: u64) -> String {
    size(b as f64)
}

fn size(b: f64) -> String {
    const K: f64 = 1024.0;
    if b < K {
        format!("{b:.0} B")
    } else if b < K * K {
        format!("{:.1} KiB", b / K)
    } else if b < K * K * K {
        format!("{:.2} MiB", b / (K * K))
    } else {
        format!("{:.2} GiB", b / (K * K * K))
    }
}

/// Whole seconds: `45s`, `3m05s`, `1h02m`.
pub(crate) fn seconds(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// A share as a percentage with one decimal; `-` of nothing.
pub(crate) fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// A horizontal bar of `width` cells, `value / max` of it filled, in eighths.
pub(crate) fn bar(value: f64, max: f64, width: usize) -> String {
    const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    let ratio = if max > 0.0 {
        (value / max).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (ratio * width as f64 * 8.0).round() as usize;
    let mut out = "█".repeat(eighths / 8);
    out.push_str(EIGHTHS[eighths % 8]);
    let used = eighths / 8 + usize::from(!eighths.is_multiple_of(8));
    out.push_str(&" ".repeat(width.saturating_sub(used)));
    out
}

/// The cells `text` takes on a terminal.
pub(crate) fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `text` in at most `cells` cells: whole if it fits, else its start and its end
/// with a `…` between them. Names told apart by their start (`step 0 …`, `step 7 …`)
/// or by their end (`GET /api/users`, `GET /api/orders`) both stay apart, where a
/// cut at the end would lose the second kind.
pub(crate) fn cut_middle(text: &str, cells: usize) -> String {
    if width(text) <= cells {
        return text.to_owned();
    }
    if cells == 0 {
        return String::new();
    }
    let cell = |c: char| unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
    // The start gets the odd cell.
    let (mut head_room, mut tail_room) = ((cells - 1).div_ceil(2), (cells - 1) / 2);
    let mut head = String::new();
    for c in text.chars() {
        if cell(c) > head_room {
            break;
        }
        head_room -= cell(c);
        head.push(c);
    }
    // A wide character that did not fit at the start leaves its cell to the end.
    tail_room += head_room;
    let mut tail = Vec::new();
    for c in text.chars().rev() {
        if cell(c) > tail_room {
            break;
        }
        tail_room -= cell(c);
        tail.push(c);
    }
    head.push('…');
    head.extend(tail.into_iter().rev());
    head
}

/// What a set of names shares at its start and at its end, in chars: the part of
/// each name between the two is what tells it from the others (see [`cut_apart`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Shared {
    pub prefix: usize,
    pub suffix: usize,
}

impl Shared {
    /// The longest start and end that every one of `names` has; nothing with fewer
    /// than two different names, where no part tells them apart.
    pub(crate) fn of<'n>(names: impl IntoIterator<Item = &'n str>) -> Shared {
        let mut names: Vec<Vec<char>> = names.into_iter().map(|n| n.chars().collect()).collect();
        names.sort_unstable();
        names.dedup();
        let (Some(first), true) = (names.first(), names.len() > 1) else {
            return Shared::default();
        };
        let common = |f: &dyn Fn(&Vec<char>) -> Vec<char>| {
            let first = f(first);
            names.iter().fold(first.len(), |n, name| {
                let name = f(name);
                n.min(first.iter().zip(&name).take_while(|(a, b)| a == b).count())
            })
        };
        let prefix = common(&|n| n.clone());
        let suffix = common(&|n| n.iter().rev().copied().collect());
        Shared { prefix, suffix }
    }
}

/// `text`, one of the names `shared` was worked out from, in at most `cells`
/// cells, keeping the part that tells it from the others: cut at the end while
/// that part stays whole (`step 7 of scenario 2 na…`), else from the start of that
/// part (`…7 of scenario 2…`). A cut in the middle kept both ends of
/// `step 7 of scenario 0 named verbosely` and of `… scenario 2 …`, the very parts
/// they share, and made them the same.
pub(crate) fn cut_apart(text: &str, cells: usize, shared: Shared) -> String {
    if width(text) <= cells {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let prefix = shared.prefix.min(chars.len());
    let suffix = shared.suffix.min(chars.len() - prefix);
    let distinct_end: String = chars[..chars.len() - suffix].iter().collect();
    if prefix == 0 || width(&distinct_end) < cells {
        return cut_end(text, cells);
    }
    let from: String = chars[prefix..].iter().collect();
    let cut = cut_end(&from, cells.saturating_sub(1));
    if cells == 0 {
        return cut;
    }
    format!("…{cut}")
}

/// `text` in at most `cells` cells, cut at the end with a `…`.
pub(crate) fn cut_end(text: &str, cells: usize) -> String {
    if width(text) <= cells {
        return text.to_owned();
    }
    let mut room = cells.saturating_sub(1);
    let mut out = String::new();
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w > room {
            break;
        }
        room -= w;
        out.push(c);
    }
    if cells > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(thousands(1_283_110), "1,283,110");
        assert_eq!(thousands(999), "999");
        assert_eq!(latency_us(850), "850µs");
        assert_eq!(latency_us(1_200), "1.20ms");
        assert_eq!(latency_us(45_000), "45.0ms");
        assert_eq!(latency_us(1_200_000), "1.20s");
        assert_eq!(bytes_per_s(3.4 * 1024.0 * 1024.0), "3.40 MiB/s");
        assert_eq!(seconds(Duration::from_secs(185)), "3m05s");
        assert_eq!(share(1, 3), "33.3%");
        assert_eq!(share(1, 0), "-");
        assert_eq!(rate(12_164.04), "12,164");
        assert_eq!(rate(42.54), "42.5");
        assert_eq!(level(0.0), "0");
        assert_eq!(level(3000.0), "3,000");
        assert_eq!(level(2.5), "2.5");
    }

    #[test]
    fn cuts_keep_both_ends() {
        let step = "step 7 of scenario 0 named verbosely";
        assert_eq!(cut_middle(step, 99), step);
        assert_eq!(cut_middle(step, 13), "step 7…bosely");
        assert_eq!(width(&cut_middle(step, 13)), 13);
        assert_eq!(cut_middle(step, 1), "…");
        assert_eq!(cut_middle(step, 0), "");
        assert_eq!(cut_middle("見出し見出し", 6), "見…し");
        assert_eq!(cut_end("connect_refused", 12), "connect_ref…");
        assert_eq!(cut_end("connect_refused", 1), "…");
        assert_eq!(cut_end("timeout", 12), "timeout");
    }

    /// Steps named alike but for a number in the middle stay apart at any width.
    #[test]
    fn cuts_keep_what_tells_names_apart() {
        let names: Vec<String> = [(7, 0), (7, 2), (0, 0)]
            .iter()
            .map(|(s, c)| format!("step {s} of scenario {c} named verbosely"))
            .collect();
        let shared = Shared::of(names.iter().map(String::as_str));
        assert_eq!(
            shared,
            Shared {
                prefix: 5,
                suffix: 16
            }
        );
        let cut = |i: usize, cells| cut_apart(&names[i], cells, shared);
        assert_eq!(cut(1, 99), names[1]);
        assert_eq!(cut(1, 22), "step 7 of scenario 2 …");
        assert_eq!(cut(1, 17), "…7 of scenario 2…");
        assert_eq!(cut(0, 17), "…7 of scenario 0…");
        assert_eq!(cut(1, 9), "…7 of sc…");
        assert_eq!(cut(1, 1), "…");
        assert_eq!(cut(1, 0), "");
        // Nothing shared: cut at the end.
        let shared = Shared::of(["login", "browse the catalogue"]);
        assert_eq!(shared, Shared::default());
        assert_eq!(cut_apart("browse the catalogue", 8, shared), "browse …");
        // One name alone: nothing to tell apart from.
        assert_eq!(Shared::of(["a", "a"]), Shared::default());
    }

    #[test]
    fn bars_fill_in_eighths() {
        assert_eq!(bar(1.0, 2.0, 4), "██  ");
        assert_eq!(bar(1.0, 16.0, 2), "▏ ");
        assert_eq!(bar(1.0, 4.0, 1), "▎");
        assert_eq!(bar(3.0, 2.0, 3), "███");
        assert_eq!(bar(0.0, 0.0, 3), "   ");
    }
}
