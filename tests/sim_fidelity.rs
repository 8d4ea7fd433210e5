//! The simulator against what the real RunPod Serverless API does, and its
//! fault API against bad input and strangers: over loopback HTTP, nothing
//! mocked.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use beacon_console::config::Secret;
use beacon_console::providers::runpod::{JobStatus, RunPodClient};
use beacon_console::providers::{ErrorClass, HttpClient, RetryPolicy};
use beacon_console::sim::{SimConfig, Simulator};
use serde_json::{Value, json};

const KEY: &str = "rp-fidelity-5ecret";
const EP: &str = "beacon-llama-us-east";
/// Far beyond anything these tests wait for: reaching it is a failure.
const BOUND: Duration = Duration::from_secs(60);

fn config(time_scale: f64) -> SimConfig {
    SimConfig {
        seed: 7,
        time_scale,
        runpod_key: KEY.into(),
        modal_key: "mk".into(),
        modal_secret: "ms".into(),
        runsync_wait: Duration::from_secs(90),
        cells: vec![("llama".into(), "us-east".into())],
    }
}

async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn runpod(sim: &Simulator) -> RunPodClient {
    let retry = RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    };
    let http = HttpClient::new(Duration::from_secs(30), retry).unwrap();
    let mut c = RunPodClient::new(
        http,
        &format!("{}/runpod/v2", sim.base_url()),
        Secret::new(KEY),
    )
    .unwrap();
    c.poll_interval = Duration::from_millis(5);
    c
}

/// A plain client that never goes through a proxy.
fn raw() -> reqwest::Client {
    // reqwest is built without a crypto provider of its own (as the console is).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Status and JSON body of an answer; the body must be JSON.
async fn answer(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("HTTP {status}, not JSON ({e}): {text:?}"));
    assert!(
        content_type.starts_with("application/json"),
        "HTTP {status} {content_type:?}: {text}"
    );
    (status, body)
}

