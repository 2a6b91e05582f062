//! The `kaioken` binary: parses the command line, drives the pipeline, prints.
//!
//! ```text
//!  argv ─clap─► RunArgs ─► compiler::lower ─► Ir ─► compile ─► Program
//!                                             │                    │
//!                              --dump ir / --dry-run     runtime::run ─► RunStats
//!                                                                          │
//!                                         summary (stdout) · JSON report ◄─┘
//! ```
//!
//! This is the only crate that prints or exits; exit codes are decided in
//! [`error::exit_code`].

mod args;
mod compare;
mod demo;
mod distributed;
mod error;
mod http_client;
mod init;
mod live;
mod merge;
mod outputs;
mod reference;
mod render;
mod report;
mod scripts;
mod summary;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use kaioken_compiler::{ConfigFile, Flags, Input, Ir, PlanError, Redact};
use kaioken_runtime::{Control, Snapshot, StopReason};
use kaioken_vm::RunPlan;

use crate::args::{
    Cli, Command, DemoArgs, Dump, HarFlags, ImportArgs, ImportFormat, OpenApiImportArgs,
    PostmanFlags, PostmanImportArgs, ReportArgs, RunArgs,
};
use crate::error::{Error, Outcome, exit_code};
use crate::render::Format;
use crate::report::{Report, RunEnd};

/// mimalloc (v2, without asking for transparent huge pages) instead of the C
/// library's malloc, on Linux. The request path allocates nothing, so this is for
/// everything around it: compiling a large HAR recording or scenario, where malloc
/// and free were a fifth of the time (a 10,000-entry recording's dry run 0.74× the
/// time), HTTP/2's frames, and musl's slow malloc in the static release builds.
/// Measured against glibc's in BENCHMARKS.md: CPU per request unchanged on the
/// plain path and over TLS, memory per idle VU lower. v3 grew the recording's peak
/// memory by 46 MB, v2 with huge pages a plain run's by 10 MiB. On a host whose
/// transparent huge pages are `always` the kernel may still back mimalloc's
/// segments with them; `MIMALLOC_ALLOW_THP=0` turns them off for the process.
#[cfg(target_os = "linux")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Some(message) = mistyped_command(std::env::args_os().nth(1)) {
        <Cli as clap::CommandFactory>::command()
            .error(clap::error::ErrorKind::InvalidSubcommand, message)
            .exit();
    }
    let cli = Cli::try_parse().unwrap_or_else(|e| second_target(e).exit());
    let result = match cli.command {
        Some(Command::Run(args)) => run(&args),
        Some(Command::Demo(args)) => demo(&args),
        Some(Command::Init(args)) => init::init(&args),
        Some(Command::Schema { markdown: false }) => {
            print_stdout(&format!("{:#}\n", kaioken_compiler::scenario_schema()))
        }
        Some(Command::Schema { markdown: true }) => {
            print_stdout(&reference::markdown(&kaioken_compiler::scenario_schema()))
        }
        Some(Command::Compare(args)) => compare::compare(&args),
        Some(Command::Report(args)) => render_saved(&args),
        Some(Command::Merge(args)) => merge::merge(&args),
        Some(Command::Import(args)) => import(&args),
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "kaioken",
                &mut out,
            );
            print_stdout(&String::from_utf8_lossy(&out))
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out) {
                Ok(()) => print_stdout(&String::from_utf8_lossy(&out)),
                Err(e) => Err(Error::Setup(format!("cannot render the man page: {e}"))),
            }
        }
        None => run(&cli.run),
    };
    if let Err(e) = &result {
        print_error(e);
    }
    ExitCode::from(exit_code(&result))
}

/// A first argument that is no flag, URL or file but close to a command's name
/// (`kaioken compltions bash`): clap would take it for the URL and say something
/// about the URL. The message that names the command meant.
fn mistyped_command(first: Option<std::ffi::OsString>) -> Option<String> {
    let first = first?.into_string().ok()?;
    if first.starts_with('-')
        || first.contains(['/', ':', '.'])
        || std::path::Path::new(&first).exists()
    {
        return None;
    }
    let command = <Cli as clap::CommandFactory>::command();
    let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
    if names.contains(&first.as_str()) {
        return None;
    }
    let meant = kaioken_compiler::closest(&first, names.iter().copied())?;
    Some(format!(
        "unknown command `{first}`; did you mean `{meant}`? (a target is a URL: `kaioken http://…`)"
    ))
}

/// clap takes a second positional argument (`kaioken rec.har http://…`) for a
/// command and says "the subcommand `http://…` cannot be used with `[URL]`". When
/// it is no command's name, the error says what it is: a second target.
fn second_target(e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::ArgumentConflict {
        return e;
    }
    let Some(ContextValue::String(extra)) = e.get(ContextKind::InvalidSubcommand) else {
        return e;
    };
    let mut command = <Cli as clap::CommandFactory>::command();
    if command.find_subcommand(extra).is_some() {
        return e;
    }
    command.error(
        ErrorKind::UnknownArgument,
        format!(
            "unexpected argument `{extra}`: kaioken takes one target (a URL, or a scenario, \
             HAR, collection or spec file); to spread the load over several URLs, list them \
             in a file for `--targets`"
        ),
    )
}

