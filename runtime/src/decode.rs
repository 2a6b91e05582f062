//! `--compressed`: response bodies decoded for checks and extractors, and their
//! decoded size counted beside the bytes on the wire.
//!
//! The run asks for `gzip, br, zstd` (the compiler adds the `accept-encoding`
//! header); every HTTP driver, and the io_uring engine, keeps the head and the
//! (capped) body of each response, as it does for a step whose checks read them.
//! When the exchange is over, `after_exchange` decodes the kept body in place by the
//! response's `content-encoding` (on the tokio engine at the one seam all drivers
//! share, `Drivers::perform`; on io_uring as it hands the exchange to the VU
//! machine), so checks, extractors and the cookie jar see what the application
//! sent. Decoding allocates the decoder's state per response (flate2,
//! brotli and ruzstd each keep a window), which is the price of the option; without
//! it nothing here runs and bodies are judged as they came.

use std::io::Read;

use kaioken_http1::Capture;

/// Most decoded bytes counted per response: past it the decoder stops (a
/// decompression bomb costs this much work, not its full size).
const MAX_DECODED: u64 = 64 * 1024 * 1024;

/// A content coding kaioken decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    /// `deflate`: zlib-wrapped as RFC 9110 says, or raw as some servers send it.
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    /// The coding a `content-encoding` value names, if it is one of ours (a list of
    /// several codings is left alone).
    fn of(value: &[u8]) -> Option<Coding> {
        let value = value.trim_ascii();
        let is = |name: &str| value.eq_ignore_ascii_case(name.as_bytes());
        if is("gzip") || is("x-gzip") {
            Some(Coding::Gzip)
        } else if is("deflate") {
            Some(Coding::Deflate)
        } else if is("br") {
            Some(Coding::Brotli)
        } else if is("zstd") {
            Some(Coding::Zstd)
        } else {
            None
        }
    }
}

/// What decoding one body came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Bytes decoded (up to [`MAX_DECODED`]).
    pub bytes: u64,
    /// Whether the whole body decoded: it was kept whole (not cut at the body limit),
    /// was valid, and decoded to at most [`MAX_DECODED`] bytes.
    pub complete: bool,
}

/// What a finished exchange's decoding came to, on either engine: with
/// `compressed` (`--compressed`), a response's kept body decoded in place
/// ([`decode`]); nothing for an error, or without the option.
pub(crate) fn after_exchange(
    compressed: bool,
    outcome: &crate::stats::Outcome,
    capture: Option<&mut Capture>,
) -> Option<Decoded> {
    match (outcome, capture) {
        (crate::stats::Outcome::Response { .. }, Some(capture)) if compressed => decode(capture),
        _ => None,
    }
}

/// Decode `capture`'s body in place by its head's `content-encoding`, keeping at most
/// its body limit of the result. `None` when the response was not encoded with a
/// coding kaioken decodes (the body stays as it came).
pub(crate) fn decode(capture: &mut Capture) -> Option<Decoded> {
    let coding = Coding::of(capture.header(b"content-encoding")?)?;
    let mut out = std::mem::take(&mut capture.scratch);
    out.clear();
    let limit = capture.body_limit;
    let input = capture.body.as_slice();
    let (bytes, ok) = match coding {
        Coding::Gzip => drain(flate2::read::MultiGzDecoder::new(input), &mut out, limit),
        Coding::Deflate if is_zlib(input) => {
            drain(flate2::read::ZlibDecoder::new(input), &mut out, limit)
        }
        Coding::Deflate => drain(flate2::read::DeflateDecoder::new(input), &mut out, limit),
        Coding::Brotli => drain(
            brotli_decompressor::Decompressor::new(input, 4096),
            &mut out,
            limit,
        ),
        Coding::Zstd => match ruzstd::decoding::StreamingDecoder::new(input) {
            Ok(decoder) => drain(decoder, &mut out, limit),
            Err(_) => (0, false),
        },
    };
    let complete = ok && !capture.truncated;
    capture.scratch = std::mem::replace(&mut capture.body, out);
    capture.truncated = bytes > limit as u64;
    Some(Decoded { bytes, complete })
}

/// Whether `input` starts with a zlib header (RFC 1950: deflate, a check that
/// divides by 31), rather than raw deflate data.
fn is_zlib(input: &[u8]) -> bool {
    match input {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Read `decoder` to its end into `out` (at most `limit` bytes kept), counting every
/// byte up to [`MAX_DECODED`]: the count, and whether the stream ended cleanly.
fn drain(mut decoder: impl Read, out: &mut Vec<u8>, limit: usize) -> (u64, bool) {
    let mut buf = [0u8; 8192];
    let mut total = 0u64;
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => return (total, true),
            Ok(n) => {
                total += n as u64;
                let room = limit.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
                if total > MAX_DECODED {
                    return (total, false);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return (total, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn capture(encoding: &str, body: &[u8], limit: usize) -> Capture {
        let mut c = Capture::new(limit);
        c.start(true);
        c.head.extend_from_slice(
            format!("HTTP/1.1 200 OK\r\ncontent-encoding: {encoding}\r\n\r\n").as_bytes(),
        );
        c.push_body(body);
        c
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn each_coding_decodes_in_place() {
        let text = b"hello, compressed world! ".repeat(40);
        let zlib = {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&text).unwrap();
            e.finish().unwrap()
        };
        let raw = {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&text).unwrap();
            e.finish().unwrap()
        };
        let zstd = ruzstd::encoding::compress_to_vec(
            text.as_slice(),
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        for (coding, body) in [
            ("gzip", gzip(&text)),
            ("deflate", zlib),
            ("deflate", raw),
            ("zstd", zstd),
        ] {
            let mut c = capture(coding, &body, 4096);
            let decoded = decode(&mut c).unwrap_or_else(|| panic!("{coding}"));
            assert_eq!(
                decoded,
                Decoded {
                    bytes: text.len() as u64,
                    complete: true
                },
                "{coding}"
            );
            assert_eq!(c.body, text, "{coding}");
        }
    }

    /// The body limit holds for the decoded body; the whole is still counted.
    #[test]
    fn the_limit_applies_to_what_is_kept() {
        let text = vec![b'a'; 100_000];
        let mut c = capture("gzip", &gzip(&text), 1000);
        let decoded = decode(&mut c).unwrap();
        assert_eq!((decoded.bytes, decoded.complete), (100_000, true));
        assert_eq!(c.body.len(), 1000);
        assert!(c.truncated);
    }

    /// A body cut at the limit, or corrupt, decodes as far as it goes and says so;
    /// an unknown coding is left alone.
    #[test]
    fn partial_and_unknown() {
        let text = b"0123456789".repeat(1000);
        let packed = gzip(&text);
        let mut c = capture("gzip", &packed, packed.len() / 2);
        assert!(c.truncated);
        assert!(!decode(&mut c).unwrap().complete);
        let mut c = capture("gzip", b"not gzip at all", 100);
        assert_eq!(
            decode(&mut c),
            Some(Decoded {
                bytes: 0,
                complete: false
            })
        );
        let mut c = capture("compress", b"raw", 100);
        assert_eq!(decode(&mut c), None);
        assert_eq!(c.body, b"raw");
    }
}
