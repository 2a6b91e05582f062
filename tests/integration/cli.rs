//! The command line itself: version, help, usage errors, dumps, the demo.

use std::time::Duration;

use crate::harness::Test;

/// A target nothing listens on; these runs must not send anything.
use crate::harness::NOWHERE;

/// `--version` names the commit the binary was built from (`cli/build.rs`).
#[test]
fn version() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let head = crate::commit::git(root, &["rev-parse", "HEAD"]);
    let out = Test::new().without_no_tui().arg("--version").run();
    let commit = out
        .stdout
        .strip_prefix(concat!("kaioken ", env!("CARGO_PKG_VERSION"), " (commit "))
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    match (option_env!("KAIOKEN_COMMIT_SET"), head) {
        // Built from this checkout: HEAD's hash, abbreviated to 12 digits.
        (None, Some(head)) => {
            assert_eq!(commit.len(), 12, "{commit}");
            assert!(head.starts_with(commit), "{commit} is not HEAD ({head})");
        }
        // Built from a tarball (or with KAIOKEN_COMMIT set): whatever it named.
        _ => assert!(!commit.is_empty()),
    }
}

/// Where the commit comes from when there is no repository: `KAIOKEN_COMMIT`, else
/// `unknown`.
#[test]
fn version_commit_without_git() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    assert_eq!(crate::commit::describe(dir.path(), None), "unknown");
    assert_eq!(crate::commit::describe(dir.path(), Some(" ")), "unknown");
    assert_eq!(
        crate::commit::describe(dir.path(), Some("1a2b3c4d5e6f")),
        "1a2b3c4d5e6f"
    );
    // The variable wins over the repository, too.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        crate::commit::describe(root, Some("v0.1.0-src")),
        "v0.1.0-src"
    );
}

#[test]
fn short_and_long_help_differ() {
    let short = Test::new().without_no_tui().arg("-h").run();
    let long = Test::new().without_no_tui().arg("--help").run();
    for flag in [
        "--concurrency",
        "--duration",
        "--max-requests",
        "--http2",
        "--no-tui",
    ] {
        assert!(
            short.stdout.contains(flag),
            "-h lacks {flag}:\n{}",
            short.stdout
        );
        assert!(
            long.stdout.contains(flag),
            "--help lacks {flag}:\n{}",
            long.stdout
        );
    }
    assert_ne!(
        short.stdout, long.stdout,
        "-h and --help print the same text"
    );
    assert!(
        long.stdout.len() > short.stdout.len(),
        "--help is not longer than -h:\n--- -h\n{}\n--- --help\n{}",
        short.stdout,
        long.stdout
    );
}

