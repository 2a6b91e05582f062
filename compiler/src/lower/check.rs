//! Checks and extractors: what is judged in a response, and what is taken from it.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): check
//! expressions and extractor specs are parsed, and their regexes and JSONPaths are
//! compiled once here so that a bad pattern is an error located in the file before
//! any load is sent (the VM compiles them again into the `Program`).

use kaioken_vm::Builtin;

use super::Lowerer;
use crate::draft::DraftCheck;
use crate::located::Located;
use crate::{IrCheck, IrExtract};

impl Lowerer<'_> {
    /// `[[checks]]`: the checks run on every response of the run.
    pub(super) fn run_checks(&mut self, checks: &[DraftCheck]) -> Vec<IrCheck> {
        let mut out = Vec::new();
        for c in checks {
            let Some(expr) = &c.expr else {
                self.conflict(
                    &c.loc,
                    "a check needs `expr`, e.g. `expr = \"status == 200\"`",
                );
                continue;
            };
            if let Some(check) = self.check(expr, c.name.as_ref().map(|n| n.value.clone())) {
                out.push(check);
            }
        }
        out
    }

    /// Validate a step's extractors: the variable name, the spec, its JSONPath or regex.
    pub(super) fn extracts(&mut self, specs: &[(String, Located<String>)]) -> Vec<IrExtract> {
        let mut out = Vec::new();
        for (var, spec) in specs {
            let valid_name = kaioken_grammar::is_identifier(var);
            if !valid_name || Builtin::from_name(var).is_some() {
                let message = if valid_name {
                    format!("`{var}` is a built-in; extract into another name")
                } else {
                    format!(
                        "`{var}` is not a variable name (letters, digits and `_`, not starting with a digit)"
                    )
                };
                self.conflict(&spec.loc, &message);
                continue;
            }
            if let Some(extractor) = self.extracts_parsed.get(&spec.value) {
                out.push(IrExtract {
                    var: var.clone(),
                    extractor: extractor.clone(),
                    loc: spec.loc.ir_loc(),
                });
                continue;
            }
            let extractor = match kaioken_grammar::parse_extractor(&spec.value) {
                Ok(e) => e,
                Err(e) => {
                    self.parse_error(&e, &spec.loc);
                    continue;
                }
            };
            let problem = match &extractor {
                kaioken_grammar::Extractor::Json(path) => {
                    if let Err(e) = jsonpath_rust::parser::parse_json_path(path) {
                        let (message, at) = jsonpath_error(path, &e);
                        // Underlined where the parser stopped, in the spec as written.
                        let span = at.and_then(|at| {
                            let start = spec.value.find(path.as_str())? + at;
                            Some(kaioken_grammar::Span::new(start, start + 1))
                        });
                        self.grammar_error(message, None, &spec.loc, span);
                        continue;
                    }
                    None
                }
                kaioken_grammar::Extractor::Regex(re) => regex::bytes::Regex::new(re)
                    .err()
                    .map(|e| format!("invalid regular expression: {e}")),
                kaioken_grammar::Extractor::Script(name) => {
                    if !self.known_script(name, &spec.loc, None) {
                        continue;
                    }
                    None
                }
                _ => None,
            };
            if let Some(message) = problem {
                self.grammar_error(message, None, &spec.loc, None);
                continue;
            }
            // A script's name is looked up again wherever it is used.
            if !matches!(extractor, kaioken_grammar::Extractor::Script(_)) {
                self.extracts_parsed
                    .insert(spec.value.clone(), extractor.clone());
            }
            out.push(IrExtract {
                var: var.clone(),
                extractor,
                loc: spec.loc.ir_loc(),
            });
        }
        out
    }

    /// Parse a check (and compile its regexes, to report them here) into the IR.
    pub(super) fn check(
        &mut self,
        expr: &Located<String>,
        name: Option<String>,
    ) -> Option<IrCheck> {
        if let Some((parsed, shown)) = self.checks_parsed.get(&expr.value) {
            let name = name.unwrap_or_else(|| shown.clone());
            let parsed = parsed.clone();
            return self.checked(parsed, expr, name);
        }
        let parsed = match kaioken_grammar::parse_check(&expr.value) {
            Ok(c) => c,
            Err(e) => {
                self.parse_error(&e, &expr.loc);
                return None;
            }
        };
        if let Some((span, var)) = variable_in_text(&parsed) {
            self.grammar_error(
                format!("`${{{var}}}` is not filled in here: a check compares with its text as written"),
                Some("to compare with an extracted value, use a script check (`script:name`, see the plugins page)"),
                &expr.loc,
                Some(span),
            );
            return None;
        }
        let mut bad_regex = None;
        visit_regexes(&parsed, &mut |pattern, span| {
            if let Err(e) = regex::bytes::Regex::new(pattern) {
                bad_regex.get_or_insert((span, e.to_string()));
            }
        });
        if let Some((span, message)) = bad_regex {
            self.grammar_error(
                format!("invalid regular expression: {message}"),
                None,
                &expr.loc,
                Some(span),
            );
            return None;
        }
        let shown = parsed.to_string();
        self.checks_parsed
            .insert(expr.value.clone(), (parsed.clone(), shown.clone()));
        self.checked(parsed, expr, name.unwrap_or(shown))
    }

    /// A valid check made IR, once its script, if it names one, is known.
    fn checked(
        &mut self,
        parsed: kaioken_grammar::Check,
        expr: &Located<String>,
        name: String,
    ) -> Option<IrCheck> {
        if let kaioken_grammar::Check::Script(name) = &parsed
            && !self.known_script(name, &expr.loc, None)
        {
            return None;
        }
        Some(IrCheck {
            name,
            expr: parsed,
            loc: expr.loc.ir_loc(),
        })
    }
}

