//! The sending half of a push output: on every `--output-interval` tick, and at
//! once for the run's last metrics, ask the encoder for its requests and POST them,
//! each bounded by [`SEND_TIMEOUT`]. A refused, stalled or failing endpoint is
//! counted and named in the report; it never holds back the run, which goes on in
//! other threads, nor the other outputs, which have tasks of their own.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use super::Counts;
use super::metrics::Metrics;
use super::push::{Push, PushRequest};
use kaioken_compiler::Redact;
use kaioken_runtime::Span;

/// The longest one request may take, connecting included.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// One push output: its encoder, its counts, and what hides secrets in its errors.
pub(super) struct Pusher {
    pub(super) push: Box<dyn Push>,
    pub(super) counts: Arc<Counts>,
    pub(super) rule: Redact,
}

/// Run one push output until it has sent the run's last metrics (or failed to).
pub(super) async fn push_loop(
    Pusher {
        mut push,
        counts,
        rule,
    }: Pusher,
    mut latest: watch::Receiver<Option<Arc<Metrics>>>,
    spans: Option<Arc<Mutex<Vec<Span>>>>,
    interval: Duration,
) {
    let mut client = Client::default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent: Option<u64> = None;
    while let Some(metrics) = next_due(&mut ticker, &mut latest, |m| m.last).await {
        if sent == Some(metrics.time_unix_ms) {
            continue;
        }
        sent = Some(metrics.time_unix_ms);
        let batch: Vec<Span> = spans.as_ref().map_or_else(Vec::new, |q| {
            std::mem::take(&mut *q.lock().unwrap_or_else(|e| e.into_inner()))
        });
        let mut ok = true;
        for request in push.requests(&metrics, &batch) {
            let result = tokio::time::timeout(SEND_TIMEOUT, client.post(&request)).await;
            let failure = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => {
                    // A stalled connection is not reused.
                    client.conn = None;
                    Some(format!("no answer within {SEND_TIMEOUT:?}"))
                }
            };
            if let Some(e) = failure {
                ok = false;
                counts.fail(format!("{}: {e}", rule.url(&request.url)));
                break;
            }
        }
        if let Some(s) = &counts.spans {
            // Spans are not sent again: a failed push loses them, counted.
            let n = batch.len() as u64;
            if ok {
                s.sent.fetch_add(n, Ordering::Relaxed);
            } else {
                s.lost.fetch_add(n, Ordering::Relaxed);
                counts.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        if ok {
            push.confirm();
            counts.exports.fetch_add(1, Ordering::Relaxed);
        }
        if metrics.last {
            return;
        }
    }
}

/// What an output sends next: the latest value at each tick of `ticker`, or the
/// run's last one (`is_last`) as soon as it comes. `None` once the run's side is
/// gone.
pub(super) async fn next_due<T>(
    ticker: &mut tokio::time::Interval,
    latest: &mut watch::Receiver<Option<Arc<T>>>,
    is_last: impl Fn(&T) -> bool,
) -> Option<Arc<T>> {
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = latest.changed() => {
                changed.ok()?;
                let last = latest.borrow_and_update().as_deref().is_some_and(&is_last);
                if !last {
                    continue;
                }
            }
        }
        if let Some(value) = latest.borrow().clone() {
            return Some(value);
        }
    }
}

/// One keep-alive HTTP/1.1 connection to the output's endpoint, made again when it
/// closes.
#[derive(Default)]
struct Client {
    /// The connection, and the `scheme://host:port` it goes to.
    conn: Option<(String, SendRequest<Full<Bytes>>)>,
}

/// Where a request goes: `scheme://host:port` (the connection's key), whether
/// over TLS, the host and port to connect to, and the path and query to ask for.
struct Target {
    key: String,
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

/// `url`'s target. Credentials are the encoders' to send (push.rs
/// `take_credentials`): a URL that still has some is refused rather than sent.
fn parse(url: &str) -> Result<Target, String> {
    let url = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    let tls = match url.scheme() {
        "https" => true,
        "http" => false,
        other => return Err(format!("`{other}` is not http or https")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL".into());
    }
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(host) => host.to_string(),
        None => return Err("no host".into()),
    };
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    Ok(Target {
        key: format!("{}://{}:{port}", url.scheme(), host),
        tls,
        host,
        port,
        path,
    })
}

impl Client {
    /// POST `request`; `Ok` when the endpoint answered with a 2xx.
    async fn post(&mut self, request: &PushRequest) -> Result<(), String> {
        let target = parse(&request.url)?;
        let reusable = matches!(&self.conn, Some((k, s)) if *k == target.key && !s.is_closed());
        if !reusable {
            let conn = connect(&target).await?;
            self.conn = Some((target.key.clone(), conn));
        }
        let Some((_, sender)) = &mut self.conn else {
            return Err("no connection".into());
        };
        sender.ready().await.map_err(|e| e.to_string())?;
        let host = if target.host.contains(':') {
            format!("[{}]:{}", target.host, target.port)
        } else {
            format!("{}:{}", target.host, target.port)
        };
        let mut builder = hyper::Request::post(&target.path)
            .header("host", host)
            .header("user-agent", concat!("kaioken/", env!("CARGO_PKG_VERSION")));
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let req = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| e.to_string())?;
        let response = sender.send_request(req).await.map_err(|e| {
            self.conn = None;
            e.to_string()
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        // The body's start, on one line: InfluxDB and Prometheus say what was wrong
        // there ("database not found").
        let text = String::from_utf8_lossy(&body);
        let text: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(200)
            .collect();
        Err(if text.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {text}")
        })
    }
}

/// A new HTTP/1.1 connection to `target`, over TLS for `https`.
async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>, String> {
    let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", target.host, target.port))?;
    let _ = tcp.set_nodelay(true);
    if target.tls {
        let config = kaioken_runtime::default_client_config()?;
        let name = rustls_pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| format!("`{}`: {e}", target.host))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {}: {e}", target.host))?;
        handshake(stream).await
    } else {
        handshake(tcp).await
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse("http://127.0.0.1:8086/write?db=x").unwrap();
        assert!(!t.tls);
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8086, "/write?db=x")
        );
        assert_eq!(t.key, "http://127.0.0.1:8086");
        let t = parse("https://[::1]/v1/metrics").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (true, "::1", 443, "/v1/metrics")
        );
        let t = parse("http://localhost:4318").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("localhost", 4318, "/")
        );
        assert!(parse("ftp://x").is_err());
        assert_eq!(
            parse("http://u:p@h/").err().as_deref(),
            Some("credentials in the URL")
        );
    }
}
