//! What the console does with the store worker's reports: pure state
//! changes, no I/O. Also the pending rollback: a rollback that failed to
//! write is retried until it lands, and only an explicit, confirmed action
//! gives it up.

use std::time::{Duration, Instant};

use crate::domain::{CellId, Selection};
use crate::flags::Snapshot;

use super::app::{App, Mode, Tone};
use super::modes::History;
use super::worker::{Report, Request};

/// How long the cells another operator changed stay marked.
pub const NEWS_MARK: Duration = Duration::from_secs(5);

/// A rollback asked for and not yet written.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRollback {
    /// Everything asked for since it was first asked (a second rollback
    /// while one is pending joins it, never replaces it).
    pub selection: Selection,
    pub attempts: u32,
    pub in_flight: bool,
    /// When the next attempt is due (after a failure).
    pub next: Instant,
    pub delay: Duration,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// Why, as typed (`:rollback … -- why`), for the audit.
    pub reason: Option<String>,
    /// When it was first asked for (X X), for what the operator is told.
    pub first_asked: Instant,
    /// Over a document that cannot be read (`:rollback force`).
    pub force: bool,
}

/// Another operator's change, as the status line tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct News {
    pub cells: Vec<CellId>,
    pub until: Instant,
}

impl App {
    /// A rollback of `selection`: joined to any pending one; sent at once
    /// unless an attempt is in flight (the tick sends the rest).
    pub fn request_rollback(&mut self, selection: Selection, now: Instant) -> Option<Request> {
        let reason = self.typed_reason.take();
        let merged = match self.rollback.take() {
            Some(mut pending) => {
                pending.selection = self.union(&pending.selection, &selection);
                pending.next = now;
                pending.reason = reason.or(pending.reason);
                pending
            }
            None => PendingRollback {
                selection,
                attempts: 0,
                in_flight: false,
                next: now,
                delay: Duration::ZERO,
                error: None,
                reason,
                first_asked: now,
                force: false,
            },
        };
        self.rollback = Some(merged);
        self.due_rollback(now)
    }

    /// `:rollback force`: every cell, whatever the document's state; a
    /// pending rollback becomes this one (it covers everything).
    pub fn request_force_rollback(&mut self, now: Instant) -> Option<Request> {
        let request = self.request_rollback(Selection::All, now);
        if let Some(pending) = &mut self.rollback {
            pending.force = true;
        }
        match request {
            Some(Request::Rollback {
                selection, reason, ..
            }) => Some(Request::Rollback {
                selection,
                reason,
                force: true,
            }),
            other => other,
        }
    }

    /// The attempt that is due now, if any.
    pub fn due_rollback(&mut self, now: Instant) -> Option<Request> {
        let pending = self.rollback.as_mut()?;
        if pending.in_flight || now < pending.next {
            return None;
        }
        pending.in_flight = true;
        pending.attempts += 1;
        Some(Request::Rollback {
            selection: pending.selection.clone(),
            reason: pending.reason.clone(),
            force: pending.force,
        })
    }

    /// A revision this console wrote (not news when it is read back); only
    /// the last few are kept: memory stays bounded in a long session.
    fn remember_own(&mut self, revision: u64) {
        const KEPT: usize = 64;
        if self.document.own_revisions.len() == KEPT {
            self.document.own_revisions.remove(0);
        }
        self.document.own_revisions.push(revision);
    }

    /// Gives up the pending rollback (after the operator confirmed it).
    pub fn give_up_rollback(&mut self) {
        if self.rollback.take().is_some() {
            self.say(
                "rollback retries given up: the document was NOT rolled back",
                Tone::Bad,
            );
        }
    }

    fn union(&self, a: &Selection, b: &Selection) -> Selection {
        if matches!(a, Selection::All) || matches!(b, Selection::All) {
            return Selection::All;
        }
        let mut cells = a
            .resolve(&self.session.models, &self.session.regions)
            .unwrap_or_default();
        for cell in b
            .resolve(&self.session.models, &self.session.regions)
            .unwrap_or_default()
        {
            if !cells.contains(&cell) {
                cells.push(cell);
            }
        }
        Selection::Cells(cells)
    }

