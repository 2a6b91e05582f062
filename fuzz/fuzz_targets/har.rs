//! The HAR front end on any recording: imported as TOML (`kaioken import har`), whose
//! scenario must compile, and compiled directly (`kaioken recording.har`).
#![no_main]

use kaioken_compiler::HarOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Every other input keeps assets and pauses too.
    let options = HarOptions {
        include_assets: data.len() % 2 == 1,
        include_hosts: Vec::new(),
        think_time: data.len() % 2 == 1,
    };
    match kaioken_compiler::import_har("fuzz.har", text, &options) {
        Ok(import) => {
            if let Err(errors) =
                kaioken_fuzz::compile_file("imported.toml", &import.toml, HarOptions::default())
            {
                panic!("the imported scenario does not compile:\n{errors}");
            }
        }
        Err(errors) => {
            errors
                .render(false)
                .expect("miette draws every compile error");
        }
    }
    let _ = kaioken_fuzz::compile_file("fuzz.har", text, options);
});
