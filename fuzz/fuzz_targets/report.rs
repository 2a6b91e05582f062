//! Reading JSON reports and comparing them (`kaioken compare`), on any text. Two
//! reports are separated by a NUL byte; without one, a report is compared with itself.
#![no_main]

use kaioken_report::comparison::{RunReport, Tolerances, compare};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (base, cur) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let (Ok(base), Ok(cur)) = (std::str::from_utf8(base), std::str::from_utf8(cur)) else {
        return;
    };
    let (Ok(base), Ok(cur)) = (RunReport::parse(base), RunReport::parse(cur)) else {
        return;
    };
    let tolerances = Tolerances {
        max_rps_drop: 0.1,
        max_latency_increase: 0.1,
        latency_floor_ms: 0.1,
        max_error_rate_increase: 0.01,
    };
    let found = compare(&base, &cur, &tolerances, "current.json");
    assert!(found.text.contains("metric"));
    assert_eq!(found.verdicts.len(), cur.thresholds().len());
});
