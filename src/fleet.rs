//! The fleet: every provider endpoint of a profile with a client to call it
//! (or the embedded simulator's, on the demo), and a bounded-concurrency
//! driver that records every request's latency, cold start and error class.
//! Below `telemetry` (probes) and `ops` (bench, warmup), so neither reaches
//! up into the other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use crate::config::{Endpoint, Profile, ProviderKind, Secret, SecretSource};
use crate::domain::{CellId, Selection};
use crate::failure::Failure;
use crate::providers::modal::ModalClient;
use crate::providers::runpod::{RunPodClient, RunPodEndpoint};
use crate::providers::{ErrorClass, HttpClient, ProviderUrl, RetryPolicy};
use crate::sim::{DemoKeys, SimConfig, Simulator};

/// Why the fleet cannot be set up or a selection not served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FleetError {
    /// Bad input: an unknown provider, a provider without credentials.
    #[error("{0}")]
    Invalid(String),
    /// The simulator or the HTTP client cannot be started.
    #[error(transparent)]
    Failed(#[from] crate::failure::Failure),
}

impl From<crate::domain::SelectionError> for FleetError {
    fn from(e: crate::domain::SelectionError) -> Self {
        FleetError::Invalid(e.to_string())
    }
}

/// One provider endpoint of one cell.
#[derive(Debug, Clone)]
pub struct Target {
    pub cell: CellId,
    pub provider: String,
    pub kind: ProviderKind,
    pub endpoint: Endpoint,
    /// The endpoint's URLs parsed once (`None` when they do not parse: each
    /// request then fails with that error).
    prepared: Option<Prepared>,
}

#[derive(Debug, Clone)]
enum Prepared {
    Modal(ProviderUrl),
    RunPod(RunPodEndpoint),
}

/// One request's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub latency: Duration,
    /// RunPod `delayTime`; for Modal, latency − execution (an estimate).
    pub cold_ms: Option<u64>,
    pub execution_ms: Option<u64>,
    pub error: Option<ErrorClass>,
}

/// Clients for every provider of a profile, and the simulator when it is the demo.
pub struct Clients {
    runpod: HashMap<String, RunPodClient>,
    modal: HashMap<String, ModalClient>,
    sim_base: Option<String>,
    /// Simulated seconds per real second (1 against real providers): latencies
    /// are reported in the simulator's time, like its delay and execution times.
    time_scale: f64,
    /// The one pooled HTTP client every provider client here shares.
    http: HttpClient,
    /// Providers without usable credentials, and why: their endpoints are
    /// not called (figures unavailable), the rest works.
    unavailable: std::collections::BTreeMap<String, String>,
    _simulator: Option<Simulator>,
}

/// A provider's secret from the profile (the demo's keys stand in on the
/// demo); the error names the source, never a value.
fn secret(
    source: &Option<SecretSource>,
    demo: Option<Secret>,
    what: &str,
) -> Result<Option<Secret>, String> {
    match (source, demo) {
        (Some(src), Some(default)) => Ok(Some(src.read().unwrap_or(default))),
        (Some(src), None) => src.read().map(Some).map_err(|why| format!("{what}: {why}")),
        (None, Some(default)) => Ok(Some(default)),
        (None, None) => Ok(None),
    }
}

