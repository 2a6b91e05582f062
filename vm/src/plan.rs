//! The run plan: everything a run needs, decided before it starts. The compiler makes
//! it (`kaioken_compiler::plan`) from the IR; the runtime carries it out. It lives
//! here, in the crate both depend on, so neither translates the other's types.

use std::time::Duration;

use crate::Program;

/// A run, ready to go: the program every VU runs, the load, and the transport.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The compiled scenario.
    pub program: Program,
    /// How hard, and for how long.
    pub load: LoadPlan,
    /// Connection settings.
    pub transport: TransportPlan,
    /// This instance's part of a run split across several (`--execution-segment`);
    /// `None` runs the whole of `load`. Not part of the load plan: every instance
    /// compiles the same scenario to the same plan, and the runtime takes its share.
    pub segment: Option<crate::Segment>,
}

/// Connection settings of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransportPlan {
    /// Per-request timeout (connect, send and the whole response).
    pub timeout: Duration,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// Extra trusted roots, PEM (the contents of `--cacert`).
    pub cacert_pem: Option<Vec<u8>>,
    /// `--cert` and `--key`: the certificate offered when a server asks for one
    /// (mutual TLS), on every TLS connection of the run.
    pub client_cert: Option<ClientCert>,
    /// Keep cookies per VU and send them back.
    pub cookie_jar: bool,
    /// Most redirects followed per request (every hop is a counted request); 0 does
    /// not follow them.
    pub max_redirects: u32,
    /// Connections carry more than one request; `false` (`--no-keepalive`): each
    /// request opens its own (HTTP/1.1 says `connection: close`; HTTP/2 closes the
    /// connection after the response).
    pub keepalive: bool,
    /// HTTP/2: how many VUs of a worker thread share one connection, each request
    /// on its own stream (`--h2-streams`, h2load's `-m`); 1 gives each VU its own.
    pub h2_streams: u32,
    /// `-v`: print the first exchange of each step to stderr, hiding what this rule
    /// calls secret (set by the command line, not by a scenario).
    pub verbose: Option<crate::Redact>,
    /// `--compressed`: response bodies are decoded by their `content-encoding` for
    /// checks and extractors, and their decoded size is counted.
    pub compressed: bool,
    /// `--connect-to` and `--resolve`: where connections to some `host:port`s go
    /// instead of where the name resolves to (`Host`, SNI and certificate checks keep
    /// the URL's host).
    pub connect_to: Vec<ConnectTo>,
    /// `--dns-refresh`: how long a name's answer is used before the next new
    /// connection resolves it again; `None` resolves each name once per run.
    pub dns_refresh: Option<Duration>,
    /// `--unix-socket`: every connection goes to this Unix socket (the URL still
    /// gives `Host`, the path and, for `https`, the TLS server name).
    pub unix_socket: Option<std::path::PathBuf>,
    /// `--proxy` or `--proxy-from-env`: the proxies connections go through.
    pub proxy: Option<Proxies>,
    /// `--trace-sample`: the share of requests (0 to 1) sent with a W3C
    /// `traceparent` header and kept as spans; 0 traces none.
    pub trace_sample: f64,
}

/// A client certificate chain and its private key, both PEM, as read from `--cert`
/// and `--key` (the same bytes twice when one file holds both).
///
/// `Debug` names neither: a plan is printed in debug output and panics, and the key
/// must never be, so it shows sizes only.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The certificate chain, leaf first.
    pub cert_pem: Vec<u8>,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("cert_pem", &format_args!("<{} bytes>", self.cert_pem.len()))
            .field(
                "key_pem",
                &format_args!("<{} bytes, redacted>", self.key_pem.len()),
            )
            .finish()
    }
}

/// The proxies of a run: one for `http`/`ws` origins and one for `https`/`wss`
/// (both the same with `--proxy`), and the hosts that go direct (`NO_PROXY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    /// For `http://` and `ws://` origins.
    pub http: Option<Proxy>,
    /// For `https://` and `wss://` origins.
    pub https: Option<Proxy>,
    /// `NO_PROXY`: lowercase host names (a name also covers its subdomains), IP
    /// addresses, optionally `:port`; `*` covers every host.
    pub no_proxy: Vec<String>,
}

/// How a proxy is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// `http://`: `CONNECT` tunnels, and absolute-form requests for plain HTTP/1.1.
    Http,
    /// `socks5://`: names resolved here, the proxy given an address.
    Socks5,
    /// `socks5h://`: the proxy resolves names.
    Socks5h,
}

