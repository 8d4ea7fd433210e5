//! The store worker: every flag-store and audit call the console makes runs
//! on this thread, never on the UI task, so a store held by another process
//! (up to its lock timeout) or a slow disk cannot freeze keys or redraws.
//! Requests go in over a channel; each one's result comes back as a
//! [`Report`] that the UI applies to its state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::domain::{Action, CellChange, CellId, Routes, Selection};
use crate::flags::{Committed, Snapshot};
use crate::ops::{self, Console, OpsError, Rollback, ShiftAmount, ShiftPlan};

use super::app::{Pending, PendingKind};

/// What the UI asks of the store.
#[derive(Debug)]
pub enum Request {
    /// The current document (the 1 s refresh, and each change the store
    /// tells of).
    Load,
    /// The regions' acknowledgements and the operators connected.
    Presence,
    PlanShift {
        selection: Selection,
        amount: ShiftAmount,
        provider: String,
    },
    PlanUndo,
    /// Commit the change a dialog showed, compare-and-swap on its base.
    Commit(Box<Pending>),
    Rollback {
        selection: Selection,
        /// Why, as typed; else the audit says what the console did.
        reason: Option<String>,
        /// Over a document that cannot be read (every cell).
        force: bool,
    },
    History,
    /// Take the guard's role (armed): held by this thread until the end.
    TakeGuard,
    /// Let the guard's role go (this console can no longer see).
    ReleaseGuard,
    /// A cutover plan's verb.
    Plan {
        command: super::command::PlanCommand,
        reason: Option<String>,
        /// Asked by the console's guard (then notified once written).
        guard: bool,
    },
    /// The guard's promotion of the plan by its gate, only over the
    /// revision the gate judged (compare-and-swap: a change since refuses).
    PlanOver {
        revision: u64,
        reason: String,
    },
    /// The guard's last check, published for a `plan promote` anywhere.
    PublishCheck(crate::ops::gate::Published),
    /// The guard's rollback of exactly these cells, audited as `auto_rollback`.
    AutoRollback {
        cells: Vec<CellId>,
        reason: String,
    },
    /// The audit lines about one cell, for the detail view.
    CellHistory(CellId),
}

/// What came of a request.
#[derive(Debug)]
pub enum Report {
    Loaded(Result<Snapshot, String>),
    Presence(Result<crate::flags::Presence, String>),
    ShiftPlanned(Result<(Snapshot, ShiftPlan, ShiftAmount), String>),
    UndoPlanned(Result<UndoPlan, String>),
    Committed {
        pending: Box<Pending>,
        result: Result<Committed, OpsError>,
        /// The document right after (reloaded either way).
        after: Option<Snapshot>,
        elapsed: Duration,
    },
    RolledBack {
        selection: Selection,
        result: Result<Rollback, OpsError>,
        after: Option<Snapshot>,
        elapsed: Duration,
    },
    History(Result<Vec<String>, String>),
    /// `Err`: who holds the guard's role.
    GuardTaken(Result<(), String>),
    /// The guard's check published (or why not).
    Published(Result<(), String>),
    Planned {
        result: Result<ops::plan::Outcome, String>,
        after: Option<Snapshot>,
        /// The console's guard moved (or stopped) the plan.
        guard: bool,
    },
    AutoRolledBack {
        result: Result<Rollback, OpsError>,
        after: Option<Snapshot>,
    },
    CellHistory(CellId, Vec<String>),
}

/// An undo ready to confirm.
#[derive(Debug)]
pub struct UndoPlan {
    pub base: Snapshot,
    pub routes: Routes,
    pub undone: u64,
    pub changes: Vec<CellChange>,
}

