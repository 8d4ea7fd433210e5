//! The HTTP side of the simulator (axum on loopback).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Mutex, RwLock, oneshot};

use super::faults::{Fault, Verdict, judge};
use super::workers::{Pool, ProviderModel, Start};

/// What the simulator serves and how fast its clock runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// Simulated seconds per real second (10 → a 6 s cold start takes 0.6 s).
    pub time_scale: f64,
    pub runpod_key: String,
    pub modal_key: String,
    pub modal_secret: String,
    /// How long `/runsync` holds a request before answering IN_PROGRESS (simulated).
    pub runsync_wait: Duration,
    /// Cells as (model, region); each has `beacon-{model}-{region}` on both providers.
    pub cells: Vec<(String, String)>,
}

impl SimConfig {
    pub fn endpoint_name(model: &str, region: &str) -> String {
        format!("beacon-{model}-{region}")
    }
}

/// A running simulator.
pub struct Simulator {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Binds (e.g. `127.0.0.1:0`) and serves until `stop`.
    pub async fn start(config: SimConfig, bind: SocketAddr) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Sim::new(config));
        let app = Router::new()
            .route("/runpod/v2/{endpoint}/runsync", post(runsync))
            .route("/runpod/v2/{endpoint}/run", post(run))
            .route("/runpod/v2/{endpoint}/status/{job}", get(status))
            .route("/runpod/v2/{endpoint}/health", get(health))
            .route("/modal/{endpoint}", post(modal))
            .route("/sim/faults", get(get_faults).post(set_faults))
            .with_state(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Simulator {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// `http://127.0.0.1:PORT`: what `{sim}` stands for in a profile.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

struct Job {
    endpoint: String,
    /// Simulated ms.
    accepted_at: u64,
    start: Start,
}

struct Sim {
    config: SimConfig,
    started: Instant,
    rng: Mutex<fastrand::Rng>,
    faults: RwLock<Vec<Fault>>,
    /// Endpoint name → (model, region).
    endpoints: HashMap<String, (String, String)>,
    pools: Mutex<HashMap<(ProviderModel, String), Pool>>,
    jobs: Mutex<HashMap<String, Job>>,
    next_job: AtomicU64,
}

impl Sim {
    fn new(config: SimConfig) -> Self {
        let endpoints = config
            .cells
            .iter()
            .map(|(m, r)| (SimConfig::endpoint_name(m, r), (m.clone(), r.clone())))
            .collect();
        Self {
            rng: Mutex::new(fastrand::Rng::with_seed(config.seed)),
            started: Instant::now(),
            faults: RwLock::new(Vec::new()),
            endpoints,
            pools: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            next_job: AtomicU64::new(1),
            config,
        }
    }

    fn now_ms(&self) -> u64 {
        (self.started.elapsed().as_secs_f64() * self.config.time_scale * 1000.0) as u64
    }

    /// A simulated duration in real time.
    fn real(&self, d: Duration) -> Duration {
        d.div_f64(self.config.time_scale.max(1e-9))
    }

    /// Faults first, then a worker: either an early answer or how the request starts.
    async fn admit(&self, provider: ProviderModel, endpoint: &str) -> Result<Start, Reject> {
        let Some((model, region)) = self.endpoints.get(endpoint) else {
            return Err(Reject::Error(StatusCode::NOT_FOUND, "endpoint not found"));
        };
        let name = match provider {
            ProviderModel::RunPod => "runpod",
            ProviderModel::Modal => "modal",
        };
        let verdict = {
            let faults = self.faults.read().await;
            let mut rng = self.rng.lock().await;
            judge(&faults, name, model, region, || rng.f64())
        };
        let multiplier = match verdict {
            Verdict::Pass { latency_multiplier } => latency_multiplier,
            Verdict::Outage => {
                return Err(Reject::Error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no workers available",
                ));
            }
            Verdict::RateLimited => {
                return Err(Reject::Error(StatusCode::TOO_MANY_REQUESTS, "rate limited"));
            }
            Verdict::ServerError => {
                return Err(Reject::Error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                ));
            }
            Verdict::Malformed => return Err(Reject::Malformed),
            Verdict::Hang => {
                // Never answers (the client's timeout ends it).
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return Err(Reject::Error(StatusCode::GATEWAY_TIMEOUT, "hung"));
            }
        };
        let now = self.now_ms();
        let mut rng = self.rng.lock().await;
        let mut pools = self.pools.lock().await;
        let pool = pools
            .entry((provider, endpoint.to_string()))
            .or_insert_with(|| Pool::new(provider));
        Ok(pool.start(now, &mut rng, multiplier))
    }

    fn job_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{:08x}",
            self.next_job.fetch_add(1, Ordering::Relaxed)
        )
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// An early answer instead of a result (small, unlike a `Response`).
enum Reject {
    Error(StatusCode, &'static str),
    /// 200 with a body that is not JSON.
    Malformed,
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        match self {
            Reject::Error(status, message) => error(status, message),
            Reject::Malformed => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                "<html>upstream hiccup",
            )
                .into_response(),
        }
    }
}

