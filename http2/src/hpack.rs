//! HPACK (RFC 7541): the decoder of responses' header blocks, with its dynamic
//! table, and the encoder of requests' fields.
//!
//! Decoding writes each field's name and value into [`Fields`], one buffer reused
//! from block to block, so that a connection decodes without allocating once its
//! buffers have grown to its responses' size. The dynamic table keeps its entries'
//! bytes in one buffer too, oldest first, compacted when evictions have left
//! enough room at its front.
//!
//! The [`Encoder`] keeps the server's table for the client's fields: a field its
//! caller says repeats from request to request (a constant: the authority, a
//! constant path or header) goes as a literal with incremental indexing the first
//! time and as one index byte after, as browsers' and h2load's requests do; a
//! field that changes goes as a literal without indexing, so it evicts nothing,
//! and a secret as a literal never indexed, by intermediaries either.
//! Literals name a static-table name where there is one and are not Huffman
//! coded. A repeated request's header block shrinks to a byte per constant
//! field (a gRPC call's from 105 bytes to 8), which the server reads as an index
//! instead of decoding a literal.

use std::collections::VecDeque;

use crate::huffman;

/// The static table (RFC 7541, appendix A), index 1 first.
pub const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// The dynamic table's size limit until the server's encoder says otherwise, and
/// the most it may ask for: SETTINGS_HEADER_TABLE_SIZE's default, which the
/// client never changes. Also the most the client's encoder uses of the table
/// the server allows.
pub const TABLE_SIZE: usize = 4096;

/// Why a header block does not decode: a connection error of type
/// COMPRESSION_ERROR (RFC 9113 section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// A decoded header block: each field's name and value, in order.
#[derive(Debug, Default)]
pub struct Fields {
    bytes: Vec<u8>,
    /// Each field's name end and value end in `bytes` (the name starts where the
    /// previous value ended).
    ends: Vec<(u32, u32)>,
}

impl Fields {
    /// Forget the fields, keeping the buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// The fields, in the order they came.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut start = 0;
        self.ends.iter().map(move |&(name, value)| {
            let field = (
                &self.bytes[start..name as usize],
                &self.bytes[name as usize..value as usize],
            );
            start = value as usize;
            field
        })
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The total of the fields' names and values in bytes.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Field `i`.
    fn get(&self, i: usize) -> (&[u8], &[u8]) {
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1].1 as usize,
        };
        let (name, value) = self.ends[i];
        (
            &self.bytes[start..name as usize],
            &self.bytes[name as usize..value as usize],
        )
    }

    fn push(&mut self, name: &[u8], value: &[u8]) {
        self.bytes.extend_from_slice(name);
        let name_end = self.bytes.len() as u32;
        self.bytes.extend_from_slice(value);
        self.ends.push((name_end, self.bytes.len() as u32));
    }

    /// The last field pushed.
    fn last(&self) -> (&[u8], &[u8]) {
        let start = match self.ends.len() {
            0 | 1 => 0,
            n => self.ends[n - 2].1 as usize,
        };
        let (name, value) = self.ends[self.ends.len() - 1];
        (
            &self.bytes[start..name as usize],
            &self.bytes[name as usize..value as usize],
        )
    }
}

/// A dynamic table (the decoder's, or the server's as the encoder changes it):
/// entries' bytes (name then value) in one buffer, oldest first.
#[derive(Debug)]
struct Table {
    bytes: Vec<u8>,
    /// Where the oldest entry starts in `bytes` (evicted entries are before it).
    front: usize,
    /// Each entry's name and value lengths, oldest first.
    entries: VecDeque<(u32, u32)>,
    /// Each entry's start in `bytes`, oldest first.
    starts: VecDeque<usize>,
    /// The entries' size as RFC 7541 section 4.1 counts it (32 more per entry).
    size: usize,
    max: usize,
}

impl Table {
    fn new() -> Table {
        Table {
            bytes: Vec::new(),
            front: 0,
            entries: VecDeque::new(),
            starts: VecDeque::new(),
            size: 0,
            max: TABLE_SIZE,
        }
    }

