//! Scenarios with several origins: a VU keeps a keep-alive connection to each origin
//! it talks to, on the io_uring engine as on the tokio engine, with the same counts.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::harness::Test;
use crate::load_models::{assert_accounted, assert_no_drops_before};
use crate::nginx::{Nginx, Variant, distinct_connections, log_status_codes};
use crate::servers::{Behaviour, Server};

/// Distinct connections in an nginx access log.
fn connections(nginx: &Nginx) -> u64 {
    distinct_connections(&nginx.access_log_lines())
}

/// Two nginx servers, a step on each: a value extracted from the first one's
/// response goes in the second one's request, and each is checked. The run stays on
/// io_uring; each server's log has its half of the requests; each VU opens one
/// connection per origin and keeps it; and the tokio engine counts the same.
#[test]
fn a_scenario_on_two_origins_runs_on_every_engine_alike() {
    for engine in ["io_uring", "tokio"] {
        let first = Nginx::start(Variant::Http1);
        let second = Nginx::start(Variant::Http1);
        let scenario = format!(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "{first}?token=t${{REQUEST_ID}}"
            extract = {{ token = 'regex:token=(t[\d-]+)', whole = "body" }}
            checks = ['status == 200']

            [[scenarios.steps]]
            url = "{second}?got=${{token}}"
            checks = ['body contains "got=t"']
            "#,
            first = first.url("/echo"),
            second = second.url("/echo"),
        );
        let out = Test::new()
            .on_engine(engine)
            .scenario(&scenario)
            .args([
                "-c",
                "3",
                "--threads",
                "1",
                "--max-requests",
                "600",
                "-d",
                "60s",
            ])
            .report()
            .run();
        let report = out.report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        let (a, b) = (first.access_log_lines(), second.access_log_lines());
        assert_eq!(a.len() + b.len(), 600, "{report}");
        assert_eq!(report.u64("requests.total"), 600, "{report}");
        // Every iteration's second request went after its first.
        assert!(a.len() - b.len() <= 3, "{} {}", a.len(), b.len());
        let sent: BTreeSet<&str> = a
            .iter()
            .filter_map(|l| l.uri.strip_prefix("/echo?token="))
            .collect();
        assert_eq!(sent.len(), a.len(), "a token repeated or went elsewhere");
        assert!(
            b.iter().all(|l| l
                .uri
                .strip_prefix("/echo?got=")
                .is_some_and(|got| sent.contains(got))),
            "{b:?}"
        );
        let mut codes = log_status_codes(&a);
        codes[0].1 += b.len() as u64;
        assert_eq!(report.status_codes(), codes, "{report}");
        assert_eq!(
            report.check("status == 200"),
            (a.len() as u64, 0),
            "{report}"
        );
        assert_eq!(
            report.check("body contains \"got=t\""),
            (b.len() as u64, 0),
            "{report}"
        );
        // Keep-alive: a connection from each VU to each origin, never closed (a VU
        // that found the budget spent opens none).
        let opened = report.keepalive_connections(6);
        assert_eq!(connections(&first) + connections(&second), opened);
        assert_eq!(connections(&first), connections(&second));
        assert_eq!(report.u64("connections.reused"), 600 - opened, "{report}");
        assert_eq!(report.u64("phases_ms.connect.count"), opened, "{report}");
    }
}