impl Clients {
    /// For a profile with a `[simulator]`, starts the simulator in-process first.
    pub async fn for_profile(
        profile: &Profile,
        time_scale: Option<f64>,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Clients, FleetError> {
        Clients::for_profile_on(profile, time_scale, timeout, retry, None).await
    }

    /// As `for_profile`; on the demo, against the simulator already running
    /// at `shared` (another process's) where given, rather than one of its own.
    pub async fn for_profile_on(
        profile: &Profile,
        time_scale: Option<f64>,
        timeout: Duration,
        retry: RetryPolicy,
        shared: Option<String>,
    ) -> Result<Clients, FleetError> {
        let keys = DemoKeys::from_env();
        let cells = profile.cells();
        let simulator = match (&profile.simulator, &shared) {
            (Some(_), Some(_)) | (None, _) => None,
            (Some(sim), None) => {
                let config = SimConfig {
                    seed: sim.seed,
                    time_scale: time_scale.unwrap_or(sim.time_scale),
                    runpod_key: keys.runpod.expose().to_string(),
                    modal_key: keys.modal_key.expose().to_string(),
                    modal_secret: keys.modal_secret.expose().to_string(),
                    runsync_wait: Duration::from_secs(90),
                    cells: cells
                        .iter()
                        .map(|c| (c.model.to_string(), c.region.to_string()))
                        .collect(),
                };
                let started = Simulator::start(
                    config,
                    "127.0.0.1:0"
                        .parse()
                        .unwrap_or_else(|_| ([127, 0, 0, 1], 0).into()),
                )
                .await
                .map_err(|e| Failure::new("start the embedded simulator", e))?;
                Some(started)
            }
        };
        let demo = profile.simulator.is_some();
        let scale = match &profile.simulator {
            Some(sim) => time_scale.unwrap_or(sim.time_scale),
            None => 1.0,
        };
        let sim_base = match shared {
            Some(base) if demo => Some(base),
            _ => simulator.as_ref().map(Simulator::base_url),
        };
        let fill = |s: &str| match &sim_base {
            Some(base) => s.replace("{sim}", base),
            None => s.to_string(),
        };
        let http = HttpClient::new(timeout, retry)
            .map_err(|e| Failure::new("start the HTTP client", e))?;
        let mut runpod = HashMap::new();
        let mut modal = HashMap::new();
        let mut unavailable = std::collections::BTreeMap::new();
        for p in &profile.providers {
            match p.kind {
                ProviderKind::RunPod => {
                    let key = secret(
                        &p.api_key,
                        demo.then(|| keys.runpod.clone()),
                        &format!("provider {} api_key", p.id),
                    )
                    .and_then(|key| {
                        key.ok_or_else(|| {
                            format!("provider {} has no api_key in the profile", p.id)
                        })
                    });
                    let key = match key {
                        Ok(key) => key,
                        Err(why) => {
                            unavailable.insert(p.id.clone(), why);
                            continue;
                        }
                    };
                    let base = cells
                        .iter()
                        .find_map(|c| match profile.endpoint(c, &p.id) {
                            Some(Endpoint::RunPod { api_base, .. }) => Some(fill(&api_base)),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let client = RunPodClient::new(http.clone(), &base, key)
                        .map_err(|e| FleetError::Invalid(format!("provider {}: {e}", p.id)))?;
                    runpod.insert(p.id.clone(), client);
                }
                ProviderKind::Modal => {
                    let pair = secret(
                        &p.proxy_key,
                        demo.then(|| keys.modal_key.clone()),
                        &format!("provider {} proxy_key", p.id),
                    )
                    .and_then(|key| {
                        let sec = secret(
                            &p.proxy_secret,
                            demo.then(|| keys.modal_secret.clone()),
                            &format!("provider {} proxy_secret", p.id),
                        )?;
                        Ok((key, sec))
                    });
                    let (key, sec) = match pair {
                        Ok(pair) => pair,
                        Err(why) => {
                            unavailable.insert(p.id.clone(), why);
                            continue;
                        }
                    };
                    let client = ModalClient::new(http.clone(), key.zip(sec))
                        .map_err(|e| FleetError::Invalid(format!("provider {}: {e}", p.id)))?;
                    modal.insert(p.id.clone(), client);
                }
            }
        }
        Ok(Clients {
            runpod,
            modal,
            sim_base,
            time_scale: scale,
            http,
            unavailable,
            _simulator: simulator,
        })
    }

    /// Providers whose endpoints cannot be called (no usable credentials), and why.
    pub fn unavailable(&self) -> &std::collections::BTreeMap<String, String> {
        &self.unavailable
    }

    /// Refuses to send to targets whose provider has no usable credentials
    /// (for bench and warmups, which exist to call them).
    pub fn ensure_credentials(&self, targets: &[Target]) -> Result<(), FleetError> {
        match targets
            .iter()
            .find_map(|t| self.unavailable.get(&t.provider))
        {
            Some(why) => Err(FleetError::Invalid(why.clone())),
            None => Ok(()),
        }
    }

    /// Every (cell, provider) endpoint of the selection; `provider` narrows it.
    pub fn targets(
        &self,
        profile: &Profile,
        selection: &Selection,
        provider: Option<&str>,
    ) -> Result<Vec<Target>, FleetError> {
        if let Some(p) = provider
            && profile.provider(p).is_none()
        {
            return Err(FleetError::Invalid(format!(
                "unknown provider {p:?} (known: {})",
                profile.provider_ids().join(", ")
            )));
        }
        let cells = selection.resolve(&profile.model_ids(), &profile.region_ids())?;
        let mut out = Vec::new();
        for cell in cells {
            for p in &profile.providers {
                if provider.is_some_and(|want| want != p.id) {
                    continue;
                }
                if let Some(endpoint) = profile.endpoint(&cell, &p.id) {
                    let endpoint = self.fill(endpoint);
                    let prepared = match &endpoint {
                        Endpoint::Modal { url } => {
                            ProviderUrl::parse(url).ok().map(Prepared::Modal)
                        }
                        Endpoint::RunPod { endpoint_id, .. } => self
                            .runpod
                            .get(&p.id)
                            .and_then(|c| c.endpoint(endpoint_id).ok())
                            .map(Prepared::RunPod),
                    };
                    out.push(Target {
                        cell: cell.clone(),
                        provider: p.id.clone(),
                        kind: p.kind,
                        endpoint,
                        prepared,
                    });
                }
            }
        }
        Ok(out)
    }

    fn fill(&self, endpoint: Endpoint) -> Endpoint {
        let Some(base) = &self.sim_base else {
            return endpoint;
        };
        match endpoint {
            Endpoint::Modal { url } => Endpoint::Modal {
                url: url.replace("{sim}", base),
            },
            other => other,
        }
    }

    /// The shared HTTP client (one connection pool, one set of TLS roots).
    pub fn http(&self) -> HttpClient {
        self.http.clone()
    }

    /// The embedded simulator's base URL, on the demo.
    pub fn sim_base(&self) -> Option<String> {
        self.sim_base.clone()
    }

    /// RunPod `/health` of a target (`None` for Modal, or when it fails).
    pub async fn health(&self, target: &Target) -> Option<crate::providers::runpod::Health> {
        match (&target.endpoint, self.runpod.get(&target.provider)) {
            (Endpoint::RunPod { endpoint_id, .. }, Some(client)) => match &target.prepared {
                Some(Prepared::RunPod(prepared)) => client.health_of(prepared).await.ok(),
                _ => client.health(endpoint_id).await.ok(),
            },
            _ => None,
        }
    }

    /// One request to one target.
    pub async fn request(&self, target: &Target, deadline: Duration) -> Sample {
        static INPUT: LazyLock<serde_json::Value> =
            LazyLock::new(|| json!({ "prompt": "bias probe" }));
        // Serialized once: every probe and load request sends the same body.
        static RUNPOD_BODY: LazyLock<Bytes> = LazyLock::new(|| RunPodClient::request_body(&INPUT));
        static MODAL_BODY: LazyLock<Bytes> =
            LazyLock::new(|| Bytes::from(serde_json::to_vec(&*INPUT).unwrap_or_default()));
        let input = &*INPUT;
        let started = Instant::now();
        let result = match (&target.endpoint, target.kind) {
            (Endpoint::RunPod { endpoint_id, .. }, ProviderKind::RunPod) => {
                match self.runpod.get(&target.provider) {
                    Some(c) => match &target.prepared {
                        Some(Prepared::RunPod(prepared)) => {
                            c.runsync_on(prepared, RUNPOD_BODY.clone(), deadline).await
                        }
                        _ => c.runsync(endpoint_id, input, deadline).await,
                    }
                    .map(|job| (job.delay_ms, job.execution_ms)),
                    None => return failed(started, ErrorClass::Refused),
                }
            }
            (Endpoint::Modal { url }, ProviderKind::Modal) => {
                match self.modal.get(&target.provider) {
                    Some(c) => match &target.prepared {
                        Some(Prepared::Modal(parsed)) => {
                            c.infer_at(parsed, MODAL_BODY.clone()).await
                        }
                        _ => c.infer(url, input).await,
                    }
                    .map(|r| {
                        // Latency − execution, both in the simulator's time.
                        let latency_ms =
                            (r.latency.as_secs_f64() * self.time_scale * 1000.0) as u64;
                        let cold = r.execution_ms.map(|e| latency_ms.saturating_sub(e));
                        (cold, r.execution_ms)
                    }),
                    None => return failed(started, ErrorClass::Refused),
                }
            }
            _ => return failed(started, ErrorClass::Refused),
        };
        match result {
            Ok((cold_ms, execution_ms)) => Sample {
                latency: started.elapsed().mul_f64(self.time_scale),
                cold_ms,
                execution_ms,
                error: None,
            },
            Err(e) => failed(started, e.class),
        }
    }
}

fn failed(started: Instant, class: ErrorClass) -> Sample {
    Sample {
        latency: started.elapsed(),
        cold_ms: None,
        execution_ms: None,
        error: Some(class),
    }
}

/// `requests` requests to every target, `concurrency` at a time in all.
/// `concurrency` workers take the requests in order (target by target), so a
/// long run holds `concurrency` tasks, not one per request.
/// `progress(done, total)` is called after each request.
pub async fn drive(
    clients: Arc<Clients>,
    targets: &[Target],
    requests: usize,
    concurrency: usize,
    deadline: Duration,
    progress: Arc<dyn Fn(usize, usize) + Send + Sync>,
) -> Vec<Vec<Sample>> {
    let total = targets.len() * requests;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let targets: Arc<[Target]> = targets.into();
    let workers: Vec<_> = (0..concurrency.clamp(1, total.max(1)))
        .map(|_| {
            let (clients, targets, next, done, progress) = (
                clients.clone(),
                targets.clone(),
                next.clone(),
                done.clone(),
                progress.clone(),
            );
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return mine;
                    }
                    let sample = clients.request(&targets[i / requests], deadline).await;
                    mine.push((i / requests, sample));
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                }
            })
        })
        .collect();
    let mut out: Vec<Vec<Sample>> = (0..targets.len())
        .map(|_| Vec::with_capacity(requests))
        .collect();
    for worker in workers {
        if let Ok(samples) = worker.await {
            for (target, sample) in samples {
                out[target].push(sample);
            }
        }
    }
    out
}
