//! Live measurement of a profile, for `status --live` and the console: probes
//! per (cell, provider), RunPod worker states, and each region's router
//! metrics scraped at the profile's interval (observed share per cell, the
//! revision each region applies). On the demo the simulator and a router per
//! region run in-process; otherwise the routers are the profile's `[[routers]]`.

use crate::sim::announce::Announcement;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::config::Profile;
use crate::domain::{Id, Selection};
use crate::providers::{HttpClient, ProviderUrl, RetryPolicy};
use crate::sim::{DemoKeys, RouterSettings, SimRouter, start_routers};
use crate::telemetry::probes::{ProbeConfig, Telemetry, run_probes};
use crate::telemetry::{CellTraffic, RouterSnapshot, parse_router_metrics};

use super::OpsError;
use crate::fleet::Clients;

/// Scrapes kept per region: enough for a few minutes of "served" shares at
/// any scrape interval the profile allows.
const SCRAPES_KEPT: usize = 64;

/// What one region's router says, as last scraped.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionStatus {
    pub region: Id,
    /// The flag revision this region applies (`None` before a good scrape).
    pub applied_revision: Option<u64>,
    /// Why the last scrape failed, if it did (the figures then are older).
    pub error: Option<String>,
    /// Seconds since the last good scrape.
    pub age: Option<Duration>,
}

struct Region {
    region: Id,
    url: Result<ProviderUrl, String>,
    scrapes: VecDeque<(Instant, RouterSnapshot)>,
    error: Option<String>,
    /// Scrapes tried, good or not.
    attempts: u64,
}

/// Probes and scrapes running in the background until [`Monitor::stop`].
pub struct Monitor {
    pub clients: Arc<Clients>,
    pub telemetry: Arc<Telemetry>,
    regions: Arc<Mutex<Vec<Region>>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The demo's routers this monitor runs, by region.
    sim_routers: Vec<(String, SimRouter)>,
    /// The demo simulator of another process, where this one shares it.
    shared: Option<Announcement>,
    /// Set once that simulator stopped answering.
    shared_gone: Arc<std::sync::atomic::AtomicBool>,
}

/// Watches a shared demo simulator: three refused connects in a row, a
/// second apart, and it is gone (its process ended).
async fn watch_shared(
    base: String,
    gone: Arc<std::sync::atomic::AtomicBool>,
    mut stopped: watch::Receiver<bool>,
) {
    let Some(addr) = base.strip_prefix("http://").map(str::to_string) else {
        return;
    };
    let mut refused = 0;
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let reached = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(&addr),
        )
        .await;
        refused = if matches!(reached, Ok(Ok(_))) {
            0
        } else {
            refused + 1
        };
        if refused >= 3 {
            gone.store(true, std::sync::atomic::Ordering::Relaxed);
            return;
        }
    }
}

/// A demo simulator another process runs on this profile's state
/// directory, with its routers, if one answers there.
fn shared_demo(profile: &Profile) -> Option<Announcement> {
    profile.simulator.as_ref()?;
    let found = crate::sim::announce::running(profile.store_path()?.parent()?)?;
    (!found.routers.is_empty()).then_some(found)
}

