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
    #[allow(dead_code)]
    fn wants_spans(&self) -> bool {
        false
    }
}
