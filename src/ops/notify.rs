//! Notifications: one message per state change (a breach, a recovery, an
//! automatic rollback) to a Slack-compatible webhook, deduplicated: a cell
//! that keeps breaching is said once, and once again when it recovers.
//! The webhook's URL is a secret: it never appears in a log or an error.

use std::collections::BTreeSet;

use crate::config::Profile;
use crate::domain::CellId;
use crate::providers::{HttpClient, ProviderUrl};

use super::guard::Check;

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Breach,
    Recovery,
    AutoRollback,
    PlanStep,
    PlanPaused,
    /// The metrics say nothing about cells in the canary: not judged.
    NoData,
}

impl Event {
    fn word(self) -> &'static str {
        match self {
            Event::Breach => "breach",
            Event::Recovery => "recovery",
            Event::AutoRollback => "auto_rollback",
            Event::PlanStep => "plan_step",
            Event::PlanPaused => "plan_paused",
            Event::NoData => "no_data",
        }
    }
}

/// A message ready to send: Slack's `text`, and the same facts as fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub event: Event,
    pub text: String,
    pub body: serde_json::Value,
}

pub struct Notifier {
    environment: String,
    /// Cells whose breach was said and not yet their recovery.
    breaching: BTreeSet<CellId>,
    /// Cells said to be without data, until they have data again.
    blind: BTreeSet<CellId>,
}

impl Notifier {
    pub fn new(profile: &Profile) -> Notifier {
        Notifier {
            environment: profile.environment.label().to_lowercase(),
            breaching: BTreeSet::new(),
            blind: BTreeSet::new(),
        }
    }

    /// The messages a check calls for: cells that started breaching past the
    /// threshold, and cells that pass again after one. Repeats say nothing.
    pub fn after_check(&mut self, check: &Check, who: &str) -> Vec<Message> {
        let mut out = Vec::new();
        let new: Vec<&super::guard::Trigger> = check
            .triggered
            .iter()
            .filter(|t| !self.breaching.contains(&t.cell))
            .collect();
        if !new.is_empty() {
            let cells: Vec<String> = new.iter().map(|t| t.cell.to_string()).collect();
            let why: Vec<&str> = new.iter().map(|t| t.why.as_str()).collect();
            out.push(self.message(Event::Breach, &cells, why.join("; "), who, check.revision));
            self.breaching.extend(new.iter().map(|t| t.cell.clone()));
        }
        if let Some(m) = self.newly_blind(check, who) {
            out.push(m);
        }
        let passing: Vec<CellId> = check
            .cells
            .iter()
            .filter(|c| matches!(c.verdict, crate::domain::guard::Verdict::Pass))
            .map(|c| c.cell.clone())
            .filter(|c| self.breaching.contains(c))
            .collect();
        if !passing.is_empty() {
            let cells: Vec<String> = passing.iter().map(ToString::to_string).collect();
            out.push(self.message(
                Event::Recovery,
                &cells,
                "within the SLO again".into(),
                who,
                check.revision,
            ));
            for c in &passing {
                self.breaching.remove(c);
            }
        }
        out
    }

    /// Cells that went without data for a trigger's worth of checks: said
    /// once, until they have data again.
    fn newly_blind(&mut self, check: &Check, who: &str) -> Option<Message> {
        let seen: BTreeSet<CellId> = check.blind.iter().map(|(c, _)| c.clone()).collect();
        self.blind.retain(|c| seen.contains(c));
        let new: Vec<&(CellId, String)> = check
            .blind
            .iter()
            .filter(|(c, _)| !self.blind.contains(c))
            .collect();
        if new.is_empty() {
            return None;
        }
        let cells: Vec<String> = new.iter().map(|(c, _)| c.to_string()).collect();
        let why: Vec<&str> = new.iter().map(|(_, w)| w.as_str()).collect();
        self.blind.extend(new.iter().map(|(c, _)| c.clone()));
        Some(self.message(
            Event::NoData,
            &cells,
            format!(
                "nothing judged there, nothing rolled back; a plan holds: {}",
                why.join("; ")
            ),
            who,
            check.revision,
        ))
    }

