//! What the screen shows of the measurements, gathered once per refresh from
//! the monitor (probes and router scrapes), so drawing never waits on a lock.

use std::collections::HashMap;
use std::time::Duration;

use crate::domain::CellId;
use crate::ops::monitor::{Monitor, RegionStatus};
use crate::telemetry::probes::Probed;

#[derive(Debug, Clone, Default)]
pub struct Live {
    pub probed: HashMap<(CellId, String), Probed>,
    /// Served share (percent) per provider of each cell the routers sent
    /// traffic for.
    pub served: HashMap<CellId, std::collections::BTreeMap<String, f64>>,
    pub regions: Vec<RegionStatus>,
}

impl Live {
    pub async fn gather(monitor: &Monitor) -> Live {
        let probed = monitor.telemetry.all(Duration::from_secs(60)).await;
        let mut served = HashMap::new();
        for t in monitor.traffic(Duration::from_secs(60)).await {
            if t.requests > 0.0 {
                served.insert(t.cell.clone(), t.share.clone());
            }
        }
        Live {
            probed,
            served,
            regions: monitor.regions().await,
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

    /// Whether the region applies `revision` (None when its router is unknown).
    pub fn applies(&self, region: &str, revision: u64) -> Option<bool> {
        self.regions
            .iter()
            .find(|r| &*r.region == region)
            .and_then(|r| r.applied_revision)
            .map(|applied| applied == revision)
    }
}
