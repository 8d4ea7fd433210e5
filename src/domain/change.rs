use std::fmt;

use serde::{Deserialize, Serialize};

use super::{CellId, Split};

/// Who made a change: `user@host`, and the SSH client address when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub user: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_client: Option<String>,
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.host)?;
        if let Some(addr) = &self.ssh_client {
            write!(f, " (ssh from {addr})")?;
        }
        Ok(())
    }
}

/// What kind of change a revision is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Shift,
    Rollback,
    /// Rollback written over a missing or unreadable document.
    ForcedRollback,
    Undo,
    AutoRollback,
    PlanStep,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Action::Shift => "shift",
            Action::Rollback => "rollback",
            Action::ForcedRollback => "forced rollback",
            Action::Undo => "undo",
            Action::AutoRollback => "auto-rollback",
            Action::PlanStep => "plan step",
        };
        f.pad(text)
    }
}

/// One cell before → after. `before` is `None` when it was unknown (a new
/// cell, or a document that could not be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellChange {
    pub cell: CellId,
    pub before: Option<Split>,
    pub after: Split,
}

/// Everything about one committed revision. The document carries the record of
/// its own last change, and the audit log has one line per record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub revision: u64,
    pub previous_revision: u64,
    /// UTC, RFC 3339 with milliseconds.
    pub time: String,
    pub operator: Operator,
    pub action: Action,
    pub reason: String,
    pub changes: Vec<CellChange>,
    /// From the start of the operation (after confirmation) to the document write.
    pub elapsed_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}
