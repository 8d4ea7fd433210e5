use std::time::Instant;

use crate::config::Profile;
use crate::domain::{Action, CellChange, CellId, Routes, Selection, Split};
use crate::flags::Committed;

use super::{Console, OpsError};

/// What a rollback did.
#[derive(Debug, Clone)]
pub struct Rollback {
    /// `None` when every selected cell was already on the fallback.
    pub committed: Option<Committed>,
    pub cells: usize,
    pub revision: u64,
}

/// The routes with every selected cell on the fallback, and what that changes.
pub fn plan_rollback(
    profile: &Profile,
    routes: &Routes,
    selection: &Selection,
) -> Result<(Routes, Vec<CellChange>), OpsError> {
    let target = Target::of(profile, selection)?;
    let after = target.apply(routes);
    let changes = routes.diff(&after);
    Ok((after, changes))
}

/// Which cells go back, resolved once, and the split they go back to.
struct Target {
    /// `None`: every cell.
    cells: Option<Vec<CellId>>,
    fallback: Split,
}

impl Target {
    fn of(profile: &Profile, selection: &Selection) -> Result<Target, OpsError> {
        let cells = match selection {
            Selection::All => None,
            other => Some(other.resolve(&profile.model_ids(), &profile.region_ids())?),
        };
        Ok(Target {
            cells,
            fallback: Split::all(profile.fallback.as_str()),
        })
    }

    fn apply(&self, routes: &Routes) -> Routes {
        match &self.cells {
            None => routes.filled(&self.fallback),
            Some(cells) => {
                let mut after = routes.clone();
                after.set_each(cells, &self.fallback);
                after
            }
        }
    }

    fn count(&self, profile: &Profile) -> usize {
        self.cells
            .as_ref()
            .map_or(profile.models.len() * profile.regions.len(), Vec::len)
    }
}

/// Sends every selected cell back to the fallback in one commit.
///
/// It reads and writes under one lock, so it never conflicts and works from
/// any state; repeating it is harmless (nothing to change → no new revision).
pub fn rollback(
    console: &Console,
    selection: &Selection,
    reason: &str,
) -> Result<Rollback, OpsError> {
    rollback_as(console, selection, reason, Action::Rollback)
}

/// A rollback audited as `action` (the guard's is `auto_rollback`): the same
/// commit path, the same semantics.
pub fn rollback_as(
    console: &Console,
    selection: &Selection,
    reason: &str,
    action: Action,
) -> Result<Rollback, OpsError> {
    let started = Instant::now();
    let profile = &console.profile;
    let target = Target::of(profile, selection)?;
    let mut current_revision = 0;
    let committed = console.commit_latest(&mut |doc| {
        current_revision = doc.revision;
        // Nothing to change is no new revision (rollback is safe to repeat):
        // the store commits nothing when the routes are the same.
        let routes = target.apply(&doc.routes);
        // A plan whose cells this rolls back holds, in the same revision:
        // it must not promote them forward again as if nothing happened.
        let paused = super::plan::paused_by(doc, &routes);
        let mut request = console.request(routes, action, reason, started);
        request.plan = paused.map(Some);
        Some(request)
    })?;
    Ok(Rollback {
        revision: committed
            .as_ref()
            .map_or(current_revision, |c| c.record.revision),
        committed,
        cells: target.count(profile),
    })
}

/// The emergency path: every cell to the fallback, whatever state the document is in.
pub fn force_rollback(console: &Console, reason: &str) -> Result<Rollback, OpsError> {
    let started = Instant::now();
    let profile = &console.profile;
    let routes = Routes::all_to(profile.cells(), profile.fallback.as_str());
    let request = console.request(routes, Action::ForcedRollback, reason, started);
    let committed = console.force_replace(request)?;
    Ok(Rollback {
        revision: committed.record.revision,
        committed: Some(committed),
        cells: profile.cells().len(),
    })
}