impl Monitor {
    /// Starts measuring every cell of `profile`.
    pub async fn start(
        profile: &Profile,
        time_scale: Option<f64>,
        request_timeout: Duration,
    ) -> Result<Monitor, OpsError> {
        // On the demo, a simulator another console or guard runs beside this
        // one (announced in the state directory, with its routers) is
        // shared: one world, where its faults show to both.
        let shared = shared_demo(profile);
        // Probes are not retried: a 500 that a retry would hide is an error.
        let clients = Arc::new(
            Clients::for_profile_on(
                profile,
                time_scale,
                request_timeout,
                RetryPolicy::ONCE,
                shared.as_ref().map(|a| a.base.clone()),
            )
            .await?,
        );
        let mut targets = clients.targets(profile, &Selection::All, None)?;
        // A provider without credentials is not probed: its figures are
        // shown as unavailable, with the reason, rather than as errors.
        targets.retain(|t| !clients.unavailable().contains_key(&t.provider));
        let http = clients.http();

        let mut sim_routers = Vec::new();
        let mut regions = Vec::new();
        if let Some(shared) = &shared {
            for (region, url) in &shared.routers {
                regions.push(Region::new(Id::from(region.as_str()), url));
            }
        } else if let (Some(sim), Some(base)) = (&profile.simulator, clients.sim_base()) {
            let settings = RouterSettings {
                requests_per_second: sim.requests_per_second,
                seed: sim.seed,
                request_deadline: request_timeout,
                reload_every: Duration::from_millis(200),
            };
            for (region, router) in
                start_routers(profile, &base, &DemoKeys::from_env(), &http, settings)
                    .await
                    .map_err(|e| crate::failure::Failure::new("start the routers", e))?
            {
                regions.push(Region::new(
                    Id::from(region.as_str()),
                    &format!("http://{}/metrics", router.addr),
                ));
                sim_routers.push((region, router));
            }
        } else {
            for r in &profile.routers {
                regions.push(Region::new(r.region.clone(), &r.metrics_url));
            }
        }
        let prometheus = prometheus_source(profile)?;
        if let Some((base, _)) = &prometheus {
            // Every region is read from Prometheus, by its `region` label.
            regions = profile
                .region_ids()
                .iter()
                .map(|r| Region::new(r.clone(), base))
                .collect();
        }
        let regions = Arc::new(Mutex::new(regions));

        let telemetry = Arc::new(Telemetry::new());
        let (stop, stopped) = watch::channel(false);
        let probes = tokio::spawn(run_probes(
            clients.clone(),
            targets,
            ProbeConfig::from_profile(profile, request_timeout),
            telemetry.clone(),
            stopped.clone(),
        ));
        let every = profile.telemetry.scrape_interval;
        let shared_gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        if let Some(found) = &shared {
            tasks.push(tokio::spawn(watch_shared(
                found.base.clone(),
                shared_gone.clone(),
                stopped.clone(),
            )));
        }
        let scraper = match prometheus {
            Some((base, token)) => tokio::spawn(prometheus_loop(
                http,
                (regions.clone(), telemetry.clone()),
                every,
                (base, token),
                stopped,
            )),
            None => tokio::spawn(scrape_loop(
                http,
                (regions.clone(), telemetry.clone()),
                every,
                stopped,
            )),
        };
        Ok(Monitor {
            clients,
            telemetry,
            regions,
            stop,
            tasks: {
                tasks.extend([probes, scraper]);
                tasks
            },
            sim_routers,
            shared,
            shared_gone,
        })
    }

    /// The shared demo simulator stopped answering: its process is gone,
    /// and every figure here with it (read without I/O: a task watches).
    pub fn shared_gone(&self) -> bool {
        self.shared_gone.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// On the demo, the simulator this monitor shares with the process that
    /// runs it (`None`: its own, or none).
    pub fn shared(&self) -> Option<&Announcement> {
        self.shared.as_ref()
    }

    /// Announces this monitor's own simulator and routers in the demo's
    /// state directory, for `status` to tell and other processes to share;
    /// nothing where it shares another's or runs none.
    pub fn announce(&self, profile: &Profile) -> Option<crate::sim::announce::Announced> {
        if self.shared.is_some() {
            return None;
        }
        let base = self.clients.sim_base()?;
        let dir = profile.store_path()?.parent()?;
        let routers = self
            .sim_routers
            .iter()
            .map(|(region, r)| (region.clone(), format!("http://{}/metrics", r.addr)))
            .collect();
        crate::sim::announce::announce(dir, &base, routers)
    }

    /// Each region's router, in profile order.
    pub async fn regions(&self) -> Vec<RegionStatus> {
        let now = Instant::now();
        self.regions
            .lock()
            .await
            .iter()
            .map(|r| {
                let last = r.scrapes.back();
                RegionStatus {
                    region: r.region.clone(),
                    applied_revision: last.and_then(|(_, s)| s.revision),
                    error: r.error.clone(),
                    age: last.map(|(at, _)| now.duration_since(*at)),
                }
            })
            .collect()
    }

    /// What the routers served per cell over about the last `window` (from
    /// the oldest scrape inside it to the newest), all regions together.
    pub async fn traffic(&self, window: Duration) -> Vec<CellTraffic> {
        self.traffic_since(window, 0).await
    }

    /// Like `traffic`, counting only what each region's router served once
    /// it applied `revision` or later: right after a rollback, the share is
    /// not diluted by traffic sent under the revision before. A region that
    /// has not applied it yet has no figures.
    pub async fn traffic_since(&self, window: Duration, revision: u64) -> Vec<CellTraffic> {
        let now = Instant::now();
        let regions = self.regions.lock().await;
        let mut out = Vec::new();
        for r in regions.iter() {
            let Some((newest_at, newest)) = r.scrapes.back() else {
                continue;
            };
            let applied = |s: &RouterSnapshot| s.revision.unwrap_or(0) >= revision;
            let oldest = r
                .scrapes
                .iter()
                .find(|(at, s)| newest_at.duration_since(*at) <= window && applied(s))
                .filter(|(at, _)| at != newest_at);
            if let Some((oldest_at, oldest)) = oldest {
                let span = newest_at.duration_since(*oldest_at);
                let age = now.duration_since(*newest_at);
                out.extend(newest.since(oldest).into_iter().map(|mut t| {
                    t.window = span;
                    t.age = age;
                    t
                }));
            }
        }
        out
    }

    /// Waits until every region's router has been tried at least `n` times
    /// (or `limit` passes): served shares need two good scrapes.
    pub async fn settle(&self, n: usize, limit: Duration) {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self
                .regions
                .lock()
                .await
                .iter()
                .all(|r| r.attempts >= n as u64 || r.url.is_err())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the probes, the scraper and the demo's routers at once: a probe
    /// in flight (a cold start can take seconds) is dropped, not waited for.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        for (_, r) in self.sim_routers {
            r.stop().await;
        }
    }
}