fn print_error(e: &Error) {
    let color = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let rendered = match e {
        Error::Compile(diag) => diag.render(color),
        _ => None,
    };
    let text = rendered.unwrap_or_else(|| format!("error: {e}\n"));
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Server reflection for the compiler (`--reflect`, `[grpc] reflection`): network
/// I/O it leaves to us, made as the run's connections will be.
#[derive(Debug)]
struct Reflection;

impl kaioken_compiler::SchemaSource for Reflection {
    fn reflect(
        &self,
        origin: &kaioken_vm::Origin,
        tls: &kaioken_compiler::ReflectTls,
    ) -> Result<Vec<u8>, String> {
        let cacert = match &tls.cacert {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                format!("server reflection: cannot read `{}`: {e}", path.display())
            })?),
            None => None,
        };
        let read = |path: &std::path::Path| {
            std::fs::read(path)
                .map_err(|e| format!("server reflection: cannot read `{}`: {e}", path.display()))
        };
        let client_cert = match &tls.cert {
            Some(cert) => {
                let cert_pem = read(cert)?;
                let key_pem = match &tls.key {
                    Some(key) => read(key)?,
                    None => cert_pem.clone(),
                };
                Some(kaioken_vm::ClientCert { cert_pem, key_pem })
            }
            None => None,
        };
        kaioken_runtime::reflect(origin, tls.insecure, cacert, client_cert)
    }
}

fn flags_of(args: &RunArgs) -> Flags {
    Flags {
        url: args.url.clone(),
        vus: args.vus,
        duration: args.duration.clone(),
        timeout: args.timeout.clone(),
        method: args.method.clone(),
        headers: args.headers.clone(),
        basic_auth: args.basic_auth.clone(),
        bearer: args.bearer.clone(),
        body: args.body.clone(),
        body_file: args.body_file.clone(),
        form: args.form.clone(),
        max_requests: args.max_requests,
        http2: args.http2,
        http3: args.http3,
        rate: args.rate,
        ramp_up: args.ramp_up.clone(),
        warmup: args.warmup.clone(),
        insecure: args.insecure,
        cacert: args.cacert.clone(),
        cert: args.cert.clone(),
        key: args.key.clone(),
        max_error_rate: args.max_error_rate,
        expect_status: args.expect_status.clone(),
        arrival_rate: args.arrival_rate,
        max_vus: args.max_vus,
        no_latency_correction: args.no_latency_correction,
        cookie_jar: args.cookie_jar,
        compressed: args.compressed,
        trace_sample: args.trace_sample,
        no_keepalive: args.no_keepalive,
        h2_streams: args.h2_streams,
        connect_to: args.connect_to.clone(),
        resolve: args.resolve.clone(),
        dns_refresh: args.dns_refresh.clone(),
        unix_socket: args.unix_socket.clone(),
        proxy: args.proxy.clone(),
        proxy_from_env: args.proxy_from_env,
        no_follow_redirects: args.no_follow_redirects,
        max_redirects: args.max_redirects,
        redact: args.redact.clone(),
        proto: args.proto.clone(),
        reflect: args.reflect,
        call: args.call.clone(),
        ws_message_interval: args.ws_message_interval.clone(),
        ws_fire_and_forget: args.ws_fire_and_forget,
        outputs: stream_outputs(args).map(str::to_owned).collect(),
        tags: args.tags.clone(),
        data: args.data.clone(),
        targets: args.targets.clone(),
        targets_order: match args.targets_order {
            args::TargetsOrderArg::RoundRobin => kaioken_compiler::TargetsOrder::RoundRobin,
            args::TargetsOrderArg::Random => kaioken_compiler::TargetsOrder::Random,
        },
        metrics_linger: args.metrics_linger.clone(),
        output_interval: args.output_interval.clone(),
    }
}

/// Each `-o` value, and whether it names a streaming output (`KIND=ADDRESS`) rather
/// than a report file.
fn classify_outputs(args: &RunArgs) -> impl Iterator<Item = (bool, &std::path::PathBuf)> {
    args.output.iter().map(|p| {
        let stream = p.to_str().is_some_and(kaioken_compiler::is_stream_output);
        (stream, p)
    })
}

/// The `-o` values that name streaming outputs.
fn stream_outputs(args: &RunArgs) -> impl Iterator<Item = &str> {
    classify_outputs(args)
        .filter(|(stream, _)| *stream)
        .filter_map(|(_, p)| p.to_str())
}

/// The `-o` values that name report files.
fn report_paths(args: &RunArgs) -> Vec<std::path::PathBuf> {
    classify_outputs(args)
        .filter(|(stream, _)| !stream)
        .map(|(_, p)| p.clone())
        .collect()
}

/// The HAR options of the command line, for the compiler.
fn har_options(flags: &HarFlags) -> kaioken_compiler::HarOptions {
    kaioken_compiler::HarOptions {
        include_assets: flags.include_assets,
        include_hosts: flags.include_hosts.clone(),
        think_time: flags.think_time,
    }
}

/// A file's text, or an error naming it: the I/O error, or where it stops being
/// UTF-8 text.
pub(crate) fn read_text(path: &std::path::Path) -> Result<String, Error> {
    let error = |message: String| Error::Io {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        error(format!(
            "it is not UTF-8 text: the byte 0x{:02x} at line {line}, column {column} is not UTF-8; save the file as UTF-8",
            bytes[at]
        ))
    })
}

/// The Postman environment and globals of the command line, read.
fn postman_options(flags: &PostmanFlags) -> Result<kaioken_compiler::PostmanOptions, Error> {
    let read = |path: &Option<std::path::PathBuf>| -> Result<Option<(String, String)>, Error> {
        path.as_deref()
            .map(|p| Ok((p.display().to_string(), read_text(p)?)))
            .transpose()
    };
    Ok(kaioken_compiler::PostmanOptions {
        environment: read(&flags.environment)?,
        globals: read(&flags.globals)?,
    })
}

/// Where an import writes its scenario: the `-o` file, or stdout (`None`) without
/// one or with `-o -`, as a shell pipeline expects of a file argument.
fn scenario_file(output: Option<&std::path::Path>) -> Option<&std::path::Path> {
    output.filter(|p| p.as_os_str() != "-")
}

