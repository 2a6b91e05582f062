use std::sync::Arc;
use std::time::Duration;

use kaioken_vm::Program;

use crate::Profile;

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

/// The load model: closed (`arrival` is `None`) or open.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Closed: VUs (the most any stage asks for). Open: the most VUs that may run.
    pub vus: u32,
    /// Measured time after the warm-up. `None`: until `max_requests`.
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub max_requests: Option<u64>,
    /// Closed model: requests per second across all VUs.
    pub rate: Option<f64>,
    /// Closed model: VU start times are spread evenly over this.
    pub ramp_up: Duration,
    /// Results in this first stretch are not recorded.
    pub warmup: Duration,
    /// The level over the measured time: active VUs (closed model) or iterations per
    /// second (open model). `None` in the closed model means all `vus`, always.
    pub profile: Option<Profile>,
    /// The open model's settings.
    pub arrival: Option<ArrivalConfig>,
}

/// The open (arrival-rate) model's settings.
#[derive(Debug, Clone)]
pub struct ArrivalConfig {
    /// VUs started up front.
    pub pre_allocated_vus: u32,
    /// Measure latency from each iteration's scheduled start.
    pub latency_correction: bool,
    /// Most iterations waiting for a free VU.
    pub queue_size: u32,
    /// Longest wait for a free VU before an iteration is dropped.
    pub queue_timeout: Duration,
}

/// Protocol and connection settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Per-request timeout, connect included.
    pub timeout: Duration,
    /// Skip certificate verification.
    pub insecure: bool,
    /// Extra trusted roots, PEM.
    pub cacert_pem: Option<Vec<u8>>,
    /// Keep cookies per VU and send them back.
    pub cookie_jar: bool,
    /// Most redirects followed per request (every hop is a counted request); 0 does
    /// not follow them.
    pub max_redirects: u32,
}
