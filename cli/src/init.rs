//! `kaioken init`: a commented starter scenario, valid as written.

use std::io::Write;

use crate::args::InitArgs;
use crate::error::{Error, Outcome};

/// The scenario `kaioken init` writes: every top-level table, commented, valid as is.
/// Its first line points editors (Taplo, Even Better TOML) at the scenario's JSON
/// Schema, [`kaioken_compiler::SCHEMA_URL`] (a test checks they agree).
const STARTER: &str = r#"#:schema https://raw.githubusercontent.com/kaioken-rs/kaioken/main/docs/scenario.schema.json
# A kaioken scenario. Run it with: kaioken -f kaioken.toml
# Every key is documented in docs/scenario.md; `--dry-run` checks the file and shows
# the plan without sending anything.

[target]
url = "http://127.0.0.1:8080/"   # where requests go; ${ENV_VAR}s are folded in
timeout = "10s"                   # per request: connect, send, whole response
# http2 = true                    # prior knowledge on http://, ALPN h2 on https://
# http = "3"                      # HTTP/3 over QUIC (https:// only)
# cacert = "ca.pem"               # extra trusted root(s), relative to this file
# cert = "client.pem"             # client certificate for mutual TLS (may hold the key)
# key = "client.key"              # its private key, if not in `cert`
# max_error_rate = 0.1            # exit 1 when more than 10% of requests fail
# cookie_jar = true               # a cookie session per VU
# follow_redirects = false        # redirects are followed (up to 10) unless this says no

[request]
# method = "POST"                 # GET, or POST with a body (not with [[scenarios]]: steps set it)
headers = { "accept" = "application/json", "x-request-id" = "${REQUEST_ID}" }
# body = '{"vu": ${VU}, "iteration": ${ITERATION}}'   # (not with [[scenarios]])
# think_time = "1s"               # pause after each response, as a user would

# Checks run on every response; their pass rate is in the summary and the JSON.
[[checks]]
name = "ok"
expr = "status == 200"

# Thresholds gate CI: any that fails makes the exit code 4.
# [thresholds]
# p95 = "< 300ms"
# error_rate = "< 1%"
# check_pass_rate = "> 0.99"

# Several flows instead of one request: weighted scenarios of steps, each step able to
# take a value from its response for the next ones.
# [[scenarios]]
# name = "login then browse"
# weight = 1
# [[scenarios.steps]]
# url = "/login"
# method = "POST"
# body = '{"user": "vu${VU}"}'
# extract = { token = "json:$.token" }
# [[scenarios.steps]]
# url = "/items"
# headers = { "authorization" = "Bearer ${token}" }

[load]
vus = 10                          # closed model: 10 VUs, each loops as fast as answered
duration = "30s"
# rate = 500                      # cap at 500 requests/s across all VUs
# warmup = "5s"                   # not recorded: connections open, caches warm

# The open model instead: start iterations on a schedule, whatever the latency.
# [load]
# arrival_rate = 200
# max_vus = 100
# duration = "1m"

# Or ramp in stages (targets are VUs; use target_rate with arrival_rate).
# [[stages]]
# duration = "30s"
# target = 50
"#;

pub fn init(args: &InitArgs) -> Result<Outcome, Error> {
    let path = &args.path;
    // `-f` reads a file by its extension: another would not read back as TOML.
    if let Some(ext) = path.extension().filter(|e| *e != "toml") {
        return Err(Error::Setup(format!(
            "`kaioken init` writes a TOML scenario, which `-f` reads by its extension, not `.{}`: name it `{}`",
            ext.to_string_lossy(),
            path.with_extension("toml").display()
        )));
    }
    let io = |e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        // Never overwrite a scenario someone wrote.
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Setup(format!(
                "`{}` exists; pass --force to replace it",
                path.display()
            ))
        } else {
            io(e)
        }
    })?;
    let text = STARTER.replacen(
        "kaioken -f kaioken.toml",
        &format!("kaioken -f {}", path.display()),
        1,
    );
    file.write_all(text.as_bytes()).map_err(io)?;
    eprintln!(
        "wrote {}; check it with: kaioken -f {} --dry-run",
        path.display(),
        path.display()
    );
    Ok(Outcome::Success)
}