    /// Applies a report; returns what to ask the worker next, if anything.
    pub fn on_report(&mut self, report: Report, now: Instant) -> Option<Request> {
        if matches!(report, Report::ShiftPlanned(_) | Report::UndoPlanned(_)) {
            // The dialog is open (or the plan failed): keys typed ahead go on.
            self.planning = false;
        }
        match report {
            Report::Loaded(result) => {
                match result {
                    Ok(snapshot) => {
                        self.loaded(snapshot, now);
                        // The store reads again: a rollback waiting out its
                        // back-off goes now, not seconds later.
                        if let Some(pending) = &mut self.rollback
                            && pending.error.is_some()
                        {
                            pending.next = now;
                        }
                    }
                    Err(e) => {
                        self.document.load_in_flight = false;
                        self.document.store_error = Some(e);
                    }
                }
                // A change was told of while this load was out: read again.
                if std::mem::take(&mut self.document.reload_wanted) {
                    self.document.load_in_flight = true;
                    return Some(Request::Load);
                }
            }
            Report::Presence(result) => self.presence_read(result, now),
            Report::ShiftPlanned(Ok((snapshot, plan, amount))) => {
                self.loaded(snapshot.clone(), now);
                self.propose_shift(snapshot, plan, amount);
            }
            Report::UndoPlanned(Ok(undo)) => {
                self.loaded(undo.base.clone(), now);
                self.propose_undo(undo.base, undo.routes, undo.undone, undo.changes);
            }
            Report::ShiftPlanned(Err(e)) | Report::UndoPlanned(Err(e)) => self.say(e, Tone::Bad),
            Report::Committed {
                pending,
                result,
                after,
                elapsed,
            } => {
                if let Ok(c) = &result {
                    self.remember_own(c.record.revision);
                }
                if let Some(s) = after {
                    self.loaded(s, now);
                }
                match result {
                    Ok(c) => {
                        self.selected.clear();
                        self.say(
                            format!(
                                "{}: {} cell(s) · rev {} · {:.1} ms",
                                pending.title,
                                pending.changes.len(),
                                c.record.revision,
                                elapsed.as_secs_f64() * 1000.0
                            ),
                            Tone::Good,
                        );
                    }
                    Err(e) => self.say(e.to_string(), Tone::Bad),
                }
            }
            Report::RolledBack {
                selection,
                result,
                after,
                elapsed,
            } => return self.rolled_back(selection, result, after, elapsed, now),
            Report::GuardTaken(result) => {
                match &result {
                    // Said once, not at every retry.
                    Err(who) if !matches!(self.guard.role, Some(Err(_))) => {
                        self.say(format!("guard not armed here: {who}"), Tone::Warn);
                    }
                    Ok(()) if matches!(self.guard.role, Some(Err(_))) => {
                        self.say(
                            "guard ARMED here: the role was let go elsewhere",
                            Tone::Good,
                        );
                    }
                    _ => {}
                }
                self.guard.role = Some(result);
            }
            Report::Published(result) => self.published(result),
            Report::AutoRolledBack { result, after } => {
                if self.auto_rolled_back(result, after, now) {
                    // Its cells went back: the plan holds.
                    return self.hold_plan("guard: its cells were rolled back; the plan holds");
                }
            }
            Report::Planned {
                result,
                after,
                guard,
            } => {
                if guard && let Ok(done) = &result {
                    self.notify_plan(done);
                }
                self.planned(result, after, now);
            }
            Report::History(Ok(lines)) => self.mode = Mode::History(History::new(lines)),
            Report::History(Err(e)) => self.say(e, Tone::Bad),
            Report::CellHistory(cell, lines) => {
                if let Mode::Detail(detail) = &mut self.mode
                    && detail.cell == cell
                {
                    detail.changes = lines;
                }
            }
        }
        None
    }

    /// A fresh document: the matrix follows it, another operator's change
    /// is told with who, when and why, and a dialog based on an older one
    /// can no longer be confirmed.
    fn loaded(&mut self, snapshot: Snapshot, now: Instant) {
        self.document.load_in_flight = false;
        self.document.store_error = None;
        self.document.loaded_at = Some(now);
        if let Mode::Confirm(dialog) = &mut self.mode
            && dialog.pending.base.fingerprint != snapshot.fingerprint
            && dialog.stale.is_none()
        {
            dialog.stale = Some(format!(
                "STALE: the document changed since this dialog opened (now revision {}{}); Esc and try again",
                snapshot.revision(),
                snapshot
                    .document
                    .last_change()
                    .map(|c| format!(", by {}", c.operator))
                    .unwrap_or_default()
            ));
        }
        if snapshot.revision() == self.document.revision
            && snapshot.routes() == &self.document.routes
        {
            return;
        }
        let changed: Vec<CellId> = self
            .document
            .routes
            .diff(snapshot.routes())
            .into_iter()
            .map(|c| c.cell)
            .collect();
        let ours = self.document.own_revisions.contains(&snapshot.revision());
        if !ours && snapshot.revision() != self.document.revision && self.document.loaded_once {
            self.tell_news(&snapshot, changed, now);
        }
        if snapshot.revision() != self.document.revision {
            // The served shares were counted under the revision before: none
            // is shown until the routers' traffic under this one is counted.
            self.live.served.clear();
            self.live.served_requests.clear();
        }
        self.document.loaded_once = true;
        self.document.plan = crate::ops::plan::state_of(&snapshot.document)
            .ok()
            .flatten();
        self.document.routes = snapshot.routes().clone();
        self.document.revision = snapshot.revision();
    }