fn runpod_auth(sim: &Sim, headers: &HeaderMap) -> Result<(), Reject> {
    let expected = format!("Bearer {}", sim.config.runpod_key);
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) if v == expected => Ok(()),
        _ => Err(Reject::Error(StatusCode::UNAUTHORIZED, "Unauthorized")),
    }
}

fn has_input(body: &Value) -> Result<(), Reject> {
    match body.get("input") {
        Some(Value::Object(_)) => Ok(()),
        _ => Err(Reject::Error(
            StatusCode::BAD_REQUEST,
            "body must be {\"input\": {...}}",
        )),
    }
}

fn output(start: &Start) -> Value {
    json!({ "text": "ok", "tokens": 16, "cold": start.cold })
}

fn completed(id: &str, start: &Start, worker: &str) -> Value {
    json!({
        "id": id,
        "status": "COMPLETED",
        "delayTime": start.delay.as_millis() as u64,
        "executionTime": start.execution.as_millis() as u64,
        "output": output(start),
        "workerId": worker,
    })
}

/// What `/runsync` and `/run` check before a job starts: key, body, faults, a worker.
async fn accept_runpod(
    sim: &Sim,
    endpoint: &str,
    headers: &HeaderMap,
    body: Option<Json<Value>>,
) -> Result<Start, Reject> {
    runpod_auth(sim, headers)?;
    let Some(Json(body)) = body else {
        return Err(Reject::Error(StatusCode::BAD_REQUEST, "body must be JSON"));
    };
    has_input(&body)?;
    sim.admit(ProviderModel::RunPod, endpoint).await
}

/// How long a finished job's result stays readable on `/status` (RunPod keeps
/// async results for 30 minutes), in simulated time.
const JOB_RETENTION: Duration = Duration::from_secs(30 * 60);

/// Keeps a job for `/status` and `/health`; finished jobs past the retention
/// are dropped now and then, so the table stays bounded.
async fn queue(sim: &Sim, id: &str, endpoint: &str, start: Start) {
    let accepted_at = sim.now_ms();
    let mut jobs = sim.jobs.lock().await;
    if sim.next_job.load(Ordering::Relaxed).is_multiple_of(256) {
        let keep = JOB_RETENTION.as_millis() as u64;
        jobs.retain(|_, j| {
            let done = j.accepted_at + (j.start.delay + j.start.execution).as_millis() as u64;
            done + keep > accepted_at
        });
    }
    jobs.insert(
        id.to_string(),
        Job {
            endpoint: endpoint.to_string(),
            accepted_at,
            start,
        },
    );
}

