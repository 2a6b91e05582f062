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
                        Part::Script(name) => {
                            let kind = CompileErrorKind::BuiltinNotAllowed {
                                name: format!("script:{name}"),
                            };
                            self.errors.push(CompileError::at(kind, &value.loc, None));
                        }
                        Part::Setup(key) | Part::SetupEncoded(key) => {
                            let kind = CompileErrorKind::BuiltinNotAllowed {
                                name: format!("setup.{key}"),
                            };
                            self.errors.push(CompileError::at(kind, &value.loc, None));
                        }
                        Part::Data(source, column) | Part::DataEncoded(source, column) => {
                            let kind = CompileErrorKind::BuiltinNotAllowed {
                                name: format!("{source}.{column}"),
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
        self.template_in(value, false)
    }

    /// A URL's template: as [`Lowerer::template`], with each environment variable's
    /// value percent-encoded where a request target cannot carry it
    /// (`kaioken_vm::push_target_encoded`), as values filled in at run time are
    /// (`buf.sloturl`). A value holding a space or a non-ASCII letter is data for
    /// the URL, not a mistake in it; `/`, `?`, `&`, `:` and `%` are left alone, so a
    /// variable may still carry an origin, a path or a query.
    pub(super) fn url_template(&mut self, value: &Located<String>) -> Option<Template> {
        self.template_in(value, true)
    }

    fn template_in(&mut self, value: &Located<String>, url: bool) -> Option<Template> {
        let parsed = match parse_template(&value.value) {
            Ok(t) => t,
            Err(e) => {
                self.parse_error(&e, &value.loc);
                return None;
            }
        };
        // Sized to the parsed parts (most templates are one literal): a 10,000-step
        // recording has tens of thousands of templates.
        let mut out = Template {
            parts: Vec::with_capacity(parsed.parts.len()),
        };
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
                    if let Some(part) = self.qualified(&name, &args, &of, &value.loc, span) {
                        match part {
                            Some(part) => out.parts.push(part),
                            None => ok = false,
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
                    if encode && name.contains(['.', ':']) {
                        match self.encoded_qualified(&name, &value.loc, span) {
                            Some(part) => out.parts.push(part),
                            None => ok = false,
                        }
                        continue;
                    }
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
                        Some(Resolved::Env(v)) if url => {
                            let mut encoded = Vec::with_capacity(v.len());
                            kaioken_vm::push_target_encoded(&mut encoded, v.as_bytes());
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

    /// `${script:name}`, `${setup.key}` and `${source.column}` (a data source's
    /// column): `None` for any other name, else the part
    /// (or `None` inside, after reporting what is wrong with it).
    fn qualified(
        &mut self,
        name: &str,
        args: &[i64],
        of: &Option<String>,
        loc: &Loc,
        span: kaioken_grammar::Span,
    ) -> Option<Option<Part>> {
        let (prefix, rest) = name.split_once([':', '.'])?;
        if !args.is_empty() || of.is_some() {
            let kind = CompileErrorKind::BadBuiltinArgs {
                name: name.to_owned(),
                expected: "no arguments",
            };
            self.errors.push(CompileError::at(kind, loc, Some(span)));
            return Some(None);
        }
        Some(match (prefix, &name[prefix.len()..prefix.len() + 1]) {
            ("script", ":") => self
                .known_script(rest, loc, Some(span))
                .then(|| Part::Script(rest.to_owned())),
            ("setup", ".") if self.script_names.contains("setup") => {
                Some(Part::Setup(rest.to_owned()))
            }
            ("setup", ".") => {
                self.conflict(
                    loc,
                    &format!("`${{{name}}}` reads what the `setup` script returns, and `[scripts]` has no `setup`"),
                );
                None
            }
            (source, ".") if self.data_failed.contains(source) => None,
            (source, ".") if self.data.iter().any(|t| t.name == source) => {
                self.data_column(source, rest, loc, span).flatten()
            }
            _ => {
                let sources: Vec<String> = self.data.iter().map(|t| t.name.clone()).collect();
                let suggestion =
                    crate::suggest::closest(prefix, sources.iter().map(String::as_str))
                        .map_or_else(|| format!("script:{rest}"), |s| format!("{s}.{rest}"));
                let kind = CompileErrorKind::UnknownVariable {
                    name: name.to_owned(),
                    suggestion: Some(suggestion),
                };
                self.errors.push(CompileError::at(kind, loc, Some(span)));
                None
            }
        })
    }

    /// `${URLENCODE(source.column)}` and `${URLENCODE(setup.key)}`: the encoded
    /// part, or `None` after reporting what is wrong with the name.
    fn encoded_qualified(
        &mut self,
        name: &str,
        loc: &Loc,
        span: kaioken_grammar::Span,
    ) -> Option<Part> {
        match self.qualified(name, &[], &None, loc, span)?? {
            Part::Data(source, column) => Some(Part::DataEncoded(source, column)),
            Part::Setup(key) => Some(Part::SetupEncoded(key)),
            _ => {
                // A script runs once the request is built as far as its part;
                // encoding what it returns is the function's to do.
                let kind = CompileErrorKind::BadBuiltinArgs {
                    name: "URLENCODE".into(),
                    expected: "an extracted value, an environment variable, a data column \
                               (`${URLENCODE(users.name)}`) or a `setup` value, not a script's \
                               value; have the function return it encoded",
                };
                self.errors.push(CompileError::at(kind, loc, Some(span)));
                None
            }
        }
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

#[cfg(test)]
mod tests {
    use kaioken_vm::Builtin;

    use crate::lower::tests::{errors, errors_env, lower_env, ok, text};
    use crate::{CompileErrorKind, Part, Step};

    /// The one request of a file whose `[target] url` is `url`, with `env`.
    fn step(url: &str, env: &[(&str, &str)]) -> Step {
        let ir = lower_env(&format!("[target]\nurl = \"{url}\"\n"), env).unwrap();
        ir.scenarios[0].steps[0].clone()
    }

    #[test]
    fn built_ins_stay_per_request() {
        let s = step(
            "http://h/${VU}/${ITERATION}?r=${RANDOM(1,100)}&id=${UUID}",
            &[],
        );
        assert_eq!(
            s.path.parts,
            [
                Part::Lit(b"/".to_vec()),
                Part::Builtin(Builtin::Vu),
                Part::Lit(b"/".to_vec()),
                Part::Builtin(Builtin::Iteration),
                Part::Lit(b"?r=".to_vec()),
                Part::Random(1, 100),
                Part::Lit(b"&id=".to_vec()),
                Part::Builtin(Builtin::Uuid),
            ]
        );
        // `$${` is a literal `${`; in a path its braces are percent-encoded.
        assert_eq!(text(&step("http://h/$${VU}", &[]).path), "/$%7BVU%7D");
    }

    #[test]
    fn environment_variables_become_literals() {
        let env = [("TOKEN", "a+b/c"), ("HOST", "api.test")];
        let s = step("http://${HOST}/t/${TOKEN}?q=${URLENCODE(TOKEN)}", &env);
        assert_eq!(s.origin.host, "api.test");
        assert_eq!(s.path.parts, [Part::Lit(b"/t/a+b/c?q=a%2Bb%2Fc".to_vec())]);
        // In a URL, a value from the environment is encoded where a request target
        // cannot carry it, as a value extracted at run time is; elsewhere it is kept.
        let env = [("T", "a b/é?x=1&y=\"#\""), ("BASE", "http://h:81")];
        let ir = lower_env(
            "[target]\nurl = \"${BASE}/${T}\"\n[request]\nheaders = { x = \"${T}\" }\nbody = \"${T}\"\n",
            &env,
        )
        .unwrap();
        let s = &ir.scenarios[0].steps[0];
        assert_eq!(s.origin.authority, "h:81");
        assert_eq!(text(&s.path), "/a%20b/%C3%A9?x=1&y=%22%23%22");
        assert_eq!(text(&s.headers[0].1), "a b/é?x=1&y=\"#\"");
        assert_eq!(text(s.body.as_ref().unwrap()), "a b/é?x=1&y=\"#\"");
        // Text written in the URL itself is still refused.
        assert_eq!(
            errors_env("[target]\nurl = \"http://h/a b${T}\"\n", &[("T", "x")]),
            [
                "2:8 [http://h/a b${T}] invalid URL: the path contains a space or control character; percent-encode it (`%20`)"
            ]
        );
    }

    /// `URLENCODE` takes a qualified name too; a script's value is the one it
    /// cannot encode, and says so.
    #[test]
    fn url_encode_of_a_qualified_name() {
        assert_eq!(
            errors(
                "[scripts]\nsign = \"return 'x'\"\n[target]\nurl = \"http://h/?s=${URLENCODE(script:sign)}&t=${URLENCODE(nope.x)}\"\n"
            ),
            [
                "4:20 [${URLENCODE(script:sign)}] `URLENCODE` takes an extracted value, an environment variable, a data column (`${URLENCODE(users.name)}`) or a `setup` value, not a script's value; have the function return it encoded",
                "4:48 [${URLENCODE(nope.x)}] unknown variable `nope.x`",
            ]
        );
    }

    #[test]
    fn bad_built_in_arguments() {
        assert_eq!(
            errors("[target]\nurl = \"http://h/${RANDOM(9,1)}/${VU(2)}/${URLENCODE}\"\n"),
            [
                "2:17 [${RANDOM(9,1)}] `RANDOM` takes two integers, the smallest first: `${RANDOM(1,100)}`",
                "2:32 [${VU(2)}] `VU` takes no arguments",
                "2:41 [${URLENCODE}] `URLENCODE` takes the name of a value: `${URLENCODE(token)}`",
            ]
        );
    }

    #[test]
    fn unknown_variable_suggests_the_closest_name() {
        let e = lower_env(
            "[target]\nurl = \"http://h/${API_TOKN}\"\n",
            &[("API_TOKEN", "t")],
        )
        .unwrap_err();
        assert_eq!(
            e.errors[0].kind,
            CompileErrorKind::UnknownVariable {
                name: "API_TOKN".into(),
                suggestion: Some("API_TOKEN".into()),
            }
        );
        assert_eq!(
            errors_env("[target]\nurl = \"http://h/${ITERATON}\"\n", &[]),
            ["2:17 [${ITERATON}] unknown variable `ITERATON`"]
        );
        let e = lower_env("[target]\nurl = \"http://h/${ITERATON}\"\n", &[]).unwrap_err();
        assert!(matches!(
            &e.errors[0].kind,
            CompileErrorKind::UnknownVariable { suggestion: Some(s), .. } if s == "ITERATION"
        ));
    }

    #[test]
    fn extracted_values_are_seen_by_later_steps_only() {
        let scenario = |first: &str, second: &str| {
            format!(
                r#"[target]
url = "http://h"

[[scenarios]]

[[scenarios.steps]]
url = "{first}"
extract = {{ cart_id = "json:$.id" }}

[[scenarios.steps]]
url = "{second}"
"#
            )
        };
        let ir = ok(&scenario(
            "/cart",
            "/cart/${cart_id}?t=${URLENCODE(cart_id)}",
        ));
        assert_eq!(
            ir.scenarios[0].steps[1].path.parts,
            [
                Part::Lit(b"/cart/".to_vec()),
                Part::Extracted("cart_id".into()),
                Part::Lit(b"?t=".to_vec()),
                Part::UrlEncoded("cart_id".into()),
            ]
        );
        assert_eq!(
            errors(&scenario("/cart/${cart_id}", "/")),
            ["7:14 [${cart_id}] `${cart_id}` is used before any step can have extracted it"]
        );
        // An environment variable of the same name does not stand in for it.
        assert_eq!(
            errors_env(&scenario("/cart/${cart_id}", "/"), &[("cart_id", "7")]).len(),
            1
        );
    }

    #[test]
    fn fixed_values_take_environment_variables_only() {
        let ir = lower_env(
            "[target]\nurl = \"http://h/\"\ntimeout = \"${T}\"\n",
            &[("T", "3s")],
        )
        .unwrap();
        assert_eq!(ir.settings.timeout, std::time::Duration::from_secs(3));
        assert_eq!(
            errors("[target]\nurl = \"http://h/\"\ntimeout = \"${VU}s\"\n"),
            [
                "3:12 [${VU}s] built-in `VU` cannot be used here",
                // Folding left `s`, which is no duration either.
                "3:12 [${VU}s] invalid duration `s` for `timeout`",
            ]
        );
    }
}
