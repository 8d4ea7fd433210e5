//! `sync` beside a router against a real etcd: each revision mirrored into
//! the flagd file atomically and acknowledged under `applied/<region>` with a
//! lease; an unreadable document never replaces a good file; the
//! acknowledgement goes with the lease when the sync dies; etcd going away
//! and coming back.
#![cfg(feature = "etcd")]
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/etcd.rs"]
mod etcd_server;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use etcd_server::{Etcd, QUICK, Setup, setup, shift_on};

/// `sync` as a separate process, its log in `log`.
fn start_sync(profile: &Path, region: &str, to: &Path, log: &Path) -> Reaped {
    Reaped(
        with_profile(profile)
            .args(["sync", "--region", region, "--to"])
            .arg(to)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Waits (a minute at most: a loaded machine) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < until, "never saw {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn file_revision(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    doc["metadata"]["version"].as_str()?.parse().ok()
}

fn applied(etcd: &Etcd, region: &str) -> Option<serde_json::Value> {
    etcd.get(&format!("/beacon/applied/{region}"))
        .map(|v| serde_json::from_str(&v).unwrap())
}

fn shift(profile: &Path, pct: &str) {
    let out = shift_on(profile, "m1/r1", pct, "sync test");
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn sync_mirrors_each_revision_and_acknowledges_it_under_a_lease() {
    let Setup { etcd, dir, profile } = setup("");
    shift(&profile, "5");
    let to = dir.path().join("r1-flags.json");
    let log = dir.path().join("sync.log");
    let mut sync = start_sync(&profile, "r1", &to, &log);
    wait_until("revision 1 in the file", || file_revision(&to) == Some(1));
    wait_until("revision 1 acknowledged", || {
        applied(&etcd, "r1").is_some_and(|a| a["revision"] == 1)
    });
    // The file is what etcd holds, byte for byte.
    assert_eq!(
        std::fs::read_to_string(&to).unwrap(),
        etcd.get("/beacon/routes").unwrap()
    );
    shift(&profile, "25");
    wait_until("revision 2 in the file", || file_revision(&to) == Some(2));
    wait_until("revision 2 acknowledged", || {
        applied(&etcd, "r1").is_some_and(|a| a["revision"] == 2)
    });
    let ack = applied(&etcd, "r1").unwrap();
    assert_eq!(ack["path"], to.display().to_string());
    assert!(ack["checked_at"].as_str().unwrap().ends_with('Z'), "{ack}");

    // An unreadable document never replaces the good file; the ack says why.
    assert!(etcd.etcdctl(&["put", "/beacon/routes", "{not json"]).0);
    wait_until("the refusal acknowledged", || {
        applied(&etcd, "r1").is_some_and(|a| {
            a["refused"]
                .as_str()
                .is_some_and(|r| r.contains("unreadable"))
        })
    });
    assert_eq!(file_revision(&to), Some(2), "the router keeps revision 2");
    assert_eq!(applied(&etcd, "r1").unwrap()["revision"], 2);

    // A sync that dies disappears when its lease ends.
    sync.kill().unwrap();
    sync.wait().unwrap();
    wait_until("the acknowledgement gone with its lease", || {
        applied(&etcd, "r1").is_none()
    });
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("wrote revision 2 to"), "{log}");
}

#[test]
fn sync_keeps_the_last_document_while_etcd_is_away_and_catches_up() {
    let Setup {
        mut etcd,
        dir,
        profile,
    } = setup(QUICK);
    shift(&profile, "5");
    let to = dir.path().join("r2-flags.json");
    let log = dir.path().join("sync.log");
    let mut sync = start_sync(&profile, "r2", &to, &log);
    wait_until("revision 1 in the file", || file_revision(&to) == Some(1));
    etcd.members[0].kill();
    wait_until("the log saying etcd is away", || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("etcd away for")
    });
    assert_eq!(file_revision(&to), Some(1), "still serving revision 1");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("serving revision 1")
    );
    etcd.members[0].start("new");
    etcd.wait_healthy();
    shift(&profile, "50");
    wait_until("revision 2 in the file", || file_revision(&to) == Some(2));
    wait_until("revision 2 acknowledged", || {
        applied(&etcd, "r2").is_some_and(|a| a["revision"] == 2)
    });
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("etcd is back after")
    );
    sync.kill().unwrap();
    sync.wait().unwrap();
}