/// Starts the worker thread; it ends when the UI drops its sender.
pub fn spawn(
    console: Arc<Console>,
    reports: UnboundedSender<Report>,
) -> std::sync::mpsc::Sender<Request> {
    let (tx, rx) = std::sync::mpsc::channel::<Request>();
    std::thread::spawn(move || {
        // The guard's role, once taken: let go when the console ends.
        let mut role = None;
        while let Ok(request) = rx.recv() {
            let report = match request {
                Request::TakeGuard => {
                    let holder = format!("{}@{}", console.operator.user, console.operator.host);
                    match console.store.hold("guard", &holder) {
                        Ok(held) => {
                            role = Some(held);
                            Report::GuardTaken(Ok(()))
                        }
                        Err(e) => Report::GuardTaken(Err(e.to_string())),
                    }
                }
                Request::ReleaseGuard => {
                    role = None;
                    continue;
                }
                Request::AutoRollback { .. }
                | Request::PlanOver { .. }
                | Request::PublishCheck(_)
                    if !still_holds(&console, &mut role) =>
                {
                    Report::GuardTaken(Err(
                        "the guard's role was lost (its lease ran out while the store was out of reach): not acting".into(),
                    ))
                }
                other => handle(&console, other),
            };
            if reports.send(report).is_err() {
                drop(role);
                return;
            }
        }
    });
    tx
}

/// Whether the guard's role is still ours (an etcd lease can run out while
/// etcd is away; another guard may act now). Lost, it is let go.
fn still_holds(console: &Console, role: &mut Option<crate::flags::Held>) -> bool {
    let ours = role
        .as_ref()
        .is_some_and(|held| console.store.still_holds(held).unwrap_or(false));
    if !ours {
        *role = None;
    }
    ours
}

/// Carries out one request (blocking: store lock, disk).
pub fn handle(console: &Console, request: Request) -> Report {
    let text = |e: OpsError| e.to_string();
    match request {
        Request::Load => Report::Loaded(console.store.load().map_err(|e| e.to_string())),
        Request::Presence => Report::Presence(match console.store.presence() {
            Some(result) => result.map_err(|e| e.to_string()),
            None => Ok(crate::flags::Presence::default()),
        }),
        Request::PlanShift {
            selection,
            amount,
            provider,
        } => Report::ShiftPlanned(plan_shift(console, &selection, amount, &provider).map_err(text)),
        Request::PlanUndo => Report::UndoPlanned(plan_undo(console).map_err(text)),
        Request::Commit(pending) => commit(console, pending),
        Request::Rollback {
            selection,
            reason,
            force,
        } => rollback(console, selection, reason, force),
        Request::History => Report::History(history(console).map_err(text)),
        Request::TakeGuard | Request::ReleaseGuard => {
            Report::GuardTaken(Err("the guard's role is the worker loop's".into()))
        }
        Request::Plan {
            command,
            reason,
            guard,
        } => plan(console, command, reason, guard),
        Request::PlanOver { revision, reason } => promote_over(console, revision, &reason),
        Request::PublishCheck(published) => {
            Report::Published(ops::gate::publish(console, &published).map_err(|e| e.to_string()))
        }
        Request::AutoRollback { cells, reason } => Report::AutoRolledBack {
            result: ops::guard::auto_rollback(console, &cells, &reason),
            after: console.store.load().ok(),
        },
        Request::CellHistory(cell) => {
            let lines = cell_history(console, &cell).unwrap_or_default();
            Report::CellHistory(cell, lines)
        }
    }
}

fn plan_shift(
    console: &Console,
    selection: &Selection,
    amount: ShiftAmount,
    provider: &str,
) -> Result<(Snapshot, ShiftPlan, ShiftAmount), OpsError> {
    let snapshot = console.store.load()?;
    let plan = ops::plan_shift(
        &console.profile,
        snapshot.routes(),
        selection,
        amount,
        Some(provider),
    )?;
    Ok((snapshot, plan, amount))
}

fn plan_undo(console: &Console) -> Result<UndoPlan, OpsError> {
    let base = console.store.load()?;
    let (routes, undone, changes) = ops::plan_undo(&base)?;
    Ok(UndoPlan {
        base,
        routes,
        undone,
        changes,
    })
}

fn commit(console: &Console, pending: Box<Pending>) -> Report {
    let started = Instant::now();
    let action = match pending.kind {
        PendingKind::Shift => Action::Shift,
        PendingKind::Undo => Action::Undo,
    };
    // The reason typed in the dialog, else what the dialog did.
    let reason = match &pending.reason {
        Some(why) => format!("{why} (console: {})", pending.title),
        None => format!("console: {}", pending.title),
    };
    // Compare-and-swap against the document the dialog showed: if anyone
    // changed it since, the store refuses and says who, when and what.
    let result = console.commit(
        &pending.base,
        pending.routes.clone(),
        action,
        &reason,
        started,
    );
    Report::Committed {
        pending,
        result,
        after: console.store.load().ok(),
        elapsed: started.elapsed(),
    }
}