async fn runsync(
    State(sim): State<Arc<Sim>>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let start = match accept_runpod(&sim, &endpoint, &headers, body).await {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let id = sim.job_id("sync");
    let total = start.delay + start.execution;
    if total <= sim.config.runsync_wait {
        tokio::time::sleep(sim.real(total)).await;
        bump_completed(&sim, &endpoint).await;
        return Json(completed(&id, &start, &format!("w-{endpoint}"))).into_response();
    }
    // Longer than the wait window: answer in progress, then /status tells.
    queue(&sim, &id, &endpoint, start).await;
    tokio::time::sleep(sim.real(sim.config.runsync_wait)).await;
    let status = if sim.config.runsync_wait < start.delay {
        "IN_QUEUE"
    } else {
        "IN_PROGRESS"
    };
    Json(json!({ "id": id, "status": status })).into_response()
}

async fn bump_completed(sim: &Sim, endpoint: &str) {
    if let Some(pool) = sim
        .pools
        .lock()
        .await
        .get_mut(&(ProviderModel::RunPod, endpoint.to_string()))
    {
        pool.completed += 1;
    }
}

async fn run(
    State(sim): State<Arc<Sim>>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let start = match accept_runpod(&sim, &endpoint, &headers, body).await {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let id = sim.job_id("job");
    queue(&sim, &id, &endpoint, start).await;
    Json(json!({ "id": id, "status": "IN_QUEUE" })).into_response()
}

async fn status(
    State(sim): State<Arc<Sim>>,
    Path((endpoint, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = runpod_auth(&sim, &headers) {
        return r.into_response();
    }
    if !sim.endpoints.contains_key(&endpoint) {
        return error(StatusCode::NOT_FOUND, "endpoint not found");
    }
    let now = sim.now_ms();
    let jobs = sim.jobs.lock().await;
    let Some(j) = jobs.get(&job).filter(|j| j.endpoint == endpoint) else {
        return error(StatusCode::NOT_FOUND, "job not found");
    };
    let elapsed = Duration::from_millis(now.saturating_sub(j.accepted_at));
    let body = if elapsed < j.start.delay {
        json!({ "id": job, "status": "IN_QUEUE" })
    } else if elapsed < j.start.delay + j.start.execution {
        json!({ "id": job, "status": "IN_PROGRESS", "delayTime": j.start.delay.as_millis() as u64 })
    } else {
        completed(&job, &j.start, &format!("w-{endpoint}"))
    };
    Json(body).into_response()
}

async fn health(
    State(sim): State<Arc<Sim>>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = runpod_auth(&sim, &headers) {
        return r.into_response();
    }
    if !sim.endpoints.contains_key(&endpoint) {
        return error(StatusCode::NOT_FOUND, "endpoint not found");
    }
    let now = sim.now_ms();
    let (idle, running, initializing, completed, failed) = {
        let mut pools = sim.pools.lock().await;
        match pools.get_mut(&(ProviderModel::RunPod, endpoint.clone())) {
            Some(pool) => {
                let (idle, running, initializing) = pool.census(now);
                (idle, running, initializing, pool.completed, pool.failed)
            }
            None => (0, 0, 0, 0, 0),
        }
    };
    let (mut in_queue, mut in_progress) = (0u64, 0u64);
    for j in sim
        .jobs
        .lock()
        .await
        .values()
        .filter(|j| j.endpoint == endpoint)
    {
        let elapsed = Duration::from_millis(now.saturating_sub(j.accepted_at));
        if elapsed < j.start.delay {
            in_queue += 1;
        } else if elapsed < j.start.delay + j.start.execution {
            in_progress += 1;
        }
    }
    Json(json!({
        "jobs": { "completed": completed, "failed": failed, "inProgress": in_progress, "inQueue": in_queue, "retried": 0 },
        "workers": { "idle": idle, "initializing": initializing, "ready": idle, "running": running, "throttled": 0, "unhealthy": 0 },
    }))
    .into_response()
}

async fn modal(
    State(sim): State<Arc<Sim>>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let header_is =
        |name: &str, want: &str| headers.get(name).and_then(|v| v.to_str().ok()) == Some(want);
    if !header_is("modal-key", &sim.config.modal_key)
        || !header_is("modal-secret", &sim.config.modal_secret)
    {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or invalid Modal-Key / Modal-Secret",
        );
    }
    if body.is_none() {
        return error(StatusCode::BAD_REQUEST, "body must be JSON");
    }
    let start = match sim.admit(ProviderModel::Modal, &endpoint).await {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    tokio::time::sleep(sim.real(start.delay + start.execution)).await;
    Json(json!({ "output": output(&start), "execution_ms": start.execution.as_millis() as u64 }))
        .into_response()
}

async fn get_faults(State(sim): State<Arc<Sim>>) -> Response {
    Json(json!(*sim.faults.read().await)).into_response()
}

/// Replaces the fault rules with the posted list (`[]` clears them).
async fn set_faults(State(sim): State<Arc<Sim>>, body: Option<Json<Vec<Fault>>>) -> Response {
    let Some(Json(faults)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected a JSON list of fault rules",
        );
    };
    *sim.faults.write().await = faults.clone();
    Json(json!(faults)).into_response()
}
