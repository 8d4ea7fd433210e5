//! The cutover plan's verbs (Argo Rollouts': start, promote, pause, resume,
//! abort). Each is one commit that reads the latest document, so it never
//! conflicts, and writes the routes and the plan's state together (the state
//! lives in the document): a console restarted mid-plan, or another
//! operator's, continues it. Every step is audited as `plan_step`; an abort
//! rolls the plan's cells back at once, whatever else is going on.

use std::time::Instant;

use crate::domain::plan::{Plan, PlanState, PlanStatus};
use crate::domain::{Action, CellId, PerMille, Routes, Split, SplitError};
use crate::flags::file::now_utc;
use crate::flags::{Document, Snapshot};

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
    /// `None`: a damaged state was cleared.
    pub state: Option<PlanState>,
    /// Cells whose split changed.
    pub changed: usize,
}

/// The plan's state in `doc`, if one was ever started.
pub fn state_of(doc: &Document) -> Result<Option<PlanState>, OpsError> {
    doc.plan()
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| {
                OpsError::Invalid(format!(
                    "the plan's state in the document is unreadable: {e}"
                ))
            })
        })
        .transpose()
}

/// The plan's state in `doc`, held to the rules a plan file is (and to the
/// profile): a hand-edited state that breaks them is an error that says so.
pub fn checked_state_of(console: &Console, doc: &Document) -> Result<Option<PlanState>, OpsError> {
    state_of(doc).and_then(|s| checked(console, s))
}

