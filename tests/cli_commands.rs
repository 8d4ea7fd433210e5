//! The commands end to end on the real binary: shift, rollback, undo, history,
//! status, and every bad input with its exit code, leaving the disk untouched.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

fn split_of(state: &std::path::Path, cell: &str) -> serde_json::Value {
    let r = ok(&mut demo(state), &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cell"] == cell)
        .unwrap()["split_permille"]
        .clone()
}

#[test]
fn shift_rollback_undo_history() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let r = ok(&mut demo(s), &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["revision"], 0);
    assert_eq!(v["cells"].as_array().unwrap().len(), 9);

    let r = ok(
        &mut demo(s),
        &[
            "shift",
            "--cell",
            "llama-3.2-1b/us-east",
            "--to",
            "25",
            "--reason",
            "canary",
            "--yes",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["revision"], 1);
    assert_eq!(
        split_of(s, "llama-3.2-1b/us-east"),
        serde_json::json!({"modal": 750, "runpod": 250})
    );

    // Ladder steps: 25 % → 50 % on the cell; 0 → 1 % on the rest of the column.
    ok(
        &mut demo(s),
        &[
            "shift", "--column", "us-east", "--step", "up", "--reason", "step", "--yes",
        ],
    );
    assert_eq!(split_of(s, "llama-3.2-1b/us-east")["runpod"], 500);
    assert_eq!(split_of(s, "mistral-7b/us-east")["runpod"], 10);
    assert_eq!(doc_revision(s), 2);

    // Undo reverts revision 2 as revision 3.
    ok(&mut demo(s), &["undo", "--yes"]);
    assert_eq!(doc_revision(s), 3);
    assert_eq!(split_of(s, "llama-3.2-1b/us-east")["runpod"], 250);
    assert_eq!(
        split_of(s, "mistral-7b/us-east"),
        serde_json::json!({"modal": 1000})
    );

    // Rollback: every cell to modal in one commit, with the time it took.
    let r = ok(
        &mut demo(s),
        &["rollback", "--all", "--yes", "--reason", "p95 regression"],
    );
    assert!(r.stdout.contains("revision 4"), "{}", r.stdout);
    assert!(r.stdout.contains(" ms"), "{}", r.stdout);
    assert_eq!(
        split_of(s, "llama-3.2-1b/us-east"),
        serde_json::json!({"modal": 1000})
    );
    // Repeating it is harmless: no new revision.
    let r = ok(&mut demo(s), &["rollback", "--yes"]);
    assert!(r.stdout.contains("already on modal"), "{}", r.stdout);
    assert_eq!(doc_revision(s), 4);

    assert_eq!(audit_revisions(&audit_path(s)), vec![1, 2, 3, 4]);
    let r = ok(&mut demo(s), &["history", "--json", "--limit", "2"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let events = v.as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["revision"], 4);
    assert_eq!(events[0]["action"], "rollback");
    assert_eq!(events[0]["reason"], "p95 regression");
    assert_eq!(events[0]["operator"]["user"], "tester");
    assert_eq!(
        events[0]["changes"][0]["before"],
        serde_json::json!({"modal": 750, "runpod": 250})
    );
    assert_eq!(events[1]["action"], "undo");
    let r = ok(&mut demo(s), &["history"]);
    assert!(r.stdout.contains("rev 1"), "{}", r.stdout);
    assert!(
        r.stdout.contains("modal 100% → modal 75% runpod 25%"),
        "{}",
        r.stdout
    );
    // A filter: spelled as the audit or as the history prints it; one that
    // matches nothing says so (not "no changes recorded"); an unknown one
    // is an error naming the kinds.
    let r = ok(&mut demo(s), &["history", "--action", "undo"]);
    assert!(r.stdout.starts_with("rev 3"), "{}", r.stdout);
    let r = ok(&mut demo(s), &["history", "--action", "auto-rollback"]);
    assert_eq!(
        r.stdout.trim(),
        "no auto_rollback entries (4 other entries in the audit)"
    );
    let r = run(&mut demo(s), &["history", "--action", "rolback"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("unknown action \"rolback\": expected one of shift, rollback"),
        "{}",
        r.stderr
    );
}

#[test]
fn ssh_client_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    ok(
        demo(s).env("SSH_CLIENT", "10.9.8.7 50000 22"),
        &["shift", "--all", "--to", "0.1", "--reason", "r", "--yes"],
    );
    let r = ok(&mut demo(s), &["history", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["operator"]["ssh_client"], "10.9.8.7");
    // Changes are grouped by identical before → after: one group of 9 cells here.
    assert_eq!(v[0]["changes"].as_array().unwrap().len(), 1);
    assert_eq!(v[0]["changes"][0]["cells"].as_array().unwrap().len(), 9);
}

/// Runs a command that must fail with `code` and a message containing `needle`,
/// and checks that nothing under `state` changed.
fn refused(state: &std::path::Path, args: &[&str], code: i32, needle: &str) {
    refused_leaving(state, state, args, code, needle);
}

/// `refused`, checking only that nothing under `unchanged` changed.
fn refused_leaving(
    state: &std::path::Path,
    unchanged: &std::path::Path,
    args: &[&str],
    code: i32,
    needle: &str,
) {
    let before = snapshot_dir(unchanged);
    let r = run(&mut demo(state), args);
    assert_eq!(
        r.code, code,
        "{args:?}: stdout {} stderr {}",
        r.stdout, r.stderr
    );
    assert!(
        r.stderr.contains(needle),
        "{args:?}: expected {needle:?} in {}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(snapshot_dir(unchanged), before, "{args:?} changed the disk");
}

#[test]
fn read_only_refuses_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    canary(s);
    let shift = [
        "--read-only",
        "shift",
        "--all",
        "--to",
        "5",
        "--reason",
        "r",
        "--yes",
    ];
    refused(
        s,
        &["--read-only", "rollback", "--all", "--yes"],
        5,
        "read-only",
    );
    refused(s, &shift, 5, "read-only");
    refused(s, &["--read-only", "undo", "--yes"], 5, "read-only");
}

#[test]
fn bad_inputs_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    canary(s);
    // Unknown ids and bad percentages, each with the message that names it.
    let bad_shifts: [(&[&str], &str, &str); 9] = [
        (&["--cell", "gpt-9/us-east"], "5", "unknown model \"gpt-9\""),
        (
            &["--cell", "llama-3.2-1b/mars"],
            "5",
            "unknown region \"mars\"",
        ),
        (&["--row", "nope"], "5", "unknown model \"nope\""),
        (&["--column", "nope"], "5", "unknown region \"nope\""),
        (&["--cell", "no-slash"], "5", "expected MODEL/REGION"),
        (&["--all"], "101", "out of range"),
        (&["--all"], "-5", "out of range"),
        (&["--all"], "12.25", "finer than 0.1%"),
        (&["--all"], "ten", "not a percentage"),
    ];
    for (selection, to, needle) in bad_shifts {
        let mut args = vec!["shift"];
        args.extend_from_slice(selection);
        args.extend(["--to", to, "--reason", "r", "--yes"]);
        refused(s, &args, 2, needle);
    }
    refused(
        s,
        &[
            "shift",
            "--all",
            "--to",
            "5",
            "--reason",
            "r",
            "--yes",
            "--provider",
            "fal",
        ],
        2,
        "unknown provider \"fal\"",
    );
    refused(
        s,
        &["shift", "--all", "--to", "5", "--reason", "  ", "--yes"],
        2,
        "--reason must not be empty",
    );
    refused(
        s,
        &["shift", "--to", "5", "--reason", "r", "--yes"],
        2,
        "say which cells",
    );
    refused(s, &["shift", "--all", "--reason", "r", "--yes"], 2, "--to");
    // No terminal and no --yes: refuse rather than write unconfirmed.
    refused(
        s,
        &["shift", "--all", "--to", "5", "--reason", "r"],
        2,
        "pass --yes",
    );
    refused(s, &["rollback", "--all"], 2, "pass --yes");
    refused(s, &["undo"], 2, "pass --yes");
    // Stale revision (the document is at 1): refused, and only a `refused`
    // audit line is written (tests/store_faults.rs checks that line).
    let flags = s.join("flags");
    let stale = [
        "shift",
        "--all",
        "--to",
        "5",
        "--reason",
        "r",
        "--yes",
        "--expect-revision",
        "0",
    ];
    refused_leaving(
        s,
        &flags,
        &stale,
        3,
        "revision 0 is stale: changed by tester@",
    );
    let stale = ["undo", "--yes", "--expect-revision", "7"];
    refused_leaving(s, &flags, &stale, 3, "revision 7 is stale");
    refused(
        s,
        &["rollback", "--row", "x", "--yes"],
        2,
        "unknown model \"x\"",
    );
    refused(
        s,
        &[
            "rollback",
            "--cell",
            "llama-3.2-1b/us-east",
            "--force",
            "--yes",
        ],
        2,
        "--all",
    );
}

#[test]
fn json_errors_carry_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &mut demo(dir.path()),
        &[
            "--json", "shift", "--all", "--to", "500", "--reason", "r", "--yes",
        ],
    );
    assert_eq!(r.code, 2);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["error"]["code"], 2);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("out of range")
    );
}

