//! The HTTP/2 client connection on any bytes a server may send, read in pieces of
//! any size, response after response on one connection: HPACK's decoding, the
//! framing, padding, header blocks in CONTINUATION frames, flow control.
#![no_main]

use kaioken_http2::{Connection, Event};
use libfuzzer_sys::fuzz_target;

/// What the connection made of `input` read `read` bytes at a time: its events,
/// what it wrote back, and the error that ended it (if one did).
fn run(input: &[u8], read: usize) -> (Vec<String>, Vec<u8>, Option<kaioken_http2::Error>) {
    let mut conn = Connection::new();
    let mut out = Vec::new();
    conn.preface(&mut out);
    let mut events = Vec::new();
    let open = |conn: &mut Connection, out: &mut Vec<u8>| {
        let at = conn.begin_headers(out);
        kaioken_http2::hpack::encode(out, b":method", b"GET");
        kaioken_http2::hpack::encode(out, b":path", b"/");
        conn.end_headers(out, at, true);
    };
    open(&mut conn, &mut out);
    let (mut taken, mut end) = (0, 0);
    while end < input.len() {
        end = (end + read).min(input.len());
        loop {
            match conn.next(&input[taken..end], &mut out) {
                Err(e) => return (events, out, Some(e)),
                Ok((n, event)) => {
                    taken += n;
                    assert!(taken <= end);
                    if event == Event::NeedMore {
                        break;
                    }
                    let done = matches!(
                        event,
                        Event::Head { end: true, .. }
                            | Event::Data(_, true)
                            | Event::End
                            | Event::Reset(_)
                    );
                    if let Event::Head { status, .. } = event {
                        assert!((200..1000).contains(&status), "{status}");
                        assert_eq!(conn.fields.iter().next().map(|f| f.0), Some(&b":status"[..]));
                    }
                    events.push(format!("{event:?}"));
                    if done && conn.usable() {
                        open(&mut conn, &mut out);
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