/// `verb` on the latest document (one read, one commit: never a conflict).
/// For pause and abort, which only ever stop or go back.
pub fn act(console: &Console, verb: &Verb, reason: &str) -> Result<Outcome, OpsError> {
    let started = Instant::now();
    let mut refused = None;
    let mut written = None;
    let committed = console.commit_latest(&mut |doc| match next(console, doc, verb) {
        Ok((routes, state)) => {
            let request = request(console, routes, state.as_ref(), reason, started)?;
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

/// `verb` on exactly the document the operator was shown (`base`): if
/// anyone changed it since, refused (exit 3), never applied on top. For
/// the verbs that move traffic forward: start, promote, resume.
pub fn act_on(
    console: &Console,
    base: &Snapshot,
    verb: &Verb,
    reason: &str,
) -> Result<Outcome, OpsError> {
    let started = Instant::now();
    let (routes, state) = next(console, &base.document, verb)?;
    let request = request(console, routes, state.as_ref(), reason, started)
        .ok_or_else(|| OpsError::Invalid("the plan's state cannot be written".into()))?;
    let committed = console.commit_request(base, request)?;
    Ok(Outcome {
        revision: committed.record.revision,
        changed: committed.record.changes.len(),
        state,
    })
}

/// What `verb` would write on `doc` (the routes; the state, or `None`
/// where a damaged state is cleared), for a preview before it is confirmed.
pub fn preview(
    console: &Console,
    doc: &Document,
    verb: &Verb,
) -> Result<(Routes, Option<PlanState>), OpsError> {
    next(console, doc, verb)
}

fn request(
    console: &Console,
    routes: Routes,
    state: Option<&PlanState>,
    reason: &str,
    started: Instant,
) -> Option<crate::flags::CommitRequest> {
    let json = match state {
        Some(state) => Some(serde_json::to_string(state).ok()?),
        None => None,
    };
    let what = state.map_or_else(
        || "plan state cleared (it was damaged)".to_string(),
        step_words,
    );
    let why = format!("{what}{}", reason_suffix(reason));
    let mut request = console.request(routes, Action::PlanStep, &why, started);
    request.plan = Some(json);
    Some(request)
}

/// The routes and the state after `verb`, or why it cannot be done now.
fn next(
    console: &Console,
    doc: &Document,
    verb: &Verb,
) -> Result<(Routes, Option<PlanState>), OpsError> {
    // A state that cannot be read, or that does not fit the profile, is
    // never acted on: only `abort` clears it (changing no cell).
    let current = match state_of(doc).and_then(|s| checked(console, s)) {
        Ok(state) => state,
        Err(e) if matches!(verb, Verb::Abort) => {
            let _ = e;
            return Ok((doc.routes.clone(), None));
        }
        Err(e) => {
            return Err(OpsError::Invalid(format!(
                "{e}; `plan abort` clears it (no cell changes)"
            )));
        }
    };
    // Under way: running or paused — and, for an abort, done too (a plan
    // that reached its end can still be sent back at once).
    let active = current.as_ref().filter(|s| match s.status {
        PlanStatus::Running | PlanStatus::Paused => true,
        PlanStatus::Done => matches!(verb, Verb::Abort),
        PlanStatus::Aborted => false,
    });
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
            Ok((routes, Some(state)))
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
        (Verb::Pause, Some(s)) if s.status == PlanStatus::Paused => Err(OpsError::Invalid(
            format!("plan {} is already paused", s.plan.name),
        )),
        (Verb::Promote { .. }, Some(s)) if s.status == PlanStatus::Paused => Err(
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
            Ok((routes, Some(state)))
        }
        (Verb::Pause, Some(s)) => Ok((doc.routes.clone(), Some(with(s, PlanStatus::Paused, None)))),
        (Verb::Resume, Some(s)) if s.status == PlanStatus::Running => Err(OpsError::Invalid(
            format!("plan {} is running, not paused", s.plan.name),
        )),
        // Resuming writes the step's shares again (a rollback may have taken
        // its cells back meanwhile) and starts its hold afresh.
        (Verb::Resume, Some(s)) => {
            let routes = routes_at(console, &s.plan, &doc.routes, s.stage, s.step)?;
            Ok((routes, Some(with(s, PlanStatus::Running, Some(now)))))
        }
        // Back to the fallback, at once: every cell the plan has reached
        // (its stages up to the current one). Later stages' cells were
        // never the plan's to move: an operator's own shift there stays.
        (Verb::Abort, Some(s)) => {
            let mut routes = doc.routes.clone();
            for cell in reached(s) {
                if let Some(id) = cell_id(&cell) {
                    routes.set(id, Split::all(console.profile.fallback.as_str()));
                }
            }
            Ok((routes, Some(with(s, PlanStatus::Aborted, None))))
        }
    }
}

/// The plan's state paused, as JSON, when `routes` take any of the running
/// plan's cells (those it has reached) off the shares it gave them.
pub(crate) fn paused_by(doc: &Document, routes: &Routes) -> Option<String> {
    let state = state_of(doc).ok().flatten()?;
    if state.status != PlanStatus::Running {
        return None;
    }
    let reached = reached(&state);
    let touched = doc
        .routes
        .diff(routes)
        .iter()
        .any(|change| reached.contains(&change.cell.to_string()));
    touched.then(|| serde_json::to_string(&with(&state, PlanStatus::Paused, None)).ok())?
}

/// The cells a plan has reached: those of its stages up to the current one.
fn reached(state: &PlanState) -> Vec<String> {
    state
        .plan
        .stages
        .iter()
        .take(state.stage + 1)
        .flat_map(|s| s.cells.iter().cloned())
        .collect()
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

pub fn cell_id(cell: &str) -> Option<CellId> {
    let (model, region) = cell.split_once('/')?;
    Some(CellId::new(
        crate::domain::Id::from(model),
        crate::domain::Id::from(region),
    ))
}

/// What an outcome's state says: its step, or that a damaged one was cleared.
pub fn outcome_words(state: Option<&PlanState>) -> String {
    state.map_or_else(
        || {
            "the damaged plan state is cleared; no cell changed (rollback sends cells back)"
                .to_string()
        },
        step_words,
    )
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

/// The state, if it fits the profile: its stage and step exist, its cells
/// are the profile's. A hand-edited state is not trusted.
fn checked(console: &Console, state: Option<PlanState>) -> Result<Option<PlanState>, OpsError> {
    let Some(s) = state else {
        return Ok(None);
    };
    let damaged = |why: String| {
        Err(OpsError::Invalid(format!(
            "the plan's state in the document is damaged: {why}"
        )))
    };
    let Some(stage) = s.plan.stages.get(s.stage) else {
        return damaged(format!("stage {} of {}", s.stage + 1, s.plan.stages.len()));
    };
    if s.step >= stage.steps.len() {
        return damaged(format!(
            "step {} of {} in stage {}",
            s.step + 1,
            stage.steps.len(),
            stage.name
        ));
    }
    let cells: Vec<String> = console
        .profile
        .cells()
        .iter()
        .map(ToString::to_string)
        .collect();
    if let Some(unknown) = s.plan.cells().into_iter().find(|c| !cells.contains(c)) {
        return damaged(format!("cell {unknown:?} is not the profile's"));
    }
    // The rules a plan file is held to: shares above 0, at most 100 %,
    // rising within each stage.
    for st in &s.plan.stages {
        let shares: Vec<u16> = st.steps.iter().map(|step| step.share).collect();
        if shares.iter().any(|&share| share == 0 || share > 1000) {
            return damaged(format!("stage {}: a share of 0 or over 100 %", st.name));
        }
        if shares.windows(2).any(|w| w[1] <= w[0]) {
            return damaged(format!("stage {}: shares that do not rise", st.name));
        }
    }
    Ok(Some(s))
}