/// `kaioken import postman`: a collection into a scenario file (or stdout).
fn import_postman(args: &PostmanImportArgs) -> Result<Outcome, Error> {
    let path = &args.collection;
    let text = read_text(path)?;
    let options = postman_options(&args.postman)?;
    let imported = kaioken_compiler::import_postman(&path.display().to_string(), &text, &options)
        .map_err(Error::Compile)?;
    let mut notes = Vec::new();
    if !imported.extracted.is_empty() {
        notes.push(format!("extracted: {}", imported.extracted.join(", ")));
    }
    if !imported.unknown.is_empty() {
        notes.push(format!(
            "variables with no value (environment variables when run): {}",
            imported.unknown.join(", ")
        ));
    }
    if !imported.not_converted.is_empty() {
        notes.push(format!(
            "{} not converted (listed at the top of the scenario)",
            imported.not_converted.len()
        ));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    };
    let Some(output) = scenario_file(args.output.as_deref()) else {
        if !imported.unknown.is_empty() || !imported.not_converted.is_empty() {
            eprintln!(
                "imported {}{notes}",
                summary::counted(imported.steps as u64, "request", "requests")
            );
        }
        return print_stdout(&imported.toml);
    };
    std::fs::write(output, &imported.toml).map_err(|e| Error::Io {
        path: output.display().to_string(),
        message: e.to_string(),
    })?;
    eprintln!(
        "wrote {} ({} requests as steps{notes})\ncheck it with: kaioken -f {} --dry-run",
        output.display(),
        imported.steps,
        output.display()
    );
    Ok(Outcome::Success)
}

/// `kaioken import`: a recording or a collection into a scenario file (or stdout).
fn import(args: &ImportArgs) -> Result<Outcome, Error> {
    let har = match &args.format {
        ImportFormat::Har(har) => har,
        ImportFormat::Openapi(spec) => return import_openapi(spec),
        ImportFormat::Postman(postman) => return import_postman(postman),
    };
    let path = &har.recording;
    let text = read_text(path)?;
    let imported =
        kaioken_compiler::import_har(&path.display().to_string(), &text, &har_options(&har.har))
            .map_err(Error::Compile)?;
    let Some(output) = scenario_file(har.output.as_deref()) else {
        return print_stdout(&imported.toml);
    };
    std::fs::write(output, &imported.toml).map_err(|e| Error::Io {
        path: output.display().to_string(),
        message: e.to_string(),
    })?;
    let vars = &imported.variables;
    let correlated = match vars.len() {
        0 => String::new(),
        1..=8 => format!("; correlated: {}", vars.join(", ")),
        n => format!("; correlated: {}, … ({n} in all)", vars[..8].join(", ")),
    };
    eprintln!(
        "wrote {} ({} of {} as steps{correlated})\ncheck it with: kaioken -f {} --dry-run",
        output.display(),
        imported.steps,
        summary::counted(imported.entries as u64, "entry", "entries"),
        output.display()
    );
    Ok(Outcome::Success)
}

/// `kaioken import openapi`: a spec into a scenario file (or stdout); the
/// placeholders to set are listed on stderr either way.
fn import_openapi(args: &OpenApiImportArgs) -> Result<Outcome, Error> {
    let path = &args.spec;
    let text = read_text(path)?;
    let options = kaioken_compiler::OpenApiOptions {
        server: args.server.clone(),
        tags: args.tags.clone(),
        operations: args.operations.clone(),
    };
    let imported = kaioken_compiler::import_openapi(&path.display().to_string(), &text, &options)
        .map_err(Error::Compile)?;
    let mut report = String::new();
    if !imported.placeholders.is_empty() {
        report.push_str("placeholders to set (environment variables, or edit the file):\n");
        for p in &imported.placeholders {
            report.push_str(&format!("  {}: {}\n", p.name, p.uses.join("; ")));
        }
    }
    let Some(output) = scenario_file(args.output.as_deref()) else {
        eprint!("{report}");
        return print_stdout(&imported.toml);
    };
    std::fs::write(output, &imported.toml).map_err(|e| Error::Io {
        path: output.display().to_string(),
        message: e.to_string(),
    })?;
    eprint!(
        "wrote {} ({} of {} operations as steps)\n{report}check it with: kaioken -f {} --dry-run\n",
        output.display(),
        imported.steps,
        imported.operations,
        output.display()
    );
    Ok(Outcome::Success)
}

fn run(args: &RunArgs) -> Result<Outcome, Error> {
    // `kaioken recording.har`, `kaioken collection.json`, `kaioken spec.yaml`: the
    // positional argument is a recording, a Postman collection or an OpenAPI spec,
    // not a URL. A missing one is a file that cannot be read when its directory is
    // there (`kaioken spec.yaml`), a URL without its scheme when it is not
    // (`kaioken example.com/api.json`).
    let positional_har = args.url.as_deref().filter(|u| {
        let lower = u.to_ascii_lowercase();
        let path = std::path::Path::new(u);
        let in_a_directory = || {
            path.parent()
                .is_none_or(|d| d.as_os_str().is_empty() || d.is_dir())
        };
        !u.contains("://")
            && (kaioken_compiler::front::har::is_har(u)
                || ([".json", ".yaml", ".yml"]
                    .iter()
                    .any(|e| lower.ends_with(e))
                    && (path.is_file() || in_a_directory())))
    });
    if let (Some(har), Some(config)) = (positional_har, &args.config) {
        return Err(Error::Setup(format!(
            "both `{har}` and `-f {}` name a scenario; give one",
            config.display()
        )));
    }
    let config_path = args
        .config
        .clone()
        .or_else(|| positional_har.map(std::path::PathBuf::from));
    let config = match &config_path {
        Some(path) => {
            let text = read_text(path)?;
            Some(ConfigFile {
                name: path.display().to_string(),
                text,
            })
        }
        None => None,
    };
    let mut flags = flags_of(args);
    if positional_har.is_some() {
        flags.url = None;
    }
    let input = Input {
        config,
        flags,
        env: std::env::vars().collect(),
        har: har_options(&args.har),
        postman: postman_options(&args.postman)?,
        openapi: kaioken_compiler::OpenApiOptions {
            server: args.spec.server.clone(),
            tags: args.spec.spec_tags.clone(),
            operations: args.spec.spec_operations.clone(),
        },
        schema_source: Some(Arc::new(Reflection)),
    };
    // One rule hides secrets in everything printed from here on, errors included.
    let rule = kaioken_compiler::redaction(&input);
    run_input(args, &input, &rule).map_err(|e| e.redacted(&rule))
}

