//! Where a recording's `log`, its `entries` and each entry sit in the file.
//!
//! Part of the HAR front end (recording.har → **entries** → Recording): the typed
//! reading gives the entries' values but not their places, which every step's
//! location (and the errors about `log` and `entries`) needs. Reading each entry as
//! a raw value first, then again typed, went over every entry twice; this scan goes
//! over the file once more without reading it: in text serde_json has accepted, it
//! only has to tell strings (skipped to their closing quote with `memchr`) from the
//! brackets it counts. Keys written with escapes (`"\u006cog"`) are not matched by
//! their raw bytes; for such a file the places come from serde_json instead
//! ([`Layout::read`]). The scan runs beside the typed reading, so it also meets
//! text serde_json goes on to refuse: there it ends, with a layout nobody uses.

use std::ops::Range;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::At;

/// Where `log`, `entries` and each entry are: byte offsets into the file.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Layout {
    /// The first byte of `log`'s value.
    pub log: Option<usize>,
    /// The first byte of `entries`' value.
    pub entries: Option<usize>,
    /// Each entry's bytes, in the file's order (empty unless `entries` is an array).
    pub spans: Vec<Range<usize>>,
}

impl Layout {
    /// The layout of `text`, if serde_json reads it (otherwise some layout, found
    /// in time linear in the text's length).
    pub fn of(text: &str) -> Layout {
        Scan {
            b: text.as_bytes(),
            i: 0,
        }
        .layout()
        .unwrap_or_else(|| Layout::read(text))
    }

    /// The same, from serde_json's raw values: for the files the scan cannot place.
    fn read(text: &str) -> Layout {
        #[derive(Deserialize)]
        struct File<'a> {
            #[serde(borrow)]
            log: Option<At<'a, IgnoredAny>>,
        }
        #[derive(Deserialize)]
        struct Log<'a> {
            #[serde(borrow)]
            entries: Option<At<'a, IgnoredAny>>,
        }
        let Ok(File { log: Some(log) }) = serde_json::from_str::<File<'_>>(text) else {
            return Layout::default();
        };
        let entries = serde_json::from_str::<Log<'_>>(log.raw)
            .ok()
            .and_then(|l| l.entries);
        let list = entries
            .as_ref()
            .and_then(|e| serde_json::from_str::<Vec<At<'_, IgnoredAny>>>(e.raw).ok());
        Layout {
            log: Some(log.span(text).start),
            entries: entries.map(|e| e.span(text).start),
            spans: list.iter().flatten().map(|e| e.span(text)).collect(),
        }
    }
}

/// A cursor over JSON text, valid or not: every step moves it on or gives up.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    /// `None` where the text is not as expected (a key with escapes), so that
    /// [`Layout::read`] decides.
    fn layout(&mut self) -> Option<Layout> {
        self.space();
        let Some(log) = self.member(b"log")? else {
            return Some(Layout::default());
        };
        let mut layout = Layout {
            log: Some(log),
            ..Layout::default()
        };
        if self.peek()? != b'{' {
            return Some(layout);
        }
        let Some(entries) = self.member(b"entries")? else {
            return Some(layout);
        };
        layout.entries = Some(entries);
        if self.peek()? == b'[' {
            layout.spans = self.elements()?;
        }
        Some(layout)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn space(&mut self) {
        while self
            .peek()
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }

    /// At an object: the offset of member `key`'s value, with the cursor on it;
    /// `Some(None)` when the object has no such member (or is not an object).
    fn member(&mut self, key: &[u8]) -> Option<Option<usize>> {
        if self.peek()? != b'{' {
            return Some(None);
        }
        self.i += 1;
        loop {
            self.space();
            if self.peek()? == b'}' {
                return Some(None);
            }
            let name = self.string()?;
            if name.contains(&b'\\') {
                return None;
            }
            self.space();
            self.i += 1; // ':'
            self.space();
            if name == key {
                return Some(Some(self.i));
            }
            self.value()?;
            self.space();
            if self.peek()? == b',' {
                self.i += 1;
            }
        }
    }

    /// At an array: each element's bytes.
    fn elements(&mut self) -> Option<Vec<Range<usize>>> {
        self.i += 1; // '['
        let mut out = Vec::new();
        loop {
            self.space();
            match self.peek()? {
                b']' => return Some(out),
                b',' => self.i += 1,
                _ => {
                    let start = self.i;
                    self.value()?;
                    out.push(start..self.i);
                }
            }
        }
    }

    /// At a string: its raw contents (escapes as written); the cursor past it.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.i + 1;
        self.i = string_end(self.b, start)?;
        self.b.get(start..self.i - 1)
    }

    /// Past one value; `None` at a byte that starts none (only in invalid text).
    fn value(&mut self) -> Option<()> {
        let b = self.b;
        let mut at = self.i;
        let mut depth = 0usize;
        loop {
            match *b.get(at)? {
                // The end of a number, `true`, `false` or `null` outside a container.
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => {}
                b'"' => at = string_end(b, at + 1)?,
                b'{' | b'[' => {
                    depth += 1;
                    at += 1;
                }
                b'}' | b']' => {
                    depth -= 1;
                    at += 1;
                }
                _ => {
                    at += 1;
                    continue;
                }
            }
            if depth == 0 {
                if at == self.i {
                    return None;
                }
                self.i = at;
                return Some(());
            }
        }
    }
}