    /// Entry `index` of the dynamic table, 1 being the newest.
    fn get(&self, index: usize) -> Option<(&[u8], &[u8])> {
        let i = self.entries.len().checked_sub(index)?;
        let (name, value) = self.entries[i];
        let start = self.starts[i];
        let mid = start + name as usize;
        Some((
            &self.bytes[start..mid],
            &self.bytes[mid..mid + value as usize],
        ))
    }

    fn evict_to(&mut self, max: usize) {
        while self.size > max {
            let (name, value) = self.entries.pop_front().expect("a size means entries");
            self.starts.pop_front();
            self.size -= name as usize + value as usize + 32;
        }
        self.front = self.starts.front().copied().unwrap_or(self.bytes.len());
        if self.entries.is_empty() {
            self.bytes.clear();
            self.front = 0;
        }
    }

    fn resize(&mut self, max: usize) {
        self.max = max;
        self.evict_to(max);
    }

    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + 32;
        if size > self.max {
            // An entry larger than the table empties it (RFC 7541 section 4.4).
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max - size);
        if self.front > self.max {
            // Room at the front: move the live entries there, so that the buffer
            // stays within twice the table's size.
            self.bytes.drain(..self.front);
            for start in &mut self.starts {
                *start -= self.front;
            }
            self.front = 0;
        }
        self.starts.push_back(self.bytes.len());
        self.bytes.extend_from_slice(name);
        self.bytes.extend_from_slice(value);
        self.entries
            .push_back((name.len() as u32, value.len() as u32));
        self.size += size;
    }
}

/// The encoder of one connection's request header blocks: see the module's
/// documentation.
#[derive(Debug)]
pub struct Encoder {
    /// The server decoder's view of the table, as this encoder changed it.
    table: Table,
    /// A table size to announce at the start of the next block (RFC 7541 section
    /// 4.2): the smallest the server allowed since the last block, then the
    /// current one.
    update: Option<(usize, usize)>,
    /// How many times `table` has changed ([`Encoder::version`]).
    version: u64,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder with an empty table of the default size.
    pub fn new() -> Encoder {
        Encoder {
            table: Table::new(),
            update: None,
            version: 0,
        }
    }

    /// How many times the table may have changed (an entry added, its size set
    /// by the server). The same fields, with the same indexing, are written as
    /// the same bytes as long as this stays the same: a caller may keep the
    /// fields of a block that changed nothing and write them again, instead of
    /// encoding them again (not what [`Encoder::begin`] wrote before them: a
    /// size update is owed once).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The server's SETTINGS_HEADER_TABLE_SIZE, as its SETTINGS frame is read
    /// (the acknowledgement goes before the next block): the table stays within it (and within [`TABLE_SIZE`]), and the next
    /// block says so first.
    pub fn resize(&mut self, allowed: usize) {
        let max = allowed.min(TABLE_SIZE);
        if max == self.table.max && self.update.is_none() {
            return;
        }
        let smallest = self.update.map_or(max, |(s, _)| s.min(max));
        self.update = Some((smallest, max));
        self.table.resize(max);
        self.version += 1;
    }

    /// Begin a header block: write the table size updates owed.
    pub fn begin(&mut self, out: &mut Vec<u8>) {
        if let Some((smallest, max)) = self.update.take() {
            if smallest != max {
                put_integer(out, 0x20, 5, smallest);
            }
            put_integer(out, 0x20, 5, max);
        }
    }

    /// Write the field `name: value` (`name` in lower case): as an index where the
    /// static or dynamic table has it whole; else as a literal, `indexing` as
    /// said.
    pub fn field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8], indexing: Indexing) {
        let name_index = match lookup(name, value) {
            Ok(whole) => return put_integer(out, 0x80, 7, whole),
            Err(name_index) => name_index,
        };
        // A secret is never in the table, and a search for it would only cost.
        if indexing != Indexing::Never
            && let Some(i) =
                (1..=self.table.entries.len()).find(|&i| self.table.get(i) == Some((name, value)))
        {
            return put_integer(out, 0x80, 7, STATIC.len() + i);
        }
        match indexing {
            Indexing::Incremental if name.len() + value.len() + 32 <= self.table.max => {
                literal(out, 0x40, 6, name_index, name, value);
                self.table.insert(name, value);
                self.version += 1;
            }
            Indexing::Never => literal(out, 0x10, 4, name_index, name, value),
            _ => literal(out, 0, 4, name_index, name, value),
        }
    }
}