/// `run` once the input is gathered: compile, then dump, dry-run or run.
fn run_input(args: &RunArgs, input: &Input, rule: &Redact) -> Result<Outcome, Error> {
    // `--start-after` counts from now; a `--start-at` long past is told before anything else.
    let (planned_start, late) = distributed::planned_start(args, SystemTime::now())?;
    let ir = kaioken_compiler::lower(input).map_err(Error::Compile)?;
    let segment = distributed::segment(args, std::env::var("JOB_COMPLETION_INDEX").ok().as_deref());
    // A dry run's text needs the IR only: it is written on a second thread while the
    // plan is compiled (for a 10,000-entry recording each is a tenth of the run).
    let (plan, dry_run) = std::thread::scope(|s| {
        let text = match &segment {
            Ok(segment) if args.dry_run && args.dump.is_none() => {
                Some(s.spawn(|| dry_run_text(&ir, rule, segment.as_ref(), planned_start)))
            }
            _ => None,
        };
        let plan = kaioken_compiler::plan(&ir);
        (plan, text.map(|t| t.join()))
    });
    let mut plan = plan.map_err(|e| match e {
        PlanError::Invalid(e) => Error::Internal(e.to_string()),
        PlanError::Cacert { path, message } => Error::Io {
            path: path.display().to_string(),
            message,
        },
    })?;
    // The plan's error is told before anything of the text's, even a panic.
    let dry_run = dry_run.map(|t| t.unwrap_or_else(|p| std::panic::resume_unwind(p)));
    if args.verbose {
        plan.transport.verbose = Some(rule.clone());
    }
    plan.segment = segment?;
    // Every output's format is known before the run: a name that says none is an
    // error now, not after minutes of load; and a dry run fails on it as the run
    // would, as on the live view's options.
    let files = report_paths(args);
    let outputs = outputs(&files, args.format)?;
    outputs::check_addresses(&ir, rule)?;
    if let (true, Some(format), true) = (args.json, args.format, files.is_empty())
        && format != Format::Json
    {
        return Err(Error::Setup(format!(
            "`--json` and `--format {}` both name what goes on stdout: give one (with \
             `-o`, `--format` is the format of a file whose name says none)",
            format.name()
        )));
    }
    let live = live::options(args)?;
    let printed = match args.dump {
        Some(Dump::Ir) => Some(kaioken_compiler::dump_ir(&ir, true, rule)),
        Some(Dump::Bytecode) => Some(plan.program.listing(rule).to_string()),
        None => dry_run,
    };
    if let Some(text) = printed {
        // Printing is the process's last work: the exit returns the IR and the plan
        // to the system at once, where dropping them frees each allocation (a
        // 10,000-entry recording's are hundreds of thousands, 7% of its dry run).
        std::mem::forget(plan);
        std::mem::forget(ir);
        return print_stdout(&text);
    }
    warn_if_not_loopback(&ir);
    if let Some(late) = late {
        eprintln!("warning: {late}");
    }
    execute(
        &ir,
        &Arc::new(plan),
        args.threads.map_or(0, usize::from),
        planned_start,
        &Output {
            json: args.json,
            outputs,
            stdout_format: args.format.filter(|_| files.is_empty()),
            serious: args.serious,
            percentiles: args.percentiles.0.clone(),
            live,
        },
        rule,
    )
}

struct Output {
    json: bool,
    /// The files to write, each in its format.
    outputs: Vec<(std::path::PathBuf, Format)>,
    /// `--format` without `-o`: the report on stdout in this format.
    stdout_format: Option<Format>,
    serious: bool,
    /// The latency percentiles the summary shows.
    percentiles: Vec<f64>,
    /// The live view, when it is to be shown.
    live: Option<live::Options>,
}