/// A redirect to another of the program's origins is followed on the VU's
/// connection to it: the run stays on io_uring. nginx's `/elsewhere` redirects to
/// `localhost`, which the second step names; the same server, so one log has
/// everything, and each VU has two connections to it (one per origin). The tokio
/// engine counts the same.
#[test]
fn a_redirect_to_a_known_origin_stays_on_io_uring() {
    for engine in ["io_uring", "tokio"] {
        let nginx = Nginx::start(Variant::Http1);
        let elsewhere = nginx.url("/echo").replace("127.0.0.1", "localhost");
        let scenario = format!(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "{start}?id=${{REQUEST_ID}}"
            checks = ['body == "GET /echo"']

            [[scenarios.steps]]
            url = "{elsewhere}?direct"
            "#,
            start = nginx.url("/elsewhere"),
        );
        let out = Test::new()
            .on_engine(engine)
            .scenario(&scenario)
            .args(["-c", "2", "--threads", "1", "-n", "60", "-d", "60s"])
            .report()
            .run();
        let report = out.report();
        report.check_invariants(0);
        let (lines, _) = nginx.logged_as_counted(&report, engine, 60);
        let starts = lines
            .iter()
            .filter(|l| l.uri.starts_with("/elsewhere"))
            .count();
        let landed = lines.iter().filter(|l| l.uri == "/echo").count();
        let direct = lines.iter().filter(|l| l.uri == "/echo?direct").count();
        assert_eq!(starts + landed + direct, 60, "{lines:?}");
        // Iterations of three requests, but those the budget cut (one per VU at most).
        assert!(
            starts >= landed && landed >= direct && starts <= direct + 2 && direct >= 18,
            "{lines:?}"
        );
        // The redirect's request went to `localhost`, as its `Location` says.
        assert!(
            lines
                .iter()
                .filter(|l| l.uri.starts_with("/echo"))
                .all(|l| l.host.starts_with("localhost:")),
            "{lines:?}"
        );
        // Every chain followed was checked; one the budget cut goes unchecked.
        assert_eq!(
            report.check("body == \"GET /echo\""),
            (landed as u64, 0),
            "{report}"
        );
        // Two VUs, each with a connection per origin, kept alive.
        let opened = report.keepalive_connections(4);
        assert_eq!(distinct_connections(&lines), opened, "{lines:?}");
        assert_eq!(report.u64("connections.reused"), 60 - opened, "{report}");
    }
}

/// Two origins, a step each, as a scenario for `first` and `second`.
fn two_steps(first: &Nginx, second: &Nginx) -> String {
    format!(
        r#"
        [[scenarios]]
        [[scenarios.steps]]
        url = "{}?id=${{REQUEST_ID}}"

        [[scenarios.steps]]
        url = "{}"
        "#,
        first.url("/echo"),
        second.url("/echo"),
    )
}

/// `--no-keepalive` on two origins: every request opens its own connection, to
/// the origin it goes to, on both engines.
#[test]
fn no_keepalive_opens_a_connection_per_request_on_each_origin() {
    for engine in ["io_uring", "tokio"] {
        let first = Nginx::start(Variant::Http1);
        let second = Nginx::start(Variant::Http1);
        let out = Test::new()
            .on_engine(engine)
            .scenario(&two_steps(&first, &second))
            .args(["-c", "2", "-n", "40", "--no-keepalive"])
            .report()
            .run();
        let report = out.report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        let (a, b) = (first.access_log_lines(), second.access_log_lines());
        assert_eq!(a.len() + b.len(), 40, "{report}");
        assert_eq!(
            (connections(&first), connections(&second)),
            (a.len() as u64, b.len() as u64)
        );
        assert_eq!(report.u64("connections.opened"), 40, "{report}");
        assert_eq!(report.u64("connections.reused"), 0, "{report}");
    }
}

