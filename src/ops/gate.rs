//! The guard's last check, published beside the document by the guard that
//! holds the role, so that a `plan promote` anywhere — another shell, another
//! bastion's console — can see that the stage breaches and refuse to move it
//! on (an operator may still promote over it, said out loud and audited).
//! A record older than a few checks is no verdict at all: a promotion then
//! goes ahead with a warning that nothing judged the stage.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::domain::guard::Verdict;
use crate::domain::plan::PlanState;

use super::Console;
use super::guard::Check;

/// The name the record is published under.
const NAME: &str = "guard-check";

/// One check as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// `user@host` of the guard.
    pub by: String,
    /// RFC 3339.
    pub at: String,
    pub revision: u64,
    /// The guard's check interval: the record is stale after a few.
    pub interval_ms: u64,
    /// Every cell judged (those in the canary), with its verdict in words
    /// (`pass`, `BREACH …`, `inconclusive (…)`, `no data (…)`).
    pub cells: Vec<(String, String)>,
}

impl Published {
    pub fn of(check: &Check, by: &str, interval: Duration) -> Published {
        Published {
            by: by.to_string(),
            at: crate::flags::file::now_utc(),
            revision: check.revision,
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            cells: check
                .cells
                .iter()
                .map(|c| (c.cell.to_string(), c.verdict.to_string()))
                .collect(),
        }
    }

    /// How old it is; `None` when its time cannot be read.
    fn age(&self, now: SystemTime) -> Option<Duration> {
        let at = humantime::parse_rfc3339(&self.at).ok()?;
        Some(now.duration_since(at).unwrap_or_default())
    }
}

/// Publishes a check (the role holder only). A failure is the caller's to
/// say; the check itself stands.
pub fn publish(console: &Console, published: &Published) -> Result<(), super::OpsError> {
    let text = serde_json::to_string(published).unwrap_or_default();
    console.store.publish(NAME, &text).map_err(Into::into)
}

/// What the guard says about the plan's current stage, for a promotion.
#[derive(Debug, Clone, PartialEq)]
pub enum StageVerdict {
    /// A fresh check found these cells of the stage in a breach.
    Breaching(String),
    /// A fresh check found every cell of the stage passing.
    Clear { by: String, age_s: u64 },
    /// No guard judged it lately (none runs, or it is stale).
    Unjudged(String),
}

/// The stage's cells against the last published check.
pub fn stage_verdict(console: &Console, state: &PlanState, now: SystemTime) -> StageVerdict {
    let published = match console.store.published(NAME) {
        Ok(Some(text)) => serde_json::from_str::<Published>(&text).ok(),
        Ok(None) => None,
        Err(e) => {
            return StageVerdict::Unjudged(format!("the guard's last check is unreadable ({e})"));
        }
    };
    let Some(p) = published else {
        return StageVerdict::Unjudged("no guard has published a check".into());
    };
    let stale_after =
        Duration::from_millis(p.interval_ms.saturating_mul(3)).max(Duration::from_secs(15));
    let Some(age) = p.age(now).filter(|age| *age <= stale_after) else {
        return StageVerdict::Unjudged(format!(
            "the guard's last check (by {}) is older than {} s",
            crate::domain::text::printable(&p.by),
            stale_after.as_secs()
        ));
    };
    let Some(stage) = state.plan.stages.get(state.stage) else {
        return StageVerdict::Unjudged("the plan has no current stage".into());
    };
    let by = crate::domain::text::printable(&p.by).into_owned();
    let verdict = |cell: &String| p.cells.iter().find(|(c, _)| c == cell).map(|(_, v)| v);
    let breaching: Vec<String> = stage
        .cells
        .iter()
        .filter_map(|cell| Some((cell, verdict(cell)?)))
        .filter(|(_, v)| v.starts_with("BREACH"))
        .map(|(cell, why)| crate::domain::text::printable(&format!("{cell} {why}")).into_owned())
        .collect();
    if !breaching.is_empty() {
        return StageVerdict::Breaching(format!(
            "{} (guard {by}, {} s ago)",
            breaching.join("; "),
            age.as_secs()
        ));
    }
    // No breach is not a pass: a cell too quiet to judge, without data, or
    // not in the canary was not judged clean.
    let pass = Verdict::Pass.to_string();
    let unclean: Vec<String> = stage
        .cells
        .iter()
        .filter(|cell| verdict(cell).is_none_or(|v| *v != pass))
        .map(|cell| {
            let said = verdict(cell).map_or("not in the canary", String::as_str);
            crate::domain::text::printable(&format!("{cell} {said}")).into_owned()
        })
        .collect();
    if unclean.is_empty() {
        StageVerdict::Clear {
            by,
            age_s: age.as_secs(),
        }
    } else {
        StageVerdict::Unjudged(format!(
            "the guard's last check (by {by}, {} s ago) did not pass the whole stage: {}",
            age.as_secs(),
            unclean.join("; ")
        ))
    }
}
