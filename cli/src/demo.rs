//! `kaioken demo`: a built-in HTTP server on a loopback ephemeral port, so the first
//! run needs nothing else. It answers `/api/items/{id}` with a small JSON document and
//! takes a little longer on a few requests, so the latency percentiles have a shape.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Start the server on its own thread; it lives until the process exits.
pub fn start() -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("kaioken-demo-server".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let service = service_fn(handle);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        })?;
    Ok(addr)
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let Some(id) = path.strip_prefix("/api/items/") else {
        return Ok(Response::new(Full::new(Bytes::from_static(
            b"kaioken demo server: try /api/items/1\n",
        ))));
    };
    // One request in fifty is slow, like a cache miss.
    let slow = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 50
        == 0;
    if slow {
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let body = format!("{{\"id\":\"{id}\",\"name\":\"senzu bean\",\"power\":9001}}\n");
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