#[test]
fn sync_once_writes_acknowledges_and_exits_and_bad_arguments_exit_2() {
    let Setup { etcd, dir, profile } = setup("");
    shift(&profile, "10");
    let to = dir.path().join("once.json");
    let to_arg = to.display().to_string();
    ok(
        &mut with_profile(&profile),
        &["sync", "--region", "r1", "--to", &to_arg, "--once"],
    );
    assert_eq!(file_revision(&to), Some(1));
    assert_eq!(applied(&etcd, "r1").unwrap()["revision"], 1);
    let out = run(
        &mut with_profile(&profile),
        &["sync", "--region", "nowhere", "--to", &to_arg],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown region \"nowhere\""),
        "{}",
        out.stderr
    );
    let out = run(
        &mut with_profile(&profile),
        &["sync", "--region", "r1", "--to", "/no/such/dir/f.json"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = run(
        &mut with_profile(&profile),
        &[
            "sync",
            "--region",
            "r1",
            "--to",
            &dir.path().display().to_string(),
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is a directory"), "{}", out.stderr);
    // The demo keeps its flags in a file: nothing to mirror.
    let out = run(
        &mut demo(dir.path()),
        &["sync", "--region", "us-east", "--to", &to_arg],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("sync mirrors an etcd store"),
        "{}",
        out.stderr
    );
}

/// The demo on etcd: each simulated router reads the file its own sync task
/// mirrors; the share they serve follows what was committed to etcd.
#[test]
fn the_etcd_demo_routes_by_what_the_syncs_mirror() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let demo = include_str!("../profiles/demo-etcd.toml")
        .replace("[\"http://127.0.0.1:2379\"]", &etcd.endpoints_toml())
        .replace("/tmp/beacon-demo-etcd/audit.jsonl", "audit.jsonl");
    let profile = write_profile(dir.path(), &demo);
    ok(
        &mut with_profile(&profile),
        &[
            "shift", "--all", "--to", "100", "--reason", "all in", "--yes",
        ],
    );
    let live = ok(
        &mut with_profile(&profile),
        &[
            "--json",
            "status",
            "--live",
            "--seconds",
            "3",
            "--time-scale",
            "20",
        ],
    )
    .stdout;
    let live: serde_json::Value = serde_json::from_str(&live).unwrap();
    for region in live["regions"].as_array().unwrap() {
        assert_eq!(region["applied_revision"], 1, "{region}");
    }
    // Requests a router sent before its sync's first write went to the
    // fallback (no document yet); the rest follow etcd's 100 %.
    let (mut runpod, mut all) = (0.0, 0.0);
    for cell in live["cells"].as_array().unwrap() {
        let requests = cell["router_requests"].as_f64().unwrap_or(0.0);
        let provider = cell["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["provider"] == "runpod")
            .unwrap();
        runpod += requests * provider["observed_percent"].as_f64().unwrap_or(0.0) / 100.0;
        all += requests;
    }
    assert!(all > 0.0, "the routers sent traffic: {live}");
    assert!(runpod / all > 0.8, "{runpod} of {all} to RunPod: {live}");
    // Each sync acknowledged the revision it wrote.
    for region in ["us-east", "eu-west", "apac-sg"] {
        let ack: serde_json::Value =
            serde_json::from_str(&etcd.get(&format!("/beacon-demo/applied/{region}")).unwrap())
                .unwrap();
        assert_eq!(ack["revision"], 1, "{region}: {ack}");
    }
}