/// Run `plan` and report; with `planned_start` (ms since the Unix epoch), the load
/// starts then, once everything that can fail before it has been checked.
fn execute(
    ir: &Ir,
    plan: &Arc<RunPlan>,
    threads: usize,
    planned_start: Option<u64>,
    out: &Output,
    rule: &Redact,
) -> Result<Outcome, Error> {
    let control = Arc::new(Control::new());
    watch_ctrl_c(control.clone());
    let unix_ms = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    };
    let now_ms = unix_ms();
    // When the load is to start: the outputs' counters start there.
    let starting_unix_ms = planned_start.map_or(now_ms, |at| at.max(now_ms));
    // Make the reports' temporary files first: a path that cannot be written should
    // fail before the load is sent, not after the whole run. Each report goes there
    // and is renamed over its path only when whole, so a killed run never leaves a
    // truncated report, nor wipes out a good one from an earlier run.
    let report_files = create_report_files(&out.outputs)?;
    // Before the load (and its planned start): a failing setup sends none of it,
    // and neither does one the user interrupts (it may run for a minute).
    let setup = scripts::setup(plan, interrupted_since(&control));
    if control.interrupts() > 0 {
        eprintln!("interrupted during setup: no load was sent");
        return Ok(Outcome::Interrupted);
    }
    setup?;
    let streams = outputs::Outputs::start(
        ir,
        rule,
        output_labels(ir, &plan.program, rule),
        ir.scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .map(|step| outputs::otlp::StepNames {
                name: step.name.clone(),
                method: step.method.clone(),
                url: report::step_url(step, rule),
            })
            .collect(),
        starting_unix_ms,
        out.live.is_some(),
    )?;
    if let Some(at) = planned_start {
        // What the run would fail on fails now, not at the planned start.
        kaioken_runtime::check(plan, threads).map_err(|e| run_error(&e))?;
        // Before the live view takes the screen, so the wait is not a blank one.
        if at > now_ms {
            eprintln!(
                "waiting {:.1}s for the planned start",
                (at - now_ms) as f64 / 1000.0
            );
        }
        distributed::wait_until(at, &control);
    }
    // When it did start: after `setup` and the wait, which may have run past the
    // planned start, or been cut short by Ctrl-C.
    let started_at_unix_ms = unix_ms();
    let screen = out.live.and_then(|options| match live::Screen::open() {
        Ok(screen) => Some((screen, options)),
        Err(e) => {
            eprintln!("warning: cannot start the live view ({e}); showing a progress line");
            None
        }
    });
    // Without the live view, one progress line a second on stderr, from the live
    // snapshots (four a second): redrawn in place on a terminal, a plain line each
    // (no escape codes) otherwise, as a CI log wants it.
    let stderr_terminal = std::io::stderr().is_terminal();
    let show_progress = screen.is_none();
    let mut shown_second = 0;
    let mut on_tick = |p: &Snapshot| {
        let second = p.elapsed.as_secs();
        if show_progress && !p.last && second > shown_second {
            shown_second = second;
            let planned = p
                .planned
                .map_or(String::new(), |d| format!("/{}s", d.as_secs()));
            let phase = if p.warming_up { " (warming up)" } else { "" };
            let requests = p.total.total() + p.total.counts.warmup_requests;
            let dropped = match p.total.counts.dropped {
                0 => String::new(),
                n => format!(", {n} iterations dropped"),
            };
            let line = format!(
                "[{second}s{planned}] {requests} requests, {} failed{dropped}{phase}",
                p.total.failed()
            );
            if stderr_terminal {
                eprint!("\r{line}   ");
            } else {
                eprintln!("{line}");
            }
        }
    };
    let run = |on_tick: &mut dyn FnMut(&Snapshot)| match &streams {
        Some(streams) => kaioken_runtime::run(plan, threads, control.clone(), &mut |s| {
            streams.on_snapshot(s);
            on_tick(s);
        }),
        None => kaioken_runtime::run(plan, threads, control.clone(), on_tick),
    };
    let stats = match screen {
        Some((screen, options)) => live::run(screen, options, ir, plan, rule, &control, run),
        None => run(&mut on_tick),
    }
    .map_err(|e| run_error(&e))?;
    if show_progress && stderr_terminal {
        eprint!("\r\x1b[2K");
    }
    // The run's own interruption lets teardown run (it cleans up); one more stops it.
    let interrupts = control.interrupts();
    let teardown_failed = scripts::teardown(plan, interrupted_since(&control));
    let teardown_interrupted = control.interrupts() > interrupts;
    let reason = control.reason().unwrap_or(StopReason::Completed);
    let total = stats.total();
    let empty_part = plan
        .segment
        .as_ref()
        .and_then(|s| empty_part(&plan.load, s));
    // Failed requests: transport errors and responses with an unexpected status.
    let failure_rate = if total == 0 {
        0.0
    } else {
        stats.failed() as f64 / total as f64
    };
    // Interrupted as the run stopped (while requests in flight finished) or during
    // teardown: the run still stopped for its own reason, but it was interrupted.
    let interrupted = reason == StopReason::Interrupted || interrupts > 0 || teardown_interrupted;
    let outcome = if interrupted {
        Outcome::Interrupted
    } else if failure_rate > ir.settings.max_error_rate || (total == 0 && empty_part.is_none()) {
        Outcome::HighErrorRate
    } else {
        Outcome::Success
    };
    let end = RunEnd {
        reason,
        interrupted,
        exit_code: exit_code(&Ok(outcome)),
        started_at_unix_ms,
    };
    let mut report = Report::new(ir, &plan.program, &stats, &end, rule).with_segment(
        plan.segment.as_ref(),
        planned_start,
        reason,
    );
    if let Some(streams) = &streams {
        report.outputs = streams.finish();
        let warnings = report.outputs.iter().filter_map(outputs::warning);
        report.warnings.extend(warnings.collect::<Vec<_>>());
    }
    if let Some(why) = empty_part {
        report.warnings.push(why);
    }
    if stats.abandoned_workers > 0 {
        report.warnings.push(format!(
            "{} did not stop when the run ended (a script stuck in a long call?): not waited for, {} counted as of its last update before it stopped answering",
            summary::counted(stats.abandoned_workers as u64, "worker thread", "worker threads"),
            if stats.abandoned_workers == 1 { "it is" } else { "they are" }
        ));
    }
    if let Some(why) = teardown_failed {
        report.warnings.push(why);
    }
    // A failed teardown has its warning already; setup's failure stops the run.
    for s in report.scripts.iter().filter(|s| s.role != "teardown") {
        if s.errors > 0 {
            let first = s.messages.iter().find(|m| m.text.starts_with("error: "));
            report.warnings.push(format!(
                "script `{}` ({}): {} of {} calls failed with an error{}",
                s.name,
                s.role,
                s.errors,
                s.calls,
                first.map_or(String::new(), |m| format!(" (e.g. {})", &m.text[7..]))
            ));
        }
    }
    report.evaluate_thresholds(ir);
    // Interrupted runs keep 130; a failed threshold outranks a high error rate, since
    // it is the gate the user asked for.
    // One segment of a split run is judged with the others, by `kaioken merge`: its
    // share of a rate or a count says nothing of the whole run's.
    let judged_here = report.segment.is_none();
    let outcome = if outcome != Outcome::Interrupted && judged_here && !report.thresholds_passed() {
        Outcome::ThresholdsFailed
    } else {
        outcome
    };
    report.outcome.exit_code = exit_code(&Ok(outcome));
    if let Some(streams) = &streams {
        streams.send_report(&mut report, &control);
    }
    // A report that cannot be written does not lose the others, or the summary:
    // its error comes after them.
    let unwritten = write_reports(&report, report_files, out.serious);
    if out.json && outcome == Outcome::HighErrorRate {
        eprintln!("error: {}", summary::failure_reason(&report));
    }
    let text = match (out.json, out.stdout_format) {
        (true, _) => render::render(&report, Format::Json, out.serious)?,
        (false, Some(format)) => render::render(&report, format, out.serious)?,
        (false, None) => summary::render(
            &report,
            &summary::Options {
                serious: out.serious,
                percentiles: &out.percentiles,
            },
        ),
    };
    print_stdout(&text)?;
    if let Some(streams) = streams {
        streams.linger(&control);
    }
    unless_unwritten(unwritten, outcome, Some(rule))
}

