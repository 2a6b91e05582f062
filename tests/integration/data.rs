//! Data sources (`[[data]]`, `--data name=path`): every row a strategy promises
//! reaches the server, as nginx's access log shows, and a bad file is a located
//! error. `--targets` lists of requests (vegeta's format) are tested here too.

use std::collections::BTreeMap;

use crate::harness::Test;
use crate::nginx::{Nginx, Variant};

/// A CSV of `rows` users, `user0` to `user{rows-1}`, with a password column.
fn users_csv(rows: usize) -> String {
    let mut text = String::from("name,password\n");
    for i in 0..rows {
        text.push_str(&format!("user{i},pw{i}\n"));
    }
    text
}

/// How many times nginx served each request URI.
fn served(nginx: &Nginx) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in nginx.access_log_lines() {
        *counts.entry(line.uri).or_insert(0) += 1;
    }
    counts
}

/// `sequential` with `on_exhausted = "stop"`: four VUs share one cursor, so each of
/// the 60 rows is sent exactly once, and then the run stops by itself, long before
/// its duration, with its complete report.
#[test]
fn sequential_stop_sends_every_row_exactly_once() {
    stops_after_every_row("io_uring", 60, "vus = 4");
}

/// The same on the tokio engine (the plain HTTP/1.1 closed model otherwise runs on
/// io_uring where the kernel allows it).
#[test]
fn sequential_stop_sends_every_row_exactly_once_on_tokio() {
    stops_after_every_row("tokio", 60, "vus = 4");
}

/// The open model stops on an exhausted source as well: 40 rows at 400 iterations
/// a second are 40 requests.
#[test]
fn sequential_stop_in_the_open_model() {
    stops_after_every_row("io_uring", 40, "arrival_rate = 400");
}

#[test]
fn sequential_stop_in_the_open_model_on_tokio() {
    stops_after_every_row("tokio", 40, "arrival_rate = 400");
}

/// A run over `rows` users with `on_exhausted = "stop"` and `load` in its `[load]`
/// (a 30 s run), on `engine`: it stops for that reason long before its duration,
/// with a complete report, and nginx saw each row's request exactly once.
fn stops_after_every_row(engine: &str, rows: usize, load: &str) {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .on_engine(engine)
        .file("users.csv", &users_csv(rows))
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [load]
            {load}
            duration = "30s"

            [[data]]
            name = "users"
            file = "users.csv"
            on_exhausted = "stop"
            "#,
            nginx.url("/echo?u=${users.name}&p=${users.password}")
        ))
        .report()
        .run();
    let report = out.report();
    report.check_invariants(out.exit_code);
    assert_eq!(report.str("outcome.stop_reason"), "data_exhausted");
    assert_eq!(report.str("settings.engine"), engine, "{report}");
    assert_eq!(report.u64("requests.total"), rows as u64, "{report}");
    assert_eq!(report.u64("requests.responses"), rows as u64, "{report}");
    assert!(out.elapsed.as_secs() < 15, "took {:?}", out.elapsed);
    let expected: BTreeMap<String, u64> = (0..rows)
        .map(|i| (format!("/echo?u=user{i}&p=pw{i}"), 1))
        .collect();
    assert_eq!(served(&nginx), expected);
}

#[test]
fn sequential_wraps_by_default() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .file("users.csv", &users_csv(3))
        .arg(nginx.url("/echo?u=${users.name}"))
        .args(["--data", "users=users.csv", "-c", "1", "-n", "9"])
        .report()
        .run();
    assert_eq!(out.report().u64("requests.responses"), 9);
    let expected: BTreeMap<String, u64> = (0..3).map(|i| (format!("/echo?u=user{i}"), 3)).collect();
    assert_eq!(served(&nginx), expected);
}

