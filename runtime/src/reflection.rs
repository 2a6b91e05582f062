//! gRPC server reflection: the schema of a server's services, fetched before the run
//! for `--reflect` / `[grpc] reflection = true`.
//!
//! Where it sits: the compiler asks its `SchemaSource` (the CLI's, which calls
//! [`reflect`]) while it lowers the first gRPC step, so a server without reflection is
//! a located error before any load. It speaks `grpc.reflection.v1` and falls back to
//! `v1alpha` when the server has no v1 (grpcio serves only v1alpha): the two are the
//! same messages on the wire. Each question is one call on one HTTP/2 connection made
//! by `conn.rs` (TLS as for the run, with `--insecure`, `--cacert` and `--cert`); the files the services need
//! are fetched by name until none is missing, and returned as one
//! `FileDescriptorSet`, dependencies first.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kaioken_vm::{Origin, Protocol, Scheme, TransportPlan};
use prost::Message as _;
use prost_reflect::prost_types::{FileDescriptorProto, FileDescriptorSet};
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use crate::conn::connect;
use crate::stats::Opened;

/// How long reflection may take in all.
const REFLECTION_TIMEOUT: Duration = Duration::from_secs(10);

const V1: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const V1ALPHA: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

/// The services `origin` serves, with every file they need, as an encoded
/// `FileDescriptorSet`; or why not, as a sentence.
pub fn reflect(
    origin: &Origin,
    insecure: bool,
    cacert_pem: Option<Vec<u8>>,
    client_cert: Option<kaioken_vm::ClientCert>,
) -> Result<Vec<u8>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start server reflection: {e}"))?;
    runtime.block_on(async {
        match tokio::time::timeout(
            REFLECTION_TIMEOUT,
            fetch(origin, insecure, cacert_pem, client_cert),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(format!(
                "server reflection on {} did not answer within {}s",
                origin.authority,
                REFLECTION_TIMEOUT.as_secs()
            )),
        }
    })
}

struct Client {
    sender: SendRequest<Full<Bytes>>,
    prefix: String,
    path: &'static str,
}

async fn fetch(
    origin: &Origin,
    insecure: bool,
    cacert_pem: Option<Vec<u8>>,
    client_cert: Option<kaioken_vm::ClientCert>,
) -> Result<Vec<u8>, String> {
    let tls = match origin.scheme {
        Scheme::Https => {
            let plan = TransportPlan {
                timeout: REFLECTION_TIMEOUT,
                insecure,
                cacert_pem,
                client_cert,
                cookie_jar: false,
                max_redirects: 0,
                compressed: false,
                keepalive: true,
                h2_streams: 1,
                connect_to: Vec::new(),
                dns_refresh: None,
                unix_socket: None,
                proxy: None,
                verbose: None,
                trace_sample: 0.0,
            };
            Some(crate::tls::client_config(&plan, Protocol::Grpc)?)
        }
        Scheme::Http => None,
    };
    let mut detail = None;
    // Reflection runs before the run; its plan's routes are not known here.
    let dial = crate::dial::Dial::new(&TransportPlan::default())?;
    let stream = connect(
        origin,
        tls.as_ref(),
        &dial,
        &mut detail,
        &mut Opened::default(),
    )
    .await
    .map_err(|kind| {
        format!(
            "server reflection: cannot connect to {}: {}",
            origin.authority,
            detail.unwrap_or_else(|| kind.to_string())
        )
    })?;
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| format!("server reflection on {}: {e}", origin.authority))?;
    tokio::task::spawn(async move {
        let _ = conn.await;
    });
    let scheme = if origin.scheme == Scheme::Https {
        "https"
    } else {
        "http"
    };
    let mut client = Client {
        sender,
        prefix: format!("{scheme}://{}", origin.authority),
        path: V1,
    };
    let list = MessageRequest::ListServices(String::new());
    let services = match client.ask(list.clone()).await {
        Err(Unimplemented) => {
            client.path = V1ALPHA;
            match client.ask(list).await {
                Err(Unimplemented) => {
                    return Err(format!(
                        "{} does not serve gRPC server reflection (neither v1 nor v1alpha); give the schema with `--proto` or `[grpc] proto`",
                        origin.authority
                    ));
                }
                Ok(r) => r,
            }
        }
        Ok(r) => r,
    }?;
    let MessageResponse::ListServicesResponse(list) = services else {
        return Err(format!(
            "server reflection on {} answered the list of services with something else",
            origin.authority
        ));
    };
    let mut files: BTreeMap<String, FileDescriptorProto> = BTreeMap::new();
    for service in list.service {
        if service.name.starts_with("grpc.reflection.") {
            continue;
        }
        let answer = client
            .ask(MessageRequest::FileContainingSymbol(service.name.clone()))
            .await
            .map_err(|_| unimplemented_mid(origin))??;
        add_files(answer, &mut files, origin)?;
    }
    // Fetch what the files import until nothing is missing.
    loop {
        let missing: Vec<String> = files
            .values()
            .flat_map(|f| f.dependency.iter())
            .filter(|d| !files.contains_key(*d))
            .cloned()
            .collect();
        let Some(name) = missing.into_iter().next() else {
            break;
        };
        let answer = client
            .ask(MessageRequest::FileByFilename(name.clone()))
            .await
            .map_err(|_| unimplemented_mid(origin))??;
        let before = files.len();
        add_files(answer, &mut files, origin)?;
        if !files.contains_key(&name) || files.len() == before {
            return Err(format!(
                "server reflection on {} does not have `{name}`, which its services import",
                origin.authority
            ));
        }
    }
    let mut ordered = Vec::with_capacity(files.len());
    let mut done = std::collections::BTreeSet::new();
    for name in files.keys() {
        order(name, &files, &mut done, &mut ordered);
    }
    Ok(FileDescriptorSet { file: ordered }.encode_to_vec())
}