    fn tell_news(&mut self, snapshot: &Snapshot, cells: Vec<CellId>, now: Instant) {
        let text = match snapshot.document.last_change() {
            Some(c) => {
                // The time it was made (it does not go stale on the screen).
                let at = c
                    .time
                    .get(11..19)
                    .map_or_else(String::new, |t| format!(" at {t}Z"));
                let what = match cells.as_slice() {
                    [] => String::new(),
                    [one] => format!(
                        " {one} {}",
                        snapshot
                            .routes()
                            .get(one)
                            .map(|s| format!("→ {}", s.words()))
                            .unwrap_or_default()
                    ),
                    many => format!(" {} cells", many.len()),
                };
                format!(
                    "rev {} by {}{at}: {}{what} · \"{}\"",
                    c.revision, c.operator, c.action, c.reason
                )
            }
            None => format!(
                "rev {} written outside beacon-console (no change record)",
                snapshot.revision()
            ),
        };
        let automatic = snapshot
            .document
            .last_change()
            .is_some_and(|c| c.action == crate::domain::Action::AutoRollback);
        if automatic {
            // The guard acted (elsewhere): never silent.
            self.alert(format!("AUTO-ROLLBACK {text}"));
        } else {
            self.say(text, Tone::Warn);
        }
        self.document.news = Some(News {
            cells,
            until: now + NEWS_MARK,
        });
    }

    fn rolled_back(
        &mut self,
        selection: Selection,
        result: Result<crate::ops::Rollback, crate::ops::OpsError>,
        after: Option<Snapshot>,
        elapsed: Duration,
        now: Instant,
    ) -> Option<Request> {
        if let Ok(Some(c)) = result.as_ref().map(|r| r.committed.as_ref()) {
            self.remember_own(c.record.revision);
        }
        if let Some(s) = after {
            self.loaded(s, now);
        }
        let pending = self.rollback.as_mut()?;
        pending.in_flight = false;
        match result {
            Ok(done) => {
                if pending.selection != selection {
                    // More was asked while this one was in flight: send the rest now.
                    pending.next = now;
                    return self.due_rollback(now);
                }
                let first_asked = pending.first_asked;
                self.rollback = None;
                self.selected.clear();
                self.announce_rollback(&done, &selection, elapsed, first_asked);
                if done.committed.is_some() {
                    // Written is not applied: the status line counts the
                    // regions down until every one acknowledged it.
                    self.await_apply(done.revision, now);
                }
            }
            Err(e) => {
                pending.delay =
                    (pending.delay * 2).clamp(Duration::from_secs(1), Duration::from_secs(8));
                pending.next = now + pending.delay;
                pending.error = Some(e.to_string());
            }
        }
        None
    }
}

impl App {
    /// The guard's rollback, to notify: one message (it says the breach too).
    fn notify_rollback(&mut self, done: &crate::ops::Rollback) {
        let who = self.session.operator.clone();
        let (Some(notifier), Some(committed)) = (&mut self.guard.notifier, &done.committed) else {
            return;
        };
        let message = notifier.rollback_record(&committed.record, &who);
        self.guard
            .outbox
            .retain(|m| m.event != crate::ops::notify::Event::Breach);
        self.guard.outbox.push(message);
    }

    /// A plan verb from the console landed (or was refused).
    fn planned(
        &mut self,
        result: Result<crate::ops::plan::Outcome, String>,
        after: Option<Snapshot>,
        now: Instant,
    ) {
        if let Ok(done) = &result {
            self.remember_own(done.revision);
        }
        if let Some(s) = after {
            self.loaded(s, now);
        }
        match result {
            Ok(done) => self.say(
                format!(
                    "{} · rev {} · {} cell(s) changed",
                    crate::ops::plan::outcome_words(done.state.as_ref()),
                    done.revision,
                    done.changed
                ),
                Tone::Good,
            ),
            Err(e) => self.say(e, Tone::Bad),
        }
        self.refresh_plan_view(std::time::SystemTime::now());
    }

