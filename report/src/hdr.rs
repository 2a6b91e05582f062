//! The report's latency histogram on the wire: HdrHistogram V2, DEFLATE, base64 (the
//! `histogram.data` field of docs/json.md). `run` encodes it; `compare` and the
//! summary decode it, so percentiles read back from a report are exact.

use base64::Engine;
use hdrhistogram::Histogram;
use std::io::Read;

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// `h` as the report stores it; empty if it cannot be serialized.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut data = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut data) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(&data),
        Err(_) => String::new(),
    }
}

/// The cookies that start a serialized HDR histogram (V2), plain and deflated.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// A V2 histogram's header: cookie, payload length, then 32 bytes of bounds.
const V2_HEADER: usize = 40;
/// The most a report's histogram may take once inflated: far more than kaioken writes
/// (tens of thousands of counts, a few bytes each).
const MAX_HISTOGRAM_BYTES: usize = 16 << 20;

/// The histogram of a report's `histogram.data` (base64 of the V2 format, deflated
/// or not), or `None` when it is not one. The sizes the data claims are checked against the bytes
/// that are there before anything is allocated for them: the deserializer reserves
/// whatever payload length the header claims, so one flipped bit in a report made
/// `compare` reserve gigabytes.
pub fn decode(data: &str) -> Option<Histogram<u64>> {
    let word = |bytes: &[u8], at: usize| -> Option<usize> {
        let word: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        usize::try_from(u32::from_be_bytes(word)).ok()
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    let inflated;
    let plain = if word(&bytes, 0)? == V2_DEFLATE_COOKIE as usize {
        let deflated = bytes.get(8..)?.get(..word(&bytes, 4)?)?;
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(deflated)
            .take(MAX_HISTOGRAM_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .ok()?;
        inflated = out;
        &inflated[..]
    } else {
        &bytes[..]
    };
    if plain.len() > MAX_HISTOGRAM_BYTES
        || word(plain, 0)? != V2_COOKIE as usize
        || word(plain, 4)? > plain.len().saturating_sub(V2_HEADER)
    {
        return None;
    }
    Deserializer::new().deserialize(&mut &plain[..]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: a histogram whose header claims a payload of gigabytes made
    /// the deserializer reserve them. Such a histogram is not read; a real one is,
    /// deflated or not.
    #[test]
    fn histograms_are_read_only_as_large_as_they_are() {
        use hdrhistogram::serialization::V2Serializer;

        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in [120, 450, 450, 9_000] {
            h.record(v).unwrap();
        }
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut plain = Vec::new();
        V2Serializer::new().serialize(&h, &mut plain).unwrap();
        let mut deflated = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&h, &mut deflated)
            .unwrap();
        assert_eq!(decode(&b64(&plain)), Some(h.clone()));
        assert_eq!(decode(&b64(&deflated)), Some(h));

        // The payload length (bytes 4..8) claiming 4 GB.
        let mut claims = plain.clone();
        claims[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode(&b64(&claims)), None);
        let mut inflated_claims = Vec::new();
        let mut z = flate2::write::ZlibEncoder::new(&mut inflated_claims, Default::default());
        std::io::Write::write_all(&mut z, &claims).unwrap();
        z.finish().unwrap();
        let mut wrapped = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        wrapped.extend_from_slice(&(inflated_claims.len() as u32).to_be_bytes());
        wrapped.extend_from_slice(&inflated_claims);
        assert_eq!(decode(&b64(&wrapped)), None);
        // The deflated length claiming more than there is.
        let mut short = deflated.clone();
        short[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode(&b64(&short)), None);
        assert_eq!(decode("not base64!"), None);
    }

    #[test]
    fn round_trips_losslessly() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in [1, 50, 370, 371, 1_000, 250_000, 3_000_000] {
            h.record(v).unwrap();
        }
        assert_eq!(decode(&encode(&h)), Some(h));
        assert_eq!(decode("not base64!"), None);
        assert_eq!(decode("aGVsbG8="), None);
    }
}
