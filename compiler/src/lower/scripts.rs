//! `[scripts]` and `[scripting]`: each function's body found (in the scenario or a
//! `.lua` file), placed at its line, and compiled once by Lua so that a syntax error
//! is a located diagnostic before any load is sent; the limits checked. The names
//! are what `script:name` and `${script:name}` may use.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program).

use std::time::Duration;

use kaioken_script::{Limits, ScriptDef};
use kaioken_vm::ScriptRole;

use super::Lowerer;
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::{Draft, ScriptBody};
use crate::ir::Scripts;
use crate::located::{Loc, Src};

/// The longest budget a call may be given.
const MAX_BUDGET: Duration = Duration::from_secs(60);

impl Lowerer<'_> {
    /// The scripts and their limits; their names are kept for the steps to use.
    pub(super) fn scripts(&mut self, d: &Draft) -> Scripts {
        let mut defs = Vec::new();
        for script in &d.scripts {
            let name = &script.name.value;
            let is_name = kaioken_grammar::is_identifier(name);
            if !is_name {
                self.script_error(
                    name,
                    "a script's name is made of letters, digits and `_`, not starting with a digit",
                    &script.name.loc,
                );
                continue;
            }
            let Some((def, src, body_at)) = self.script_def(name, &script.body) else {
                // Its file could not be read (said): still a name the scenario has,
                // so its uses are not reported as unknown too.
                self.script_names.insert(name.clone());
                continue;
            };
            let role = match name.as_str() {
                "setup" => ScriptRole::Setup,
                "teardown" => ScriptRole::Teardown,
                _ => ScriptRole::Check,
            };
            match kaioken_script::check_source(&def, role) {
                Ok(()) => {
                    self.script_names.insert(name.clone());
                    defs.push(def);
                }
                Err(e) => {
                    let loc = match (e.line, body_at) {
                        (Some(line), Some(at)) => line_loc(&src, at, def.line, line),
                        _ => match &script.body {
                            ScriptBody::Inline(b) | ScriptBody::File(b) => b.loc.clone(),
                        },
                    };
                    // Known functions are still known, so their uses are not
                    // reported as unknown too.
                    self.script_names.insert(name.clone());
                    let kind = CompileErrorKind::Script {
                        name: name.clone(),
                        message: e.message,
                    };
                    self.errors.push(CompileError::at(kind, &loc, None));
                }
            }
        }
        Scripts {
            defs,
            limits: self.script_limits(d),
        }
    }

    /// The definition of `name`, the source its line numbers are in, and the byte
    /// where its body starts in that source (when the body maps onto it byte for
    /// byte, so a line can be underlined).
    fn script_def(
        &mut self,
        name: &str,
        body: &ScriptBody,
    ) -> Option<(ScriptDef, Src, Option<usize>)> {
        match body {
            ScriptBody::Inline(text) => {
                let src = text.loc.src.clone();
                let raw = src.text.get(text.loc.span.clone()).unwrap_or_default();
                let at = body_start(raw, &text.value).map(|offset| text.loc.span.start + offset);
                let line = src.line_col(at.unwrap_or(text.loc.span.start)).0;
                let def = ScriptDef {
                    name: name.to_owned(),
                    source: text.value.clone(),
                    file: src.name.to_string(),
                    line,
                    // A one-line string whose escapes make lines: they are all on
                    // its line of the file.
                    flat: !raw.contains('\n'),
                };
                Some((def, src, at))
            }
            ScriptBody::File(path) => {
                let resolved = self.resolve_path(&path.value, &path.loc);
                match std::fs::read_to_string(&resolved) {
                    Ok(text) => {
                        let file = resolved.display().to_string();
                        let src = Src::new(file.as_str(), text.as_str());
                        let def = ScriptDef {
                            name: name.to_owned(),
                            source: text,
                            file,
                            line: 1,
                            flat: false,
                        };
                        Some((def, src, Some(0)))
                    }
                    Err(e) => {
                        let kind = CompileErrorKind::Io {
                            path: resolved.display().to_string(),
                            message: e.to_string(),
                        };
                        self.errors.push(CompileError::at(kind, &path.loc, None));
                        None
                    }
                }
            }
        }
    }

    /// `[scripting]`: the budget, the memory limit, the environment and the network.
    fn script_limits(&mut self, d: &Draft) -> Limits {
        let s = &d.scripting;
        let mut limits = Limits {
            network: s.network.unwrap_or(false),
            ..Limits::default()
        };
        if s.budget.is_some() {
            let budget = self.duration(&s.budget, "budget", kaioken_script::DEFAULT_BUDGET, true);
            if budget > MAX_BUDGET
                && let Some(b) = &s.budget
            {
                self.out_of_range(b, "budget", "at most 60s");
            }
            limits.budget = budget.min(MAX_BUDGET);
        }
        if let Some(m) = &s.memory_mib {
            if (1..=4096).contains(&m.value) {
                limits.memory = (m.value as usize) << 20;
            } else {
                self.out_of_range(m, "memory_mib", "from 1 to 4096");
            }
        }
        for name in &s.env {
            match self.env.get(&name.value) {
                Some(value) => limits.env.push((name.value.clone(), value.clone())),
                None => self.conflict(
                    &name.loc,
                    &format!(
                        "`{}` is granted to scripts but not set in the environment",
                        name.value
                    ),
                ),
            }
        }
        let any = !d.scripts.is_empty();
        let limit_set = s
            .budget
            .as_ref()
            .map(|b| &b.loc)
            .or(s.memory_mib.as_ref().map(|m| &m.loc))
            .or(s.env.first().map(|e| &e.loc));
        if !any && let Some(loc) = limit_set {
            self.conflict(
                loc,
                "`[scripting]` sets limits, but there is no `[scripts]`",
            );
        }
        limits
    }

    /// Whether `name` is a `[scripts]` function; reports it when not.
    pub(super) fn known_script(
        &mut self,
        name: &str,
        loc: &Loc,
        span: Option<kaioken_grammar::Span>,
    ) -> bool {
        if self.script_names.contains(name) {
            return true;
        }
        let suggestion =
            crate::suggest::closest(name, self.script_names.iter().map(String::as_str))
                .map(str::to_owned);
        let kind = CompileErrorKind::UnknownScript {
            name: name.to_owned(),
            suggestion,
        };
        self.errors.push(CompileError::at(kind, loc, span));
        false
    }

    fn script_error(&mut self, name: &str, message: &str, loc: &Loc) {
        let kind = CompileErrorKind::Script {
            name: name.to_owned(),
            message: message.to_owned(),
        };
        self.errors.push(CompileError::at(kind, loc, None));
    }
}

