//! Where a connection goes: the addresses of an origin's `host:port`, after
//! `--connect-to`/`--resolve` and the run's DNS answers.
//!
//! Made once per run in shared.rs (the routes' names are resolved then, so a name
//! that does not resolve is an error before any load), and asked by conn.rs and
//! http3.rs each time they open a connection, and once at the start by the io_uring
//! engine (uring.rs `eligible`, through [`Dial::fixed_route`]), whose helper thread
//! asks again for the names `--dns-refresh` refreshes (uring/lookups.rs). Each name
//! is resolved once per run, by the first connection that needs it (its `dns`
//! phase; the others wait for that answer and have none), or at the start for the
//! io_uring engine; with `--dns-refresh`, an answer older than that is resolved
//! again by the next new connection. A failed lookup is not kept: the next
//! connection tries again. With `--unix-socket`, every connection goes to that
//! socket instead (conn.rs, and uring.rs `eligible`); with a proxy, through it
//! (proxy.rs).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kaioken_vm::TransportPlan;
use tokio::sync::OnceCell;

use crate::ErrorKind;

/// A name's answer, shared by the connections that wait for it.
struct Answer {
    at: Instant,
    addrs: OnceCell<Result<Vec<SocketAddr>, String>>,
}

/// Why `--unix-socket` is refused on Windows.
pub(crate) const NO_UNIX_SOCKETS: &str = "unix sockets are not supported on Windows";

/// The run's routes and DNS answers.
pub(crate) struct Dial {
    /// `--connect-to`/`--resolve`: by the URL's `(host, port)`, where to go instead.
    routes: HashMap<(String, u16), (String, u16)>,
    refresh: Option<Duration>,
    answers: Mutex<HashMap<(String, u16), Arc<Answer>>>,
    /// `--unix-socket`: every connection goes here instead.
    unix_socket: Option<std::path::PathBuf>,
    /// `--proxy`, `--proxy-from-env`.
    proxy: Option<kaioken_vm::Proxies>,
    /// The `Proxy-Authorization` value of the proxy for `http://` origins, when it
    /// has credentials: made once, for every request forwarded through it.
    forward_auth: Option<String>,
}

