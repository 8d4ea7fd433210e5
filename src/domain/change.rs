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

impl CellChange {
    /// `llama-3.2-1b/us-east modal 50% runpod 50% → modal 100%` (`?` for a
    /// split nobody could read).
    pub fn words(&self) -> String {
        let before = self
            .before
            .as_ref()
            .map_or_else(|| "?".to_string(), Split::words);
        format!("{} {before} → {}", self.cell, self.after.words())
    }
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
    /// Serialized grouped by identical before → after, so that a rollback of
    /// 1,000 cells from the same split is one group, not 1,000 entries.
    #[serde(with = "grouped_changes")]
    pub changes: Vec<CellChange>,
    /// From the start of the operation (after confirmation) to the document write.
    pub elapsed_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `changes` on the wire: `[{"cells": ["m/r", …], "before": {…}, "after": {…}}, …]`,
/// groups in order of first appearance.
mod grouped_changes {
    use rustc_hash::FxHashMap;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{CellChange, CellId, Split};

    #[derive(Serialize)]
    struct GroupOut<'a> {
        cells: Vec<&'a CellId>,
        before: Option<&'a Split>,
        after: &'a Split,
    }

    #[derive(Deserialize)]
    struct GroupIn {
        cells: Vec<CellId>,
        before: Option<Split>,
        after: Split,
    }

    pub fn serialize<S: Serializer>(changes: &[CellChange], s: S) -> Result<S::Ok, S::Error> {
        let mut groups: Vec<GroupOut> = Vec::new();
        let mut index: FxHashMap<(Option<&Split>, &Split), usize> = FxHashMap::default();
        let mut last = usize::MAX;
        for c in changes {
            // Neighbours usually share a group (and the same shared splits,
            // which compare by pointer first): no hashing for them.
            if let Some(g) = groups.get_mut(last)
                && g.before == c.before.as_ref()
                && g.after == &c.after
            {
                g.cells.push(&c.cell);
                continue;
            }
            let key = (c.before.as_ref(), &c.after);
            match index.get(&key) {
                Some(&i) => {
                    groups[i].cells.push(&c.cell);
                    last = i;
                }
                None => {
                    last = groups.len();
                    index.insert(key, groups.len());
                    groups.push(GroupOut {
                        cells: vec![&c.cell],
                        before: c.before.as_ref(),
                        after: &c.after,
                    });
                }
            }
        }
        let mut seq = s.serialize_seq(Some(groups.len()))?;
        for g in &groups {
            seq.serialize_element(g)?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CellChange>, D::Error> {
        let groups = Vec::<GroupIn>::deserialize(d)?;
        Ok(groups
            .into_iter()
            .flat_map(|g| {
                let (before, after) = (g.before, g.after);
                g.cells.into_iter().map(move |cell| CellChange {
                    cell,
                    before: before.clone(),
                    after: after.clone(),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_grouped_on_the_wire() {
        let half = Split::from_weights([("modal", 500), ("runpod", 500)]).unwrap();
        let all = Split::all("modal");
        let change = |m: &str, before: &Split| CellChange {
            cell: CellId::new(m, "r"),
            before: Some(before.clone()),
            after: all.clone(),
        };
        let record = ChangeRecord {
            revision: 2,
            previous_revision: 1,
            time: "t".into(),
            operator: Operator {
                user: "u".into(),
                host: "h".into(),
                ssh_client: None,
            },
            action: Action::Rollback,
            reason: "r".into(),
            changes: vec![change("a", &half), change("b", &half), change("c", &all)],
            elapsed_ms: 1.0,
            note: None,
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["changes"].as_array().unwrap().len(), 2);
        assert_eq!(
            json["changes"][0]["cells"],
            serde_json::json!(["a/r", "b/r"])
        );
        let back: ChangeRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }
}