#[test]
fn a_document_edited_by_hand_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    canary(s);
    // A hand edit that keeps the revision but changes a split.
    let doc = std::fs::read_to_string(doc_path(s)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    v["flags"]["route.llama-3.2-1b@us-east"]["targeting"]["fractional"] =
        serde_json::json!([["modal", 900], ["runpod", 100]]);
    let edited = serde_json::to_string_pretty(&v).unwrap();
    std::fs::write(doc_path(s), &edited).unwrap();
    // `status` reads it as it is; a shift based on it commits over it knowingly.
    let r = ok(&mut demo(s), &["status", "--json"]);
    assert!(r.stdout.contains("\"runpod\": 100"), "{}", r.stdout);
    // A broken hand edit is refused with where and why, and left alone.
    std::fs::write(doc_path(s), "{ \"flags\": { ").unwrap();
    let before = snapshot_dir(s);
    let r = run(
        &mut demo(s),
        &["shift", "--all", "--to", "5", "--reason", "r", "--yes"],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("unreadable: line 1"), "{}", r.stderr);
    assert!(r.stderr.contains("rollback --all --force"), "{}", r.stderr);
    assert_eq!(snapshot_dir(s), before);
    let r = run(&mut demo(s), &["rollback", "--all", "--yes"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
}

#[test]
fn forced_rollback_replaces_a_bad_or_missing_document() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    ok(
        &mut demo(s),
        &["shift", "--all", "--to", "50", "--reason", "x", "--yes"],
    );
    std::fs::write(doc_path(s), b"\0garbage").unwrap();
    let r = force_rollback(s, "store corrupt");
    assert!(r.stdout.contains("revision 2"), "{}", r.stdout);
    assert!(r.stdout.contains("kept as"), "{}", r.stdout);
    let backups: Vec<_> = std::fs::read_dir(s.join("flags"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".unreadable-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read(backups[0].path()).unwrap(), b"\0garbage");
    let r = ok(&mut demo(s), &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["split_permille"] == serde_json::json!({"modal": 1000}))
    );

    std::fs::remove_file(doc_path(s)).unwrap();
    let r = ok(&mut demo(s), &["rollback", "--all", "--force", "--yes"]);
    assert!(r.stdout.contains("revision 3"), "{}", r.stdout);
    assert_eq!(doc_revision(s), 3);
    assert_eq!(audit_revisions(&audit_path(s)), vec![1, 2, 3]);
}

#[test]
fn a_commit_racing_another_is_refused_with_who_and_when() {
    use beacon_console::config::ProfileSource;
    use beacon_console::domain::{Action, Split};
    use beacon_console::flags::{CommitRequest, StoreError};
    use beacon_console::ops::Console;

    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let console = Console::open(
        &ProfileSource::Demo {
            state_dir: s.to_path_buf(),
        },
        false,
    )
    .unwrap();
    let stale = console.store.load().unwrap();
    ok(
        &mut demo(s),
        &[
            "shift",
            "--all",
            "--to",
            "1",
            "--reason",
            "other operator",
            "--yes",
        ],
    );
    let before = std::fs::read(doc_path(s)).unwrap();
    let mut routes = stale.routes().clone();
    let cell = console.profile.cells()[0].clone();
    routes.set(
        cell,
        Split::from_weights([("modal", 500), ("runpod", 500)]).unwrap(),
    );
    let err = console
        .store
        .commit(
            &stale,
            CommitRequest {
                routes,
                action: Action::Shift,
                reason: "late".into(),
                operator: console.operator.clone(),
                started: std::time::Instant::now(),
                note: None,
                plan: None,
            },
        )
        .unwrap_err();
    let StoreError::Conflict(conflict) = &err else {
        panic!("{err}")
    };
    let text = conflict.to_string();
    assert!(
        text.contains("revision 0 is stale: changed by tester@"),
        "{text}"
    );
    assert!(
        text.contains("(revision 1: shift, \"other operator\"); reload"),
        "{text}"
    );
    assert_eq!(std::fs::read(doc_path(s)).unwrap(), before);
    // The refusal is in the audit, and no commit line was added.
    let audit = std::fs::read_to_string(audit_path(s)).unwrap();
    assert!(
        audit
            .lines()
            .last()
            .unwrap()
            .contains("\"event\":\"refused\"")
    );
    assert_eq!(audit_revisions(&audit_path(s)), vec![1]);
}

#[test]
fn a_hand_edit_while_a_change_is_pending_is_refused() {
    use beacon_console::config::ProfileSource;
    use beacon_console::domain::Action;
    use beacon_console::flags::{CommitRequest, StoreError};
    use beacon_console::ops::Console;

    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    ok(
        &mut demo(s),
        &["shift", "--all", "--to", "5", "--reason", "x", "--yes"],
    );
    let console = Console::open(
        &ProfileSource::Demo {
            state_dir: s.to_path_buf(),
        },
        false,
    )
    .unwrap();
    let pending = console.store.load().unwrap();
    // Someone edits the file by hand without bumping the revision.
    let doc = std::fs::read_to_string(doc_path(s)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    v["flags"]["route.mistral-7b@apac-sg"]["targeting"]["fractional"] =
        serde_json::json!([["modal", 800], ["runpod", 200]]);
    let edited = serde_json::to_string_pretty(&v).unwrap();
    std::fs::write(doc_path(s), &edited).unwrap();
    let err = console
        .store
        .commit(
            &pending,
            CommitRequest {
                routes: pending.routes().clone(),
                action: Action::Shift,
                reason: "pending".into(),
                operator: console.operator.clone(),
                started: std::time::Instant::now(),
                note: None,
                plan: None,
            },
        )
        .unwrap_err();
    let StoreError::Conflict(c) = &err else {
        panic!("{err}")
    };
    assert!(c.outside_edit);
    assert!(
        err.to_string().contains("edited outside beacon-console"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(doc_path(s)).unwrap(), edited);
}

#[test]
fn a_store_held_by_another_process_is_reported_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let text = SMALL_PROFILE.replace(
        "path = \"state/routes.json\"",
        "path = \"state/routes.json\"\nlock_timeout_ms = 200",
    );
    let profile = write_profile(dir.path(), &text);
    let shift = ["shift", "--all", "--to", "5", "--reason", "r", "--yes"];
    ok(&mut with_profile(&profile), &shift);
    // This test process holds the store's lock, as a hung writer would.
    let holder = std::fs::File::open(dir.path().join("state/routes.json.lock")).unwrap();
    holder.lock().unwrap();
    let before = snapshot_dir(dir.path());
    let shift_more = ["shift", "--all", "--to", "10", "--reason", "r", "--yes"];
    for args in [&shift_more[..], &["rollback", "--all", "--yes"]] {
        let r = run(&mut with_profile(&profile), args);
        assert_eq!(r.code, 4, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("is locked by another process"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("for more than 200 ms"), "{}", r.stderr);
    }
    assert_eq!(snapshot_dir(dir.path()), before);
    drop(holder);
    ok(&mut with_profile(&profile), &["rollback", "--all", "--yes"]);
}
