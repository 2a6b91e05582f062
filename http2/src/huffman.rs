//! HPACK's Huffman code (RFC 7541, appendix B), decoded four bits at a time.
//!
//! The code is canonical: codes of one length are consecutive and follow the
//! symbols' order, and each length's first code follows the last code of the
//! shorter lengths. So the code lengths ([`LENGTHS`]) are the whole of it; the
//! decoding table is built from them once per process ([`table`]). Its states are
//! the code tree's 256 inner nodes; from each, a nibble leads to another and emits
//! at most one symbol (no code is shorter than five bits).

use std::sync::OnceLock;

/// Each symbol's code length in bits: the bytes 0–255, then end-of-string (256).
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/// End-of-string: its code must never appear in a string, only as padding's prefix.
const EOS: u16 = 256;

/// One transition: the state reached and, when a code ended on the way, its symbol.
#[derive(Clone, Copy, Default)]
struct Step {
    next: u8,
    /// Bit 15: a symbol was emitted (bits 0–7). Bit 14: the nibble ran into EOS, or
    /// off the tree. Bit 13: the state reached may end a string (the bits since the
    /// last symbol are all ones and fewer than eight: valid padding).
    flags: u16,
}

const EMIT: u16 = 1 << 15;
const FAIL: u16 = 1 << 14;
const ACCEPT: u16 = 1 << 13;

/// The decoding table: 16 steps for each of the 256 inner nodes.
struct Table {
    steps: Vec<Step>,
}

/// A string's Huffman code does not decode: an EOS inside it, or padding longer
/// than seven bits or not all ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// Decode `src`, appending the bytes to `out`.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), Invalid> {
    let steps = &table().steps;
    let mut state = 0usize;
    let mut accept = true;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0xf] {
            let step = steps[state * 16 + nibble as usize];
            if step.flags & FAIL != 0 {
                return Err(Invalid);
            }
            if step.flags & EMIT != 0 {
                out.push(step.flags as u8);
            }
            state = step.next as usize;
            accept = step.flags & ACCEPT != 0;
        }
    }
    if accept { Ok(()) } else { Err(Invalid) }
}

/// The table, built on first use.
fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build)
}

/// The code tree's nodes: inner nodes hold their children, leaves a symbol.
#[derive(Clone, Copy)]
enum Node {
    Inner([u16; 2]),
    Leaf(u16),
}

/// Each symbol's canonical code (RFC 7541 appendix B), from the code lengths: in
/// order of length then symbol, each code the one before plus one, shifted to its
/// length.
fn codes() -> [u32; 257] {
    let mut order: Vec<u16> = (0..257).collect();
    order.sort_by_key(|&s| (LENGTHS[s as usize], s));
    let mut codes = [0u32; 257];
    let mut code = 0u32;
    let mut prev = LENGTHS[order[0] as usize];
    for (i, &sym) in order.iter().enumerate() {
        let len = LENGTHS[sym as usize];
        if i > 0 {
            code = (code + 1) << (len - prev);
        }
        prev = len;
        codes[sym as usize] = code;
    }
    codes
}

