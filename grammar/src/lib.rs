//! The small languages inside a kaioken scenario.
//!
//! ```text
//!  scenario.toml / flags / HAR ──► compiler ──► Ir ──► Program ──► VU loop
//!                                     │
//!                                     └─ asks this crate to parse each string:
//!                                        "${BASE}/items/${REQUEST_ID}" → Template
//!                                        "1h30m"                       → Duration
//! ```
//!
//! Everything here is pure: a string goes in, a typed AST with byte spans (relative to
//! the start of that string) comes out, or a [`GrammarError`] that says where and why.
//! The compiler maps those spans onto the scenario file, so a diagnostic can underline
//! the exact characters inside a TOML string. The pest grammar is `src/kaioken.pest`;
//! its EBNF twin is `GRAMMAR.md`.

mod duration;
mod grammar_error;
mod parser;
mod span;
mod template;

pub use duration::{format_duration, parse_duration};
pub use grammar_error::{GrammarError, GrammarErrorKind};
pub use span::Span;
pub use template::{Template, TemplatePart, parse_template};
