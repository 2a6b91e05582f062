//! Where connections go: `--resolve` and `--connect-to` send them to a chosen
//! address while the URL's host stays in `Host` (nginx logs it), SNI and the
//! certificate check; a malformed spec is refused before the run.

use crate::harness::Test;
use crate::nginx::{Nginx, Variant, distinct_connections, free_port};

/// `--resolve` gives a name that does not exist an address: every request reaches
/// nginx with the URL's host, on the io_uring engine (the address is known at the
/// start) and on tokio, without a DNS lookup.
#[test]
fn resolve_sends_a_named_target_to_the_address() {
    for engine in ["io_uring", "tokio"] {
        let nginx = Nginx::start(Variant::Http1);
        let port = nginx
            .url("/")
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        let host = format!("kaioken.test:{port}");
        let report = Test::new()
            .arg(format!("http://{host}/"))
            .args(["--resolve", &format!("kaioken.test:{port}:127.0.0.1")])
            .args(["-c", "2", "--max-requests", "20", "-d", "60s"])
            .on_engine(engine)
            .report()
            .run()
            .report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("requests.responses"), 20, "{report}");
        assert_eq!(report.u64("phases_ms.dns.count"), 0, "{report}");
        let lines = nginx.access_log_lines();
        assert_eq!(lines.len(), 20, "{engine}");
        assert!(lines.iter().all(|l| l.host == host), "{engine}: {lines:?}");
    }
}

