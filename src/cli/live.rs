//! `status --live`: the matrix with measurements — what each cell is asked
//! to split, what the routers really serve, latency, errors, cold starts and
//! RunPod workers. On the demo the simulator and its routers run in-process.

use crate::failure::Failure;
use std::time::Duration;

use serde_json::json;

use crate::config::Profile;
use crate::ops::monitor::{Monitor, RegionStatus};
use crate::ops::{Console, OpsError};
use crate::telemetry::probes::Telemetry;

use super::args::StatusArgs;

pub fn run(console: &Console, args: StatusArgs, json: bool) -> Result<(), OpsError> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(OpsError::Invalid(format!(
            "--seconds must be between 0 and 3600, got {}",
            args.seconds
        )));
    }
    if let Some(x) = args.time_scale
        && !(x.is_finite() && x > 0.0)
    {
        return Err(OpsError::Invalid(format!(
            "--time-scale must be a positive number, got {x}"
        )));
    }
    let snapshot = console.store.load()?;
    let profile = &console.profile;
    // One thread: probes and scrapes are I/O-bound, and a single-threaded
    // runtime costs a fraction of the CPU of a work-stealing one at these rates.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new("start the async runtime", e))?;
    runtime.block_on(async {
        let monitor = Monitor::start(profile, args.time_scale, Duration::from_secs(30)).await?;
        // The first scrape is the baseline the served shares are counted from.
        monitor.settle(1, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
        let regions = monitor.regions().await;
        let traffic = monitor.traffic(Duration::from_secs(3600)).await;
        print(console, &snapshot, &monitor, &traffic, &regions, json).await;
        monitor.stop().await;
        Ok(())
    })
}

async fn print(
    console: &Console,
    snapshot: &crate::flags::Snapshot,
    monitor: &Monitor,
    traffic: &[crate::telemetry::CellTraffic],
    regions: &[RegionStatus],
    json: bool,
) {
    let unavailable = monitor.clients.unavailable();
    let rows = cell_rows(&console.profile, snapshot, &monitor.telemetry, traffic);
    if json {
        let regions: Vec<_> = regions
            .iter()
            .map(|r| json!({"region": r.region, "applied_revision": r.applied_revision, "error": r.error}))
            .collect();
        let simulator = monitor.clients.sim_base();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "revision": snapshot.revision(), "regions": regions, "cells": rows, "unavailable_providers": unavailable, "simulator": simulator })
            )
            .unwrap_or_default()
        );
        return;
    }
    print_routers(snapshot.revision(), regions);
    for (provider, why) in unavailable {
        println!("{provider}: not probed ({why})");
    }
    print_table(&rows);
}

/// Each cell as JSON: what its routers saw, and a row per provider with an
/// endpoint there (asked and served shares, probe figures, RunPod workers).
fn cell_rows(
    profile: &Profile,
    snapshot: &crate::flags::Snapshot,
    telemetry: &Telemetry,
    traffic: &[crate::telemetry::CellTraffic],
) -> Vec<serde_json::Value> {
    let window = Duration::from_secs(300);
    let mut rows = Vec::new();
    for (cell, split) in snapshot.routes().iter() {
        let observed = traffic.iter().find(|t| t.cell == *cell);
        let mut providers = Vec::new();
        for p in profile.providers_for(cell) {
            let f = telemetry.figures(cell, &p, window);
            let h = telemetry.health(cell, &p);
            providers.push(json!({
                "provider": p,
                "requested_percent": f64::from(split.share(&p).get()) / 10.0,
                "observed_percent": observed.and_then(|t| t.share.get(&p).copied()),
                "probe_p50_ms": f.and_then(|f| f.p50_ms),
                "probe_p95_ms": f.and_then(|f| f.p95_ms),
                "probes": f.map(|f| f.requests),
                "probe_errors": f.map(|f| f.errors),
                "cold_starts": f.map(|f| f.cold),
                "workers": h.map(|h| json!({"idle": h.workers.idle, "running": h.workers.running, "initializing": h.workers.initializing})),
            }));
        }
        rows.push(json!({
            "cell": cell.to_string(),
            "router_requests": observed.map(|t| t.requests),
            "router_error_percent": observed.map(|t| t.error_percent),
            "providers": providers,
        }));
    }
    rows
}

/// The revision and which routers applied it; each router's error.
fn print_routers(latest: u64, regions: &[RegionStatus]) {
    let applied: Vec<String> = regions
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.region,
                r.applied_revision
                    .map_or_else(|| "?".into(), |v| v.to_string())
            )
        })
        .collect();
    let in_step = regions
        .iter()
        .filter(|r| r.applied_revision == Some(latest))
        .count();
    if regions.is_empty() {
        println!(
            "flags rev {latest} · no routers in the profile ([[routers]]): served shares unknown"
        );
    } else {
        println!(
            "flags rev {latest} · applied {in_step}/{} ({})",
            regions.len(),
            applied.join(", ")
        );
    }
    for r in regions {
        if let Some(e) = &r.error {
            println!("router {}: {e}", r.region);
        }
    }
}

/// The table: a line per cell and provider, then what the columns mean.
fn print_table(rows: &[serde_json::Value]) {
    println!(
        "{:<24} {:<7} {:>7} {:>8} {:>8} {:>8} {:>6} {:>5} {:>9}",
        "cell", "prov", "asked", "served", "p50", "p95", "errs", "cold", "workers"
    );
    for row in rows {
        for p in row["providers"].as_array().into_iter().flatten() {
            print_provider_line(row["cell"].as_str().unwrap_or_default(), p);
        }
    }
    println!(
        "(asked: the flag split; served: what the routers sent; latency from probes; workers idle/running/initializing)"
    );
}

/// One provider of one cell: shares asked and served, probe latency,
/// errors, cold starts and workers; "—" where unknown.
fn print_provider_line(cell: &str, p: &serde_json::Value) {
    let pct = |v: &serde_json::Value| {
        v.as_f64()
            .map_or_else(|| "—".into(), |x| format!("{x:.1}%"))
    };
    let ms = |v: &serde_json::Value| v.as_u64().map_or_else(|| "—".into(), |x| format!("{x}ms"));
    let count = |v: &serde_json::Value| v.as_u64().map_or_else(|| "—".into(), |e| e.to_string());
    let workers = p["workers"].as_object().map_or_else(
        || "—".into(),
        |w| format!("{}/{}/{}", w["idle"], w["running"], w["initializing"]),
    );
    println!(
        "{:<24} {:<7} {:>7} {:>8} {:>8} {:>8} {:>6} {:>5} {:>9}",
        cell,
        p["provider"].as_str().unwrap_or_default(),
        pct(&p["requested_percent"]),
        pct(&p["observed_percent"]),
        ms(&p["probe_p50_ms"]),
        ms(&p["probe_p95_ms"]),
        count(&p["probe_errors"]),
        count(&p["cold_starts"]),
        workers
    );
}
