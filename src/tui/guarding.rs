//! The console's guard: the same checks as `beacon-console guard`, on the
//! router figures the console already gathers. Armed (it holds the role,
//! taken by the store worker), it asks the worker to roll the triggered
//! cells back; observing, it alerts. Never silent: a banner and the bell.
//! Pure state here; the runner gathers the figures and sends the requests.

use std::time::Instant;

use crate::domain::guard::GuardMode;
use crate::ops::guard::{Check, Guard};

use super::app::{App, Tone};
use super::worker::Request;

/// The guard as the console runs it.
#[derive(Default)]
pub struct GuardView {
    /// `None` where the profile cannot have one (not two providers).
    pub guard: Option<Guard>,
    /// Armed only: `Ok` once the role is ours; `Err(who holds it)`.
    pub role: Option<Result<(), String>>,
    pub next: Option<Instant>,
    /// The last check, in a few words.
    pub last: Option<String>,
    /// The last check itself (the plan view's gate per cell).
    pub last_check: Option<Check>,
    /// When to ask for the role again, held elsewhere (its holder may die).
    pub role_retry: Option<Instant>,
    /// What changed, to notify (`[notify] webhook`): one message per state
    /// change, deduplicated; the runner sends them off the UI task.
    pub notifier: Option<crate::ops::notify::Notifier>,
    pub outbox: Vec<crate::ops::notify::Message>,
    /// The plan's gate over this guard's checks (acting only).
    pub gate: crate::ops::guard::PlanGate,
    /// Whether the last check could be published.
    pub published: Option<Result<(), String>>,
    /// The figures' source is gone for good (the demo simulator it shared).
    pub sim_gone: bool,
    /// Cells said to be without data (until they have data again).
    pub blind_cells: std::collections::BTreeSet<crate::domain::CellId>,
}

/// The triggers' reasons, one after another.
fn whys<'a>(triggers: impl Iterator<Item = &'a crate::ops::guard::Trigger>) -> String {
    let why: Vec<&str> = triggers.map(|t| t.why.as_str()).collect();
    why.join("; ")
}

/// How often an armed console asks again for a role held elsewhere.
const ROLE_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

impl GuardView {
    /// Holding or armed, the guard acts, and needs the role to.
    pub fn needs_role(&self) -> bool {
        matches!(self.mode(), GuardMode::Hold | GuardMode::Rollback)
    }

    /// It needs the role and holds it.
    pub fn acting(&self) -> bool {
        self.needs_role() && matches!(self.role, Some(Ok(())))
    }

    /// Acting without the role (another process had it): time to ask again?
    pub fn role_retry_due(&mut self, now: Instant) -> bool {
        if !self.needs_role() || !matches!(self.role, Some(Err(_))) {
            return false;
        }
        if self.role_retry.is_some_and(|at| now < at) {
            return false;
        }
        let first = self.role_retry.is_none();
        self.role_retry = Some(now + ROLE_RETRY);
        !first
    }

    pub fn mode(&self) -> GuardMode {
        self.guard.as_ref().map_or(GuardMode::Disarmed, |g| g.mode)
    }

    /// The header's word: armed only once the role is ours.
    pub fn word(&self) -> String {
        match (self.mode(), &self.role) {
            (GuardMode::Rollback, Some(Ok(()))) => "guard ARMED".into(),
            (GuardMode::Hold, Some(Ok(()))) => "guard holding".into(),
            (GuardMode::Rollback | GuardMode::Hold, Some(Err(_))) => "guard elsewhere".into(),
            (GuardMode::Rollback | GuardMode::Hold, None) => "guard arming".into(),
            (mode, _) => format!("guard {}", mode.word()),
        }
    }
}

impl App {
    /// Whether a check is due (the runner then gathers the figures).
    pub fn guard_due(&mut self, now: Instant) -> bool {
        let Some(guard) = &self.guard.guard else {
            return false;
        };
        if guard.mode == GuardMode::Disarmed || self.document.store_error.is_some() {
            return false;
        }
        if self.guard.next.is_some_and(|next| now < next) {
            return false;
        }
        self.guard.next = Some(now + guard.interval);
        true
    }

