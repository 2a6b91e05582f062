//! Proxies, against real ones: tinyproxy for HTTP (absolute-form requests for plain
//! HTTP/1.1, `CONNECT` tunnels for TLS and HTTP/2) and microsocks for SOCKS5. What
//! the proxy logs and what nginx logs match the report; a proxy that refuses is a
//! `connect` error with its answer in the detail; bad proxy settings are refused
//! before the run. HTTP/1.1 through either kind of proxy runs on both engines
//! (tunnels too: the io_uring engine speaks the same set-up, proxy.rs's
//! `Handshake`); a proxy that stalls, closes or answers no HTTP fails the tunnel
//! alike on both.

use crate::harness::Test;
use crate::nginx::{Nginx, Variant, distinct_connections};
use crate::proxies::{Microsocks, Tinyproxy};
use crate::servers::{Behaviour, Server};

fn port_of(nginx: &Nginx) -> u16 {
    let url = nginx.url("");
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// Plain HTTP/1.1 through tinyproxy: each request goes to the proxy in absolute
/// form (tinyproxy logs `GET http://127.0.0.1:PORT/ HTTP/1.1` for every one), and
/// nginx serves as many as the report counts; on each engine, with and without
/// `-v`, which shows the request line as it went to the proxy.
#[test]
fn http_proxy_forwards_plain_http_in_absolute_form() {
    let nginx = Nginx::start(Variant::Http1);
    let proxy = Tinyproxy::start(&[]);
    let expected = format!("GET http://127.0.0.1:{}/ HTTP/1.1", port_of(&nginx));
    for engine in ["io_uring", "tokio"] {
        for verbose in [false, true] {
            let before = (proxy.requests().len(), nginx.access_log_lines().len());
            let out = Test::new()
                .arg(nginx.url("/"))
                .args(["--proxy", &proxy.url()])
                .args(["-c", "2", "--max-requests", "20", "-d", "60s"])
                .args(if verbose { &["-v"][..] } else { &[][..] })
                .on_engine(engine)
                .report()
                .run();
            let report = out.report();
            report.check_invariants(0);
            let what = format!("{engine}, -v {verbose}");
            assert_eq!(report.str("settings.engine"), engine, "{what}");
            assert_eq!(report.status_codes(), vec![(200, 20)], "{what}\n{report}");
            assert_eq!(nginx.access_log_lines().len() - before.1, 20, "{what}");
            if verbose {
                assert!(
                    out.stderr.contains(&format!("> {expected}")),
                    "{}",
                    out.stderr
                );
            }
            let logged = proxy.requests().split_off(before.0);
            assert_eq!(logged.len(), 20, "{what}: {logged:?}");
            assert!(logged.iter().all(|r| *r == expected), "{what}: {logged:?}");
        }
    }
}

/// Redirects through a forwarding proxy: each hop goes to the proxy in absolute form
/// too (`/hop/2` → `/hop/1` → `/echo`, all of nginx's origin), on each engine.
#[test]
fn redirects_through_a_forwarding_proxy_stay_in_absolute_form() {
    let nginx = Nginx::start(Variant::Http1);
    let proxy = Tinyproxy::start(&[]);
    let port = port_of(&nginx);
    for engine in ["io_uring", "tokio"] {
        let before = (proxy.requests().len(), nginx.access_log_lines().len());
        let report = Test::new()
            .arg(nginx.url("/hop/2"))
            .args(["--proxy", &proxy.url()])
            .args(["-c", "1", "--max-requests", "4", "-d", "60s"])
            .on_engine(engine)
            .report()
            .run()
            .report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        let served: Vec<String> = nginx.access_log_lines()[before.1..]
            .iter()
            .map(|l| l.uri.clone())
            .collect();
        let expected: Vec<String> = ["/hop/2", "/hop/1", "/echo"]
            .iter()
            .cycle()
            .take(served.len())
            .map(|p| (*p).to_owned())
            .collect();
        assert!(served.len() >= 3, "{engine}: {served:?}\n{report}");
        assert_eq!(served, expected, "{engine}");
        let logged = proxy.requests().split_off(before.0);
        let absolute: Vec<String> = served
            .iter()
            .map(|uri| format!("GET http://127.0.0.1:{port}{uri} HTTP/1.1"))
            .collect();
        assert_eq!(logged, absolute, "{engine}");
    }
}

/// A forwarding proxy that is not there: every connect is refused, and the detail
/// names the proxy, on each engine.
#[test]
fn a_forwarding_proxy_that_is_not_there_is_named_in_the_detail() {
    let port = crate::nginx::free_port();
    for engine in ["io_uring", "tokio"] {
        let report = Test::new()
            .arg("http://127.0.0.1:9/")
            .args(["--proxy", &format!("http://127.0.0.1:{port}")])
            .args(["-c", "2", "--max-requests", "10", "-d", "30s"])
            .on_engine(engine)
            .status(1)
            .report()
            .run()
            .report();
        report.check_invariants(1);
        assert_eq!(
            report.error_classes(),
            vec![("connect_refused".to_owned(), 10)],
            "{engine}\n{report}"
        );
        let why = report.str("error_details.connect_refused");
        let named = format!("proxy http://127.0.0.1:{port}: connecting to 127.0.0.1:{port}: ");
        assert!(why.starts_with(&named), "{engine}: {why}");
    }
}

/// TLS (HTTP/1.1 and HTTP/2 by ALPN) and h2c go through `CONNECT` tunnels: one per
/// connection opened (tinyproxy logs each), the TLS handshake with nginx inside,
/// and nginx serves every request the report counts, in the protocol asked for.
#[test]
fn http_proxy_tunnels_tls_and_http2() {
    for (variant, http2, protocol, engine) in [
        (Variant::Tls, false, "HTTP/1.1", "io_uring"),
        (Variant::Tls, false, "HTTP/1.1", "tokio"),
        (Variant::Tls, true, "HTTP/2.0", "tokio"),
        (Variant::H2c, true, "HTTP/2.0", "tokio"),
    ] {
        let nginx = Nginx::start(variant);
        let port = port_of(&nginx);
        let proxy = Tinyproxy::start(&[port]);
        let mut test = Test::new()
            .on_engine(engine)
            .arg(nginx.url("/"))
            .args(["--proxy", &proxy.url()])
            .args(["-c", "2", "--max-requests", "20", "-d", "60s"])
            .report();
        if variant.is_tls() {
            test = test.arg("--cacert").arg(nginx.ca_path());
        }
        if http2 {
            test = test.arg("--http2");
        }
        let report = test.run().report();
        let what = format!("{variant:?} http2={http2} {engine}");
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{what}");
        assert_eq!(report.status_codes(), vec![(200, 20)], "{what}\n{report}");
        let opened = report.keepalive_connections(2);
        let lines = nginx.access_log_lines();
        assert_eq!(lines.len(), 20, "{what}");
        // A tunnel per connection, and nginx sees each as its own.
        assert_eq!(distinct_connections(&lines), opened, "{what}: {lines:?}");
        assert!(
            lines.iter().all(|l| l.protocol == protocol),
            "{what}: {lines:?}"
        );
        let logged = proxy.requests();
        let connect = format!("CONNECT 127.0.0.1:{port} HTTP/1.1");
        assert_eq!(logged, vec![connect.clone(), connect], "{what}");
    }
}

/// A proxy that refuses the `CONNECT` (tinyproxy allows no port here): every
/// request is a `connect` error whose detail gives the proxy's answer; nginx
/// serves nothing.
#[test]
fn a_refused_connect_is_a_connect_error_with_the_proxys_status() {
    let nginx = Nginx::start(Variant::Tls);
    let proxy = Tinyproxy::start(&[1]);
    for engine in ["io_uring", "tokio"] {
        let report = Test::new()
            .on_engine(engine)
            .arg(nginx.url("/"))
            .args(["--proxy", &proxy.url()])
            .arg("--cacert")
            .arg(nginx.ca_path())
            .args(["-c", "1", "--max-requests", "3", "-d", "60s"])
            .status(1)
            .report()
            .run()
            .report();
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("errors.connect"), 3, "{report}");
        assert_eq!(report.u64("requests.responses"), 0, "{report}");
        let detail = report.str("error_details.connect");
        let expected = format!(
            "proxy {}: it refused CONNECT 127.0.0.1:{}: HTTP/1.1 403 Access violation",
            proxy.url(),
            port_of(&nginx)
        );
        assert!(detail.starts_with(&expected), "{engine}: {detail}");
    }
    assert_eq!(nginx.access_log_lines().len(), 0);
}