/// `unique`: VU `n` reads row `n - 1` in every iteration, and no other VU does.
#[test]
fn unique_gives_each_vu_its_own_row() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .file("users.csv", &users_csv(5))
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [load]
            vus = 5
            duration = "1s"

            [[data]]
            name = "users"
            file = "users.csv"
            strategy = "unique"
            "#,
            nginx.url("/echo?u=user${users.name}&vu=${VU}")
        ))
        .report()
        .run();
    // A second, not a request count: with `max_requests`, one worker thread can send
    // them all before the other's VUs start on a loaded machine.
    let responses = out.report().u64("requests.responses");
    assert!(responses >= 5, "{responses}");
    let served = served(&nginx);
    assert_eq!(served.values().sum::<u64>(), responses);
    for uri in served.keys() {
        let (name, vu) = uri["/echo?u=useruser".len()..].split_once("&vu=").unwrap();
        let (row, vu): (u32, u32) = (name.parse().unwrap(), vu.parse().unwrap());
        assert_eq!(row + 1, vu, "VU {vu} read row {row}: {served:?}");
    }
    // Every VU sent something, each with its own row.
    assert_eq!(served.len(), 5, "{served:?}");
}

/// `unique` needs a row per VU: more VUs than rows is refused before the run.
#[test]
fn unique_with_more_vus_than_rows_is_refused() {
    Test::new()
        .file("users.csv", &users_csv(2))
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/u/${users.name}"

            [load]
            vus = 3

            [[data]]
            name = "users"
            file = "users.csv"
            strategy = "unique"
            "#,
        )
        .arg("--dry-run")
        .status(1)
        .stderr_contains("data source `users`: `unique` gives each VU its own row")
        .stderr_contains("the load has up to 3 VUs for 2")
        .stderr_contains("scenario.toml:10:13")
        .run();
}

/// `random`: every value sent is one of the column's, and 300 draws from 5 rows
/// reach every row.
#[test]
fn random_draws_from_the_column() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .file("users.csv", &users_csv(5))
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [load]
            vus = 3
            max_requests = 300

            [[data]]
            name = "users"
            file = "users.csv"
            strategy = "random"
            "#,
            nginx.url("/echo?u=${users.name}")
        ))
        .report()
        .run();
    assert_eq!(out.report().u64("requests.responses"), 300);
    let served = served(&nginx);
    let column: Vec<String> = (0..5).map(|i| format!("/echo?u=user{i}")).collect();
    assert_eq!(served.keys().cloned().collect::<Vec<_>>(), column);
    assert_eq!(served.values().sum::<u64>(), 300);
}

/// `--data` alone, without a scenario file, with a JSON source: quoted CSV-like
/// values with a space, a comma and a quote reach the server percent-encoded in the
/// query, and as they are in a header.
#[test]
fn data_flag_with_json_without_a_scenario_file() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .file(
            "users.json",
            r#"[{"name": "ann lee", "id": 7}, {"name": "b,\"c\"", "id": 8}]"#,
        )
        .arg(nginx.url("/echo?n=${users.name}&id=${users.id}"))
        .args([
            "--data",
            "users=users.json",
            "-H",
            "x-kaioken-test: ${users.id}",
        ])
        .args(["-c", "1", "-n", "2"])
        .report()
        .run();
    assert_eq!(out.report().u64("requests.responses"), 2);
    let lines = nginx.access_log_lines();
    let got: Vec<(String, String)> = lines
        .iter()
        .map(|l| (l.uri.clone(), l.x_kaioken_test.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("/echo?n=ann%20lee&id=7".to_owned(), "7".to_owned()),
            ("/echo?n=b,%22c%22&id=8".to_owned(), "8".to_owned()),
        ]
    );
}

