//! Where the store keeps them (etcd): which revision each region's sync
//! acknowledged, who else has a console open, and a rollback's wait until
//! every region applied it. Pure state; the worker reads, the view draws.

use std::time::{Duration, Instant};

use crate::flags::Presence;

use super::app::{App, Tone};

/// The regions' acknowledgements and the operators, as last read.
#[derive(Debug, Clone, Default)]
pub struct PresenceView {
    /// `None` until read (or where the store keeps none).
    pub last: Option<Presence>,
    pub error: Option<String>,
    pub in_flight: bool,
}

/// A rollback written and not yet acknowledged by every region.
#[derive(Debug, Clone, PartialEq)]
pub struct AwaitApply {
    pub revision: u64,
    pub since: Instant,
    /// What the status line said when it was written.
    pub said: String,
    pub tone: Tone,
    /// The banner says it too (a rollback onto a failing fallback): it
    /// counts the regions as well.
    pub in_banner: bool,
    /// What was last said of it: said again only when it changes, so that
    /// a region that never applies does not drown other news.
    pub last_said: Option<String>,
}

impl App {
    /// The revision each region's sync acknowledged, when the store keeps
    /// acknowledgements; a region with none has not applied anything known.
    pub fn acknowledged(&self, region: &str) -> Option<Option<u64>> {
        let presence = self.presence.last.as_ref()?;
        Some(
            presence
                .applied
                .iter()
                .find(|a| a.region == region)
                .map(|a| a.revision),
        )
    }

    /// The other consoles connected, by operator (this console's own entry
    /// left out; another console of the same operator still counts).
    pub fn other_operators(&self) -> Vec<&str> {
        let Some(presence) = &self.presence.last else {
            return Vec::new();
        };
        let mut others: Vec<&str> = presence.operators.iter().map(String::as_str).collect();
        if let Some(own) = others.iter().position(|o| *o == self.session.operator) {
            others.remove(own);
        }
        others.sort_unstable();
        others.dedup();
        others
    }

    /// Regions that have not acknowledged `revision` (or later).
    pub fn regions_missing(&self, revision: u64) -> Vec<String> {
        self.session
            .regions
            .iter()
            .filter(|r| !matches!(self.acknowledged(r), Some(Some(a)) if a >= revision))
            .map(ToString::to_string)
            .collect()
    }

    /// Whether `region` has not applied the awaited rollback past the
    /// deadline (its column says so, in red).
    pub fn is_late(&self, region: &str, now: Instant) -> bool {
        self.awaiting.as_ref().is_some_and(|wait| {
            now.saturating_duration_since(wait.since) >= self.session.apply_deadline
                && self
                    .regions_missing(wait.revision)
                    .iter()
                    .any(|r| r == region)
        })
    }

    /// A presence report from the worker.
    pub fn presence_read(&mut self, result: Result<Presence, String>, now: Instant) {
        self.presence.in_flight = false;
        match result {
            Ok(presence) => {
                self.presence.last = Some(presence);
                self.presence.error = None;
            }
            Err(e) => self.presence.error = Some(e),
        }
        self.check_apply(now);
    }

    /// After a rollback is written: wait for every region to apply it.
    pub fn await_apply(&mut self, revision: u64, now: Instant) {
        if !self.session.acknowledgements {
            return;
        }
        let Some((said, tone)) = self.status.clone() else {
            return;
        };
        let in_banner = self.banner.as_deref() == Some(said.as_str());
        self.awaiting = Some(AwaitApply {
            revision,
            since: now,
            said,
            tone,
            in_banner,
            last_said: None,
        });
        self.check_apply(now);
    }

    /// Says how far the rollback is: the regions still missing (in red by
    /// name past the deadline), or done when every one applied it.
    pub fn check_apply(&mut self, now: Instant) {
        let Some(wait) = self.awaiting.clone() else {
            return;
        };
        let missing = self.regions_missing(wait.revision);
        let all = self.session.regions.len();
        let waited = now.saturating_duration_since(wait.since);
        if missing.is_empty() {
            self.awaiting = None;
            let text = format!(
                "{} · applied {all}/{all} in {:.1} s",
                wait.said,
                waited.as_secs_f64()
            );
            self.tell_apply(&wait, text, wait.tone);
            return;
        }
        let applied = all - missing.len();
        let late = waited >= self.session.apply_deadline;
        let (text, tone) = if late {
            (
                format!(
                    "{} · NOT APPLIED in {} after {:.1} s (applied {applied}/{all})",
                    wait.said,
                    missing.join(", "),
                    self.session.apply_deadline.as_secs_f64()
                ),
                Tone::Bad,
            )
        } else {
            (
                format!(
                    "{} · applied {applied}/{all}, waiting for {}",
                    wait.said,
                    missing.join(", ")
                ),
                wait.tone,
            )
        };
        self.tell_apply(&wait, text, tone);
    }

    fn tell_apply(&mut self, wait: &AwaitApply, text: String, tone: Tone) {
        if wait.last_said.as_ref() == Some(&text) {
            return;
        }
        if let Some(awaiting) = &mut self.awaiting {
            awaiting.last_said = Some(text.clone());
        }
        // Only while the banner is still up (not acknowledged).
        if wait.in_banner && self.banner.is_some() {
            self.banner = Some(text.clone());
        }
        self.say(text, tone);
    }
}

/// How long after a rollback a region that has not applied it is shown in red.
pub const DEFAULT_APPLY_DEADLINE: Duration = Duration::from_secs(2);