fn rollback(console: &Console, selection: Selection, why: Option<String>, force: bool) -> Report {
    let started = Instant::now();
    let what = if force { "forced rollback" } else { "rollback" };
    let reason = match why {
        Some(why) => format!("{why} (console: {what} of {selection})"),
        None => format!("console: {what} of {selection}"),
    };
    let result = if force {
        ops::force_rollback(console, &reason)
    } else {
        ops::rollback(console, &selection, &reason)
    };
    Report::RolledBack {
        elapsed: started.elapsed(),
        after: console.store.load().ok(),
        selection,
        result,
    }
}

fn history(console: &Console) -> Result<Vec<String>, OpsError> {
    let history = ops::history(console.store.as_ref(), &console.audit, Some(1000))?;
    let mut lines = history.lines();
    if lines.is_empty() {
        lines.push("no changes recorded yet".into());
    }
    for bad in &history.bad_lines {
        lines.push(format!(
            "audit line {} is unreadable: {}",
            bad.line, bad.error
        ));
    }
    Ok(lines)
}

/// The commits that touched `cell`, each with that cell's line.
fn cell_history(console: &Console, cell: &CellId) -> Result<Vec<String>, OpsError> {
    Ok(ops::history(console.store.as_ref(), &console.audit, Some(1000))?.cell_lines(cell))
}

/// A cutover plan's verb from the console.
fn promote_over(console: &Console, revision: u64, reason: &str) -> Report {
    let verb = ops::plan::Verb::Promote { full: false };
    let result = console.store.load().map_err(OpsError::from).and_then(|base| {
        if base.revision() != revision {
            return Err(OpsError::Invalid(format!(
                "the gate judged revision {revision}, the document is at {} now: not promoted (judged again at the next check)",
                base.revision()
            )));
        }
        ops::plan::act_on(console, &base, &verb, reason)
    });
    Report::Planned {
        result: result.map_err(|e| e.to_string()),
        after: console.store.load().ok(),
        guard: true,
    }
}

/// The guard's last published check of the plan's stage: a breach refuses
/// a promotion (returned), unless over the gate, which the reason then says.
fn promote_gate(console: &Console, over: bool, why: &mut String) -> Option<String> {
    use ops::gate::StageVerdict;
    let doc = console.store.load().ok()?.document;
    let state = ops::plan::state_of(&doc).ok()??;
    match ops::gate::stage_verdict(console, &state, std::time::SystemTime::now()) {
        StageVerdict::Breaching(breach) if !over => Some(format!(
            "promote refused: the stage breaches: {breach} (`:plan promote anyway` promotes over it)"
        )),
        StageVerdict::Breaching(breach) => {
            *why = format!("{why} [promoted over the gate: {breach}]");
            None
        }
        _ => None,
    }
}

fn plan(
    console: &Console,
    command: super::command::PlanCommand,
    reason: Option<String>,
    guard: bool,
) -> Report {
    use super::command::PlanCommand;
    let verb = match command {
        PlanCommand::Promote | PlanCommand::PromoteOverGate => {
            ops::plan::Verb::Promote { full: false }
        }
        PlanCommand::Pause => ops::plan::Verb::Pause,
        PlanCommand::Resume | PlanCommand::ResumeAnyway => ops::plan::Verb::Resume,
        PlanCommand::Abort => ops::plan::Verb::Abort,
    };
    let mut why = reason.unwrap_or_else(|| "from the console".into());
    let refused = match command {
        PlanCommand::Promote | PlanCommand::PromoteOverGate => {
            promote_gate(console, command == PlanCommand::PromoteOverGate, &mut why)
        }
        _ => None,
    };
    if let Some(refused) = refused {
        return Report::Planned {
            result: Err(refused),
            after: None,
            guard,
        };
    }
    Report::Planned {
        result: ops::plan::act(console, &verb, &why).map_err(|e| e.to_string()),
        after: console.store.load().ok(),
        guard,
    }
}
