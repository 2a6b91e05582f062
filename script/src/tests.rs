//! The runner against hand-made responses and VUs: each role, the sandbox, the
//! budget and the located errors.

use std::time::Duration;

use kaioken_vm::{
    Program, RequestSoFar, ResponseView, ScriptContext, ScriptId, ScriptRole, ScriptRunner, SlotId,
};

use super::*;

struct Resp {
    status: u16,
    body: &'static [u8],
}

impl ResponseView for Resp {
    fn completed(&self) -> bool {
        true
    }
    fn status(&self) -> u16 {
        self.status
    }
    fn duration(&self) -> Duration {
        Duration::from_millis(12)
    }
    fn body(&self) -> &[u8] {
        self.body
    }
    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        name.eq_ignore_ascii_case(b"content-type")
            .then_some(b"application/json".as_slice())
    }
}

fn def(name: &str, source: &str) -> ScriptDef {
    ScriptDef {
        name: name.into(),
        source: source.into(),
        file: "s.toml".into(),
        line: 10,
        flat: false,
    }
}

fn runner(defs: Vec<ScriptDef>, roles: &[ScriptRole], limits: Limits) -> Runner {
    let functions = roles.iter().enumerate().map(|(i, r)| (i, *r)).collect();
    Runner::new(defs, functions, limits)
}

/// A program with one variable, `token`, and a VU holding `abc` in it.
fn vu() -> (Program, kaioken_vm::VuState) {
    let program = Program {
        slot_count: 1,
        slot_names: vec!["token".into()],
        ..Program::default()
    };
    let mut state = program.create_vu_state(7);
    state.slot_mut(SlotId(0)).extend_from_slice(b"abc");
    (program, state)
}

const ORDER: &str = r#"
local o = json.decode(r.body)
if r.status ~= 200 then return false, "status " .. r.status end
if not r.headers["Content-Type"]:find("json") then return false, "not json" end
if o.id == nil then return false, "no id for " .. vars.token end
return true
"#;

#[test]
fn a_check_judges_and_keeps_its_messages() {
    let r = runner(
        vec![def("order", ORDER)],
        &[ScriptRole::Check],
        Limits::default(),
    );
    let (program, state) = vu();
    let ctx = ScriptContext {
        program: &program,
        state: &state,
    };
    let f = ScriptId(0);
    assert!(r.check(
        f,
        ctx,
        &Resp {
            status: 200,
            body: br#"{"id": 3}"#
        }
    ));
    assert!(!r.check(
        f,
        ctx,
        &Resp {
            status: 200,
            body: br#"{"x": 3}"#
        }
    ));
    assert!(!r.check(
        f,
        ctx,
        &Resp {
            status: 500,
            body: br#"{}"#
        }
    ));
    assert!(!r.check(
        f,
        ctx,
        &Resp {
            status: 200,
            body: b"not json"
        }
    ));
    let report = &r.report()[0];
    assert_eq!((report.calls, report.failed, report.errors), (4, 2, 1));
    let texts: Vec<&str> = report.messages.iter().map(|m| m.text.as_str()).collect();
    assert!(texts.contains(&"no id for abc"), "{texts:?}");
    assert!(texts.contains(&"status 500"), "{texts:?}");
    // A run-time error names the scenario's line: the body's line 2 is line 11.
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("error: s.toml:11: json.decode")),
        "{texts:?}"
    );
}

#[test]
fn an_extractor_and_a_value_write_bytes() {
    let r = runner(
        vec![
            def("id", "return json.decode(r.body).id"),
            def(
                "sign",
                "return crypto.hmac_sha256(env.KEY, req.method .. req.path .. req.body)",
            ),
            def("none", "return nil"),
        ],
        &[ScriptRole::Extract, ScriptRole::Value, ScriptRole::Extract],
        Limits {
            env: vec![("KEY".into(), "key".into())],
            ..Limits::default()
        },
    );
    let (program, state) = vu();
    let ctx = ScriptContext {
        program: &program,
        state: &state,
    };
    let mut out = b"stale".to_vec();
    assert!(r.extract(
        ScriptId(0),
        ctx,
        &Resp {
            status: 200,
            body: br#"{"id":42}"#
        },
        &mut out
    ));
    assert_eq!(out, b"42");
    assert!(!r.extract(
        ScriptId(2),
        ctx,
        &Resp {
            status: 200,
            body: b""
        },
        &mut out
    ));
    assert_eq!(out, b"");
    let mut out = b"sig=".to_vec();
    let request = RequestSoFar {
        method: "POST",
        path: Some(b"/post"),
        body: Some(b"{}"),
    };
    r.value(ScriptId(1), ctx, request, &mut out);
    // HMAC-SHA256("key", "POST/post{}"), as `openssl dgst -sha256 -hmac key` prints it.
    let expected = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"key"),
        b"POST/post{}",
    );
    let hex: String = expected
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(String::from_utf8(out).unwrap(), format!("sig={hex}"));
}

