//! What a push output (remote write, InfluxDB, OTLP) is to the outputs thread: a
//! maker of request bodies from the latest metrics and the spans since its last
//! push. The thread does the sending, the timeouts and the counting, the same for
//! every kind.

use super::metrics::Metrics;
use kaioken_runtime::Span;

/// One HTTP request a push output wants sent: POST to `url` with `headers` and
/// `body`.
#[derive(Debug, Clone, PartialEq)]
pub struct PushRequest {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// A push output's encoder.
pub trait Push: Send {
    /// The requests for `metrics` (the latest snapshot's) and `spans` (every sampled
    /// request since the last confirmed push): none when there is nothing new to say.
    fn requests(&mut self, metrics: &Metrics, spans: &[Span]) -> Vec<PushRequest>;

    /// The requests of the last [`requests`](Push::requests) were all accepted (a 2xx):
    /// what they carried need not be sent again (InfluxDB writes what changed since
    /// the last accepted write).
    fn confirm(&mut self) {}

    /// Whether this output wants the spans (OTLP traces); the others never see any.
    fn wants_spans(&self) -> bool {
        false
    }
}

/// `address` as an `http://` or `https://` URL with a host, for the output `kind`
/// (`-o KIND=ADDRESS`), or a message saying what is wrong and how an address is
/// written (`example`). The message never repeats the address: it may hold a
/// password.
pub fn http_url(kind: &str, address: &str, example: &str) -> Result<url::Url, String> {
    let no_scheme = || {
        format!(
            "{kind} output: the address does not start with http:// or https://; write it as {example}"
        )
    };
    let url = match url::Url::parse(address) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => return Err(no_scheme()),
        Err(e) => {
            return Err(format!(
                "{kind} output: the address is not a URL ({e}); write it as {example}"
            ));
        }
    };
    // `localhost:9090/x` parses, with `localhost` for a scheme.
    if url.cannot_be_a_base() {
        return Err(no_scheme());
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{kind} output: the address's scheme is `{}`, not http or https; write it as {example}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{kind} output: the address names no host; write it as {example}"
        ));
    }
    if url.fragment().is_some() {
        return Err(format!(
            "{kind} output: the address has a `#` fragment, which an HTTP request cannot carry; write it as {example}"
        ));
    }
    Ok(url)
}

/// The `user:password` of `url`, percent-decoded, taken out of it (a request line
/// never carries them): `None` when it names no user.
pub fn take_credentials(url: &mut url::Url) -> Option<(String, String)> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = (decode(url.username()), decode(url.password().unwrap_or("")));
    // Neither fails on an http(s) URL with a host, which is all `http_url` lets by.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(credentials)
}

/// An `Authorization: Basic` header's value for `user` and `password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}
