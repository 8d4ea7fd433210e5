//! `status --live`: the matrix with measurements — what each cell is asked
//! to split, what the routers really serve, latency, errors, cold starts and
//! RunPod workers. On the demo the simulator and its routers run in-process.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::domain::Selection;
use crate::ops::load::Clients;
use crate::ops::{Console, OpsError};
use crate::providers::{HttpClient, RetryPolicy};
use crate::sim::{DemoKeys, RouterSettings, start_routers};
use crate::telemetry::probes::{ProbeConfig, Telemetry, run_probes};
use crate::telemetry::{RouterSnapshot, parse_router_metrics};

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| OpsError::Unavailable(format!("cannot start the async runtime: {e}")))?;
    let (telemetry, traffic, revisions) = runtime.block_on(async {
        let timeout = Duration::from_secs(30);
        let clients = Arc::new(Clients::for_profile(profile, args.time_scale, timeout).await?);
        let targets = clients.targets(profile, &Selection::All, None)?;
        // The demo's routers, so that observed shares exist.
        let mut routers = Vec::new();
        if let (Some(sim), Some(base)) = (&profile.simulator, clients.sim_base()) {
            let http = HttpClient::new(timeout, RetryPolicy::default())
                .map_err(|e| OpsError::Unavailable(e.to_string()))?;
            let settings = RouterSettings {
                requests_per_second: sim.requests_per_second,
                seed: sim.seed,
                request_deadline: timeout,
                reload_every: Duration::from_millis(200),
            };
            routers = start_routers(profile, &base, &DemoKeys::from_env(), &http, settings)
                .await
                .map_err(|e| OpsError::Unavailable(format!("cannot start the routers: {e}")))?
                .into_iter()
                .map(|(_, router)| router)
                .collect();
        }
        let telemetry = Arc::new(Telemetry::new());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let probe = ProbeConfig {
            interval: Duration::from_secs(1),
            jitter: 0.2,
            concurrency: 16,
            deadline: timeout,
            cold_bound: Duration::from_millis(profile.slo.cold_start_ms as u64),
        };
        let runner = tokio::spawn(run_probes(
            clients.clone(),
            targets,
            probe,
            telemetry.clone(),
            stopped,
        ));
        let scrape = |addr: std::net::SocketAddr| async move {
            let text = reqwest::get(format!("http://{addr}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            parse_router_metrics(&text).ok()
        };
        let mut first: Vec<RouterSnapshot> = Vec::new();
        for r in &routers {
            first.push(scrape(r.addr).await.unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
        let mut traffic = Vec::new();
        let mut revisions = Vec::new();
        for (r, before) in routers.iter().zip(&first) {
            let now = scrape(r.addr).await.unwrap_or_default();
            revisions.push((now.region.clone().unwrap_or_default(), now.revision));
            traffic.extend(now.since(before));
        }
        let _ = stop.send(true);
        let _ = runner.await;
        for r in routers {
            r.stop().await;
        }
        Ok::<_, OpsError>((telemetry, traffic, revisions))
    })?;
    runtime.block_on(print(
        console, &snapshot, &telemetry, &traffic, &revisions, json,
    ));
    Ok(())
}

async fn print(
    console: &Console,
    snapshot: &crate::flags::Snapshot,
    telemetry: &Telemetry,
    traffic: &[crate::telemetry::CellTraffic],
    revisions: &[(String, Option<u64>)],
    json: bool,
) {
    let profile = &console.profile;
    let window = Duration::from_secs(300);
    let mut rows = Vec::new();
    for (cell, split) in snapshot.routes().iter() {
        let observed = traffic.iter().find(|t| t.cell == *cell);
        let mut providers = Vec::new();
        for p in profile.providers_for(cell) {
            let f = telemetry.figures(cell, &p, window).await;
            let h = telemetry.health(cell, &p).await;
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
    if json {
        let regions: Vec<_> = revisions
            .iter()
            .map(|(r, rev)| json!({"region": r, "applied_revision": rev}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "revision": snapshot.revision(), "regions": regions, "cells": rows })
            )
            .unwrap_or_default()
        );
        return;
    }
    let applied: Vec<String> = revisions
        .iter()
        .map(|(r, rev)| format!("{r} {}", rev.map_or_else(|| "?".into(), |v| v.to_string())))
        .collect();
    let latest = snapshot.revision();
    let in_step = revisions.iter().filter(|(_, r)| *r == Some(latest)).count();
    println!(
        "flags rev {latest} · applied {in_step}/{} ({})",
        revisions.len(),
        applied.join(", ")
    );
    println!(
        "{:<24} {:<7} {:>7} {:>8} {:>8} {:>8} {:>6} {:>5} {:>9}",
        "cell", "prov", "asked", "served", "p50", "p95", "errs", "cold", "workers"
    );
    for row in &rows {
        for p in row["providers"].as_array().into_iter().flatten() {
            let pct = |v: &serde_json::Value| {
                v.as_f64()
                    .map_or_else(|| "—".into(), |x| format!("{x:.1}%"))
            };
            let ms =
                |v: &serde_json::Value| v.as_u64().map_or_else(|| "—".into(), |x| format!("{x}ms"));
            let workers = p["workers"].as_object().map_or_else(
                || "—".into(),
                |w| format!("{}/{}/{}", w["idle"], w["running"], w["initializing"]),
            );
            println!(
                "{:<24} {:<7} {:>7} {:>8} {:>8} {:>8} {:>6} {:>5} {:>9}",
                row["cell"].as_str().unwrap_or_default(),
                p["provider"].as_str().unwrap_or_default(),
                pct(&p["requested_percent"]),
                pct(&p["observed_percent"]),
                ms(&p["probe_p50_ms"]),
                ms(&p["probe_p95_ms"]),
                p["probe_errors"]
                    .as_u64()
                    .map_or_else(|| "—".into(), |e| e.to_string()),
                p["cold_starts"]
                    .as_u64()
                    .map_or_else(|| "—".into(), |e| e.to_string()),
                workers
            );
        }
    }
    println!(
        "(asked: the flag split; served: what the routers sent; latency from probes; workers idle/running/initializing)"
    );
}
