//! The guard: at each interval, every cell with traffic shifted to the
//! target provider is judged on the routers' real traffic there against the
//! SLO; breaches in a row reach the threshold → an alert, a held plan, or
//! (armed) exactly those cells rolled back through the same commit path,
//! audited as `auto_rollback` with the rule and the failing figures. No data
//! never acts: too few samples is inconclusive, a router that cannot be
//! scraped is no data (DESIGN §1; flagger #1663: never silent).

use std::time::Duration;

use crate::config::Profile;
use crate::domain::guard::{
    CheckFigures, GuardMode, Limits, RuleModes, Streaks, Verdict, judge, words,
};
use crate::domain::{Action, CellId, Routes, Selection};
use crate::flags::Snapshot;
use crate::telemetry::CellTraffic;

use super::monitor::{Monitor, RegionStatus};
use super::{Console, OpsError, Rollback};

/// The cost rule judges over this many of the guard's windows.
const COST_WINDOWS: u32 = 4;

/// One cell's check.
#[derive(Debug, Clone, PartialEq)]
pub struct CellCheck {
    pub cell: CellId,
    pub verdict: Verdict,
    /// Breaches in a row so far.
    pub streak: u32,
}

/// A cell whose breaches reached the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub cell: CellId,
    /// The cell, the broken rules with their figures, the streak.
    pub why: String,
    /// What it calls for: the most its broken rules ask (`[guard.rules]`),
    /// capped by the guard's mode.
    pub action: GuardMode,
}

/// One round of checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub revision: u64,
    pub cells: Vec<CellCheck>,
    /// Cells whose breaches reached the threshold.
    pub triggered: Vec<Trigger>,
    /// Cells without data for as many checks in a row as make a trigger,
    /// with why: nothing is judged there (never a rollback); a plan holds,
    /// and it is said.
    pub blind: Vec<(CellId, String)>,
}

impl Check {
    /// The triggers that call for `action`.
    pub fn calling_for(&self, action: GuardMode) -> impl Iterator<Item = &Trigger> {
        self.triggered.iter().filter(move |t| t.action == action)
    }
}

pub struct Guard {
    pub mode: GuardMode,
    pub limits: Limits,
    pub interval: Duration,
    /// The traffic each check judges.
    pub window: Duration,
    /// What each rule's breach does, capped by `mode`.
    pub rules: RuleModes,
    target: String,
    fallback: String,
    /// Price per second of the target and the fallback (the cost rule).
    prices: (f64, f64),
    streaks: Streaks,
    /// The profile's SLO, for cells with limits of their own.
    slo: crate::config::SloConfig,
}

impl Guard {
    /// The profile's guard (`mode` overrides its `[guard] mode`).
    pub fn for_profile(profile: &Profile, mode: Option<GuardMode>) -> Result<Guard, OpsError> {
        let target = profile
            .sole_target()
            .ok_or_else(|| {
                OpsError::Invalid("the guard needs a profile with two providers".into())
            })?
            .to_string();
        let price = |id: &str| {
            profile
                .providers
                .iter()
                .find(|p| p.id == id)
                .map_or(0.0, |p| p.price_per_second)
        };
        Ok(Guard {
            mode: mode.unwrap_or(profile.guard.mode),
            limits: limits(&profile.slo),
            slo: profile.slo.clone(),
            interval: profile.guard.check_interval,
            window: profile.guard.window,
            rules: profile.guard.rules,
            prices: (price(&target), price(&profile.fallback)),
            fallback: profile.fallback.clone(),
            target,
            streaks: Streaks::default(),
        })
    }

    /// Judges every cell with traffic shifted to the target, on what the
    /// routers served it over the last window under this revision.
    pub async fn check(&mut self, snapshot: &Snapshot, monitor: &Monitor) -> Check {
        self.check_routes(snapshot.routes(), snapshot.revision(), monitor)
            .await
    }

    /// `check` on routes as the console last read them.
    pub async fn check_routes(
        &mut self,
        routes: &Routes,
        revision: u64,
        monitor: &Monitor,
    ) -> Check {
        let traffic = monitor.traffic_since(self.window, revision).await;
        // Cost is no emergency and its figure is a ratio of two medians:
        // judged over a longer stretch, so the noise of a short window does
        // not make a breach (as far back as the monitor keeps scrapes).
        let cost_traffic = monitor
            .traffic_since(self.window.saturating_mul(COST_WINDOWS), revision)
            .await;
        let regions = monitor.regions().await;
        self.judge(routes, revision, &traffic, &cost_traffic, &regions)
    }

