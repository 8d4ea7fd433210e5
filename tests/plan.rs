//! The cutover plan on the demo through the real binary: start → promote →
//! pause → resume → full promote, every step audited as `plan_step`; abort
//! at any step restores the fallback for the plan's cells at once; the
//! state lives in the document, so any later process continues the plan.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;

fn plan(state: &Path, args: &[&str]) -> Run {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    run(&mut demo(state), &all)
}

fn shipped() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plans/research-order.toml")
        .display()
        .to_string()
}

/// Each cell's RunPod share in percent, from `status --json`.
fn shares(state: &Path) -> Vec<(String, f64)> {
    let status: serde_json::Value =
        serde_json::from_str(&ok(&mut demo(state), &["--json", "status"]).stdout).unwrap();
    status["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let share = c["split_percent"]["runpod"].as_f64().unwrap_or(0.0);
            (c["cell"].as_str().unwrap().to_string(), share)
        })
        .collect()
}

fn plan_json(state: &Path) -> serde_json::Value {
    let out = ok(&mut demo(state), &["--json", "plan", "status"]).stdout;
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["plan"].clone()
}

#[test]
fn a_plan_runs_start_promote_pause_resume_full_promote() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    assert!(
        plan(state, &["status"])
            .stdout
            .contains("no plan has been started")
    );
    let out = plan(state, &["start", &shipped(), "--yes", "--reason", "day 1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for (cell, share) in shares(state) {
        let expected = if cell.ends_with("/us-east") { 5.0 } else { 0.0 };
        assert_eq!(share, expected, "{cell}");
    }
    let text = plan(state, &["status"]).stdout;
    assert!(
        text.contains("stage US step 1/4 (5%), running · hold 600 s left"),
        "{text}"
    );
    assert_eq!(plan(state, &["promote", "--yes"]).code, 0);
    assert_eq!(plan_json(state)["step"], 1);
    // Paused: promote is refused (exit 2), nothing written.
    assert_eq!(plan(state, &["pause"]).code, 0);
    let refused = plan(state, &["promote", "--yes"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("paused: plan resume first"),
        "{}",
        refused.stderr
    );
    assert_eq!(plan_json(state)["status"], "paused");
    assert_eq!(plan(state, &["resume", "--yes"]).code, 0);
    // A second start while one runs is refused.
    let again = plan(state, &["start", &shipped(), "--yes"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert_eq!(plan(state, &["promote", "--full", "--yes"]).code, 0);
    assert_eq!(plan_json(state)["status"], "done");
    assert!(shares(state).iter().all(|(_, s)| *s == 100.0));
    // Every verb that wrote is one plan_step line.
    let steps = ok(
        &mut demo(state),
        &["--json", "history", "--action", "plan_step"],
    )
    .stdout;
    let steps: serde_json::Value = serde_json::from_str(&steps).unwrap();
    // start, promote, pause, resume, full promote
    assert_eq!(steps.as_array().map_or(0, Vec::len), 5, "{steps}");
    // Without a terminal a forward step needs --yes.
    let out = plan(state, &["start", &shipped()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn abort_at_any_step_restores_the_fallback_for_the_plans_cells() {
    for promotions in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        // A cell of a stage the plan has not reached (EU) keeps the split
        // an operator gave it: the plan never moved it.
        shift_cell(state, "llama-3.2-1b/eu-west", "10", "not the plan's");
        assert_eq!(plan(state, &["start", &shipped(), "--yes"]).code, 0);
        for _ in 0..promotions {
            assert_eq!(plan(state, &["promote", "--yes"]).code, 0);
        }
        if promotions == 2 {
            assert_eq!(plan(state, &["pause"]).code, 0);
        }
        // Without a terminal, an abort is confirmed by --yes, as a rollback.
        let out = plan(state, &["abort", "--reason", "p95 regression"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("pass --yes"), "{}", out.stderr);
        assert!(
            out.stderr
                .contains("abort: back to modal, based on revision"),
            "{}",
            out.stderr
        );
        let out = plan(state, &["abort", "--reason", "p95 regression", "--yes"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(plan_json(state)["status"], "aborted");
        for (cell, share) in shares(state) {
            let expected = if cell == "llama-3.2-1b/eu-west" {
                10.0
            } else {
                0.0
            };
            assert_eq!(share, expected, "after {promotions} promotion(s): {cell}");
        }
        // Aborted is not under way: promote says so; a new start may begin.
        assert_eq!(plan(state, &["promote", "--yes"]).code, 2);
    }
}

#[test]
fn a_bad_plan_is_refused_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "name = \"x\"\n[[stages]]\nname = \"US\"\nregions = [\"us-moon\"]\nsteps = [{ share = 5, hold_s = 60 }]\n").unwrap();
    let out = plan(dir.path(), &["start", &path.display().to_string(), "--yes"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("bad.toml:4:"), "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown region \"us-moon\""),
        "{}",
        out.stderr
    );
    // Each of these is refused where it stands (exit 2, file:line:col).
    for (steps, says) in [
        ("[{ share = 150, hold_s = 60 }]", "share"),
        ("[{ share = 5 }]", "hold_s"),
        ("[{ share = 0, hold_s = 60 }]", "above 0"),
        (
            "[{ share = 50, hold_s = 60 }, { share = 25, hold_s = 60 }]",
            "rise",
        ),
        ("[{ share = 5, hold_s = 9223372036854775807 }]", "at most"),
    ] {
        std::fs::write(&path, format!("name = \"x\"\n[[stages]]\nname = \"US\"\nregions = [\"us-east\"]\nsteps = {steps}\n")).unwrap();
        let out = plan(dir.path(), &["start", &path.display().to_string(), "--yes"]);
        assert_eq!(out.code, 2, "{steps}: {}", out.stderr);
        assert!(out.stderr.contains("bad.toml:"), "{steps}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{steps}: {}", out.stderr);
    }
    // A region in two stages: they would fight over its cells.
    std::fs::write(&path, "name = \"x\"\n[[stages]]\nname = \"A\"\nregions = [\"us-east\"]\nsteps = [{ share = 5, hold_s = 1 }]\n[[stages]]\nname = \"B\"\nregions = [\"us-east\"]\nsteps = [{ share = 50, hold_s = 1 }]\n").unwrap();
    let out = plan(dir.path(), &["start", &path.display().to_string(), "--yes"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("in an earlier stage"), "{}", out.stderr);
    // Two stages of one name cannot be told apart on screen; a name is shown
    // in a status line, so it is short.
    std::fs::write(&path, "name = \"x\"\n[[stages]]\nname = \"A\"\nregions = [\"us-east\"]\nsteps = [{ share = 5, hold_s = 1 }]\n[[stages]]\nname = \"A\"\nregions = [\"eu-west\"]\nsteps = [{ share = 50, hold_s = 1 }]\n").unwrap();
    let out = plan(dir.path(), &["start", &path.display().to_string(), "--yes"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("bad.toml:7:8: a second stage named \"A\""),
        "{}",
        out.stderr
    );
    let long = "n".repeat(65);
    std::fs::write(&path, format!("name = \"{long}\"\n[[stages]]\nname = \"A\"\nregions = [\"us-east\"]\nsteps = [{{ share = 5, hold_s = 1 }}]\n")).unwrap();
    let out = plan(dir.path(), &["start", &path.display().to_string(), "--yes"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("65 characters long: at most 64"),
        "{}",
        out.stderr
    );
}

/// A plan's cells rolled back by an operator: the plan holds in the same
/// revision (it must not promote them forward again as if nothing
/// happened); resuming writes the step's shares again.
#[test]
fn a_rollback_of_the_plans_cells_pauses_it_and_resume_restores_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    assert_eq!(plan(state, &["start", &shipped(), "--yes"]).code, 0);
    assert_eq!(plan(state, &["promote", "--yes"]).code, 0);
    ok(
        &mut demo(state),
        &["rollback", "--all", "--yes", "--reason", "p95"],
    );
    assert_eq!(plan_json(state)["status"], "paused");
    let refused = plan(state, &["promote", "--yes"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let out = plan(state, &["resume", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The preview said what it would write, cell by cell.
    assert!(
        out.stderr.contains("resume the plan, based on revision"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("llama-3.2-1b/us-east"),
        "{}",
        out.stderr
    );
    for (cell, share) in shares(state) {
        let expected = if cell.ends_with("/us-east") {
            25.0
        } else {
            0.0
        };
        assert_eq!(share, expected, "{cell}");
    }
}

/// A hand-edited plan state is never acted on: forward verbs are refused,
/// and `plan abort` clears it without touching a cell.
#[test]
fn a_damaged_plan_state_is_refused_and_abort_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    assert_eq!(plan(state, &["start", &shipped(), "--yes"]).code, 0);
    let path = doc_path(state);
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let inner = doc["metadata"]["beaconPlan"].as_str().unwrap().to_string();
    let mut plan_state: serde_json::Value = serde_json::from_str(&inner).unwrap();
    plan_state["stage"] = serde_json::json!(7);
    doc["metadata"]["beaconPlan"] = serde_json::Value::String(plan_state.to_string());
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
    let before = shares(state);
    let out = plan(state, &["promote", "--yes"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("damaged: stage 8 of 3"),
        "{}",
        out.stderr
    );
    // `status` says so too, rather than show it as if healthy.
    let out = plan(state, &["status"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("damaged: stage 8 of 3"),
        "{}",
        out.stderr
    );
    // Shares that fall (a plan file could not say that) are damage as well.
    plan_state["stage"] = serde_json::json!(0);
    plan_state["plan"]["stages"][0]["steps"][1]["share"] = serde_json::json!(10);
    doc["metadata"]["beaconPlan"] = serde_json::Value::String(plan_state.to_string());
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
    let out = plan(state, &["promote", "--yes"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("damaged: stage US: shares that do not rise"),
        "{}",
        out.stderr
    );
    let out = plan(state, &["abort", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("the damaged plan state is cleared; no cell changed"),
        "{}",
        out.stdout
    );
    assert_eq!(shares(state), before);
    assert!(
        plan(state, &["status"])
            .stdout
            .contains("no plan has been started")
    );
}

/// `plan promote` reads the guard's last published check of the stage: no
/// breach is not a pass — a stage whose cells were too quiet to judge is
/// said to be unjudged; only a stage every cell of which passed is "passed".
#[test]
fn a_promotion_says_what_the_guards_last_check_found() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    assert_eq!(plan(state, &["start", &shipped(), "--yes"]).code, 0);
    let publish = |verdicts: &[&str]| {
        let cells: Vec<serde_json::Value> = ["llama-3.2-1b", "qwen-2.5-1.5b", "mistral-7b"]
            .iter()
            .zip(verdicts)
            .map(|(m, v)| serde_json::json!([format!("{m}/us-east"), v]))
            .collect();
        let record = serde_json::json!({
            "by": "alice@bastion-1",
            "at": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            "revision": 1,
            "interval_ms": 5000,
            "cells": cells,
        });
        std::fs::write(
            state.join("flags/beacon-routes.json.guard-check"),
            record.to_string(),
        )
        .unwrap();
    };
    publish(&["pass", "inconclusive (3 of 20 requests)", "pass"]);
    let out = plan(state, &["promote", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no gate: the guard's last check (by alice@bastion-1, ")
            && out.stderr.contains(
                "did not pass the whole stage: qwen-2.5-1.5b/us-east inconclusive (3 of 20 requests)"
            ),
        "{}",
        out.stderr
    );
    publish(&["pass", "pass", "pass"]);
    let out = plan(state, &["promote", "--yes"]);
    assert!(
        out.stderr
            .contains("gate: the stage passed the guard's last check (alice@bastion-1, "),
        "{}",
        out.stderr
    );
    publish(&["pass", "BREACH errors 3.0% > 1%", "pass"]);
    let out = plan(state, &["promote", "--yes"]);
    assert_eq!(out.code, 6, "{}", out.stderr);
}