#[test]
fn the_sandbox_has_no_files_processes_or_modules() {
    for (source, missing) in [
        ("return io.open('/etc/passwd')", "io"),
        ("return os.execute('true')", "execute"),
        ("return require('os')", "require"),
        ("return load('return 1')()", "load"),
        ("return dofile('/etc/passwd')", "dofile"),
        ("return os.getenv('HOME')", "getenv"),
        ("return env.HOME", ""),
    ] {
        let r = runner(
            vec![def("f", source)],
            &[ScriptRole::Extract],
            Limits::default(),
        );
        let (program, state) = vu();
        let ctx = ScriptContext {
            program: &program,
            state: &state,
        };
        let mut out = Vec::new();
        assert!(
            !r.extract(
                ScriptId(0),
                ctx,
                &Resp {
                    status: 200,
                    body: b""
                },
                &mut out
            ),
            "{source}"
        );
        let report = &r.report()[0];
        if missing.is_empty() {
            // An environment variable not granted is simply absent.
            assert_eq!(report.errors, 0, "{source}");
        } else {
            assert_eq!(report.errors, 1, "{source}");
            assert!(
                report.messages[0].text.contains("nil"),
                "{source}: {:?}",
                report.messages
            );
        }
    }
}

#[test]
fn a_script_that_never_ends_is_stopped_by_its_budget() {
    let limits = Limits {
        budget: Duration::from_millis(20),
        ..Limits::default()
    };
    for source in [
        "while true do end",
        // `pcall` cannot catch the budget's error and go on.
        "while true do pcall(function() while true do end end) end",
    ] {
        let r = runner(
            vec![def("spin", source)],
            &[ScriptRole::Check],
            limits.clone(),
        );
        let (program, state) = vu();
        let ctx = ScriptContext {
            program: &program,
            state: &state,
        };
        let start = std::time::Instant::now();
        assert!(!r.check(
            ScriptId(0),
            ctx,
            &Resp {
                status: 200,
                body: b""
            }
        ));
        let took = start.elapsed();
        assert!(took < Duration::from_secs(2), "{source}: took {took:?}");
        let report = &r.report()[0];
        assert_eq!((report.errors, report.over_budget), (1, 1), "{source}");
        assert!(
            report.messages[0].text.contains("time budget of 20ms"),
            "{:?}",
            report.messages
        );
        // The state is still usable for the next call.
        assert!(!r.check(
            ScriptId(0),
            ctx,
            &Resp {
                status: 200,
                body: b""
            }
        ));
        assert_eq!(r.report()[0].over_budget, 2);
    }
}

/// `error()` given a table: the same error each call, counted as one message (Lua
/// prints a table as its address, new every call).
#[test]
fn an_error_value_that_is_not_a_string_is_one_message() {
    let r = runner(
        vec![def("bad", "error({code = 1})")],
        &[ScriptRole::Check],
        Limits::default(),
    );
    let (program, state) = vu();
    let ctx = ScriptContext {
        program: &program,
        state: &state,
    };
    for _ in 0..3 {
        let resp = Resp {
            status: 200,
            body: b"",
        };
        assert!(!r.check(ScriptId(0), ctx, &resp));
    }
    let report = &r.report()[0];
    assert_eq!(report.errors, 3);
    assert_eq!(report.messages.len(), 1, "{:?}", report.messages);
    assert_eq!(report.messages[0].count, 3);
    assert!(
        report.messages[0]
            .text
            .ends_with("error() was given a table, not a message (give it a string)"),
        "{:?}",
        report.messages
    );
}

