//! The plan view (`p`): the cutover plan as the document carries it —
//! stages and steps with the current one marked, the hold's countdown, and
//! the gate per cell from this console's guard. Pure: lines of text.

use std::time::SystemTime;

use crate::domain::PerMille;
use crate::domain::guard::GuardMode;
use crate::domain::plan::{PlanState, PlanStatus};
use crate::ops::plan::{status_word, step_words};

use super::app::App;

impl App {
    /// Where the plan's next write (promote, resume) would send the target
    /// traffic while it is failing there — the current stage's cells and,
    /// for a step into the next stage, those too — in words; `None` when
    /// it is not (or nothing says so).
    pub fn plan_into_failure(&self) -> Option<String> {
        let state = self.document.plan.as_ref()?;
        let cells: Vec<crate::domain::CellId> = state
            .plan
            .stages
            .iter()
            .skip(state.stage)
            .take(2)
            .flat_map(|s| s.cells.iter())
            .filter_map(|c| crate::ops::plan::cell_id(c))
            .collect();
        self.live
            .failing(&self.session.target, &cells, &self.session.slo)
            .warning()
    }

    /// The plan view, where it is open, drawn again from the document and
    /// the guard's last check (the hold counts down; a pause by the guard or
    /// another operator shows), keeping where it was scrolled to.
    pub fn refresh_plan_view(&mut self, now: SystemTime) {
        if !matches!(self.mode, super::app::Mode::Plan(_)) {
            return;
        }
        let lines = self.plan_lines(now);
        if let super::app::Mode::Plan(view) = &mut self.mode {
            view.offset = view.offset.min(lines.len().saturating_sub(1));
            view.lines = lines;
        }
    }

    pub fn plan_lines(&self, now: SystemTime) -> Vec<String> {
        let Some(state) = &self.document.plan else {
            return vec![
                "no plan has been started".into(),
                String::new(),
                "start one from the command line: beacon-console plan start plans/research-order.toml".into(),
            ];
        };
        let mut lines = vec![step_words(state), String::new()];
        for (i, stage) in state.plan.stages.iter().enumerate() {
            lines.push(format!(
                "stage {} · {} cell(s)",
                stage.name,
                stage.cells.len()
            ));
            for (j, step) in stage.steps.iter().enumerate() {
                let mark = match (i, j).cmp(&(state.stage, state.step)) {
                    std::cmp::Ordering::Less => "done",
                    std::cmp::Ordering::Equal => status_word(state.status),
                    std::cmp::Ordering::Greater => "",
                };
                let share = PerMille::new(step.share).map_or_else(String::new, |p| p.to_string());
                let hold = if (i, j) == (state.stage, state.step) {
                    hold_left(state, step.hold_ms, now)
                } else {
                    format!("hold {} s", step.hold_ms / 1000)
                };
                lines.push(format!("  {:>2}. {share:>6}  {hold:<28} {mark}", j + 1));
            }
        }
        lines.push(String::new());
        lines.extend(self.gate_lines(state));
        lines.push(String::new());
        lines.push(":plan promote · :plan pause · :plan resume · :plan abort (every cell of the plan back)".into());
        lines
    }

    /// The gate per cell of the current stage: this console's guard's last
    /// check (a `guard` process elsewhere judges the same way).
    fn gate_lines(&self, state: &PlanState) -> Vec<String> {
        let Some(stage) = state.plan.stages.get(state.stage) else {
            return Vec::new();
        };
        let mode = self.guard.mode();
        if mode == GuardMode::Disarmed {
            return vec![format!(
                "gate: this console's guard is disarmed (--guard hold|rollback, or a `guard` process) — stage {} is not judged here",
                stage.name
            )];
        }
        let mut lines = vec![format!("gate ({}), last check:", self.guard.word())];
        for cell in &stage.cells {
            let verdict = self
                .guard
                .last_check
                .as_ref()
                .and_then(|c| c.cells.iter().find(|c| c.cell.to_string() == *cell))
                .map_or_else(
                    || "not judged yet".to_string(),
                    |c| format!("{} ({} in a row)", c.verdict, c.streak),
                );
            lines.push(format!("  {cell:<28} {verdict}"));
        }
        lines
    }
}

fn hold_left(state: &PlanState, hold_ms: u64, now: SystemTime) -> String {
    if state.status != PlanStatus::Running {
        return format!("hold {} s", hold_ms / 1000);
    }
    let since = humantime::parse_rfc3339(&state.since).unwrap_or(now);
    let held = now.duration_since(since).unwrap_or_default().as_millis() as u64;
    if held >= hold_ms {
        "hold over: the gate promotes (an acting guard), or :plan promote".into()
    } else {
        format!("hold {} s left", (hold_ms - held).div_ceil(1000))
    }
}
