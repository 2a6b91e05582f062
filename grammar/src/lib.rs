//! The small languages inside a kaioken scenario.
//!
//! ```text
//!  scenario.toml / flags / HAR ──► compiler ──► Ir ──► Program ──► VU loop
//!                                     │
//!                                     └─ asks this crate to parse each string:
//!                                        "${BASE}/items/${REQUEST_ID}" → Template
//!                                        "1h30m"                       → Duration
//!                                        "status in [200, 201]"        → Check
//!                                        "json:$.items[0].id"          → Extractor
//!                                        "< 200ms"                     → Threshold
//! ```
//!
//! Everything here is pure: a string goes in, a typed AST with byte spans (relative to
//! the start of that string) comes out, or a [`GrammarError`] that says where and why.
//! The compiler maps those spans onto the scenario file, so a diagnostic can underline
//! the exact characters inside a TOML string. The pest grammar is `src/kaioken.pest`;
//! its EBNF twin is `GRAMMAR.md`.

mod check;
mod duration;
mod extractor;
mod grammar_error;
mod parser;
mod span;
mod template;
mod threshold;

pub use check::{
    Check, CmpOp, Comparison, GRPC_CODES, Predicate, SUBJECTS, Subject, Value, parse_check,
};
pub use duration::{MAX_DURATION, format_duration, parse_duration};
pub use extractor::{Extractor, parse_extractor};
pub use grammar_error::{GrammarError, GrammarErrorKind, max_duration};
pub use span::Span;
pub use template::{Template, TemplatePart, parse_template};
pub use threshold::{Threshold, parse_threshold};

/// Whether `name` is an identifier of the grammar (`ident` in `kaioken.pest`): ASCII
/// letters, digits and `_`, not starting with a digit. Variables, extractors, data
/// sources, scripts and setup keys are all named by it, since `${name}` must reach them.
pub fn is_identifier(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
