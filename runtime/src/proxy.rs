//! Through a proxy: an HTTP `CONNECT` tunnel (RFC 9110 §9.3.6) or a SOCKS5
//! connection (RFC 1928, with RFC 1929's username and password), set up on a TCP
//! connection to the proxy before TLS and HTTP go over it.
//!
//! conn.rs calls these when dial.rs says an origin goes through a proxy (`--proxy`,
//! `--proxy-from-env`); plain HTTP/1.1 to an `http://` origin through an HTTP proxy
//! needs neither: its requests go to the proxy in absolute form (http1.rs). A proxy
//! that refuses is a `connect` error, its answer in the detail. Cold path: it may
//! allocate.

use base64::Engine;
use kaioken_vm::{Origin, Proxy, ProxyKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::ErrorKind;
use crate::dial::Dial;

/// The longest proxy answer head read.
const MAX_HEAD: usize = 16 * 1024;

/// Make `tcp`, a connection to `proxy`, a tunnel to `origin`.
pub(crate) async fn tunnel(
    tcp: &mut TcpStream,
    proxy: &Proxy,
    origin: &Origin,
    dial: &Dial,
    detail: &mut Option<String>,
) -> Result<(), ErrorKind> {
    let result = match proxy.kind {
        ProxyKind::Http => connect_tunnel(tcp, proxy, origin).await,
        ProxyKind::Socks5 | ProxyKind::Socks5h => socks5(tcp, proxy, origin, dial).await,
    };
    result.map_err(|(kind, message)| {
        *detail = Some(crate::conn::via_proxy(Some(proxy), message));
        kind
    })
}

type Failure = (ErrorKind, String);

fn io_failure(what: &str, e: &std::io::Error) -> Failure {
    let kind = match e.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => ErrorKind::Reset,
        _ => ErrorKind::Connect,
    };
    (kind, format!("{what}: {e}"))
}

/// The `host:port` a tunnel asks for (IPv6 in brackets).
fn authority(origin: &Origin) -> String {
    if origin.host.contains(':') && !origin.host.starts_with('[') {
        format!("[{}]:{}", origin.host, origin.port)
    } else {
        format!("{}:{}", origin.host, origin.port)
    }
}

/// `Proxy-Authorization: Basic …` for a proxy with credentials.
pub(crate) fn authorization(proxy: &Proxy) -> Option<String> {
    let (user, password) = proxy.credentials.as_ref()?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Some(format!("Basic {encoded}"))
}

/// HTTP `CONNECT`: any 2xx opens the tunnel; anything else is the proxy's refusal.
async fn connect_tunnel(
    tcp: &mut TcpStream,
    proxy: &Proxy,
    origin: &Origin,
) -> Result<(), Failure> {
    let target = authority(origin);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nhost: {target}\r\n");
    if let Some(auth) = authorization(proxy) {
        request.push_str(&format!("proxy-authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| io_failure("sending CONNECT", &e))?;
    // Byte by byte up to the head's end: what follows belongs to the tunnel.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err((
                ErrorKind::Protocol,
                format!("its answer to CONNECT {target} has a head over 16 KiB"),
            ));
        }
        match tcp.read(&mut byte).await {
            Ok(0) => {
                return Err((
                    ErrorKind::Reset,
                    format!("it closed the connection before answering CONNECT {target}"),
                ));
            }
            Ok(_) => head.push(byte[0]),
            Err(e) => {
                return Err(io_failure(
                    &format!("reading its answer to CONNECT {target}"),
                    &e,
                ));
            }
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or_default().trim();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        Some(_) => Err((
            ErrorKind::Connect,
            format!("it refused CONNECT {target}: {status_line}"),
        )),
        None => Err((
            ErrorKind::Protocol,
            format!("its answer to CONNECT {target} is not HTTP: {status_line:?}"),
        )),
    }
}

/// What a SOCKS5 reply code means (RFC 1928 §6).
fn socks_reply(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned reply code",
    }
}

