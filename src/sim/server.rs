//! The HTTP side of the simulator (axum on loopback).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
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
    /// Binds (e.g. `127.0.0.1:0`) and serves until `stop`; the fault API
    /// is open to anyone who can connect (loopback).
    pub async fn start(config: SimConfig, bind: SocketAddr) -> std::io::Result<Simulator> {
        Self::start_with(config, bind, None).await
    }

    /// [`Self::start`]; with a `fault_token`, `/sim/faults` answers only
    /// requests bearing `Authorization: Bearer <token>` (401 otherwise): what
    /// a simulator reachable from other machines needs.
    pub async fn start_with(
        config: SimConfig,
        bind: SocketAddr,
        fault_token: Option<String>,
    ) -> std::io::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Sim::new(config, fault_token));
        let app = Router::new()
            .route("/runpod/v2/{endpoint}/runsync", post(runsync))
            .route("/runpod/v2/{endpoint}/run", post(run))
            .route("/runpod/v2/{endpoint}/status/{job}", get(status))
            .route("/runpod/v2/{endpoint}/stream/{job}", get(stream))
            .route("/runpod/v2/{endpoint}/cancel/{job}", post(cancel))
            .route("/runpod/v2/{endpoint}/purge-queue", post(purge_queue))
            .route("/runpod/v2/{endpoint}/health", get(health))
            .route("/modal/{endpoint}", post(modal))
            .route("/sim/faults", get(get_faults).post(set_faults))
            .fallback(unknown_route)
            .layer(axum::middleware::map_response(json_errors))
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

    /// `http://127.0.0.1:PORT`: what `{sim}` stands for in a profile. Bound
    /// to every interface (`0.0.0.0`, `::`), it is reached here on loopback.
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}")
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
    /// How long its result stays readable once the job has ended (simulated ms).
    keep_ms: u64,
    /// Simulated ms, when cancelled before it was done.
    cancelled_at: Option<u64>,
    /// A `/runsync` that answered COMPLETED: done, whatever the clock's rounding.
    finished: bool,
    /// Already in its endpoint's `completed` figure.
    counted: bool,
}

/// Where a job is, as RunPod names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    InQueue,
    InProgress,
    Completed,
    Cancelled,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::InQueue => "IN_QUEUE",
            Phase::InProgress => "IN_PROGRESS",
            Phase::Completed => "COMPLETED",
            Phase::Cancelled => "CANCELLED",
        }
    }
}

impl Job {
    fn phase(&self, now: u64) -> Phase {
        if self.cancelled_at.is_some() {
            return Phase::Cancelled;
        }
        if self.finished {
            return Phase::Completed;
        }
        let elapsed = Duration::from_millis(now.saturating_sub(self.accepted_at));
        if elapsed < self.start.delay {
            Phase::InQueue
        } else if elapsed < self.start.delay + self.start.execution {
            Phase::InProgress
        } else {
            Phase::Completed
        }
    }

    /// Simulated ms when it ended (or will).
    fn ended_at(&self) -> u64 {
        self.cancelled_at.unwrap_or_else(|| {
            self.accepted_at + (self.start.delay + self.start.execution).as_millis() as u64
        })
    }

    /// Ended longer ago than its result is kept.
    fn expired(&self, now: u64) -> bool {
        now >= self.ended_at() + self.keep_ms
    }

    /// The job object of `/status/{id}`.
    fn body(&self, id: &str, now: u64) -> Value {
        match self.phase(now) {
            Phase::InProgress => json!({
                "id": id,
                "status": "IN_PROGRESS",
                "delayTime": self.start.delay.as_millis() as u64,
            }),
            Phase::Completed => completed(id, &self.start, &format!("w-{}", self.endpoint)),
            phase => json!({ "id": id, "status": phase.label() }),
        }
    }
}

/// The jobs `/status`, `/stream`, `/cancel`, `/purge-queue` and `/health`
/// know of.
#[derive(Default)]
struct Jobs {
    table: HashMap<String, Job>,
    /// Per endpoint, jobs completed since the start (`/run` and `/runsync`
    /// alike, however long they took): RunPod's health `completed`.
    completed: HashMap<String, u64>,
}

impl Jobs {
    /// Counts the jobs that have completed since the last look.
    fn settle(&mut self, now: u64) {
        let Jobs { table, completed } = self;
        for job in table.values_mut() {
            if !job.counted && job.phase(now) == Phase::Completed {
                job.counted = true;
                *completed.entry(job.endpoint.clone()).or_default() += 1;
            }
        }
    }

    /// A job of `endpoint` whose result is still kept.
    fn get_mut(&mut self, endpoint: &str, id: &str, now: u64) -> Option<&mut Job> {
        self.table
            .get_mut(id)
            .filter(|j| j.endpoint == endpoint && !j.expired(now))
    }
}