/// Time the hook cannot stop (a library function's: here Lua's pattern matching
/// backtracking through a string) still counts: the call that came back past its
/// budget is over budget, whatever it returned.
#[test]
fn time_in_a_library_function_counts_against_the_budget() {
    let limits = Limits {
        budget: Duration::from_millis(1),
        ..Limits::default()
    };
    let r = runner(
        vec![def(
            "slow",
            r#"return string.rep("a", 120):find(".-.-.-b") == nil"#,
        )],
        &[ScriptRole::Check],
        limits,
    );
    let (program, state) = vu();
    let ctx = ScriptContext {
        program: &program,
        state: &state,
    };
    let passed = r.check(
        ScriptId(0),
        ctx,
        &Resp {
            status: 200,
            body: b"",
        },
    );
    let report = &r.report()[0];
    assert!(!passed, "{:?}", report.messages);
    assert_eq!((report.errors, report.over_budget), (1, 1));
    assert!(
        report.messages[0]
            .text
            .contains("ran past its time budget of 1ms (`[scripting] budget`) inside a function the budget cannot stop"),
        "{:?}",
        report.messages
    );
}

#[test]
fn memory_past_the_limit_is_an_error_not_a_crash() {
    // A time budget far past what filling 4 MiB takes, so a slow machine still
    // meets the memory limit first.
    let limits = Limits {
        memory: 4 << 20,
        budget: Duration::from_secs(60),
        ..Limits::default()
    };
    let r = runner(
        vec![def(
            "big",
            "local t = {} for i = 1, 1e7 do t[i] = string.rep('x', 100) .. i end return true",
        )],
        &[ScriptRole::Check],
        limits,
    );
    let (program, state) = vu();
    let ctx = ScriptContext {
        program: &program,
        state: &state,
    };
    assert!(!r.check(
        ScriptId(0),
        ctx,
        &Resp {
            status: 200,
            body: b""
        }
    ));
    let report = &r.report()[0];
    assert_eq!(report.errors, 1);
    assert!(
        report.messages[0].text.contains("memory"),
        "{:?}",
        report.messages
    );
}

#[test]
fn a_syntax_error_names_its_line_in_the_file() {
    let e = check_source(
        &def("bad", "local x = 1\nif x then\nreturn x"),
        ScriptRole::Check,
    )
    .unwrap_err();
    // Lua notices past the body, at the wrapper's end: the body's last line, line
    // 12 of the file, is named.
    assert_eq!(e.line, Some(12));
    assert_eq!(e.message, "'end' expected at the end of the script");
    let e = check_source(&def("bad", "return r.status ==="), ScriptRole::Check).unwrap_err();
    assert_eq!(e.line, Some(10));
    assert!(check_source(&def("ok", "return true"), ScriptRole::Check).is_ok());
}

struct FakeFetch;

impl Fetch for FakeFetch {
    fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, String> {
        assert_eq!(request.method, "POST");
        Ok(FetchResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: format!(r#"{{"token":"t-{}"}}"#, request.body.len()).into_bytes(),
        })
    }
}

#[test]
fn setup_values_reach_every_vu_and_teardown() {
    let defs = vec![
        def(
            "setup",
            r#"local r = http.post("http://127.0.0.1:1/login", "user=a")
               return { token = json.decode(r.body).token, n = 3 }"#,
        ),
        def(
            "teardown",
            "if data.token ~= 't-6' then error('lost ' .. tostring(data.token)) end",
        ),
        def("uses", "return setup.token .. '/' .. setup.n"),
    ];
    let functions = vec![(2, ScriptRole::Value)];
    let limits = Limits {
        network: true,
        ..Limits::default()
    };
    let r = Runner::new(defs.clone(), functions.clone(), limits);
    r.setup(Some(&FakeFetch), || false).unwrap();
    assert_eq!(r.setup_value("token").as_deref(), Some(b"t-6".as_slice()));
    let (program, state) = vu();
    let ctx = ScriptContext {
        program: &program,
        state: &state,
    };
    let mut out = Vec::new();
    let request = RequestSoFar {
        method: "GET",
        path: None,
        body: None,
    };
    r.value(ScriptId(0), ctx, request, &mut out);
    assert_eq!(out, b"t-6/3");
    r.teardown(None, || false).unwrap();
    let roles: Vec<(String, u64, u64)> = r
        .report()
        .iter()
        .map(|s| (s.role.clone(), s.calls, s.errors))
        .collect();
    assert_eq!(
        roles,
        [
            ("value".into(), 1, 0),
            ("setup".into(), 1, 0),
            ("teardown".into(), 1, 0)
        ]
    );

    // Without the grant, `http` does not exist, and the error names the line.
    let r = Runner::new(defs, functions, Limits::default());
    let e = r.setup(Some(&FakeFetch), || false).unwrap_err();
    assert_eq!(e.at, Some(("s.toml".into(), 10)));
    assert!(e.message.contains("http"), "{e}");
}

