//! The sending half of a push output: on every `--output-interval` tick, and at
//! once for the run's last metrics, ask the encoder for its requests and POST them,
//! each bounded by [`SEND_TIMEOUT`]. A refused, stalled or failing endpoint is
//! counted and named in the report; it never holds back the run, which goes on in
//! other threads, nor the other outputs, which have tasks of their own.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use super::Counts;
use super::metrics::Metrics;
use super::push::{Push, PushRequest};

/// The longest one request may take, connecting included.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Run one push output until it has sent the run's last metrics (or failed to).
pub(super) async fn push_loop(
    mut push: Box<dyn Push>,
    counts: Arc<Counts>,
    mut latest: watch::Receiver<Option<Arc<Metrics>>>,
    interval: Duration,
) {
    let mut client = Client::default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent: Option<u64> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = latest.changed() => {
                if changed.is_err() {
                    return;
                }
                let last = latest.borrow_and_update().as_ref().is_some_and(|m| m.last);
                if !last {
                    continue;
                }
            }
        }
        let Some(metrics) = latest.borrow().clone() else {
            continue;
        };
        if sent == Some(metrics.time_unix_ms) {
            continue;
        }
        sent = Some(metrics.time_unix_ms);
        let mut ok = true;
        for request in push.requests(&metrics, &[]) {
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
                counts.fail(format!("{}: {e}", super::hide_credentials(&request.url)));
                break;
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

/// One keep-alive HTTP/1.1 connection to the output's endpoint, made again when it
/// closes.
#[derive(Default)]
struct Client {
    /// The connection, and the `scheme://host:port` it goes to.
    conn: Option<(String, SendRequest<Full<Bytes>>)>,
}

/// A URL's parts this client needs.
struct Target<'a> {
    tls: bool,
    host: &'a str,
    port: u16,
    /// `user:password`, for basic authentication.
    userinfo: Option<&'a str>,
    /// Path and query.
    path: &'a str,
}

fn parse(url: &str) -> Result<Target<'_>, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("`{url}` is not an http(s) URL"));
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("an IPv6 address without `]`")?;
        let port = after.strip_prefix(':').map(str::parse).transpose();
        (
            host,
            port.map_err(|_| "a bad port")?.unwrap_or(default_port),
        )
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| format!("`{p}` is not a port"))?),
            None => (hostport, default_port),
        }
    };
    Ok(Target {
        tls,
        host,
        port,
        userinfo,
        path: if path.is_empty() { "/" } else { path },
    })
}

impl Client {
    /// POST `request`; `Ok` when the endpoint answered with a 2xx.
    async fn post(&mut self, request: &PushRequest) -> Result<(), String> {
        let target = parse(&request.url)?;
        let key = format!("{}://{}:{}", target.tls, target.host, target.port);
        let reusable = matches!(&self.conn, Some((k, s)) if *k == key && !s.is_closed());
        if !reusable {
            self.conn = Some((key, connect(&target).await?));
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
        let mut builder = hyper::Request::post(target.path)
            .header("host", host)
            .header("user-agent", concat!("kaioken/", env!("CARGO_PKG_VERSION")));
        if let Some(userinfo) = target.userinfo {
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(userinfo);
            builder = builder.header("authorization", format!("Basic {encoded}"));
        }
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
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        let text: String = text.chars().take(200).collect();
        Err(if text.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {text}")
        })
    }
}

/// A new HTTP/1.1 connection to `target`, over TLS for `https`.
async fn connect(target: &Target<'_>) -> Result<SendRequest<Full<Bytes>>, String> {
    let tcp = tokio::net::TcpStream::connect((target.host, target.port))
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", target.host, target.port))?;
    let _ = tcp.set_nodelay(true);
    if target.tls {
        let config = kaioken_runtime::default_client_config()?;
        let name = rustls_pki_types::ServerName::try_from(target.host.to_owned())
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
        let t = parse("http://u:p@127.0.0.1:8086/write?db=x").unwrap();
        assert!(!t.tls);
        assert_eq!(
            (t.host, t.port, t.userinfo, t.path),
            ("127.0.0.1", 8086, Some("u:p"), "/write?db=x")
        );
        let t = parse("https://[::1]/v1/metrics").unwrap();
        assert_eq!(
            (t.tls, t.host, t.port, t.path),
            (true, "::1", 443, "/v1/metrics")
        );
        let t = parse("http://localhost:4318").unwrap();
        assert_eq!((t.host, t.port, t.path), ("localhost", 4318, "/"));
        assert!(parse("ftp://x").is_err());
    }
}
