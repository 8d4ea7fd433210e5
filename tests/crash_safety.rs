//! Crash safety and no lost update, on the real binary with real processes.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use beacon_console::config::{Profile, ProfileSource};
use beacon_console::flags::FlagCodec;
use common::*;

fn demo_codec(state: &std::path::Path) -> FlagCodec {
    let profile = Profile::load(&ProfileSource::Demo {
        state_dir: state.to_path_buf(),
    })
    .unwrap();
    FlagCodec::for_profile(&profile)
}

/// Kills a committing process (SIGKILL) at 220 random instants of its commit loop. After each
/// kill the document parses and is at the last revision reported committed or
/// the one after; after reconciliation every revision has exactly one audit line.
#[test]
fn sigkill_at_random_instants_never_tears_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let codec = demo_codec(state);
    let mut rng = fastrand::Rng::with_seed(0xBEAC0);
    let mut known = 0u64;
    let mut kills_mid_run = 0;
    for round in 0..220 {
        let mut child = demo(state)
            .args(["stress-commit", "--count", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let last_ok = Arc::new(AtomicU64::new(known));
        let (first_commit, committing) = std::sync::mpsc::channel::<()>();
        let reader = {
            let stdout = child.stdout.take().unwrap();
            let last_ok = last_ok.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(rev) = line.strip_prefix("committed ").and_then(|r| r.parse().ok())
                    {
                        last_ok.store(rev, Ordering::SeqCst);
                        let _ = first_commit.send(());
                    }
                }
            })
        };
        // Once the process is in its commit loop (an event, not a guess about
        // start-up time), the kill instant is random: mid-write, mid-fsync,
        // mid-rename, mid-append.
        committing
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("round {round}: the committing process never committed"));
        std::thread::sleep(Duration::from_micros(rng.u64(0..10_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let reported = last_ok.load(Ordering::SeqCst);
        if reported > known {
            kills_mid_run += 1;
        }
        match std::fs::read(doc_path(state)) {
            Ok(bytes) => {
                let doc = codec
                    .decode(&bytes)
                    .unwrap_or_else(|e| panic!("round {round}: torn document: {e}"));
                assert!(
                    doc.revision == reported || doc.revision == reported + 1,
                    "round {round}: document at {} but last success was {reported}",
                    doc.revision
                );
                known = doc.revision;
            }
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
                assert_eq!(reported, 0, "round {round}: document vanished");
            }
        }
    }
    assert!(
        known > 200,
        "too few commits happened ({known}): the test did not exercise much"
    );
    assert_eq!(kills_mid_run, 220, "every kill lands in the commit loop");

    // Any process start reconciles; `history` does.
    ok(&mut demo(state), &["history", "--limit", "1"]);
    let revisions = audit_revisions(&audit_path(state));
    let expected: Vec<u64> = (1..=known).collect();
    assert_eq!(
        revisions, expected,
        "every committed revision has exactly one audit line, in order"
    );
}

/// Two processes each make 200 shifts, retrying on conflict: nothing is lost.
#[test]
fn two_writers_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let spawn = || {
        demo(state)
            .args(["stress-commit", "--count", "200", "--retry"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(doc_revision(state), 400);
    let revisions = audit_revisions(&audit_path(state));
    assert_eq!(revisions.len(), 400);
    assert_eq!(revisions, (1..=400).collect::<Vec<u64>>());
    // The split moved by exactly 400 per-mille steps (0 → 400 ‰ on the first cell).
    let doc = demo_codec(state)
        .decode(&std::fs::read(doc_path(state)).unwrap())
        .unwrap();
    let first = doc.routes.iter().next().unwrap().1;
    assert_eq!(first.share("runpod").get(), 400);
}