/// `${URLENCODE(source.column)}` and `${URLENCODE(setup.key)}`: a value with `+`,
/// `&`, `=` or a space arrives as one query value, every byte but the unreserved
/// ones percent-encoded, as nginx logs it.
#[test]
fn url_encoded_data_columns_and_setup_values() {
    let nginx = Nginx::start(Variant::Http1);
    Test::new()
        .file("users.csv", "name\na+b&c=d\nann lee/x\n")
        .scenario(&format!(
            r#"
            [target]
            url = "{}"

            [scripts]
            setup = "return {{ token = 'x+y/z' }}"

            [[data]]
            name = "users"
            file = "users.csv"
            "#,
            nginx.url("/echo?n=${URLENCODE(users.name)}&t=${URLENCODE( setup.token )}")
        ))
        .args(["-c", "1", "-n", "2"])
        .run();
    let uris: Vec<String> = nginx
        .access_log_lines()
        .into_iter()
        .map(|l| l.uri)
        .collect();
    assert_eq!(
        uris,
        [
            "/echo?n=a%2Bb%26c%3Dd&t=x%2By%2Fz",
            "/echo?n=ann%20lee%2Fx&t=x%2By%2Fz"
        ]
    );
}

/// A JSON source's numbers are sent as the file writes them: `1.10` is not `1.1`,
/// `1e2` is not `100.0`, and a 30-digit id is not rounded to an `f64`.
#[test]
fn json_numbers_are_sent_as_written() {
    let nginx = Nginx::start(Variant::Http1);
    Test::new()
        .file(
            "n.json",
            r#"[{"b": 1.10, "c": 1e2, "f": 123456789012345678901234567890, "o": {"x": -0.0}}]"#,
        )
        .arg(nginx.url("/echo?v=${n.b}/${n.c}/${n.f}&o=${n.o}"))
        .args(["--data", "n=n.json", "-c", "1", "-n", "1"])
        .run();
    let uris: Vec<String> = nginx
        .access_log_lines()
        .into_iter()
        .map(|l| l.uri)
        .collect();
    assert_eq!(
        uris,
        ["/echo?v=1.10/1e2/123456789012345678901234567890&o=%7B%22x%22:-0.0%7D"]
    );
}

/// CSV quoting per RFC 4180: a quoted field keeps its comma, its doubled quote
/// becomes one, and a quoted line break stays in the value.
#[test]
fn csv_quoting_is_rfc_4180() {
    let nginx = Nginx::start(Variant::Http1);
    Test::new()
        .file(
            "q.csv",
            "v,w\n\"a,b\",\"say \"\"hi\"\"\"\n\"two\nlines\",x\n",
        )
        .arg(nginx.url("/echo?v=${q.v}&w=${q.w}"))
        .args(["--data", "q=q.csv", "-c", "1", "-n", "2"])
        .report()
        .run();
    let uris: Vec<String> = nginx
        .access_log_lines()
        .into_iter()
        .map(|l| l.uri)
        .collect();
    assert_eq!(
        uris,
        ["/echo?v=a,b&w=say%20%22hi%22", "/echo?v=two%0Alines&w=x"]
    );
}

/// A row with a missing field names its line.
#[test]
fn ragged_csv_row_names_its_line() {
    Test::new()
        .file("users.csv", "name,password\nann,1\nbob\ncy,3\n")
        .arg("http://127.0.0.1:9/u/${users.name}")
        .args(["--data", "users=users.csv", "--dry-run"])
        .status(1)
        .stderr_contains(
            "data source `users`: in `users.csv`: line 3: the row has 1 field, the header has 2",
        )
        // The failed source is reported once, not again at each use.
        .stderr_lacks("unknown variable")
        .run();
}

/// A quoted field that is never closed takes the rest of the file; it is named by
/// its line and column, not taken for a file without rows (nor for a ragged row).
#[test]
fn unclosed_csv_quote_names_its_line() {
    for (text, at) in [
        ("\"unterminated,x\na,b\n", "line 1 column 1"),
        ("name,password\nann,1\nbob,\"x\ncy,3\n", "line 3 column 5"),
        ("name,password\n\nann,1\n\"bob,x\ncy,3\n", "line 4 column 1"),
    ] {
        Test::new()
            .file("quote.csv", text)
            .arg("http://127.0.0.1:9/u/${d.name}")
            .args(["--data", "d=quote.csv", "--dry-run"])
            .status(1)
            .stderr_contains(format!(
                "data source `d`: in `quote.csv`: {at}: this quoted field is never closed"
            ))
            .stderr_lacks("has no rows")
            .run();
    }
}

