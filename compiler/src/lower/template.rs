//! `${…}` templates: parsed, each name resolved, environment variables folded.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): a
//! template becomes an IR [`Template`] of literal bytes and the parts that change per
//! request (built-ins, extracted values). Environment variables are read once, here,
//! and become literals, so the VM never looks one up. Where only fixed text may
//! appear (a duration, a file path), [`Lowerer::fold_env`] refuses anything else.

use kaioken_grammar::{TemplatePart, parse_template};
use kaioken_vm::Builtin;

use super::Lowerer;
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::located::{Loc, Located};
use crate::{Part, Template};

/// What a `${name}` resolves to.
enum Resolved {
    Extracted(String),
    Builtin(Builtin),
    Env(String),
}

impl Lowerer<'_> {
    /// A string where only environment variables may appear.
    pub(super) fn fold_env(&mut self, value: &Located<String>) -> String {
        match self.template(value) {
            Some(t) => {
                let mut out = Vec::new();
                for part in &t.parts {
                    match part {
                        Part::Lit(bytes) => out.extend_from_slice(bytes),
                        Part::Builtin(b) => {
                            let kind = CompileErrorKind::BuiltinNotAllowed {
                                name: b.name().into(),
                            };
                            self.errors.push(CompileError::at(kind, &value.loc, None));
                        }
                        Part::Extracted(var) | Part::UrlEncoded(var) => {
                            let kind = CompileErrorKind::BuiltinNotAllowed { name: var.clone() };
                            self.errors.push(CompileError::at(kind, &value.loc, None));
                        }
                        Part::Random(..) => {
                            let kind = CompileErrorKind::BuiltinNotAllowed {
                                name: "RANDOM".into(),
                            };
                            self.errors.push(CompileError::at(kind, &value.loc, None));
                        }
                    }
                }
                String::from_utf8_lossy(&out).into_owned()
            }
            None => value.value.clone(),
        }
    }

    /// Parse a template, fold environment variables, keep built-ins.
    pub(super) fn template(&mut self, value: &Located<String>) -> Option<Template> {
        let parsed = match parse_template(&value.value) {
            Ok(t) => t,
            Err(e) => {
                self.parse_error(&e, &value.loc);
                return None;
            }
        };
        let mut out = Template::default();
        let mut ok = true;
        for part in parsed.parts {
            match part {
                TemplatePart::Literal { text, .. } => out.push_lit(text.as_bytes()),
                TemplatePart::Var {
                    name,
                    args,
                    of,
                    span,
                } => {
                    if name == "RANDOM" && of.is_none() {
                        match args.as_slice() {
                            &[lo, hi] if lo <= hi => out.parts.push(Part::Random(lo, hi)),
                            _ => {
                                let kind = CompileErrorKind::BadBuiltinArgs {
                                    name,
                                    expected: "two integers, the smallest first: `${RANDOM(1,100)}`",
                                };
                                self.errors
                                    .push(CompileError::at(kind, &value.loc, Some(span)));
                                ok = false;
                            }
                        }
                        continue;
                    }
                    let (name, encode) = match (name.as_str(), of) {
                        ("URLENCODE", Some(of)) if args.is_empty() => (of, true),
                        (_, None) if args.is_empty() && name != "URLENCODE" => (name, false),
                        _ => {
                            let expected = match name.as_str() {
                                "URLENCODE" => "the name of a value: `${URLENCODE(token)}`",
                                "RANDOM" => "two integers, the smallest first: `${RANDOM(1,100)}`",
                                _ => "no arguments",
                            };
                            let kind = CompileErrorKind::BadBuiltinArgs { name, expected };
                            self.errors
                                .push(CompileError::at(kind, &value.loc, Some(span)));
                            ok = false;
                            continue;
                        }
                    };
                    match self.resolve(name, &value.loc, span) {
                        Some(Resolved::Extracted(var)) if encode => {
                            out.parts.push(Part::UrlEncoded(var));
                        }
                        Some(Resolved::Extracted(var)) => out.parts.push(Part::Extracted(var)),
                        // Built-ins write only letters, digits and `-`: nothing to encode.
                        Some(Resolved::Builtin(b)) => out.parts.push(Part::Builtin(b)),
                        Some(Resolved::Env(v)) if encode => {
                            let mut encoded = Vec::new();
                            kaioken_vm::push_url_encoded(&mut encoded, v.as_bytes());
                            out.push_lit(&encoded);
                        }
                        Some(Resolved::Env(v)) => out.push_lit(v.as_bytes()),
                        None => ok = false,
                    }
                }
            }
        }
        ok.then_some(out)
    }

    /// What the name in a `${name}` stands for, in order: a value an earlier step
    /// extracted, a built-in, an environment variable. A name only later steps
    /// extract, or no name at all, is an error (with the closest known name).
    fn resolve(
        &mut self,
        name: String,
        loc: &Loc,
        span: kaioken_grammar::Span,
    ) -> Option<Resolved> {
        if self.extracted.contains(&name) {
            return Some(Resolved::Extracted(name));
        }
        if let Some(b) = Builtin::from_name(&name) {
            return Some(Resolved::Builtin(b));
        }
        if self.extracted_later.contains(&name) {
            let kind = CompileErrorKind::UseBeforeExtract { name };
            self.errors.push(CompileError::at(kind, loc, Some(span)));
            return None;
        }
        if let Some(v) = self.env.get(&name) {
            return Some(Resolved::Env(v.clone()));
        }
        let candidates = Builtin::ALL
            .iter()
            .map(|b| b.name())
            .chain(["RANDOM", "URLENCODE"])
            .chain(self.extracted.iter().map(String::as_str))
            .chain(self.env.keys().map(String::as_str));
        let suggestion = crate::suggest::closest(&name, candidates).map(str::to_owned);
        let kind = CompileErrorKind::UnknownVariable { name, suggestion };
        self.errors.push(CompileError::at(kind, loc, Some(span)));
        None
    }
}