#[test]
fn no_arguments_prints_help() {
    // `arg_required_else_help`: clap prints the help to stderr and exits 2.
    let out = Test::new().without_no_tui().status(2).run();
    assert!(
        out.stderr.contains("--concurrency") || out.stdout.contains("--concurrency"),
        "no help without arguments:\n{}{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    Test::new()
        .args([NOWHERE, "--no-such-flag"])
        .status(2)
        .stderr_contains("--no-such-flag")
        .run();
}

/// A mistyped command is not taken for the target: its name is suggested.
#[test]
fn a_mistyped_command_is_named() {
    for (args, meant) in [
        (&["compltions", "bash"][..], "completions"),
        (&["improt", "har", "x.har"][..], "import"),
    ] {
        Test::new()
            .without_no_tui()
            .args(args.iter().copied())
            .status(2)
            .stderr_contains(format!(
                "error: unknown command `{}`; did you mean `{meant}`?",
                args[0]
            ))
            .run();
    }
    // A word that is no command's is the target, as before.
    Test::new()
        .args(["localhost", "--dry-run"])
        .status(1)
        .stderr_contains("`localhost` has no scheme")
        .run();
}

/// A scenario file named as the target that is not there cannot be read; a URL
/// without its scheme that ends like one is still a URL without its scheme.
#[test]
fn a_missing_spec_or_collection_is_a_missing_file() {
    for name in ["nothing.yaml", "nothing.yml", "nothing.json", "nothing.har"] {
        Test::new()
            .args([name, "--dry-run"])
            .env("RUST_BACKTRACE", "0")
            .status(1)
            .stderr_contains(format!("cannot access `{name}`"))
            .run();
    }
    Test::new()
        .args(["example.invalid/api.json", "--dry-run"])
        .env("RUST_BACKTRACE", "0")
        .status(1)
        .stderr_contains("has no scheme")
        .run();
}

/// A second target is said to be one, not taken for a command.
#[test]
fn a_second_target_is_a_usage_error() {
    Test::new()
        .args([NOWHERE, "http://127.0.0.1:9/other", "--dry-run"])
        .status(2)
        .stderr_contains(
            "error: unexpected argument `http://127.0.0.1:9/other`: kaioken takes one target",
        )
        .stderr_contains("--targets")
        .run();
    // A command's name after the target is still clap's own conflict.
    Test::new()
        .args([NOWHERE, "merge"])
        .status(2)
        .stderr_contains("the subcommand 'merge' cannot be used with")
        .run();
}

#[test]
fn non_numeric_concurrency_is_a_usage_error() {
    Test::new()
        .args([NOWHERE, "-c", "lots"])
        .status(2)
        .stderr_contains("lots")
        .run();
}

#[test]
fn run_subcommand_is_the_default_command() {
    let a = Test::new().args([NOWHERE, "-c", "3", "--dump", "ir"]).run();
    let b = Test::new()
        .args(["run", NOWHERE, "-c", "3", "--dump", "ir"])
        .run();
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn dump_ir_is_deterministic() {
    let args = [
        NOWHERE,
        "-c",
        "3",
        "-d",
        "5s",
        "-m",
        "POST",
        "-H",
        "X-A: ${VU}",
        "-b",
        "n=${ITERATION}",
        "--dump",
        "ir",
    ];
    let first = Test::new().args(args).run();
    let second = Test::new().args(args).run();
    assert!(!first.stdout.is_empty(), "--dump ir printed nothing");
    assert_eq!(
        first.stdout, second.stdout,
        "--dump ir differs between runs"
    );
    for want in ["scenario", "POST", "127.0.0.1:9"] {
        assert!(
            first.stdout.contains(want),
            "no {want:?} in:\n{}",
            first.stdout
        );
    }
}

#[test]
fn dump_bytecode_is_deterministic() {
    let args = [
        NOWHERE,
        "-c",
        "3",
        "-H",
        "X-A: ${VU}",
        "-b",
        "n=${ITERATION}",
        "--dump",
        "bytecode",
    ];
    let first = Test::new().args(args).run();
    let second = Test::new().args(args).run();
    assert!(!first.stdout.is_empty(), "--dump bytecode printed nothing");
    assert_eq!(
        first.stdout, second.stdout,
        "--dump bytecode differs between runs"
    );
    let ir = Test::new()
        .args([
            NOWHERE,
            "-c",
            "3",
            "-H",
            "X-A: ${VU}",
            "-b",
            "n=${ITERATION}",
            "--dump",
            "ir",
        ])
        .run();
    assert_ne!(first.stdout, ir.stdout, "--dump bytecode printed the IR");
}

#[test]
fn dump_of_a_scenario_file_is_deterministic_and_located() {
    let scenario = r#"
        [target]
        url = "http://127.0.0.1:9/items/${VU}"

        [request]
        method = "PUT"
        headers = { X-Token = "${KAIOKEN_TEST_TOKEN}" }
        body = "{}"

        [load]
        vus = 2
        duration = "3s"
    "#;
    let first = Test::new()
        .scenario(scenario)
        .env("KAIOKEN_TEST_TOKEN", "s3cret-value")
        .args(["--dump", "ir"])
        .run();
    // Same file name, same directory: byte-identical output.
    let second = Test::in_dir(first.dir)
        .scenario(scenario)
        .env("KAIOKEN_TEST_TOKEN", "s3cret-value")
        .args(["--dump", "ir"])
        .run();
    assert_eq!(
        first.stdout, second.stdout,
        "--dump ir differs between runs"
    );
    // Locations point into the file; environment variables are folded at compile time.
    assert!(
        second.stdout.contains("scenario.toml:2:"),
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("s3cret-value"), "{}", second.stdout);
    assert!(
        !second.stdout.contains("KAIOKEN_TEST_TOKEN"),
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("PUT"), "{}", second.stdout);
}

#[test]
fn dry_run_sends_nothing() {
    use crate::servers::{Behaviour, Server};
    use std::sync::atomic::Ordering;
    let server = Server::start(Behaviour::Ok);
    Test::new()
        .args([&server.url(), "-c", "4", "-d", "1s", "--dry-run"])
        .run();
    assert_eq!(server.counts().connections.load(Ordering::SeqCst), 0);
}

#[test]
fn demo_runs_and_prints_a_summary() {
    let out = Test::new()
        .args(["demo", "-d", "1s", "-c", "2"])
        .report()
        .stdout_contains("Requests")
        .stdout_contains("Latency")
        .run();
    let report = out.report();
    report.check_invariants(0);
    assert!(report.u64("requests.responses") > 0, "{report}");
    assert_eq!(report.u64("requests.errors"), 0, "{report}");
    assert_eq!(report.str("outcome.stop_reason"), "duration", "{report}");
    assert!(
        out.elapsed < Duration::from_secs(30),
        "a 1s demo took {:?}",
        out.elapsed
    );
}

#[test]
fn serious_drops_the_flavour() {
    let flavoured = Test::new().args(["demo", "-d", "1s", "-c", "1"]).run();
    let serious = Test::new()
        .args(["demo", "-d", "1s", "-c", "1", "--serious"])
        .stdout_contains("Requests")
        .run();
    assert!(
        flavoured.stdout.contains("Power level"),
        "{}",
        flavoured.stdout
    );
    for word in ["Power level", "9000", "⚡"] {
        assert!(
            !serious.stdout.contains(word),
            "--serious printed {word:?}:\n{}",
            serious.stdout
        );
    }
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_kaioken()"),
        ("zsh", "#compdef kaioken"),
        ("fish", "complete -c kaioken"),
        ("elvish", "edit:completion:arg-completer[kaioken]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = Test::new()
            .without_no_tui()
            .args(["completions", shell])
            .stdout_contains(marker)
            .run();
        // The flags are in there too, generated from the same definitions as --help.
        assert!(
            out.stdout.contains("arrival-rate"),
            "{shell}: {}",
            out.stdout
        );
    }
    Test::new()
        .without_no_tui()
        .args(["completions", "tcsh"])
        .status(2)
        .run();
}

#[test]
fn man_page() {
    let out = Test::new()
        .without_no_tui()
        .arg("man")
        .stdout_contains(".TH kaioken 1")
        .run();
    assert!(
        out.stdout.contains("max\\-requests") || out.stdout.contains("max-requests"),
        "{}",
        out.stdout
    );
}

#[test]
fn init_writes_a_valid_scenario_and_keeps_an_existing_one() {
    let out = Test::new()
        .without_no_tui()
        .args(["init", "scenario.toml"])
        .stderr_contains("wrote scenario.toml")
        .run();
    let path = out.dir.path().join("scenario.toml");
    let written = std::fs::read_to_string(&path).expect("init wrote the file");
    assert!(
        written.contains("[target]") && written.contains("[load]"),
        "{written}"
    );
    assert!(
        written.contains("Run it with: kaioken -f scenario.toml\n"),
        "{written}"
    );
    // Valid as written: it dry-runs.
    let out = Test::in_dir(out.dir)
        .args(["-f", "scenario.toml", "--dry-run"])
        .stdout_contains("would run 10 VUs for 30s")
        .run();
    // And its commented examples are valid too: with the thresholds, the scenarios and
    // the optional keys before the open-model alternative switched on, it still compiles
    // (all but `[request] method` and `body`, which steps replace).
    let mut switched_on = String::new();
    let mut examples = false;
    for line in written.lines() {
        examples |= line.starts_with("# cookie_jar");
        if line.starts_with("# The open model") {
            examples = false;
        }
        let code = line
            .strip_prefix("# ")
            .filter(|c| c.starts_with('[') || c.contains(" = "))
            .filter(|c| !c.starts_with("method") && !c.starts_with("body"));
        match code {
            Some(code) if examples => switched_on.push_str(code.split("   #").next().unwrap()),
            _ => switched_on.push_str(line),
        }
        switched_on.push('\n');
    }
    assert!(switched_on.contains("\n[thresholds]\n"), "{switched_on}");
    assert!(switched_on.contains("\nthink_time = "), "{switched_on}");
    std::fs::write(out.dir.path().join("all.toml"), &switched_on).unwrap();
    let out = Test::in_dir(out.dir)
        .args(["-f", "all.toml", "--dry-run"])
        .stdout_contains("scenario \"login then browse\"")
        .stdout_contains("threshold")
        .run();
    // A second init refuses to overwrite; --force does.
    std::fs::write(&path, "# mine\n").unwrap();
    let out = Test::in_dir(out.dir)
        .without_no_tui()
        .args(["init", "scenario.toml"])
        .status(1)
        .stderr_contains("pass --force")
        .run();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
    let out = Test::in_dir(out.dir)
        .without_no_tui()
        .args(["init", "scenario.toml", "--force"])
        .run();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    // A name `-f` would not read as TOML is refused, with the name to use.
    let out = Test::in_dir(out.dir)
        .without_no_tui()
        .args(["init", "load.json"])
        .status(1)
        .stderr_contains("not `.json`: name it `load.toml`")
        .run();
    assert!(!out.dir.path().join("load.json").exists());
}

/// Credentials never reach a dump: `authorization`, `proxy-authorization` and
/// `cookie` values are redacted by `--dry-run`, `--dump ir` and `--dump bytecode`,
/// whether fixed or interpolated; other headers are shown as they are.
#[test]
fn secrets_are_redacted_in_dumps() {
    for args in [
        &["--dry-run"][..],
        &["--dump", "ir"],
        &["--dump", "bytecode"],
    ] {
        let out = Test::new()
            .scenario(
                r#"
                [target]
                url = "http://127.0.0.1:9/"

                [request]
                headers = { authorization = "Bearer s3cr3t-${VU}", proxy-authorization = "Basic cHJveHk6cHc=", x-visible = "shown-value" }
                "#,
            )
            .args(["-H", "Cookie: session=hunter2"])
            .args(args.iter().copied())
            .run();
        for secret in ["s3cr3t", "cHJveHk6cHc", "hunter2"] {
            assert!(
                !out.stdout.contains(secret),
                "{args:?} shows {secret}:\n{}",
                out.stdout
            );
        }
        assert!(out.stdout.contains("redacted"), "{args:?}:\n{}", out.stdout);
        assert!(
            out.stdout.contains("shown-value"),
            "{args:?}:\n{}",
            out.stdout
        );
    }
}

/// A zero timeout would fail every request at once, and zero worker threads run
/// nothing: both are refused before any load, like `-d 0s`.
#[test]
fn zero_timeout_and_zero_threads_are_refused() {
    Test::new()
        .args(["http://127.0.0.1:9/", "-n", "1", "--timeout", "0s"])
        .env("RUST_BACKTRACE", "0")
        .status(1)
        .stderr_contains("`timeout` is out of range; expected a duration above zero")
        .run();
    Test::new()
        .args(["http://127.0.0.1:9/", "-n", "1", "--threads", "0"])
        .status(2)
        .stderr_contains("0 is not in 1..")
        .run();
}

/// `--percentiles` picks the summary's latency percentiles (exact, from the run's
/// histogram), and a compact histogram of the responses follows them; a list that
/// is not percentiles is a usage error naming the item.
#[test]
fn chosen_percentiles_and_a_histogram_in_the_summary() {
    let nginx = crate::nginx::Nginx::start(crate::nginx::Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["-c", "2", "-n", "200", "-d", "30s"])
        .args(["--percentiles", "50,99.99"])
        .report()
        .run();
    let report = out.report();
    let latency = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Latency"))
        .expect("a latency line");
    assert!(
        latency.contains("p50 ") && latency.contains("  p99.99 "),
        "{latency}"
    );
    assert!(!latency.contains("p90"), "{latency}");
    // The histogram's rows count every response.
    let counted: u64 = out
        .stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Histogram"))
        .take_while(|l| l.contains('≤'))
        .map(|l| {
            let after = l.split('≤').nth(1).unwrap();
            after
                .split_whitespace()
                .nth(1)
                .unwrap()
                .replace(',', "")
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(counted, report.u64("requests.responses"), "{}", out.stdout);

    Test::new()
        .args(["http://127.0.0.1:9/", "--percentiles", "50,0"])
        .status(2)
        .stderr_contains("`0` is not a percentile")
        .run();
}
