//! Cutover plans, the pure part: ordered stages (sets of cells), each a list
//! of steps (the target provider's share, then a hold), and where a plan
//! stands. The state travels in the routing document (`metadata.beaconPlan`),
//! so that whichever console or command reads the document next — after a
//! restart, on another bastion — continues the same plan.

use serde::{Deserialize, Serialize};

use super::{CellId, PerMille, Routes, Split, SplitError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    /// `model/region` of every cell the stage moves.
    pub cells: Vec<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The target provider's share, per mille.
    pub share: u16,
    /// How long to hold it before the next step, in ms.
    pub hold_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Running,
    Paused,
    Aborted,
    Done,
}

/// Where a plan stands, as written into the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanState {
    pub plan: Plan,
    pub stage: usize,
    pub step: usize,
    pub status: PlanStatus,
    /// When the current step was written (RFC 3339): its hold runs from it.
    pub since: String,
}

impl Plan {
    /// The step after (`stage`, `step`), or `None` at the end.
    pub fn next(&self, stage: usize, step: usize) -> Option<(usize, usize)> {
        let steps = self.stages.get(stage)?.steps.len();
        if step + 1 < steps {
            Some((stage, step + 1))
        } else if stage + 1 < self.stages.len() && !self.stages[stage + 1].steps.is_empty() {
            Some((stage + 1, 0))
        } else {
            None
        }
    }

    /// The last step of the last stage.
    pub fn last(&self) -> (usize, usize) {
        let stage = self.stages.len().saturating_sub(1);
        let step = self
            .stages
            .get(stage)
            .map_or(0, |s| s.steps.len().saturating_sub(1));
        (stage, step)
    }

    /// Every cell the plan moves.
    pub fn cells(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .stages
            .iter()
            .flat_map(|s| s.cells.iter().cloned())
            .collect();
        all.dedup();
        all
    }

    /// `routes` with the plan at (`stage`, `step`): earlier stages at their
    /// last step's share, this stage at this step's, later stages as they
    /// are. `split_of` makes a cell's split for a share (the profile knows
    /// the providers).
    pub fn routes_at(
        &self,
        routes: &Routes,
        stage: usize,
        step: usize,
        split_of: &dyn Fn(&CellId, &Split, PerMille) -> Result<Split, SplitError>,
    ) -> Result<Routes, SplitError> {
        let mut out = routes.clone();
        for (i, s) in self.stages.iter().enumerate().take(stage + 1) {
            let at = if i < stage {
                s.steps.len().saturating_sub(1)
            } else {
                step
            };
            let Some(share) = s.steps.get(at).and_then(|st| PerMille::new(st.share)) else {
                continue;
            };
            for cell in &s.cells {
                let Some((model, region)) = cell.split_once('/') else {
                    continue;
                };
                let id = CellId::new(super::Id::from(model), super::Id::from(region));
                if let Some(current) = routes.get(&id) {
                    out.set(id.clone(), split_of(&id, current, share)?);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let stage = |name: &str, steps: &[u16]| Stage {
            name: name.into(),
            cells: vec![format!("m/{name}")],
            steps: steps
                .iter()
                .map(|s| Step {
                    share: *s,
                    hold_ms: 1000,
                })
                .collect(),
        };
        Plan {
            name: "p".into(),
            stages: vec![stage("us", &[50, 1000]), stage("eu", &[1000])],
        }
    }

    #[test]
    fn steps_follow_each_other_across_stages_to_the_end() {
        let p = plan();
        assert_eq!(p.next(0, 0), Some((0, 1)));
        assert_eq!(p.next(0, 1), Some((1, 0)));
        assert_eq!(p.next(1, 0), None);
        assert_eq!(p.last(), (1, 0));
        assert_eq!(p.cells(), vec!["m/us".to_string(), "m/eu".to_string()]);
    }
}
