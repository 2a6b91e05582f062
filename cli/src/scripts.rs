//! The run's side of `[scripts]`: `setup` before the load and `teardown` after it,
//! their HTTP through kaioken's own client with the scenario's TLS settings, and the
//! check that `setup` returned every value `${setup.key}` reads.
//!
//! ```text
//!   compile ─► Program (Runner inside) ─► scripts::setup ─► runtime::run ─► scripts::teardown
//!                                          values for every VU             └► a warning if it fails
//! ```

use kaioken_script::{Fetch, FetchRequest, FetchResponse, Runner};
use kaioken_vm::RunPlan;

use crate::error::Error;
use crate::http_client::Client;

/// The longest one HTTP request of `setup` or `teardown` may take.
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// HTTP for `setup` and `teardown`: one client on a runtime of its own, for the
/// caller's thread to block on.
struct Http {
    rt: tokio::runtime::Runtime,
    client: std::cell::RefCell<Client>,
}

impl Http {
    fn new(plan: &RunPlan) -> Result<Http, Error> {
        let tls = kaioken_runtime::http1_client_config(&plan.transport).map_err(Error::Setup)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Setup(format!("cannot start the scripts' HTTP client: {e}")))?;
        Ok(Http {
            rt,
            client: std::cell::RefCell::new(Client::new(Some(tls))),
        })
    }
}

impl Fetch for Http {
    fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, String> {
        let mut client = self
            .client
            .try_borrow_mut()
            .map_err(|_| "one request at a time".to_owned())?;
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let send = client.send(&request.method, &request.url, &headers, request.body);
        let response = self
            .rt
            .block_on(async { tokio::time::timeout(FETCH_TIMEOUT, send).await })
            .map_err(|_| format!("no answer from {} within {FETCH_TIMEOUT:?}", request.url))?;
        let response = response.inspect_err(|_| client.reset())?;
        Ok(FetchResponse {
            status: response.status.as_u16(),
            headers: response
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: response.body.to_vec(),
        })
    }
}

/// Run the scenario's `setup`, if it has one, until it returns or `interrupted`
/// says so; then every `${setup.key}` must have its value.
///
/// # Errors
///
/// `setup` failed or was interrupted, or did not return a value a template reads.
pub fn setup(plan: &RunPlan, interrupted: impl Fn() -> bool + 'static) -> Result<(), Error> {
    let Some(runner) = Runner::of(&plan.program) else {
        return Ok(());
    };
    if runner.has_setup() {
        let http = http(runner, plan)?;
        runner
            .setup(http.as_ref().map(|h| h as &dyn Fetch), interrupted)
            .map_err(|e| Error::Setup(e.to_string()))?;
    }
    let returned: Vec<&str> = runner
        .setup_values()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    let missing: Vec<&str> = plan
        .program
        .seeds
        .iter()
        .map(|(_, key)| key.as_str())
        .filter(|key| !returned.contains(key))
        .collect();
    if !missing.is_empty() {
        let list = |keys: &[&str]| {
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let reads: Vec<String> = missing.iter().map(|k| format!("${{setup.{k}}}")).collect();
        // A key close to one it returned is most likely a typo in the template.
        let hint = missing
            .iter()
            .find_map(|k| Some((*k, kaioken_compiler::closest(k, returned.iter().copied())?)))
            .map(|(k, close)| format!("; did you mean `${{setup.{close}}}` for `${{setup.{k}}}`?"))
            .unwrap_or_default();
        return Err(Error::Setup(format!(
            "setup returned no {}, which {} read{} (it returned {}){hint}",
            list(&missing),
            list(&reads.iter().map(String::as_str).collect::<Vec<_>>()),
            if missing.len() == 1 { "s" } else { "" },
            if returned.is_empty() {
                "nothing".to_owned()
            } else {
                list(&returned)
            }
        )));
    }
    Ok(())
}

/// Run the scenario's `teardown`, if it has one, until it returns or
/// `interrupted` says so: its failure, in words.
pub fn teardown(plan: &RunPlan, interrupted: impl Fn() -> bool + 'static) -> Option<String> {
    let runner = Runner::of(&plan.program)?;
    if !runner.has_teardown() {
        return None;
    }
    let http = match http(runner, plan) {
        Ok(http) => http,
        Err(e) => return Some(e.to_string()),
    };
    runner
        .teardown(http.as_ref().map(|h| h as &dyn Fetch), interrupted)
        .err()
        .map(|e| e.to_string())
}

/// The HTTP client, when the scenario grants the network.
fn http(runner: &Runner, plan: &RunPlan) -> Result<Option<Http>, Error> {
    if runner.limits().network {
        Http::new(plan).map(Some)
    } else {
        Ok(None)
    }
}
