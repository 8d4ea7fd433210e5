//! A shift moves real traffic: the simulated router reads the flag document the
//! CLI writes, and the share it sends to RunPod follows within ±5 points.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use beacon_console::config::{Profile, ProfileSource, Secret};
use beacon_console::flags::fractional::Generation;
use beacon_console::providers::modal::ModalClient;
use beacon_console::providers::runpod::RunPodClient;
use beacon_console::providers::{HttpClient, RetryPolicy};
use beacon_console::sim::{RouterConfig, SimConfig, SimRouter, Simulator};
use beacon_console::telemetry::{RouterSnapshot, parse_router_metrics};
use common::*;

async fn scrape(metrics_url: &str) -> RouterSnapshot {
    let text = reqwest::get(metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse_router_metrics(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_moves_router_traffic_and_the_revision_shows() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_path_buf();
    let profile = Profile::load(&ProfileSource::Demo {
        state_dir: state.clone(),
    })
    .unwrap();
    let cells = profile
        .cells()
        .iter()
        .map(|c| (c.model.to_string(), c.region.to_string()))
        .collect();
    let sim_config = SimConfig {
        seed: 5,
        time_scale: 200.0,
        runpod_key: "rk".into(),
        modal_key: "mk".into(),
        modal_secret: "msecret".into(),
        runsync_wait: Duration::from_secs(90),
        cells,
    };
    let sim = Simulator::start(sim_config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let http = HttpClient::new(Duration::from_secs(5), RetryPolicy::default()).unwrap();
    let runpod = RunPodClient::new(
        http.clone(),
        &format!("{}/runpod/v2", sim.base_url()),
        Secret::new("rk"),
    )
    .unwrap();
    let modal = ModalClient::new(http, Some((Secret::new("mk"), Secret::new("msecret")))).unwrap();
    let router = SimRouter::start(
        RouterConfig {
            region: "us-east".into(),
            document: profile.store_path().unwrap().to_path_buf(),
            profile,
            sim_base: sim.base_url(),
            requests_per_second: 600.0,
            seed: 9,
            generation: Generation::V3,
            runpod,
            modal,
            request_deadline: Duration::from_secs(5),
            reload_every: Duration::from_millis(20),
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let metrics = format!("http://{}/metrics", router.addr);

    let shift = [
        "shift",
        "--cell",
        "llama-3.2-1b/us-east",
        "--to",
        "50",
        "--reason",
        "router test",
        "--yes",
    ];
    tokio::task::spawn_blocking(move || ok(&mut demo(&state), &shift))
        .await
        .unwrap();

    // Wait for the router to apply revision 1, then measure what it sends from there.
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let snap = scrape(&metrics).await;
        if snap.revision == Some(1) {
            break snap;
        }
        assert!(
            Instant::now() < deadline,
            "the router never applied revision 1"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let cell = beacon_console::domain::CellId::new("llama-3.2-1b", "us-east");
    let traffic = loop {
        let now = scrape(&metrics).await;
        let traffic = now.since(&before).into_iter().find(|t| t.cell == cell);
        if let Some(t) = traffic.filter(|t| t.requests >= 1500.0) {
            break t;
        }
        assert!(Instant::now() < deadline, "too little traffic");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let share = traffic.share.get("runpod").copied().unwrap_or(0.0);
    assert!(
        (share - 50.0).abs() <= 5.0,
        "RunPod share after the shift, as scraped: {share:.1}% ({traffic:?})"
    );
    assert_eq!(traffic.error_percent, 0.0);
    router.stop().await;
    sim.stop().await;
}

/// `beacon-console sim` serves the fake providers and a router per region,
/// and stops cleanly on Ctrl-C (SIGINT).
#[test]
fn the_sim_command_serves_until_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let (child, v) = start_sim(dir.path(), "50");
    let base = v["base"].as_str().unwrap().to_string();
    assert_eq!(v["routers"].as_array().unwrap().len(), 3);
    let metrics = v["routers"][0]["metrics"].as_str().unwrap().to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let faults = reqwest::Client::new()
            .post(format!("{base}/sim/faults"))
            .json(&serde_json::json!([{ "region": "eu-west", "outage": true }]))
            .send()
            .await
            .unwrap();
        assert!(faults.status().is_success());
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        assert!(
            text.contains("beacon_routing_revision{region=\"us-east\"} 0"),
            "{text}"
        );
    });
    interrupt(child);
}

/// `status --live` on a profile whose routers are somewhere else (here the
/// `sim` command's, in another process), known only by their `[[routers]]`
/// metrics URLs: it shows the revision each applies, what they serve, and a
/// router that cannot be reached as such (no figure, not a pass).
#[test]
fn live_status_reads_the_routers_named_in_the_profile() {
    let sim_state = tempfile::tempdir().unwrap();
    let (child, v) = start_sim(sim_state.path(), "100");
    let base = v["base"].as_str().unwrap();
    let mut routers = String::new();
    for r in v["routers"].as_array().unwrap() {
        let region = r["region"].as_str().unwrap();
        // apac-sg's router is "down": nothing listens on port 9.
        let url = if region == "apac-sg" {
            "http://127.0.0.1:9/metrics"
        } else {
            r["metrics"].as_str().unwrap()
        };
        routers += &format!("[[routers]]\nregion = \"{region}\"\nmetrics_url = \"{url}\"\n\n");
    }
    let document = sim_state.path().join("flags/beacon-routes.json");
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("staging.toml");
    std::fs::write(
        &profile,
        format!(
            r#"name = "staging-on-sim"
environment = "staging"
fallback = "modal"
models = [{{ id = "llama-3.2-1b" }}, {{ id = "qwen-2.5-1.5b" }}, {{ id = "mistral-7b" }}]
regions = [{{ id = "us-east" }}, {{ id = "eu-west" }}, {{ id = "apac-sg" }}]

[[providers]]
id = "modal"
kind = "modal"
price_per_second = 0.0003
url_template = "{base}/modal/beacon-{{model}}-{{region}}"
proxy_key = {{ env = "T_MODAL_KEY" }}
proxy_secret = {{ env = "T_MODAL_SECRET" }}

[[providers]]
id = "runpod"
kind = "runpod"
price_per_second = 0.000255
api_base = "{base}/runpod/v2"
endpoint_template = "beacon-{{model}}-{{region}}"
api_key = {{ env = "T_RUNPOD_KEY" }}

[telemetry]
probe_interval_ms = 200
scrape_interval_ms = 200
# Probes here too (a cell with traffic is not probed by default).
probe_with_traffic = true
max_probes_per_second = 1000

{routers}
[store]
kind = "file"
path = "{}"
"#,
            document.display()
        ),
    )
    .unwrap();
    let staging = || {
        let mut cmd = with_profile(&profile);
        cmd.env("T_MODAL_KEY", "demo-modal-key")
            .env("T_MODAL_SECRET", "demo-modal-secret")
            .env("T_RUNPOD_KEY", "demo-runpod-key");
        cmd
    };
    ok(
        &mut staging(),
        &[
            "shift",
            "--cell",
            "llama-3.2-1b/us-east",
            "--to",
            "50",
            "--reason",
            "live test",
            "--yes",
        ],
    );
    let r = ok(
        &mut staging(),
        &["--json", "status", "--live", "--seconds", "2"],
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["revision"], 1);
    let regions = v["regions"].as_array().unwrap();
    let by = |name: &str| regions.iter().find(|r| r["region"] == name).unwrap();
    assert_eq!(by("us-east")["applied_revision"], 1, "{regions:?}");
    assert_eq!(by("eu-west")["applied_revision"], 1, "{regions:?}");
    assert_eq!(by("apac-sg")["applied_revision"], serde_json::Value::Null);
    assert!(
        by("apac-sg")["error"]
            .as_str()
            .is_some_and(|e| e.contains("connection refused")),
        "{regions:?}"
    );
    let runpod = live_provider(&v, "llama-3.2-1b/us-east", "runpod");
    assert_eq!(runpod["requested_percent"], 50.0);
    let served = runpod["observed_percent"].as_f64().expect("a served share");
    assert!((20.0..=80.0).contains(&served), "{served}");
    assert!(runpod["probes"].as_u64().unwrap_or(0) >= 1, "{runpod}");
    // The text view says the same, with the unreachable router named.
    let r = ok(&mut staging(), &["status", "--live", "--seconds", "1"]);
    assert!(r.stdout.contains("applied 2/3"), "{}", r.stdout);
    assert!(r.stdout.contains("router apac-sg:"), "{}", r.stdout);
    interrupt(child);
}
