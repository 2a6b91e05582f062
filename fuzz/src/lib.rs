//! What the fuzz targets share: compiling a scenario file the way `kaioken` does,
//! and drawing its errors the way `kaioken` prints them.
//!
//! Every input either compiles to a valid program or gets diagnostics that miette
//! can draw (where column 65,535 used to panic); anything else is a crash.

use std::collections::BTreeMap;

use kaioken_compiler::{ConfigFile, HarOptions, Input};

/// Compile scenario file `name` (TOML, or HAR when it ends in `.har`) with its text,
/// as `kaioken -f name --dry-run` does, and draw its errors when it has some: they
/// are the `Err`.
///
/// # Panics
///
/// When the compiler produces an invalid program, or miette cannot draw its errors.
pub fn compile_file(name: &str, text: &str, har: HarOptions) -> Result<(), String> {
    let input = Input {
        config: Some(ConfigFile {
            name: name.to_owned(),
            text: text.to_owned(),
        }),
        har,
        env: BTreeMap::from([
            ("HOST".to_owned(), "127.0.0.1:8080".to_owned()),
            ("TOKEN".to_owned(), "secret".to_owned()),
        ]),
        ..Input::default()
    };
    // The secrets rule every printer uses, as the command line builds it.
    let rule = kaioken_compiler::redaction(&input);
    match kaioken_compiler::lower(&input) {
        Ok(ir) => {
            assert!(!kaioken_compiler::dump_ir(&ir, true, &rule).is_empty());
            if let Err(e) = kaioken_compiler::compile(&ir) {
                panic!("the compiler made an invalid program: {e}");
            }
            Ok(())
        }
        Err(errors) => {
            let errors = errors.redacted(&rule);
            let drawn = errors
                .render(false)
                .expect("miette draws every compile error");
            // The headline is there, however it was wrapped (a line it goes on to is
            // indented, after a `│` when the message has lines of its own).
            let squeeze = |s: &str| {
                s.chars()
                    .filter(|c| !c.is_whitespace() && *c != '│')
                    .collect::<String>()
            };
            assert!(
                squeeze(&drawn).contains(&squeeze(&errors.to_string())),
                "{drawn}"
            );
            errors.render(true).expect("and in color too");
            Err(drawn)
        }
    }
}
