//! The HTTP/2 client connection on any bytes a server may send, read in pieces of
//! any size, responses after responses on one connection, two streams open at a
//! time (as VUs sharing a connection read it): HPACK's decoding, the framing,
//! padding, header blocks in CONTINUATION frames, flow control.
#![no_main]

use kaioken_http2::hpack::Indexing;
use kaioken_http2::{Connection, Event};
use libfuzzer_sys::fuzz_target;

/// Open a stream with a GET.
fn open(conn: &mut Connection, out: &mut Vec<u8>) -> u32 {
    let at = conn.begin_headers(out);
    conn.field(out, b":method", b"GET", Indexing::Incremental);
    conn.field(out, b":path", b"/", Indexing::Incremental);
    conn.end_headers(out, at, true)
}

/// What the connection made of `input` read `read` bytes at a time: its events
/// (with the stream they concern), what it wrote back, and the error that ended
/// it (if one did).
fn run(input: &[u8], read: usize) -> (Vec<String>, Vec<u8>, Option<kaioken_http2::Error>) {
    let mut conn = Connection::new();
    let mut out = Vec::new();
    conn.preface(&mut out);
    let mut open_ids = vec![open(&mut conn, &mut out), open(&mut conn, &mut out)];
    let mut events = Vec::new();
    let (mut taken, mut end) = (0, 0);
    while end < input.len() {
        end = (end + read).min(input.len());
        loop {
            let mine = open_ids.first().copied().unwrap_or(0);
            match conn.next(&input[taken..end], &mut out, mine) {
                Err(e) => return (events, out, Some(e)),
                Ok((n, event)) => {
                    taken += n;
                    assert!(taken <= end);
                    match event {
                        Event::NeedMore => break,
                        Event::Other(id) => {
                            // The frame waits for its stream's reader.
                            let head = &input[taken..taken + 9];
                            let of = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
                            assert_eq!(of & 0x7fff_ffff, id);
                            let at = open_ids.iter().position(|&s| s == id);
                            let at = at.expect("Other names an open stream");
                            open_ids.swap(0, at);
                            continue;
                        }
                        Event::Head { status, .. } => {
                            assert!((200..1000).contains(&status), "{status}");
                            let first = conn.fields().iter().next().map(|f| f.0);
                            assert_eq!(first, Some(&b":status"[..]));
                        }
                        _ => {}
                    }
                    let done = matches!(
                        event,
                        Event::Head { end: true, .. }
                            | Event::Data(_, true)
                            | Event::Trailers
                            | Event::Reset(_)
                    );
                    events.push(format!("{mine} {event:?}"));
                    if done {
                        assert!(!conn.is_open(mine));
                        open_ids.retain(|&s| s != mine);
                        if conn.usable() && conn.may_open() {
                            open_ids.push(open(&mut conn, &mut out));
                        }
                    }
                }
            }
        }
    }
    (events, out, None)
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the size of each read.
    let Some((&how, input)) = data.split_first() else {
        return;
    };
    let read = usize::from(how) + 1;
    let pieces = run(input, read);
    // Delivered in one read, the same bytes make the same events and answers.
    assert_eq!(pieces, run(input, input.len().max(1)), "reads of {read}");
});