/// The open model on two origins, the second one slow (20 ms a response), so a
/// burst needs several VUs: a burst, a lull long enough for the VUs above the
/// pre-allocated one to retire idle (closing their connection to each origin), and
/// a second burst, whose new VUs take the retired ones' places. Every iteration due
/// ran but what the run's end may cut on a loaded machine, and the servers saw every
/// request and every connection the report counts, on both engines.
#[test]
fn the_open_model_on_two_origins_retires_and_replaces_vus() {
    for engine in ["io_uring", "tokio"] {
        let first = Nginx::start(Variant::Http1);
        let slow = Server::start(Behaviour::Delay(Duration::from_millis(20)));
        let scenario = format!(
            r#"
            [[scenarios]]
            [[scenarios.steps]]
            url = "{}?id=${{REQUEST_ID}}"

            [[scenarios.steps]]
            url = "{}"

            [load]
            max_vus = 40
            pre_allocated_vus = 1

            [[stages]]
            duration = "100ms"
            target_rate = 200

            [[stages]]
            duration = "400ms"
            target_rate = 200

            [[stages]]
            duration = "50ms"
            target_rate = 1

            [[stages]]
            duration = "1500ms"
            target_rate = 1

            [[stages]]
            duration = "50ms"
            target_rate = 200

            [[stages]]
            duration = "400ms"
            target_rate = 200
            "#,
            first.url("/echo"),
            slow.url(),
        );
        let out = Test::new()
            .on_engine(engine)
            .scenario(&scenario)
            .report()
            .run();
        let report = out.report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        // The plan has 181.55 iterations in 2.5 s: 182, each due at the middle of
        // its slot. Through both bursts they waited for VUs rather than drop (none
        // dropped before the last second, 2 s to 2.5 s); the run ends in the second
        // burst, at 200/s, so the end cuts what is due in its last moments on a
        // loaded machine, or still waiting for a VU (each new one connects to both
        // origins first). A quarter of the plan is what 230 ms of the burst holds,
        // about the room load_models.rs's `open_stages_ramp_the_rate` gives its end.
        assert_accounted(&report, 182, 0.25);
        assert_no_drops_before(&report, 2);
        let a = first.access_log_lines().len() as u64;
        let b = slow.counts().responses.load(Ordering::Relaxed);
        assert_eq!(a + b, report.u64("requests.total"), "{report}");
        assert_eq!(report.u64("iterations.started"), a, "{report}");
        // Every iteration ran both steps, but those the run's end cut between them.
        let most = report.u64("vus.max_active");
        assert!(b <= a && a <= b + most, "{report}");
        // Connections the report counts are the ones the servers saw.
        let (vus_a, vus_b) = (
            connections(&first),
            slow.counts().connections.load(Ordering::Relaxed),
        );
        assert_eq!(report.u64("connections.opened"), vus_a + vus_b, "{report}");
        // A burst keeps several VUs busy; the lull retired all but one, so the
        // second burst started new ones: more VUs ran than were ever active at once.
        assert!(most >= 3, "{report}");
        assert!(
            vus_a > most,
            "{vus_a} VUs, at most {most} at once\n{report}"
        );
    }
}

/// A plain origin and an `https://` one in one scenario: each VU keeps a plain
/// connection to the first and a TLS one to the second, on the io_uring engine as
/// on tokio. Both servers see their share, and a handshake is timed per TLS
/// connection the second server saw.
#[test]
fn a_plain_and_an_https_origin_share_a_run() {
    for engine in ["io_uring", "tokio"] {
        let plain = Nginx::start(Variant::Http1);
        let tls = Nginx::start(Variant::Tls);
        let out = Test::new()
            .on_engine(engine)
            .scenario(&two_steps(&plain, &tls))
            .args(["-c", "2", "-n", "40", "--cacert"])
            .arg(tls.ca_path())
            .report()
            .run();
        let report = out.report();
        report.check_invariants(0);
        assert_eq!(report.str("settings.engine"), engine, "{report}");
        let (a, b) = (plain.access_log_lines(), tls.access_log_lines());
        // Iterations of two requests, but those the budget cut (one per VU at most).
        assert_eq!(a.len() + b.len(), 40, "{report}");
        assert!(b.len() <= a.len() && a.len() <= b.len() + 2, "{report}");
        assert_eq!(
            report.u64("connections.opened"),
            connections(&plain) + connections(&tls),
            "{report}"
        );
        assert_eq!(
            report.u64("phases_ms.tls.count"),
            connections(&tls),
            "{report}"
        );
    }
}
