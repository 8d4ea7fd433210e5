use std::time::Instant;

use crate::config::Profile;
use crate::domain::{Action, CellChange, Routes, Selection, Split};
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
    let cells = selection.resolve(&profile.model_ids(), &profile.region_ids())?;
    let to_fallback = Split::all(profile.fallback.as_str());
    let mut after = routes.clone();
    for cell in cells {
        after.set(cell, to_fallback.clone());
    }
    let changes = routes.diff(&after);
    Ok((after, changes))
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
    console.ensure_writable("roll back")?;
    let started = Instant::now();
    let profile = &console.profile;
    let cells = selection.resolve(&profile.model_ids(), &profile.region_ids())?;
    let mut current_revision = 0;
    let to_fallback = Split::all(profile.fallback.as_str());
    let committed = console.store.commit_latest(&mut |doc| {
        current_revision = doc.revision;
        let mut routes: Routes = doc.routes.clone();
        routes.set_each(&cells, &to_fallback);
        // Nothing to change is no new revision (rollback is safe to repeat):
        // the store commits nothing when the routes are the same.
        Some(console.request(routes, Action::Rollback, reason, started))
    })?;
    Ok(Rollback {
        revision: committed
            .as_ref()
            .map_or(current_revision, |c| c.record.revision),
        committed,
        cells: cells.len(),
    })
}

/// The emergency path: every cell to the fallback, whatever state the document is in.
pub fn force_rollback(console: &Console, reason: &str) -> Result<Rollback, OpsError> {
    console.ensure_writable("roll back")?;
    let started = Instant::now();
    let profile = &console.profile;
    let routes = Routes::all_to(profile.cells(), profile.fallback.as_str());
    let request = console.request(routes, Action::ForcedRollback, reason, started);
    let committed = console.store.force_replace(request)?;
    Ok(Rollback {
        revision: committed.record.revision,
        committed: Some(committed),
        cells: profile.cells().len(),
    })
}
