//! Golden dumps of every example scenario: the IR and the bytecode.
//!
//! Regenerate after an intended change with `cargo insta review` (or
//! `INSTA_UPDATE=always cargo test -p kaioken-compiler --test dumps`).

use std::collections::BTreeMap;

use kaioken_compiler::{ConfigFile, Input, compile, dump_ir, lower};

fn input(path: &std::path::Path) -> Input {
    // Paths in an example (a data source's file) are relative to its folder, which
    // is `examples/` from the workspace's root, as the name below says. Both tests
    // set the same directory, so running them in parallel is harmless.
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).unwrap();
    let name = format!("examples/{}", path.file_name().unwrap().to_string_lossy());
    Input {
        config: Some(ConfigFile {
            name,
            text: std::fs::read_to_string(path).unwrap(),
        }),
        env: BTreeMap::new(),
        ..Input::default()
    }
}

#[test]
fn ir() {
    insta::glob!("../../examples", "*.toml", |path| {
        let ir = lower(&input(path)).unwrap();
        let text = dump_ir(&ir, true, &kaioken_compiler::Redact::default());
        assert_eq!(
            text,
            dump_ir(
                &lower(&input(path)).unwrap(),
                true,
                &kaioken_compiler::Redact::default()
            ),
            "dumping twice differs"
        );
        insta::assert_snapshot!(text);
    });
}

#[test]
fn bytecode() {
    insta::glob!("../../examples", "*.toml", |path| {
        let program = compile(&lower(&input(path)).unwrap()).unwrap();
        insta::assert_snapshot!(program.to_string());
    });
}
