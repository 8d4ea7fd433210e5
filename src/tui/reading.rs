//! What one provider is doing for one cell, as the screen tells it: from the
//! routers' real traffic over a short named window where there is traffic,
//! else from probes (marked so), and how bad each figure is against the
//! profile's SLO. Pure: no I/O, no drawing.

use std::time::Duration;

use crate::config::SloConfig;
use crate::domain::CellId;

use super::live::Live;

/// The window the routers' figures are counted over.
pub const TRAFFIC_WINDOW: Duration = Duration::from_secs(10);

/// Where a figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The routers' counters over this window.
    Router(Duration),
    /// Probes over the last minute (the cell had no traffic there).
    Probes,
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub source: Source,
    pub requests: f64,
    pub p95_ms: Option<f64>,
    pub error_percent: Option<f64>,
    pub cold_percent: Option<f64>,
    /// The newest figures are older than twice the window: not shown as current.
    pub stale: bool,
}

/// How a figure stands against the SLO. Ordered: worse is greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Warn,
    Bad,
}

impl Severity {
    /// Two characters that say it without colour: `  `, ` !`, `!!`.
    pub fn mark(self) -> &'static str {
        match self {
            Severity::Ok => "  ",
            Severity::Warn => " !",
            Severity::Bad => "!!",
        }
    }
}

/// A figure against its limit: bad over it, a warning past `warn_at` of it.
fn against(value: Option<f64>, limit: f64, warn_at: f64) -> Severity {
    match value {
        Some(v) if v > limit => Severity::Bad,
        Some(v) if v > limit * warn_at => Severity::Warn,
        _ => Severity::Ok,
    }
}

impl Reading {
    /// Every request failed: the provider is down there.
    pub fn down(&self) -> bool {
        self.requests >= 3.0 && self.error_percent.is_some_and(|e| e >= 99.5) && !self.stale
    }

    pub fn latency(&self, slo: &SloConfig) -> Severity {
        against(self.p95_ms, slo.latency_p95_ms, 0.8)
    }

    pub fn errors(&self, slo: &SloConfig) -> Severity {
        if self.down() {
            return Severity::Bad;
        }
        against(self.error_percent, slo.error_rate_percent, 0.5)
    }

    /// Cold starts against the share the SLO lets be slow (20 % when 80 %
    /// must start fast).
    pub fn cold(&self, slo: &SloConfig) -> Severity {
        against(self.cold_percent, 100.0 - slo.cold_start_fast_percent, 0.5)
    }

    pub fn worst(&self, slo: &SloConfig) -> Severity {
        self.latency(slo).max(self.errors(slo)).max(self.cold(slo))
    }
}

impl Live {
    /// The reading of `provider` in `cell`: router traffic first, probes
    /// where the routers sent it nothing.
    pub fn reading(&self, cell: &CellId, provider: &str) -> Reading {
        if let Some(t) = self.traffic.get(cell)
            && let Some(p) = t.providers.get(provider)
            && p.requests > 0.0
        {
            return Reading {
                source: Source::Router(t.window),
                requests: p.requests,
                p95_ms: p.p95_s.map(|s| s * 1000.0),
                error_percent: p.error_percent(),
                cold_percent: p.cold_percent(),
                stale: t.age > TRAFFIC_WINDOW * 2,
            };
        }
        match self.probed(cell, provider) {
            Some(p) if p.figures.requests > 0 => {
                let n = p.figures.requests as f64;
                Reading {
                    source: Source::Probes,
                    requests: n,
                    p95_ms: p.figures.p95_ms.map(|v| v as f64),
                    error_percent: Some(p.figures.errors as f64 * 100.0 / n),
                    cold_percent: Some(p.figures.cold as f64 * 100.0 / n),
                    stale: false,
                }
            }
            _ => Reading {
                source: Source::Nothing,
                requests: 0.0,
                p95_ms: None,
                error_percent: None,
                cold_percent: None,
                stale: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(p95: f64, err: f64, cold: f64) -> Reading {
        Reading {
            source: Source::Router(TRAFFIC_WINDOW),
            requests: 100.0,
            p95_ms: Some(p95),
            error_percent: Some(err),
            cold_percent: Some(cold),
            stale: false,
        }
    }

    #[test]
    fn figures_are_judged_against_the_slo() {
        let slo = SloConfig::default();
        assert_eq!(reading(1900.0, 0.0, 0.0).latency(&slo), Severity::Warn);
        assert_eq!(reading(9700.0, 0.0, 0.0).latency(&slo), Severity::Bad);
        assert_eq!(reading(300.0, 0.0, 0.0).latency(&slo), Severity::Ok);
        assert_eq!(reading(300.0, 0.6, 0.0).errors(&slo), Severity::Warn);
        assert_eq!(reading(300.0, 47.0, 0.0).errors(&slo), Severity::Bad);
        assert_eq!(reading(300.0, 0.0, 25.0).cold(&slo), Severity::Bad);
        assert!(reading(300.0, 100.0, 0.0).down());
        assert!(!reading(300.0, 93.0, 0.0).down());
        assert_eq!(reading(300.0, 0.0, 12.0).worst(&slo), Severity::Warn);
    }
}

impl Live {
    /// The cells where `provider` is failing (errors over the SLO, or down):
    /// sending traffic there, or rolling back onto it, is no relief.
    pub fn failing(&self, provider: &str, cells: &[CellId], slo: &SloConfig) -> Failing {
        let cells = cells
            .iter()
            .filter_map(|cell| {
                let r = self.reading(cell, provider);
                (!r.stale && r.errors(slo) == Severity::Bad).then(|| (cell.clone(), r))
            })
            .collect();
        Failing {
            provider: provider.to_string(),
            cells,
        }
    }
}

/// Where a provider is failing, with the figures that say so.
#[derive(Debug, Clone, PartialEq)]
pub struct Failing {
    pub provider: String,
    pub cells: Vec<(CellId, Reading)>,
}

impl Failing {
    /// "modal FAILING in llama-3.2-1b/us-east (DOWN), qwen-2.5-1.5b/us-east
    /// (errors 36%)", or nothing.
    pub fn warning(&self) -> Option<String> {
        if self.cells.is_empty() {
            return None;
        }
        let shown: Vec<String> = self
            .cells
            .iter()
            .take(3)
            .map(|(cell, r)| {
                let how = if r.down() {
                    "DOWN".to_string()
                } else {
                    format!("errors {:.0}%", r.error_percent.unwrap_or(0.0))
                };
                format!("{cell} ({how})")
            })
            .collect();
        let more = match self.cells.len() {
            n if n > 3 => format!(" and {} more", n - 3),
            _ => String::new(),
        };
        Some(format!(
            "{} FAILING in {}{more}",
            self.provider,
            shown.join(", ")
        ))
    }
}