/// A proxy that never answers `CONNECT` is the request's timeout; one that closes
/// without answering, a `reset`; one that answers no HTTP, a `protocol` error:
/// each named after the proxy, and alike on both engines.
#[test]
fn a_proxy_that_stalls_closes_or_babbles_fails_the_tunnel() {
    for (behaviour, kind, words) in [
        (Behaviour::Stall, "timeout", "no complete response within"),
        (Behaviour::CloseOnAccept, "reset", "CONNECT 127.0.0.1:9"),
        (
            Behaviour::Malformed(b"SSH-2.0-OpenSSH\r\n\r\n"),
            "protocol",
            "its answer to CONNECT 127.0.0.1:9 is not HTTP: \"SSH-2.0-OpenSSH\"",
        ),
    ] {
        let server = Server::start(behaviour);
        let proxy = server.url().trim_end_matches('/').to_owned();
        for engine in ["io_uring", "tokio"] {
            let report = Test::new()
                .on_engine(engine)
                .arg("https://127.0.0.1:9/")
                .args(["--proxy", &proxy, "--timeout", "300ms"])
                .args(["-c", "1", "--max-requests", "2", "-d", "60s"])
                .status(1)
                .report()
                .run()
                .report();
            let what = format!("{kind} {engine}\n{report}");
            report.check_invariants(1);
            assert_eq!(report.str("settings.engine"), engine, "{what}");
            assert_eq!(report.u64(&format!("errors.{kind}")), 2, "{what}");
            let detail = report.str(&format!("error_details.{kind}"));
            if kind != "timeout" {
                assert!(detail.starts_with(&format!("proxy {proxy}")), "{what}");
            }
            assert!(detail.contains(words), "{what}");
        }
    }
}

