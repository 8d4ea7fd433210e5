use crate::flags::audit::{AuditEvent, AuditLog, BadLine};

use super::OpsError;

/// Audit events, newest first.
#[derive(Debug, Clone)]
pub struct History {
    pub events: Vec<AuditEvent>,
    pub bad_lines: Vec<BadLine>,
}

pub fn history(audit: &AuditLog, limit: Option<usize>) -> Result<History, OpsError> {
    let (mut events, bad_lines) = audit.read_all().map_err(|e| {
        OpsError::Unavailable(format!(
            "cannot read the audit log {}: {e}",
            audit.path().display()
        ))
    })?;
    events.reverse();
    if let Some(limit) = limit {
        events.truncate(limit);
    }
    Ok(History { events, bad_lines })
}
