//! The probe scheduler: one small request per (cell, provider) every
//! interval, with jitter so probes do not march in step, a bound on how many
//! are in flight, and RunPod `/health` polled alongside. Results land in
//! fixed-size windows, so memory stays bounded however long it runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use tokio::sync::{Semaphore, watch};

use crate::domain::CellId;
use crate::fleet::{Clients, Target};
use crate::providers::runpod::Health;

use super::window::{Figures, Outcome, Windows};

impl ProbeConfig {
    /// The profile's settings; a cold start is a delay at or above the SLO's bound.
    pub fn from_profile(profile: &crate::config::Profile, deadline: Duration) -> Self {
        let t = &profile.telemetry;
        Self {
            interval: t.probe_interval,
            jitter: t.probe_jitter,
            concurrency: t.probe_concurrency,
            health_interval: t.health_interval,
            max_per_second: t.max_probes_per_second,
            skip_with_traffic: !t.probe_with_traffic,
            deadline,
            cold_bound: Duration::from_millis(profile.slo.cold_start_ms as u64),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ProbeConfig {
    pub interval: Duration,
    /// ± this share of the interval, at random.
    pub jitter: f64,
    /// Probes in flight at once, in all.
    pub concurrency: usize,
    /// RunPod `/health` per endpoint at most this often.
    pub health_interval: Duration,
    /// Probes a second at most, over every target: the interval stretches.
    pub max_per_second: f64,
    /// No probe where the routers see traffic to that provider.
    pub skip_with_traffic: bool,
    pub deadline: Duration,
    /// A cold start is a queue delay at or above this.
    pub cold_bound: Duration,
}

/// One (cell, provider) as the probes see it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub figures: Figures,
    pub recent: Vec<u32>,
    /// The last start delays (ms), for their distribution.
    pub delays: Vec<u32>,
    pub health: Option<Health>,
}

/// What the probes have seen, per (cell, provider).
pub struct Telemetry {
    started: Instant,
    /// Telemetry seconds per real second (1 but in soak tests, where an hour
    /// of history is made in minutes).
    clock_scale: f64,
    // Plain locks, never held across an await; Fx hashing, as every probe
    // looks its window up.
    windows: Mutex<FxHashMap<(CellId, String), Windows>>,
    /// (cell, provider) the routers served in their last scrape.
    with_traffic: Mutex<rustc_hash::FxHashSet<(CellId, String)>>,
    /// Samples recorded since the start.
    recorded: AtomicU64,
    health: Mutex<FxHashMap<(CellId, String), Health>>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        Self::with_clock_scale(1.0)
    }

    /// The (cell, provider) pairs the routers just served (each scrape
    /// replaces them): probes there are skipped unless asked for.
    pub fn set_traffic(&self, served: impl IntoIterator<Item = (CellId, String)>) {
        let mut seen = self
            .with_traffic
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.clear();
        seen.extend(served);
    }

    pub fn has_traffic(&self, key: &(CellId, String)) -> bool {
        self.with_traffic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    pub fn with_clock_scale(clock_scale: f64) -> Self {
        Self {
            started: Instant::now(),
            clock_scale: clock_scale.max(1e-9),
            windows: Mutex::default(),
            with_traffic: Mutex::default(),
            recorded: Default::default(),
            health: Mutex::default(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed().mul_f64(self.clock_scale)
    }

    fn record(&self, key: &(CellId, String), outcome: Outcome) {
        let at = self.elapsed();
        self.recorded.fetch_add(1, Ordering::Relaxed);
        let mut windows = lock(&self.windows);
        if let Some(w) = windows.get_mut(key) {
            w.record(at, outcome);
            return;
        }
        // 30 s slots over 5 minutes: 10 small histograms per endpoint.
        let mut w = Windows::new(Duration::from_secs(30), Duration::from_secs(300), 60);
        w.record(at, outcome);
        windows.insert(key.clone(), w);
    }

    /// A request made outside the probes (a warmup) that still tells how
    /// the endpoint is doing.
    pub fn record_sample(&self, cell: &CellId, provider: &str, outcome: Outcome) {
        self.record(&(cell.clone(), provider.to_string()), outcome);
    }

    /// Figures over the last `window` for one (cell, provider).
    pub fn figures(&self, cell: &CellId, provider: &str, window: Duration) -> Option<Figures> {
        let now = self.elapsed();
        let windows = lock(&self.windows);
        windows
            .get(&(cell.clone(), provider.to_string()))
            .map(|w| w.figures(now, window))
    }

    /// Every (cell, provider) at once, for a screen refresh: figures over
    /// `window`, the recent latencies and the last RunPod health.
    pub fn all(&self, window: Duration) -> HashMap<(CellId, String), Probed> {
        let now = self.elapsed();
        let health = lock(&self.health).clone();
        let windows = lock(&self.windows);
        windows
            .iter()
            .map(|(key, w)| {
                (
                    key.clone(),
                    Probed {
                        figures: w.figures(now, window),
                        recent: w.recent.iter().copied().collect(),
                        delays: w.delays.iter().copied().collect(),
                        health: health.get(key).copied(),
                    },
                )
            })
            .collect()
    }

    pub fn health(&self, cell: &CellId, provider: &str) -> Option<Health> {
        lock(&self.health)
            .get(&(cell.clone(), provider.to_string()))
            .copied()
    }

    /// Samples recorded since the start (probes and warmups).
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }

    /// (targets seen, slots held in all): both bounded by the matrix size.
    pub fn footprint(&self) -> (usize, usize) {
        let windows = lock(&self.windows);
        (
            windows.len(),
            windows.values().map(Windows::slots_held).sum(),
        )
    }
}

/// Runs probes for every target until `stop` turns true.
pub async fn run_probes(
    clients: Arc<Clients>,
    targets: Vec<Target>,
    config: ProbeConfig,
    telemetry: Arc<Telemetry>,
    stop: watch::Receiver<bool>,
) {
    let gate = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let epoch = Instant::now();
    // The budget: every target once per interval, at most so many a second.
    let mut config = config;
    config.interval = config.interval.max(Duration::from_secs_f64(
        targets.len() as f64 / config.max_per_second.max(0.001),
    ));
    // A JoinSet: if this task is aborted, every probe task goes with it.
    let mut tasks = tokio::task::JoinSet::new();
    for (i, target) in targets.into_iter().enumerate() {
        let (clients, telemetry, gate, mut stop) = (
            clients.clone(),
            telemetry.clone(),
            gate.clone(),
            stop.clone(),
        );
        tasks.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(i as u64);
            let key = (target.cell.clone(), target.provider.clone());
            let mut last_health: Option<Instant> = None;
            // The first probe at a random point of the first interval, so
            // targets start spread out and figures appear within one interval.
            let mut spread = rng.f64();
            loop {
                let due = on_grid(
                    epoch,
                    Instant::now() + config.interval.mul_f64(spread.max(0.0)),
                );
                tokio::select! {
                    _ = tokio::time::sleep_until(due.into()) => {}
                    _ = stop.changed() => return,
                }
                if *stop.borrow() {
                    return;
                }
                spread = 1.0 + config.jitter * (rng.f64() * 2.0 - 1.0);
                // Real traffic says more than a probe, and costs nothing.
                if config.skip_with_traffic && telemetry.has_traffic(&key) {
                    continue;
                }
                let Ok(_permit) = gate.clone().acquire_owned().await else {
                    return;
                };
                let sample = clients.request(&target, config.deadline).await;
                let cold = sample
                    .cold_ms
                    .is_some_and(|c| Duration::from_millis(c) >= config.cold_bound);
                telemetry.record(
                    &key,
                    Outcome {
                        latency: sample.latency,
                        error: sample.error,
                        cold,
                        delay_ms: sample.cold_ms,
                    },
                );
                if last_health.is_none_or(|at| at.elapsed() >= config.health_interval) {
                    last_health = Some(Instant::now());
                    if let Some(health) = clients.health(&target).await {
                        lock(&telemetry.health).insert(key.clone(), health);
                    }
                }
            }
        });
    }
    tasks.join_all().await;
}

/// Probe start times rounded up to a 10 ms grid: probes due within the same
/// 10 ms start on one wake-up of the process rather than one each.
fn on_grid(epoch: Instant, due: Instant) -> Instant {
    const GRID_MS: u128 = 10;
    let ms = due
        .saturating_duration_since(epoch)
        .as_millis()
        .div_ceil(GRID_MS)
        * GRID_MS;
    epoch + Duration::from_millis(ms as u64)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere leaves figures, not broken invariants: keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