/// SOCKS5 through microsocks, without and with a username and password, `socks5h`
/// (the proxy resolves `localhost`) and `socks5` (resolved here): nginx serves
/// every request over HTTP/1.1, h2c and TLS. Wrong credentials are a `connect`
/// error saying so.
#[test]
fn socks5_carries_http1_http2_and_tls() {
    for (credentials, scheme) in [(None, "socks5h"), (Some(("kai", "s3cret")), "socks5")] {
        let socks = Microsocks::start(credentials);
        let auth = credentials.map_or(String::new(), |(u, p)| format!("{u}:{p}@"));
        let proxy = format!("{scheme}://{auth}{}", socks.address());
        for (variant, http2, engine) in [
            (Variant::Http1, false, "io_uring"),
            (Variant::Http1, false, "tokio"),
            (Variant::Tls, false, "io_uring"),
            (Variant::H2c, true, "tokio"),
            (Variant::Tls, true, "tokio"),
        ] {
            let nginx = Nginx::start(variant);
            let url = nginx.url("/").replace("127.0.0.1", "localhost");
            let mut test = Test::new()
                .on_engine(engine)
                .arg(&url)
                .args(["--proxy", &proxy])
                .args(["-c", "2", "--max-requests", "20", "-d", "60s"])
                .report();
            if variant.is_tls() {
                test = test.arg("--cacert").arg(nginx.ca_path());
            }
            if http2 {
                test = test.arg("--http2");
            }
            let report = test.run().report();
            let what = format!("{proxy} {variant:?} {engine}");
            report.check_invariants(0);
            assert_eq!(report.str("settings.engine"), engine, "{what}");
            assert_eq!(report.status_codes(), vec![(200, 20)], "{what}\n{report}");
            report.keepalive_connections(2);
            assert_eq!(nginx.access_log_lines().len(), 20, "{what}");
        }
    }
    let socks = Microsocks::start(Some(("kai", "s3cret")));
    let nginx = Nginx::start(Variant::Http1);
    for engine in ["io_uring", "tokio"] {
        let report = Test::new()
            .on_engine(engine)
            .arg(nginx.url("/"))
            .args([
                "--proxy",
                &format!("socks5://kai:wrong@{}", socks.address()),
            ])
            .args(["-c", "1", "--max-requests", "2", "-d", "60s"])
            .status(1)
            .report()
            .run()
            .report();
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        assert_eq!(report.u64("errors.connect"), 2, "{report}");
        let detail = report.str("error_details.connect");
        assert!(
            detail.ends_with("it refused the username and password"),
            "{engine}: {detail}"
        );
        assert!(
            !detail.contains("wrong"),
            "the password is hidden: {detail}"
        );
    }
    assert_eq!(nginx.access_log_lines().len(), 0);
}

