//! Streaming outputs: `-o KIND=ADDRESS` and `[[outputs]]`, `--tag` and `[tags]`,
//! `--metrics-linger` and `--output-interval`.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir): the kind and the address's
//! shape are checked here, so a typo is a located error with a "did you mean" before
//! anything runs; the cli's outputs thread (cli/src/outputs) serves and pushes them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::Lowerer;
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::Draft;
use crate::ir::{OutputKind, OutputSpec, Outputs};

/// How long `/metrics` is still served after the run, without `--metrics-linger`.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);

/// How often push outputs send, without `--output-interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// The shortest `--output-interval`: how often the run's statistics are gathered
/// (the runtime's `PUBLISH_EVERY`, which a cli test holds this to). The outputs
/// see nothing newer in between, so a shorter interval would send the same numbers
/// again or nothing, while `--dry-run` promised more.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);

impl OutputKind {
    /// Every kind, in the order the help lists them.
    pub const ALL: [OutputKind; 5] = [
        OutputKind::Prometheus,
        OutputKind::PrometheusRemoteWrite,
        OutputKind::Influxdb,
        OutputKind::Otlp,
        OutputKind::Exec,
    ];

    /// The name `-o` and `[[outputs]] kind` use.
    pub fn key(self) -> &'static str {
        match self {
            OutputKind::Prometheus => "prometheus",
            OutputKind::PrometheusRemoteWrite => "prometheus-rw",
            OutputKind::Influxdb => "influxdb",
            OutputKind::Otlp => "otlp",
            OutputKind::Exec => "exec",
        }
    }

    /// The kind named `key`.
    pub fn from_key(key: &str) -> Option<OutputKind> {
        OutputKind::ALL.into_iter().find(|k| k.key() == key)
    }
}

/// The words of an `exec` output's command line, split as a POSIX shell splits
/// them (quotes and backslashes), without running a shell: no variables, globs or
/// pipes, so the command is exactly what was written and nothing in it is run by a
/// shell. The first word is the program.
///
/// # Errors
/// A quote left open, or no words at all.
pub fn exec_argv(command: &str) -> Result<Vec<String>, String> {
    let words = shlex::split(command).ok_or_else(|| {
        format!("`{command}` is not a command line: a quote is left open or a `\\` ends it")
    })?;
    if words.is_empty() {
        return Err("`exec` names no command; expected e.g. exec='python3 forward.py'".into());
    }
    Ok(words)
}

/// Whether an `-o` value names a streaming output rather than a report file: it
/// starts with `word=` where the word is a kind, or close enough to one to be a typo
/// of it (which lowering then reports). `./name=x.json` is always a file.
pub fn is_stream_output(value: &str) -> bool {
    let Some((word, _)) = value.split_once('=') else {
        return false;
    };
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && (OutputKind::from_key(word).is_some()
            || crate::suggest::closest(word, OutputKind::ALL.map(OutputKind::key)).is_some())
}

impl Lowerer<'_> {
    pub(super) fn outputs(&mut self, d: &Draft) -> Outputs {
        let mut specs = Vec::new();
        for out in &d.outputs {
            let kind_text = self.fold_env(&out.kind);
            let Some(kind) = OutputKind::from_key(&kind_text) else {
                let kinds = OutputKind::ALL.map(OutputKind::key);
                let hint = match crate::suggest::closest(&kind_text, kinds) {
                    Some(k) => format!("; did you mean `{k}`?"),
                    None => format!(
                        "; expected one of {}",
                        kinds.map(|k| format!("`{k}`")).join(", ")
                    ),
                };
                let message = format!("unknown output kind `{kind_text}`{hint}");
                let kind = CompileErrorKind::InvalidValue { message };
                self.errors
                    .push(CompileError::at(kind, &out.kind.loc, None));
                continue;
            };
            let text = self.fold_env(&out.address);
            match address(kind, &text) {
                Ok(address) => specs.push(OutputSpec { kind, address }),
                Err(message) => {
                    let kind = CompileErrorKind::InvalidValue { message };
                    self.errors
                        .push(CompileError::at(kind, &out.address.loc, None));
                }
            }
        }
        let mut tags: Vec<(String, String)> = Vec::new();
        for (key, value) in &d.tags {
            let (k, v) = (self.fold_env(key), self.fold_env(value));
            let name_ok = k
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !name_ok || k.starts_with("__") {
                let message = format!(
                    "tag `{k}` is not a label name; expected letters, digits and `_`, not starting with a digit or `__`"
                );
                let kind = CompileErrorKind::InvalidValue { message };
                self.errors.push(CompileError::at(kind, &key.loc, None));
                continue;
            }
            // A later tag of the same name (the command line's) wins.
            tags.retain(|(name, _)| *name != k);
            tags.push((k, v));
        }
        let mut interval = self.duration(
            &d.output_interval,
            "output_interval",
            DEFAULT_INTERVAL,
            true,
        );
        if let Some(value) = &d.output_interval
            && interval < MIN_INTERVAL
        {
            self.out_of_range(
                value,
                "output_interval",
                "at least 250ms, how often the run's statistics are gathered",
            );
            interval = DEFAULT_INTERVAL;
        }
        Outputs {
            linger: self.duration(&d.metrics_linger, "metrics_linger", DEFAULT_LINGER, false),
            interval,
            specs,
            tags,
        }
    }
}

