use std::sync::Arc;
use std::time::Duration;

use kaioken_vm::Program;

/// Everything a run needs, decided before it starts.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The compiled scenario, shared by every VU.
    pub program: Arc<Program>,
    /// The load model.
    pub load: LoadConfig,
    /// Protocol and connection settings.
    pub http: HttpConfig,
    /// Worker threads; VUs are spread over them round-robin. 0 means one per CPU
    /// (capped at the number of VUs).
    pub threads: usize,
}

/// The closed load model: `vus` loops, bounded by time and/or request count.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Concurrent VUs.
    pub vus: u32,
    /// Measured time after the warm-up. `None`: until `max_requests`.
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub max_requests: Option<u64>,
    /// Requests per second across all VUs.
    pub rate: Option<f64>,
    /// VU start times are spread evenly over this.
    pub ramp_up: Duration,
    /// Results in this first stretch are not recorded.
    pub warmup: Duration,
}

/// Protocol and connection settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Per-request timeout, connect included.
    pub timeout: Duration,
    /// HTTP/2 instead of HTTP/1.1.
    pub http2: bool,
    /// Skip certificate verification.
    pub insecure: bool,
    /// Extra trusted roots, PEM.
    pub cacert_pem: Option<Vec<u8>>,
}
