//! The cutover plan's verbs (Argo Rollouts': start, promote, pause, resume,
//! abort). Each is one commit that reads the latest document, so it never
//! conflicts, and writes the routes and the plan's state together (the state
//! lives in the document): a console restarted mid-plan, or another
//! operator's, continues it. Every step is audited as `plan_step`; an abort
//! rolls the plan's cells back at once, whatever else is going on.

use std::time::Instant;

use crate::domain::plan::{Plan, PlanState, PlanStatus};
use crate::domain::{Action, CellId, PerMille, Routes, Split, SplitError};
use crate::flags::Document;
use crate::flags::file::now_utc;

use super::{Console, OpsError};

pub enum Verb {
    Start(Plan),
    /// The next step (`full`: straight to the end).
    Promote {
        full: bool,
    },
    Pause,
    Resume,
    Abort,
}

/// What a verb did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub revision: u64,
    pub state: PlanState,
    /// Cells whose split changed.
    pub changed: usize,
}

/// The plan's state in `doc`, if one was ever started.
pub fn state_of(doc: &Document) -> Result<Option<PlanState>, OpsError> {
    doc.plan()
        .map(|json| {
            serde_json::from_str(json).map_err(|e| {
                OpsError::Invalid(format!(
                    "the plan's state in the document is unreadable: {e}"
                ))
            })
        })
        .transpose()
}

pub fn act(console: &Console, verb: &Verb, reason: &str) -> Result<Outcome, OpsError> {
    let started = Instant::now();
    let mut refused = None;
    let mut written = None;
    let committed = console.commit_latest(&mut |doc| match next(console, doc, verb) {
        Ok((routes, state)) => {
            let json = serde_json::to_string(&state).ok()?;
            let why = format!("{}{}", step_words(&state), reason_suffix(reason));
            let mut request = console.request(routes, Action::PlanStep, &why, started);
            request.plan = Some(Some(json));
            written = Some(state);
            Some(request)
        }
        Err(e) => {
            refused = Some(e);
            None
        }
    })?;
    if let Some(e) = refused {
        return Err(e);
    }
    let (Some(committed), Some(state)) = (committed, written) else {
        return Err(OpsError::Invalid("nothing to change".into()));
    };
    Ok(Outcome {
        revision: committed.record.revision,
        changed: committed.record.changes.len(),
        state,
    })
}

/// The routes and the state after `verb`, or why it cannot be done now.
fn next(console: &Console, doc: &Document, verb: &Verb) -> Result<(Routes, PlanState), OpsError> {
    let current = state_of(doc)?;
    let active = current
        .as_ref()
        .filter(|s| matches!(s.status, PlanStatus::Running | PlanStatus::Paused));
    let now = now_utc();
    match (verb, active) {
        (Verb::Start(plan), None) => {
            let routes = routes_at(console, plan, &doc.routes, 0, 0)?;
            let state = PlanState {
                plan: plan.clone(),
                stage: 0,
                step: 0,
                status: PlanStatus::Running,
                since: now,
            };
            Ok((routes, state))
        }
        (Verb::Start(_), Some(s)) => Err(OpsError::Invalid(format!(
            "plan {} is {} at {}; abort it first",
            s.plan.name,
            status_word(s.status),
            step_words(s)
        ))),
        (_, None) => Err(OpsError::Invalid(
            "no plan is under way (plan start PLAN.toml)".into(),
        )),
        (Verb::Promote { .. } | Verb::Pause, Some(s)) if s.status == PlanStatus::Paused => Err(
            OpsError::Invalid(format!("plan {} is paused: plan resume first", s.plan.name)),
        ),
        (Verb::Promote { full }, Some(s)) => {
            let target = if *full {
                Some(s.plan.last())
            } else {
                s.plan.next(s.stage, s.step)
            };
            let mut state = s.clone();
            state.since = now;
            match target {
                Some((stage, step)) => {
                    (state.stage, state.step) = (stage, step);
                    if *full {
                        state.status = PlanStatus::Done;
                    }
                }
                // Promoting the last step ends the plan.
                None => state.status = PlanStatus::Done,
            }
            let routes = routes_at(console, &state.plan, &doc.routes, state.stage, state.step)?;
            Ok((routes, state))
        }
        (Verb::Pause, Some(s)) => Ok((doc.routes.clone(), with(s, PlanStatus::Paused, None))),
        (Verb::Resume, Some(s)) if s.status == PlanStatus::Running => Err(OpsError::Invalid(
            format!("plan {} is running, not paused", s.plan.name),
        )),
        (Verb::Resume, Some(s)) => {
            Ok((doc.routes.clone(), with(s, PlanStatus::Running, Some(now))))
        }
        (Verb::Abort, Some(s)) => {
            let mut routes = doc.routes.clone();
            for cell in s.plan.cells() {
                if let Some(id) = cell_id(&cell) {
                    routes.set(id, Split::all(console.profile.fallback.as_str()));
                }
            }
            Ok((routes, with(s, PlanStatus::Aborted, None)))
        }
    }
}

fn with(state: &PlanState, status: PlanStatus, since: Option<String>) -> PlanState {
    let mut next = state.clone();
    next.status = status;
    if let Some(since) = since {
        next.since = since;
    }
    next
}

fn routes_at(
    console: &Console,
    plan: &Plan,
    routes: &Routes,
    stage: usize,
    step: usize,
) -> Result<Routes, OpsError> {
    let profile = &console.profile;
    let target = profile
        .sole_target()
        .ok_or_else(|| OpsError::Invalid("a plan needs a profile with two providers".into()))?
        .to_string();
    let split_of = |cell: &CellId, current: &Split, share: PerMille| -> Result<Split, SplitError> {
        current.with_share(
            &target,
            share,
            &profile.fallback,
            &profile.providers_for(cell),
        )
    };
    Ok(plan.routes_at(routes, stage, step, &split_of)?)
}

fn cell_id(cell: &str) -> Option<CellId> {
    let (model, region) = cell.split_once('/')?;
    Some(CellId::new(
        crate::domain::Id::from(model),
        crate::domain::Id::from(region),
    ))
}

/// `plan research-order: stage US step 2/4 (25 %), running`.
pub fn step_words(state: &PlanState) -> String {
    let stage = state.plan.stages.get(state.stage);
    let share = stage
        .and_then(|s| s.steps.get(state.step))
        .map_or_else(String::new, |s| {
            format!(
                " ({})",
                PerMille::new(s.share).map_or_else(String::new, |p| p.to_string())
            )
        });
    format!(
        "plan {}: stage {} step {}/{}{share}, {}",
        state.plan.name,
        stage.map_or("?", |s| s.name.as_str()),
        state.step + 1,
        stage.map_or(0, |s| s.steps.len()),
        status_word(state.status)
    )
}

pub fn status_word(status: PlanStatus) -> &'static str {
    match status {
        PlanStatus::Running => "running",
        PlanStatus::Paused => "paused",
        PlanStatus::Aborted => "aborted",
        PlanStatus::Done => "done",
    }
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" — {reason}")
    }
}