    /// What a check found: said, and — acting, with the role — what it
    /// calls for asked of the worker: the rollback of the cells whose rules
    /// roll back, the plan paused on a hold, promoted when its gate passed.
    pub fn guard_checked(&mut self, check: &Check) -> Vec<Request> {
        let breaches = check
            .cells
            .iter()
            .filter(|c| matches!(c.verdict, crate::domain::guard::Verdict::Breach(_)))
            .count();
        self.guard.last = Some(format!(
            "{} in the canary, {breaches} breaching",
            check.cells.len()
        ));
        self.guard.last_check = Some(check.clone());
        let who = self.session.operator.clone();
        if let Some(notifier) = &mut self.guard.notifier {
            let messages = notifier.after_check(check, &who);
            self.guard.outbox.extend(messages);
        }
        self.say_blind(check);
        let mut requests = Vec::new();
        let acting = self.guard.acting();
        if !check.triggered.is_empty() && !acting {
            let why = whys(check.triggered.iter());
            if self.guard.needs_role() {
                // The guard holding the role acts, and its change is news.
                self.say(
                    format!("SLO BREACH (the guard elsewhere acts): {why}"),
                    Tone::Bad,
                );
            } else {
                self.alert(format!(
                    "GUARD ALERT (observing, nothing rolled back): {why}"
                ));
            }
            return requests;
        }
        if !acting {
            // Judged here, acted on by the role's holder (or nobody).
            return requests;
        }
        if let Some(guard) = &self.guard.guard {
            // For a `plan promote` anywhere to see.
            requests.push(Request::PublishCheck(crate::ops::gate::Published::of(
                check,
                &who,
                guard.interval,
            )));
        }
        let rollback = check.calling_for(GuardMode::Rollback).next().is_some();
        if rollback && let Some(guard) = self.guard.guard.as_mut() {
            let (cells, reason) = guard.rollback_of(check);
            let why = whys(check.calling_for(GuardMode::Rollback));
            self.say(
                format!("AUTO-ROLLBACK of {} cell(s) going in: {why}", cells.len()),
                Tone::Bad,
            );
            requests.push(Request::AutoRollback { cells, reason });
        }
        if check.calling_for(GuardMode::Hold).next().is_some() {
            let why = whys(check.calling_for(GuardMode::Hold));
            self.alert(format!("GUARD HOLD: {why}"));
        }
        if check.calling_for(GuardMode::Observe).next().is_some() {
            let why = whys(check.calling_for(GuardMode::Observe));
            self.alert(format!("GUARD ALERT (rule observes only): {why}"));
        }
        // After a rollback of the plan's cells the plan pauses in the
        // rollback's own revision; otherwise its gate steers it.
        if !rollback && let Some(request) = self.steer_plan(check) {
            requests.push(request);
        }
        requests
    }

    /// Cells in the canary without data for a trigger's worth of checks:
    /// a banner and the bell, once, until they have data again. Nothing is
    /// judged there and nothing rolled back; a plan holds (its gate shut).
    fn say_blind(&mut self, check: &Check) {
        let new: Vec<&str> = check
            .blind
            .iter()
            .filter(|(c, _)| !self.guard.blind_cells.contains(c))
            .map(|(_, why)| why.as_str())
            .collect();
        if !new.is_empty() {
            let text = format!(
                "GUARD BLIND: no data, nothing judged or rolled back there; a plan holds: {}",
                new.join("; ")
            );
            self.alert(text);
        }
        self.guard.blind_cells = check.blind.iter().map(|(c, _)| c.clone()).collect();
    }

    /// The plan's gate after a check: paused on a hold, promoted (over the
    /// document the check judged) when the stage passed a whole hold.
    fn steer_plan(&mut self, check: &Check) -> Option<Request> {
        use crate::ops::guard::Gate;
        let state = self.document.plan.clone()?;
        let gate = self
            .guard
            .gate
            .after_check(&state, check, std::time::SystemTime::now());
        match gate {
            Gate::Wait => None,
            Gate::Hold(why) => self.hold_plan(&format!("guard holds the plan: {why}")),
            Gate::Promote { checks } => {
                self.say(
                    format!("the gate passed ({checks} checks over the hold): promoting the plan"),
                    Tone::Good,
                );
                Some(Request::PlanOver {
                    revision: check.revision,
                    reason: format!("guard: the gate passed ({checks} checks over the hold)"),
                })
            }
        }
    }

    /// The plan, if one runs, paused (the operator resumes it).
    pub fn hold_plan(&self, why: &str) -> Option<Request> {
        let running = self
            .document
            .plan
            .as_ref()
            .is_some_and(|p| p.status == crate::domain::plan::PlanStatus::Running);
        running.then(|| Request::Plan {
            command: super::command::PlanCommand::Pause,
            reason: Some(why.to_string()),
            guard: true,
        })
    }

    /// A banner that stays until acknowledged, and the bell.
    pub fn alert(&mut self, text: String) {
        self.say(text.clone(), Tone::Bad);
        self.banner = Some(text);
        self.bell = true;
    }
}
