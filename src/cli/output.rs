//! What the commands print: aligned text for people, JSON with `--json`.

use serde_json::json;

use crate::config::{Endpoint, Profile, ProviderConfig, ProviderKind, SecretSource};
use crate::domain::text::printable;
use crate::domain::{CellChange, CellId, Split};
use crate::flags::Committed;
use crate::flags::Snapshot;
use crate::ops::{Console, History, Rollback, Skipped};

fn pct(permille: u16) -> f64 {
    f64::from(permille) / 10.0
}

fn split_json(split: &Split) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = split
        .weights()
        .iter()
        .map(|(p, w)| (p.to_string(), json!(pct(*w))))
        .collect();
    serde_json::Value::Object(map)
}

fn before_text(before: &Option<Split>) -> String {
    before
        .as_ref()
        .map_or_else(|| "(unknown)".into(), Split::words)
}

pub fn status(console: &Console, snapshot: &Snapshot, json: bool) {
    if json {
        let value = status_json(console, snapshot);
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return;
    }
    status_heading(console, snapshot);
    last_change(console, snapshot);
    println!();
    print_table(&status_rows(&console.profile, snapshot));
}

/// `status --json`: the profile, the store, the revision and every cell's split.
fn status_json(console: &Console, snapshot: &Snapshot) -> serde_json::Value {
    let profile = &console.profile;
    let doc = &snapshot.document;
    let cells: Vec<_> = doc
        .routes
        .iter()
        .map(|(cell, split)| {
            json!({
                "cell": cell.to_string(),
                "model": cell.model,
                "region": cell.region,
                "split_permille": split,
                "split_percent": split_json(split),
            })
        })
        .collect();
    json!({
        "profile": profile.name,
        "environment": profile.environment.label().to_lowercase(),
        "read_only": console.read_only,
        "store": console.store.describe(),
        "revision": doc.revision,
        "fallback": profile.fallback,
        "last_change": doc.last_change(),
        "audit_behind": snapshot.audit_behind,
        "simulator": running_simulator(profile).map(|s| json!({
            "base": s.base, "pid": s.pid, "fault_api": s.fault_api(),
        })),
        "cells": cells,
    })
}

/// The demo's simulator, when a console (or `sim`) on this state runs one.
fn running_simulator(profile: &Profile) -> Option<crate::sim::announce::Announcement> {
    profile.simulator.as_ref()?;
    crate::sim::announce::running(profile.store_path()?.parent()?)
}

/// The profile, environment and revision; the store; an audit log behind.
fn status_heading(console: &Console, snapshot: &Snapshot) {
    let profile = &console.profile;
    let ro = if console.read_only {
        " · READ-ONLY"
    } else {
        ""
    };
    println!(
        "{} · {} · flags rev {}{ro}",
        profile.name,
        profile.environment.label(),
        snapshot.document.revision,
    );
    println!("store: {}", printable(&console.store.describe()));
    if let Some(sim) = running_simulator(profile) {
        println!(
            "simulator: {} (pid {}) · faults: POST {}",
            sim.base,
            sim.pid,
            sim.fault_api()
        );
    }
    if snapshot.audit_behind > 0 {
        let repair = if console.read_only {
            "read-only: not repaired"
        } else {
            "the audit log cannot be brought up to date"
        };
        println!(
            "audit behind by {} revision(s) ({repair})",
            snapshot.audit_behind
        );
    }
}

/// Who changed the flags last, when and why (or why nobody is known).
fn last_change(console: &Console, snapshot: &Snapshot) {
    let doc = &snapshot.document;
    match doc.last_change() {
        Some(c) => println!(
            "{}",
            printable(&format!(
                "last change: {} by {} at {} · \"{}\"",
                c.action, c.operator, c.time, c.reason
            ))
        ),
        None if doc.revision == 0 => println!(
            "no change committed yet: every cell on the fallback ({})",
            console.profile.fallback
        ),
        None => println!(
            "revision {} carries no change record (written outside beacon-console)",
            doc.revision
        ),
    }
}

/// The matrix: a row per model, a column per region, each cell's split.
fn status_rows(profile: &Profile, snapshot: &Snapshot) -> Vec<Vec<String>> {
    let routes = &snapshot.document.routes;
    let regions = profile.region_ids();
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("model \\ region".to_string())
            .chain(regions.iter().map(ToString::to_string))
            .collect(),
    ];
    for model in profile.model_ids() {
        let mut row = vec![model.to_string()];
        for region in &regions {
            let cell = CellId::new(model.clone(), region.clone());
            row.push(routes.get(&cell).map_or_else(|| "?".into(), Split::words));
        }
        rows.push(row);
    }
    rows
}

fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// The before → after table shown before a write.
pub fn preview(title: &str, revision: u64, changes: &[CellChange], skipped: &[Skipped]) {
    eprintln!("{title}, based on revision {revision}:");
    let mut rows = Vec::new();
    for c in changes {
        rows.push(vec![
            format!("  {}", c.cell),
            before_text(&c.before),
            "→".into(),
            Split::words(&c.after),
        ]);
    }
    if !rows.is_empty() {
        let widths: Vec<usize> = (0..4)
            .map(|i| {
                rows.iter()
                    .map(|r: &Vec<String>| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in &rows {
            eprintln!(
                "{:<w0$}  {:<w1$}  {}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = widths[0],
                w1 = widths[1]
            );
        }
    }
    for s in skipped {
        eprintln!("  {} unchanged: {}", s.cell, s.why);
    }
}

pub fn nothing_to_do(revision: u64, json: bool, why: &str) {
    if json {
        println!(
            "{}",
            json!({ "committed": false, "revision": revision, "message": why })
        );
    } else {
        println!("nothing to change ({why}); revision {revision} stays");
    }
}

fn committed_json(c: &Committed) -> serde_json::Value {
    json!({
        "committed": true,
        "revision": c.record.revision,
        "previous_revision": c.record.previous_revision,
        "action": c.record.action,
        "reason": c.record.reason,
        "operator": c.record.operator,
        "time": c.record.time,
        "elapsed_ms": c.elapsed.as_secs_f64() * 1000.0,
        "changes": c.record.changes,
        "audit_warning": c.audit_warning,
    })
}

pub fn committed(c: &Committed, json: bool) {
    if json {
        println!("{}", committed_json(c));
    } else {
        println!(
            "committed revision {} ({}, {} cell(s)) in {:.1} ms",
            c.record.revision,
            c.record.action,
            c.record.changes.len(),
            c.elapsed.as_secs_f64() * 1000.0
        );
    }
    if let Some(w) = &c.audit_warning {
        eprintln!("warning: {w}");
    }
}

pub fn rollback(r: &Rollback, fallback: &str, json: bool) {
    match &r.committed {
        Some(c) => {
            if json {
                let mut v = committed_json(c);
                v["cells_selected"] = json!(r.cells);
                println!("{v}");
            } else {
                println!(
                    "rolled back {} cell(s) to {fallback}: revision {} in {:.1} ms",
                    c.record.changes.len(),
                    c.record.revision,
                    c.elapsed.as_secs_f64() * 1000.0
                );
                if let Some(note) = &c.record.note {
                    println!("note: {}", printable(note));
                }
            }
            if let Some(w) = &c.audit_warning {
                eprintln!("warning: {w}");
            }
        }
        None => nothing_to_do(
            r.revision,
            json,
            &format!("all {} selected cell(s) already on {fallback}", r.cells),
        ),
    }
}

pub fn history(h: &History, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&h.events).unwrap_or_default()
        );
    } else if h.events.is_empty() {
        match &h.filtered {
            Some((kind, all)) if *all > 0 => {
                println!("no {kind} entries ({all} other entries in the audit)");
            }
            _ => println!("no changes recorded yet"),
        }
    }
    for bad in &h.bad_lines {
        eprintln!(
            "warning: audit line {} is unreadable: {}",
            bad.line, bad.error
        );
    }
    if json {
        return;
    }
    for line in h.lines() {
        println!("{line}");
    }
}

/// A secret's source and whether it can be read (on the demo an unset one
/// is no problem: the simulator's own key stands in).
fn secret_text(s: &Option<SecretSource>, demo: bool) -> String {
    match s {
        None => "none".into(),
        Some(src) => match src.availability() {
            Ok(()) => format!("{src} (available)"),
            Err(_) if demo => format!("{src} (not set: the simulator's demo key is used)"),
            Err(why) => format!("{src} (NOT available: {why})"),
        },
    }
}