    /// The pure part of `check`.
    pub fn judge(
        &mut self,
        routes: &Routes,
        revision: u64,
        traffic: &[CellTraffic],
        cost_traffic: &[CellTraffic],
        regions: &[RegionStatus],
    ) -> Check {
        let mut cells = Vec::new();
        let mut triggered = Vec::new();
        let mut blind = Vec::new();
        for (cell, split) in routes.iter() {
            if split.share(&self.target).get() == 0 {
                // Not in the canary: nothing to guard, and nothing carried over.
                self.streaks.reset(cell);
                continue;
            }
            let figures = traffic
                .iter()
                .find(|t| &t.cell == cell)
                .and_then(|t| self.figures(t))
                .map(|mut f| {
                    f.cost_ratio = cost_traffic
                        .iter()
                        .find(|t| &t.cell == cell)
                        .and_then(|t| self.cost_ratio(t));
                    f
                });
            let down = source_down(regions, &cell.region, self.window);
            let verdict = judge(
                figures.as_ref(),
                down.as_deref(),
                &limits(&self.slo.for_cell(cell)),
            );
            let streak = self.streaks.record(cell, &verdict);
            if self.streaks.record_blind(cell, &verdict) >= self.limits.failures_in_a_row
                && let Verdict::NoData(why) = &verdict
            {
                blind.push((cell.clone(), format!("{cell} {why}")));
            }
            if let Verdict::Breach(broken) = &verdict
                && streak >= self.limits.failures_in_a_row
            {
                triggered.push(Trigger {
                    cell: cell.clone(),
                    why: format!("{cell} {} ({streak} checks in a row)", words(broken)),
                    action: self.rules.action(self.mode, broken),
                });
            }
            cells.push(CellCheck {
                cell: cell.clone(),
                verdict,
                streak,
            });
        }
        Check {
            revision,
            cells,
            triggered,
            blind,
        }
    }

    /// A cell's figures on the target over one window (the cost apart).
    fn figures(&self, t: &CellTraffic) -> Option<CheckFigures> {
        let p = t.providers.get(&self.target)?;
        Some(CheckFigures {
            requests: p.requests,
            error_percent: p.error_percent().unwrap_or(0.0),
            p95_ms: p.p95_s.map(|s| s * 1000.0),
            cold_percent: p.cold_percent().unwrap_or(0.0),
            cost_ratio: None,
        })
    }

    /// Cost per request on the target against the fallback's in the same
    /// cell: price per second × the median latency (what a serverless
    /// request is billed for, queueing included: an upper bound), each side
    /// with enough requests; `None` otherwise.
    fn cost_ratio(&self, t: &CellTraffic) -> Option<f64> {
        let p50 = |provider: &str| {
            t.providers
                .get(provider)
                .filter(|f| f.requests >= self.limits.min_samples as f64)
                .and_then(|f| f.p50_s)
        };
        match (p50(&self.target), p50(&self.fallback)) {
            (Some(ours), Some(theirs)) if theirs > 0.0 && self.prices.1 > 0.0 => {
                Some(self.prices.0 * ours / (self.prices.1 * theirs))
            }
            _ => None,
        }
    }

    /// Armed: rolls exactly the cells whose breach calls for a rollback
    /// back, audited as `auto_rollback` with the rule and the figures.
    /// Otherwise nothing.
    pub fn act(&mut self, console: &Console, check: &Check) -> Result<Option<Rollback>, OpsError> {
        if self.mode != GuardMode::Rollback
            || check.calling_for(GuardMode::Rollback).next().is_none()
        {
            return Ok(None);
        }
        let (cells, reason) = self.rollback_of(check);
        auto_rollback(console, &cells, &reason).map(Some)
    }

    /// The cells a check calls to roll back and the audit's reason (their
    /// streaks start again).
    pub fn rollback_of(&mut self, check: &Check) -> (Vec<CellId>, String) {
        let rolled: Vec<&Trigger> = check.calling_for(GuardMode::Rollback).collect();
        let cells: Vec<CellId> = rolled.iter().map(|t| t.cell.clone()).collect();
        let why: Vec<&str> = rolled.iter().map(|t| t.why.as_str()).collect();
        let reason = format!(
            "guard: {} over the SLO (errors ≤ {}%, p95 ≤ {} ms, cold starts ≤ {}%, {} checks in a row): {}",
            cells.len(),
            self.limits.max_error_percent,
            self.limits.max_p95_ms,
            self.limits.max_cold_percent,
            self.limits.failures_in_a_row,
            why.join("; ")
        );
        for cell in &cells {
            self.streaks.reset(cell);
        }
        (cells, reason)
    }
}

