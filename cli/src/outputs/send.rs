//! The sending half of a push output: on every `--output-interval` tick, and at
//! once for the run's last metrics, ask the encoder for its requests and POST them,
//! each bounded by [`SEND_TIMEOUT`]. A refused, stalled or failing endpoint is
//! counted and named in the report; it never holds back the run, which goes on in
//! other threads, nor the other outputs, which have tasks of their own.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::Counts;
use super::metrics::Metrics;
use super::push::{Push, PushRequest};
use kaioken_compiler::Redact;
use kaioken_runtime::Span;

/// The longest one request may take, connecting included.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// One push output: its encoder, its counts, and what hides secrets in its errors.
pub(super) struct Pusher {
    pub(super) push: Box<dyn Push>,
    pub(super) counts: Arc<Counts>,
    pub(super) rule: Redact,
}

/// Run one push output until it has sent the run's last metrics (or failed to).
pub(super) async fn push_loop(
    Pusher {
        mut push,
        counts,
        rule,
    }: Pusher,
    mut latest: watch::Receiver<Option<Arc<Metrics>>>,
    spans: Option<Arc<Mutex<Vec<Span>>>>,
    interval: Duration,
) {
    let mut client = Client::default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent: Option<u64> = None;
    while let Some(metrics) = next_due(&mut ticker, &mut latest, |m| m.last).await {
        if sent == Some(metrics.time_unix_ms) {
            continue;
        }
        sent = Some(metrics.time_unix_ms);
        let batch: Vec<Span> = spans.as_ref().map_or_else(Vec::new, |q| {
            std::mem::take(&mut *q.lock().unwrap_or_else(|e| e.into_inner()))
        });
        let mut ok = true;
        for request in push.requests(&metrics, &batch) {
            let result = tokio::time::timeout(SEND_TIMEOUT, client.post(&request)).await;
            let failure = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => {
                    client.reset();
                    Some(format!("no answer within {SEND_TIMEOUT:?}"))
                }
            };
            if let Some(e) = failure {
                ok = false;
                counts.fail(format!("{}: {e}", rule.url(&request.url)));
                break;
            }
        }
        if let Some(s) = &counts.spans {
            // Spans are not sent again: a failed push loses them, counted.
            let n = batch.len() as u64;
            if ok {
                s.sent.fetch_add(n, Ordering::Relaxed);
            } else {
                s.lost.fetch_add(n, Ordering::Relaxed);
                counts.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        if ok {
            push.confirm();
            counts.exports.fetch_add(1, Ordering::Relaxed);
        }
        if metrics.last {
            return;
        }
    }
}

/// What an output sends next: the latest value at each tick of `ticker`, or the
/// run's last one (`is_last`) as soon as it comes. `None` once the run's side is
/// gone.
pub(super) async fn next_due<T>(
    ticker: &mut tokio::time::Interval,
    latest: &mut watch::Receiver<Option<Arc<T>>>,
    is_last: impl Fn(&T) -> bool,
) -> Option<Arc<T>> {
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = latest.changed() => {
                changed.ok()?;
                let last = latest.borrow_and_update().as_deref().is_some_and(&is_last);
                if !last {
                    continue;
                }
            }
        }
        if let Some(value) = latest.borrow().clone() {
            return Some(value);
        }
    }
}

/// A push output's connection: kaioken's client, POSTing.
#[derive(Default)]
struct Client {
    http: Option<crate::http_client::Client>,
}

impl Client {
    /// POST `request`; `Ok` when the endpoint answered with a 2xx.
    async fn post(&mut self, request: &PushRequest) -> Result<(), String> {
        let http = self
            .http
            .get_or_insert_with(|| crate::http_client::Client::new(None));
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let response = http
            .send("POST", &request.url, &headers, request.body.clone())
            .await?;
        let status = response.status;
        if status.is_success() {
            return Ok(());
        }
        // The body's start, on one line: InfluxDB and Prometheus say what was wrong
        // there ("database not found").
        let text = String::from_utf8_lossy(&response.body);
        let text: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(200)
            .collect();
        Err(if text.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {text}")
        })
    }

    /// Drop the connection: a stalled one is not reused.
    fn reset(&mut self) {
        if let Some(http) = &mut self.http {
            http.reset();
        }
    }
}
