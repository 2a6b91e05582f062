//! The redaction rule of one command: the built-in lists of [`Redact`] plus the
//! names the user added with `--redact NAME` and a scenario's top-level
//! `redact = [...]`.
//!
//! Part of the compiler's surface for the CLI, beside `lower`: the CLI builds the
//! rule once, before anything is printed, and hands the same rule to every printer
//! (diagnostics, `--dry-run`, `--dump`, the report, the summary, the live view). A
//! scenario that fails to compile still has its names applied to the diagnostics
//! that quote it, so they are read leniently here; the TOML front end checks the key
//! and reports a malformed one.

use kaioken_vm::Redact;

use crate::Input;

/// The rule for `input`.
///
/// # Example
///
/// ```
/// use kaioken_compiler::{ConfigFile, Flags, Input, redaction};
///
/// let input = Input {
///     config: Some(ConfigFile {
///         name: "s.toml".into(),
///         text: "redact = [\"X-Session\"]\n[target]\nurl = \"http://127.0.0.1/\"\n".into(),
///     }),
///     flags: Flags {
///         redact: vec!["x-tenant".into()],
///         ..Flags::default()
///     },
///     ..Input::default()
/// };
/// let rule = redaction(&input);
/// assert_eq!(rule.extra(), ["x-session", "x-tenant"]);
/// assert!(rule.is_secret_header(b"Authorization"));
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn redaction(input: &Input) -> Redact {
    let mut names = input.flags.redact.clone();
    if let Some(config) = &input.config {
        names.extend(scenario_names(&config.text));
    }
    Redact::new(names)
}

/// The names of a scenario's top-level `redact = [...]`. A file that does not
/// parse (a diagnostic is about to quote it) is searched for that line alone.
fn scenario_names(text: &str) -> Vec<String> {
    let strings = |table: &toml::Table| -> Vec<String> {
        match table.get("redact") {
            Some(toml::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    // A JSON object (a HAR recording, a Postman collection) is never TOML, and a
    // recording is megabytes for the TOML parser to go through only to fail.
    let json = text.trim_start().starts_with('{');
    if !json && let Ok(table) = text.parse::<toml::Table>() {
        return strings(&table);
    }
    text.lines()
        .filter(|l| l.trim_start().starts_with("redact"))
        .filter_map(|l| l.parse::<toml::Table>().ok())
        .flat_map(|t| strings(&t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::scenario_names;

    #[test]
    fn names_are_read_from_a_file_even_when_it_does_not_parse() {
        assert_eq!(
            scenario_names("redact = [\"A\", 'b']\n[target]\n"),
            ["A", "b"]
        );
        assert_eq!(
            scenario_names("redact = [\"A\"]\n[target\nurl = \"x\"\n"),
            ["A"]
        );
        // A `redact` inside a table is not the top-level key.
        assert!(scenario_names("[target]\nredact = [\"A\"]\n").is_empty());
        assert!(scenario_names("[target]\nurl = \"x\"\n").is_empty());
        // JSON is searched line by line only (where a line of it cannot be this key).
        assert!(scenario_names("{\"redact\": [\"A\"]}").is_empty());
        assert!(scenario_names(" {\"log\": {}}").is_empty());
        assert_eq!(scenario_names("{\nredact = [\"A\"]\n"), ["A"]);
    }
}