/// `name` after everything it imports.
fn order(
    name: &str,
    files: &BTreeMap<String, FileDescriptorProto>,
    done: &mut std::collections::BTreeSet<String>,
    out: &mut Vec<FileDescriptorProto>,
) {
    if !done.insert(name.to_owned()) {
        return;
    }
    let Some(file) = files.get(name) else {
        return;
    };
    for dep in &file.dependency {
        order(dep, files, done, out);
    }
    out.push(file.clone());
}

fn unimplemented_mid(origin: &Origin) -> String {
    format!(
        "server reflection on {} stopped answering midway",
        origin.authority
    )
}

fn add_files(
    answer: MessageResponse,
    files: &mut BTreeMap<String, FileDescriptorProto>,
    origin: &Origin,
) -> Result<(), String> {
    let MessageResponse::FileDescriptorResponse(r) = answer else {
        return Err(format!(
            "server reflection on {} answered a file request with something else",
            origin.authority
        ));
    };
    for bytes in r.file_descriptor_proto {
        let file = FileDescriptorProto::decode(bytes.as_slice()).map_err(|e| {
            format!(
                "server reflection on {} sent a file that does not decode: {e}",
                origin.authority
            )
        })?;
        files.insert(file.name().to_owned(), file);
    }
    Ok(())
}

/// The server has no such reflection service.
struct Unimplemented;

/// What a server that answered reflection's call as no gRPC server would, with
/// HTTP status `http` and `content_type`, is told to be.
fn not_grpc(http: u16, content_type: Option<&str>) -> String {
    let content_type = match content_type {
        Some(t) => format!("content-type `{t}`"),
        None => "no content-type".into(),
    };
    format!(
        "server reflection: the server did not answer as a gRPC server \
         (HTTP status {http}, {content_type}, no `grpc-status`)"
    )
}

impl Client {
    /// One question, one answer.
    async fn ask(
        &mut self,
        request: MessageRequest,
    ) -> Result<Result<MessageResponse, String>, Unimplemented> {
        let message = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        };
        let mut frame = BytesMut::new();
        frame.put_u8(0);
        frame.put_u32(message.encoded_len() as u32);
        message.encode(&mut frame).expect("a BytesMut grows");
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{}", self.prefix, self.path))
            .header("content-type", HeaderValue::from_static("application/grpc"))
            .header("te", HeaderValue::from_static("trailers"))
            .body(Full::new(frame.freeze()));
        let req = match req {
            Ok(r) => r,
            Err(e) => return Ok(Err(format!("server reflection: {e}"))),
        };
        if let Err(e) = self.sender.ready().await {
            return Ok(Err(format!("server reflection: {e}")));
        }
        let resp = match self.sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => return Ok(Err(format!("server reflection: {e}"))),
        };
        let mut status = resp
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok()?.parse::<u8>().ok());
        let http = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let mut data = BytesMut::new();
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Some(d) = f.data_ref() {
                        data.extend_from_slice(d);
                    } else if let Some(t) = f.trailers_ref() {
                        status = t
                            .get("grpc-status")
                            .and_then(|v| v.to_str().ok()?.parse::<u8>().ok());
                    }
                }
                Err(e) => return Ok(Err(format!("server reflection: {e}"))),
            }
        }
        // UNIMPLEMENTED, or a server that is not gRPC at that path.
        if status == Some(12) || http == 404 {
            return Err(Unimplemented);
        }
        // No gRPC status, and not a gRPC content type: an HTTP/2 server that is
        // not a gRPC one (nginx serving files, a proxy's error page).
        if status.is_none()
            && !content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("application/grpc"))
        {
            return Ok(Err(not_grpc(http, content_type.as_deref())));
        }
        if status != Some(0) || data.len() < 5 {
            return Ok(Err(format!(
                "server reflection failed with gRPC status {}",
                status.map_or("none".into(), |s| s.to_string())
            )));
        }
        data.advance(5);
        let answer = match ServerReflectionResponse::decode(data) {
            Ok(a) => a,
            Err(e) => return Ok(Err(format!("server reflection answered garbage: {e}"))),
        };
        Ok(match answer.message_response {
            Some(MessageResponse::ErrorResponse(e)) => Err(format!(
                "server reflection answered with an error: {} (code {})",
                e.error_message, e.error_code
            )),
            Some(r) => Ok(r),
            None => Err("server reflection answered nothing".into()),
        })
    }
}
