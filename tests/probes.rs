//! The probe scheduler against the demo's simulator: every (cell, provider)
//! gets probed, RunPod worker states come from `/health`, and what is kept
//! stays bounded.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use beacon_console::config::{Profile, ProfileSource};
use beacon_console::domain::Selection;
use beacon_console::fleet::Clients;
use beacon_console::providers::RetryPolicy;
use beacon_console::telemetry::probes::{ProbeConfig, Telemetry, run_probes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_cover_every_endpoint_and_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, clients) = demo_clients(dir.path(), RetryPolicy::default()).await;
    let targets = clients.targets(&profile, &Selection::All, None).unwrap();
    assert_eq!(targets.len(), 18);
    let (telemetry, stop, runner) = start_probes(&clients, &targets, Duration::from_millis(20));

    // Wait until every endpoint has at least 5 probes in its 1-minute window.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut ready = 0;
        for t in &targets {
            if let Some(f) = telemetry.figures(&t.cell, &t.provider, Duration::from_secs(60))
                && f.requests >= 5
            {
                ready += 1;
            }
        }
        if ready == targets.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {ready} of {} endpoints probed",
            targets.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    runner.await.unwrap();

    let t = &targets[1];
    let f = telemetry
        .figures(&t.cell, &t.provider, Duration::from_secs(60))
        .unwrap();
    assert!(f.p50_ms.is_some() && f.p95_ms >= f.p50_ms, "{f:?}");
    let runpod = targets.iter().find(|t| t.provider == "runpod").unwrap();
    let health = telemetry
        .health(&runpod.cell, "runpod")
        .expect("RunPod /health polled");
    assert!(health.jobs.completed >= 1, "{health:?}");
    let (seen, slots) = telemetry.footprint();
    assert_eq!(seen, 18);
    assert!(slots <= 18 * 30, "windows are bounded: {slots} slots");
}

/// The console's probes are not retried: a RunPod answering 500 half the
/// time reads about half errors, not the one in eight that three attempts
/// would leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_errors_are_not_hidden_by_retries() {
    let share = error_share_at_half_errors(RetryPolicy::ONCE).await;
    assert!((0.35..=0.65).contains(&share), "error share {share}");
}

/// Probes of every RunPod endpoint with 50 % of its answers 500: the share
/// of probes counted as errors.
async fn error_share_at_half_errors(retry: RetryPolicy) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let profile = Profile::load(&ProfileSource::Demo {
        state_dir: dir.path().to_path_buf(),
    })
    .unwrap();
    let clients = Arc::new(
        Clients::for_profile(&profile, Some(200.0), Duration::from_secs(5), retry)
            .await
            .unwrap(),
    );
    let base = clients.sim_base().unwrap();
    let url = beacon_console::providers::ProviderUrl::parse(&format!("{base}/sim/faults")).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let faults = br#"[{"provider":"runpod","error_rate":0.5}]"#;
    let _: serde_json::Value = clients
        .http()
        .json(
            http::Method::POST,
            &url,
            &headers,
            bytes::Bytes::from_static(faults),
        )
        .await
        .unwrap();
    let targets = clients
        .targets(&profile, &Selection::All, Some("runpod"))
        .unwrap();
    let (telemetry, stop, runner) = start_probes(&clients, &targets, Duration::from_secs(60));
    let (mut requests, mut errors) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while requests < 400 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        (requests, errors) = (0, 0);
        for t in &targets {
            if let Some(f) = telemetry.figures(&t.cell, &t.provider, Duration::from_secs(60)) {
                requests += f.requests;
                errors += f.errors;
            }
        }
    }
    let _ = stop.send(true);
    let _ = runner.await;
    assert!(requests >= 400, "only {requests} probes");
    errors as f64 / requests as f64
}

/// The anchor of the test above: with the default three attempts the same
/// fault reads as far fewer errors (what the drill saw).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_would_hide_most_of_them() {
    let share = error_share_at_half_errors(RetryPolicy::default()).await;
    assert!(share < 0.3, "error share {share}");
}

/// Probes every 20 ms (`health_every` for RunPod `/health`), until `stop`.
fn start_probes(
    clients: &Arc<Clients>,
    targets: &[beacon_console::fleet::Target],
    health_every: Duration,
) -> (
    Arc<Telemetry>,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let telemetry = Arc::new(Telemetry::new());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config = ProbeConfig {
        interval: Duration::from_millis(20),
        jitter: 0.3,
        concurrency: 8,
        deadline: Duration::from_secs(5),
        cold_bound: Duration::from_millis(500),
        health_interval: health_every,
        max_per_second: f64::INFINITY,
        skip_with_traffic: false,
    };
    let runner = tokio::spawn(run_probes(
        clients.clone(),
        targets.to_vec(),
        config,
        telemetry.clone(),
        stopped,
    ));
    (telemetry, stop, runner)
}

/// The probe budget: at most `max_per_second` over every target, however
/// short the interval; and no probe where the routers see traffic, unless
/// asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_keep_to_their_budget_and_skip_cells_with_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, clients) = demo_clients(dir.path(), RetryPolicy::ONCE).await;
    let targets = clients.targets(&profile, &Selection::All, None).unwrap();
    let telemetry = Arc::new(Telemetry::new());
    // Every RunPod endpoint has traffic: only Modal's are probed.
    telemetry.set_traffic(
        targets
            .iter()
            .filter(|t| t.provider == "runpod")
            .map(|t| (t.cell.clone(), t.provider.clone())),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config = ProbeConfig {
        interval: Duration::from_millis(10),
        jitter: 0.0,
        concurrency: 64,
        deadline: Duration::from_secs(5),
        cold_bound: Duration::from_millis(500),
        health_interval: Duration::from_secs(60),
        max_per_second: 9.0,
        skip_with_traffic: true,
    };
    let started = Instant::now();
    let runner = tokio::spawn(run_probes(
        clients.clone(),
        targets.clone(),
        config,
        telemetry.clone(),
        stopped,
    ));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = stop.send(true);
    let _ = runner.await;
    let elapsed = started.elapsed().as_secs_f64();
    let probed: Vec<_> = targets
        .iter()
        .filter(|t| {
            telemetry
                .figures(&t.cell, &t.provider, Duration::from_secs(60))
                .is_some_and(|f| f.requests > 0)
        })
        .collect();
    assert!(
        probed.iter().all(|t| t.provider == "modal"),
        "RunPod had traffic: not probed"
    );
    assert!(!probed.is_empty(), "Modal's endpoints were probed");
    // 18 targets at 9/s: each every 2 s at most (the budget, not the 10 ms
    // interval); the skipped ones count against it too.
    let total = telemetry.recorded() as f64;
    assert!(
        total <= 9.0 * elapsed + 9.0,
        "{total} probes in {elapsed:.1} s"
    );
}

/// The demo profile in `dir` and its clients on a fresh simulator (200×).
async fn demo_clients(dir: &std::path::Path, retry: RetryPolicy) -> (Profile, Arc<Clients>) {
    let profile = Profile::load(&ProfileSource::Demo {
        state_dir: dir.to_path_buf(),
    })
    .unwrap();
    let clients = Clients::for_profile(&profile, Some(200.0), Duration::from_secs(5), retry)
        .await
        .unwrap();
    (profile, Arc::new(clients))
}