impl Dial {
    /// The routes of `plan`, their names resolved now (a later spec for the same
    /// `host:port` wins, as with curl).
    ///
    /// # Errors
    ///
    /// A `--connect-to` name that does not resolve; `--unix-socket` where there
    /// are no Unix sockets (Windows).
    pub(crate) fn new(plan: &TransportPlan) -> Result<Dial, String> {
        if cfg!(not(unix)) && plan.unix_socket.is_some() {
            return Err(NO_UNIX_SOCKETS.to_owned());
        }
        let dial = Dial {
            routes: plan
                .connect_to
                .iter()
                .map(|c| ((c.host.clone(), c.port), (c.to_host.clone(), c.to_port)))
                .collect(),
            refresh: plan.dns_refresh,
            answers: Mutex::new(HashMap::new()),
            unix_socket: plan.unix_socket.clone(),
            proxy: plan.proxy.clone(),
            forward_auth: plan
                .proxy
                .as_ref()
                .and_then(|p| p.http.as_ref())
                .and_then(crate::proxy::authorization),
        };
        for c in &plan.connect_to {
            if c.to_host.parse::<IpAddr>().is_ok() {
                continue;
            }
            let addrs: Vec<SocketAddr> = (c.to_host.as_str(), c.to_port)
                .to_socket_addrs()
                .map_err(|e| format!("--connect-to {c}: cannot resolve `{}`: {e}", c.to_host))?
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "--connect-to {c}: `{}` resolved to no address",
                    c.to_host
                ));
            }
            let answer = Answer {
                at: Instant::now(),
                addrs: OnceCell::new_with(Some(Ok(addrs))),
            };
            dial.lock()
                .insert((c.to_host.clone(), c.to_port), Arc::new(answer));
        }
        Ok(dial)
    }

    /// `--unix-socket`: the socket every connection goes to.
    pub(crate) fn unix_socket(&self) -> Option<&std::path::Path> {
        self.unix_socket.as_deref()
    }

    /// The proxy connections to `origin` go through, if any.
    pub(crate) fn proxy_for(&self, origin: &kaioken_vm::Origin) -> Option<&kaioken_vm::Proxy> {
        self.proxy
            .as_ref()?
            .for_origin(origin.scheme, &origin.host, origin.port)
    }

    /// The host and port a connection to `origin` opens its socket to (before
    /// `--connect-to`): its proxy's, when it goes through one, else its own.
    pub(crate) fn dials<'a>(&'a self, origin: &'a kaioken_vm::Origin) -> (&'a str, u16) {
        match self.proxy_for(origin) {
            Some(proxy) => (&proxy.host, proxy.port),
            None => (&origin.host, origin.port),
        }
    }

    /// Whether HTTP/1.1 requests to `origin` go to an HTTP proxy in absolute form
    /// (`GET http://host/path HTTP/1.1`) rather than through a tunnel: a plain
    /// `http://` origin behind an HTTP proxy.
    pub(crate) fn forwards(&self, origin: &kaioken_vm::Origin) -> bool {
        origin.scheme == kaioken_vm::Scheme::Http
            && self
                .proxy_for(origin)
                .is_some_and(|p| p.kind == kaioken_vm::ProxyKind::Http)
    }

    /// For a request to `origin` that [`forwards`](Self::forwards): the proxy's
    /// `Proxy-Authorization` value, if it has credentials.
    pub(crate) fn forward_authorization(&self, origin: &kaioken_vm::Origin) -> Option<&str> {
        self.forward_auth
            .as_deref()
            .filter(|_| self.forwards(origin))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u16), Arc<Answer>>> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where `host:port` goes: a route's target, or itself.
    fn target<'a>(&'a self, host: &'a str, port: u16) -> (&'a str, u16) {
        if self.routes.is_empty() {
            return (host, port);
        }
        let key = (host.to_ascii_lowercase(), port);
        match self.routes.get(&key) {
            Some((h, p)) => (h.as_str(), *p),
            None => (host, port),
        }
    }

    /// The addresses `host:port` goes to for the whole run, when they can be fixed
    /// at the start: an IP address, a route to one, or a name resolved now (once per
    /// run: the answer is kept, so the other workers and any later connection use it
    /// without a lookup of their own, until `--dns-refresh` finds it stale). For the
    /// io_uring engine, which looks names up at the start (and again only on its
    /// helper thread, `refreshed`).
    ///
    /// `None` when the name does not resolve now: the tokio engine then runs, and
    /// its lookup reports the failure as every other `dns` error is reported.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn fixed(&self, host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        let (host, port) = self.target(host, port);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(vec![SocketAddr::new(ip, port)]);
        }
        let key = (host.to_owned(), port);
        // Held across the lookup: workers asking at once wait for the first one's
        // answer rather than each resolving the name.
        let mut answers = self.lock();
        if let Some(answer) = answers.get(&key)
            && !self.stale(answer)
        {
            return match answer.addrs.get() {
                Some(Ok(addrs)) if !addrs.is_empty() => Some(addrs.clone()),
                _ => None,
            };
        }
        let addrs: Vec<SocketAddr> = match test_answer(host, port) {
            Some((addrs, _)) => addrs,
            None => (host, port).to_socket_addrs().ok()?.collect(),
        };
        if addrs.is_empty() {
            return None;
        }
        let answer = Answer {
            at: Instant::now(),
            addrs: OnceCell::new_with(Some(Ok(addrs.clone()))),
        };
        answers.insert(key, Arc::new(answer));
        Some(addrs)
    }

    /// Where connections to `origin` go for the whole run, when that can be fixed at
    /// the start: the `--unix-socket`, the origin's own addresses ([`Dial::fixed`]),
    /// or those of the HTTP proxy it is forwarded through (`forwards`: the requests
    /// then name the origin in absolute form), or those of the proxy whose tunnel
    /// it is reached through (`CONNECT`, SOCKS5). `None` when a name does not
    /// resolve, for a socket path too long for a socket address, and for a tunnel
    /// SOCKS5 cannot ask for (`Handshake::unsendable`): the tokio engine reports
    /// those. `None` too for a SOCKS5 tunnel that asks for the origin's address
    /// under `--dns-refresh` (the tokio engine looks that name up again; here only
    /// the connection's own name is, `refreshed`).
    #[cfg(target_os = "linux")]
    pub(crate) fn fixed_route(
        &self,
        origin: &kaioken_vm::Origin,
    ) -> Option<Vec<socket2::SockAddr>> {
        match (&self.unix_socket, self.proxy_for(origin)) {
            (Some(path), _) => return Some(vec![socket2::SockAddr::unix(path).ok()?]),
            // A tunnel: a `socks5://` proxy is asked for the origin's address,
            // resolved here too (`tunnel_address`).
            (None, Some(proxy)) if !self.forwards(origin) => {
                let needs_address = crate::proxy::needs_address(proxy, origin);
                if needs_address && self.refresh.is_some() {
                    return None;
                }
                let address = self.tunnel_address(proxy, origin);
                if address.is_none() && needs_address {
                    return None;
                }
                if crate::proxy::Handshake::unsendable(proxy, origin, address).is_some() {
                    // The tokio engine reports it, request by request.
                    return None;
                }
            }
            _ => {}
        }
        let (host, port) = self.dials(origin);
        let addrs = self.fixed(host, port)?;
        Some(addrs.into_iter().map(socket2::SockAddr::from).collect())
    }

    /// With `--dns-refresh`, for the io_uring engine: the name (before
    /// `--connect-to`) whose answer `origin`'s connections use, looked up again
    /// once it is stale (its own, or its proxy's); `None` when they go to an IP
    /// address or a Unix socket.
    #[cfg(target_os = "linux")]
    pub(crate) fn refreshed(&self, origin: &kaioken_vm::Origin) -> Option<(String, u16)> {
        self.refresh?;
        if self.unix_socket.is_some() {
            return None;
        }
        let (host, port) = self.dials(origin);
        let (name, _) = self.target(host, port);
        name.parse::<IpAddr>()
            .is_err()
            .then(|| (host.to_owned(), port))
    }

    /// With `--dns-refresh`: when the answer kept for `host:port` goes stale.
    #[cfg(target_os = "linux")]
    pub(crate) fn fresh_until(&self, host: &str, port: u16) -> Option<Instant> {
        let refresh = self.refresh?;
        let (name, port) = self.target(host, port);
        let answers = self.lock();
        Some(answers.get(&(name.to_owned(), port))?.at + refresh)
    }

    /// Whether an answer is older than `--dns-refresh` allows.
    fn stale(&self, answer: &Answer) -> bool {
        self.refresh.is_some_and(|r| answer.at.elapsed() >= r)
    }

    /// For `origin` through `proxy`'s tunnel, when the proxy is to be asked for an
    /// address (`socks5://` and a host name: `proxy::needs_address`): the origin's,
    /// resolved once for the run as [`fixed_route`](Self::fixed_route) resolves.
    #[cfg(target_os = "linux")]
    pub(crate) fn tunnel_address(
        &self,
        proxy: &kaioken_vm::Proxy,
        origin: &kaioken_vm::Origin,
    ) -> Option<IpAddr> {
        if !crate::proxy::needs_address(proxy, origin) {
            return None;
        }
        Some(self.fixed(&origin.host, origin.port)?.first()?.ip())
    }

    /// The addresses to connect to for `host:port`, and how long resolving took
    /// when this call did it. A name that does not resolve is a `dns` error, its
    /// message in `detail`.
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
        detail: &mut Option<String>,
    ) -> Result<(Vec<SocketAddr>, Option<Duration>), ErrorKind> {
        let (name, port) = self.target(host, port);
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok((vec![SocketAddr::new(ip, port)], None));
        }
        let key = (name.to_owned(), port);
        let answer = {
            let mut answers = self.lock();
            match answers.get(&key) {
                Some(a) if !self.stale(a) => a.clone(),
                _ => {
                    let fresh = Arc::new(Answer {
                        at: Instant::now(),
                        addrs: OnceCell::new(),
                    });
                    answers.insert(key.clone(), fresh.clone());
                    fresh
                }
            }
        };
        let looked_up = AtomicBool::new(false);
        let started = Instant::now();
        let result = answer
            .addrs
            .get_or_init(|| async {
                looked_up.store(true, Ordering::Relaxed);
                if let Some((addrs, slow)) = test_answer(name, port) {
                    if !slow.is_zero() {
                        // Where a slow resolver keeps `lookup_host`: on the
                        // blocking pool.
                        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(slow)).await;
                    }
                    return Ok(addrs);
                }
                match tokio::net::lookup_host((name, port)).await {
                    Ok(addrs) => Ok(addrs.collect()),
                    Err(e) => Err(format!("cannot resolve `{name}`: {e}")),
                }
            })
            .await;
        let took = looked_up.load(Ordering::Relaxed).then(|| started.elapsed());
        match result {
            Ok(addrs) => Ok((addrs.clone(), took)),
            Err(message) => {
                *detail = Some(message.clone());
                // Not kept: the next connection tries again.
                let mut answers = self.lock();
                if answers.get(&key).is_some_and(|a| Arc::ptr_eq(a, &answer)) {
                    answers.remove(&key);
                }
                Err(ErrorKind::Dns)
            }
        }
    }
}