    /// The guard rolled `cells` back (they leave the canary: no recovery
    /// will follow).
    pub fn rolled_back(
        &mut self,
        cells: &[CellId],
        reason: &str,
        who: &str,
        revision: u64,
        shares: &str,
    ) -> Message {
        for c in cells {
            self.breaching.remove(c);
        }
        let names: Vec<String> = cells.iter().map(ToString::to_string).collect();
        let mut m = self.message(
            Event::AutoRollback,
            &names,
            reason.to_string(),
            who,
            revision,
        );
        m.text = format!("{} · {shares}", m.text);
        m.body["shares"] = serde_json::Value::String(shares.to_string());
        m.body["text"] = serde_json::Value::String(m.text.clone());
        m
    }

    /// The plan moved (or stopped) by the guard's hand: about its current
    /// stage's cells.
    pub fn plan(
        &self,
        event: Event,
        state: &crate::domain::plan::PlanState,
        what: String,
        who: &str,
        revision: u64,
    ) -> Message {
        let cells = state
            .plan
            .stages
            .get(state.stage)
            .map(|s| s.cells.clone())
            .unwrap_or_default();
        self.message(event, &cells, what, who, revision)
    }

    fn message(
        &self,
        event: Event,
        cells: &[String],
        detail: String,
        who: &str,
        revision: u64,
    ) -> Message {
        let headline = match event {
            Event::Breach => "SLO BREACH",
            Event::Recovery => "RECOVERED",
            Event::AutoRollback => "AUTO-ROLLBACK",
            Event::PlanStep => "PLAN STEP",
            Event::PlanPaused => "PLAN PAUSED",
            Event::NoData => "GUARD BLIND",
        };
        let text = format!(
            "[{}] {headline} in {} cell(s): {} — {detail} (by {who}, rev {revision})",
            self.environment,
            cells.len(),
            cells.join(", ")
        );
        let body = serde_json::json!({
            "text": text,
            "beacon": {
                "environment": self.environment,
                "event": event.word(),
                "cells": cells,
                "detail": detail,
                "by": who,
                "revision": revision,
            },
        });
        Message { event, text, body }
    }
}

/// The webhook's URL from the profile (`Ok(None)`: none is set); the error
/// names the secret's source, never its value.
pub fn webhook_url(profile: &Profile) -> Result<Option<ProviderUrl>, String> {
    let Some(source) = &profile.webhook else {
        return Ok(None);
    };
    let secret = source.read().map_err(|why| format!("no webhook: {why}"))?;
    ProviderUrl::parse(secret.expose())
        .map(Some)
        .map_err(|_| "no webhook: its URL is not a valid http(s) URL".to_string())
}

impl Notifier {
    /// The message of an automatic rollback from its record: the cells,
    /// their shares before → after, the rule and figures, who acted.
    pub fn rollback_record(&mut self, record: &crate::domain::ChangeRecord, who: &str) -> Message {
        let cells: Vec<CellId> = record.changes.iter().map(|c| c.cell.clone()).collect();
        let shares: Vec<String> = record
            .changes
            .iter()
            .map(crate::domain::CellChange::words)
            .collect();
        self.rolled_back(
            &cells,
            &record.reason,
            who,
            record.revision,
            &shares.join("; "),
        )
    }
}

/// Sends a message; a failure is said without the URL (the secret).
pub async fn send(http: &HttpClient, url: &ProviderUrl, message: &Message) -> Result<(), String> {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_vec(&message.body).map_err(|e| e.to_string())?;
    http.post(url, &headers, body.into())
        .await
        .map(|_| ())
        // The class and status only: the message may quote the URL.
        .map_err(|e| match e.status {
            Some(status) => format!("webhook: {} (HTTP {status})", e.class.label()),
            None => format!("webhook: {}", e.class.label()),
        })
}
