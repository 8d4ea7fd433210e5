//! The audit history: events newest first, and the same as text lines for
//! the command line's `history` and the console's views (one formatter).

use crate::domain::text::printable;
use crate::domain::{CellId, ChangeRecord, Split};
use crate::flags::FlagStore;
use crate::flags::audit::{AuditEvent, AuditLog, BadLine};

use super::OpsError;

/// Audit events, newest first.
#[derive(Debug, Clone)]
pub struct History {
    pub events: Vec<AuditEvent>,
    pub bad_lines: Vec<BadLine>,
    /// Kept to one kind: (the kind, how many events there were in all).
    pub filtered: Option<(String, usize)>,
}

/// The kinds `--action` takes, as the audit spells them.
pub const KINDS: [&str; 7] = [
    "shift",
    "rollback",
    "forced_rollback",
    "undo",
    "auto_rollback",
    "plan_step",
    "refused",
];

/// The store's own audit where it keeps one (etcd: every operator's
/// commits), else the audit log file.
pub fn history(
    store: &dyn FlagStore,
    audit: &AuditLog,
    limit: Option<usize>,
) -> Result<History, OpsError> {
    let (mut events, bad_lines) = match store.audit_events() {
        Some(read) => read?,
        None => audit.read_all().map_err(|e| {
            crate::failure::Failure::new(
                format!("read the audit log {}", audit.path().display()),
                e,
            )
        })?,
    };
    events.reverse();
    if let Some(limit) = limit {
        events.truncate(limit);
    }
    Ok(History {
        events,
        bad_lines,
        filtered: None,
    })
}

impl History {
    /// Keeps the events of one kind: an action as the audit spells it
    /// (`auto_rollback`; as the history prints it, `auto-rollback`, too), or
    /// `refused`. An unknown kind is an error naming the known ones.
    pub fn keep_only(&mut self, kind: &str) -> Result<(), String> {
        let kind = kind.trim().replace(['-', ' '], "_");
        if !KINDS.contains(&kind.as_str()) {
            return Err(format!(
                "unknown action {kind:?}: expected one of {}",
                KINDS.join(", ")
            ));
        }
        self.filtered = Some((kind.clone(), self.events.len()));
        self.events.retain(|event| match event {
            AuditEvent::Commit(c) => {
                serde_json::to_value(c.action)
                    .ok()
                    .as_ref()
                    .and_then(|v| v.as_str())
                    == Some(kind.as_str())
            }
            AuditEvent::Refused(_) => kind == "refused",
        });
        Ok(())
    }

    /// One line per event, then its cells' before → after. Stored text is
    /// anyone's: its control characters are escaped, never sent raw.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for event in &self.events {
            match event {
                AuditEvent::Commit(c) => {
                    lines.push(commit_line(c));
                    lines.extend(c.changes.iter().map(|ch| {
                        format!(
                            "          {}  {} → {}",
                            ch.cell,
                            before_words(ch.before.as_ref()),
                            ch.after.words()
                        )
                    }));
                    if let Some(note) = &c.note {
                        lines.push(format!("          note: {note}"));
                    }
                }
                AuditEvent::Refused(r) => lines.push(format!(
                    "refused   {}  {:<15} {}  \"{}\": {}",
                    r.time,
                    r.action.to_string(),
                    r.operator,
                    r.reason,
                    r.error
                )),
            }
        }
        lines
            .into_iter()
            .map(|l| printable(&l).into_owned())
            .collect()
    }

    /// The commits that touched `cell`, each with that cell's line.
    pub fn cell_lines(&self, cell: &CellId) -> Vec<String> {
        let mut lines = Vec::new();
        for event in &self.events {
            let AuditEvent::Commit(c) = event else {
                continue;
            };
            if let Some(ch) = c.changes.iter().find(|ch| ch.cell == *cell) {
                lines.push(commit_line(c));
                lines.push(format!(
                    "          {}  {} → {}",
                    ch.cell,
                    before_words(ch.before.as_ref()),
                    ch.after.words()
                ));
            }
        }
        lines
            .into_iter()
            .map(|l| printable(&l).into_owned())
            .collect()
    }
}

fn commit_line(c: &ChangeRecord) -> String {
    format!(
        "rev {:<5} {}  {:<15} {}  \"{}\"",
        c.revision,
        c.time,
        c.action.to_string(),
        c.operator,
        c.reason
    )
}

fn before_words(before: Option<&Split>) -> String {
    before.map_or_else(|| "(unknown)".into(), Split::words)
}