/// SOCKS5: greet (no authentication, or username and password when the proxy URL
/// has them), authenticate, and `CONNECT` to the origin: by name with `socks5h`, by
/// an address resolved here (through the run's routes and answers) with `socks5`.
async fn socks5(
    tcp: &mut TcpStream,
    proxy: &Proxy,
    origin: &Origin,
    dial: &Dial,
) -> Result<(), Failure> {
    let io = |what: &'static str| move |e: std::io::Error| io_failure(what, &e);
    let method = if proxy.credentials.is_some() { 2 } else { 0 };
    tcp.write_all(&[5, 1, method])
        .await
        .map_err(io("greeting"))?;
    let mut reply = [0u8; 2];
    tcp.read_exact(&mut reply)
        .await
        .map_err(io("reading its greeting"))?;
    if reply[0] != 5 {
        return Err((
            ErrorKind::Protocol,
            format!("it is not a SOCKS5 proxy (version {})", reply[0]),
        ));
    }
    if reply[1] != method {
        let message = if reply[1] == 0xff {
            format!(
                "it accepts none of the offered authentication methods ({})",
                if method == 2 {
                    "username and password"
                } else {
                    "none"
                }
            )
        } else {
            format!(
                "it chose authentication method {} that was not offered",
                reply[1]
            )
        };
        return Err((ErrorKind::Connect, message));
    }
    if let Some((user, password)) = &proxy.credentials {
        let too_long = |s: &str| s.len() > 255;
        if too_long(user) || too_long(password) {
            return Err((
                ErrorKind::Other,
                "SOCKS5 credentials are at most 255 bytes each".into(),
            ));
        }
        let mut auth = vec![1, user.len() as u8];
        auth.extend_from_slice(user.as_bytes());
        auth.push(password.len() as u8);
        auth.extend_from_slice(password.as_bytes());
        tcp.write_all(&auth).await.map_err(io("authenticating"))?;
        let mut status = [0u8; 2];
        tcp.read_exact(&mut status)
            .await
            .map_err(io("reading its authentication answer"))?;
        if status[1] != 0 {
            return Err((
                ErrorKind::Connect,
                "it refused the username and password".into(),
            ));
        }
    }
    let mut request = vec![5, 1, 0];
    let host = origin.host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) if proxy.kind == ProxyKind::Socks5 => {
            let mut detail = None;
            let (addrs, _) = dial
                .resolve(&origin.host, origin.port, &mut detail)
                .await
                .map_err(|kind| (kind, detail.unwrap_or_default()))?;
            let Some(addr) = addrs.first() else {
                return Err((ErrorKind::Dns, format!("`{host}` resolved to no address")));
            };
            Some(addr.ip())
        }
        Err(_) => None,
    };
    match ip {
        Some(std::net::IpAddr::V4(v4)) => {
            request.push(1);
            request.extend_from_slice(&v4.octets());
        }
        Some(std::net::IpAddr::V6(v6)) => {
            request.push(4);
            request.extend_from_slice(&v6.octets());
        }
        None => {
            if host.len() > 255 {
                return Err((ErrorKind::Other, format!("`{host}` is too long for SOCKS5")));
            }
            request.push(3);
            request.push(host.len() as u8);
            request.extend_from_slice(host.as_bytes());
        }
    }
    request.extend_from_slice(&origin.port.to_be_bytes());
    tcp.write_all(&request)
        .await
        .map_err(io("sending CONNECT"))?;
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head)
        .await
        .map_err(io("reading its answer to CONNECT"))?;
    if head[1] != 0 {
        return Err((
            ErrorKind::Connect,
            format!(
                "it refused CONNECT {}: reply {} ({})",
                authority(origin),
                head[1],
                socks_reply(head[1])
            ),
        ));
    }
    // The bound address, which is of no use here.
    let len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut n = [0u8; 1];
            tcp.read_exact(&mut n)
                .await
                .map_err(io("reading its answer to CONNECT"))?;
            usize::from(n[0])
        }
        other => {
            return Err((
                ErrorKind::Protocol,
                format!("its answer has address type {other}"),
            ));
        }
    };
    let mut rest = vec![0u8; len + 2];
    tcp.read_exact(&mut rest)
        .await
        .map_err(io("reading its answer to CONNECT"))?;
    Ok(())
}
