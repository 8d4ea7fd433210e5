//! `plan status | start PLAN.toml | promote [--full] | pause | resume | abort`.

use std::time::SystemTime;

use crate::domain::plan::{PlanState, PlanStatus};
use crate::ops::plan::{self, Verb};
use crate::ops::{Console, OpsError};

use super::args::{PlanArgs, PlanVerb};
use super::run::{check_forward_yes, confirm, confirm_forward};

pub fn run(
    console: &Console,
    args: PlanArgs,
    json: bool,
    environment: Option<&str>,
) -> Result<(), OpsError> {
    let mut reason = args.reason.clone();
    let verb = match args.verb {
        PlanVerb::Status => return status(console, json),
        PlanVerb::Start { path } => Verb::Start(crate::config::load_plan(&path, &console.profile)?),
        PlanVerb::Promote { full, ignore_gate } => {
            reason = gate(console, ignore_gate, reason)?;
            Verb::Promote { full }
        }
        PlanVerb::Pause => Verb::Pause,
        PlanVerb::Resume => Verb::Resume,
        PlanVerb::Abort => Verb::Abort,
    };
    console.ensure_writable("change the plan")?;
    // Forward (start, promote, resume) is shown cell by cell, confirmed as a
    // shift is, and written only over the document that was shown; pause
    // and abort only ever stop or go back: not asked, never refused.
    let done = if matches!(verb, Verb::Start(_) | Verb::Promote { .. } | Verb::Resume) {
        check_forward_yes(console, args.yes, environment)?;
        let base = console.store.load()?;
        let (routes, _) = plan::preview(console, &base.document, &verb)?;
        eprintln!(
            "{}, based on revision {}:",
            verb_words(&verb),
            base.revision()
        );
        for change in base.routes().diff(&routes) {
            eprintln!("  {}", change.words());
        }
        confirm_forward(console, args.yes, "Apply?")?;
        plan::act_on(console, &base, &verb, &reason)?
    } else {
        if matches!(verb, Verb::Abort) && !args.yes {
            // A rollback of the plan's cells: shown and asked as one (the
            // write itself reads the latest document and is never refused).
            let base = console.store.load()?;
            let (routes, _) = plan::preview(console, &base.document, &verb)?;
            eprintln!(
                "abort: back to {}, based on revision {}:",
                console.profile.fallback,
                base.revision()
            );
            for change in base.routes().diff(&routes) {
                eprintln!("  {}", change.words());
            }
            confirm(false, "Abort the plan?")?;
        }
        plan::act(console, &verb, &reason)?
    };
    if json {
        println!(
            "{}",
            serde_json::json!({ "revision": done.revision, "changed": done.changed, "plan": done.state })
        );
    } else {
        // A hand-edited state could carry anything: escaped.
        let words = plan::outcome_words(done.state.as_ref());
        println!(
            "rev {} · {} cell(s) changed · {}",
            done.revision,
            done.changed,
            crate::domain::text::printable(&words)
        );
    }
    Ok(())
}

/// A promotion against the guard's last check of the stage: refused while
/// it breaches (exit 6) unless `--ignore-gate`, which the audit's reason
/// then says; without a recent check, said, and promoted on the word given.
fn gate(console: &Console, ignore: bool, reason: String) -> Result<String, OpsError> {
    use crate::ops::gate::{StageVerdict, stage_verdict};
    let doc = console.store.load()?.document;
    let Some(state) = plan::state_of(&doc)? else {
        return Ok(reason);
    };
    match stage_verdict(console, &state, SystemTime::now()) {
        StageVerdict::Breaching(why) if !ignore => Err(OpsError::GatesFailed(format!(
            "promote refused: the stage breaches its SLO: {why}; `plan promote --ignore-gate` promotes over it (the audit says so)"
        ))),
        StageVerdict::Breaching(why) => {
            eprintln!("PROMOTING OVER THE GATE: {why}");
            Ok(format!("{reason} [promoted over the gate: {why}]")
                .trim_start()
                .to_string())
        }
        StageVerdict::Clear { by, age_s } => {
            eprintln!("gate: the stage passed the guard's last check ({by}, {age_s} s ago)");
            Ok(reason)
        }
        StageVerdict::Unjudged(why) => {
            eprintln!("no gate: {why}: promoting on your word");
            Ok(reason)
        }
    }
}

fn verb_words(verb: &Verb) -> String {
    match verb {
        Verb::Start(p) => format!("start plan {} ({} stage(s))", p.name, p.stages.len()),
        Verb::Promote { full: true } => "promote the plan to its end".into(),
        Verb::Promote { full: false } => "promote the plan to its next step".into(),
        Verb::Pause => "pause the plan".into(),
        Verb::Resume => "resume the plan".into(),
        Verb::Abort => "abort the plan".into(),
    }
}

fn status(console: &Console, json: bool) -> Result<(), OpsError> {
    let snapshot = console.store.load()?;
    // A damaged state is said as such (exit 2), never shown as if healthy.
    let state = plan::checked_state_of(console, &snapshot.document)
        .map_err(|e| OpsError::Invalid(format!("{e}; `plan abort` clears it (no cell changes)")))?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "revision": snapshot.revision(), "plan": state })
        );
        return Ok(());
    }
    match state {
        None => println!("no plan has been started (plan start PLAN.toml)"),
        Some(s) => println!(
            "{}",
            crate::domain::text::printable(&format!("{}{}", plan::step_words(&s), hold_words(&s)))
        ),
    }
    Ok(())
}

/// `· hold 4 min 10 s left, then stage EU`.
fn hold_words(state: &PlanState) -> String {
    if state.status != PlanStatus::Running {
        return String::new();
    }
    let Some(step) = state
        .plan
        .stages
        .get(state.stage)
        .and_then(|s| s.steps.get(state.step))
    else {
        return String::new();
    };
    let since = humantime::parse_rfc3339(&state.since).unwrap_or(SystemTime::now());
    let held = SystemTime::now()
        .duration_since(since)
        .unwrap_or_default()
        .as_millis() as u64;
    let next = match state.plan.next(state.stage, state.step) {
        Some((stage, step)) => format!(
            "then stage {} step {}",
            state
                .plan
                .stages
                .get(stage)
                .map_or("?", |s| s.name.as_str()),
            step + 1
        ),
        None => "then the plan is done (plan promote)".into(),
    };
    if held >= step.hold_ms {
        format!(
            " · hold over: an acting guard promotes when the gate passes, or plan promote ({next})"
        )
    } else {
        format!(
            " · hold {} s left, {next}",
            (step.hold_ms - held).div_ceil(1000)
        )
    }
}
