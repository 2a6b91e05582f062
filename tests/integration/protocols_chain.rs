//! One scenario across three protocols, each against its own real server: an HTTP
//! login (httpbin echoes the token it was sent), a gRPC call carrying that token in
//! its metadata (the grpcio server puts it in its reply), a WebSocket message built
//! from the reply (Python `websockets` echoes it), and an HTTP request using what
//! came back. Every server saw exactly what the previous step extracted.

use crate::grpc::{GrpcServer, PROTO};
use crate::harness::Test;
use crate::httpbin::Httpbin;
use crate::websocket::WsEcho;

#[test]
fn http_then_grpc_then_websocket_then_http() {
    let httpbin = Httpbin::start();
    let grpc = GrpcServer::start(false);
    let ws = WsEcho::start();
    let scenario = format!(
        r#"
        [target]
        url = "{http}"

        [grpc]
        proto = "api.proto"

        [[scenarios]]
        [[scenarios.steps]]
        name = "login"
        url = "/anything/login"
        method = "POST"
        body = '{{"token": "tok-${{VU}}-${{ITERATION}}"}}'
        checks = ["status == 200"]
        extract = {{ token = "json:$.json.token" }}

        [[scenarios.steps]]
        name = "item"
        grpc = {{ url = "{grpc}", call = "kaioken.test.Items/Get", message = '{{"id": "7"}}', metadata = {{ "x-token" = "${{token}}" }} }}
        checks = ["grpc_status == OK", 'body contains "\"token\":\"tok-1-"']
        extract = {{ name = "json:$.name", held = "json:$.token" }}

        [[scenarios.steps]]
        name = "say"
        ws = {{ url = "{ws}", send = '{{"name": "${{name}}", "token": "${{held}}"}}' }}
        checks = ["status == 1000", 'body contains "item-7"']
        extract = {{ echoed = "json:$.token" }}

        [[scenarios.steps]]
        name = "use"
        url = "/anything/${{echoed}}"
        checks = ['body contains "/anything/tok-1-"']
        "#,
        http = httpbin.url("/"),
        grpc = grpc.url(),
        ws = ws.url("/chat"),
    );
    let report = Test::new()
        .file("api.proto", PROTO)
        .scenario(&scenario)
        .args(["-c", "1", "-n", "12"])
        .report()
        .run()
        .report();
    report.check_invariants(0);
    // One VU, three iterations of four steps: every check passed every time.
    let checks = report.get("checks").as_array().expect("checks");
    assert_eq!(checks.len(), 6, "{report}");
    for c in checks {
        assert_eq!(
            (c["passes"].as_u64(), c["fails"].as_u64()),
            (Some(3), Some(0)),
            "{c}\n{report}"
        );
    }
    // httpbin saw the logins, then the tokens that came back through gRPC and
    // WebSocket, in order.
    let paths: Vec<String> = httpbin
        .access_log_lines()
        .iter()
        .map(|l| l.path.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "/anything/login",
            "/anything/tok-1-0",
            "/anything/login",
            "/anything/tok-1-1",
            "/anything/login",
            "/anything/tok-1-2",
        ],
        "{report}"
    );
    // The gRPC server got each login's token as metadata.
    let tokens: Vec<String> = grpc.calls().iter().map(|c| c[2].clone()).collect();
    assert_eq!(tokens, ["tok-1-0", "tok-1-1", "tok-1-2"], "{report}");
    // The WebSocket server echoed three messages on one connection.
    assert_eq!(ws.received(), 3, "{}", ws.log());
    assert_eq!(ws.handshakes(), ["/chat"], "{report}");
    assert_eq!(report.u64("websocket.messages.sent"), 3, "{report}");
    assert_eq!(report.get("grpc")["calls"], 3, "{report}");
}
