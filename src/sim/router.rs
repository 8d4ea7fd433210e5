//! A simulated hybrid router for one region: it reads the flag document as a
//! flagd file-source consumer would (reloading when the file is replaced),
//! sends synthetic traffic with random targeting keys through the real
//! provider clients, and serves Prometheus text metrics — the contract a real
//! router exports:
//!
//! - `beacon_requests_total{model,region,provider,outcome}` (outcome `ok` or an error class)
//! - `beacon_request_duration_seconds{model,region,provider}` (histogram)
//! - `beacon_cold_starts_total{model,region,provider}`
//! - `beacon_routed_total{model,region,provider}` (counted when a request is sent)
//! - `beacon_routing_revision{region}`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::json;
use tokio::sync::{Mutex, RwLock, Semaphore, oneshot};

use crate::config::{Endpoint, Profile, ProviderKind};
use crate::domain::{CellId, Routes};
use crate::flags::fractional::{Generation, route};
use crate::flags::{FlagCodec, flag_key};
use crate::providers::modal::ModalClient;
use crate::providers::runpod::RunPodClient;

/// Histogram buckets (seconds) of `beacon_request_duration_seconds`.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0,
];

/// What one regional router needs.
pub struct RouterConfig {
    pub region: String,
    pub profile: Profile,
    /// `{sim}` in the profile's URLs stands for this.
    pub sim_base: String,
    pub document: PathBuf,
    pub requests_per_second: f64,
    pub seed: u64,
    pub generation: Generation,
    pub runpod: RunPodClient,
    pub modal: ModalClient,
    /// How long a `/runsync` may take before the router gives up.
    pub request_deadline: Duration,
    /// How often the document is checked for replacement.
    pub reload_every: Duration,
}

#[derive(Default)]
struct Metrics {
    requests: BTreeMap<(String, String, String), u64>,
    /// (model, provider) → (bucket counts, sum seconds, count)
    durations: BTreeMap<(String, String), (Vec<u64>, f64, u64)>,
    cold_starts: BTreeMap<(String, String), u64>,
    /// Requests sent, counted when sent (a slow answer counts late above).
    routed: BTreeMap<(String, String), u64>,
    revision: u64,
}

struct Shared {
    config: RouterConfig,
    routes: RwLock<(u64, Routes)>,
    metrics: Mutex<Metrics>,
}