    /// The guard's check published, or not (a failure said once, not at
    /// every check).
    fn published(&mut self, result: Result<(), String>) {
        if let Err(e) = &result
            && self.guard.published.as_ref().is_none_or(Result::is_ok)
        {
            self.say(
                format!(
                    "the guard's check is not published ({e}): a promote elsewhere cannot see it"
                ),
                Tone::Warn,
            );
        }
        self.guard.published = Some(result);
    }

    /// The console's guard moved or paused the plan: one message (where
    /// `[notify]` has a webhook), about the stage's cells.
    fn notify_plan(&mut self, done: &crate::ops::plan::Outcome) {
        use crate::domain::plan::PlanStatus;
        use crate::ops::notify::Event;
        let Some(state) = &done.state else {
            return;
        };
        let who = self.session.operator.clone();
        let Some(notifier) = &self.guard.notifier else {
            return;
        };
        let event = if state.status == PlanStatus::Paused {
            Event::PlanPaused
        } else {
            Event::PlanStep
        };
        let what = crate::ops::plan::outcome_words(Some(state));
        let message = notifier.plan(event, state, what, &who, done.revision);
        self.guard.outbox.push(message);
    }

    /// The guard's rollback landed (or not): loud either way.
    /// Whether it rolled cells back.
    fn auto_rolled_back(
        &mut self,
        result: Result<crate::ops::Rollback, crate::ops::OpsError>,
        after: Option<Snapshot>,
        now: Instant,
    ) -> bool {
        match result {
            Ok(done) => {
                if let Some(c) = &done.committed {
                    self.remember_own(c.record.revision);
                }
                if let Some(s) = after {
                    self.loaded(s, now);
                }
                let reason = done
                    .committed
                    .as_ref()
                    .map_or_else(String::new, |c| c.record.reason.clone());
                let cells = done
                    .committed
                    .as_ref()
                    .map_or(0, |c| c.record.changes.len());
                // The cells and their figures; the limits stay in the audit
                // (`L`), so the banner fits a small screen.
                let why = reason.split_once("): ").map_or(reason.as_str(), |(_, w)| w);
                let plan = match &self.document.plan {
                    Some(p) if p.status == crate::domain::plan::PlanStatus::Paused => {
                        format!(" · plan {} paused", p.plan.name)
                    }
                    _ => String::new(),
                };
                // Who and when first, then what the plan did: on a small
                // screen the figures are what may be cut (`L` has them).
                let at = done.committed.as_ref().map_or_else(String::new, |c| {
                    let time = c.record.time.get(11..19).unwrap_or("");
                    format!(" at {time}Z")
                });
                self.alert(format!(
                    "AUTO-ROLLBACK {cells} cell(s) to {} · rev {}{at} by this console's guard{plan} · {why}",
                    self.session.fallback, done.revision
                ));
                self.notify_rollback(&done);
                if done.committed.is_some() {
                    self.await_apply(done.revision, now);
                }
                done.committed.is_some()
            }
            Err(e) => {
                self.alert(format!(
                    "AUTO-ROLLBACK FAILED ({e}); the guard tries again at its next check"
                ));
                false
            }
        }
    }