fn assert_json_error(status: u16, body: &Value, want: u16) {
    assert_eq!(status, want, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
}

async fn set_faults(sim: &Simulator, faults: Value) -> (u16, Value) {
    answer(
        raw()
            .post(format!("{}/sim/faults", sim.base_url()))
            .json(&faults),
    )
    .await
}

/// Polls `/status/{id}` (as a RunPod client does) until the job is final.
async fn until_final(client: &RunPodClient, id: &str) -> JobStatus {
    tokio::time::timeout(BOUND, async {
        loop {
            let job = client.status(EP, id).await.unwrap();
            if job.status.is_final() {
                return job.status;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the job ends")
}

// --- C: the fault API ---

#[tokio::test]
async fn fault_rules_out_of_range_are_refused_and_the_faults_in_force_stay() {
    let sim = start(config(1000.0)).await;
    let (status, _) = set_faults(&sim, json!([{"latency_multiplier": 2.0}])).await;
    assert_eq!(status, 200);
    let in_force = answer(raw().get(format!("{}/sim/faults", sim.base_url()))).await;

    for (bad, field, range) in [
        (
            json!([{"latency_multiplier": 1e308}]),
            "latency_multiplier",
            "(0, 1000]",
        ),
        (
            json!([{"latency_multiplier": 0.0}]),
            "latency_multiplier",
            "(0, 1000]",
        ),
        (
            json!([{"latency_multiplier": -1.0}]),
            "latency_multiplier",
            "(0, 1000]",
        ),
        (
            json!([{"latency_multiplier": 1000.5}]),
            "latency_multiplier",
            "(0, 1000]",
        ),
        (json!([{"error_rate": 1.5}]), "error_rate", "[0, 1]"),
        (
            json!([{"rate_limit_rate": -0.1}]),
            "rate_limit_rate",
            "[0, 1]",
        ),
        (json!([{"malformed_rate": 2}]), "malformed_rate", "[0, 1]"),
        (
            json!([{"error_rate": 0.5}, {"error_rate": 7}]),
            "error_rate",
            "[0, 1]",
        ),
    ] {
        let (status, body) = set_faults(&sim, bad.clone()).await;
        assert_json_error(status, &body, 400);
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains(field) && message.contains(range),
            "{bad} → {message}"
        );
        let now = answer(raw().get(format!("{}/sim/faults", sim.base_url()))).await;
        assert_eq!(now, in_force, "after {bad}");
    }
    // And the simulator still serves (a 1e308 multiplier used to panic every request).
    let job = runpod(&sim)
        .runsync(EP, &json!({"prompt": "hi"}), BOUND)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    sim.stop().await;
}

/// The binary's `sim` command, its stdout and stderr piped.
fn sim_command(state: &std::path::Path, args: &[&str]) -> Child {
    common::demo(state)
        .arg("sim")
        .args(args)
        .env_remove("BEACON_SIM_FAULT_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sim_off_loopback_warns_and_will_not_serve_faults_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let child = sim_command(dir.path(), &["--bind", "0.0.0.0:0", "--no-routers"]);
    let pid = child.id();
    let (done, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let Ok(output) = output.recv_timeout(Duration::from_secs(30)) else {
        // Still serving, on every interface, with an open fault API.
        // SAFETY: our own child, by its id.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL)
        };
        panic!("`sim --bind 0.0.0.0:0` without a fault token kept running");
    };
    let output = output.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("not loopback"),
        "{stderr}"
    );
    assert!(stderr.contains("--fault-token"), "{stderr}");
}

#[tokio::test]
async fn sim_with_a_fault_token_guards_the_fault_api() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = sim_command(
        dir.path(),
        &[
            "--json",
            "--bind",
            "127.0.0.1:0",
            "--no-routers",
            "--fault-token",
            "tok-4d2e",
        ],
    );
    let stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(BOUND, first).await;
    let line = match line {
        Ok(Ok(Ok(line))) if !line.is_empty() => line,
        other => {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "no first line ({other:?}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    let base = serde_json::from_str::<Value>(&line).unwrap()["base"]
        .as_str()
        .unwrap()
        .to_string();
    let faults = format!("{base}/sim/faults");
    let (status, body) = answer(raw().post(&faults).json(&json!([]))).await;
    assert_json_error(status, &body, 401);
    let (status, body) = answer(raw().get(&faults)).await;
    assert_json_error(status, &body, 401);
    let (status, body) = answer(
        raw()
            .post(&faults)
            .header("authorization", "Bearer wrong")
            .json(&json!([])),
    )
    .await;
    assert_json_error(status, &body, 401);
    let (status, body) = answer(
        raw()
            .post(&faults)
            .header("authorization", "Bearer tok-4d2e")
            .json(&json!([{"error_rate": 0.25}])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = answer(
        raw()
            .get(&faults)
            .header("authorization", "Bearer tok-4d2e"),
    )
    .await;
    assert_eq!((status, body[0]["error_rate"].as_f64()), (200, Some(0.25)));
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn the_library_simulator_on_loopback_needs_no_token() {
    let sim = start(config(1000.0)).await;
    let (status, _) = set_faults(&sim, json!([])).await;
    assert_eq!(status, 200);
    sim.stop().await;
}

// --- D: fidelity to RunPod ---

#[tokio::test]
async fn health_counts_run_jobs_and_runsync_jobs_finished_after_the_wait_window() {
    // 10 simulated seconds a second: a job takes at most 1.4 s.
    let mut cfg = config(10.0);
    // Every /runsync answers before its job is done: the client polls.
    cfg.runsync_wait = Duration::ZERO;
    let sim = start(cfg).await;
    let client = runpod(&sim);
    let job = client.runsync(EP, &json!({}), BOUND).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    let queued = client.run(EP, &json!({})).await.unwrap();
    assert_eq!(until_final(&client, &queued.id).await, JobStatus::Completed);
    let health = client.health(EP).await.unwrap();
    assert_eq!(health.jobs.completed, 2, "{health:?}");
    assert_eq!(
        (health.jobs.in_queue, health.jobs.in_progress),
        (0, 0),
        "{health:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_finished_runsync_job_stays_readable_on_status() {
    // Real time, but every start and run a thousandth as long (≤ 12 ms):
    // the result's minute of retention is a real minute.
    let sim = start(config(1.0)).await;
    let (status, _) = set_faults(&sim, json!([{"latency_multiplier": 0.001}])).await;
    assert_eq!(status, 200);
    let client = runpod(&sim);
    let job = client.runsync(EP, &json!({}), BOUND).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    let again = client.status(EP, &job.id).await.unwrap();
    assert_eq!(again.status, JobStatus::Completed, "{again:?}");
    assert_eq!(again.output, job.output);
    assert_eq!(again.delay_ms, job.delay_ms);
    sim.stop().await;
}

#[tokio::test]
async fn a_runsync_result_expires_after_about_a_simulated_minute() {
    // 10 simulated seconds a second: a minute is 6 s.
    let sim = start(config(10.0)).await;
    let client = runpod(&sim);
    let job = client.runsync(EP, &json!({}), BOUND).await.unwrap();
    let gone = tokio::time::timeout(BOUND, async {
        loop {
            match client.status(EP, &job.id).await {
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => return e,
            }
        }
    })
    .await
    .expect("the result expires");
    assert_eq!(gone.class, ErrorClass::NotFound, "{gone}");
    sim.stop().await;
}

#[tokio::test]
async fn the_key_is_accepted_with_or_without_the_bearer_prefix() {
    let sim = start(config(1000.0)).await;
    let health = format!("{}/runpod/v2/{EP}/health", sim.base_url());
    for (value, want) in [
        (format!("Bearer {KEY}"), 200),
        (KEY.to_string(), 200),
        ("Bearer nope".to_string(), 401),
        ("nope".to_string(), 401),
        (format!("Basic {KEY}"), 401),
    ] {
        let (status, body) = answer(raw().get(&health).header("authorization", &value)).await;
        assert_eq!(status, want, "{value}: {body}");
    }
    sim.stop().await;
}

#[tokio::test]
async fn cancel_purge_queue_and_stream_answer_as_runpod_does() {
    let sim = start(config(1.0)).await;
    let base = format!("{}/runpod/v2/{EP}", sim.base_url());
    let auth = format!("Bearer {KEY}");
    let post = |path: &str| {
        raw()
            .post(format!("{base}/{path}"))
            .header("authorization", &auth)
    };
    let get = |path: &str| {
        raw()
            .get(format!("{base}/{path}"))
            .header("authorization", &auth)
    };
    let run = |_: ()| post("run").json(&json!({"input": {}}));

    // Cold starts a thousand times as long: jobs stay in the queue.
    let (status, _) = set_faults(&sim, json!([{"latency_multiplier": 1000.0}])).await;
    assert_eq!(status, 200);
    let (_, a) = answer(run(())).await;
    let a = a["id"].as_str().unwrap().to_string();
    let (status, body) = answer(get(&format!("stream/{a}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "IN_QUEUE", "stream": []}));
    let (status, body) = answer(post(&format!("cancel/{a}"))).await;
    assert_eq!(
        (status, body),
        (200, json!({"id": a, "status": "CANCELLED"}))
    );
    let (_, body) = answer(get(&format!("status/{a}"))).await;
    assert_eq!(body["status"], "CANCELLED", "{body}");

    let (_, b) = answer(run(())).await;
    let (_, c) = answer(run(())).await;
    let (status, body) = answer(post("purge-queue")).await;
    assert_eq!(
        (status, body),
        (200, json!({"removed": 2, "status": "completed"}))
    );
    for job in [&b, &c] {
        let (status, body) = answer(get(&format!("status/{}", job["id"].as_str().unwrap()))).await;
        assert_json_error(status, &body, 404);
    }
    let (status, body) = answer(post("cancel/job-nope")).await;
    assert_json_error(status, &body, 404);

    // Fast again: a job that completes streams its output as one chunk.
    let (status, _) = set_faults(&sim, json!([{"latency_multiplier": 0.001}])).await;
    assert_eq!(status, 200);
    let client = runpod(&sim);
    let d = client.run(EP, &json!({})).await.unwrap();
    assert_eq!(until_final(&client, &d.id).await, JobStatus::Completed);
    let done = client.status(EP, &d.id).await.unwrap();
    let (status, body) = answer(get(&format!("stream/{}", d.id))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "COMPLETED", "stream": [{"output": done.output.unwrap()}]})
    );
    // A finished job cannot be cancelled: the answer is its state.
    let (_, body) = answer(post(&format!("cancel/{}", d.id))).await;
    assert_eq!(body, json!({"id": d.id, "status": "COMPLETED"}));
    sim.stop().await;
}

#[tokio::test]
async fn every_error_answer_is_json() {
    let sim = start(config(1000.0)).await;
    let base = sim.base_url();
    let auth = format!("Bearer {KEY}");
    let cases = [
        (raw().get(format!("{base}/nope")), 404),
        (raw().get(format!("{base}/runpod/v2/{EP}/nope")), 404),
        (raw().get(format!("{base}/runpod/v2/{EP}/runsync")), 405),
        (raw().delete(format!("{base}/sim/faults")), 405),
        (raw().get(format!("{base}/runpod/v2/{EP}/health")), 401),
        (
            raw()
                .get(format!("{base}/runpod/v2/beacon-nope/health"))
                .header("authorization", &auth),
            404,
        ),
        (
            raw()
                .post(format!("{base}/runpod/v2/{EP}/runsync"))
                .header("authorization", &auth)
                .body("not json"),
            400,
        ),
        (
            raw()
                .post(format!("{base}/sim/faults"))
                .body("[{\"no_such_field\": 1}]"),
            400,
        ),
        (raw().post(format!("{base}/modal/{EP}")).body("{}"), 401),
    ];
    for (request, want) in cases {
        let (status, body) = answer(request).await;
        assert_json_error(status, &body, want);
    }
    sim.stop().await;
}
