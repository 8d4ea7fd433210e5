//! The store and the command line under faults: a missing or damaged
//! document, an audit log out of reach, read-only runs, hand edits, stale
//! revisions and hostile text. Each case runs the real binary.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

fn doc_json(state: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(doc_path(state)).unwrap()).unwrap()
}

fn write_doc(state: &Path, doc: &Value) {
    std::fs::write(doc_path(state), serde_json::to_vec_pretty(doc).unwrap()).unwrap();
}

fn half_on_runpod(state: &Path) {
    ok(
        &mut demo(state),
        &["shift", "--all", "--to", "50", "--reason", "half", "--yes"],
    );
}

fn all_on_modal(state: &Path) -> bool {
    let doc = doc_json(state);
    let flags = doc["flags"].as_object().unwrap();
    flags.len() == 9 && flags.values().all(|f| f.get("targeting").is_none())
}

#[test]
fn a_missing_document_after_commits_is_an_error_not_revision_0() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    half_on_runpod(s);
    std::fs::rename(doc_path(s), s.join("flags/moved.json")).unwrap();
    for args in [
        &["status"][..],
        &["rollback", "--yes"],
        &["shift", "--all", "--to", "5", "--reason", "r", "--yes"],
    ] {
        let r = run(&mut demo(s), args);
        assert_eq!(r.code, 4, "{args:?}: {} {}", r.stdout, r.stderr);
        assert!(r.stderr.contains("is missing"), "{}", r.stderr);
        assert!(
            r.stderr.contains("revision 1 was committed by tester@"),
            "{}",
            r.stderr
        );
        assert!(!doc_path(s).exists(), "{args:?} wrote a document");
    }
    // A dangling symlink in its place is the same: missing.
    std::os::unix::fs::symlink(s.join("nowhere.json"), doc_path(s)).unwrap();
    let r = run(&mut demo(s), &["status", "--json"]);
    assert_eq!(r.code, 4, "{}", r.stdout);
    assert!(r.stdout.contains("is missing"), "{}", r.stdout);
    std::fs::remove_file(doc_path(s)).unwrap();
    // The emergency path writes a fresh all-fallback revision after the last one.
    let r = ok(&mut demo(s), &["rollback", "--all", "--force", "--yes"]);
    assert!(r.stdout.contains("rolled back 9 cell(s)"), "{}", r.stdout);
    assert!(r.stdout.contains("revision 2"), "{}", r.stdout);
    assert!(all_on_modal(s));
    assert_eq!(audit_revisions(&audit_path(s)), vec![1, 2]);
}

#[test]
fn a_revision_at_the_maximum_is_refused_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    canary(s);
    let mut doc = doc_json(s);
    doc["metadata"]["version"] = json!(u64::MAX.to_string());
    write_doc(s, &doc);
    let before = snapshot_dir(&s.join("flags"));
    for args in [
        &["shift", "--all", "--to", "5", "--reason", "r", "--yes"][..],
        &["rollback", "--all", "--yes"],
    ] {
        let r = run(&mut demo(s), args);
        assert_eq!(r.code, 4, "{args:?}: {} {}", r.stdout, r.stderr);
        assert!(r.stderr.contains("refusing to wrap"), "{}", r.stderr);
    }
    assert_eq!(snapshot_dir(&s.join("flags")), before);
}

/// The audit log replaced by a directory: it can be neither read nor written.
fn break_audit(state: &Path) -> std::path::PathBuf {
    let aside = state.join("audit/kept.jsonl");
    std::fs::rename(audit_path(state), &aside).unwrap();
    std::fs::create_dir(audit_path(state)).unwrap();
    aside
}

fn mend_audit(state: &Path, aside: &Path) {
    std::fs::remove_dir(audit_path(state)).unwrap();
    std::fs::rename(aside, audit_path(state)).unwrap();
}

