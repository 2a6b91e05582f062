//! A recorded request's headers, as a replay sends them.
//!
//! Part of the HAR front end (recording.har → entries → **Recording** → Draft or
//! TOML): what a recorder wrote that must not be replayed as is is dropped here —
//! HTTP/2 and HTTP/3 pseudo-headers, hop-by-hop headers, `host` (from the URL),
//! `alt-used` (the recording's alternative service), `content-length` (from the
//! body) and `cookie` (a per-VU jar replaces it) — and repeated names are merged,
//! since a TOML table holds each name once.

use std::ops::Range;

use super::{At, NameValue, Notes, is_header_value, is_token_byte};
use crate::located::Src;

/// A kept header: lowercase name, value, and where the recording has it.
pub(super) type Kept = (String, String, Range<usize>);

/// The headers a replay of this request sends, merged by lowercase name, in the
/// recording's order. A WebSocket handshake keeps what asks for the protocol switch
/// and gets whatever of it the recorder left out. Names and values that cannot be
/// sent are counted in `notes`.
pub(super) fn keep(
    headers: &[At<'_, NameValue<'_>>],
    websocket: bool,
    entry_span: &Range<usize>,
    src: &Src,
    notes: &mut Notes,
) -> Vec<Kept> {
    let mut kept: Vec<Kept> = Vec::new();
    for h in headers {
        let name = h.value.name.trim().to_ascii_lowercase();
        let value = h.value.value.as_deref().unwrap_or_default().to_owned();
        if name.starts_with(':') {
            continue;
        }
        // A handshake keeps what asks for the switch, but not the extensions
        // (compression), since no message is exchanged afterwards.
        let handshake = websocket && matches!(name.as_str(), "connection" | "upgrade");
        if websocket && name == "sec-websocket-extensions" {
            continue;
        }
        if !handshake
            && matches!(
                name.as_str(),
                "connection"
                    | "keep-alive"
                    | "proxy-connection"
                    | "transfer-encoding"
                    | "te"
                    | "trailer"
                    | "upgrade"
                    | "host"
                    // The origin the browser reached the host by (an alternative
                    // service): the recording's, not the replay's.
                    | "alt-used"
                    | "content-length"
            )
        {
            continue;
        }
        if name == "cookie" {
            continue;
        }
        // A handshake's `connection` asks for the switch and nothing else, whatever the
        // browser wrote (Firefox: `keep-alive, Upgrade`): the replay manages its
        // connections, and sends `Upgrade` once.
        if handshake && name == "connection" {
            if !kept.iter().any(|k| k.0 == name) {
                kept.push((name, "Upgrade".to_owned(), h.span(&src.text)));
            }
            continue;
        }
        if name.is_empty() || !name.bytes().all(is_token_byte) || !is_header_value(&value) {
            notes.bad_headers.push(String::from(&*h.value.name));
            continue;
        }
        match kept.iter_mut().find(|k| k.0 == name) {
            Some(k) => {
                k.1.push_str(", ");
                k.1.push_str(&value);
            }
            None => kept.push((name, value, h.span(&src.text))),
        }
    }
    if websocket {
        // Some recorders leave the handshake's own headers out; without them the
        // server would answer an ordinary GET.
        for (name, value) in [
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ] {
            if !kept.iter().any(|k| k.0 == name) {
                kept.push((name.to_owned(), value.to_owned(), entry_span.clone()));
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keep the headers of a JSON array of `{name, value}`; the spans are shown as the
    /// text they cover.
    fn kept(json: &str, websocket: bool) -> (Vec<(String, String, String)>, Notes) {
        let src = Src::new("t.har", json);
        let headers: Vec<At<'_, NameValue<'_>>> = serde_json::from_str(&src.text).unwrap();
        let mut notes = Notes::default();
        let kept = keep(&headers, websocket, &(0..1), &src, &mut notes)
            .into_iter()
            .map(|(n, v, span)| (n, v, src.text[span].to_owned()))
            .collect();
        (kept, notes)
    }

    #[test]
    fn what_a_replay_must_not_send_is_dropped() {
        let (kept, notes) = kept(
            r#"[{"name": ":authority", "value": "h"}, {"name": "Host", "value": "h"},
                {"name": "Alt-Used", "value": "h"},
                {"name": "Connection", "value": "keep-alive"}, {"name": "Content-Length", "value": "2"},
                {"name": "Cookie", "value": "s=1"}, {"name": "Accept", "value": "a"},
                {"name": "accept", "value": "b"}, {"name": "bad name", "value": "x"},
                {"name": "x-bell", "value": "\u0007"}, {"name": "x-empty"}]"#,
            false,
        );
        assert_eq!(
            kept,
            [
                (
                    "accept".into(),
                    "a, b".into(),
                    r#"{"name": "Accept", "value": "a"}"#.into()
                ),
                ("x-empty".into(), "".into(), r#"{"name": "x-empty"}"#.into()),
            ]
        );
        assert_eq!(notes.bad_headers, ["bad name", "x-bell"]);
    }

    #[test]
    fn a_handshake_keeps_the_switch_and_gets_what_is_missing() {
        let (kept, _) = kept(
            r#"[{"name": "Upgrade", "value": "websocket"},
                {"name": "Sec-WebSocket-Extensions", "value": "permessage-deflate"}]"#,
            true,
        );
        let names: Vec<_> = kept
            .iter()
            .map(|(n, v, at)| format!("{n}: {v} @{}", at.len()))
            .collect();
        assert_eq!(
            names,
            [
                "upgrade: websocket @41",
                // Added, located at the entry.
                "connection: Upgrade @1",
                "sec-websocket-version: 13 @1",
                "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ== @1",
            ]
        );
    }

    /// Found by fuzzing: a handshake recorded with `connection: pgUrade` was imported
    /// as is, and the imported scenario did not compile (`connection` other than
    /// `Upgrade` is kaioken's to set).
    #[test]
    fn a_handshake_asks_for_the_switch_whatever_connection_was_recorded() {
        for recorded in [
            r#"[{"name": "Connection", "value": "keep-alive, Upgrade"}]"#,
            r#"[{"name": "connection", "value": "pgUrade"}, {"name": "Connection", "value": "Upgrade"}]"#,
        ] {
            let (kept, _) = kept(recorded, true);
            let connection: Vec<_> = kept
                .iter()
                .filter(|(n, ..)| n == "connection")
                .map(|(_, v, at)| (v.as_str(), at.to_ascii_lowercase()))
                .collect();
            // Located at the first recorded `connection`.
            let first = recorded[1..].split_inclusive('}').next().unwrap();
            assert_eq!(
                connection,
                [("Upgrade", first.to_ascii_lowercase())],
                "{recorded}"
            );
        }
    }
}