/// How [`Encoder::field`] writes a field the tables do not hold whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// A field that will come again: the server adds it to its table (unless it
    /// is larger than the table).
    Incremental,
    /// A field that changes: a literal, which evicts nothing.
    Without,
    /// A secret: a literal that no intermediary may add to a table either (RFC
    /// 7541 section 7.1.3).
    Never,
}

/// The decoder of one connection's header blocks.
#[derive(Debug)]
pub struct Decoder {
    table: Table,
    /// A Huffman-coded name, decoded.
    name: Vec<u8>,
    /// The fields the last block added to the table, by their place in it.
    inserted: Vec<u32>,
    /// The last block read no entry of the dynamic table and did not resize it.
    replayable: bool,
    /// The entries the last block added, owed to the table `owed_times` more
    /// times ([`Decoder::replay`]): added when a block is next decoded.
    owed: Fields,
    owed_times: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with an empty table of the default size.
    pub fn new() -> Decoder {
        Decoder {
            table: Table::new(),
            name: Vec::new(),
            inserted: Vec::new(),
            replayable: false,
            owed: Fields::default(),
            owed_times: 0,
        }
    }

    /// Whether the last block decoded read no entry of the dynamic table and did
    /// not resize it: decoded again, it would make the same fields whatever the
    /// table holds, and change the table as [`Decoder::replay`] does.
    pub fn replayable(&self) -> bool {
        self.replayable
    }

    /// Change the table as decoding the last block again would (it must be
    /// [`Decoder::replayable`]), `fields` being what it decoded to: add again the
    /// entries it added. Servers repeat their heads, adding the same fields to the
    /// table each time (nginx does, and never names them after), and this spares
    /// the Huffman decoding.
    ///
    /// The entries are owed, not added: the next block decoded adds them first,
    /// but only the last repeats, enough that they alone overfill the table (it
    /// holds the newest entries that fit, so those repeats decide all it holds).
    /// A head repeated between two blocks that read the table costs a count.
    pub fn replay(&mut self, fields: &Fields) {
        if self.inserted.is_empty() {
            return;
        }
        if self.owed_times == 0 {
            self.owed.clear();
            for &i in &self.inserted {
                let (name, value) = fields.get(i as usize);
                self.owed.push(name, value);
            }
        }
        self.owed_times += 1;
    }

    /// Add the entries owed ([`Decoder::replay`]).
    fn settle(&mut self) {
        if self.owed_times == 0 {
            return;
        }
        let size: usize = self.owed.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
        // Past this many repeats, the repeats after overfill the table alone.
        let times = self.owed_times.min(self.table.max / size + 1);
        for _ in 0..times {
            for (name, value) in self.owed.iter() {
                self.table.insert(name, value);
            }
        }
        self.owed_times = 0;
    }

    /// Decode one whole header block into `out` (cleared first).
    pub fn decode(&mut self, mut block: &[u8], out: &mut Fields) -> Result<(), Invalid> {
        self.settle();
        out.clear();
        self.inserted.clear();
        self.replayable = false;
        let mut dynamic = false;
        let mut first = true;
        while let Some(&byte) = block.first() {
            if byte & 0x80 != 0 {
                let index = integer(&mut block, 7)?;
                dynamic |= index > STATIC.len();
                let (name, value) = field(&self.table, index)?;
                out.push(name, value);
            } else if byte & 0xe0 == 0x20 {
                // A dynamic table size update: only before the block's fields.
                let size = integer(&mut block, 5)?;
                if !first || size > TABLE_SIZE {
                    return Err(Invalid(
                        "dynamic table size update out of place or too large",
                    ));
                }
                self.table.resize(size);
                dynamic = true;
                continue;
            } else {
                let (prefix, indexing) = if byte & 0xc0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let index = integer(&mut block, prefix)?;
                dynamic |= index > STATIC.len();
                self.name.clear();
                if index == 0 {
                    string(&mut block, &mut self.name)?;
                } else {
                    let (name, _) = field(&self.table, index)?;
                    self.name.extend_from_slice(name);
                }
                out.push(&self.name, &[]);
                // The value goes straight after the name in `out`.
                out.ends.pop();
                let name_end = out.bytes.len() as u32;
                string(&mut block, &mut out.bytes)?;
                out.ends.push((name_end, out.bytes.len() as u32));
                if indexing {
                    let (name, value) = out.last();
                    self.table.insert(name, value);
                    self.inserted.push(out.len() as u32 - 1);
                }
            }
            first = false;
        }
        self.replayable = !dynamic;
        Ok(())
    }
}

