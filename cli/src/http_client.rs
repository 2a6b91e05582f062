//! kaioken's own HTTP/1.1 client, for the requests it makes beside the load: the
//! streaming outputs' pushes (outputs/send.rs) and the HTTP of `setup` and
//! `teardown` scripts (scripts.rs). One keep-alive connection per client, made again
//! when it closes or goes to another origin; TLS with the configuration given (the
//! webpki roots for outputs, the scenario's `insecure` and `cacert` for scripts).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;

/// A response, whole.
pub(crate) struct Response {
    pub status: hyper::StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// One keep-alive HTTP/1.1 connection at a time.
pub(crate) struct Client {
    /// The connection, and the `scheme://host:port` it goes to.
    conn: Option<(String, SendRequest<Full<Bytes>>)>,
    /// TLS for `https` URLs; made on first use when not given.
    tls: Option<Arc<ClientConfig>>,
}

impl Client {
    /// A client whose `https` connections use `tls` (the webpki roots when `None`).
    pub fn new(tls: Option<Arc<ClientConfig>>) -> Client {
        Client { conn: None, tls }
    }

    /// Drop the connection (after a stall: it is not reused).
    pub fn reset(&mut self) {
        self.conn = None;
    }

    /// Send `method url` with `headers` and `body`, and read the whole response.
    pub async fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, String> {
        let target = parse(url)?;
        let reusable = matches!(&self.conn, Some((k, s)) if *k == target.key && !s.is_closed());
        if !reusable {
            let tls = match (&self.tls, target.tls) {
                (Some(config), true) => Some(config.clone()),
                (None, true) => Some(kaioken_runtime::default_client_config()?),
                (_, false) => None,
            };
            let conn = connect(&target, tls).await?;
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
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(&target.path)
            .header("host", host)
            .header("user-agent", concat!("kaioken/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let req = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender.send_request(req).await.map_err(|e| {
            self.conn = None;
            e.to_string()
        })?;
        let (head, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Response {
            status: head.status,
            headers: head.headers,
            body,
        })
    }
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

/// `url`'s target. Credentials go in headers: a URL that still has some is refused
/// rather than sent.
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

/// A new HTTP/1.1 connection to `target`, over TLS with `tls` when given.
async fn connect(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
) -> Result<SendRequest<Full<Bytes>>, String> {
    let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", target.host, target.port))?;
    let _ = tcp.set_nodelay(true);
    match tls {
        Some(config) => {
            let name = rustls_pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| format!("`{}`: {e}", target.host))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {}: {e}", target.host))?;
            handshake(stream).await
        }
        None => handshake(tcp).await,
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