/// The addresses a test gave `name` (`tests::ANSWERS`), asked before the system's
/// resolver, and how long a lookup of it takes; outside tests, none.
#[cfg(test)]
fn test_answer(name: &str, port: u16) -> Option<(Vec<SocketAddr>, Duration)> {
    tests::answer(name, port)
}

#[cfg(not(test))]
fn test_answer(_: &str, _: u16) -> Option<(Vec<SocketAddr>, Duration)> {
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Names the tests answer themselves (a name, the address it resolves to
    /// now, how long a lookup of it takes), before the system's resolver is asked:
    /// a test may move a name, or make its lookups slow.
    pub(crate) static ANSWERS: Mutex<Vec<(String, IpAddr, Duration)>> = Mutex::new(Vec::new());

    pub(super) fn answer(name: &str, port: u16) -> Option<(Vec<SocketAddr>, Duration)> {
        let answers = ANSWERS.lock().unwrap_or_else(|e| e.into_inner());
        let (_, ip, slow) = answers.iter().find(|(n, _, _)| n == name)?;
        Some((vec![SocketAddr::new(*ip, port)], *slow))
    }
    use kaioken_vm::ConnectTo;

    fn plan(specs: &[(&str, u16, &str, u16)], refresh: Option<Duration>) -> TransportPlan {
        TransportPlan {
            connect_to: specs
                .iter()
                .map(|&(h, p, th, tp)| ConnectTo {
                    host: h.into(),
                    port: p,
                    to_host: th.into(),
                    to_port: tp,
                })
                .collect(),
            dns_refresh: refresh,
            ..TransportPlan::default()
        }
    }

    #[tokio::test]
    async fn routes_send_a_host_port_elsewhere_and_the_last_spec_wins() {
        let dial = Dial::new(&plan(
            &[
                ("api.test", 443, "127.0.0.9", 1),
                ("api.test", 443, "127.0.0.2", 8443),
                ("localhost", 80, "localhost", 8080),
            ],
            None,
        ))
        .unwrap();
        let mut detail = None;
        let (addrs, dns) = dial.resolve("API.test", 443, &mut detail).await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.2:8443".parse().unwrap()]);
        assert_eq!(dns, None, "an address is not resolved");
        // Another port of the same host is not routed (and `.test` does not resolve).
        assert_eq!(
            dial.resolve("api.test", 80, &mut detail).await,
            Err(ErrorKind::Dns)
        );
        assert!(detail.unwrap().starts_with("cannot resolve `api.test`"));
        // A route to a name was resolved when the run started: no lookup now.
        let (addrs, dns) = dial.resolve("localhost", 80, &mut None).await.unwrap();
        assert!(
            addrs
                .iter()
                .all(|a| a.port() == 8080 && a.ip().is_loopback())
        );
        assert_eq!(dns, None);
        assert_eq!(
            dial.fixed("api.test", 443),
            Some(vec!["127.0.0.2:8443".parse().unwrap()])
        );
        let local = dial.fixed("localhost", 80).unwrap();
        assert!(local.iter().all(|a| a.port() == 8080), "{local:?}");
        // `.test` names do not resolve: the tokio engine runs and reports it.
        assert_eq!(dial.fixed("other.test", 80), None);
    }

    /// A name is resolved for the io_uring engine once, at the start: the answer is
    /// kept, so a later connection (any engine's) makes no lookup; a name that does
    /// not resolve is not kept, and is the tokio engine's to report.
    #[tokio::test]
    async fn a_name_fixed_at_the_start_is_resolved_once() {
        let dial = Dial::new(&plan(&[], None)).unwrap();
        let addrs = dial.fixed("localhost", 8080).unwrap();
        assert!(
            !addrs.is_empty()
                && addrs
                    .iter()
                    .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{addrs:?}"
        );
        assert_eq!(dial.fixed("localhost", 8080), Some(addrs.clone()));
        let (again, dns) = dial.resolve("localhost", 8080, &mut None).await.unwrap();
        assert_eq!((again, dns), (addrs, None), "no second lookup");
        assert_eq!(dial.fixed("nowhere.invalid", 80), None);
        let mut detail = None;
        assert_eq!(
            dial.resolve("nowhere.invalid", 80, &mut detail).await,
            Err(ErrorKind::Dns)
        );
        assert!(
            detail
                .unwrap()
                .starts_with("cannot resolve `nowhere.invalid`")
        );
        // Names looked up again during the run are fixed at the start too, until
        // their answer is stale.
        let refreshing = Dial::new(&plan(&[], Some(Duration::from_secs(1)))).unwrap();
        #[cfg(target_os = "linux")]
        let before = Instant::now();
        assert!(refreshing.fixed("localhost", 80).is_some());
        #[cfg(target_os = "linux")]
        {
            let until = refreshing.fresh_until("localhost", 80).unwrap();
            let after = Instant::now();
            assert!(until >= before + Duration::from_secs(1));
            assert!(until <= after + Duration::from_secs(1));
        }
        assert_eq!(
            refreshing.fixed("127.0.0.1", 80),
            Some(vec!["127.0.0.1:80".parse().unwrap()])
        );
    }

    #[tokio::test]
    async fn a_name_is_resolved_once_then_again_when_its_answer_is_stale() {
        let dial = Dial::new(&plan(&[], None)).unwrap();
        let (_, first) = dial.resolve("localhost", 1, &mut None).await.unwrap();
        let (_, second) = dial.resolve("localhost", 1, &mut None).await.unwrap();
        assert!(first.is_some() && second.is_none());

        let dial = Dial::new(&plan(&[], Some(Duration::from_millis(20)))).unwrap();
        let (_, first) = dial.resolve("localhost", 1, &mut None).await.unwrap();
        let (_, cached) = dial.resolve("localhost", 1, &mut None).await.unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let (_, again) = dial.resolve("localhost", 1, &mut None).await.unwrap();
        assert!(first.is_some() && cached.is_none() && again.is_some());
    }

    #[test]
    fn a_route_to_a_name_that_does_not_resolve_is_refused_at_the_start() {
        let err = Dial::new(&plan(&[("a.test", 80, "nowhere.invalid", 80)], None))
            .err()
            .unwrap();
        assert!(
            err.starts_with(
                "--connect-to a.test:80:nowhere.invalid:80: cannot resolve `nowhere.invalid`"
            ),
            "{err}"
        );
    }
}
