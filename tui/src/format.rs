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
    fn bars_fill_in_eighths() {
        assert_eq!(bar(1.0, 2.0, 4), "██  ");
        assert_eq!(bar(1.0, 16.0, 2), "▏ ");
        assert_eq!(bar(1.0, 4.0, 1), "▎");
        assert_eq!(bar(3.0, 2.0, 3), "███");
        assert_eq!(bar(0.0, 0.0, 3), "   ");
    }
}