/// A host name runs on the io_uring engine: resolved once when the run starts (no
/// connection has a `dns` phase), every request in nginx's log with the URL's host.
/// A name that does not resolve falls back to the tokio engine, whose lookups report
/// it as a `dns` error with the resolver's words, request by request.
#[test]
fn a_host_name_is_resolved_at_the_start_for_io_uring() {
    let nginx = Nginx::start(Variant::Http1);
    let url = nginx.url("/").replace("127.0.0.1", "localhost");
    let report = Test::new()
        .arg(&url)
        .args(["-c", "2", "--max-requests", "20", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.str("settings.engine"), "io_uring", "{report}");
    assert_eq!(report.u64("requests.responses"), 20, "{report}");
    let opened = report.keepalive_connections(2);
    assert_eq!(report.u64("phases_ms.dns.count"), 0, "{report}");
    let lines = nginx.access_log_lines();
    assert_eq!(lines.len(), 20, "{lines:?}");
    assert_eq!(distinct_connections(&lines), opened, "{lines:?}");
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    assert!(lines.iter().all(|l| l.host == host), "{lines:?}");

    let out = Test::new()
        .arg("http://nowhere.invalid/")
        .args(["-c", "2", "--max-requests", "6", "-d", "30s"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.str("settings.engine"), "tokio", "{report}");
    assert_eq!(report.u64("errors.dns"), 6, "{report}");
    let detail = report.str("error_details.dns");
    assert!(
        detail.starts_with("cannot resolve `nowhere.invalid`"),
        "{detail}"
    );
}

/// `--connect-to` over HTTP/2 (h2c): the URL's port-80 authority goes to nginx's
/// port through `localhost` (a name, resolved when the run starts), and
/// nginx sees the URL's authority.
#[test]
fn connect_to_routes_http2_through_a_name() {
    let nginx = Nginx::start(Variant::H2c);
    let port = nginx
        .url("/")
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let report = Test::new()
        .arg("http://api.kaioken.test/")
        .args([
            "--connect-to",
            &format!("api.kaioken.test:80:localhost:{port}"),
        ])
        .args(["--http2", "-c", "3", "--max-requests", "30", "-d", "60s"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    assert_eq!(report.u64("requests.responses"), 30, "{report}");
    let opened = report.keepalive_connections(3);
    let lines = nginx.access_log_lines();
    assert_eq!(lines.len(), 30);
    assert_eq!(distinct_connections(&lines), opened, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.host == "api.kaioken.test" && l.protocol == "HTTP/2.0"),
        "{lines:?}"
    );
}

/// Over TLS the URL's host is the server name: `https://localhost:PORT` routed to
/// 127.0.0.1 and nginx's port verifies against the certificate for `localhost`.
#[test]
fn connect_to_keeps_the_urls_host_for_tls() {
    let nginx = Nginx::start(Variant::Tls);
    let port = nginx
        .url("/")
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let unused = free_port();
    let report = Test::new()
        .arg(format!("https://localhost:{unused}/"))
        .args([
            "--connect-to",
            &format!("localhost:{unused}:127.0.0.1:{port}"),
        ])
        .arg("--cacert")
        .arg(nginx.ca_path())
        .args(["-c", "2", "--max-requests", "10", "-d", "60s"])
        .report()
        .run()
        .report();
    assert_eq!(report.u64("requests.responses"), 10, "{report}");
    // A handshake per connection, one per VU that connected.
    let opened = report.keepalive_connections(2);
    assert_eq!(report.u64("phases_ms.tls.count"), opened, "{report}");
    let lines = nginx.access_log_lines();
    assert_eq!(lines.len(), 10);
    assert_eq!(distinct_connections(&lines), opened, "{lines:?}");
    let host = format!("localhost:{unused}");
    assert!(lines.iter().all(|l| l.host == host), "{lines:?}");
}

/// Malformed specs, a `--resolve` to a name and a route to a name that does not
/// resolve: each a clear error before any request, exit 1.
#[test]
fn bad_routes_are_refused_before_the_run() {
    for (args, message) in [
        (
            vec!["--connect-to", "a.test:80:127.0.0.1"],
            "`a.test:80:127.0.0.1` has 3 part(s) where 4 are expected",
        ),
        (
            vec!["--connect-to", "a.test:http:127.0.0.1:80"],
            "`http` in `a.test:http:127.0.0.1:80` is not a port (1 to 65535)",
        ),
        (
            vec!["--resolve", "a.test:80:backend"],
            "`backend` in `a.test:80:backend` is not an IP address",
        ),
        (
            vec!["--connect-to", "a.test:80:nowhere.invalid:80"],
            "--connect-to a.test:80:nowhere.invalid:80: cannot resolve `nowhere.invalid`",
        ),
        (
            vec!["--dns-refresh", "soon"],
            "invalid duration `soon` for `dns_refresh`",
        ),
    ] {
        Test::new()
            .arg("http://a.test/")
            .args(&args)
            .args(["--max-requests", "1"])
            .status(1)
            .stderr_contains(message)
            .run();
    }
}

/// `[target] connect_to`, `resolve` and `dns_refresh` in a scenario file, shown by
/// `--dump ir` (one `network` line); a `--connect-to` flag replaces the file's list.
#[test]
fn target_keys_and_flags_show_in_the_dump() {
    let scenario = r#"
[target]
url = "http://a.test/"
connect_to = ["a.test:80:127.0.0.1:8080"]
resolve = ["b.test:443:[::1]"]
dns_refresh = "30s"
"#;
    Test::new()
        .scenario(scenario)
        .args(["--dump", "ir"])
        .stdout_contains(
            "network connect_to=[a.test:80:127.0.0.1:8080, b.test:443:[::1]:443] dns_refresh=30s unix_socket=none",
        )
        .run();
    Test::new()
        .scenario(scenario)
        .args(["--connect-to", "c.test:80:127.0.0.2:81", "--dump", "ir"])
        .stdout_contains(
            "network connect_to=[c.test:80:127.0.0.2:81, b.test:443:[::1]:443] dns_refresh=30s unix_socket=none",
        )
        .run();
}

/// HTTP/3 dials UDP itself, through the same routes: the URL's port is one nothing
/// listens on, `--connect-to` sends the QUIC connections to Caddy's, and Caddy logs
/// as many HTTP/3 requests, with the URL's host, as the report counts.
#[test]
fn connect_to_applies_to_http3() {
    let caddy = crate::caddy::Caddy::start();
    let port = caddy.url("").rsplit(':').next().unwrap().to_owned();
    let unused = free_port();
    let report = Test::new()
        .arg(format!("https://127.0.0.1:{unused}/"))
        .args([
            "--connect-to",
            &format!("127.0.0.1:{unused}:127.0.0.1:{port}"),
        ])
        .arg("--cacert")
        .arg(caddy.ca_path())
        .args(["--http3", "-c", "2", "--max-requests", "20", "-d", "60s"])
        .report()
        .run()
        .report();
    assert_eq!(report.status_codes(), vec![(200, 20)], "{report}");
    report.keepalive_connections(2);
    // The requests' `Host` is the URL's, whose port is not the site's, so Caddy logs
    // them with its default logger (its output), not to the site's access log.
    let logs = caddy.logs();
    let host = format!("127.0.0.1:{unused}");
    let served = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            e["logger"] == "http.log.access"
                && e["request"]["proto"] == "HTTP/3.0"
                && e["request"]["host"] == host.as_str()
        })
        .count();
    assert_eq!(served, 20, "{logs}");
    assert_eq!(caddy.protocols().get("HTTP/3.0"), None);
}

/// `--unix-socket`: every connection goes to nginx's Unix socket, over HTTP/1.1
/// (on each engine), HTTP/2 (h2c) and TLS (the URL's `localhost` is the server name
/// nginx's certificate is checked against); nginx logs the URL's host, as many
/// requests as the report counts, on as many connections as it says were opened.
#[test]
fn unix_socket_carries_http1_http2_and_tls() {
    for (variant, extra, engine) in [
        (Variant::Http1, &[][..], "io_uring"),
        (Variant::Http1, &[][..], "tokio"),
        (Variant::H2c, &["--http2"][..], "tokio"),
        (Variant::Tls, &["--http2"][..], "tokio"),
        (Variant::Tls, &[][..], "io_uring"),
        (Variant::Tls, &[][..], "tokio"),
    ] {
        let nginx = Nginx::start(variant);
        let scheme = if variant.is_tls() { "https" } else { "http" };
        let mut test = Test::new()
            .arg(format!("{scheme}://localhost/"))
            .arg("--unix-socket")
            .arg(nginx.socket_path())
            .args(extra)
            .args(["-c", "2", "--max-requests", "20", "-d", "60s"])
            .on_engine(engine)
            .report();
        if variant.is_tls() {
            test = test.arg("--cacert").arg(nginx.ca_path());
        }
        let report = test.run().report();
        let what = format!("{variant:?} {extra:?} on {engine}");
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{what}");
        assert_eq!(report.status_codes(), vec![(200, 20)], "{what}\n{report}");
        let opened = report.keepalive_connections(2);
        assert_eq!(report.u64("phases_ms.dns.count"), 0, "{what}\n{report}");
        let tls = if variant.is_tls() { opened } else { 0 };
        assert_eq!(report.u64("phases_ms.tls.count"), tls, "{what}\n{report}");
        let lines = nginx.access_log_lines();
        assert_eq!(lines.len(), 20, "{what}");
        let protocol = if extra.is_empty() {
            "HTTP/1.1"
        } else {
            "HTTP/2.0"
        };
        assert!(
            lines
                .iter()
                .all(|l| l.host == "localhost" && l.protocol == protocol),
            "{what}: {lines:?}"
        );
        assert_eq!(distinct_connections(&lines), opened, "{what}");
    }
}

/// A Unix socket its server left behind (the file is there, nothing listens): every
/// connect is refused, as on a port nothing listens on, and the detail names the
/// socket, on each engine.
#[test]
fn a_unix_socket_nothing_listens_on_refuses_every_connect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.sock");
    // Dropping the listener closes it and leaves the file.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    for engine in ["io_uring", "tokio"] {
        let report = Test::new()
            .arg("http://localhost/")
            .arg("--unix-socket")
            .arg(&path)
            .args(["-c", "2", "--max-requests", "20", "-d", "30s"])
            .on_engine(engine)
            .status(1)
            .report()
            .run()
            .report();
        report.check_invariants(1);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(
            report.error_classes(),
            vec![("connect_refused".to_owned(), 20)],
            "{engine}\n{report}"
        );
        let why = report.str("error_details.connect_refused");
        let named = format!("connecting to the Unix socket {}: ", path.display());
        assert!(
            why.starts_with(&named) && why.contains("refused"),
            "{engine}: {why}"
        );
    }
}

