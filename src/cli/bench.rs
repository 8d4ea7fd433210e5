//! `beacon-console bench`: the Phase 1 test from the command line.

use crate::failure::Failure;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::domain::Selection;
use crate::fleet::{Clients, Sample, Target, drive};
use crate::ops::bench::{BenchReport, Verdict, report};
use crate::ops::{Console, OpsError};
use crate::providers::RetryPolicy;

use super::args::{BenchArgs, WarmupArgs};

/// What `bench` and `warmup` share: validate, start the clients (and the
/// simulator on the demo), drive the requests with a progress line.
struct Load<'a> {
    selection: Selection,
    provider: Option<&'a str>,
    requests: usize,
    concurrency: usize,
    timeout_ms: u64,
    time_scale: Option<f64>,
    label: &'static str,
}

/// What a load run gives back: the targets, their samples, and how long the
/// requests took in all.
struct Driven {
    targets: Vec<Target>,
    samples: Vec<Vec<Sample>>,
    elapsed: Duration,
}

impl Load<'_> {
    fn run(&self, console: &Console, json: bool) -> Result<Driven, OpsError> {
        if self.requests == 0 || self.concurrency == 0 {
            return Err(OpsError::Invalid(
                "--requests and --concurrency must be at least 1".into(),
            ));
        }
        if let Some(x) = self.time_scale
            && !(x.is_finite() && x > 0.0)
        {
            return Err(OpsError::Invalid(format!(
                "--time-scale must be a positive number, got {x}"
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::new("start the async runtime", e))?;
        let profile = &console.profile;
        let timeout = Duration::from_millis(self.timeout_ms.max(1));
        runtime.block_on(async {
            let clients = Arc::new(
                Clients::for_profile(profile, self.time_scale, timeout, RetryPolicy::default())
                    .await?,
            );
            let targets = clients.targets(profile, &self.selection, self.provider)?;
            clients.ensure_credentials(&targets)?;
            if targets.is_empty() {
                return Err(OpsError::Invalid(format!(
                    "no endpoints in {}",
                    self.selection
                )));
            }
            let on_terminal = std::io::stderr().is_terminal() && !json;
            let started = Instant::now();
            let last = Arc::new(AtomicU64::new(0));
            let label = self.label;
            let progress: Arc<dyn Fn(usize, usize) + Send + Sync> = Arc::new(move |done, total| {
                // At most ~10 updates a second, and only on a terminal.
                let now = started.elapsed().as_millis() as u64;
                if on_terminal
                    && (done == total || now.saturating_sub(last.load(Ordering::Relaxed)) >= 100)
                {
                    last.store(now, Ordering::Relaxed);
                    eprint!(
                        "\r{label}: {done}/{total} requests ({:.1} s)",
                        started.elapsed().as_secs_f64()
                    );
                    let _ = std::io::stderr().flush();
                }
            });
            let driving = Instant::now();
            let samples = drive(
                clients.clone(),
                &targets,
                self.requests,
                self.concurrency,
                timeout,
                progress,
            )
            .await;
            let elapsed = driving.elapsed();
            if on_terminal {
                eprintln!();
            }
            Ok(Driven {
                targets,
                samples,
                elapsed,
            })
        })
    }
}

pub fn run(console: &Console, args: BenchArgs, json: bool) -> Result<(), OpsError> {
    let load = Load {
        selection: args.selection.selection().unwrap_or(Selection::All),
        provider: args.provider.as_deref(),
        requests: args.requests,
        concurrency: args.concurrency,
        timeout_ms: args.timeout_ms,
        time_scale: args.time_scale,
        label: "bench",
    };
    let Driven {
        targets,
        samples,
        elapsed,
    } = load.run(console, json)?;
    let mut report: BenchReport = report(&console.profile, &targets, &samples);
    let total: usize = samples.iter().map(Vec::len).sum();
    report.elapsed_s = elapsed.as_secs_f64();
    report.requests_per_second = total as f64 / elapsed.as_secs_f64().max(1e-9);
    print(&report, json);
    match report.verdict {
        Verdict::Pass => Ok(()),
        Verdict::Fail => Err(OpsError::GatesFailed(
            "bench: at least one gate FAILED".into(),
        )),
        Verdict::Inconclusive => Err(OpsError::GatesFailed(
            "bench: inconclusive (too few successful samples), which is not a pass".into(),
        )),
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(
        || "—".into(),
        |v| {
            if v >= 1000.0 {
                format!("{:.2}s", v / 1000.0)
            } else {
                format!("{v:.0}ms")
            }
        },
    )
}

fn print(r: &BenchReport, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return;
    }
    println!(
        "{:<24} {:<7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6} {:>10}",
        "cell", "prov", "p50", "p90", "p95", "p99", "cold<bnd", "err", "$/1k inf"
    );
    for e in &r.endpoints {
        let cold = e.cold_fast_percent.map_or_else(
            || "—".into(),
            |v| format!("{v:.0}%{}", if e.cold_estimated { "~" } else { "" }),
        );
        let cost = e
            .cost_per_inference
            .map_or_else(|| "—".into(), |c| format!("{:.4}", c * 1000.0));
        println!(
            "{:<24} {:<7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>5.1}% {:>10}",
            e.cell.to_string(),
            e.provider,
            ms(e.p50_ms),
            ms(e.p90_ms),
            ms(e.p95_ms),
            ms(e.p99_ms),
            cold,
            e.error_percent,
            cost
        );
        if !e.errors.is_empty() {
            let list: Vec<String> = e.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!("{:<24} errors: {}", "", list.join(", "));
        }
    }
    println!("(~ = Modal cold starts are estimates: latency − execution)");
    println!();
    for c in &r.cells {
        let gates: Vec<String> = c
            .gates
            .iter()
            .map(|g| format!("{} {}: {}", label(g.verdict), g.name, g.detail))
            .collect();
        println!(
            "{:<24} {} ({} vs fallback)",
            c.cell.to_string(),
            label(c.verdict),
            c.candidate
        );
        for g in gates {
            println!("    {g}");
        }
    }
    println!("\noverall: {}", label(r.verdict));
    println!(
        "{:.0} requests/s over {:.1} s (real time)",
        r.requests_per_second, r.elapsed_s
    );
}

fn label(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Inconclusive => "INCONCLUSIVE",
    }
}

/// `beacon-console warmup`: a few requests per endpoint, each one reported.
pub fn warmup(console: &Console, args: WarmupArgs, json: bool) -> Result<(), OpsError> {
    let provider = args.provider.as_deref().filter(|p| *p != "all");
    let load = Load {
        selection: args.selection.selection().ok_or_else(|| {
            OpsError::Invalid(
                "say which cells: --cell MODEL/REGION, --row MODEL, --column REGION or --all"
                    .into(),
            )
        })?,
        provider,
        requests: args.requests,
        concurrency: args.concurrency,
        timeout_ms: args.timeout_ms,
        time_scale: args.time_scale,
        label: "warmup",
    };
    let Driven {
        targets, samples, ..
    } = load.run(console, json)?;
    let bound = console.profile.slo.cold_start_ms;
    if json {
        let rows: Vec<_> = targets
            .iter()
            .zip(&samples)
            .map(|(t, s)| {
                let requests: Vec<_> = s
                    .iter()
                    .map(|x| {
                        serde_json::json!({
                            "latency_ms": x.latency.as_secs_f64() * 1000.0,
                            "cold_start_ms": x.cold_ms,
                            "execution_ms": x.execution_ms,
                            "error": x.error.map(crate::providers::ErrorClass::label),
                        })
                    })
                    .collect();
                serde_json::json!({ "cell": t.cell.to_string(), "provider": t.provider, "requests": requests })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        for (t, s) in targets.iter().zip(&samples) {
            let cells: Vec<String> = s
                .iter()
                .map(|x| match (x.error, x.cold_ms) {
                    (Some(e), _) => format!("✗ {}", e.label()),
                    (None, Some(c)) if (c as f64) >= bound => format!(
                        "{} cold {}",
                        ms(Some(x.latency.as_secs_f64() * 1000.0)),
                        ms(Some(c as f64))
                    ),
                    (None, _) => format!("{} warm", ms(Some(x.latency.as_secs_f64() * 1000.0))),
                })
                .collect();
            println!(
                "{:<24} {:<7} {}",
                t.cell.to_string(),
                t.provider,
                cells.join(" · ")
            );
        }
        let total: usize = samples.iter().map(Vec::len).sum();
        let cold = samples
            .iter()
            .flatten()
            .filter(|x| x.cold_ms.is_some_and(|c| c as f64 >= bound))
            .count();
        let failed = samples
            .iter()
            .flatten()
            .filter(|x| x.error.is_some())
            .count();
        println!("{total} requests: {cold} met a cold start (≥ {bound} ms), {failed} failed");
    }
    let failed = samples
        .iter()
        .flatten()
        .filter(|x| x.error.is_some())
        .count();
    if failed > 0 {
        return Err(OpsError::Unavailable(format!(
            "warmup: {failed} request(s) failed"
        )));
    }
    Ok(())
}