struct Sim {
    config: SimConfig,
    started: Instant,
    rng: Mutex<fastrand::Rng>,
    faults: RwLock<Vec<Fault>>,
    /// When set, `/sim/faults` needs `Authorization: Bearer <token>`.
    fault_token: Option<String>,
    /// Endpoint name → (model, region).
    endpoints: HashMap<String, (String, String)>,
    pools: Mutex<HashMap<(ProviderModel, String), Pool>>,
    jobs: Mutex<Jobs>,
    next_job: AtomicU64,
}

impl Sim {
    fn new(config: SimConfig, fault_token: Option<String>) -> Self {
        let endpoints = config
            .cells
            .iter()
            .map(|(m, r)| (SimConfig::endpoint_name(m, r), (m.clone(), r.clone())))
            .collect();
        Self {
            rng: Mutex::new(fastrand::Rng::with_seed(config.seed)),
            started: Instant::now(),
            faults: RwLock::new(Vec::new()),
            fault_token,
            endpoints,
            pools: Mutex::new(HashMap::new()),
            jobs: Mutex::new(Jobs::default()),
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

/// Any path the simulator does not serve.
async fn unknown_route() -> Response {
    error(StatusCode::NOT_FOUND, "no such route")
}

/// Every error answer is `{"error": "…"}`: those axum writes itself (405 for
/// a known path with another method, 413, …) have an empty body.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        return error(status, status.canonical_reason().unwrap_or("error"));
    }
    response
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

/// RunPod takes the key as `Authorization: Bearer <key>` or bare
/// (`Authorization: <key>`).
fn runpod_auth(sim: &Sim, headers: &HeaderMap) -> Result<(), Reject> {
    let key = sim.config.runpod_key.as_str();
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) if v.strip_prefix("Bearer ").unwrap_or(v) == key => Ok(()),
        _ => Err(Reject::Error(StatusCode::UNAUTHORIZED, "Unauthorized")),
    }
}