#[test]
fn rollbacks_do_not_depend_on_the_audit_disk_and_leave_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    half_on_runpod(s);
    let aside = break_audit(s);
    // The emergency path writes the document and says the line is pending.
    let r = force_rollback(s, "disk full");
    assert!(r.stdout.contains("revision 2"), "{}", r.stdout);
    assert!(r.stderr.contains("AUDIT LINE PENDING"), "{}", r.stderr);
    assert!(all_on_modal(s));
    ok(&mut demo(s), &["rollback", "--all", "--force", "--yes"]);
    assert_eq!(doc_revision(s), 3);
    // A change forward is refused while its line could not be written.
    let r = run(
        &mut demo(s),
        &["shift", "--all", "--to", "5", "--reason", "r", "--yes"],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("forward changes are refused"),
        "{}",
        r.stderr
    );
    assert_eq!(doc_revision(s), 3);
    // Back: the next load writes every missing line, in order.
    mend_audit(s, &aside);
    ok(&mut demo(s), &["status"]);
    assert_eq!(audit_revisions(&audit_path(s)), vec![1, 2, 3]);
    let r = ok(&mut demo(s), &["history", "--json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[1]["reason"], "disk full");
}

#[test]
fn a_plain_rollback_is_not_blocked_by_an_audit_one_line_behind() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    half_on_runpod(s);
    // The audit lost revision 1's line and cannot be written.
    std::fs::remove_file(audit_path(s)).unwrap();
    std::fs::create_dir(audit_path(s)).unwrap();
    let r = ok(&mut demo(s), &["rollback", "--yes", "--reason", "errors"]);
    assert!(r.stdout.contains("revision 2"), "{}", r.stdout);
    assert!(r.stderr.contains("AUDIT LINE PENDING"), "{}", r.stderr);
    assert!(all_on_modal(s));
    std::fs::remove_dir(audit_path(s)).unwrap();
    ok(&mut demo(s), &["status"]);
    assert_eq!(audit_revisions(&audit_path(s)), vec![1, 2]);
}

#[test]
fn read_only_runs_report_the_audit_lag_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    canary(s);
    std::fs::remove_file(audit_path(s)).unwrap();
    let before = snapshot_dir(s);
    let r = ok(&mut demo(s), &["--read-only", "status"]);
    assert!(r.stdout.contains("audit behind by 1"), "{}", r.stdout);
    let r = ok(&mut demo(s), &["--read-only", "status", "--json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["audit_behind"], 1);
    let r = ok(&mut demo(s), &["--read-only", "history"]);
    assert!(r.stderr.contains("audit behind by 1"), "{}", r.stderr);
    ok(
        &mut demo(s),
        &[
            "--read-only",
            "status",
            "--live",
            "--seconds",
            "0.2",
            "--time-scale",
            "100",
        ],
    );
    assert_eq!(snapshot_dir(s), before, "a read-only run wrote");
    assert!(!audit_path(s).exists());
}

#[test]
fn a_hand_edited_record_with_a_newline_repairs_as_one_audit_line() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    canary(s);
    let mut doc = doc_json(s);
    let record: Value =
        serde_json::from_str(doc["metadata"]["lastChange"].as_str().unwrap()).unwrap();
    // Pretty-printed: the record's JSON text now spans many lines.
    doc["metadata"]["lastChange"] = json!(serde_json::to_string_pretty(&record).unwrap());
    write_doc(s, &doc);
    std::fs::remove_file(audit_path(s)).unwrap();
    ok(&mut demo(s), &["status"]);
    let text = std::fs::read_to_string(audit_path(s)).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let line: Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(line["event"], "commit");
    assert_eq!(line["revision"], 1);
}

#[test]
fn metadata_entries_of_others_are_kept_on_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    canary(s);
    let mut doc = doc_json(s);
    doc["metadata"]["team"] = json!("inference");
    doc["metadata"]["priority"] = json!(3);
    write_doc(s, &doc);
    ok(
        &mut demo(s),
        &["shift", "--all", "--to", "1", "--reason", "r", "--yes"],
    );
    let doc = doc_json(s);
    assert_eq!(doc["metadata"]["version"], "2");
    assert_eq!(doc["metadata"]["team"], "inference");
    assert_eq!(doc["metadata"]["priority"], 3);
    // A key given twice is ambiguous (readers differ on which wins): refused.
    let text = std::fs::read_to_string(doc_path(s)).unwrap();
    let twice = text.replacen("\"metadata\": {", "\"metadata\": {\"team\":\"a\",", 1);
    std::fs::write(doc_path(s), twice).unwrap();
    let r = run(&mut demo(s), &["status"]);
    assert_eq!(r.code, 4, "{}", r.stdout);
    assert!(r.stderr.contains("\"team\" twice"), "{}", r.stderr);
}