/// A column the source lacks: did you mean, over the source's columns.
#[test]
fn unknown_column_suggests_the_closest() {
    Test::new()
        .file("users.csv", &users_csv(1))
        .arg("http://127.0.0.1:9/u/${users.nmae}")
        .args(["--data", "users=users.csv", "--dry-run"])
        .status(1)
        .stderr_contains("data source `users` has no column `nmae`")
        .stderr_contains("help: did you mean `users.name`?")
        .run();
}

/// A file that is not there: the path, and the flag it came from.
#[test]
fn missing_file_is_named() {
    Test::new()
        .arg("http://127.0.0.1:9/u/${users.name}")
        .args(["--data", "users=nope.csv", "--dry-run"])
        .status(1)
        .stderr_contains("cannot read `nope.csv`: No such file or directory")
        .stderr_contains("--data \"users=nope.csv\"")
        .run();
}

/// A JSON file that is not an array of objects, and a strategy that does not exist.
#[test]
fn bad_json_and_bad_strategy() {
    Test::new()
        .file("users.json", r#"{"name": "ann"}"#)
        .arg("http://127.0.0.1:9/u/${users.name}")
        .args(["--data", "users=users.json", "--dry-run"])
        .status(1)
        .stderr_contains("data source `users`: in `users.json`: expected an array of objects")
        .run();
    // A syntax error names its place once, its column from 1.
    let out = Test::new()
        .file("users.json", "[\n")
        .arg("http://127.0.0.1:9/u/${users.name}")
        .args(["--data", "users=users.json", "--dry-run"])
        .status(1)
        .stderr_contains(
            "data source `users`: in `users.json`: line 2 column 1: EOF while parsing a list",
        )
        .run();
    assert!(!out.stderr.contains(" at line "), "{}", out.stderr);
    Test::new()
        .file("users.csv", &users_csv(1))
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/u/${users.name}"

            [[data]]
            name = "users"
            file = "users.csv"
            strategy = "shuffle"
            "#,
        )
        .arg("--dry-run")
        .status(1)
        .stderr_contains(
            "data source `users`: strategy `shuffle` is not one of `sequential`, `random`, `unique`",
        )
        .run();
}

/// `--data` replaces the file of a source the scenario defines, keeping its
/// strategy; the dump shows the source.
#[test]
fn data_flag_replaces_a_sources_file() {
    Test::new()
        .file("users.csv", &users_csv(1))
        .file("more.csv", &users_csv(4))
        .scenario(
            r#"
            [target]
            url = "http://127.0.0.1:9/u/${users.name}"

            [[data]]
            name = "users"
            file = "users.csv"
            strategy = "random"
            "#,
        )
        .args(["--data", "users=more.csv", "--dump", "ir"])
        .stdout_contains(
            "data \"users\" \"more.csv\" rows=4 columns=[name, password] strategy=random\n",
        )
        .run();
}

/// `--targets` (vegeta's format), round-robin: one VU sends the list in order, with
/// each target's headers and body file, round and round.
#[test]
fn targets_round_robin_in_order() {
    let nginx = Nginx::start(Variant::Http1);
    let list = format!(
        "# two targets\nGET {}\nx-kaioken-test: first\n\nPOST {}\ncontent-type: application/json\n@body.json\n",
        nginx.url("/echo?t=1"),
        nginx.url("/echo?t=2")
    );
    let out = Test::new()
        .file("targets.txt", &list)
        .file("body.json", "{\"a\": 1}")
        .args(["--targets", "targets.txt", "-c", "1", "-n", "6"])
        .report()
        .run();
    assert_eq!(out.report().u64("requests.responses"), 6);
    let got: Vec<(String, String, String, String)> = nginx
        .access_log_lines()
        .into_iter()
        .map(|l| (l.method, l.uri, l.x_kaioken_test, l.content_length))
        .collect();
    let first = ("GET".into(), "/echo?t=1".into(), "first".into(), "-".into());
    let second = ("POST".into(), "/echo?t=2".into(), "-".into(), "8".into());
    assert_eq!(
        got,
        [
            first.clone(),
            second.clone(),
            first.clone(),
            second.clone(),
            first,
            second
        ]
    );
}

