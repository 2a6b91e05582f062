//! The HTTP/1.1 response parser on any bytes a server may send, read in pieces of
//! any size, response after response on one connection.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses how the bytes arrive: the size of each read, and
    // whether they answer a HEAD request.
    let Some((&how, input)) = data.split_first() else {
        return;
    };
    let read = usize::from(how & 0x7f) + 1;
    let is_head = how & 0x80 != 0;
    for body_limit in [0, 16] {
        let (responses, error) =
            kaioken_http1::fuzzing::parse_http1(input, read, is_head, body_limit);
        let used: u64 = responses.iter().map(|r| r.bytes).sum();
        assert!(used <= input.len() as u64);
        // Delivered in one read, the same bytes make the same responses.
        let whole = kaioken_http1::fuzzing::parse_http1(input, input.len(), is_head, body_limit);
        assert_eq!((&responses, error), (&whole.0, whole.1), "reads of {read}");
    }
});