/// Whether the user has interrupted the run (a signal, `q`) since this was made:
/// what `setup` and `teardown` ask as they run.
fn interrupted_since(control: &Arc<Control>) -> impl Fn() -> bool + 'static {
    let control = Arc::clone(control);
    let before = control.interrupts();
    move || control.interrupts() > before
}

/// A run that could not start, as the CLI says it.
fn run_error(e: &kaioken_runtime::RunError) -> Error {
    if e.is_internal() {
        Error::Internal(e.to_string())
    } else {
        Error::Setup(e.to_string())
    }
}

/// Why a segment's part of the load is nothing (see [`report::empty_part`]).
fn empty_part(load: &kaioken_vm::LoadPlan, segment: &kaioken_vm::Segment) -> Option<String> {
    report::empty_part(load.vus, load.arrival.is_some(), load.max_requests, segment)
}

/// What the streamed metrics are labelled with: `--tag`s on every series, the run's
/// words on `kaioken_run_info`, the checks' and scenarios' names.
fn output_labels(
    ir: &Ir,
    program: &kaioken_vm::Program,
    rule: &Redact,
) -> outputs::metrics::RunLabels {
    let info = live::run_info(ir, program, rule);
    outputs::metrics::RunLabels {
        tags: ir.outputs.tags.clone(),
        info: vec![
            ("target".into(), info.target),
            ("load".into(), info.load),
            ("version".into(), env!("CARGO_PKG_VERSION").into()),
        ],
        checks: info
            .checks
            .iter()
            .map(kaioken_tui::CheckInfo::label)
            .collect(),
        scenarios: info.scenarios.into_iter().map(|s| s.name).collect(),
    }
}

/// Print to stdout; a closed pipe (`kaioken … | head`) is not an error.
fn print_stdout(text: &str) -> Result<Outcome, Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(Outcome::Success),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::Success),
        Err(e) => Err(Error::Io {
            path: "<stdout>".into(),
            message: e.to_string(),
        }),
    }
}

/// First Ctrl-C: stop sending, let requests in flight finish, write the report.
/// Second: abandon what is in flight.
/// Stop the run on SIGINT (Ctrl-C), SIGTERM and SIGHUP — what `timeout`, Kubernetes
/// and CI runners send — alike: the first lets requests in flight finish and the
/// report is written; a second cuts them off. On Windows, Ctrl-C and Ctrl-Break.
fn watch_ctrl_c(control: Arc<Control>) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("kaioken-signals".into())
        .spawn(move || {
            rt.block_on(stop_signals(control));
        });
}

/// Interrupt `control` on each stop signal, for as long as the process runs.
#[cfg(unix)]
async fn stop_signals(control: Arc<Control>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        control.interrupt();
    }
}

/// Interrupt `control` on each Ctrl-C or Ctrl-Break at the console.
#[cfg(windows)]
async fn stop_signals(control: Arc<Control>) {
    use tokio::signal::windows::{ctrl_break, ctrl_c};
    let (Ok(mut int), Ok(mut brk)) = (ctrl_c(), ctrl_break()) else {
        return;
    };
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = brk.recv() => {}
        }
        control.interrupt();
    }
}

fn warn_if_not_loopback(ir: &Ir) {
    for step in ir.scenarios.iter().flat_map(|s| &s.steps) {
        let host = &step.origin.host;
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            eprintln!(
                "warning: `{host}` is not a loopback address; load-test only systems you own or are allowed to test"
            );
            return;
        }
    }
}

fn dry_run_text(
    ir: &Ir,
    rule: &Redact,
    segment: Option<&kaioken_vm::Segment>,
    planned_start: Option<u64>,
) -> String {
    let mut text = String::from("dry run: valid scenario, nothing sent\n\n");
    text.push_str(&kaioken_compiler::dump_ir(ir, false, rule));
    text.push_str(&format!("\nwould run {}\n", plan_words(&ir.load)));
    if let Some(segment) = segment {
        text.push_str(&segment_words(&ir.load, segment));
    }
    if let Some(at) = planned_start {
        let at = chrono::DateTime::from_timestamp_millis(at as i64)
            .map_or_else(|| at.to_string(), |t| t.to_rfc3339());
        text.push_str(&format!("would start at {at}\n"));
    }
    for (name, when) in [("setup", "before"), ("teardown", "after")] {
        if ir.scripts.defs.iter().any(|d| d.name == name) {
            let http = if ir.scripts.limits.network {
                " (HTTP allowed)"
            } else {
                ""
            };
            text.push_str(&format!(
                "would run the `{name}` script {when} the load{http}\n"
            ));
        }
    }
    for spec in &ir.outputs.specs {
        let address = rule.url(&spec.address);
        text.push_str(&match spec.kind {
            kaioken_compiler::OutputKind::Prometheus => {
                format!("would serve metrics on http://{address}/metrics\n")
            }
            kaioken_compiler::OutputKind::Exec => format!(
                "would start `{}` and write metrics to its stdin every {}\n",
                rule.text(&spec.address),
                kaioken_grammar::format_duration(ir.outputs.interval)
            ),
            kind => format!(
                "would push metrics to {} {address} every {}\n",
                kind.key(),
                kaioken_grammar::format_duration(ir.outputs.interval)
            ),
        });
    }
    if !ir.outputs.tags.is_empty() {
        let tags: Vec<String> = ir
            .outputs
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        text.push_str(&format!("with tags {}\n", tags.join(", ")));
    }
    text
}