/// What a valid profile still lacks: secrets that cannot be read (probes,
/// warmups and bench on that provider cannot run) and providers without an
/// endpoint for every cell (those cells cannot be shifted to them). Flag
/// writes need neither.
pub fn config_warnings(p: &Profile) -> Vec<String> {
    let cells = p.cells();
    let mut warnings = Vec::new();
    if let crate::config::StoreConfig::Etcd(etcd) = &p.store {
        for (name, source) in [("user", &etcd.user), ("password", &etcd.password)] {
            if let Some(Err(why)) = source.as_ref().map(SecretSource::availability) {
                warnings.push(format!(
                    "store {name}: {why}: the flags in etcd cannot be read or written until it is set"
                ));
            }
        }
    }
    for pr in &p.providers {
        let named = [
            ("api_key", &pr.api_key),
            ("proxy_key", &pr.proxy_key),
            ("proxy_secret", &pr.proxy_secret),
        ];
        for (name, source) in named {
            if let Some(Err(why)) = source.as_ref().map(SecretSource::availability)
                && p.simulator.is_none()
            {
                warnings.push(format!(
                    "provider {} {name}: {why}: probes, warmups and bench on {} cannot run (flag writes do not need it)",
                    pr.id, pr.id
                ));
            }
        }
        if pr.kind == ProviderKind::RunPod && pr.api_key.is_none() && p.simulator.is_none() {
            warnings.push(format!(
                "provider {} has no api_key: probes, warmups and bench on it cannot run",
                pr.id
            ));
        }
        let missing = cells.iter().filter(|c| !p.has_endpoint(c, &pr.id)).count();
        if missing > 0 {
            warnings.push(format!(
                "provider {} has no endpoint for {missing} of {} cells: those cannot be shifted to it",
                pr.id,
                cells.len()
            ));
        }
    }
    warnings
}

pub fn check_config(p: &Profile, json: bool) {
    let cells = p.cells();
    let warnings = config_warnings(p);
    if json {
        let value = check_config_json(p, &cells, &warnings);
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return;
    }
    check_config_heading(p, &warnings);
    for pr in &p.providers {
        provider_summary(p, pr, &cells);
    }
    gates_and_storage(p);
}

fn kind_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::RunPod => "runpod",
        ProviderKind::Modal => "modal",
    }
}

/// `check-config --json`: the profile's summary and its warnings.
fn check_config_json(p: &Profile, cells: &[CellId], warnings: &[String]) -> serde_json::Value {
    let providers: Vec<_> = p
        .providers
        .iter()
        .map(|pr| provider_json(p, pr, cells))
        .collect();
    json!({
        "ok": true,
        "warnings": warnings,
        "profile": p.origin,
        "name": p.name,
        "environment": p.environment.label().to_lowercase(),
        "read_only": p.read_only,
        "fallback": p.fallback,
        "models": p.model_ids(),
        "regions": p.region_ids(),
        "cells": cells.len(),
        "providers": providers,
        "ladder_percent": p.ladder.steps().iter().map(|s| pct(s.get())).collect::<Vec<_>>(),
        "store": p.store_text(),
        "audit": p.audit_path.display().to_string(),
        "simulator": p.simulator.is_some(),
        "guard": {
            "mode": p.guard.mode.name(),
            "check_interval_ms": p.guard.check_interval.as_millis() as u64,
            "window_ms": p.guard.window.as_millis() as u64,
            "rules": crate::domain::guard::Rule::ALL
                .iter()
                .map(|&r| (r.name().to_string(), serde_json::Value::from(p.guard.rules.of(r).name())))
                .collect::<serde_json::Map<_, _>>(),
        },
        "probes": {
            "max_per_second": ProbeBudget::of(p).per_second,
            "endpoints": ProbeBudget::of(p).endpoints,
            "cost_per_hour": ProbeBudget::of(p).cost_per_hour,
            "with_traffic": p.telemetry.probe_with_traffic,
        },
    })
}

/// One provider in `check-config --json`: kind, price, endpoint count and
/// where its secrets come from (not their values).
fn provider_json(p: &Profile, pr: &ProviderConfig, cells: &[CellId]) -> serde_json::Value {
    let named = [
        ("api_key", &pr.api_key),
        ("proxy_key", &pr.proxy_key),
        ("proxy_secret", &pr.proxy_secret),
    ];
    let secrets: Vec<_> = named
        .into_iter()
        .filter_map(|(name, s)| {
            s.as_ref().map(|src| {
                json!({"name": name, "source": src.to_string(), "available": src.availability().is_ok()})
            })
        })
        .collect();
    json!({
        "id": pr.id,
        "kind": kind_name(pr.kind),
        "price_per_second": pr.price_per_second,
        "endpoints": cells.iter().filter(|c| p.has_endpoint(c, &pr.id)).count(),
        "secrets": secrets,
    })
}

/// OK or WARN with the warnings; name, environment, fallback; models and regions.
fn check_config_heading(p: &Profile, warnings: &[String]) {
    if warnings.is_empty() {
        println!("{}: OK", p.origin);
    } else {
        println!("{}: WARN ({} warning(s))", p.origin, warnings.len());
        for w in warnings {
            println!("  WARN {w}");
        }
    }
    println!(
        "  name {} · {} · fallback {} · read-only {}",
        p.name,
        p.environment.label(),
        p.fallback,
        if p.read_only { "yes" } else { "no" }
    );
    println!(
        "  {} model(s): {}",
        p.models.len(),
        p.model_ids().join(", ")
    );
    println!(
        "  {} region(s): {}",
        p.regions.len(),
        p.region_ids().join(", ")
    );
}