/// A body line names a file beside the list, as vegeta reads it, not one in the
/// working directory; a missing one is an error located at its line.
#[test]
fn targets_bodies_are_relative_to_the_list() {
    let nginx = Nginx::start(Variant::Http1);
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::create_dir(dir.path().join("lists")).unwrap();
    let list = format!("POST {}\n@body.json\n", nginx.url("/echo?t=1"));
    std::fs::write(dir.path().join("lists/targets.txt"), list).unwrap();
    std::fs::write(dir.path().join("lists/body.json"), "{\"in\": \"lists\"}").unwrap();
    // A file of the same name in the working directory, of another length.
    std::fs::write(dir.path().join("body.json"), "{}").unwrap();
    let out = Test::in_dir(dir)
        .args(["--targets", "lists/targets.txt", "-c", "1", "-n", "3"])
        .report()
        .run();
    assert_eq!(out.report().u64("requests.responses"), 3);
    let got: Vec<(String, String)> = nginx
        .access_log_lines()
        .into_iter()
        .map(|l| (l.method, l.content_length))
        .collect();
    assert_eq!(got, vec![("POST".to_owned(), "15".to_owned()); 3]);

    std::fs::remove_file(out.dir.path().join("lists/body.json")).unwrap();
    Test::in_dir(out.dir)
        .args(["--targets", "lists/targets.txt", "--dry-run"])
        .env("RUST_BACKTRACE", "0")
        .status(1)
        .stderr_contains("lists/body.json")
        .stderr_contains("[lists/targets.txt:2:2]")
        .run();
}

/// `--targets-order random`: every request is one of the list's, and 200 draws
/// reach each of the three.
#[test]
fn targets_random_draws_every_target() {
    let nginx = Nginx::start(Variant::Http1);
    let list: String = (1..=3)
        .map(|i| format!("GET {}\n", nginx.url(&format!("/echo?t={i}"))))
        .collect();
    let out = Test::new()
        .file("targets.txt", &list)
        .args(["--targets", "targets.txt", "--targets-order", "random"])
        .args(["-c", "2", "-n", "200"])
        .report()
        .run();
    assert_eq!(out.report().u64("requests.responses"), 200);
    let served = served(&nginx);
    assert_eq!(
        served.keys().cloned().collect::<Vec<_>>(),
        ["/echo?t=1", "/echo?t=2", "/echo?t=3"]
    );
    assert_eq!(served.values().sum::<u64>(), 200);
}

/// A line that is neither a target, a header nor a body is located in the list.
#[test]
fn targets_bad_line_is_located() {
    Test::new()
        .file("targets.txt", "GET http://127.0.0.1:9/a\nbogus line here\n")
        .args(["--targets", "targets.txt", "--dry-run"])
        .status(1)
        .stderr_contains("expected `METHOD URL`, a header `Name: value`, or a body `@file`")
        .stderr_contains("[targets.txt:2:1]")
        .run();
    Test::new()
        .args(["--targets", "missing.txt", "--dry-run"])
        .status(1)
        .stderr_contains("cannot read `missing.txt`: No such file or directory")
        .run();
    Test::new()
        .file("empty.txt", "# nothing yet\n")
        .args(["--targets", "empty.txt", "--dry-run"])
        .status(1)
        .stderr_contains("the target list `empty.txt` has no `METHOD URL` line")
        .run();
    // A scenario file's own scenarios would run beside the list's.
    Test::new()
        .file("targets.txt", "GET http://127.0.0.1:9/a\n")
        .scenario("[[scenarios]]\n[[scenarios.steps]]\nurl = \"http://127.0.0.1:9/b\"\n")
        .args(["--targets", "targets.txt", "--dry-run"])
        .status(1)
        .stderr_contains("`--targets` makes the run's scenarios from its list")
        .stderr_contains("[--targets \"targets.txt\":1:1]")
        .run();
}