/// A running router: its metrics are at `http://{addr}/metrics`.
pub struct SimRouter {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SimRouter {
    pub async fn start(config: RouterConfig, bind: SocketAddr) -> std::io::Result<SimRouter> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let codec = FlagCodec::for_profile(&config.profile);
        let shared = Arc::new(Shared {
            routes: RwLock::new((0, codec.all_fallback())),
            metrics: Mutex::new(Metrics::default()),
            config,
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new()
            .route("/metrics", get(metrics))
            .with_state(shared.clone());
        let mut tasks = vec![tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        })];
        tasks.push(tokio::spawn(watch(shared.clone(), codec)));
        tasks.push(tokio::spawn(traffic(shared)));
        Ok(SimRouter {
            addr,
            stop: Some(stop),
            tasks,
        })
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

/// Reloads the document whenever the file changes (an atomic rename gives it
/// a new inode, size or time); a bad document keeps the last good one.
async fn watch(shared: Arc<Shared>, codec: FlagCodec) {
    let mut last: Option<(u64, u64, SystemTime)> = None;
    loop {
        if let Ok(meta) = tokio::fs::metadata(&shared.config.document).await {
            #[cfg(unix)]
            let inode = std::os::unix::fs::MetadataExt::ino(&meta);
            #[cfg(not(unix))]
            let inode = 0;
            let stamp = (
                inode,
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            );
            if last != Some(stamp)
                && let Ok(bytes) = tokio::fs::read(&shared.config.document).await
                && let Ok(doc) = codec.decode(&bytes)
            {
                last = Some(stamp);
                shared.metrics.lock().await.revision = doc.revision;
                *shared.routes.write().await = (doc.revision, doc.routes);
            }
        }
        tokio::time::sleep(shared.config.reload_every).await;
    }
}

/// Synthetic requests at the configured rate, spread over the region's models.
async fn traffic(shared: Arc<Shared>) {
    let config = &shared.config;
    let models = config.profile.model_ids();
    if models.is_empty() || config.requests_per_second <= 0.0 {
        return;
    }
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / config.requests_per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Bounded: a hung provider cannot pile up unbounded requests.
    let in_flight = Arc::new(Semaphore::new(256));
    loop {
        tick.tick().await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            continue;
        };
        let model = models[rng.usize(..models.len())].clone();
        let key = format!("req-{:016x}", rng.u64(..));
        let shared = shared.clone();
        tokio::spawn(async move {
            one_request(&shared, &model, &key).await;
            drop(permit);
        });
    }
}

async fn one_request(shared: &Shared, model: &str, targeting_key: &str) {
    let config = &shared.config;
    let cell = CellId::new(model, config.region.as_str());
    let provider = {
        let routes = shared.routes.read().await;
        let Some(split) = routes.1.get(&cell) else {
            return;
        };
        route(config.generation, &flag_key(&cell), targeting_key, split).to_string()
    };
    *shared
        .metrics
        .lock()
        .await
        .routed
        .entry((model.to_string(), provider.clone()))
        .or_default() += 1;
    let Some(kind) = config.profile.provider(&provider).map(|p| p.kind) else {
        return;
    };
    let Some(endpoint) = config.profile.endpoint(&cell, &provider) else {
        return;
    };
    let fill = |s: &str| s.replace("{sim}", &config.sim_base);
    let input = json!({ "prompt": "bias probe", "key": targeting_key });
    let started = std::time::Instant::now();
    let (outcome, cold) = match (kind, endpoint) {
        (
            ProviderKind::RunPod,
            Endpoint::RunPod {
                api_base: _,
                endpoint_id,
            },
        ) => {
            match config
                .runpod
                .runsync(&endpoint_id, &input, config.request_deadline)
                .await
            {
                Ok(job) => ("ok".to_string(), job.delay_ms.unwrap_or(0) >= 500),
                Err(e) => (e.class.label().replace(' ', "_"), false),
            }
        }
        (ProviderKind::Modal, Endpoint::Modal { url }) => {
            match config.modal.infer(&fill(&url), &input).await {
                Ok(reply) => {
                    let cold = reply
                        .cold_start_estimate(Duration::from_millis(50))
                        .is_some_and(|d| d >= Duration::from_millis(500));
                    ("ok".to_string(), cold)
                }
                Err(e) => (e.class.label().replace(' ', "_"), false),
            }
        }
        _ => return,
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut m = shared.metrics.lock().await;
    *m.requests
        .entry((model.to_string(), provider.clone(), outcome))
        .or_default() += 1;
    let (buckets, sum, count) = m
        .durations
        .entry((model.to_string(), provider.clone()))
        .or_insert_with(|| (vec![0; DURATION_BUCKETS.len()], 0.0, 0));
    for (i, le) in DURATION_BUCKETS.iter().enumerate() {
        if seconds <= *le {
            buckets[i] += 1;
        }
    }
    *sum += seconds;
    *count += 1;
    if cold {
        *m.cold_starts
            .entry((model.to_string(), provider))
            .or_default() += 1;
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> String {
    let region = &shared.config.region;
    let m = shared.metrics.lock().await;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP beacon_requests_total Requests sent by the router, by provider and outcome."
    );
    let _ = writeln!(out, "# TYPE beacon_requests_total counter");
    for ((model, provider, outcome), n) in &m.requests {
        let _ = writeln!(
            out,
            "beacon_requests_total{{model=\"{model}\",region=\"{region}\",provider=\"{provider}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP beacon_request_duration_seconds Request latency seen by the router."
    );
    let _ = writeln!(out, "# TYPE beacon_request_duration_seconds histogram");
    for ((model, provider), (buckets, sum, count)) in &m.durations {
        let labels = format!("model=\"{model}\",region=\"{region}\",provider=\"{provider}\"");
        for (le, n) in DURATION_BUCKETS.iter().zip(buckets) {
            let _ = writeln!(
                out,
                "beacon_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "beacon_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(out, "beacon_request_duration_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(
            out,
            "beacon_request_duration_seconds_count{{{labels}}} {count}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP beacon_cold_starts_total Requests that met a cold start (500 ms or more in the queue)."
    );
    let _ = writeln!(out, "# TYPE beacon_cold_starts_total counter");
    for ((model, provider), n) in &m.cold_starts {
        let _ = writeln!(
            out,
            "beacon_cold_starts_total{{model=\"{model}\",region=\"{region}\",provider=\"{provider}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP beacon_routed_total Requests routed to each provider, counted when sent."
    );
    let _ = writeln!(out, "# TYPE beacon_routed_total counter");
    for ((model, provider), n) in &m.routed {
        let _ = writeln!(
            out,
            "beacon_routed_total{{model=\"{model}\",region=\"{region}\",provider=\"{provider}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP beacon_routing_revision The flag document revision this router applies."
    );
    let _ = writeln!(out, "# TYPE beacon_routing_revision gauge");
    let _ = writeln!(
        out,
        "beacon_routing_revision{{region=\"{region}\"}} {}",
        m.revision
    );
    out
}