/// Entry `index` of the static table then of `table`.
fn field(table: &Table, index: usize) -> Result<(&[u8], &[u8]), Invalid> {
    match index {
        0 => Err(Invalid("header index 0")),
        1..=61 => Ok(STATIC[index - 1]),
        _ => table
            .get(index - 61)
            .ok_or(Invalid("header index past the dynamic table")),
    }
}

/// Read an integer with an `n`-bit prefix (RFC 7541 section 5.1), at most 2^28.
fn integer(block: &mut &[u8], n: u32) -> Result<usize, Invalid> {
    const TRUNCATED: Invalid = Invalid("header block ends inside an integer");
    let (&first, mut rest) = block.split_first().ok_or(TRUNCATED)?;
    let max = (1usize << n) - 1;
    let mut value = first as usize & max;
    if value == max {
        let mut shift = 0;
        loop {
            let (&b, tail) = rest.split_first().ok_or(TRUNCATED)?;
            rest = tail;
            value += ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
            if shift > 21 {
                return Err(Invalid("header block integer too large"));
            }
        }
    }
    *block = rest;
    Ok(value)
}

/// Read a string literal (RFC 7541 section 5.2), appending its bytes to `out`.
fn string(block: &mut &[u8], out: &mut Vec<u8>) -> Result<(), Invalid> {
    let huffman = block.first().is_some_and(|b| b & 0x80 != 0);
    let len = integer(block, 7)?;
    if len > block.len() {
        return Err(Invalid("header block ends inside a string"));
    }
    let (s, rest) = block.split_at(len);
    *block = rest;
    if huffman {
        huffman::decode(s, out).map_err(|_| Invalid("a string's Huffman code is invalid"))
    } else {
        out.extend_from_slice(s);
        Ok(())
    }
}