/// A provider's lines: kind, price, endpoint count, secrets, an example endpoint.
fn provider_summary(p: &Profile, pr: &ProviderConfig, cells: &[CellId]) {
    let count = cells.iter().filter(|c| p.has_endpoint(c, &pr.id)).count();
    println!(
        "  provider {} ({}, ${}/s): endpoints for {count}/{} cells",
        pr.id,
        kind_name(pr.kind),
        pr.price_per_second,
        cells.len()
    );
    let demo = p.simulator.is_some();
    match pr.kind {
        ProviderKind::RunPod => println!("    api_key: {}", secret_text(&pr.api_key, demo)),
        ProviderKind::Modal => {
            println!("    proxy_key: {}", secret_text(&pr.proxy_key, demo));
            println!("    proxy_secret: {}", secret_text(&pr.proxy_secret, demo));
        }
    }
    if let Some((cell, e)) = cells
        .iter()
        .find_map(|c| p.endpoint(c, &pr.id).map(|e| (c, e)))
    {
        let shown = match e {
            Endpoint::RunPod {
                api_base,
                endpoint_id,
            } => format!("{api_base}/{endpoint_id}"),
            Endpoint::Modal { url } => url.clone(),
        };
        println!("    e.g. {cell}: {shown}");
    }
}

/// The ladder, the bench gates, the store, the audit log and the simulator.
fn gates_and_storage(p: &Profile) {
    let ladder: Vec<String> = p.ladder.steps().iter().map(ToString::to_string).collect();
    println!("  ladder: {}", ladder.join(" "));
    let s = &p.slo;
    println!(
        "  bench gates (SLO): cold start < {} ms for {}% · p95 < {} ms · errors < {}% · cost ≤ {}× fallback · ≥ {} samples",
        s.cold_start_ms,
        s.cold_start_fast_percent,
        s.latency_p95_ms,
        s.error_rate_percent,
        s.cost_vs_fallback,
        s.min_samples,
    );
    let probes = ProbeBudget::of(p);
    println!(
        "  probes: at most {:.1}/s over {} endpoints (each every {:.0} s) · ≈ ${:.2}/hour at 1 s of provider time each{}",
        probes.per_second,
        probes.endpoints,
        probes.every_s,
        probes.cost_per_hour,
        match (p.simulator.is_some(), p.telemetry.probe_with_traffic) {
            (true, _) => " on real providers (the demo's simulator costs nothing)",
            (false, true) => "",
            (false, false) => " (cells with router traffic are not probed)",
        }
    );
    let g = &p.guard;
    println!(
        "  guard: {} · every {} s over the last {} s · rules: {} (never more than the mode)",
        g.mode.name(),
        g.check_interval.as_secs_f64(),
        g.window.as_secs_f64(),
        g.rules.words()
    );
    println!("  store: {}", p.store_text());
    println!("  audit: {}", p.audit_path.display());
    if let Some(sim) = &p.simulator {
        println!(
            "  simulator: seed {} · {} req/s · time scale {}",
            sim.seed, sim.requests_per_second, sim.time_scale
        );
    }
}

/// What probing costs at most: each probe is an inference.
struct ProbeBudget {
    endpoints: usize,
    per_second: f64,
    every_s: f64,
    /// At the providers' prices, taking a probe as 1 s of provider time.
    cost_per_hour: f64,
}

impl ProbeBudget {
    fn of(p: &Profile) -> ProbeBudget {
        let cells = p.cells();
        let mut endpoints = 0;
        let mut price = 0.0;
        for provider in &p.providers {
            let n = cells
                .iter()
                .filter(|c| p.has_endpoint(c, &provider.id))
                .count();
            endpoints += n;
            price += provider.price_per_second * n as f64;
        }
        let wanted = endpoints as f64 / p.telemetry.probe_interval.as_secs_f64().max(0.001);
        let per_second = wanted.min(p.telemetry.max_probes_per_second);
        let mean_price = if endpoints == 0 {
            0.0
        } else {
            price / endpoints as f64
        };
        ProbeBudget {
            endpoints,
            per_second,
            every_s: if per_second > 0.0 {
                endpoints as f64 / per_second
            } else {
                0.0
            },
            cost_per_hour: per_second * 3600.0 * mean_price,
        }
    }
}