/// A socket path that does not exist, a file that is not a socket, and HTTP/3: clear
/// errors before the run, exit 1.
#[test]
fn bad_unix_sockets_are_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, "not a socket").unwrap();
    for (args, message) in [
        (
            vec![missing.display().to_string()],
            format!("{}", missing.display()),
        ),
        (
            vec![file.display().to_string()],
            format!("`{}` is not a Unix socket", file.display()),
        ),
        (
            vec![file.display().to_string(), "--http3".into()],
            "`unix_socket` cannot carry HTTP/3 (QUIC runs on UDP)".into(),
        ),
    ] {
        Test::new()
            .arg("https://localhost/")
            .arg("--unix-socket")
            .args(&args)
            .args(["--max-requests", "1"])
            .status(1)
            .stderr_contains(message)
            .run();
    }
    // The missing path's message says why.
    Test::new()
        .arg("http://localhost/")
        .arg("--unix-socket")
        .arg(&missing)
        .status(1)
        .stderr_contains("No such file or directory")
        .run();
}

/// `--dns-refresh`: a name's answer is used for that long, then looked up again by
/// the next new connection, on either engine (io_uring's lookups run on a helper
/// thread, the ring's VUs waiting for them). Each request on a connection of its
/// own (`--no-keepalive`) for a second, with answers kept 100 ms: about one lookup
/// per 100 ms (each a `dns` phase), never more than the run's length allows, where
/// without it the name is looked up once. Every request in nginx's log.
#[test]
fn dns_refresh_looks_a_name_up_again_when_its_answer_is_old() {
    let nginx = Nginx::start(Variant::Http1);
    let url = nginx.url("/").replace("127.0.0.1", "localhost");
    let mut requests = 0;
    for engine in ["io_uring", "tokio"] {
        let run = |refresh: Option<&str>| {
            let mut test = Test::new()
                .arg(&url)
                .args(["-c", "1", "-r", "100", "-d", "1s", "--no-keepalive"])
                .on_engine(engine);
            if let Some(refresh) = refresh {
                test = test.args(["--dns-refresh", refresh]);
            }
            let report = test.report().run().report();
            report.check_invariants(0);
            assert_eq!(report.str("settings.engine"), engine, "{report}");
            assert_eq!(report.u64("requests.errors"), 0, "{report}");
            report
        };
        let once = run(None);
        let dns = once.u64("phases_ms.dns.count");
        // io_uring looks the name up when the run starts, tokio's first connection.
        let at_start = u64::from(engine == "tokio");
        assert_eq!(dns, at_start, "looked up once\n{once}");
        let refreshed = run(Some("100ms"));
        let lookups = refreshed.u64("phases_ms.dns.count");
        let most = (refreshed.f64("elapsed_s") / 0.1).ceil() as u64 + 1;
        assert!(
            (3..=most).contains(&lookups),
            "{engine}: {lookups} lookups, at most {most}\n{refreshed}"
        );
        requests += once.u64("requests.total") + refreshed.u64("requests.total");
    }
    assert_eq!(nginx.access_log_lines().len() as u64, requests);
}

/// `--http2` (prior knowledge) to a server that speaks HTTP/1.1 only: each request
/// fails as a protocol error that says the server answered in HTTP/1.1, not that
/// a frame was too large (its status line read as a frame's head).
#[test]
fn http2_to_a_server_without_h2c_says_it_answered_in_http1() {
    let nginx = Nginx::start(Variant::Http1);
    let out = Test::new()
        .arg(nginx.url("/"))
        .args(["--http2", "-n", "3", "-c", "1"])
        .status(1)
        .report()
        .run();
    let report = out.report();
    report.check_invariants(1);
    assert_eq!(report.u64("errors.protocol"), 3, "{report}");
    let detail = report.str("error_details.protocol");
    assert!(
        detail.contains("an HTTP/1.1 response, not a frame"),
        "{detail}"
    );
}