/// Past the closing quote of the string whose contents start at `at`. A
/// recording's strings are short on average (keys, header names, about ten bytes),
/// so they are searched eight bytes at a time in a register rather than by
/// `memchr`, whose setup costs more than such a string.
fn string_end(b: &[u8], mut at: usize) -> Option<usize> {
    loop {
        if let Some(chunk) = b.get(at..at + 8) {
            let word = u64::from_le_bytes(chunk.try_into().ok()?);
            let found = has_byte(word, b'"') | has_byte(word, b'\\');
            if found == 0 {
                at += 8;
                continue;
            }
            // The lowest flag is exact: a false one is only ever above a true one.
            at += found.trailing_zeros() as usize / 8;
        }
        match *b.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
}

/// The high bit of each byte of `word` equal to `byte`, and perhaps of bytes above
/// such a one (the classic "has zero byte" test on `word ^ byte…`).
fn has_byte(word: u64, byte: u8) -> u64 {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan and serde_json's raw values agree.
    fn both(text: &str) -> Layout {
        let scanned = Scan {
            b: text.as_bytes(),
            i: 0,
        }
        .layout()
        .expect("the scan places it");
        assert_eq!(scanned, Layout::read(text), "{text}");
        scanned
    }

    #[test]
    fn entries_are_placed_past_strings_that_look_like_json() {
        let text = r#" { "version": "x\"}]{[", "log" : { "pages": [{"id": "]"}],
            "entries": [ {"a": "\\", "b": [1, {"c": "}"}]} ,{"url":"http://a/\"x"}, 7, "s",[],
                {"q": "\\\"}{", "r": {"s": "{"}} ] } }"#;
        let layout = both(text);
        let texts: Vec<&str> = layout.spans.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(
            texts,
            [
                r#"{"a": "\\", "b": [1, {"c": "}"}]}"#,
                r#"{"url":"http://a/\"x"}"#,
                "7",
                r#""s""#,
                "[]",
                r#"{"q": "\\\"}{", "r": {"s": "{"}}"#,
            ]
        );
        assert_eq!(&text[layout.log.unwrap()..][..1], "{");
        assert_eq!(&text[layout.entries.unwrap()..][..1], "[");
    }

    #[test]
    fn a_string_ends_at_its_first_unescaped_quote() {
        // Every length around the eight-byte steps, an escape at every place.
        for len in 0..40 {
            for escape in [r#"\""#, r"\\", r#"\\\""#] {
                for at in 0..=len {
                    let mut text = "a".repeat(len);
                    text.insert_str(at, escape);
                    let json = format!(r#""{text}"}} "x""#);
                    let decoded: String = serde_json::from_str(&json[..text.len() + 2]).unwrap();
                    assert!(decoded.len() <= len + 2, "{json}");
                    assert_eq!(
                        string_end(json.as_bytes(), 1),
                        Some(text.len() + 2),
                        "{json}"
                    );
                }
            }
        }
        assert_eq!(string_end(br#""unclosed\"#, 1), None);
    }

    #[test]
    fn what_is_missing_is_none() {
        assert_eq!(both("{}"), Layout::default());
        assert_eq!(both(r#"{"log": 1}"#).entries, None);
        let no_entries = both(r#"{"log": {"version": "1.2"}}"#);
        assert_eq!((no_entries.log, no_entries.entries), (Some(8), None));
        let not_a_list = both(r#"{"log": {"entries": {"a": 1}}}"#);
        assert_eq!((not_a_list.entries, not_a_list.spans.len()), (Some(20), 0));
        assert!(both(r#"{"log": {"entries": []}}"#).spans.is_empty());
        assert_eq!(
            both(r#"{"log": {"entries": [ 7 , true]}}"#).spans,
            [22..23, 26..30]
        );
    }

    /// Text serde_json refuses: the scan ends all the same, with whatever layout.
    #[test]
    fn invalid_text_ends_the_scan() {
        for text in [
            r#"{"log": {"entries": [}"#,
            r#"{"log": {"entries": [1,}"#,
            r#"{"log": {"entries": [1 2 }} ]"#,
            r#"{"log": {"entries": [{"a": 1]]]]}"#,
            r#"{"log": {"entries": ["#,
            r#"{"log": {"entries": [{"a"#,
            r#"{"log": {"entries" "#,
            r#"{"log" {"#,
            r#"{"log": {, , :: }"#,
            "{\"log\": {\"entries\": [\"\\",
            "}}}]]]",
            "",
        ] {
            assert!(serde_json::from_str::<IgnoredAny>(text).is_err(), "{text}");
            let layout = Layout::of(text);
            assert!(layout.spans.len() <= text.len(), "{text}: {layout:?}");
        }
    }

    #[test]
    fn an_escaped_key_is_left_to_serde_json() {
        let text = r#"{"\u006cog": {"entries": [{"x": 1}]}}"#;
        assert!(
            Scan {
                b: text.as_bytes(),
                i: 0
            }
            .layout()
            .is_none()
        );
        let spans = Layout::of(text).spans;
        assert_eq!(spans.len(), 1);
        assert_eq!(&text[spans[0].clone()], r#"{"x": 1}"#);
    }
}