/// This instance's share of the load, in words: its VUs (and their numbers), per
/// stage its VUs or its rate, its requests.
fn segment_words(l: &kaioken_compiler::LoadPlan, segment: &kaioken_vm::Segment) -> String {
    let sequence: Vec<String> = segment.sequence.iter().map(ToString::to_string).collect();
    let mut text = format!(
        "as segment {segment} of {}, this instance runs:\n",
        sequence.join(",")
    );
    let vus = segment.part_u32(l.vus);
    let first = segment.offset(u64::from(l.vus)) + 1;
    let numbers = match vus {
        0 => "none".to_owned(),
        1 => format!("number {first}"),
        n => format!("numbers {first}–{}", first + u64::from(n) - 1),
    };
    let model = if l.arrival.is_some() { "at most " } else { "" };
    text.push_str(&format!("  {model}{vus} of {} VUs ({numbers})\n", l.vus));
    let share = segment.share();
    match &l.arrival {
        Some(a) if l.stages.is_empty() => text.push_str(&format!(
            "  {} of {} iterations/s\n",
            a.rate * share,
            a.rate
        )),
        Some(_) => {
            text.push_str(&format!("  from {} iterations/s\n", l.start * share));
            for (i, stage) in l.stages.iter().enumerate() {
                text.push_str(&format!(
                    "  stage {}: {} to {} of {} iterations/s\n",
                    i + 1,
                    kaioken_grammar::format_duration(stage.duration),
                    stage.target * share,
                    stage.target
                ));
            }
        }
        None => {
            for (i, stage) in l.stages.iter().enumerate() {
                let target = stage.target.round() as u32;
                text.push_str(&format!(
                    "  stage {}: {} to {} of {target} VUs\n",
                    i + 1,
                    kaioken_grammar::format_duration(stage.duration),
                    segment.part_u32(target),
                ));
            }
            if let Some(rate) = l.rate {
                text.push_str(&format!("  {} of {rate} requests/s\n", rate * share));
            }
        }
    }
    if let Some(n) = l.max_requests {
        text.push_str(&format!("  {} of {n} requests\n", segment.part(n)));
    }
    text
}

/// The load plan in words: `50 VUs for 10s, rate cap 500/s after a 2s warm-up`
/// (the dry run's, the live view's and the streaming outputs' line).
fn plan_words(l: &kaioken_compiler::LoadPlan) -> String {
    let length = match (l.duration, l.max_requests) {
        (Some(d), Some(n)) => format!(
            "for {} or {n} requests, whichever comes first",
            kaioken_grammar::format_duration(d)
        ),
        (Some(d), None) => format!("for {}", kaioken_grammar::format_duration(d)),
        (None, Some(n)) => format!("until {n} requests"),
        (None, None) => String::new(),
    };
    let who = match &l.arrival {
        None if l.stages.is_empty() => format!("{} VUs", l.vus),
        None => format!("up to {} VUs in {} stages", l.vus, l.stages.len()),
        Some(a) if l.stages.is_empty() => format!("{} iterations/s on up to {} VUs", a.rate, l.vus),
        Some(_) => format!(
            "{} stages of arrival rate on up to {} VUs",
            l.stages.len(),
            l.vus
        ),
    };
    let mut text = format!("{who} {length}");
    if let Some(rate) = l.rate {
        text = format!("{}, rate cap {rate}/s", text.trim_end());
    }
    if !l.warmup.is_zero() {
        text.push_str(&format!(
            " after a {} warm-up",
            kaioken_grammar::format_duration(l.warmup)
        ));
    }
    text
}

fn demo(args: &DemoArgs) -> Result<Outcome, Error> {
    let addr =
        demo::start().map_err(|e| Error::Setup(format!("cannot start the demo server: {e}")))?;
    let run_args = RunArgs {
        url: Some(format!("http://{addr}/api/items/${{REQUEST_ID}}")),
        vus: Some(args.vus),
        duration: Some(args.duration.clone()),
        headers: vec!["accept: application/json".into()],
        json: args.json,
        output: args.output.clone(),
        serious: args.serious,
        no_tui: args.no_tui,
        ..RunArgs::default()
    };
    if !args.json {
        println!(
            "kaioken demo: load-testing a built-in server at http://{addr} for {}\n",
            args.duration
        );
    }
    run(&run_args)
}