/// The key, then the endpoint: what every RunPod route but `/run` and
/// `/runsync` checks first.
fn runpod_endpoint(sim: &Sim, endpoint: &str, headers: &HeaderMap) -> Result<(), Reject> {
    runpod_auth(sim, headers)?;
    if !sim.endpoints.contains_key(endpoint) {
        return Err(Reject::Error(StatusCode::NOT_FOUND, "endpoint not found"));
    }
    Ok(())
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

/// How long a finished job's result stays readable on `/status` (RunPod
/// keeps async results for 30 minutes), in simulated time.
const JOB_RETENTION: Duration = Duration::from_secs(30 * 60);
/// The same for a `/runsync` result: about a minute.
const RUNSYNC_RETENTION: Duration = Duration::from_secs(60);
/// Whatever the time scale, a result stays at least this long in real time:
/// at 1,000× a simulated minute is 60 ms, less than a busy machine may take
/// between a job's end and the client's next poll.
const MIN_REAL_RETENTION: Duration = Duration::from_secs(5);

/// Keeps a job for `/status` and `/health`; jobs past their retention are
/// dropped now and then (counted first), so the table stays bounded.
async fn queue(sim: &Sim, id: &str, endpoint: &str, start: Start, retention: Duration) {
    let accepted_at = sim.now_ms();
    let floor = MIN_REAL_RETENTION.as_secs_f64() * sim.config.time_scale * 1000.0;
    let keep_ms = (retention.as_millis() as f64).max(floor) as u64;
    let mut jobs = sim.jobs.lock().await;
    if sim.next_job.load(Ordering::Relaxed).is_multiple_of(256) {
        jobs.settle(accepted_at);
        jobs.table.retain(|_, j| !j.expired(accepted_at));
    }
    jobs.table.insert(
        id.to_string(),
        Job {
            endpoint: endpoint.to_string(),
            accepted_at,
            start,
            keep_ms,
            cancelled_at: None,
            finished: false,
            counted: false,
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
    let in_window = total <= sim.config.runsync_wait;
    // Kept like any job: `/status` serves the result for a minute, `/health`
    // counts it, `/cancel` and `/purge-queue` reach it meanwhile.
    queue(&sim, &id, &endpoint, start, RUNSYNC_RETENTION).await;
    let wait = if in_window {
        total
    } else {
        sim.config.runsync_wait
    };
    tokio::time::sleep(sim.real(wait)).await;
    let now = sim.now_ms();
    let mut jobs = sim.jobs.lock().await;
    let body = match jobs.table.get_mut(&id) {
        Some(job) => {
            if in_window && job.cancelled_at.is_none() {
                job.finished = true;
            }
            job.body(&id, now)
        }
        // Purged from the queue meanwhile.
        None => json!({ "id": id, "status": "CANCELLED" }),
    };
    Json(body).into_response()
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
    queue(&sim, &id, &endpoint, start, JOB_RETENTION).await;
    Json(json!({ "id": id, "status": "IN_QUEUE" })).into_response()
}

/// The answer about one kept job of an endpoint (after its auth), or 404.
async fn with_job(
    sim: &Sim,
    endpoint: &str,
    job: &str,
    headers: &HeaderMap,
    answer: impl FnOnce(&mut Job, u64) -> Response,
) -> Response {
    if let Err(r) = runpod_endpoint(sim, endpoint, headers) {
        return r.into_response();
    }
    let now = sim.now_ms();
    let mut jobs = sim.jobs.lock().await;
    match jobs.get_mut(endpoint, job, now) {
        Some(j) => answer(j, now),
        None => error(StatusCode::NOT_FOUND, "job not found"),
    }
}

async fn status(
    State(sim): State<Arc<Sim>>,
    Path((endpoint, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_job(&sim, &endpoint, &job, &headers, |j, now| {
        Json(j.body(&job, now)).into_response()
    })
    .await
}

/// `GET /stream/{id}`: what the job has streamed so far; a job of this
/// simulator streams its whole output as one chunk when it completes.
async fn stream(
    State(sim): State<Arc<Sim>>,
    Path((endpoint, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_job(&sim, &endpoint, &job, &headers, |j, now| {
        let phase = j.phase(now);
        let chunks = if phase == Phase::Completed {
            json!([{ "output": output(&j.start) }])
        } else {
            json!([])
        };
        Json(json!({ "status": phase.label(), "stream": chunks })).into_response()
    })
    .await
}

/// `POST /cancel/{id}`: a job not yet done ends CANCELLED; one that has
/// ended keeps its state. Either way the answer is `{"id", "status"}`.
async fn cancel(
    State(sim): State<Arc<Sim>>,
    Path((endpoint, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_job(&sim, &endpoint, &job, &headers, |j, now| {
        if matches!(j.phase(now), Phase::InQueue | Phase::InProgress) {
            j.cancelled_at = Some(now);
        }
        Json(json!({ "id": job, "status": j.phase(now).label() })).into_response()
    })
    .await
}

/// `POST /purge-queue`: drops the endpoint's jobs still in the queue (not
/// those running).
async fn purge_queue(
    State(sim): State<Arc<Sim>>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = runpod_endpoint(&sim, &endpoint, &headers) {
        return r.into_response();
    }
    let now = sim.now_ms();
    let mut jobs = sim.jobs.lock().await;
    let before = jobs.table.len();
    jobs.table
        .retain(|_, j| !(j.endpoint == endpoint && j.phase(now) == Phase::InQueue));
    let removed = before - jobs.table.len();
    Json(json!({ "removed": removed, "status": "completed" })).into_response()
}

async fn health(
    State(sim): State<Arc<Sim>>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = runpod_endpoint(&sim, &endpoint, &headers) {
        return r.into_response();
    }
    let now = sim.now_ms();
    let (idle, running, initializing, failed) = {
        let mut pools = sim.pools.lock().await;
        match pools.get_mut(&(ProviderModel::RunPod, endpoint.clone())) {
            Some(pool) => {
                let (idle, running, initializing) = pool.census(now);
                (idle, running, initializing, pool.failed)
            }
            None => (0, 0, 0, 0),
        }
    };
    let (mut in_queue, mut in_progress) = (0u64, 0u64);
    let completed = {
        let mut jobs = sim.jobs.lock().await;
        jobs.settle(now);
        for j in jobs.table.values().filter(|j| j.endpoint == endpoint) {
            match j.phase(now) {
                Phase::InQueue => in_queue += 1,
                Phase::InProgress => in_progress += 1,
                Phase::Completed | Phase::Cancelled => {}
            }
        }
        jobs.completed.get(&endpoint).copied().unwrap_or(0)
    };
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

/// With a fault token set, the fault API answers only its bearer.
fn fault_auth(sim: &Sim, headers: &HeaderMap) -> Result<(), Reject> {
    let Some(token) = &sim.fault_token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
        Ok(())
    } else {
        Err(Reject::Error(
            StatusCode::UNAUTHORIZED,
            "the fault API needs Authorization: Bearer <the simulator's fault token>",
        ))
    }
}

/// Equal, in a time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn get_faults(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    if let Err(r) = fault_auth(&sim, &headers) {
        return r.into_response();
    }
    Json(json!(*sim.faults.read().await)).into_response()
}

/// Replaces the fault rules with the posted list (`[]` clears them). A list
/// with any rule out of range is refused whole (400), the rules in force kept.
async fn set_faults(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Result<Json<Vec<Fault>>, JsonRejection>,
) -> Response {
    if let Err(r) = fault_auth(&sim, &headers) {
        return r.into_response();
    }
    let faults = match body {
        Ok(Json(faults)) => faults,
        Err(rejection) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "expected a JSON list of fault rules: {}",
                    rejection.body_text()
                ),
            );
        }
    };
    for (i, fault) in faults.iter().enumerate() {
        if let Err(why) = fault.validate() {
            return error(StatusCode::BAD_REQUEST, &format!("fault rule {i}: {why}"));
        }
    }
    *sim.faults.write().await = faults.clone();
    Json(json!(faults)).into_response()
}
