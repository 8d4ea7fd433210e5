//! `bench` on the demo: the embedded simulator, 9 cells × 2 providers × 100
//! requests, with RunPod's cold-start advantage showing in the report
//! (64 in flight: each endpoint has to cold-start many workers).
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[test]
fn bench_on_the_demo_shows_runpods_cold_start_advantage() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &mut demo(dir.path()),
        &[
            "bench",
            "--time-scale",
            "100",
            "--requests",
            "100",
            "--concurrency",
            "64",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", r.stdout, r.stderr));
    let endpoints = v["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 18);
    let mean = |provider: &str| {
        let xs: Vec<f64> = endpoints
            .iter()
            .filter(|e| e["provider"] == provider)
            .map(|e| e["cold_fast_percent"].as_f64().unwrap())
            .collect();
        xs.iter().sum::<f64>() / xs.len() as f64
    };
    for e in endpoints {
        assert_eq!(e["requests"], 100);
        assert_eq!(e["ok"], 100, "no faults injected: {e}");
    }
    let (runpod, modal) = (mean("runpod"), mean("modal"));
    assert!(
        runpod > modal + 10.0,
        "cold starts under 500 ms: runpod {runpod:.0}% vs modal {modal:.0}%"
    );
    assert_eq!(v["cells"].as_array().unwrap().len(), 9);
    // Exit 0 only when every gate passes; 6 otherwise.
    let expected = if v["verdict"] == "pass" { 0 } else { 6 };
    assert_eq!(r.code, expected, "{}", r.stderr);
}

#[test]
fn bench_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["bench", "--requests", "0"], "at least 1"),
        (vec!["bench", "--time-scale=-3"], "positive"),
        (vec!["bench", "--cell", "nope/us-east"], "unknown model"),
        (vec!["bench", "--provider", "fal"], "unknown provider"),
    ] {
        let r = run(&mut demo(dir.path()), &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn warmup_reports_each_request_and_its_cold_start() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "warmup",
        "--column",
        "us-east",
        "--provider",
        "runpod",
        "--requests",
        "3",
        "--time-scale",
        "100",
        "--json",
    ];
    let r = ok(&mut demo(dir.path()), &args);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3, "three cells of us-east, RunPod only");
    for row in rows {
        assert_eq!(row["provider"], "runpod");
        let requests = row["requests"].as_array().unwrap();
        assert_eq!(requests.len(), 3);
        // A fresh endpoint has no warm worker: its first request cold-starts.
        assert!(
            requests
                .iter()
                .all(|q| q["error"].is_null() && q["cold_start_ms"].is_u64())
        );
    }
    let r = run(&mut demo(dir.path()), &["warmup", "--requests", "1"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("say which cells"), "{}", r.stderr);
}

#[test]
fn live_status_measures_every_cell_and_the_revision_applied() {
    let dir = tempfile::tempdir().unwrap();
    canary(dir.path());
    let r = ok(
        &mut demo(dir.path()),
        &[
            "status",
            "--live",
            "--seconds",
            "3",
            "--time-scale",
            "100",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["revision"], 1);
    let regions = v["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 3);
    assert!(
        regions.iter().all(|r| r["applied_revision"] == 1),
        "{regions:?}"
    );
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 9);
    for cell in cells {
        let providers = cell["providers"].as_array().unwrap();
        assert_eq!(providers.len(), 2);
        assert!(
            providers
                .iter()
                .all(|p| p["probes"].as_u64().unwrap_or(0) >= 1),
            "{cell}"
        );
    }
    let runpod = live_provider(&v, "llama-3.2-1b/us-east", "runpod");
    assert_eq!(runpod["requested_percent"], 5.0);
}
