//! Reading a router's Prometheus metrics (the contract in the README) into
//! per-cell traffic: the share each provider actually serves, errors, p50/p95
//! from the latency histogram, and the revision the router applies. Counters
//! are cumulative, so traffic is the difference between two scrapes.

use std::collections::BTreeMap;

use prometheus_parse::{Scrape, Value};

use crate::domain::CellId;

/// Cumulative counts for one (model, provider) at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub ok: f64,
    pub errors: f64,
    /// Requests that met a cold start.
    pub cold: f64,
    /// Requests routed here, counted when sent (`beacon_routed_total`).
    pub routed: f64,
    /// (upper bound in seconds, cumulative count), ascending, +Inf last.
    pub buckets: Vec<(f64, f64)>,
}

/// One scrape of one regional router.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouterSnapshot {
    pub region: Option<String>,
    pub revision: Option<u64>,
    /// (model, provider) → counts.
    pub counts: BTreeMap<(String, String), Counts>,
}

/// What one provider did for one cell between two scrapes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderTraffic {
    pub requests: f64,
    /// Every failed request the router counted (a router's own retries are
    /// requests too: none is hidden).
    pub errors: f64,
    pub cold: f64,
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub p99_s: Option<f64>,
}

impl ProviderTraffic {
    pub fn error_percent(&self) -> Option<f64> {
        (self.requests > 0.0).then(|| self.errors * 100.0 / self.requests)
    }

    pub fn cold_percent(&self) -> Option<f64> {
        (self.requests > 0.0).then(|| self.cold * 100.0 / self.requests)
    }
}

/// Traffic of one cell between two scrapes.
#[derive(Debug, Clone, PartialEq)]
pub struct CellTraffic {
    pub cell: CellId,
    /// How long the traffic was counted over (between the two scrapes).
    pub window: std::time::Duration,
    /// How old the newer scrape is.
    pub age: std::time::Duration,
    /// Provider → what it did (every provider that served any of it).
    pub providers: BTreeMap<String, ProviderTraffic>,
    pub requests: f64,
    /// Provider → percent of this cell's requests it served.
    pub share: BTreeMap<String, f64>,
    pub error_percent: f64,
    /// Provider → (p50, p95) latency in seconds, from the histogram.
    pub latency: BTreeMap<String, (Option<f64>, Option<f64>)>,
}

/// Parses a router's `/metrics` text.
pub fn parse_router_metrics(text: &str) -> Result<RouterSnapshot, String> {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .map_err(|e| format!("not Prometheus text: {e}"))?;
    let mut snap = RouterSnapshot::default();
    for sample in &scrape.samples {
        let label = |name: &str| sample.labels.get(name).map(str::to_string);
        match (sample.metric.as_str(), &sample.value) {
            ("beacon_routing_revision", Value::Gauge(v) | Value::Untyped(v)) => {
                snap.revision = Some(*v as u64);
                snap.region = label("region");
            }
            ("beacon_requests_total", Value::Counter(v) | Value::Untyped(v)) => {
                let (Some(model), Some(provider)) = (label("model"), label("provider")) else {
                    continue;
                };
                let counts = snap.counts.entry((model, provider)).or_default();
                if label("outcome").as_deref() == Some("ok") {
                    counts.ok += v;
                } else {
                    counts.errors += v;
                }
            }
            ("beacon_routed_total", Value::Counter(v) | Value::Untyped(v)) => {
                let (Some(model), Some(provider)) = (label("model"), label("provider")) else {
                    continue;
                };
                snap.counts.entry((model, provider)).or_default().routed += v;
            }
            ("beacon_cold_starts_total", Value::Counter(v) | Value::Untyped(v)) => {
                let (Some(model), Some(provider)) = (label("model"), label("provider")) else {
                    continue;
                };
                snap.counts.entry((model, provider)).or_default().cold += v;
            }
            ("beacon_request_duration_seconds", Value::Histogram(buckets)) => {
                let (Some(model), Some(provider)) = (label("model"), label("provider")) else {
                    continue;
                };
                let counts = snap.counts.entry((model, provider)).or_default();
                counts.buckets = buckets.iter().map(|b| (b.less_than, b.count)).collect();
                counts.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            _ => {}
        }
    }
    Ok(snap)
}

/// Prometheus-style `histogram_quantile` over bucket deltas (linear inside a bucket).
fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let in_bucket = count - lower.1;
            let frac = if in_bucket > 0.0 {
                (rank - lower.1) / in_bucket
            } else {
                1.0
            };
            return Some(lower.0 + (le - lower.0) * frac);
        }
        lower = (le, count);
    }
    None
}

