//! The flag store in a real etcd (Debian `etcd-server` on loopback ports,
//! started per test): compare-and-swap between two writers, the document and
//! its audit entry in one transaction, rollback from any state, the
//! emergency path over a damaged key, and clear errors when etcd is away.
#![cfg(feature = "etcd")]
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/etcd.rs"]
mod etcd_server;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Instant;

use beacon_console::config::ProfileSource;
use beacon_console::domain::Action;
use beacon_console::flags::StoreError;
use beacon_console::ops::{Console, OpsError};
use common::*;
use etcd_server::{Etcd, Setup, etcd_profile, setup, setup_cluster, shift_as, shift_on};

fn console(profile: &Path) -> Console {
    Console::open(&ProfileSource::File(profile.to_path_buf()), false).unwrap()
}

fn shift(profile: &Path, cell: &str, pct: &str) -> Run {
    shift_on(profile, cell, pct, "etcd test")
}

/// The revision in the document at the key.
fn stored_revision(etcd: &Etcd) -> u64 {
    let doc: serde_json::Value =
        serde_json::from_str(&etcd.get("/beacon/routes").unwrap()).unwrap();
    doc["metadata"]["version"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The revisions of the audit entries in etcd, in key order.
fn audit_revisions(etcd: &Etcd) -> Vec<u64> {
    etcd.keys("/beacon/audit/")
        .iter()
        .map(|k| k.rsplit('/').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_shift_puts_the_document_and_its_audit_entry_together() {
    let Setup { etcd, dir, profile } = setup("");
    assert!(etcd.get("/beacon/routes").is_none());
    let out = shift(&profile, "m1/r1", "25");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let out = shift(&profile, "m.2/r2", "5");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(stored_revision(&etcd), 2);
    assert_eq!(audit_revisions(&etcd), vec![1, 2]);
    let entry: serde_json::Value =
        serde_json::from_str(&etcd.get("/beacon/audit/00000000000000000002").unwrap()).unwrap();
    assert_eq!(entry["event"], "commit");
    assert_eq!(entry["revision"], 2);
    assert_eq!(entry["operator"]["user"], "tester");
    // The local copy has both lines too; status reads the document from etcd.
    assert_eq!(
        common::audit_revisions(&dir.path().join("audit.jsonl")),
        vec![1, 2]
    );
    let status = ok(&mut with_profile(&profile), &["--json", "status"]).stdout;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["revision"], 2);
    assert!(
        status["store"]
            .as_str()
            .unwrap()
            .starts_with("etcd http://127.0.0.1:"),
        "{status}"
    );
}

#[test]
fn a_stale_writer_is_refused_and_writes_nothing() {
    let Setup {
        etcd,
        dir: _dir,
        profile,
    } = setup("");
    let alice = console(&profile);
    let seen = alice.store.load().unwrap();
    // Bob commits from another process meanwhile.
    let mut bob = with_profile(&profile);
    bob.env("BEACON_OPERATOR", "bob");
    let out = run(
        &mut bob,
        &[
            "shift", "--cell", "m1/r2", "--to", "10", "--reason", "bob's", "--yes",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let before = etcd.get("/beacon/routes").unwrap();
    let mut routes = seen.routes().clone();
    let cell = alice.profile.cells()[0].clone();
    routes.set(cell, beacon_console::domain::Split::all("runpod"));
    let refused = alice.commit(&seen, routes, Action::Shift, "alice's", Instant::now());
    let Err(OpsError::Store(StoreError::Conflict(conflict))) = refused else {
        panic!("expected a conflict, got {refused:?}");
    };
    let text = conflict.to_string();
    assert!(
        text.contains("revision 0 is stale: changed by bob@"),
        "{text}"
    );
    assert!(text.contains("bob's"), "{text}");
    assert_eq!(
        etcd.get("/beacon/routes").unwrap(),
        before,
        "nothing written"
    );
    assert_eq!(audit_revisions(&etcd), vec![1]);
    // From the command line: a stale --expect-revision is exit 3.
    let out = run(
        &mut with_profile(&profile),
        &[
            "shift",
            "--cell",
            "m1/r1",
            "--to",
            "5",
            "--reason",
            "x",
            "--yes",
            "--expect-revision",
            "0",
        ],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(audit_revisions(&etcd), vec![1]);
}

#[test]
fn rollback_never_conflicts_and_works_from_any_state() {
    let Setup {
        etcd,
        dir: _dir,
        profile,
    } = setup("");
    for (cell, pct) in [("m1/r1", "50"), ("m1/r2", "25"), ("m.2/r1", "100")] {
        assert_eq!(shift(&profile, cell, pct).code, 0);
    }
    // Writers racing the rollback: the rollback reads, computes and retries.
    let racers: Vec<_> = (0..2)
        .map(|_| {
            with_profile(&profile)
                .args(["stress-commit", "--count", "20", "--retry"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let out = run(
        &mut with_profile(&profile),
        &["rollback", "--all", "--yes", "--reason", "drill"],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for mut racer in racers {
        assert!(racer.wait().unwrap().success());
    }
    let revision = stored_revision(&etcd);
    let audited = audit_revisions(&etcd);
    assert_eq!(
        audited,
        (1..=revision).collect::<Vec<_>>(),
        "one entry per revision, no gaps"
    );
    // Repeating it is safe: nothing to change, or one more all-fallback revision.
    let out = run(&mut with_profile(&profile), &["rollback", "--all", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let status: serde_json::Value =
        serde_json::from_str(&ok(&mut with_profile(&profile), &["--json", "status"]).stdout)
            .unwrap();
    for cell in status["cells"].as_array().unwrap() {
        assert_eq!(
            cell["split_percent"],
            serde_json::json!({"modal": 100.0}),
            "{cell}"
        );
    }
}

#[test]
fn a_damaged_document_is_an_error_and_force_replaces_it_keeping_the_bytes() {
    let Setup {
        etcd,
        dir: _dir,
        profile,
    } = setup("");
    assert_eq!(shift(&profile, "m1/r1", "50").code, 0);
    assert!(
        etcd.etcdctl(&["put", "/beacon/routes", "{\"flags\": nope"])
            .0
    );
    let out = run(&mut with_profile(&profile), &["status"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("unreadable"), "{}", out.stderr);
    let out = run(
        &mut with_profile(&profile),
        &["rollback", "--all", "--yes", "--force"],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(stored_revision(&etcd), 2);
    assert_eq!(audit_revisions(&etcd), vec![1, 2]);
    let kept = etcd.keys("/beacon/unreadable/");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(etcd.get(&kept[0]).unwrap(), "{\"flags\": nope");
}

#[test]
fn a_deleted_key_after_commits_is_missing_not_revision_0() {
    let Setup {
        etcd,
        dir: _dir,
        profile,
    } = setup("");
    assert_eq!(shift(&profile, "m1/r1", "50").code, 0);
    assert!(etcd.etcdctl(&["del", "/beacon/routes"]).0);
    let out = run(&mut with_profile(&profile), &["status"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("missing, but revision 1 was committed by tester@"),
        "{}",
        out.stderr
    );
    let out = run(
        &mut with_profile(&profile),
        &["rollback", "--all", "--yes", "--force"],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(stored_revision(&etcd), 2, "never reuses revision 1");
}

#[test]
fn etcd_out_of_reach_is_a_clear_error_and_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let port = etcd_server::free_port();
    let text = SMALL_PROFILE.replace(
        "[store]\nkind = \"file\"\npath = \"state/routes.json\"\n",
        &format!(
            "[store]\nkind = \"etcd\"\nendpoints = [\"http://127.0.0.1:{port}\"]\nkey = \"/beacon/routes\"\ndial_timeout_ms = 300\nrequest_timeout_ms = 500\n[audit]\npath = \"audit.jsonl\"\n"
        ),
    );
    let profile = write_profile(dir.path(), &text);
    for args in [&["status"][..], &["rollback", "--all", "--yes"][..]] {
        let out = run(&mut with_profile(&profile), args);
        assert_eq!(out.code, 4, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("etcd at http://127.0.0.1:{port}")),
            "{}",
            out.stderr
        );
    }
}

/// Two writers' `stress-commit` on a profile: their "committed N" lines.
fn writers(profile: &Path, each: u64) -> Vec<(Child, std::thread::JoinHandle<Vec<u64>>)> {
    (0..2)
        .map(|_| {
            let mut child = with_profile(profile)
                .args(["stress-commit", "--count", &each.to_string(), "--retry"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let lines = std::thread::spawn(move || {
                BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                    .filter_map(|l| l.strip_prefix("committed ").and_then(|n| n.parse().ok()))
                    .collect()
            });
            (child, lines)
        })
        .collect()
}

#[test]
fn a_three_member_cluster_loses_and_duplicates_nothing_while_a_member_restarts() {
    let Setup {
        mut etcd,
        dir: _dir,
        profile,
    } = setup_cluster(3, "dial_timeout_ms = 500\nrequest_timeout_ms = 1000\n");
    let running = writers(&profile, 100);
    let stored = |etcd: &Etcd| {
        etcd.get("/beacon/routes")
            .map_or(0, |_| stored_revision(etcd))
    };
    let until = Instant::now() + std::time::Duration::from_secs(120);
    while stored(&etcd) < 40 {
        assert!(Instant::now() < until, "the writers never got going");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    etcd.members[0].kill();
    let killed_at = stored(&etcd);
    while stored(&etcd) < killed_at + 40 {
        assert!(Instant::now() < until, "no commits with a member down");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    etcd.members[0].start("existing");
    let mut confirmed = Vec::new();
    for (mut child, lines) in running {
        assert!(child.wait().unwrap().success());
        confirmed.extend(lines.join().unwrap());
    }
    etcd.wait_healthy();
    assert_eq!(
        confirmed.len(),
        200,
        "each writer confirmed its 100 commits"
    );
    let revision = stored_revision(&etcd);
    let audited = audit_revisions(&etcd);
    // Nothing duplicated: one entry per revision, no gaps; nothing lost:
    // every commit a writer was told of is there.
    assert_eq!(audited, (1..=revision).collect::<Vec<_>>());
    confirmed.sort_unstable();
    confirmed.dedup();
    assert_eq!(confirmed.len(), 200, "no revision confirmed twice");
    assert!(confirmed.iter().all(|r| audited.contains(r)));
    // Each audit entry is the record of its own revision.
    let last: serde_json::Value =
        serde_json::from_str(&etcd.get(&format!("/beacon/audit/{revision:020}")).unwrap()).unwrap();
    assert_eq!(last["revision"], revision);
}

#[test]
fn with_two_members_down_writes_fail_clearly_and_nothing_is_half_applied() {
    let Setup {
        mut etcd,
        dir: _dir,
        profile,
    } = setup_cluster(3, "dial_timeout_ms = 500\nrequest_timeout_ms = 1000\n");
    assert_eq!(shift(&profile, "m1/r1", "25").code, 0);
    etcd.members[1].kill();
    etcd.members[2].kill();
    for args in [
        &[
            "shift", "--cell", "m1/r2", "--to", "50", "--reason", "x", "--yes",
        ][..],
        &["rollback", "--all", "--yes"][..],
    ] {
        let out = run(&mut with_profile(&profile), args);
        assert_eq!(out.code, 4, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("etcd"), "{}", out.stderr);
    }
    etcd.members[1].start("existing");
    etcd.members[2].start("existing");
    etcd.wait_healthy();
    assert_eq!(stored_revision(&etcd), 1, "neither write landed");
    assert_eq!(audit_revisions(&etcd), vec![1]);
}

#[test]
fn history_shows_every_operators_commits_from_etcd_not_only_this_bastions() {
    let etcd = Etcd::start();
    let (alice_dir, bob_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = etcd_profile(alice_dir.path(), &etcd, "");
    let bob = etcd_profile(bob_dir.path(), &etcd, "");
    assert_eq!(shift(&alice, "m1/r1", "5").code, 0);
    let out = shift_as("bob", &bob, "m1/r2", "10", "from bastion 2");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = ok(&mut with_profile(&alice), &["history"]).stdout;
    assert!(
        text.contains("bob@") && text.contains("from bastion 2"),
        "{text}"
    );
    assert!(text.contains("tester@"), "{text}");
    // Alice's local copy has only her own line.
    assert_eq!(
        common::audit_revisions(&alice_dir.path().join("audit.jsonl")),
        vec![1]
    );
}

/// A writer killed at any instant (SIGKILL, 15 times at varied moments):
/// the document and its audit entry are one transaction, so etcd holds both
/// or neither — never a revision without its entry, or an entry ahead.
#[test]
fn a_writer_killed_at_any_instant_leaves_document_and_audit_together() {
    let Setup {
        etcd,
        dir: _dir,
        profile,
    } = setup("");
    for round in 0..15u64 {
        let mut writer = with_profile(&profile)
            .args(["stress-commit", "--retry"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Seeded spread of moments: early (start-up) to well into the loop.
        std::thread::sleep(std::time::Duration::from_millis(5 + (round * 37) % 120));
        writer.kill().unwrap();
        writer.wait().unwrap();
        let revision = etcd
            .get("/beacon/routes")
            .map_or(0, |_| stored_revision(&etcd));
        assert_eq!(
            audit_revisions(&etcd),
            (1..=revision).collect::<Vec<_>>(),
            "round {round}: audit entries = revisions"
        );
    }
    assert!(stored_revision(&etcd) > 0, "some commits landed");
}

#[test]
fn over_tls_with_a_client_certificate_and_not_without() {
    let etcd = Etcd::start_tls();
    let dir = tempfile::tempdir().unwrap();
    let tls = format!(
        "[store.tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n",
        etcd_server::tls_fixture("ca.pem"),
        etcd_server::tls_fixture("client.pem"),
        etcd_server::tls_fixture("client.key"),
    );
    let profile = etcd_profile(dir.path(), &etcd, &tls);
    let out = shift(&profile, "m1/r1", "25");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(stored_revision(&etcd), 1);
    // Without the client certificate (or the CA) nothing is written.
    let other = tempfile::tempdir().unwrap();
    let ca_only = format!(
        "[store.tls]\nca = {:?}\n",
        etcd_server::tls_fixture("ca.pem")
    );
    for extra in [
        "dial_timeout_ms = 500\nrequest_timeout_ms = 1000\n".to_string(),
        ca_only,
    ] {
        let bad = etcd_profile(other.path(), &etcd, &extra);
        let out = shift(&bad, "m1/r2", "25");
        assert_eq!(out.code, 4, "{extra}: {}", out.stderr);
        assert!(
            out.stderr.contains("etcd at https://127.0.0.1:"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(stored_revision(&etcd), 1);
}

#[test]
fn with_user_and_password_from_secrets_that_never_show() {
    let Setup {
        etcd,
        dir: _dir,
        profile: _,
    } = setup("");
    let env = [("ETCDCTL_USER", "root:s3cret-CANARY")];
    let (ok, _, err) = etcd.etcdctl_with(
        &["user", "add", "root", "--new-user-password=s3cret-CANARY"],
        &[],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = etcd.etcdctl_with(&["auth", "enable"], &[]);
    assert!(ok, "{err}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("etcd.password"), "s3cret-CANARY\n").unwrap();
    let mode = std::fs::Permissions::from_mode(0o600);
    std::fs::set_permissions(dir.path().join("etcd.password"), mode).unwrap();
    let auth =
        "user = { env = \"BEACON_TEST_ETCD_USER\" }\npassword = { file = \"etcd.password\" }\n";
    let profile = etcd_profile(dir.path(), &etcd, auth);
    let mut cmd = with_profile(&profile);
    cmd.env("BEACON_TEST_ETCD_USER", "root");
    let out = run(
        &mut cmd,
        &[
            "shift", "--cell", "m1/r1", "--to", "5", "--reason", "auth", "--yes",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let (ok, value, _) = etcd.etcdctl_with(&["get", "/beacon/routes", "--print-value-only"], &env);
    assert!(ok && value.contains("\"version\":\"1\""), "{value}");
    // A wrong password: exit 4, and the password is not in the message.
    std::fs::write(dir.path().join("etcd.password"), "wrong-CANARY\n").unwrap();
    let mut cmd = with_profile(&profile);
    cmd.env("BEACON_TEST_ETCD_USER", "root");
    let out = run(&mut cmd, &["--json", "status"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("etcd at http://127.0.0.1:"),
        "{}",
        out.stderr
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("CANARY"), "{text}");
    }
    // The variable unset: said by name; check-config warns (exit 0).
    let out = run(&mut with_profile(&profile), &["status"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("BEACON_TEST_ETCD_USER"),
        "{}",
        out.stderr
    );
    let out = run(&mut with_profile(&profile), &["check-config"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("store user: environment variable BEACON_TEST_ETCD_USER"),
        "{}",
        out.stdout
    );
}

/// Two guards on one etcd: the role is a key under a lease, so the second
/// is refused, naming the first, and can take it once the first lets go.
#[test]
fn one_guard_at_a_time_on_etcd() {
    let Setup {
        etcd,
        dir: _dir,
        profile,
    } = setup("");
    let (first, second) = (console(&profile), console(&profile));
    let held = first.store.hold("guard", "alice@bastion-1").unwrap();
    let refused = second.store.hold("guard", "bob@bastion-2").err().unwrap();
    assert!(matches!(refused, StoreError::Held(_)), "{refused}");
    assert!(
        refused.to_string().contains("held by alice@bastion-1"),
        "{refused}"
    );
    assert_eq!(etcd.keys("/beacon/holds/").len(), 1);
    drop(held);
    let until = Instant::now() + std::time::Duration::from_secs(30);
    let taken = loop {
        match second.store.hold("guard", "bob@bastion-2") {
            Ok(taken) => break taken,
            Err(e) => assert!(Instant::now() < until, "never let go: {e}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    drop(taken);
}

/// A guard cut off from etcd longer than its lease loses the role without
/// being told: its lease runs out (here: revoked, as etcd does at expiry),
/// another guard takes the role, and the first must see that it no longer
/// holds it before it acts (`still_holds`), rather than act beside it.
#[test]
fn a_guard_whose_lease_ran_out_knows_it_holds_nothing() {
    let Setup {
        etcd,
        dir: _dir,
        profile,
    } = setup("");
    let (first, second) = (console(&profile), console(&profile));
    let held = first.store.hold("guard", "alice@bastion-1").unwrap();
    assert!(first.store.still_holds(&held).unwrap());
    run_out_the_guards_lease(&etcd);
    let taken = second.store.hold("guard", "bob@bastion-2").unwrap();
    assert!(
        !first.store.still_holds(&held).unwrap(),
        "the first must know it lost the role"
    );
    assert!(second.store.still_holds(&taken).unwrap());
    drop(held);
    assert!(
        second.store.still_holds(&taken).unwrap(),
        "the first letting go later takes nothing from the second"
    );
}

/// The `guard` process on etcd: its lease runs out (revoked here, as etcd
/// does at expiry after a partition) and another guard takes the role; the
/// first sees it before acting, stands down (judging, never acting), and
/// takes the role back once the other lets it go.
#[test]
fn a_guard_that_lost_its_lease_stands_down_until_the_role_is_free() {
    let Setup { etcd, dir, profile } = setup("");
    let text = std::fs::read_to_string(&profile).unwrap();
    let profile = write_profile(
        dir.path(),
        &format!("{text}\n[guard]\ncheck_interval_ms = 300\nwindow_ms = 1000\n"),
    );
    let start = |log: &Path| {
        Reaped(
            with_profile(&profile)
                .args(["guard", "--mode", "rollback"])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .unwrap(),
        )
    };
    let read = |log: &Path| std::fs::read_to_string(log).unwrap_or_default();
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let until = Instant::now() + std::time::Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < until, "never saw {what}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let (first_log, second_log) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let mut first = start(&first_log);
    wait("the first guard armed", &|| {
        read(&first_log).contains("armed (")
    });
    run_out_the_guards_lease(&etcd);
    let mut second = start(&second_log);
    wait("the second guard armed", &|| {
        read(&second_log).contains("armed (")
    });
    wait("the first standing down", &|| {
        read(&first_log).contains("the guard's role was lost")
            && read(&first_log).contains("not acting: the guard is already running")
    });
    // The second lets go (SIGTERM: its hold revoked on the way out).
    let term = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(second.wait().unwrap().success());
    wait("the first acting again", &|| {
        read(&first_log).contains("the guard's role is ours again: acting")
    });
    first.kill().unwrap();
    first.wait().unwrap();
}

/// The guard's hold lease ends as etcd ends it at expiry (after a partition
/// longer than the lease): revoked, its key gone.
fn run_out_the_guards_lease(etcd: &Etcd) {
    let (ok, json) = etcd.etcdctl(&["get", "/beacon/holds/guard", "-w", "json"]);
    assert!(ok, "{json}");
    let lease = serde_json::from_str::<serde_json::Value>(&json).unwrap()["kvs"][0]["lease"]
        .as_i64()
        .expect("the hold is under a lease");
    let (ok, out) = etcd.etcdctl(&["lease", "revoke", &format!("{lease:x}")]);
    assert!(ok, "{out}");
}