#[test]
fn an_expect_revision_refusal_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    canary(s);
    let r = run(
        &mut demo(s),
        &[
            "shift",
            "--all",
            "--to",
            "5",
            "--reason",
            "scripted",
            "--expect-revision",
            "0",
            "--yes",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let text = std::fs::read_to_string(audit_path(s)).unwrap();
    let refused: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event"] == "refused")
        .collect();
    assert_eq!(refused.len(), 1, "{text}");
    assert_eq!(refused[0]["reason"], "scripted");
    assert_eq!(refused[0]["based_on"], 0);
    let r = run(&mut demo(s), &["undo", "--expect-revision", "7", "--yes"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(audit_path(s))
            .unwrap()
            .matches("\"event\":\"refused\"")
            .count(),
        2
    );
}

#[test]
fn control_characters_are_refused_at_input_and_escaped_on_output() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let r = run(
        &mut demo(s),
        &[
            "shift",
            "--all",
            "--to",
            "5",
            "--reason",
            "ok\u{1b}[2J",
            "--yes",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("control character"), "{}", r.stderr);
    assert!(!doc_path(s).exists());
    // An operator name with an escape sequence, and a reason edited into the
    // document by hand: stored as they are, shown escaped.
    ok(
        demo(s).env("BEACON_OPERATOR", "eve\u{1b}[2J"),
        &["shift", "--all", "--to", "5", "--reason", "r", "--yes"],
    );
    let mut doc = doc_json(s);
    let mut record: Value =
        serde_json::from_str(doc["metadata"]["lastChange"].as_str().unwrap()).unwrap();
    record["reason"] = json!("rolled back\r\u{1b}[1A\u{202e}fake");
    doc["metadata"]["lastChange"] = json!(record.to_string());
    write_doc(s, &doc);
    for args in [&["status"][..], &["history"]] {
        let r = ok(&mut demo(s), args);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            !all.chars()
                .any(|c| c == '\u{1b}' || c == '\r' || c == '\u{202e}'),
            "{args:?} printed a raw control character: {all:?}"
        );
        assert!(all.contains("\\u{1b}"), "{args:?}: {all}");
    }
    // A conflict message quotes who changed it: escaped as well.
    let r = run(
        &mut demo(s),
        &[
            "shift",
            "--all",
            "--to",
            "9",
            "--reason",
            "r",
            "--expect-revision",
            "0",
            "--yes",
        ],
    );
    assert_eq!(r.code, 3);
    assert!(!r.stderr.contains('\u{1b}'), "{:?}", r.stderr);
    assert!(r.stderr.contains("eve\\u{1b}[2J"), "{}", r.stderr);
}

/// Damaged documents: each is refused with a clear message (exit 4), nothing
/// is written, and the emergency path replaces it.
#[test]
fn damaged_documents_are_refused_and_replaced_by_a_forced_rollback() {
    let fifty_mb = {
        let mut v = b"{\"metadata\":{\"version\":\"1\"},\"flags\":{},\"pad\":\"".to_vec();
        v.resize(50 << 20, b'x');
        v.extend_from_slice(b"\"}");
        v
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", b"{\"metadata\":{\"version\":\"1\"},\"fla".to_vec(), "unreadable"),
        ("invalid utf-8", b"{\"metadata\":{\"version\":\"1\xff\"},\"flags\":{}}".to_vec(), "unreadable"),
        (
            "duplicate flag",
            br#"{"metadata":{"version":"1"},"flags":{"route.mistral-7b@us-east":{"state":"ENABLED","variants":{"modal":"modal"},"defaultVariant":"modal"},"route.mistral-7b@us-east":{"state":"ENABLED","variants":{"modal":"modal"},"defaultVariant":"modal"}}}"#.to_vec(),
            "twice",
        ),
        (
            "weights that do not sum",
            br#"{"metadata":{"version":"1"},"flags":{"route.mistral-7b@us-east":{"state":"ENABLED","variants":{"modal":"modal","runpod":"runpod"},"defaultVariant":"modal","targeting":{"fractional":[["runpod",1],["modal",2]]}}}}"#.to_vec(),
            "unreadable",
        ),
        ("huge version", br#"{"metadata":{"version":"99999999999999999999999"},"flags":{}}"#.to_vec(), "metadata.version"),
        ("50 MB", fifty_mb, "larger than 16 MiB"),
    ];
    for (what, bytes, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path();
        canary(s);
        std::fs::write(doc_path(s), &bytes).unwrap();
        let before = snapshot_dir(s);
        for args in [&["status"][..], &["rollback", "--all", "--yes"]] {
            let r = run(&mut demo(s), args);
            assert_eq!(r.code, 4, "{what} {args:?}: {} {}", r.stdout, r.stderr);
            assert!(r.stderr.contains(needle), "{what}: {}", r.stderr);
            assert!(!r.stderr.contains("panicked"), "{what}: {}", r.stderr);
        }
        assert!(snapshot_dir(s) == before, "{what}: something was written");
        let r = ok(&mut demo(s), &["rollback", "--all", "--force", "--yes"]);
        assert!(r.stdout.contains("revision 2"), "{what}: {}", r.stdout);
        assert!(all_on_modal(s), "{what}");
        assert_eq!(audit_revisions(&audit_path(s)), vec![1, 2], "{what}");
    }
}

#[test]
fn foreign_flags_and_keys_survive_and_a_directory_in_place_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    canary(s);
    let mut doc = doc_json(s);
    doc["flags"]["checkout-v2"] =
        json!({"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"});
    doc["$evaluators"] = json!({"emails": {"in": ["@example.com", {"var": "email"}]}});
    write_doc(s, &doc);
    ok(&mut demo(s), &["rollback", "--all", "--yes"]);
    let doc = doc_json(s);
    assert_eq!(doc["flags"]["checkout-v2"]["defaultVariant"], "off");
    assert!(doc["$evaluators"]["emails"].is_object());
    // A directory where the document should be: a clear error, exit 4.
    std::fs::remove_file(doc_path(s)).unwrap();
    std::fs::create_dir(doc_path(s)).unwrap();
    for args in [&["status"][..], &["rollback", "--all", "--force", "--yes"]] {
        let r = run(&mut demo(s), args);
        assert_eq!(r.code, 4, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("directory"), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_process_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    // Closed before the process starts: its first write meets a broken pipe.
    drop(reader);
    let out = demo(dir.path())
        .arg("status")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{:?} {stderr}", out.status);
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn writing_the_flags_never_needs_provider_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_without_secrets(dir.path());
    let cmd = || {
        let mut c = with_profile(&profile);
        c.env_remove("BEACON_TEST_UNSET_KEY");
        c
    };
    ok(
        &mut cmd(),
        &["shift", "--all", "--to", "50", "--reason", "r", "--yes"],
    );
    let r = ok(&mut cmd(), &["rollback", "--all", "--force", "--yes"]);
    assert!(r.stdout.contains("revision 2"), "{}", r.stdout);
    ok(&mut cmd(), &["rollback", "--all", "--yes"]);
    // check-config: valid, with a warning per unreadable secret (exit 0).
    let r = ok(&mut cmd(), &["check-config"]);
    assert!(r.stdout.contains(": WARN (3 warning(s))"), "{}", r.stdout);
    assert!(
        r.stdout.contains("BEACON_TEST_UNSET_KEY is not set"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("readable by group or others"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("auto-rollback"), "{}", r.stdout);
    let r = ok(&mut cmd(), &["check-config", "--json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["warnings"].as_array().unwrap().len(), 3);
    // Where the secret is used, its absence is the error (exit 2).
    let r = run(
        &mut cmd(),
        &[
            "bench",
            "--cell",
            "m1/r1",
            "--provider",
            "runpod",
            "--requests",
            "1",
        ],
    );
    assert_eq!(r.code, 2, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("BEACON_TEST_UNSET_KEY is not set"),
        "{}",
        r.stderr
    );
    // The canary never shows, whatever was printed.
    for args in [
        &["check-config", "--json"][..],
        &["status", "--json"],
        &["history"],
    ] {
        let r = run(&mut cmd(), args);
        assert!(
            !format!("{}{}", r.stdout, r.stderr).contains("CANARY"),
            "{args:?}"
        );
    }
}

#[test]
fn production_needs_the_environment_spelled_out_for_a_shift_not_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let text = SMALL_PROFILE.replace("environment = \"staging\"", "environment = \"production\"");
    let profile = write_profile(dir.path(), &text);
    let shift = ["shift", "--all", "--to", "5", "--reason", "canary", "--yes"];
    let r = run(&mut with_profile(&profile), &shift);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--environment production"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("state/routes.json").exists());
    // Naming another environment is refused whatever the command.
    let r = run(
        &mut with_profile(&profile),
        &["--environment", "staging", "status"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is production"), "{}", r.stderr);
    let mut named = with_profile(&profile);
    named.args(["--environment", "production"]);
    ok(&mut named, &shift);
    let r = run(&mut with_profile(&profile), &["undo", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // Rollback stays as short as ever.
    let r = ok(&mut with_profile(&profile), &["rollback", "--all", "--yes"]);
    assert!(r.stdout.contains("revision 2"), "{}", r.stdout);
}

#[test]
fn help_lists_every_exit_code() {
    let r = ok(&mut demo(Path::new("/nonexistent")), &["--help"]);
    for code in [
        "0 ok",
        "2 invalid",
        "3 conflict",
        "4 flag store",
        "5 refused",
        "6 bench",
    ] {
        assert!(r.stdout.contains(code), "{code}: {}", r.stdout);
    }
}
