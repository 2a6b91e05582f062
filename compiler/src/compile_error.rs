use std::fmt;

use kaioken_grammar::Span;
use miette::{Diagnostic, LabeledSpan, SourceSpan};

use crate::located::{Loc, Src};

/// One problem in the input, located in its source.
#[derive(Debug, Clone)]
pub struct CompileError {
    /// What is wrong.
    pub kind: CompileErrorKind,
    // Boxed: the source is only read when the error is printed, and keeping it out of
    // line keeps `Result<_, CompileError>` small on the happy path.
    src: Option<Box<Src>>,
    span: Option<SourceSpan>,
}

/// The kinds of [`CompileError`]. All wording is in the `Display` impl.
#[derive(Debug, Clone, PartialEq)]
pub enum CompileErrorKind {
    /// The TOML is not well-formed.
    TomlSyntax {
        /// The parser's message.
        message: String,
    },
    /// A key the schema does not have.
    UnknownKey {
        /// The key as written.
        found: String,
        /// The keys allowed there.
        expected: Vec<String>,
    },
    /// A value of the wrong type or shape.
    InvalidValue {
        /// The deserializer's message.
        message: String,
    },
    /// A `${…}` or duration that does not parse.
    Grammar {
        /// What the grammar said.
        message: String,
        /// Its suggestion.
        help: Option<&'static str>,
    },
    /// `${name}` that is neither a built-in nor an environment variable.
    UnknownVariable {
        /// The name.
        name: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// A built-in with the wrong arguments.
    BadBuiltinArgs {
        /// The built-in.
        name: String,
        /// What it takes.
        expected: &'static str,
    },
    /// `${name}` used by a step before the step that extracts it.
    UseBeforeExtract {
        /// The variable.
        name: String,
    },
    /// A built-in used where values are fixed before the run (e.g. a duration).
    BuiltinNotAllowed {
        /// The built-in's name.
        name: String,
    },
    /// A URL that kaioken cannot send to.
    BadUrl {
        /// Why.
        reason: String,
    },
    /// A header written without `name: value`, or with a bad name.
    BadHeader {
        /// Why.
        reason: String,
    },
    /// A method that is not an HTTP token.
    BadMethod,
    /// No target URL was given.
    MissingUrl,
    /// A number out of range, e.g. zero VUs.
    OutOfRange {
        /// The setting.
        what: &'static str,
        /// What is allowed.
        expected: &'static str,
    },
    /// Two settings that cannot go together.
    Conflict {
        /// Explanation.
        message: String,
    },
    /// A HAR recording or a Postman collection that is not well-formed JSON.
    JsonSyntax {
        /// The parser's message.
        message: String,
    },
    /// JSON that is not a HAR recording (no `log.entries`, or a value of the wrong type).
    NotHar {
        /// What is missing or wrong.
        message: String,
    },
    /// An OpenAPI or Swagger file that is not well-formed JSON or YAML.
    SpecSyntax {
        /// `JSON` or `YAML`.
        format: &'static str,
        /// The parser's message.
        message: String,
    },
    /// A file that is not an OpenAPI 3.0/3.1 or Swagger 2.0 document, names a version
    /// kaioken does not import, has a `$ref` that does not resolve, or has no
    /// operation left once filtered.
    NotSpec {
        /// What is missing or wrong.
        message: String,
    },
    /// An OpenAPI `$ref` that does not resolve: a file that cannot be read, a pointer
    /// to nothing, a remote document, a chain of `$ref`s that loops.
    SpecRef {
        /// What is wrong.
        message: String,
    },
    /// JSON that is not a Postman collection (or environment), or a collection of a
    /// version that is not supported.
    NotPostman {
        /// What is missing or wrong.
        message: String,
    },
    /// A HAR recording with no request left to replay once filtered.
    NoRequests {
        /// What the entries were and why each kind was left out.
        message: String,
        /// Which options would keep more.
        help: String,
    },
    /// A Postman collection with no request that can be sent: none at all, or each
    /// one left out (no URL, a method that is not a token).
    NoPostmanRequests {
        /// What the collection holds, and why its requests were left out.
        message: String,
        /// What to change in Postman.
        help: String,
    },
    /// A gRPC schema, method or message that does not fit: a `.proto` that does
    /// not compile, a method not in it, a message of the wrong shape, reflection
    /// that failed.
    Grpc {
        /// What is wrong.
        message: String,
    },
    /// A `[scripts]` function that does not compile, or a script setting that does
    /// not fit.
    Script {
        /// The function's name.
        name: String,
        /// What is wrong (Lua's words for a syntax error).
        message: String,
    },
    /// `script:name` or `${script:name}` naming no `[scripts]` function.
    UnknownScript {
        /// The name.
        name: String,
        /// The closest function's name.
        suggestion: Option<String>,
    },
    /// A data source (`[[data]]`, `--data`) whose file does not hold a table: a
    /// ragged CSV row, a JSON value that is not an array of objects, no rows.
    Data {
        /// The source's name.
        name: String,
        /// What is wrong, with the file's line where there is one.
        message: String,
    },
    /// A `--targets` list with a line that is not a target, a header or a body.
    Targets {
        /// What is wrong.
        message: String,
    },
    /// `${source.column}` naming a column its data source does not have.
    UnknownColumn {
        /// The source's name.
        source: String,
        /// The column asked for.
        column: String,
        /// The source's columns.
        columns: Vec<String>,
    },
    /// A file named in the input could not be read.
    Io {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
}

impl CompileError {
    pub(crate) fn at(kind: CompileErrorKind, loc: &Loc, inner: Option<Span>) -> CompileError {
        CompileError {
            kind,
            src: Some(Box::new(loc.src.clone())),
            span: Some(loc.source_span(inner)),
        }
    }

    pub(crate) fn in_source(
        kind: CompileErrorKind,
        src: &crate::located::Src,
        span: Option<std::ops::Range<usize>>,
    ) -> CompileError {
        let span = span.map(|r| SourceSpan::new(r.start.into(), r.len()));
        CompileError {
            kind,
            src: Some(Box::new(src.clone())),
            span,
        }
    }

    pub(crate) fn unlocated(kind: CompileErrorKind) -> CompileError {
        CompileError {
            kind,
            src: None,
            span: None,
        }
    }

    /// This error with what `rule` calls secret hidden: in its source (the file
    /// or flag a diagnostic quotes, and its name, which for a flag is the value),
    /// with its underline moved to match, and in its message.
    pub fn redacted(&self, rule: &kaioken_vm::Redact) -> CompileError {
        let mut kind = self.kind.clone();
        kind.redact(rule);
        let (src, span) = match &self.src {
            None => (None, self.span),
            Some(src) => {
                let text = rule.text_mapped(&src.text);
                let span = self.span.map(|s| {
                    let r = text.span(s.offset()..s.offset() + s.len());
                    SourceSpan::new(r.start.into(), r.len())
                });
                let name = rule.text(&src.name);
                // Its place as written, where the diagnostic names it.
                let written = self.span.and_then(|s| {
                    let place = miette::SourceCode::read_span(&**src, &s, 0, 0).ok()?;
                    Some((place.line(), place.column()))
                });
                let redacted = match (span, written) {
                    (Some(span), Some(place)) => {
                        crate::located::Src::hidden(name, text.text, span.offset(), place)
                    }
                    _ => crate::located::Src::new(name, text.text),
                };
                (Some(Box::new(redacted)), span)
            }
        };
        CompileError { kind, src, span }
    }

    fn code_str(&self) -> &'static str {
        match self.kind {
            CompileErrorKind::TomlSyntax { .. } => "kaioken::toml::syntax",
            CompileErrorKind::UnknownKey { .. } => "kaioken::toml::unknown_key",
            CompileErrorKind::InvalidValue { .. } => "kaioken::toml::invalid_value",
            CompileErrorKind::Grammar { .. } => "kaioken::compile::syntax",
            CompileErrorKind::UnknownVariable { .. } => "kaioken::compile::unknown_variable",
            CompileErrorKind::BuiltinNotAllowed { .. } => "kaioken::compile::builtin_not_allowed",
            CompileErrorKind::UseBeforeExtract { .. } => "kaioken::compile::use_before_extract",
            CompileErrorKind::BadBuiltinArgs { .. } => "kaioken::compile::builtin_arguments",
            CompileErrorKind::BadUrl { .. } => "kaioken::compile::bad_url",
            CompileErrorKind::BadHeader { .. } => "kaioken::compile::bad_header",
            CompileErrorKind::BadMethod => "kaioken::compile::bad_method",
            CompileErrorKind::MissingUrl => "kaioken::compile::missing_url",
            CompileErrorKind::OutOfRange { .. } => "kaioken::compile::out_of_range",
            CompileErrorKind::Conflict { .. } => "kaioken::compile::conflict",
            CompileErrorKind::JsonSyntax { .. } => "kaioken::json::syntax",
            CompileErrorKind::NotHar { .. } => "kaioken::har::not_har",
            CompileErrorKind::NotPostman { .. } => "kaioken::postman::not_collection",
            CompileErrorKind::NoRequests { .. } => "kaioken::har::no_requests",
            CompileErrorKind::NoPostmanRequests { .. } => "kaioken::postman::no_requests",
            CompileErrorKind::SpecSyntax { .. } => "kaioken::openapi::syntax",
            CompileErrorKind::NotSpec { .. } => "kaioken::openapi::spec",
            CompileErrorKind::SpecRef { .. } => "kaioken::openapi::ref",
            CompileErrorKind::Io { .. } => "kaioken::io",
            CompileErrorKind::Data { .. } => "kaioken::compile::data",
            CompileErrorKind::Targets { .. } => "kaioken::targets::syntax",
            CompileErrorKind::UnknownColumn { .. } => "kaioken::compile::unknown_column",
            CompileErrorKind::Grpc { .. } => "kaioken::compile::grpc",
            CompileErrorKind::Script { .. } => "kaioken::compile::script",
            CompileErrorKind::UnknownScript { .. } => "kaioken::compile::unknown_script",
        }
    }

    fn help_text(&self) -> Option<String> {
        match &self.kind {
            CompileErrorKind::UnknownKey { found, expected } => {
                match crate::suggest::closest(found, expected.iter().map(String::as_str)) {
                    Some(s) => Some(format!("did you mean `{s}`?")),
                    None if expected.is_empty() => None,
                    None => Some(format!(
                        "expected one of {}",
                        expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
            CompileErrorKind::Grammar { help, .. } => help.map(str::to_owned),
            // `duration = 30`: a duration is a string with its unit.
            CompileErrorKind::InvalidValue { message }
                if message.ends_with("expected a string")
                    && (message.starts_with("invalid type: integer")
                        || message.starts_with("invalid type: floating point")) =>
            {
                Some("write it in quotes; a duration with its unit, e.g. `\"30s\"` or `\"250ms\"`".to_owned())
            }
            CompileErrorKind::UnknownVariable { suggestion: Some(s), .. } => Some(format!("did you mean `{s}`?")),
            CompileErrorKind::UnknownVariable { suggestion: None, .. } => Some(
                "built-ins are `REQUEST_ID`, `TIMESTAMP_MS`, `VU`, `ITERATION`, `UUID` and `RANDOM(min,max)`; any other name must be extracted by an earlier step or be an environment variable"
                    .to_owned(),
            ),
            CompileErrorKind::UseBeforeExtract { .. } => Some(
                "a step can use what the steps before it in the same scenario extract".to_owned(),
            ),
            CompileErrorKind::BuiltinNotAllowed { .. } => {
                Some("only environment variables can be used here; built-ins change per request".to_owned())
            }
            CompileErrorKind::BadUrl { .. } => Some("write a full URL, e.g. `http://127.0.0.1:8080/path`".to_owned()),
            CompileErrorKind::BadHeader { .. } => Some("write headers as `Name: value`".to_owned()),
            CompileErrorKind::BadMethod => Some("use a method such as `GET`, `POST`, `PUT` or `DELETE`".to_owned()),
            CompileErrorKind::NotHar { .. } => Some(
                "a HAR recording is a JSON object `{\"log\": {\"entries\": [...]}}`, as browsers' developer tools and proxies save it"
                    .to_owned(),
            ),
            CompileErrorKind::NotPostman { .. } => Some(
                "export the collection from Postman as Collection v2.1 (v2.0 works too); an environment is exported from Environments as `{\"values\": [...]}`"
                    .to_owned(),
            ),
            CompileErrorKind::NoRequests { help, .. }
            | CompileErrorKind::NoPostmanRequests { help, .. } => Some(help.clone()),
            // Not for a spec with no operation left: its version was fine.
            CompileErrorKind::NotSpec { message } if !message.contains("operation") => Some(
                "kaioken imports OpenAPI 3.0 and 3.1 (`openapi: 3.x.y`) and Swagger 2.0 (`swagger: \"2.0\"`) documents, in JSON or YAML"
                    .to_owned(),
            ),
            CompileErrorKind::UnknownScript { suggestion: Some(s), .. } => Some(format!("did you mean `{s}`?")),
            CompileErrorKind::UnknownScript { suggestion: None, .. } => Some(
                "define it in `[scripts]`, e.g. `name = \"return r.status == 200\"`".to_owned(),
            ),
            CompileErrorKind::Script { .. } => Some(
                "a script is the body of a Lua function; docs/plugins.md says what each kind is given and returns".to_owned(),
            ),
            CompileErrorKind::UnknownColumn { source, column, columns } => {
                match crate::suggest::closest(column, columns.iter().map(String::as_str)) {
                    Some(s) => Some(format!("did you mean `{source}.{s}`?")),
                    None => Some(format!(
                        "its columns are {}",
                        columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
            CompileErrorKind::MissingUrl => {
                Some("pass a URL, e.g. `kaioken http://127.0.0.1:8080/`, or set `url` in `[target]`".to_owned())
            }
            _ => None,
        }
    }

    fn label_text(&self) -> &'static str {
        match self.kind {
            CompileErrorKind::UnknownKey { .. } => "unknown key",
            CompileErrorKind::UnknownVariable { .. } => "not a built-in or environment variable",
            CompileErrorKind::TomlSyntax { .. } => "here",
            _ => "here",
        }
    }
}

impl CompileErrorKind {
    /// Hide what `rule` calls secret in every text the kind carries.
    fn redact(&mut self, rule: &kaioken_vm::Redact) {
        let texts: Vec<&mut String> = match self {
            CompileErrorKind::TomlSyntax { message }
            | CompileErrorKind::InvalidValue { message }
            | CompileErrorKind::Grammar { message, .. }
            | CompileErrorKind::Conflict { message }
            | CompileErrorKind::JsonSyntax { message }
            | CompileErrorKind::NotHar { message }
            | CompileErrorKind::SpecSyntax { message, .. }
            | CompileErrorKind::NotSpec { message }
            | CompileErrorKind::SpecRef { message }
            | CompileErrorKind::NotPostman { message }
            | CompileErrorKind::Grpc { message }
            | CompileErrorKind::Script { message, .. } => vec![message],
            CompileErrorKind::UnknownKey { found, .. } => vec![found],
            CompileErrorKind::BadUrl { reason } | CompileErrorKind::BadHeader { reason } => {
                vec![reason]
            }
            CompileErrorKind::NoRequests { message, help }
            | CompileErrorKind::NoPostmanRequests { message, help } => vec![message, help],
            CompileErrorKind::Io { path, message } => vec![path, message],
            CompileErrorKind::Data { message, .. } | CompileErrorKind::Targets { message } => {
                vec![message]
            }
            CompileErrorKind::UnknownColumn { .. }
            | CompileErrorKind::UnknownVariable { .. }
            | CompileErrorKind::BadBuiltinArgs { .. }
            | CompileErrorKind::UseBeforeExtract { .. }
            | CompileErrorKind::BuiltinNotAllowed { .. }
            | CompileErrorKind::UnknownScript { .. }
            | CompileErrorKind::BadMethod
            | CompileErrorKind::MissingUrl
            | CompileErrorKind::OutOfRange { .. } => Vec::new(),
        };
        for text in texts {
            *text = rule.text(text);
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            CompileErrorKind::TomlSyntax { message } => write!(f, "invalid TOML: {message}"),
            CompileErrorKind::UnknownKey { found, .. } => write!(f, "unknown key `{found}`"),
            CompileErrorKind::InvalidValue { message } => write!(f, "invalid value: {message}"),
            CompileErrorKind::Grammar { message, .. } => f.write_str(message),
            CompileErrorKind::UnknownVariable { name, .. } => {
                write!(f, "unknown variable `{name}`")
            }
            CompileErrorKind::BuiltinNotAllowed { name } => {
                write!(f, "built-in `{name}` cannot be used here")
            }
            CompileErrorKind::BadBuiltinArgs { name, expected } => {
                write!(f, "`{name}` takes {expected}")
            }
            CompileErrorKind::UseBeforeExtract { name } => {
                write!(
                    f,
                    "`${{{name}}}` is used before any step can have extracted it"
                )
            }
            CompileErrorKind::BadUrl { reason } => write!(f, "invalid URL: {reason}"),
            CompileErrorKind::BadHeader { reason } => write!(f, "invalid header: {reason}"),
            CompileErrorKind::BadMethod => write!(f, "invalid HTTP method"),
            CompileErrorKind::MissingUrl => write!(f, "no target URL"),
            CompileErrorKind::OutOfRange { what, expected } => {
                write!(f, "`{what}` is out of range; expected {expected}")
            }
            CompileErrorKind::Conflict { message } => f.write_str(message),
            CompileErrorKind::JsonSyntax { message } => write!(f, "invalid JSON: {message}"),
            CompileErrorKind::NotHar { message } => write!(f, "not a HAR recording: {message}"),
            CompileErrorKind::SpecSyntax { format, message } => {
                write!(f, "invalid {format}: {message}")
            }
            CompileErrorKind::NotSpec { message } | CompileErrorKind::SpecRef { message } => {
                f.write_str(message)
            }
            CompileErrorKind::NotPostman { message } => {
                write!(f, "not a usable Postman file: {message}")
            }
            CompileErrorKind::NoRequests { message, .. } => {
                write!(f, "no requests to replay in the recording: {message}")
            }
            CompileErrorKind::NoPostmanRequests { message, .. } => f.write_str(message),
            CompileErrorKind::Io { path, message } => write!(f, "cannot read `{path}`: {message}"),
            CompileErrorKind::Grpc { message } => f.write_str(message),
            CompileErrorKind::Targets { message } => write!(f, "invalid target list: {message}"),
            CompileErrorKind::Data { name, message } => {
                write!(f, "data source `{name}`: {message}")
            }
            CompileErrorKind::UnknownColumn { source, column, .. } => {
                write!(f, "data source `{source}` has no column `{column}`")
            }
            CompileErrorKind::Script { name, message } => {
                write!(f, "in script `{name}`: {message}")
            }
            CompileErrorKind::UnknownScript { name, .. } => {
                write!(f, "unknown script `{name}`")
            }
        }
    }
}

impl std::error::Error for CompileError {}

impl Diagnostic for CompileError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code_str()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help_text()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.src.as_deref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        // Within what the source shows of a long line (see snippet.rs).
        let span = match &self.src {
            Some(src) => crate::snippet::clip(&src.text, self.span?),
            None => self.span?,
        };
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label_text().to_owned()),
            span,
        ))))
    }
}

/// Every problem found in one input: the first is the headline, the rest are related.
#[derive(Debug, Clone)]
pub struct CompileErrors {
    /// The errors, in source order. Never empty.
    pub errors: Vec<CompileError>,
}

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.first() {
            Some(first) => fmt::Display::fmt(first, f),
            None => f.write_str("internal error, this may indicate a bug in kaioken: empty error list; please file an issue"),
        }
    }
}