/// Write an integer with an `n`-bit prefix, the prefix's other bits `flags`.
fn put_integer(out: &mut Vec<u8>, flags: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Write a raw string literal.
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_integer(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// Write the field `name: value` into a header block with no table of its own:
/// as a static-table entry when both match one, else as a literal without
/// indexing, its name by static index where the table has it.
pub fn encode(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    match lookup(name, value) {
        Ok(whole) => put_integer(out, 0x80, 7, whole),
        Err(name_index) => literal(out, 0, 4, name_index, name, value),
    }
}

/// The static table's index of `name: value` (`Ok`), or else of `name` (`Err`, 0
/// when it has not even the name).
fn lookup(name: &[u8], value: &[u8]) -> Result<usize, usize> {
    let mut name_index = 0;
    for (i, &(n, v)) in STATIC.iter().enumerate() {
        if n == name {
            if v == value {
                return Ok(i + 1);
            }
            if name_index == 0 {
                name_index = i + 1;
            }
            // The whole pairs of a name are next to each other.
            if STATIC.get(i + 1).is_none_or(|&(next, _)| next != name) {
                break;
            }
        }
    }
    Err(name_index)
}

/// Write a literal field: its representation's `flags` and `n`-bit prefix with
/// the name's index (0: the name follows as a string), then the value.
fn literal(out: &mut Vec<u8>, flags: u8, n: u32, name_index: usize, name: &[u8], value: &[u8]) {
    put_integer(out, flags, n, name_index);
    if name_index == 0 {
        put_string(out, name);
    }
    put_string(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(d: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
        let mut fields = Fields::default();
        d.decode(block, &mut fields).unwrap();
        fields
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8(n.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn integers_of_rfc_7541_c1() {
        let mut out = Vec::new();
        put_integer(&mut out, 0, 5, 10);
        assert_eq!(out, [10]);
        out.clear();
        put_integer(&mut out, 0, 5, 1337);
        assert_eq!(out, [31, 154, 10]);
        assert_eq!(integer(&mut &[31u8, 154, 10][..], 5), Ok(1337));
        assert_eq!(integer(&mut &[42u8][..], 8), Ok(42));
        assert!(integer(&mut &[31u8, 154][..], 5).is_err());
        assert!(integer(&mut &[31u8, 0xff, 0xff, 0xff, 0xff, 0x7f][..], 5).is_err());
    }

    /// RFC 7541 C.3: three requests without Huffman coding, on one table.
    #[test]
    fn requests_of_rfc_7541_c3() {
        let mut d = Decoder::new();
        let first = [
            0x82, 0x86, 0x84, 0x41, 0x0f, b'w', b'w', b'w', b'.', b'e', b'x', b'a', b'm', b'p',
            b'l', b'e', b'.', b'c', b'o', b'm',
        ];
        assert_eq!(
            decoded(&mut d, &first),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        assert_eq!(d.table.size, 57);
        let second = [
            0x82, 0x86, 0x84, 0xbe, 0x58, 0x08, b'n', b'o', b'-', b'c', b'a', b'c', b'h', b'e',
        ];
        assert_eq!(
            decoded(&mut d, &second),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache")
            ])
        );
        assert_eq!(d.table.size, 110);
        let mut third = vec![0x82, 0x87, 0x85, 0xbf, 0x40, 0x0a];
        third.extend_from_slice(b"custom-key");
        third.push(0x0c);
        third.extend_from_slice(b"custom-value");
        assert_eq!(
            decoded(&mut d, &third),
            pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value")
            ])
        );
        assert_eq!(d.table.size, 164);
        assert_eq!(
            d.table.get(1),
            Some((&b"custom-key"[..], &b"custom-value"[..]))
        );
    }

    /// Entries evicted oldest first when the table is full (RFC 7541 C.5's sizes:
    /// a 256-byte table), and the buffer compacted as entries come and go.
    #[test]
    fn eviction_keeps_the_newest_entries() {
        let mut d = Decoder::new();
        d.decode(&[0x3f, 0xe1, 0x01], &mut Fields::default())
            .unwrap(); // size 256
        assert_eq!(d.table.max, 256);
        for i in 0..200u32 {
            let value = format!("value-{i:04}-{}", "x".repeat((i % 7) as usize));
            let mut block = vec![0x40, 0x03];
            block.extend_from_slice(b"k-a");
            put_string(&mut block, value.as_bytes());
            // The entry just made, then by index.
            block.push(0xbe);
            let got = decoded(&mut d, &block);
            assert_eq!(got[0], got[1]);
            assert_eq!(got[0].1, value);
            assert!(d.table.size <= 256);
            assert!(
                d.table.bytes.len() <= 2 * 256 + 64,
                "{}",
                d.table.bytes.len()
            );
        }
        // Past the table's entries: an error, not a panic.
        let past = 61 + d.table.entries.len() + 1;
        let mut block = Vec::new();
        put_integer(&mut block, 0x80, 7, past);
        assert!(d.decode(&block, &mut Fields::default()).is_err());
    }

    /// RFC 7541 C.6.1: a response with Huffman-coded values.
    #[test]
    fn huffman_response_of_rfc_7541_c6() {
        let mut block = vec![0x48, 0x82, 0x64, 0x02, 0x58, 0x85];
        block.extend_from_slice(&[0xae, 0xc3, 0x77, 0x1a, 0x4b]);
        block.extend_from_slice(&[0x61, 0x96]);
        block.extend_from_slice(&[
            0xd0, 0x7a, 0xbe, 0x94, 0x10, 0x54, 0xd4, 0x44, 0xa8, 0x20, 0x05, 0x95, 0x04, 0x0b,
            0x81, 0x66, 0xe0, 0x82, 0xa6, 0x2d, 0x1b, 0xff,
        ]);
        block.extend_from_slice(&[0x6e, 0x91]);
        block.extend_from_slice(&[
            0x9d, 0x29, 0xad, 0x17, 0x18, 0x63, 0xc7, 0x8f, 0x0b, 0x97, 0xc8, 0xe9, 0xae, 0x82,
            0xae, 0x43, 0xd3,
        ]);
        assert_eq!(
            decoded(&mut Decoder::new(), &block),
            pairs(&[
                (":status", "302"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("location", "https://www.example.com"),
            ])
        );
    }

    #[test]
    fn encoded_fields_decode_back() {
        let fields = [
            (":method", "GET"),
            (":method", "PATCH"),
            (":scheme", "https"),
            (":path", "/api/items?id=7"),
            (":authority", "127.0.0.1:8080"),
            ("user-agent", "kaioken"),
            ("x-request-id", "3f9c"),
            ("content-length", "34"),
        ];
        let mut block = Vec::new();
        for (n, v) in fields {
            encode(&mut block, n.as_bytes(), v.as_bytes());
        }
        assert_eq!(block[0], 0x82);
        assert_eq!(decoded(&mut Decoder::new(), &block), pairs(&fields));
    }

    #[test]
    fn a_repeated_field_goes_as_one_index_byte() {
        let (mut e, mut d) = (Encoder::new(), Decoder::new());
        let fields = [
            (":authority", "127.0.0.1:8080", true),
            (":path", "/bench.Bench/Echo", true),
            ("x-request-id", "1", false),
        ];
        let mut sizes = Vec::new();
        for round in 0..3 {
            let mut block = Vec::new();
            e.begin(&mut block);
            let id = round.to_string();
            for (n, v, index) in fields {
                let v = if index { v } else { &id };
                e.field(
                    &mut block,
                    n.as_bytes(),
                    v.as_bytes(),
                    if index {
                        Indexing::Incremental
                    } else {
                        Indexing::Without
                    },
                );
            }
            let want = [
                (fields[0].0, fields[0].1),
                (fields[1].0, fields[1].1),
                ("x-request-id", &id),
            ];
            assert_eq!(decoded(&mut d, &block), pairs(&want));
            sizes.push(block.len());
        }
        // Then: two index bytes, and the changing field's literal (name and value).
        assert_eq!(sizes[1..], [2 + 1 + 1 + 12 + 1 + 1; 2]);
        assert!(sizes[0] > 30, "{sizes:?}");
    }

    #[test]
    fn the_version_moves_with_each_change_of_the_table_only() {
        let mut e = Encoder::new();
        let mut block = Vec::new();
        assert_eq!(e.version(), 0);
        e.field(&mut block, b":authority", b"a:1", Indexing::Incremental);
        assert_eq!(e.version(), 1, "an entry added");
        e.field(&mut block, b":authority", b"a:1", Indexing::Incremental);
        e.field(&mut block, b":method", b"GET", Indexing::Incremental);
        e.field(&mut block, b"x-id", b"7", Indexing::Without);
        e.field(&mut block, b"cookie", b"s=1", Indexing::Never);
        assert_eq!(e.version(), 1, "indexes and literals add nothing");
        e.resize(TABLE_SIZE);
        assert_eq!(e.version(), 1, "the same size");
        e.resize(100);
        assert_eq!(e.version(), 2, "a smaller table");
    }

    #[test]
    fn a_smaller_table_is_announced_first_in_the_next_block() {
        let (mut e, mut d) = (Encoder::new(), Decoder::new());
        let mut block = Vec::new();
        e.field(&mut block, b"x-a", b"1", Indexing::Incremental);
        decoded(&mut d, &block);
        e.resize(0);
        e.resize(100);
        block.clear();
        e.begin(&mut block);
        e.field(&mut block, b"x-a", b"1", Indexing::Incremental);
        // 0 (the smallest since the last block), then 100.
        assert_eq!(block[..3], [0x20, 0x3f, 100 - 31]);
        assert_eq!(decoded(&mut d, &block), pairs(&[("x-a", "1")]));
        block.clear();
        e.begin(&mut block);
        e.field(&mut block, b"x-a", b"1", Indexing::Incremental);
        assert_eq!(block, [0x80 | 62]);
        assert_eq!(decoded(&mut d, &block), pairs(&[("x-a", "1")]));
    }

    proptest::proptest! {
        /// Whatever fields the client sends, indexed or not, and however the
        /// server resizes its table between blocks, the server's decoder reads
        /// back what the encoder wrote.
        #[test]
        fn the_server_decodes_what_the_encoder_wrote(
            blocks in proptest::collection::vec(
                (
                    proptest::option::of(0usize..5000),
                    proptest::collection::vec((0usize..6, 0usize..40, 0usize..3), 0..8),
                ),
                1..30,
            )
        ) {
            const NAMES: [&str; 6] = [":authority", ":path", "content-type", "x-token", "cookie", "te"];
            let (mut e, mut d) = (Encoder::new(), Decoder::new());
            for (resize, fields) in blocks {
                if let Some(size) = resize {
                    e.resize(size);
                }
                let fields: Vec<(String, String, usize)> = fields
                    .into_iter()
                    .map(|(n, v, index)| (NAMES[n].to_string(), "v".repeat(v * 7), index))
                    .collect();
                let mut block = Vec::new();
                e.begin(&mut block);
                for (n, v, index) in &fields {
                    e.field(&mut block, n.as_bytes(), v.as_bytes(), [Indexing::Incremental, Indexing::Without, Indexing::Never][*index]);
                }
                let want: Vec<(&str, &str)> = fields.iter().map(|(n, v, _)| (n.as_str(), v.as_str())).collect();
                proptest::prop_assert_eq!(decoded(&mut d, &block), pairs(&want));
                proptest::prop_assert_eq!(d.table.size, e.table.size);
            }
        }

        /// A head replayed `times` times, its entries owed, leaves the table as
        /// decoding it `times` more times does: a block naming the table's
        /// entries reads the same in both (or fails in both).
        #[test]
        fn owed_entries_are_the_entries_decoding_would_add(
            table in 0usize..600,
            fields in proptest::collection::vec((0usize..4, 0usize..300), 1..5),
            times in 0usize..100,
            reads in 1usize..30,
        ) {
            let mut head = Vec::new();
            put_integer(&mut head, 0x20, 5, table);
            let mut repeat = Vec::new();
            for (i, (n, len)) in fields.iter().enumerate() {
                let value = i.to_string().repeat(*len);
                literal(&mut repeat, 0x40, 6, 0, format!("x-{n}").as_bytes(), value.as_bytes());
            }
            let mut read = Vec::new();
            for i in 0..reads {
                put_integer(&mut read, 0x80, 7, STATIC.len() + 1 + i);
            }
            let (mut lazy, mut eager) = (Decoder::new(), Decoder::new());
            let mut fields = Fields::default();
            for d in [&mut lazy, &mut eager] {
                d.decode(&head, &mut fields).unwrap();
                d.decode(&repeat, &mut fields).unwrap();
                proptest::prop_assert!(d.replayable());
            }
            for _ in 0..times {
                lazy.replay(&fields);
                eager.decode(&repeat, &mut Fields::default()).unwrap();
            }
            let (mut a, mut b) = (Fields::default(), Fields::default());
            let (ra, rb) = (lazy.decode(&read, &mut a), eager.decode(&read, &mut b));
            proptest::prop_assert_eq!(ra, rb);
            proptest::prop_assert_eq!(a.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
            proptest::prop_assert_eq!(lazy.table.size, eager.table.size);
            proptest::prop_assert_eq!(lazy.table.entries, eager.table.entries);
        }
    }

    #[test]
    fn a_size_update_after_a_field_is_refused() {
        assert!(
            Decoder::new()
                .decode(&[0x88, 0x20], &mut Fields::default())
                .is_err()
        );
        assert!(
            Decoder::new()
                .decode(&[0x3f, 0xe2, 0x1f], &mut Fields::default())
                .is_err()
        );
    }
}