/// Where the body starts in a TOML string as written, when its text is there byte for
/// byte: after the quotes (and the line break TOML drops after `'''` or `"""`).
fn body_start(raw: &str, value: &str) -> Option<usize> {
    for quote in ["'''", "\"\"\"", "'", "\""] {
        if let Some(rest) = raw.strip_prefix(quote) {
            let mut at = quote.len();
            if quote.len() == 3 {
                if rest.starts_with("\r\n") {
                    at += 2;
                } else if rest.starts_with('\n') {
                    at += 1;
                }
            }
            return raw[at..].starts_with(value).then_some(at);
        }
    }
    None
}

/// The location of line `line` of the source, whose script body starts at byte `at`
/// on line `first`: the whole line, for the diagnostic to underline.
fn line_loc(src: &Src, at: usize, first: u32, line: u32) -> Loc {
    let mut start = at;
    for _ in first..line {
        match src.text[start..].find('\n') {
            Some(n) => start += n + 1,
            None => break,
        }
    }
    let end = src.text[start..]
        .find('\n')
        .map_or(src.text.len(), |n| start + n);
    let text = &src.text[start..end];
    let indent = text.len() - text.trim_start().len();
    Loc {
        src: src.clone(),
        span: start + indent..end.max(start + indent),
        contents_at: None,
        is_file: true,
    }
}

#[cfg(test)]
mod tests {
    use crate::lower::tests::{errors, errors_env, lower_env, ok};
    use crate::{Part, compile};

    const TARGET: &str = "[target]\nurl = \"http://h/\"\n";

