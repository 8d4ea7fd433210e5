//! What the screen shows of the measurements, gathered once per refresh from
//! the monitor (probes and router scrapes), so drawing never waits on a lock.

use std::collections::HashMap;
use std::time::Duration;

use crate::domain::CellId;
use crate::ops::monitor::{Monitor, RegionStatus};
use crate::telemetry::CellTraffic;
use crate::telemetry::probes::Probed;

use super::reading::TRAFFIC_WINDOW;

#[derive(Debug, Clone, Default)]
pub struct Live {
    pub probed: HashMap<(CellId, String), Probed>,
    /// Served share (percent) per provider of each cell the routers sent
    /// traffic for.
    pub served: HashMap<CellId, std::collections::BTreeMap<String, f64>>,
    /// Requests the routers sent per cell in the window behind `served`.
    pub served_requests: HashMap<CellId, f64>,
    pub regions: Vec<RegionStatus>,
    /// Providers that are not called (no usable credentials), and why.
    pub unavailable: std::collections::BTreeMap<String, String>,
    /// The routers' traffic per cell over the last [`TRAFFIC_WINDOW`].
    pub traffic: HashMap<CellId, CellTraffic>,
}

impl Live {
    /// The figures now: router traffic since every region applied
    /// `revision` (so a rollback reads 0 % within seconds of being applied,
    /// not after a minute's average), and the last minute of probes.
    pub async fn gather(monitor: &Monitor, revision: u64) -> Live {
        let probed = monitor.telemetry.all(Duration::from_secs(60));
        let mut served = HashMap::new();
        let mut served_requests = HashMap::new();
        let mut traffic = HashMap::new();
        for t in monitor.traffic_since(TRAFFIC_WINDOW, revision).await {
            if t.requests > 0.0 {
                served.insert(t.cell.clone(), t.share.clone());
                served_requests.insert(t.cell.clone(), t.requests);
                traffic.insert(t.cell.clone(), t);
            }
        }
        Live {
            probed,
            served,
            served_requests,
            traffic,
            regions: monitor.regions().await,
            unavailable: monitor.clients.unavailable().clone(),
        }
    }

    pub fn probed(&self, cell: &CellId, provider: &str) -> Option<&Probed> {
        self.probed.get(&(cell.clone(), provider.to_string()))
    }

    /// A provider that served none of a cell's traffic served 0 %; a cell
    /// with no traffic seen has no figure.
    pub fn served(&self, cell: &CellId, provider: &str) -> Option<f64> {
        self.served
            .get(cell)
            .map(|shares| shares.get(provider).copied().unwrap_or(0.0))
    }

    /// Whether the served share really differs from the asked one: by more
    /// than 5 points and more than sampling explains (3 σ of a binomial
    /// share over the requests seen). A few requests prove nothing either way.
    pub fn mismatch(&self, cell: &CellId, provider: &str, asked_percent: f64) -> bool {
        let (Some(served), Some(&n)) =
            (self.served(cell, provider), self.served_requests.get(cell))
        else {
            return false;
        };
        let p = (asked_percent / 100.0).clamp(0.0, 1.0);
        let sigma = 100.0 * (p * (1.0 - p) / n.max(1.0)).sqrt();
        (served - asked_percent).abs() > 5.0_f64.max(3.0 * sigma)
    }

    /// Whether the region applies `revision` (None when its router is unknown).
    pub fn applies(&self, region: &str, revision: u64) -> Option<bool> {
        self.regions
            .iter()
            .find(|r| &*r.region == region)
            .and_then(|r| r.applied_revision)
            .map(|applied| applied == revision)
    }
}

/// How warm a provider is for some cells, per region: what an operator must
/// know before sending traffic there (a rollback onto a cold fallback is its
/// own outage). Never a reason to delay a rollback: only a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdRegions {
    pub provider: String,
    pub regions: Vec<String>,
}

impl Live {
    /// Regions where `provider` looks cold for any of `cells`: RunPod with no
    /// idle or running worker; otherwise (Modal has no API for it) probes that
    /// met cold starts in most of the last minute, or no successful probe.
    pub fn cold_regions(&self, provider: &str, cells: &[CellId]) -> ColdRegions {
        let mut regions: Vec<String> = Vec::new();
        for cell in cells {
            let Some(p) = self.probed(cell, provider) else {
                continue; // never probed: unknown, not cold
            };
            let cold = match p.health {
                Some(h) => h.workers.idle + h.workers.running == 0,
                None => {
                    let ok = p.figures.requests.saturating_sub(p.figures.errors);
                    ok == 0 || p.figures.cold * 2 > ok
                }
            };
            if cold && !regions.iter().any(|r| **r == *cell.region) {
                regions.push(cell.region.to_string());
            }
        }
        ColdRegions {
            provider: provider.to_string(),
            regions,
        }
    }
}

impl ColdRegions {
    /// "modal cold in eu-west, apac-sg: expect 2–4 s cold starts", or nothing.
    pub fn warning(&self) -> Option<String> {
        if self.regions.is_empty() {
            return None;
        }
        let expect = match self.provider.as_str() {
            "modal" => "expect 2–4 s cold starts",
            "runpod" => "expect cold starts up to 6–12 s",
            _ => "expect cold starts",
        };
        Some(format!(
            "{} cold in {}: {expect}",
            self.provider,
            self.regions.join(", ")
        ))
    }
}