impl Region {
    /// A scrape's outcome: the snapshot kept (bounded), or why there is none.
    fn record(&mut self, at: Instant, result: Result<RouterSnapshot, String>) {
        match result {
            Ok(snapshot) => {
                if self.scrapes.len() == SCRAPES_KEPT {
                    self.scrapes.pop_front();
                }
                self.scrapes.push_back((at, snapshot));
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn new(region: Id, url: &str) -> Self {
        Self {
            region,
            url: ProviderUrl::parse(url).map_err(|e| e.to_string()),
            scrapes: VecDeque::with_capacity(SCRAPES_KEPT),
            error: None,
            attempts: 0,
        }
    }
}

async fn scrape_loop(
    http: HttpClient,
    (regions, telemetry): (Arc<Mutex<Vec<Region>>>, Arc<Telemetry>),
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let urls: Vec<_> = regions.lock().await.iter().map(|r| r.url.clone()).collect();
    let mut tick = ticker(every);
    while next_tick(&mut tick, &mut stop).await {
        // All regions at once: one slow router does not hold up the others.
        let mut scrapes = JoinSet::new();
        for (i, url) in urls.iter().enumerate() {
            let (http, url) = (http.clone(), url.clone());
            scrapes.spawn(async move {
                let scraped = async {
                    let url = url?;
                    let text = http.text(&url).await.map_err(|e| e.to_string())?;
                    parse_router_metrics(&text)
                        .map_err(|e| format!("{}: not the metrics contract: {e}", url.as_str()))
                };
                (i, scraped.await)
            });
        }
        let results = scrapes.join_all().await;
        let now = Instant::now();
        let mut regions = regions.lock().await;
        for (i, result) in results {
            let Some(region) = regions.get_mut(i) else {
                continue;
            };
            region.attempts += 1;
            region.record(now, result);
        }
        telemetry.set_traffic(served(&regions));
    }
}

/// `[telemetry] source = "prometheus"`: its URL and token (read now: a
/// token that cannot be read is said at start).
fn prometheus_source(
    profile: &Profile,
) -> Result<Option<(String, Option<crate::config::Secret>)>, OpsError> {
    let crate::config::MetricsSource::Prometheus { url, token } = &profile.telemetry.source else {
        return Ok(None);
    };
    let token = token
        .as_ref()
        .map(|t| {
            t.read()
                .map_err(|why| OpsError::Invalid(format!("telemetry.prometheus_token: {why}")))
        })
        .transpose()?;
    Ok(Some((url.clone(), token)))
}

/// The regions' snapshots from Prometheus at each interval (one query for
/// all); a region without fresh series has no data, said why.
async fn prometheus_loop(
    http: HttpClient,
    (regions, telemetry): (Arc<Mutex<Vec<Region>>>, Arc<Telemetry>),
    every: Duration,
    (base, token): (String, Option<crate::config::Secret>),
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = ticker(every);
    while next_tick(&mut tick, &mut stop).await {
        let answer =
            crate::telemetry::prometheus::query(&http, &base, token.as_ref(), every * 3).await;
        let now = Instant::now();
        let mut regions = regions.lock().await;
        for region in regions.iter_mut() {
            region.attempts += 1;
            let result = match &answer {
                Ok(by_region) => by_region.get(&*region.region).cloned().unwrap_or_else(|| {
                    Err(format!(
                        "Prometheus has no series of router {}",
                        region.region
                    ))
                }),
                Err(e) => Err(e.clone()),
            };
            region.record(now, result);
        }
        telemetry.set_traffic(served(&regions));
    }
}

/// The (cell, provider) pairs the routers served between their last two
/// scrapes: the probes leave them be (their figures are the routers').
fn served(regions: &[Region]) -> Vec<(crate::domain::CellId, String)> {
    let mut out = Vec::new();
    for region in regions {
        let mut last = region.scrapes.iter().rev();
        let (Some((_, newest)), Some((_, before))) = (last.next(), last.next()) else {
            continue;
        };
        for cell in newest.since(before) {
            for (provider, traffic) in &cell.providers {
                if traffic.requests > 0.0 {
                    out.push((cell.cell.clone(), provider.clone()));
                }
            }
        }
    }
    out
}

/// An interval that does not bunch up missed ticks.
fn ticker(every: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// The next tick; `false` once the monitor is stopped.
async fn next_tick(tick: &mut tokio::time::Interval, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tick.tick() => true,
        _ = stop.changed() => false,
    }
}