/// `--proxy-from-env`: `http_proxy` (lowercase wins over uppercase) sends plain
/// HTTP through tinyproxy; a host in `NO_PROXY` goes direct (tinyproxy logs
/// nothing).
#[test]
fn proxy_from_env_honours_no_proxy() {
    let nginx = Nginx::start(Variant::Http1);
    let proxy = Tinyproxy::start(&[]);
    for (no_proxy, through) in [("example.com", 10), ("example.com, 127.0.0.1", 0)] {
        let before = proxy.requests().len();
        let report = Test::new()
            .arg(nginx.url("/"))
            .arg("--proxy-from-env")
            .env("http_proxy", proxy.url())
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", no_proxy)
            .env_remove("no_proxy")
            .args(["-c", "1", "--max-requests", "10", "-d", "60s"])
            .report()
            .run()
            .report();
        assert_eq!(
            report.status_codes(),
            vec![(200, 10)],
            "{no_proxy}\n{report}"
        );
        assert_eq!(proxy.requests().len() - before, through, "{no_proxy}");
    }
    assert_eq!(nginx.access_log_lines().len(), 20);
}

/// Bad proxy settings are errors before the run, exit 1.
#[test]
fn bad_proxy_settings_are_refused_before_the_run() {
    for (args, env, message) in [
        (
            vec!["--proxy", "https://proxy.test:443"],
            None,
            "unsupported proxy scheme `https://`",
        ),
        (
            vec!["--proxy", "socks4://proxy.test:1080"],
            None,
            "unsupported proxy scheme `socks4://`",
        ),
        (
            vec!["--proxy", "http://proxy.test:3128", "--http3"],
            None,
            "a proxy cannot carry HTTP/3 (QUIC runs on UDP)",
        ),
        (
            vec!["--proxy-from-env"],
            Some(("HTTPS_PROXY", "ftp://proxy.test")),
            "the environment's `HTTPS_PROXY`: unsupported proxy scheme `ftp://`",
        ),
    ] {
        let mut test = Test::new()
            .arg("https://a.test/")
            .args(&args)
            .env_remove("https_proxy")
            .args(["--max-requests", "1"])
            .status(1)
            .stderr_contains(message);
        if let Some((name, value)) = env {
            test = test.env(name, value);
        }
        test.run();
    }
}

/// `--dump ir` shows the proxies with the password hidden, and `NO_PROXY`.
#[test]
fn the_dump_shows_proxies_without_their_password() {
    let out = Test::new()
        .args(["http://a.test/", "--dump", "ir"])
        .args(["--proxy", "socks5h://kai:s3cret@127.0.0.1:1080"])
        .stdout_contains(format!(
            "proxy_http=socks5h://kai:{0}@127.0.0.1:1080 proxy_https=socks5h://kai:{0}@127.0.0.1:1080 no_proxy=[]",
            kaioken_vm::REDACTED
        ))
        .run();
    assert!(!out.stdout.contains("s3cret"), "{}", out.stdout);
    Test::new()
        .args(["http://a.test/", "--dump", "ir", "--proxy-from-env"])
        .env("http_proxy", "127.0.0.1:3128")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env("no_proxy", "Internal.test, .corp")
        .stdout_contains(
            "proxy_http=http://127.0.0.1:3128 proxy_https=none no_proxy=[internal.test, .corp]",
        )
        .run();
}

/// A tunnel closed as soon as it is open (a proxy that answers `200` and closes,
/// the answer and the close read together): the request fails as `reset`, once
/// (a new connection's request is not sent again), on both engines.
#[test]
fn a_tunnel_closed_as_it_opens_is_a_reset() {
    let proxy = Server::start(Behaviour::Malformed(
        b"HTTP/1.1 200 Connection established\r\n\r\n",
    ));
    let proxy = proxy.url().trim_end_matches('/').to_owned();
    for engine in ["io_uring", "tokio"] {
        let report = Test::new()
            .on_engine(engine)
            .arg("https://127.0.0.1:9/")
            .args(["--proxy", &proxy])
            .args(["-c", "1", "--max-requests", "5", "-d", "60s"])
            .status(1)
            .report()
            .run()
            .report();
        let what = format!("{engine}\n{report}");
        report.check_invariants(1);
        assert_eq!(report.str("settings.engine"), engine, "{what}");
        assert_eq!(report.u64("errors.reset"), 5, "{what}");
        assert_eq!(report.u64("requests.reconnects"), 0, "{what}");
    }
}