/// `setup` and `teardown` may run for a minute: an interruption (the user's
/// Ctrl-C) stops a loop that would run out its budget, within a moment, and says
/// so; the call counts as stopped.
#[test]
fn setup_and_teardown_stop_when_the_run_is_interrupted() {
    let defs = vec![
        def("setup", "while true do end"),
        def("teardown", "while true do end"),
    ];
    let r = Runner::new(defs, Vec::new(), Limits::default());
    for role in ["setup", "teardown"] {
        let began = std::time::Instant::now();
        let interrupted = move || began.elapsed() > std::time::Duration::from_millis(50);
        let e = match role {
            "setup" => r.setup(None, interrupted),
            _ => r.teardown(None, interrupted),
        }
        .unwrap_err();
        assert!(began.elapsed() < std::time::Duration::from_secs(5), "{e}");
        assert!(
            e.message.contains("stopped: the run was interrupted"),
            "{e}"
        );
    }
    // Errors, not calls over their budget.
    let counted: Vec<(String, u64, u64)> = r
        .report()
        .iter()
        .map(|s| (s.role.clone(), s.errors, s.over_budget))
        .collect();
    assert_eq!(counted, [("setup".into(), 1, 0), ("teardown".into(), 1, 0)]);
}

/// `vars.name` is the variable's value, `nil` while it is empty (no extractor set
/// it yet, or a failed exchange emptied it), and `nil` for a name the program does
/// not have.
#[test]
fn an_unset_variable_is_nil() {
    let r = runner(
        vec![def(
            "seen",
            r#"return tostring(vars.token == nil) .. "," .. tostring(vars.other == nil)"#,
        )],
        &[ScriptRole::Value],
        Limits::default(),
    );
    let (program, mut state) = vu();
    let request = RequestSoFar {
        method: "GET",
        path: None,
        body: None,
    };
    let seen = |state: &kaioken_vm::VuState| {
        let mut out = Vec::new();
        let ctx = ScriptContext {
            program: &program,
            state,
        };
        r.value(ScriptId(0), ctx, request, &mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(seen(&state), "false,true");
    state.slot_mut(SlotId(0)).clear();
    assert_eq!(seen(&state), "true,true");
}

/// A body written on one line of the file (a one-line string whose `\n` escapes
/// make its lines): its errors, at compile and at run time, are on that line, not
/// on the lines below it (another script's, say).
#[test]
fn a_one_line_body_s_errors_are_on_its_line() {
    let flat = |source: &str| ScriptDef {
        flat: true,
        ..def("esc", source)
    };
    let e = check_source(&flat("local a = 1\nreturn a +"), ScriptRole::Check).unwrap_err();
    assert_eq!(e.line, Some(10), "{e:?}");
    let r = runner(
        vec![flat("local a = 1\nlocal b = nil\nreturn b.x")],
        &[ScriptRole::Check],
        Limits::default(),
    );
    let (program, state) = vu();
    let ctx = ScriptContext {
        program: &program,
        state: &state,
    };
    assert!(!r.check(
        ScriptId(0),
        ctx,
        &Resp {
            status: 200,
            body: b""
        }
    ));
    let texts: Vec<String> = r.report()[0]
        .messages
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert!(
        texts.iter().any(|t| t.starts_with("error: s.toml:10: ")),
        "{texts:?}"
    );
}
