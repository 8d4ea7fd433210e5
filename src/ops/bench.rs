//! The research doc's Phase 1 test: per endpoint the latency distribution,
//! cold-start distribution, errors by class and cost per inference; per cell
//! the profile's gates, RunPod against the fallback, PASS / FAIL /
//! INCONCLUSIVE (too few samples is never a pass).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Profile;
use crate::domain::CellId;

use crate::fleet::{Sample, Target};

#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    pub cell: CellId,
    pub provider: String,
    pub requests: usize,
    pub ok: usize,
    pub errors: BTreeMap<String, usize>,
    pub error_percent: f64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Share of successful requests whose cold start was under the profile's bound.
    pub cold_fast_percent: Option<f64>,
    /// Cold starts are estimates (Modal: latency − execution).
    pub cold_estimated: bool,
    pub cost_per_inference: Option<f64>,
    pub yearly_cost: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    pub cell: CellId,
    pub candidate: String,
    pub gates: Vec<Gate>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub endpoints: Vec<EndpointReport>,
    pub cells: Vec<CellReport>,
    pub verdict: Verdict,
    /// Real time the requests took, and the rate they went at.
    pub elapsed_s: f64,
    pub requests_per_second: f64,
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn endpoint_report(profile: &Profile, target: &Target, samples: &[Sample]) -> EndpointReport {
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.error.is_none()).collect();
    let mut errors = BTreeMap::new();
    for s in samples {
        if let Some(class) = s.error {
            *errors.entry(class.label().to_string()).or_default() += 1;
        }
    }
    let mut latencies: Vec<f64> = ok
        .iter()
        .map(|s| s.latency.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let colds: Vec<u64> = ok.iter().filter_map(|s| s.cold_ms).collect();
    let bound = profile.slo.cold_start_ms;
    let cold_fast_percent = (!colds.is_empty()).then(|| {
        colds.iter().filter(|c| (**c as f64) < bound).count() as f64 * 100.0 / colds.len() as f64
    });
    let price = profile
        .provider(&target.provider)
        .map_or(0.0, |p| p.price_per_second);
    let execs: Vec<u64> = ok.iter().filter_map(|s| s.execution_ms).collect();
    let cost_per_inference = (!execs.is_empty())
        .then(|| execs.iter().sum::<u64>() as f64 / execs.len() as f64 / 1000.0 * price);
    EndpointReport {
        cell: target.cell.clone(),
        provider: target.provider.clone(),
        requests: samples.len(),
        ok: ok.len(),
        error_percent: if samples.is_empty() {
            0.0
        } else {
            (samples.len() - ok.len()) as f64 * 100.0 / samples.len() as f64
        },
        errors,
        p50_ms: percentile(&latencies, 0.50),
        p90_ms: percentile(&latencies, 0.90),
        p95_ms: percentile(&latencies, 0.95),
        p99_ms: percentile(&latencies, 0.99),
        cold_fast_percent,
        cold_estimated: target.kind == crate::config::ProviderKind::Modal,
        yearly_cost: cost_per_inference.map(|c| c * profile.yearly_inferences as f64),
        cost_per_inference,
    }
}

fn gate(
    name: &'static str,
    measured: Option<f64>,
    enough: bool,
    pass: impl Fn(f64) -> bool,
    detail: impl Fn(f64) -> String,
) -> Gate {
    match measured {
        Some(v) if enough => Gate {
            name,
            verdict: if pass(v) {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            detail: detail(v),
        },
        _ => Gate {
            name,
            verdict: Verdict::Inconclusive,
            detail: "too few successful samples".into(),
        },
    }
}

/// Builds the report from the targets and the samples `drive` returned for them.
pub fn report(profile: &Profile, targets: &[Target], samples: &[Vec<Sample>]) -> BenchReport {
    let endpoints: Vec<EndpointReport> = targets
        .iter()
        .zip(samples)
        .map(|(t, s)| endpoint_report(profile, t, s))
        .collect();
    let slo = &profile.slo;
    let mut cells: Vec<CellReport> = Vec::new();
    for candidate in endpoints.iter().filter(|e| e.provider != profile.fallback) {
        let fallback = endpoints
            .iter()
            .find(|e| e.cell == candidate.cell && e.provider == profile.fallback);
        let enough = candidate.ok as u64 >= slo.min_samples;
        let mut gates = vec![
            gate(
                "cold start",
                candidate.cold_fast_percent,
                enough,
                |v| v >= slo.cold_start_fast_percent,
                |v| {
                    format!(
                        "{v:.0}% under {} ms (need {}%)",
                        slo.cold_start_ms, slo.cold_start_fast_percent
                    )
                },
            ),
            gate(
                "latency p95",
                candidate.p95_ms,
                enough,
                |v| v < slo.latency_p95_ms,
                |v| format!("{v:.0} ms (need < {} ms)", slo.latency_p95_ms),
            ),
            gate(
                "errors",
                Some(candidate.error_percent),
                candidate.requests as u64 >= slo.min_samples,
                |v| v < slo.error_rate_percent,
                |v| format!("{v:.1}% (need < {}%)", slo.error_rate_percent),
            ),
        ];
        let cost_ratio = match (
            candidate.cost_per_inference,
            fallback.and_then(|f| f.cost_per_inference),
        ) {
            (Some(c), Some(f)) if f > 0.0 => Some(c / f),
            _ => None,
        };
        gates.push(gate(
            "cost",
            cost_ratio,
            enough,
            |v| v <= slo.cost_vs_fallback,
            |v| format!("{v:.2}× the fallback's (need ≤ {})", slo.cost_vs_fallback),
        ));
        let verdict = overall(gates.iter().map(|g| g.verdict));
        cells.push(CellReport {
            cell: candidate.cell.clone(),
            candidate: candidate.provider.clone(),
            gates,
            verdict,
        });
    }
    let verdict = if cells.is_empty() {
        Verdict::Inconclusive
    } else {
        overall(cells.iter().map(|c| c.verdict))
    };
    BenchReport {
        endpoints,
        cells,
        verdict,
        elapsed_s: 0.0,
        requests_per_second: 0.0,
    }
}

fn overall(verdicts: impl Iterator<Item = Verdict>) -> Verdict {
    let mut result = Verdict::Pass;
    for v in verdicts {
        match v {
            Verdict::Fail => return Verdict::Fail,
            Verdict::Inconclusive => result = Verdict::Inconclusive,
            Verdict::Pass => {}
        }
    }
    result
}
