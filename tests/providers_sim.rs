//! The provider clients against the simulator over loopback HTTP: every status
//! and fault ends in the right error class, and nothing is mocked.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use beacon_console::config::Secret;
use beacon_console::providers::modal::ModalClient;
use beacon_console::providers::runpod::{JobStatus, RunPodClient};
use beacon_console::providers::{ErrorClass, HttpClient, RetryPolicy};
use beacon_console::sim::{Fault, Scope, SimConfig, Simulator};
use serde_json::json;

const RUNPOD_KEY: &str = "rp-test-key-5ecret";

fn config() -> SimConfig {
    SimConfig {
        seed: 42,
        // 1,000 simulated seconds per second: a 12 s cold start takes 12 ms.
        time_scale: 1000.0,
        runpod_key: RUNPOD_KEY.into(),
        modal_key: "mk".into(),
        modal_secret: "ms-5ecret".into(),
        runsync_wait: Duration::from_secs(90),
        cells: vec![
            ("llama".into(), "us-east".into()),
            ("llama".into(), "eu-west".into()),
        ],
    }
}

fn http(timeout_ms: u64) -> HttpClient {
    let retry = RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(5),
        max: Duration::from_millis(20),
    };
    HttpClient::new(Duration::from_millis(timeout_ms), retry).unwrap()
}

fn runpod(sim: &Simulator, key: &str, timeout_ms: u64) -> RunPodClient {
    let mut c = RunPodClient::new(
        http(timeout_ms),
        &format!("{}/runpod/v2", sim.base_url()),
        Secret::new(key),
    )
    .unwrap();
    c.poll_interval = Duration::from_millis(2);
    c
}

