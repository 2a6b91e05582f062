//! [`View`]: everything one frame is drawn from. The snapshot changes four times a
//! second; the [`RunInfo`] is fixed before the run; the [`Controls`] change with keys.

use std::time::Duration;

use kaioken_runtime::Snapshot;

use crate::Controls;

/// What the view knows before the run starts: the names and the plan, which the
/// snapshots do not carry.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// Method and URL of the first step, e.g. `GET http://127.0.0.1:8080/`.
    pub target: String,
    /// The load model in a few words, e.g. `50 VUs for 10s`.
    pub load: String,
    /// Whether iterations arrive at a rate (the open model).
    pub open_model: bool,
    /// Open model: whether latency is timed from each iteration's scheduled start.
    pub latency_correction: bool,
    /// The most VUs the plan allows.
    pub max_vus: u64,
    /// The iterations per second the plan asks for, if it asks for a rate.
    pub target_rate: Option<f64>,
    /// The warm-up's length (zero without one).
    pub warmup: Duration,
    /// `[[stages]]`, in order.
    pub stages: Vec<Stage>,
    /// Checks, by check id.
    pub checks: Vec<CheckInfo>,
    /// Scenarios, by scenario id.
    pub scenarios: Vec<ScenarioInfo>,
    /// Extracted variables' names, by extractor id.
    pub extractors: Vec<String>,
}

/// One of `[[stages]]`: how long it lasts and the level it ramps to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Its length.
    pub duration: Duration,
    /// VUs (closed model) or iterations per second (open model) at its end.
    pub target: f64,
}

/// A check: its expression and, when the run has several steps, the step it judges
/// (checks of different steps may read alike: the step tells them apart). Kept
/// apart so that the view, short of room, cuts the step's name and keeps the
/// expression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckInfo {
    /// The step's name, when it takes telling apart.
    pub step: Option<String>,
    /// The check as written, e.g. `status == 200`.
    pub name: String,
}

impl CheckInfo {
    /// `[step] name`, or the name alone: how the check is labelled elsewhere.
    pub fn label(&self) -> String {
        match &self.step {
            Some(step) => format!("[{step}] {}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A scenario's name and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioInfo {
    /// Its name.
    pub name: String,
    /// Its tags.
    pub tags: Vec<String>,
}

/// A threshold as judged on the data so far, worded by the caller (the judging is
/// the compiler's, the same as at the end of the run).
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdLine {
    /// What it bounds, e.g. `p95 < 200ms` or `scenario:order p99 < 1s`.
    pub label: String,
    /// The value measured so far, with its unit; empty with nothing measured yet.
    pub observed: String,
    /// Whether it holds now.
    pub passed: bool,
}

/// One frame's worth of input to [`draw`](crate::draw).
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The plan and names.
    pub info: &'a RunInfo,
    /// The run as it stands.
    pub snapshot: &'a Snapshot,
    /// Thresholds judged on `snapshot`.
    pub thresholds: &'a [ThresholdLine],
    /// Theme, time scale, help.
    pub controls: &'a Controls,
    /// `--serious`: plain words instead of power levels.
    pub serious: bool,
}