/// One proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// How it is spoken to.
    pub kind: ProxyKind,
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `user:password` from the proxy URL (HTTP: `Proxy-Authorization: Basic`;
    /// SOCKS5: username/password authentication, RFC 1929).
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Display for Proxy {
    /// As a URL, the password hidden.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        };
        write!(f, "{scheme}://")?;
        if let Some((user, _)) = &self.credentials {
            write!(f, "{user}:{}@", crate::REDACTED)?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({self})")
    }
}

impl Proxies {
    /// The proxy for a connection to `host:port` of an origin with `scheme`, unless
    /// `NO_PROXY` sends it direct.
    pub fn for_origin(&self, scheme: crate::Scheme, host: &str, port: u16) -> Option<&Proxy> {
        let proxy = match scheme {
            crate::Scheme::Http => self.http.as_ref(),
            crate::Scheme::Https => self.https.as_ref(),
        }?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let bypass = self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, entry_port) = match entry.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') || n.ends_with(']') => (n, p.parse::<u16>().ok()),
                _ => (entry.as_str(), None),
            };
            let name = name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim_start_matches('.');
            let host_matches = host.eq_ignore_ascii_case(name)
                || (host.len() > name.len()
                    && host[host.len() - name.len()..].eq_ignore_ascii_case(name)
                    && host.as_bytes()[host.len() - name.len() - 1] == b'.');
            host_matches && entry_port.is_none_or(|p| p == port)
        });
        (!bypass).then_some(proxy)
    }
}

/// One `--connect-to HOST:PORT:ADDR:PORT` (or `--resolve HOST:PORT:ADDR`, whose port
/// stays): connections to `host:port` go to `to_host:to_port` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    /// The URL's host, lowercase, without IPv6 brackets.
    pub host: String,
    /// The URL's port.
    pub port: u16,
    /// Where to connect: an address, or a name resolved when the run starts.
    pub to_host: String,
    /// The port to connect to.
    pub to_port: u16,
}

impl std::fmt::Display for ConnectTo {
    /// As curl spells it, IPv6 addresses in brackets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bracket = |h: &str| {
            if h.contains(':') {
                format!("[{h}]")
            } else {
                h.to_owned()
            }
        };
        write!(
            f,
            "{}:{}:{}:{}",
            bracket(&self.host),
            self.port,
            bracket(&self.to_host),
            self.to_port
        )
    }
}

/// The load model.
///
/// Closed (the default): `vus` VUs each loop as fast as the target answers, optionally
/// capped by `rate` and shaped by `stages` (targets in VUs). Open (`arrival` is set):
/// iterations start on a schedule (`arrival.rate`, or `stages` with targets in
/// iterations per second) whatever the response times, on up to `vus` VUs.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    /// Closed: concurrent VUs (with stages, the most any stage asks for). Open: the
    /// most VUs that may be started (`max_vus`).
    pub vus: u32,
    /// How long to measure, after the warm-up; with stages, their total. `None` when
    /// only `max_requests` bounds the run.
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub max_requests: Option<u64>,
    /// Closed model: requests per second across all VUs (token bucket).
    pub rate: Option<f64>,
    /// VUs start evenly spread over this time (closed model without stages).
    pub ramp_up: Duration,
    /// Time at the start whose results are discarded; connections stay open.
    pub warmup: Duration,
    /// The level the first stage starts from (VUs, or iterations per second).
    pub start: f64,
    /// Linear ramps, in order. Empty: a constant level.
    pub stages: Vec<Stage>,
    /// The open model's settings; `None` for the closed model.
    pub arrival: Option<Arrival>,
}

/// One stage: over `duration`, move linearly to `target`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// VUs (closed model) or iterations per second (open model) at its end.
    pub target: f64,
}

/// The open (arrival-rate) model.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// Iterations per second without stages (with stages, see `LoadPlan::start`).
    pub rate: f64,
    /// VUs started before the first iteration; more are added on demand.
    pub pre_allocated_vus: u32,
    /// Measure latency from each iteration's scheduled start.
    pub latency_correction: bool,
    /// Most iterations that may wait for a free VU.
    pub queue_size: u32,
    /// Longest an iteration may wait for a free VU before it is dropped.
    pub queue_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::ClientCert;

    /// A plan's `Debug` (panics, debug logs) never shows the private key.
    #[test]
    fn client_cert_debug_hides_the_key() {
        let cert = ClientCert {
            cert_pem: b"-----BEGIN CERTIFICATE-----".to_vec(),
            key_pem: b"-----BEGIN PRIVATE KEY-----\nsecret".to_vec(),
        };
        let shown = format!("{cert:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("BEGIN"),
            "{shown}"
        );
        assert!(shown.contains("redacted"), "{shown}");
    }
}
