use crate::domain::{CellChange, Routes};
use crate::flags::Snapshot;

use super::OpsError;

/// The routes that revert the snapshot's last change, its revision, and the changes.
pub fn plan_undo(snapshot: &Snapshot) -> Result<(Routes, u64, Vec<CellChange>), OpsError> {
    let doc = &snapshot.document;
    let Some(last) = doc.last_change() else {
        return Err(OpsError::Invalid(if doc.revision == 0 {
            "nothing to undo: no change has been committed yet".into()
        } else {
            format!(
                "nothing to undo: revision {} carries no change record (it was written outside beacon-console)",
                doc.revision
            )
        }));
    };
    let mut routes = doc.routes.clone();
    for change in &last.changes {
        let Some(before) = &change.before else {
            return Err(OpsError::Invalid(format!(
                "cannot undo revision {}: the split of {} before it is unknown (the document was unreadable); shift it explicitly",
                last.revision, change.cell
            )));
        };
        if routes.get(&change.cell).is_some() {
            routes.set(change.cell.clone(), before.clone());
        }
    }
    let changes = doc.routes.diff(&routes);
    if changes.is_empty() {
        return Err(OpsError::Invalid(format!(
            "nothing to undo: revision {} changed no cell",
            last.revision
        )));
    }
    Ok((routes, last.revision, changes))
}