impl RouterSnapshot {
    /// Traffic per cell of this router's region since `earlier`.
    pub fn since(&self, earlier: &RouterSnapshot) -> Vec<CellTraffic> {
        let Some(region) = &self.region else {
            return Vec::new();
        };
        let mut by_model: BTreeMap<&str, Vec<(&str, Counts)>> = BTreeMap::new();
        for ((model, provider), now) in &self.counts {
            let before = earlier.counts.get(&(model.clone(), provider.clone()));
            let delta = Counts {
                ok: now.ok - before.map_or(0.0, |b| b.ok),
                errors: now.errors - before.map_or(0.0, |b| b.errors),
                cold: now.cold - before.map_or(0.0, |b| b.cold),
                routed: now.routed - before.map_or(0.0, |b| b.routed),
                buckets: now
                    .buckets
                    .iter()
                    .map(|&(le, c)| {
                        let was = before
                            .and_then(|b| b.buckets.iter().find(|(l, _)| *l == le))
                            .map_or(0.0, |(_, c)| *c);
                        (le, c - was)
                    })
                    .collect(),
            };
            by_model.entry(model).or_default().push((provider, delta));
        }
        by_model
            .into_iter()
            .map(|(model, providers)| {
                // The share is what the router sent where, counted when sent
                // when it says so (answers can take seconds to come back and
                // would drag the old split along); else by answers.
                let by_routing = providers.iter().any(|(_, d)| d.routed > 0.0);
                let sent = |d: &Counts| {
                    if by_routing {
                        d.routed
                    } else {
                        d.ok + d.errors
                    }
                };
                let requests: f64 = providers.iter().map(|(_, d)| sent(d)).sum();
                let answered: f64 = providers.iter().map(|(_, d)| d.ok + d.errors).sum();
                let errors: f64 = providers.iter().map(|(_, d)| d.errors).sum();
                let share = providers
                    .iter()
                    .map(|(p, d)| {
                        let pct = if requests > 0.0 {
                            sent(d) * 100.0 / requests
                        } else {
                            0.0
                        };
                        (p.to_string(), pct)
                    })
                    .collect();
                let latency = providers
                    .iter()
                    .map(|(p, d)| {
                        (
                            p.to_string(),
                            (quantile(0.5, &d.buckets), quantile(0.95, &d.buckets)),
                        )
                    })
                    .collect();
                let per_provider = providers
                    .iter()
                    .map(|(p, d)| {
                        let traffic = ProviderTraffic {
                            requests: d.ok + d.errors,
                            errors: d.errors,
                            cold: d.cold,
                            p50_s: quantile(0.5, &d.buckets),
                            p95_s: quantile(0.95, &d.buckets),
                            p99_s: quantile(0.99, &d.buckets),
                        };
                        (p.to_string(), traffic)
                    })
                    .collect();
                CellTraffic {
                    cell: CellId::new(model, region.as_str()),
                    window: std::time::Duration::ZERO,
                    age: std::time::Duration::ZERO,
                    providers: per_provider,
                    requests,
                    share,
                    error_percent: if answered > 0.0 {
                        errors * 100.0 / answered
                    } else {
                        0.0
                    },
                    latency,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE beacon_requests_total counter
beacon_requests_total{model="m",region="r",provider="modal",outcome="ok"} 60
beacon_requests_total{model="m",region="r",provider="runpod",outcome="ok"} 38
beacon_requests_total{model="m",region="r",provider="runpod",outcome="timeout"} 2
# TYPE beacon_request_duration_seconds histogram
beacon_request_duration_seconds_bucket{model="m",region="r",provider="runpod",le="0.5"} 20
beacon_request_duration_seconds_bucket{model="m",region="r",provider="runpod",le="1"} 40
beacon_request_duration_seconds_bucket{model="m",region="r",provider="runpod",le="+Inf"} 40
beacon_request_duration_seconds_sum{model="m",region="r",provider="runpod"} 25
beacon_request_duration_seconds_count{model="m",region="r",provider="runpod"} 40
# TYPE beacon_routing_revision gauge
beacon_routing_revision{region="r"} 7
"#;

    #[test]
    fn shares_errors_quantiles_and_revision() {
        let snap = parse_router_metrics(TEXT).unwrap();
        assert_eq!(snap.revision, Some(7));
        let traffic = snap.since(&RouterSnapshot::default());
        assert_eq!(traffic.len(), 1);
        let t = &traffic[0];
        assert_eq!(t.cell, CellId::new("m", "r"));
        assert_eq!(t.requests, 100.0);
        assert_eq!(t.share["runpod"], 40.0);
        assert_eq!(t.error_percent, 2.0);
        let (p50, p95) = t.latency["runpod"];
        assert_eq!(p50, Some(0.5));
        assert!((p95.unwrap() - 0.95).abs() < 1e-9, "{p95:?}");
        // Nothing new since the same scrape.
        assert_eq!(snap.since(&snap)[0].requests, 0.0);
        // Per provider: errors and latency of RunPod alone.
        let rp = &t.providers["runpod"];
        assert_eq!(rp.requests, 40.0);
        assert_eq!(rp.error_percent(), Some(5.0));
    }

    #[test]
    fn the_share_is_what_was_sent_when_the_router_counts_it() {
        // Sent: all to Modal since the rollback; answers: RunPod's slow ones
        // still coming back. The share is what the router sent.
        let text = format!(
            "{TEXT}beacon_routed_total{{model=\"m\",region=\"r\",provider=\"modal\"}} 50\n"
        );
        let snap = parse_router_metrics(&text).unwrap();
        let t = &snap.since(&RouterSnapshot::default())[0];
        assert_eq!(t.share["modal"], 100.0);
        assert_eq!(t.share["runpod"], 0.0);
        assert_eq!(t.error_percent, 2.0, "errors are of answers");
    }
}