fn build() -> Table {
    // The tree, inner nodes numbered as they are made (the root is 0).
    let mut nodes = vec![Node::Inner([u16::MAX; 2])];
    for (sym, code) in codes().into_iter().enumerate() {
        let (sym, len) = (sym as u16, LENGTHS[sym]);
        let mut at = 0usize;
        for bit in (0..len).rev() {
            let b = ((code >> bit) & 1) as usize;
            let Node::Inner(children) = nodes[at] else {
                unreachable!("a prefix code has no leaf on another code's path")
            };
            if bit == 0 {
                nodes.push(Node::Leaf(sym));
            } else if children[b] == u16::MAX {
                nodes.push(Node::Inner([u16::MAX; 2]));
            } else {
                at = children[b] as usize;
                continue;
            }
            let new = (nodes.len() - 1) as u16;
            if let Node::Inner(c) = &mut nodes[at] {
                c[b] = new;
            }
            at = new as usize;
        }
    }
    // Inner nodes renumbered 0..256 as states, with each one's depth and whether
    // its path is all ones.
    let mut state_of = vec![u8::MAX; nodes.len()];
    let mut inner = Vec::new();
    let mut info = vec![(0u8, true); nodes.len()];
    let mut queue = std::collections::VecDeque::from([0usize]);
    while let Some(n) = queue.pop_front() {
        if let Node::Inner(children) = nodes[n] {
            state_of[n] = inner.len() as u8;
            inner.push(n);
            for (b, &c) in children.iter().enumerate() {
                let (depth, ones) = info[n];
                info[c as usize] = (depth + 1, ones && b == 1);
                queue.push_back(c as usize);
            }
        }
    }
    assert_eq!(inner.len(), 256, "257 leaves make 256 inner nodes");
    let mut steps = vec![Step::default(); 256 * 16];
    for (state, &n) in inner.iter().enumerate() {
        for nibble in 0..16u16 {
            let mut at = n;
            let mut flags = 0;
            for bit in (0..4).rev() {
                let Node::Inner(children) = nodes[at] else {
                    unreachable!()
                };
                at = children[((nibble >> bit) & 1) as usize] as usize;
                if let Node::Leaf(sym) = nodes[at] {
                    if sym == EOS {
                        flags |= FAIL;
                        break;
                    }
                    flags |= EMIT | sym;
                    at = 0;
                }
            }
            let (depth, ones) = info[at];
            if ones && depth < 8 {
                flags |= ACCEPT;
            }
            steps[state * 16 + nibble as usize] = Step {
                next: if flags & FAIL != 0 { 0 } else { state_of[at] },
                flags,
            };
        }
    }
    Table { steps }
}

/// Encode `src` with the Huffman code, appending to `out` (for tests; requests go
/// out as raw literals).
#[cfg(test)]
pub(crate) fn encode(src: &[u8], out: &mut Vec<u8>) {
    let codes = codes();
    let (mut acc, mut bits) = (0u64, 0u32);
    for &b in src {
        let len = LENGTHS[b as usize] as u32;
        acc = (acc << len) | codes[b as usize] as u64;
        bits += len;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        // Padding: the most significant bits of EOS, all ones.
        out.push(((acc << (8 - bits)) | (0xff >> bits)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7541_examples_decode() {
        // Appendix C.4.1–C.4.3 and C.6.1's strings.
        let cases: [(&[u8], &[u8]); 4] = [
            (
                &[
                    0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
                ],
                b"www.example.com",
            ),
            (&[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf], b"no-cache"),
            (
                &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f],
                b"custom-key",
            ),
            (&[0x64, 0x02], b"302"),
        ];
        for (code, text) in cases {
            let mut out = Vec::new();
            decode(code, &mut out).unwrap();
            assert_eq!(out, text);
            let mut again = Vec::new();
            encode(text, &mut again);
            assert_eq!(again, code);
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for chunk in [&all[..], b"", b"a", b"Mon, 21 Oct 2013 20:13:21 GMT"] {
            let mut code = Vec::new();
            encode(chunk, &mut code);
            let mut out = Vec::new();
            decode(&code, &mut out).unwrap();
            assert_eq!(out, chunk);
        }
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        // 'a' is 00011 (5 bits); padding of zeros is not EOS's prefix.
        assert_eq!(decode(&[0b0001_1000], &mut Vec::new()), Err(Invalid));
        // A whole byte of padding (eight ones after a complete code) is too long.
        let mut code = Vec::new();
        encode(b"0", &mut code); // 00000 + 111 padding
        code.push(0xff);
        assert_eq!(decode(&code, &mut Vec::new()), Err(Invalid));
        // EOS itself: thirty ones.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xfc], &mut Vec::new()),
            Err(Invalid)
        );
    }
}
