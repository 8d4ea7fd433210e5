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
}

/// How often an armed console asks again for a role held elsewhere.
const ROLE_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

impl GuardView {
    /// Armed without the role (another process had it): time to ask again?
    pub fn role_retry_due(&mut self, now: Instant) -> bool {
        if self.mode() != GuardMode::Rollback || !matches!(self.role, Some(Err(_))) {
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
            (GuardMode::Rollback, Some(Err(_))) => "guard elsewhere".into(),
            (GuardMode::Rollback, None) => "guard arming".into(),
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

    /// What a check found: said, and — armed, with the role — the
    /// rollback asked of the worker.
    pub fn guard_checked(&mut self, check: &Check) -> Option<Request> {
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
        if check.triggered.is_empty() {
            return None;
        }
        let why: Vec<&str> = check.triggered.iter().map(|(_, w)| w.as_str()).collect();
        let guard = self.guard.guard.as_mut()?;
        match (guard.mode, &self.guard.role) {
            (GuardMode::Rollback, Some(Ok(()))) => {
                let (cells, reason) = guard.rollback_of(check);
                self.say(
                    format!(
                        "AUTO-ROLLBACK of {} cell(s) going in: {}",
                        cells.len(),
                        why.join("; ")
                    ),
                    Tone::Bad,
                );
                Some(Request::AutoRollback { cells, reason })
            }
            (GuardMode::Rollback, _) => {
                self.say(
                    format!("SLO BREACH (the guard elsewhere acts): {}", why.join("; ")),
                    Tone::Bad,
                );
                None
            }
            (GuardMode::Hold, _) => {
                let why = why.join("; ");
                self.alert(format!("GUARD HOLD: {why}"));
                self.hold_plan(&format!("guard holds the plan: {why}"))
            }
            _ => {
                self.alert(format!(
                    "GUARD ALERT (observing, nothing rolled back): {}",
                    why.join("; ")
                ));
                None
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
        })
    }

    /// A banner that stays until acknowledged, and the bell.
    pub fn alert(&mut self, text: String) {
        self.say(text.clone(), Tone::Bad);
        self.banner = Some(text);
        self.bell = true;
    }
}
