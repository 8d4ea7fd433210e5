//! Prometheus as the metrics source, against a real Prometheus server
//! (Debian `prometheus`, which scripts/test.sh installs) scraping the
//! simulated routers: the served share and the p95 per cell that the
//! console computes from Prometheus agree with those from the routers'
//! own scrape (within 3 points and 10 %); a Prometheus that is away is no
//! data, never figures.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use beacon_console::config::{Profile, ProfileSource};
use beacon_console::ops::monitor::Monitor;
use common::*;

struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Prometheus scraping `targets` every second, ready.
fn start_prometheus(dir: &Path, targets: &[String]) -> Prometheus {
    let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: beacon\n    static_configs:\n      - targets: [{}]\n",
        list.join(", ")
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus is installed (scripts/test.sh installs Debian prometheus)");
    let url = format!("http://127.0.0.1:{port}");
    let until = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "prometheus never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    Prometheus { child, url }
}

/// A profile for the `sim` process's fleet: its endpoints, and the routers'
/// figures from `source` ("routers" with `[[routers]]`, or Prometheus).
fn fleet_profile(dir: &Path, name: &str, sim: &serde_json::Value, source: &str) -> Profile {
    let base = sim["base"].as_str().unwrap();
    let demo = include_str!("../profiles/demo.toml");
    let head = demo
        .split("[simulator]")
        .next()
        .unwrap()
        .replace("{sim}", base);
    let mut text = head.replace(
        "scrape_interval_ms = 1000",
        &format!("scrape_interval_ms = 1000\n{source}"),
    );
    for router in sim["routers"].as_array().unwrap() {
        text.push_str(&format!(
            "\n[[routers]]\nregion = \"{}\"\nmetrics_url = \"{}\"\n",
            router["region"].as_str().unwrap(),
            router["metrics"].as_str().unwrap()
        ));
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    Profile::load(&ProfileSource::File(path)).unwrap()
}

#[test]
fn figures_from_prometheus_agree_with_the_routers_own() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    ok(
        &mut demo(&state),
        &["shift", "--all", "--to", "50", "--reason", "prom", "--yes"],
    );
    let (sim, info) = start_sim(&state, "100");
    let targets: Vec<String> = info["routers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["metrics"]
                .as_str()
                .unwrap()
                .trim_start_matches("http://")
                .trim_end_matches("/metrics")
                .to_string()
        })
        .collect();
    let prom = start_prometheus(dir.path(), &targets);
    let direct = fleet_profile(dir.path(), "direct", &info, "");
    let via = fleet_profile(
        dir.path(),
        "via",
        &info,
        &format!("source = \"prometheus\"\nprometheus_url = \"{}\"", prom.url),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let a = Monitor::start(&direct, None, Duration::from_secs(5))
            .await
            .unwrap();
        let b = Monitor::start(&via, None, Duration::from_secs(5))
            .await
            .unwrap();
        // Over 35 s or more the same routers' counters, one way through
        // Prometheus (a scrape or two behind): the two windows then share
        // nearly every request, whatever the machine's load.
        let window = Duration::from_secs(45);
        let until = Instant::now() + Duration::from_secs(180);
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (ta, tb) = (a.traffic(window).await, b.traffic(window).await);
            let long_enough = |t: &[beacon_console::telemetry::CellTraffic]| {
                t.len() == 9 && t.iter().all(|c| c.window >= Duration::from_secs(35))
            };
            if long_enough(&ta) && long_enough(&tb) {
                compare(&ta, &tb);
                break;
            }
            assert!(
                Instant::now() < until,
                "never 35 s of figures from both: {} and {} cells",
                ta.len(),
                tb.len()
            );
        }
        a.stop().await;
        b.stop().await;
    });
    interrupt(sim);
    drop(prom);
    // Prometheus away: no data, with the reason, never figures.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let m = Monitor::start(&via, None, Duration::from_secs(2))
            .await
            .unwrap();
        m.settle(2, Duration::from_secs(30)).await;
        let regions = m.regions().await;
        assert!(
            regions.iter().all(|r| r
                .error
                .as_deref()
                .is_some_and(|e| e.contains("Prometheus at"))),
            "{regions:?}"
        );
        assert!(m.traffic(Duration::from_secs(15)).await.is_empty());
        m.stop().await;
    });
}

/// Per cell: RunPod's served share within 3 points, its p95 within 10 %.
fn compare(
    a: &[beacon_console::telemetry::CellTraffic],
    b: &[beacon_console::telemetry::CellTraffic],
) {
    for ca in a {
        let cb = b.iter().find(|c| c.cell == ca.cell).unwrap();
        let share = |c: &beacon_console::telemetry::CellTraffic| {
            c.share.get("runpod").copied().unwrap_or(0.0)
        };
        assert!(
            (share(ca) - share(cb)).abs() <= 3.0,
            "{}: served {:.1}% from the routers, {:.1}% from Prometheus",
            ca.cell,
            share(ca),
            share(cb)
        );
        let p95 =
            |c: &beacon_console::telemetry::CellTraffic| c.latency.get("runpod").and_then(|l| l.1);
        if let (Some(pa), Some(pb)) = (p95(ca), p95(cb)) {
            assert!(
                (pa - pb).abs() <= 0.1 * pa.max(pb),
                "{}: p95 {pa:.3}s vs {pb:.3}s",
                ca.cell
            );
        }
    }
}
