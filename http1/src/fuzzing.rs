//! Entry points for the fuzz targets in `fuzz/`, not part of the crate's API
//! (hidden from its docs; they may change with any release).
//!
//! Each drives the parser the way the runtime's drivers drive it, over bytes a
//! fuzzer chose, and checks its invariants with assertions, so a broken one is a
//! crash the fuzzer reports.

use crate::{Capture, Cut, ResponseParser};

/// What ended a connection before its last response was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// The input ended in the middle of a response.
    Cut(Cut),
    /// The bytes were not HTTP/1.1 (the runtime's `protocol` error).
    Invalid,
}

/// What one response on a connection came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedResponse {
    /// Its status code.
    pub status: u16,
    /// Bytes of head and body.
    pub bytes: u64,
    /// Its `content-type`, as a check reading the captured head finds it.
    pub content_type: Option<Vec<u8>>,
    /// A redirect's `Location` (empty otherwise).
    pub location: Vec<u8>,
}

/// Feed `input` to the HTTP/1.1 response parser as a connection delivers it: in reads
/// of `read` bytes (at least 1), keeping the unused bytes in the buffer as the
/// driver does, response after response while the connection can carry another, with
/// each head and up to `body_limit` bytes of each body captured for checks. The end
/// of `input` is the server closing the connection. Returns every complete response,
/// and the error that ended the connection, if one did.
///
/// # Panics
///
/// When the parser breaks an invariant: it uses more bytes than it was given, a
/// response's size is not the bytes it used, a capture outgrows its limit, or one
/// parser restarted for each response (replaying repeated heads) does not come to
/// what a new parser for each does.
pub fn parse_http1(
    input: &[u8],
    read: usize,
    is_head: bool,
    body_limit: usize,
) -> (Vec<ParsedResponse>, Option<Failed>) {
    let fresh = parse(input, read, is_head, body_limit, false);
    let restarted = parse(input, read, is_head, body_limit, true);
    assert_eq!(fresh, restarted, "a restarted parser differs from new ones");
    fresh
}

fn parse(
    input: &[u8],
    read: usize,
    is_head: bool,
    body_limit: usize,
    restart: bool,
) -> (Vec<ParsedResponse>, Option<Failed>) {
    let read = read.max(1);
    let mut responses = Vec::new();
    let mut capture = Capture::new(body_limit);
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut parser = ResponseParser::new(is_head).following_redirects(true);
    loop {
        if restart {
            parser.restart(is_head);
        } else {
            parser = ResponseParser::new(is_head).following_redirects(true);
        }
        capture.start(true);
        let mut used_by_this = 0u64;
        let done = loop {
            let (used, done) = match parser.advance_into(&buf, Some(&mut capture)) {
                Ok(step) => step,
                Err(invalid) => {
                    // Every refusal names what was wrong.
                    assert!(!invalid.0.is_empty(), "a protocol error without a reason");
                    return (responses, Some(Failed::Invalid));
                }
            };
            assert!(used <= buf.len(), "used {used} of {} bytes", buf.len());
            buf.drain(..used);
            used_by_this += used as u64;
            if let Some(response) = done {
                break response;
            }
            if fed == input.len() {
                match parser.eof() {
                    Ok(response) => break response,
                    Err(cut) => return (responses, Some(Failed::Cut(cut))),
                }
            }
            let end = fed.saturating_add(read).min(input.len());
            buf.extend_from_slice(&input[fed..end]);
            fed = end;
        };
        assert_eq!(
            done.bytes, used_by_this,
            "a response's size is the bytes it used"
        );
        assert!(capture.body.len() <= body_limit);
        responses.push(ParsedResponse {
            status: done.status,
            bytes: done.bytes,
            content_type: capture.header(b"content-type").map(<[u8]>::to_vec),
            location: parser.location.clone(),
        });
        if !done.keep_alive || (buf.is_empty() && fed == input.len()) {
            return (responses, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_on_one_connection() {
        let input = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nhi\
HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
HTTP/1.1 500 Oops\r\n\r\nuntil close";
        for read in [1, 7, 1000] {
            let (responses, error) = parse_http1(input, read, false, 1);
            assert_eq!(error, None);
            let summary: Vec<(u16, u64)> = responses.iter().map(|r| (r.status, r.bytes)).collect();
            assert_eq!(
                summary,
                [(200, 66), (404, 67), (500, 32)],
                "reads of {read}"
            );
            assert_eq!(
                responses[0].content_type.as_deref(),
                Some(&b"text/plain"[..])
            );
        }
    }

    #[test]
    fn the_error_that_ends_the_connection() {
        let (responses, error) = parse_http1(
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab",
            3,
            false,
            0,
        );
        assert_eq!(
            (responses, error),
            (Vec::new(), Some(Failed::Cut(Cut::Body)))
        );
        let (responses, error) = parse_http1(b"nonsense\r\n\r\n", 4, false, 0);
        assert_eq!((responses, error), (Vec::new(), Some(Failed::Invalid)));
    }
}