    /// The status after a rollback landed: written first, then what the
    /// operator must know about where the traffic went.
    fn announce_rollback(
        &mut self,
        done: &crate::ops::Rollback,
        selection: &Selection,
        elapsed: Duration,
        first_asked: Instant,
    ) {
        let Some(committed) = &done.committed else {
            self.say(
                format!(
                    "already on {}: nothing to roll back (rev {})",
                    self.session.fallback, done.revision
                ),
                Tone::Info,
            );
            return;
        };
        // What changed (not what was selected), and when: the write's own
        // time, and since X X when retries made it wait.
        let changed = committed.record.changes.len();
        let waited = first_asked.elapsed();
        let when = if waited > elapsed + Duration::from_secs(1) {
            format!("{:.1} s after it was asked", waited.as_secs_f64())
        } else {
            format!("{:.1} ms", elapsed.as_secs_f64() * 1000.0)
        };
        let head = format!(
            "ROLLED BACK {changed} cell(s) to {} · rev {} · {when}",
            self.session.fallback, done.revision
        );
        if let Some(warning) = &committed.audit_warning {
            // Rolled back, but its audit line is pending: say both, loudly.
            self.banner = Some(format!("{head} · {warning}"));
        }
        // The fallback's state never delays the rollback: it is told after.
        let cells = selection
            .resolve(&self.session.models, &self.session.regions)
            .unwrap_or_default();
        let failing = self
            .live
            .failing(&self.session.fallback, &cells, &self.session.slo);
        if let Some(warning) = failing.warning() {
            // Onto a provider failing there: loud, and it stays. Failing is
            // not "cold": no warm-up advice.
            let text = format!("{head} · BUT {warning}");
            self.banner = Some(text.clone());
            self.say(text, Tone::Bad);
            return;
        }
        let cold = self
            .live
            .cold_regions(&self.session.fallback, &cells)
            .warning();
        let warm_key = self.session.keymap.label(super::keymap::Command::Warmup);
        let text = format!(
            "{head}{}",
            cold.as_ref()
                .map(|w| format!(" · {w}, press {warm_key} to warm"))
                .unwrap_or_default()
        );
        let tone = if cold.is_some() {
            Tone::Warn
        } else {
            Tone::Good
        };
        self.say(text, tone);
    }
}

impl App {
    /// What the status line says about a rollback not yet written.
    pub fn pending_rollback_text(&self, now: Instant) -> Option<String> {
        let pending = self.rollback.as_ref()?;
        let error = pending.error.as_ref()?;
        let wait = pending.next.saturating_duration_since(now).as_secs();
        let when = if pending.in_flight {
            "retrying now".to_string()
        } else {
            format!("next try in {wait} s")
        };
        // What is being done about it first: the cause may be long.
        let unreadable = error.contains("unreadable") || error.contains("is missing");
        let force = if unreadable && !pending.force {
            "; :rollback force writes an all-fallback document"
        } else {
            ""
        };
        Some(format!(
            "ROLLBACK NOT WRITTEN ({}, attempt {}; {when}; :rollback cancel gives up{force}): {error}",
            pending.selection, pending.attempts
        ))
    }

    /// How old the matrix is: since the document was last read.
    pub fn matrix_age(&self, now: Instant) -> Option<Duration> {
        self.document
            .loaded_at
            .map(|at| now.saturating_duration_since(at))
    }
}

impl App {
    /// What the operator must know about where a dialog's change sends
    /// traffic, for every cell of it (not the first only): the provider that
    /// gains traffic per cell, failing there (errors over the SLO, down) or
    /// cold. Failing is not cold: it is said first, as bad.
    pub fn gaining_warnings(&self, pending: &super::app::Pending) -> Vec<(String, Tone)> {
        let mut gaining: Vec<(String, Vec<CellId>)> = Vec::new();
        for change in &pending.changes {
            let before = change
                .before
                .as_ref()
                .map_or(0, |b| b.share(&self.session.target).get());
            let provider = if change.after.share(&self.session.target).get() >= before {
                &self.session.target
            } else {
                &self.session.fallback
            };
            match gaining.iter_mut().find(|(p, _)| p == provider) {
                Some((_, cells)) => cells.push(change.cell.clone()),
                None => gaining.push((provider.clone(), vec![change.cell.clone()])),
            }
        }
        let mut out = Vec::new();
        let mut warm = Vec::new();
        for (provider, cells) in &gaining {
            let said = out.len();
            let failing = self.live.failing(provider, cells, &self.session.slo);
            if let Some(w) = failing.warning() {
                out.push((w, Tone::Bad));
            }
            // Failing is not cold: those cells are not counted again.
            let rest: Vec<CellId> = cells
                .iter()
                .filter(|c| !failing.cells.iter().any(|(f, _)| f == *c))
                .cloned()
                .collect();
            if let Some(w) = self.live.cold_regions(provider, &rest).warning() {
                out.push((w, Tone::Warn));
            }
            // No figures is not warm: said as unknown.
            let unknown = rest
                .iter()
                .filter(|c| self.live.probed(c, provider).is_none())
                .count();
            if unknown > 0 {
                out.push((
                    format!("{provider}: no figures for {unknown} cell(s): warmth unknown"),
                    Tone::Warn,
                ));
            }
            if out.len() == said {
                warm.push(provider.as_str());
            }
        }
        if !warm.is_empty() {
            out.push((
                format!("{}: warm where it gains traffic", warm.join(", ")),
                Tone::Info,
            ));
        }
        out
    }
}