    #[test]
    fn a_syntax_error_underlines_its_line_in_the_scenario() {
        let text = format!(
            "{TARGET}[scripts]\nvalid = '''\nlocal o = json.decode(r.body)\nif o.id then\nreturn true\n'''\n[request]\nchecks = [\"script:valid\"]\n"
        );
        let e = errors(&text);
        // Lua notices the missing `end` at the end of the body, on its last line.
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "7:1 [return true] in script `valid`: 'end' expected at the end of the script"
            ),
            "{e:?}"
        );
    }

    /// A one-line string whose `\n` escapes make several lines: an error on any of
    /// them is on the string's line, not on the lines below it.
    #[test]
    fn a_one_line_script_s_error_is_on_its_line() {
        let text = format!(
            "{TARGET}[scripts]\nesc = \"local a = 1\\nreturn a +\"\nother = '''\nreturn true\n'''\n[request]\nchecks = [\"script:esc\", \"script:other\"]\n"
        );
        let line = text.lines().position(|l| l.starts_with("esc = ")).unwrap() + 1;
        let e = errors(&text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with(&format!("{line}:7 [")), "{e:?}");
    }

    #[test]
    fn unknown_scripts_get_the_closest_name() {
        let text = format!(
            "{TARGET}[scripts]\nvalid_order = \"return true\"\nsign = \"return 'x'\"\n[request]\nchecks = [\"script:valid_ordr\"]\nheaders = {{ x-sig = \"${{script:sing}}\" }}\n"
        );
        let e = errors(&text);
        assert_eq!(
            e,
            [
                "8:22 [${script:sing}] unknown script `sing`",
                "7:12 [script:valid_ordr] unknown script `valid_ordr`",
            ]
        );
        let ir_err = crate::lower(&crate::Input {
            config: Some(crate::ConfigFile {
                name: "s.toml".into(),
                text,
            }),
            ..crate::Input::default()
        })
        .unwrap_err();
        let helps: Vec<String> = ir_err
            .errors
            .iter()
            .filter_map(|e| miette::Diagnostic::help(e).map(|h| h.to_string()))
            .collect();
        assert_eq!(
            helps,
            ["did you mean `sign`?", "did you mean `valid_order`?"]
        );
    }

    /// A script whose file cannot be read is that one error: its uses are of a
    /// name the scenario has, not of an unknown script.
    #[test]
    fn a_script_file_that_cannot_be_read_is_one_error() {
        let e = errors(&format!(
            "{TARGET}[scripts]\nchk = {{ file = \"no-such-file.lua\" }}\n[request]\nchecks = [\"script:chk\"]\n"
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("cannot read") && e[0].contains("no-such-file.lua"),
            "{e:?}"
        );
    }

    #[test]
    fn setup_values_need_a_setup_script() {
        let e = errors(&format!(
            "{TARGET}[request]\nheaders = {{ authorization = \"Bearer ${{setup.token}}\" }}\n"
        ));
        assert_eq!(
            e,
            [
                "4:30 [Bearer ${setup.token}] `${setup.token}` reads what the `setup` script returns, and `[scripts]` has no `setup`"
            ]
        );
        let ir = ok(&format!(
            "{TARGET}[scripts]\nsetup = \"return {{ token = 'x' }}\"\n[request]\nheaders = {{ authorization = \"Bearer ${{setup.token}}\" }}\n"
        ));
        let step = &ir.scenarios[0].steps[0];
        let auth = step
            .headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .unwrap();
        assert_eq!(auth.1.parts[1], Part::Setup("token".into()));
        // Every VU's slot is seeded from setup's value.
        let program = compile(&ir).unwrap();
        assert_eq!(program.seeds.len(), 1);
        assert_eq!(program.seeds[0].1, "token");
    }

    #[test]
    fn granted_environment_variables_must_be_set() {
        let text = format!(
            "{TARGET}[scripts]\nsign = \"return env.KEY\"\n[scripting]\nenv = [\"KEY\"]\nbudget = \"2m\"\n"
        );
        assert_eq!(
            errors_env(&text, &[("KEY", "k")]),
            ["7:11 [2m] `budget` is out of range; expected at most 60s"]
        );
        assert_eq!(
            errors_env(&text.replace("\"2m\"", "\"10ms\""), &[]),
            ["6:9 [KEY] `KEY` is granted to scripts but not set in the environment"]
        );
        let ir = lower_env(&text.replace("\"2m\"", "\"10ms\""), &[("KEY", "k")]).unwrap();
        assert_eq!(ir.scripts.limits.env, [("KEY".to_owned(), "k".to_owned())]);
        assert_eq!(
            ir.scripts.limits.budget,
            std::time::Duration::from_millis(10)
        );
    }

    #[test]
    fn a_script_in_a_file_is_read_and_checked_there() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sign.lua"), "local a = 1\nreturn a +\n").unwrap();
        let path = dir.path().join("s.toml");
        let text = format!("{TARGET}[scripts]\nsign = {{ file = \"sign.lua\" }}\n");
        let e = crate::lower(&crate::Input {
            config: Some(crate::ConfigFile {
                name: path.display().to_string(),
                text,
            }),
            ..crate::Input::default()
        })
        .unwrap_err();
        let e = &e.errors[0];
        assert!(
            e.to_string()
                .starts_with("in script `sign`: unexpected symbol"),
            "{e}"
        );
        // The diagnostic quotes the .lua file, at the line Lua named.
        let src = miette::Diagnostic::source_code(e).unwrap();
        let label = miette::Diagnostic::labels(e).unwrap().next().unwrap();
        let shown = src.read_span(label.inner(), 0, 0).unwrap();
        // Lua notices at the wrapper's `end`, past the file's last line: the
        // diagnostic shows the last line, `return a +` (0-based 1).
        assert_eq!(shown.line(), 1);
        assert!(shown.name().unwrap().ends_with("sign.lua"));
    }

    #[test]
    fn a_hook_in_a_header_sees_the_body_built_first() {
        let ir = ok(&format!(
            "{TARGET}[scripts]\nsign = \"return #(req.body or '')\"\n[request]\nmethod = \"POST\"\nbody = \"n=${{VU}}\"\nheaders = {{ x-sig = \"${{script:sign}}\" }}\n"
        ));
        let p = compile(&ir).unwrap();
        let listing = p.to_string();
        assert!(
            listing.contains("q0 = call f0 in s0 sees=body+path"),
            "{listing}"
        );
        // The body's buffer is filled before the header's.
        let code: Vec<&str> = listing.lines().skip_while(|l| *l != "code:").collect();
        let body = code
            .iter()
            .position(|l| l.contains("buf.builtin b0 VU"))
            .unwrap();
        let hook = code.iter().position(|l| l.contains("buf.script")).unwrap();
        assert!(body < hook, "{listing}");
    }
}
