//! The TOML front end, lowering and the bytecode compiler, on any scenario file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = kaioken_fuzz::compile_file("fuzz.toml", text, Default::default());
    }
});