/// The first `${name}` written in a check's text (`contains`, `matches`, `==`,
/// `in`), with its comparison's span. Checks are built once, with their text as
/// written; a variable there would be looked for literally and never match.
fn variable_in_text(check: &kaioken_grammar::Check) -> Option<(kaioken_grammar::Span, String)> {
    use kaioken_grammar::{Check, Predicate, Value};
    fn in_text(text: &str) -> Option<String> {
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            let after = &rest[at + 2..];
            let name = &after[..after.find('}')?];
            if name.split(['.', ':']).all(kaioken_grammar::is_identifier) {
                return Some(name.to_owned());
            }
            rest = after;
        }
        None
    }
    match check {
        Check::Or(items) | Check::And(items) => items.iter().find_map(variable_in_text),
        Check::Not(inner) => variable_in_text(inner),
        Check::Compare(cmp) => {
            let found = match &cmp.predicate {
                Predicate::Contains(text) | Predicate::Matches(text) => in_text(text),
                Predicate::Compare(_, Value::Text(text)) => in_text(text),
                Predicate::In(values) => values.iter().find_map(|v| match v {
                    Value::Text(text) => in_text(text),
                    _ => None,
                }),
                Predicate::Compare(..) => None,
            };
            found.map(|var| (cmp.span, var))
        }
        Check::Script(_) => None,
    }
}

/// Call `f` with each `matches` pattern in a check and the span of its comparison.
fn visit_regexes(check: &kaioken_grammar::Check, f: &mut impl FnMut(&str, kaioken_grammar::Span)) {
    use kaioken_grammar::{Check, Predicate};
    match check {
        Check::Or(items) | Check::And(items) => items.iter().for_each(|c| visit_regexes(c, f)),
        Check::Not(inner) => visit_regexes(inner, f),
        Check::Compare(cmp) => {
            if let Predicate::Matches(pattern) = &cmp.predicate {
                f(pattern, cmp.span);
            }
        }
        Check::Script(_) => {}
    }
}

/// A JSONPath's parse error in words, with where in `path` the parser stopped
/// when it says: `expected comparable`, not pest's own multi-line rendering.
fn jsonpath_error(
    path: &str,
    e: &jsonpath_rust::parser::errors::JsonPathError,
) -> (String, Option<usize>) {
    use jsonpath_rust::parser::errors::JsonPathError;
    match e {
        JsonPathError::PestError(e) => {
            let at = match e.location {
                pest::error::InputLocation::Pos(at) => at,
                pest::error::InputLocation::Span((start, _)) => start,
            };
            let at = at.min(path.len().saturating_sub(1));
            let column = path[..at].chars().count() + 1;
            (
                format!(
                    "invalid JSONPath `{path}`: {} at its character {column}",
                    e.variant.message()
                ),
                Some(at),
            )
        }
        e => (format!("invalid JSONPath `{path}`: {e}"), None),
    }
}