async fn set_faults(sim: &Simulator, faults: &[Fault]) {
    let r = reqwest::Client::new()
        .post(format!("{}/sim/faults", sim.base_url()))
        .json(faults)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

const EP: &str = "beacon-llama-us-east";

#[tokio::test]
async fn runsync_completes_with_cold_start_figures() {
    let sim = Simulator::start(config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = runpod(&sim, RUNPOD_KEY, 2_000);
    let job = client
        .runsync(EP, &json!({"prompt": "hi"}), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert!(job.delay_ms.is_some() && job.execution_ms.is_some());
    let exec = job.execution_ms.unwrap();
    assert!((300..=2_000).contains(&exec), "{exec}");
    // A second request completes too. (Whether it finds the worker still warm
    // depends on the compressed clock; warm reuse is unit-tested in sim::workers.)
    let again = client
        .runsync(EP, &json!({"prompt": "hi"}), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(again.status, JobStatus::Completed);
    assert!(again.delay_ms.is_some(), "{again:?}");
    // Worker counts depend on the (compressed) clock; the census itself is
    // unit-tested in sim::workers. Completed jobs do not.
    let health = client.health(EP).await.unwrap();
    assert_eq!(health.jobs.completed, 2, "{health:?}");
    sim.stop().await;
}

#[tokio::test]
async fn past_the_wait_window_runsync_polls_status() {
    let mut cfg = config();
    cfg.runsync_wait = Duration::from_millis(100);
    let sim = Simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = runpod(&sim, RUNPOD_KEY, 2_000);
    let job = client
        .runsync(EP, &json!({}), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    let queued = client.run(EP, &json!({})).await.unwrap();
    assert_eq!(queued.status, JobStatus::InQueue);
    let unknown = client.status(EP, "job-nope").await.unwrap_err();
    assert_eq!(unknown.class, ErrorClass::NotFound);
    sim.stop().await;
}

#[tokio::test]
async fn statuses_map_to_error_classes() {
    let sim = Simulator::start(config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let input = json!({"prompt": "hi"});
    let wait = Duration::from_secs(5);

    let e = runpod(&sim, "wrong-key", 2_000)
        .runsync(EP, &input, wait)
        .await
        .unwrap_err();
    assert_eq!((e.class, e.status), (ErrorClass::Auth, Some(401)));
    assert!(
        !e.to_string().contains(RUNPOD_KEY) && !e.to_string().contains("wrong-key"),
        "{e}"
    );

    let client = runpod(&sim, RUNPOD_KEY, 2_000);
    let e = client
        .runsync("beacon-nope", &input, wait)
        .await
        .unwrap_err();
    assert_eq!((e.class, e.status), (ErrorClass::NotFound, Some(404)));

    let e = client.runsync(EP, &json!(5), wait).await.unwrap_err();
    assert_eq!((e.class, e.status), (ErrorClass::BadInput, Some(400)));

    let scope = Scope::default();
    set_faults(
        &sim,
        &[Fault {
            scope: scope.clone(),
            rate_limit_rate: 1.0,
            ..Fault::default()
        }],
    )
    .await;
    let e = client.runsync(EP, &input, wait).await.unwrap_err();
    assert_eq!(
        (e.class, e.attempts),
        (ErrorClass::RateLimited, 3),
        "a 429 storm is retried, then reported"
    );

    set_faults(
        &sim,
        &[Fault {
            scope: scope.clone(),
            error_rate: 1.0,
            ..Fault::default()
        }],
    )
    .await;
    let e = client.runsync(EP, &input, wait).await.unwrap_err();
    assert_eq!(
        (e.class, e.status, e.attempts),
        (ErrorClass::Server, Some(500), 3)
    );

    set_faults(
        &sim,
        &[Fault {
            scope: scope.clone(),
            outage: true,
            ..Fault::default()
        }],
    )
    .await;
    let e = client.runsync(EP, &input, wait).await.unwrap_err();
    assert_eq!((e.class, e.status), (ErrorClass::Server, Some(503)));

    set_faults(
        &sim,
        &[Fault {
            scope: scope.clone(),
            malformed_rate: 1.0,
            ..Fault::default()
        }],
    )
    .await;
    let e = client.runsync(EP, &input, wait).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Malformed);

    set_faults(
        &sim,
        &[Fault {
            scope: scope.clone(),
            hang: true,
            ..Fault::default()
        }],
    )
    .await;
    let e = runpod(&sim, RUNPOD_KEY, 150)
        .runsync(EP, &input, wait)
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Timeout);

    // A fault scoped to another region leaves this one alone.
    let eu = Scope {
        region: Some("eu-west".into()),
        ..Scope::default()
    };
    set_faults(
        &sim,
        &[Fault {
            scope: eu,
            outage: true,
            ..Fault::default()
        }],
    )
    .await;
    assert!(client.runsync(EP, &input, wait).await.is_ok());
    let e = client
        .runsync("beacon-llama-eu-west", &input, wait)
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(503));
    sim.stop().await;
}

#[tokio::test]
async fn connection_refused_and_refused_urls() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = RunPodClient::new(
        http(1_000),
        &format!("http://127.0.0.1:{port}/runpod/v2"),
        Secret::new("k"),
    )
    .unwrap();
    let e = client.health(EP).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::ConnectionRefused);
    let plain = RunPodClient::new(http(1_000), "http://example.com/v2", Secret::new("k")).unwrap();
    assert_eq!(
        plain.health(EP).await.unwrap_err().class,
        ErrorClass::Refused
    );
}

#[tokio::test]
async fn modal_speaks_its_convention() {
    let sim = Simulator::start(config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("{}/modal/{EP}", sim.base_url());
    let auth = Some((Secret::new("mk"), Secret::new("ms-5ecret")));
    let client = ModalClient::new(http(5_000), auth).unwrap();
    let reply = client.infer(&url, &json!({"prompt": "hi"})).await.unwrap();
    let exec = reply.execution_ms.unwrap();
    assert!((300..=2_000).contains(&exec));
    assert!(reply.cold_start_estimate(Duration::ZERO).is_some());
    let wrong =
        ModalClient::new(http(5_000), Some((Secret::new("mk"), Secret::new("nope")))).unwrap();
    let e = wrong.infer(&url, &json!({})).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Auth);
    assert!(!e.to_string().contains("nope"), "{e}");
    sim.stop().await;
}

#[test]
fn a_secret_that_cannot_be_a_header_is_refused_without_showing_it() {
    let e = RunPodClient::new(http(1_000), "http://127.0.0.1:1/v2", Secret::new("k\nleak"))
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::BadInput);
    assert!(!e.to_string().contains("leak"), "{e}");
    let e = ModalClient::new(
        http(1_000),
        Some((Secret::new("mk"), Secret::new("s3cr\u{7f}et"))),
    )
    .unwrap_err();
    assert!(e.to_string().contains("Modal-Secret"), "{e}");
    assert!(!e.to_string().contains("s3cr"), "{e}");
}