impl std::error::Error for CompileErrors {}

impl Diagnostic for CompileErrors {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.errors.first()?.code()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.errors.first()?.help()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.errors.first()?.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.errors.first()?.labels()
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.errors.len() < 2 {
            return None;
        }
        Some(Box::new(
            self.errors[1..].iter().map(|e| e as &dyn Diagnostic),
        ))
    }
}

impl CompileErrors {
    /// The errors as kaioken prints them: each with its location, the source around
    /// it underlined, and its help, wrapped at 100 columns; `color` for a terminal.
    /// `None` if the report could not be drawn (the caller then prints the plain
    /// message).
    pub fn render(&self, color: bool) -> Option<String> {
        let theme = if color {
            miette::GraphicalTheme::default()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
        let mut text = String::new();
        handler.render_report(&mut text, self).ok()?;
        Some(text)
    }

    /// Every error with what `rule` calls secret hidden (see
    /// [`CompileError::redacted`]): what the CLI prints.
    pub fn redacted(&self, rule: &kaioken_vm::Redact) -> CompileErrors {
        CompileErrors {
            errors: self.errors.iter().map(|e| e.redacted(rule)).collect(),
        }
    }
}

impl From<CompileError> for CompileErrors {
    fn from(e: CompileError) -> CompileErrors {
        CompileErrors { errors: vec![e] }
    }
}

/// A parser's message without the ` at line L column C` it ends with (serde_json's,
/// serde_norway's): the diagnostic names the place itself.
pub(crate) fn without_position(message: &str) -> &str {
    message.rsplit_once(" at line ").map_or(message, |(m, _)| m)
}
