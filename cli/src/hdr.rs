//! The report's latency histogram on the wire: HdrHistogram V2, DEFLATE, base64 (the
//! `histogram.data` field of docs/json.md). `run` encodes it; `compare` and the
//! summary decode it, so percentiles read back from a report are exact.

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// `h` as the report stores it; empty if it cannot be serialized.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut data = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut data) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(&data),
        Err(_) => String::new(),
    }
}

/// The histogram of a report's `histogram.data`, or `None` if it does not decode.
pub fn decode(data: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