/// The guard's rollback: the same commit path, audited as `auto_rollback`.
pub fn auto_rollback(
    console: &Console,
    cells: &[CellId],
    reason: &str,
) -> Result<Rollback, OpsError> {
    super::rollback_as(
        console,
        &Selection::Cells(cells.to_vec()),
        reason,
        Action::AutoRollback,
    )
}

/// Why the region's router gives no data now, if it does not: its last
/// scrape failed, or is older than the window.
fn source_down(regions: &[RegionStatus], region: &str, window: Duration) -> Option<String> {
    let Some(status) = regions.iter().find(|r| &*r.region == region) else {
        return Some(format!("no router metrics for {region}"));
    };
    match (&status.error, status.age) {
        (Some(e), _) => Some(format!("router {region}: {e}")),
        (None, None) => Some(format!("router {region}: not scraped yet")),
        (None, Some(age)) if age > window => Some(format!(
            "router {region}: last scraped {} s ago",
            age.as_secs()
        )),
        _ => None,
    }
}

/// The plan's gate, as the guard keeps it: the current step passes when
/// its stage's cells passed every check over a whole hold. A check that is
/// not a pass (breach, inconclusive, no data) starts the hold again.
#[derive(Debug, Default)]
pub struct PlanGate {
    /// (stage, step, since) of the step being judged.
    step: Option<(usize, usize, String)>,
    /// The last check that was not a pass, if any since the step began.
    unclean_at: Option<std::time::SystemTime>,
    /// Passing checks since then.
    checks: u32,
}

/// What the gate says after a check.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// Nothing to do (no plan running, or the hold not over yet).
    Wait,
    /// The stage's cells passed every check over a whole hold.
    Promote { checks: u32 },
    /// A breach reached the threshold in the stage: the plan holds.
    Hold(String),
}

impl PlanGate {
    pub fn after_check(
        &mut self,
        state: &crate::domain::plan::PlanState,
        check: &Check,
        now: std::time::SystemTime,
    ) -> Gate {
        use crate::domain::plan::PlanStatus;
        if state.status != PlanStatus::Running {
            self.step = None;
            return Gate::Wait;
        }
        let key = (state.stage, state.step, state.since.clone());
        if self.step.as_ref() != Some(&key) {
            self.step = Some(key);
            self.unclean_at = None;
            self.checks = 0;
        }
        let Some(stage) = state.plan.stages.get(state.stage) else {
            return Gate::Wait;
        };
        let in_stage = |cell: &CellId| stage.cells.iter().any(|c| *c == cell.to_string());
        // Breaches that hold or roll back stop the plan; one whose rules
        // only observe keeps the gate shut (not a pass) but stops nothing.
        let breaching: Vec<&str> = check
            .triggered
            .iter()
            .filter(|t| in_stage(&t.cell) && t.action >= GuardMode::Hold)
            .map(|t| t.why.as_str())
            .collect();
        let judged: Vec<&CellCheck> = check.cells.iter().filter(|c| in_stage(&c.cell)).collect();
        if judged.is_empty() || judged.iter().any(|c| c.verdict != Verdict::Pass) {
            self.unclean_at = Some(now);
            self.checks = 0;
        } else {
            self.checks += 1;
        }
        if !breaching.is_empty() {
            return Gate::Hold(breaching.join("; "));
        }
        let since = humantime::parse_rfc3339(&state.since).unwrap_or(now);
        let from = self.unclean_at.map_or(since, |at| at.max(since));
        let held = now.duration_since(from).unwrap_or_default();
        let hold = stage.steps.get(state.step).map_or(0, |s| s.hold_ms);
        if self.checks > 0 && held.as_millis() >= u128::from(hold) {
            return Gate::Promote {
                checks: self.checks,
            };
        }
        Gate::Wait
    }
}

/// The guard's limits from an SLO (a cell's own, or the profile's).
fn limits(slo: &crate::config::SloConfig) -> Limits {
    Limits {
        max_error_percent: slo.error_rate_percent,
        max_p95_ms: slo.latency_p95_ms,
        max_cold_percent: 100.0 - slo.cold_start_fast_percent,
        max_cost_ratio: slo.cost_vs_fallback,
        min_samples: slo.min_samples,
        failures_in_a_row: slo.failures_before_rollback,
    }
}
