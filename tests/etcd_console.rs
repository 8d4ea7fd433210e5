//! The console on an etcd store, in a real pseudo-terminal: another
//! operator's change appears by the watch, with their name; the consoles
//! connected are shown; a rollback is done only when every region's sync
//! acknowledged it, and a region that does not is named in red.
#![cfg(feature = "etcd")]
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/etcd.rs"]
mod etcd_server;
#[path = "common/tmux.rs"]
mod tmux;

use std::path::Path;
use std::process::Stdio;

use common::*;
use etcd_server::{QUICK, Setup, setup, shift_as, shift_on};
use tmux::Tmux;

/// The console on `profile` as `operator`, at 80×24.
fn console(profile: &Path, operator: &str) -> Tmux {
    Tmux::run(&format!(
        "LC_ALL=C.UTF-8 BEACON_OPERATOR={operator} {} --profile {}",
        bin().display(),
        profile.display()
    ))
}

fn sync(profile: &Path, region: &str, dir: &Path) -> Reaped {
    Reaped(
        with_profile(profile)
            .args(["sync", "--region", region, "--to"])
            .arg(dir.join(format!("{region}.json")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn another_operators_change_arrives_by_the_watch_with_their_name() {
    let Setup {
        etcd: _etcd,
        dir: _dir,
        profile,
    } = setup("");
    let alice = console(&profile, "alice");
    alice.wait_for("ROLLBACK");
    // Bob's console is seen connected in Alice's header.
    let bob = console(&profile, "bob");
    bob.wait_for("ROLLBACK");
    alice.wait_for("+ bob@");
    // Carol shifts from the command line: Alice's console says who and why.
    assert_eq!(
        shift_as("carol", &profile, "m1/r2", "10", "canary r2").code,
        0
    );
    let screen = alice.wait_for("rev 1 by carol@");
    assert!(flat(&screen).contains("\"canary r2\""), "{screen}");
    // Bob quits: his presence goes (with its lease, at the latest).
    bob.keys(&["q"]);
    bob.wait_for("EXITED 0");
    alice.wait_until("bob gone", |s| !s.contains("+ bob@"));
    alice.keys(&["q"]);
    alice.wait_for("EXITED 0");
}

#[test]
fn a_rollback_is_done_when_every_region_applied_it_and_a_missing_one_is_named() {
    let Setup {
        etcd: _etcd,
        dir,
        profile,
    } = setup("apply_deadline_ms = 1000\n");
    let mut syncs = vec![
        sync(&profile, "r1", dir.path()),
        sync(&profile, "r2", dir.path()),
    ];
    ok(
        &mut with_profile(&profile),
        &["shift", "--all", "--to", "50", "--reason", "drill", "--yes"],
    );
    let alice = console(&profile, "alice");
    alice.wait_for("applied 2/2");
    alice.keys(&["X", "X"]);
    // The status line (or the banner, when the fallback is failing) counts
    // the regions until every one acknowledged the revision.
    alice.wait_until("applied 2/2 in", |s| {
        flat(s).contains("rev 2 ·") && flat(s).contains("applied 2/2 in")
    });
    // r2's sync dies: the next rollback waits for it, then names it.
    let mut r2 = syncs.pop().unwrap();
    r2.kill().unwrap();
    r2.wait().unwrap();
    assert_eq!(shift_on(&profile, "m1/r1", "25", "again").code, 0);
    alice.wait_for("rev 3 by tester@");
    alice.keys(&["X", "X"]);
    let screen = alice.wait_until("NOT APPLIED in r2", |s| {
        flat(s).contains("NOT APPLIED in r2")
    });
    assert!(flat(&screen).contains("rev 4 ·"), "{screen}");
    assert!(screen.contains("applied 1/2"), "{screen}");
    alice.keys(&["q"]);
    alice.wait_for("EXITED 0");
    for mut s in syncs {
        s.kill().unwrap();
        s.wait().unwrap();
    }
}

/// The screen as one line: a status line wrapped at 80 columns reads whole.
fn flat(screen: &str) -> String {
    screen
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn etcd_lost_mid_session_is_said_and_a_rollback_waits_for_it_then_lands() {
    let (mut etcd, _dir, profile, alice) = canary_with_alice();
    etcd.members[0].kill();
    alice.wait_for("FLAG STORE");
    alice.keys(&["X", "X"]);
    alice.wait_until("the rollback pending", |s| {
        flat(s).contains("ROLLBACK NOT WRITTEN")
    });
    etcd.members[0].start("new");
    etcd.wait_healthy();
    // Retried until it lands; the watch and the reads resume by themselves.
    alice.wait_until("the rollback written", |s| {
        flat(s).contains("ROLLED BACK 1 cell(s)")
    });
    alice.wait_until("the store line gone", |s| !s.contains("FLAG STORE"));
    let doc: serde_json::Value =
        serde_json::from_str(&etcd.get("/beacon/routes").unwrap()).unwrap();
    assert_eq!(doc["metadata"]["version"], "2");
    // Carol's change still arrives by the (new) watch (the rollback's
    // banner, if the fallback is failing here, acknowledged first).
    if flat(&alice.screen()).contains("Enter to acknowledge") {
        alice.keys(&["Enter"]);
    }
    assert_eq!(shift_as("carol", &profile, "m.2/r1", "5", "after").code, 0);
    alice.wait_for("rev 3 by carol@");
    alice.keys(&["q"]);
    alice.wait_for("EXITED 0");
}

#[test]
fn with_etcd_out_of_reach_the_synced_copy_opens_read_only() {
    let Setup {
        mut etcd,
        dir,
        profile,
    } = setup(QUICK);
    assert_eq!(shift_on(&profile, "m1/r1", "50", "canary").code, 0);
    let copy = dir.path().join("r1.json");
    let copy_arg = copy.display().to_string();
    ok(
        &mut with_profile(&profile),
        &["sync", "--region", "r1", "--to", &copy_arg, "--once"],
    );
    etcd.members[0].kill();
    let out = run(&mut with_profile(&profile), &["status"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    // The copy: read-only, and said to be a copy.
    let out = run(
        &mut with_profile(&profile),
        &["--store-file", &copy_arg, "status"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("add --read-only"), "{}", out.stderr);
    let text = ok(
        &mut with_profile(&profile),
        &["--read-only", "--store-file", &copy_arg, "status"],
    )
    .stdout;
    assert!(text.contains("flags rev 1 · READ-ONLY"), "{text}");
    assert!(text.contains(&format!("store: copy {copy_arg}")), "{text}");
    let alice = Tmux::run(&format!(
        "LC_ALL=C.UTF-8 BEACON_OPERATOR=alice {} --profile {} --read-only --store-file {copy_arg}",
        bin().display(),
        profile.display()
    ));
    let screen = alice.wait_for("copy rev 1");
    assert!(screen.contains("READ-ONLY"), "{screen}");
    alice.keys(&["X", "X"]);
    alice.wait_until("the refusal", |s| flat(s).contains("READ-ONLY"));
    alice.keys(&["q"]);
    alice.wait_for("EXITED 0");
    assert_eq!(etcd.members.len(), 1);
}

#[test]
fn over_an_unreadable_document_the_console_rolls_back_by_force() {
    let (etcd, _dir, _profile, alice) = canary_with_alice();
    assert!(etcd.etcdctl(&["put", "/beacon/routes", "garbage"]).0);
    alice.wait_for("FLAG STORE");
    alice.keys(&["X", "X"]);
    // A plain rollback cannot read what it would change: it says what can.
    alice.wait_until("the way out", |s| flat(s).contains(":rollback force"));
    alice.keys(&[":"]);
    alice.tmux(&["send-keys", "-l", "rollback force -- document unreadable"]);
    alice.keys(&["Enter"]);
    alice.wait_until("the forced rollback", |s| flat(s).contains("ROLLED BACK"));
    alice.wait_until("the store line gone", |s| !s.contains("FLAG STORE"));
    let doc: serde_json::Value =
        serde_json::from_str(&etcd.get("/beacon/routes").unwrap()).unwrap();
    assert_eq!(doc["metadata"]["version"], "2");
    assert_eq!(doc["metadata"]["updateAction"], "forced rollback");
    alice.keys(&["q"]);
    alice.wait_for("EXITED 0");
}

/// etcd with quick timeouts, a canary at revision 1, and alice's console
/// showing it.
fn canary_with_alice() -> (
    etcd_server::Etcd,
    tempfile::TempDir,
    std::path::PathBuf,
    Tmux,
) {
    let Setup { etcd, dir, profile } = setup(QUICK);
    assert_eq!(shift_on(&profile, "m1/r1", "50", "canary").code, 0);
    let alice = console(&profile, "alice");
    alice.wait_for("rev 1");
    (etcd, dir, profile, alice)
}