#[cfg(test)]
mod tests {
    use kaioken_grammar::Extractor;

    use crate::lower::tests::{errors, ok};

    fn step(step: &str) -> String {
        format!(
            "[target]\nurl = \"http://h\"\n[[scenarios]]\n[[scenarios.steps]]\nurl = \"/\"\n{step}"
        )
    }

    #[test]
    fn a_variable_in_a_checks_text_is_an_error() {
        for check in [
            r#"body contains "${id}""#,
            r#"status == 200 && header("x-id") == "${id}""#,
            r#"body matches "^${user.name}$""#,
            r#"header("x") != "${script:x}""#,
        ] {
            let errs = errors(&step(&format!("checks = ['{check}']\n")));
            assert_eq!(errs.len(), 1, "{check}: {errs:?}");
            assert!(
                errs[0].contains("is not filled in here"),
                "{check}: {errs:?}"
            );
        }
        // Not a variable: `${` that names nothing, and `$` alone.
        ok(&step(
            "checks = ['body contains \"${ not one }\"', 'body contains \"$x{y}\"']\n",
        ));
    }

    #[test]
    fn checks_are_named_by_their_expression_unless_named() {
        let ir = ok(r#"[target]
url = "http://h/"

[request]
checks = ["status  ==  200"]

[[checks]]
name = "fast"
expr = "duration < 200ms"
"#);
        assert_eq!(ir.checks.len(), 1);
        assert_eq!(ir.checks[0].name, "fast");
        let loc = ir.checks[0].loc.as_ref().unwrap();
        assert_eq!((loc.line, loc.column), (9, 8));
        assert_eq!(ir.scenarios[0].steps[0].checks[0].name, "status == 200");
    }

    #[test]
    fn a_bad_regex_is_located_at_its_comparison() {
        assert_eq!(
            errors(&step(r#"checks = ['status == 200 && body matches "a(b"']"#)),
            [
                "6:29 [body matches \"a(b\"] invalid regular expression: regex parse error:\n    a(b\n     ^\nerror: unclosed group"
            ]
        );
    }

    #[test]
    fn checks_that_do_not_parse() {
        let e = errors(&step(r#"checks = ["latency < 2"]"#));
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("6:12 ["), "{e:?}");
        assert_eq!(
            errors("[target]\nurl = \"http://h/\"\n[[checks]]\nname = \"x\"\n"),
            [
                "3:1 [[[checks]]\nname = \"x\"] a check needs `expr`, e.g. `expr = \"status == 200\"`"
            ]
        );
    }

    #[test]
    fn extractors() {
        let ir = ok(&step(
            r#"extract = { id = "json:$.items[0].id", csrf = 'regex:name="csrf" value="([^"]+)"', loc = "header:location" }"#,
        ));
        let got: Vec<_> = ir.scenarios[0].steps[0]
            .extracts
            .iter()
            .map(|x| (x.var.as_str(), x.extractor.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "csrf",
                    Extractor::Regex(r#"name="csrf" value="([^"]+)""#.into())
                ),
                ("id", Extractor::Json("$.items[0].id".into())),
                ("loc", Extractor::Header("location".into())),
            ]
        );
    }

    #[test]
    fn bad_extractors() {
        let e = errors(&step(
            r#"extract = { 1st = "body", VU = "body", a = "regex:(", b = "json:$[", c = "xml:/a" }"#,
        ));
        assert_eq!(e.len(), 5, "{e:#?}");
        assert_eq!(
            e[0],
            "6:20 [body] `1st` is not a variable name (letters, digits and `_`, not starting with a digit)"
        );
        assert_eq!(
            e[1],
            "6:33 [body] `VU` is a built-in; extract into another name"
        );
        assert!(
            e[2].starts_with("6:45 [regex:(] invalid regular expression: regex parse error:"),
            "{e:?}"
        );
        // Where the parser stopped, in its words.
        assert!(
            e[3] == "6:66 [[] invalid JSONPath `$[`: expected selector at its character 2",
            "{e:?}"
        );
        assert!(e[4].starts_with("6:75 [xml:/a] "), "{e:?}");
    }
}