/// The address of an output of `kind`, checked for its shape: a socket address to
/// listen on for `prometheus` (`:9464` and `localhost:9464` mean loopback), an
/// `http(s)://` URL for the others but `exec`, whose command line must split into
/// words.
fn address(kind: OutputKind, text: &str) -> Result<String, String> {
    let key = kind.key();
    if kind == OutputKind::Exec {
        exec_argv(text)?;
        return Ok(text.to_owned());
    }
    if kind == OutputKind::Prometheus {
        let (host, port) = text.rsplit_once(':').ok_or_else(|| {
            format!(
                "`{text}` is not an address for `{key}`; expected HOST:PORT, e.g. 127.0.0.1:9464"
            )
        })?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`{port}` in `{text}` is not a port number"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = match host {
            "" | "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            other => other.parse().map_err(|_| {
                format!("`{host}` in `{text}` is not an IP address; `{key}` listens on an address, e.g. 127.0.0.1:{port}")
            })?,
        };
        return Ok(SocketAddr::new(ip, port).to_string());
    }
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("`{text}` is not a URL for `{key}`; expected http://HOST:PORT/…"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return Err(format!("`{text}` has no host"));
    }
    if kind == OutputKind::Influxdb {
        let path = rest[authority.len()..].split('?').next().unwrap_or("");
        let v2 = text.contains("org=") && text.contains("bucket=");
        if !v2 && path.trim_matches('/').is_empty() {
            return Err(format!(
                "`{text}` names no database; expected http://HOST:PORT/DATABASE (InfluxDB 1.x), or ?org=ORG&bucket=BUCKET (2.x)"
            ));
        }
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_outputs_and_files_are_told_apart() {
        assert!(is_stream_output("prometheus=127.0.0.1:9464"));
        assert!(is_stream_output("otlp=http://127.0.0.1:4318"));
        // A typo is a stream output, so that lowering says what it could be.
        assert!(is_stream_output("prometeus=127.0.0.1:9464"));
        assert!(!is_stream_output("run.json"));
        assert!(!is_stream_output("./prometheus=x.json"));
        assert!(!is_stream_output("reports/a=b.json"));
        assert!(!is_stream_output("statsd_report=1.json"));
        assert!(is_stream_output("exec=python3 fwd.py --to 'a b'"));
    }

    /// An interval shorter than the statistics are gathered is refused, naming the
    /// shortest allowed; that one is taken.
    #[test]
    fn the_output_interval_is_no_shorter_than_the_snapshots() {
        let file = |interval: &str| {
            format!("[target]\nurl = \"http://h/\"\n[outputs]\ninterval = \"{interval}\"\n")
        };
        assert_eq!(
            crate::lower::tests::errors(&file("20ms")),
            [
                "4:13 [20ms] `output_interval` is out of range; expected at least 250ms, \
                 how often the run's statistics are gathered"
            ]
        );
        let ir = crate::lower::tests::ok(&file("250ms"));
        assert_eq!(ir.outputs.interval, MIN_INTERVAL);
    }

    #[test]
    fn exec_commands_split_as_a_shell_would() {
        assert_eq!(
            exec_argv(r#"python3 "my fwd.py" --tag 'a b' c\ d $HOME"#).unwrap(),
            ["python3", "my fwd.py", "--tag", "a b", "c d", "$HOME"]
        );
        let e = OutputKind::Exec;
        assert_eq!(address(e, "./plugin -v").unwrap(), "./plugin -v");
        assert_eq!(
            address(e, "python3 'fwd.py").unwrap_err(),
            "`python3 'fwd.py` is not a command line: a quote is left open or a `\\` ends it"
        );
        assert!(address(e, "  ").unwrap_err().contains("names no command"));
    }

    #[test]
    fn addresses_are_checked_for_their_shape() {
        let p = OutputKind::Prometheus;
        assert_eq!(address(p, ":9464").unwrap(), "127.0.0.1:9464");
        assert_eq!(address(p, "localhost:9464").unwrap(), "127.0.0.1:9464");
        assert_eq!(address(p, "[::1]:9464").unwrap(), "[::1]:9464");
        assert_eq!(address(p, "0.0.0.0:80").unwrap(), "0.0.0.0:80");
        assert!(
            address(p, "9464")
                .unwrap_err()
                .contains("expected HOST:PORT")
        );
        assert!(
            address(p, "host:99999")
                .unwrap_err()
                .contains("not a port number")
        );
        assert!(
            address(p, "example.com:9464")
                .unwrap_err()
                .contains("not an IP address")
        );
        let i = OutputKind::Influxdb;
        assert!(address(i, "http://127.0.0.1:8086/db").is_ok());
        assert!(address(i, "http://127.0.0.1:8086?org=o&bucket=b").is_ok());
        assert!(
            address(i, "http://127.0.0.1:8086/")
                .unwrap_err()
                .contains("names no database")
        );
        assert!(
            address(OutputKind::Otlp, "127.0.0.1:4318")
                .unwrap_err()
                .contains("not a URL")
        );
        assert!(
            address(OutputKind::Otlp, "http:///x")
                .unwrap_err()
                .contains("no host")
        );
    }
}