/// Each `-o` path with the format it is written in: its extension's, else
/// `--format`'s; an error naming the formats when neither says, naming a file
/// given twice (however it is spelled: `run.json`, `./run.json`), or naming a
/// `--format` that no output would be written in.
fn outputs(
    paths: &[std::path::PathBuf],
    format: Option<Format>,
) -> Result<Vec<(std::path::PathBuf, Format)>, Error> {
    if let Some(format) = format
        && !paths.is_empty()
        && paths
            .iter()
            .all(|p| Format::of_extension(p).is_some_and(|named| named != format))
    {
        let named = match paths {
            [one] => format!("`{}` names its own", one.display()),
            _ => "every `-o` here names its own".to_owned(),
        };
        return Err(Error::Setup(format!(
            "`--format {}` is the format of an `-o` file whose name says none, or of \
             stdout without `-o`; {named}",
            format.name()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    paths
        .iter()
        .map(|p| {
            if !seen.insert(same_file_key(p)) {
                return Err(Error::Setup(format!(
                    "`-o {}` is given twice: each output is a file of its own",
                    p.display()
                )));
            }
            Ok((p.clone(), Format::of_path(p, format)?))
        })
        .collect()
}

/// What two spellings of the same file path have in common: the directory's
/// canonical path (when it exists) and the file's name.
fn same_file_key(path: &std::path::Path) -> std::path::PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    match (std::fs::canonicalize(dir), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_owned(),
    }
}

/// The temporary files of every output, made before anything is measured.
fn create_report_files(
    outputs: &[(std::path::PathBuf, Format)],
) -> Result<Vec<(ReportFile, Format)>, Error> {
    outputs
        .iter()
        .map(|(path, format)| Ok((ReportFile::create(path)?, *format)))
        .collect()
}

/// Render `report` into each file and put it in place: every file is tried, and
/// those that could not be written are returned with their errors.
fn write_reports(
    report: &Report,
    files: Vec<(ReportFile, Format)>,
    serious: bool,
) -> Vec<(std::path::PathBuf, Error)> {
    files
        .into_iter()
        .filter_map(|(file, format)| {
            let path = file.path.clone();
            render::render(report, format, serious)
                .and_then(|text| file.commit(&text))
                .err()
                .map(|e| (path, e))
        })
        .collect()
}

/// A saved report (`kaioken report`, `kaioken merge`) written into each of
/// `outputs`, each written one named on stderr: `outcome`, or the error of a file
/// that could not be written.
fn write_saved(
    report: &Report,
    outputs: &[(std::path::PathBuf, Format)],
    serious: bool,
    outcome: Outcome,
) -> Result<Outcome, Error> {
    let unwritten = write_reports(report, create_report_files(outputs)?, serious);
    for (path, _) in outputs {
        if !unwritten.iter().any(|(p, _)| p == path) {
            eprintln!("wrote {}", path.display());
        }
    }
    unless_unwritten(unwritten, outcome, None)
}

/// The command's result once every report that could be written was: the error
/// of the last that could not (those before it printed here), else `outcome`. A
/// run that failed already (thresholds, Ctrl-C) keeps its own exit code, the one
/// its written reports record; the write errors are printed.
fn unless_unwritten(
    unwritten: Vec<(std::path::PathBuf, Error)>,
    outcome: Outcome,
    rule: Option<&Redact>,
) -> Result<Outcome, Error> {
    let mut errors = unwritten.into_iter().map(|(_, e)| match rule {
        Some(rule) => e.redacted(rule),
        None => e,
    });
    let last = match outcome {
        Outcome::Success => errors.next_back(),
        _ => None,
    };
    errors.for_each(|e| print_error(&e));
    last.map_or(Ok(outcome), Err)
}

/// `kaioken report run.json -o run.html`: a saved report rendered again, into each
/// `-o` file or on stdout (the summary, or `--format`).
fn render_saved(args: &ReportArgs) -> Result<Outcome, Error> {
    let path = args.report.display().to_string();
    let outputs = outputs(&args.output, args.format)?;
    let text = read_text(&args.report)?;
    let report = Report::parse(&text)
        .map_err(|message| Error::Setup(format!("cannot read the report `{path}`: {message}")))?;
    if outputs.is_empty() {
        let text = match args.format {
            Some(format) => render::render(&report, format, args.serious)?,
            None => summary::render(
                &report,
                &summary::Options {
                    serious: args.serious,
                    percentiles: &args.percentiles.0,
                },
            ),
        };
        return print_stdout(&text);
    }
    write_saved(&report, &outputs, args.serious, Outcome::Success)
}

/// A report being written: a temporary file beside its path, renamed over the path
/// once the whole report is in it (a rename within a directory is atomic). Removed
/// if the run ends without a report (an error).
struct ReportFile {
    path: std::path::PathBuf,
    temporary: std::path::PathBuf,
    file: std::fs::File,
}

impl ReportFile {
    fn create(path: &std::path::Path) -> Result<ReportFile, Error> {
        let io = |e: std::io::Error| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let name = path.file_name().ok_or_else(|| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a file name",
            ))
        })?;
        // A missing directory is named as such, not as a file that was not found.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(Error::Io {
                path: path.display().to_string(),
                message: format!("the directory `{}` does not exist", dir.display()),
            });
        }
        // Else it would be found only at the end, when the report cannot replace it.
        if path.is_dir() {
            return Err(Error::Io {
                path: path.display().to_string(),
                message: "it is a directory; name a file in it".into(),
            });
        }
        let mut hidden = std::ffi::OsString::from(".");
        hidden.push(name);
        hidden.push(format!(".{}.partial", std::process::id()));
        let temporary = path.with_file_name(hidden);
        let file = std::fs::File::create(&temporary).map_err(io)?;
        Ok(ReportFile {
            path: path.to_owned(),
            temporary,
            file,
        })
    }

    /// Write `text` and put it in place.
    fn commit(mut self, text: &str) -> Result<(), Error> {
        let io = |e: std::io::Error| Error::Io {
            path: self.path.display().to_string(),
            message: e.to_string(),
        };
        self.file.write_all(text.as_bytes()).map_err(io)?;
        self.file.sync_all().map_err(io)?;
        std::fs::rename(&self.temporary, &self.path).map_err(io)
    }
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        // After a commit the temporary is gone and this does nothing.
        let _ = std::fs::remove_file(&self.temporary);
    }
}
