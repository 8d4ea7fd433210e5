//! The guard on the time-scaled demo simulator (its own process, as a
//! systemd unit would run it): a fault rolls back exactly the cells it hits,
//! at the check where the breaches in a row reach the threshold; observing
//! only alerts; a dead metrics source and too few samples never act; two
//! guards never both act.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// The demo profile in `dir`, with traffic and checks quick enough for a
/// test: ~2 breaches of 10+ requests within a few seconds.
fn quick_demo(dir: &Path, extra_slo: &str) -> PathBuf {
    quick_demo_with(dir, extra_slo, "")
}

/// As `quick_demo`, with more sections at the end.
fn quick_demo_with(dir: &Path, extra_slo: &str, more: &str) -> PathBuf {
    let text = include_str!("../profiles/demo.toml")
        .replace("requests_per_second = 10", "requests_per_second = 60")
        .replace(
            "failures_before_rollback = 3",
            &format!("failures_before_rollback = 2\n{extra_slo}"),
        )
        .replace("min_samples = 20", "min_samples = 10")
        // The simulated cold starts of a scaling pool are not these tests'
        // subject (the rule has its unit test): off.
        .replace(
            "cold_start_fast_percent = 80",
            "cold_start_fast_percent = 0",
        )
        // Nor the cost, a ratio of medians near 0.85 here (its own test).
        .replace("cost_vs_fallback = 1.0", "cost_vs_fallback = 100")
        .replace("check_interval_ms = 5000", "check_interval_ms = 1000")
        .replace("window_ms = 20000", "window_ms = 3000");
    assert!(
        text.contains("window_ms = 3000"),
        "the demo's [guard] moved"
    );
    write_profile(dir, &format!("{text}\n{more}"))
}

/// A webhook receiver on loopback: every body POSTed to it, answered `ok`
/// as Slack does.
struct Receiver {
    url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/services/T0/B0/CANARY-webhook-secret",
            listener.local_addr().unwrap()
        );
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(body) = read_request(stream) {
                    seen.lock().unwrap().push(body);
                }
            }
        });
        Receiver { url, bodies }
    }

    fn events(&self, event: &str) -> Vec<serde_json::Value> {
        let bodies = self.bodies.lock().unwrap();
        bodies
            .iter()
            .filter(|b| b["beacon"]["event"] == event)
            .cloned()
            .collect()
    }
}

/// One HTTP/1.1 request's JSON body, answered `200 ok`.
fn read_request(mut stream: std::net::TcpStream) -> Option<serde_json::Value> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if body.len() >= length {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
                return serde_json::from_str(&body[..length]).ok();
            }
        }
    }
}

fn start_guard(profile: &Path, mode: &str, log: &Path, more: &[&str]) -> Reaped {
    Reaped(
        with_profile(profile)
            .args(["guard", "--mode", mode, "--time-scale", "20"])
            .args(more)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < until, "never saw {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The guard's simulator, as `status` beside it tells.
fn simulator(profile: &Path) -> String {
    let mut base = None;
    wait_until("the guard's simulator", || {
        let out = run(&mut with_profile(profile), &["--json", "status"]);
        let status: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        base = status["simulator"]["base"].as_str().map(str::to_string);
        base.is_some()
    });
    base.unwrap()
}

/// A RunPod outage in `region` on the simulator at `base`.
fn runpod_outage(base: &str, region: &str) {
    set_faults(
        base,
        &format!(r#"[{{"provider":"runpod","region":"{region}","outage":true}}]"#),
    );
}

/// POSTs fault rules to the simulator (plain HTTP/1.1 over loopback).
fn set_faults(base: &str, rules: &str) {
    let addr = base.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /sim/faults HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{rules}",
        rules.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// The audit lines of one action.
fn audited(profile_dir: &Path, action: &str) -> Vec<serde_json::Value> {
    read(&profile_dir.join("audit/beacon-audit.jsonl"))
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["action"] == action)
        .collect()
}

fn shift_all(profile: &Path, pct: &str) {
    ok(
        &mut with_profile(profile),
        &["shift", "--all", "--to", pct, "--reason", "canary", "--yes"],
    );
}

const WEBHOOK: &str = "[notify]\nwebhook = { env = \"BEACON_TEST_WEBHOOK\" }\n";

/// The guard with notifications to `receiver`.
fn start_notifying_guard(profile: &Path, mode: &str, log: &Path, receiver: &Receiver) -> Reaped {
    Reaped(
        with_profile(profile)
            .args(["guard", "--mode", mode, "--time-scale", "20"])
            .env("BEACON_TEST_WEBHOOK", &receiver.url)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn an_outage_rolls_back_exactly_the_cells_it_hits() {
    let dir = tempfile::tempdir().unwrap();
    let profile = quick_demo_with(dir.path(), "", WEBHOOK);
    let receiver = Receiver::start();
    shift_all(&profile, "50");
    let log = dir.path().join("guard.log");
    let mut guard = start_notifying_guard(&profile, "rollback", &log, &receiver);
    let base = simulator(&profile);
    runpod_outage(&base, "us-east");
    wait_until("an auto-rollback", || {
        !audited(dir.path(), "auto_rollback").is_empty()
    });
    guard.kill().unwrap();
    guard.wait().unwrap();
    let rollback = &audited(dir.path(), "auto_rollback")[0];
    let cells: Vec<&str> = rollback["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            c["cells"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
        })
        .collect();
    assert!(
        !cells.is_empty() && cells.iter().all(|c| c.ends_with("/us-east")),
        "{rollback}"
    );
    let reason = rollback["reason"].as_str().unwrap();
    assert!(reason.starts_with("guard: "), "{reason}");
    assert!(
        reason.contains("errors ") && reason.contains("% > 1%"),
        "{reason}"
    );
    assert!(reason.contains("2 checks in a row"), "{reason}");
    // The other regions stay as they were.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&mut with_profile(&profile), &["--json", "status"]).stdout)
            .unwrap();
    for cell in status["cells"].as_array().unwrap() {
        let region = cell["region"].as_str().unwrap();
        let runpod = cell["split_percent"]["runpod"].as_f64().unwrap_or(0.0);
        if region != "us-east" {
            assert_eq!(runpod, 50.0, "{cell}");
        }
    }
    // Said when the streak reached the threshold: the check line with
    // "(2/2)" is followed by the action's.
    let log = read(&log);
    let lines: Vec<&str> = log.lines().collect();
    let action = lines
        .iter()
        .position(|l| l.contains("AUTO-ROLLBACK"))
        .expect(&log);
    assert!(lines[action - 1].contains("(2/2)"), "{log}");
    assert!(
        !lines[..action - 1].iter().any(|l| l.contains("(2/2)")),
        "{log}"
    );
    // One notification, the rollback's (it says the breach too): the
    // environment, the cells with their shares before → after, the figures,
    // who acted; the webhook's secret URL is nowhere in the log.
    wait_until("the notification", || {
        !receiver.events("auto_rollback").is_empty()
    });
    let sent = &receiver.events("auto_rollback")[0];
    let text = sent["text"].as_str().unwrap();
    assert!(text.starts_with("[demo] AUTO-ROLLBACK in "), "{text}");
    assert!(
        text.contains("/us-east modal 50% runpod 50% → modal 100%"),
        "{text}"
    );
    assert!(
        text.contains("% > 1%") && text.contains("by tester@"),
        "{text}"
    );
    assert!(
        receiver.events("breach").is_empty(),
        "said once, by the rollback"
    );
    assert!(!log.contains("CANARY"), "{log}");
    // And `history --action auto_rollback` lists it.
    let history = ok(
        &mut with_profile(&profile),
        &["history", "--action", "auto_rollback"],
    )
    .stdout;
    assert!(
        history.contains("auto-rollback") && history.contains("us-east"),
        "{history}"
    );
}

#[test]
fn observing_only_alerts_and_says_a_breach_once() {
    let dir = tempfile::tempdir().unwrap();
    let profile = quick_demo_with(dir.path(), "", WEBHOOK);
    let receiver = Receiver::start();
    shift_all(&profile, "50");
    let log = dir.path().join("guard.log");
    let mut guard = start_notifying_guard(&profile, "observe", &log, &receiver);
    let base = simulator(&profile);
    runpod_outage(&base, "eu-west");
    // Three alerting checks: each cell's breach is said once, not thrice.
    wait_until("three alerts", || {
        read(&log).matches("ALERT (observing").count() >= 3
    });
    guard.kill().unwrap();
    guard.wait().unwrap();
    assert!(
        audited(dir.path(), "auto_rollback").is_empty(),
        "{}",
        read(&log)
    );
    let breaches = receiver.events("breach");
    assert!(!breaches.is_empty(), "{}", read(&log));
    let mut cells: Vec<String> = breaches
        .iter()
        .flat_map(|b| {
            b["beacon"]["cells"]
                .as_array()
                .unwrap()
                .iter()
                .map(ToString::to_string)
        })
        .collect();
    let all = cells.len();
    cells.sort();
    cells.dedup();
    assert_eq!(
        cells.len(),
        all,
        "each cell's breach said once: {breaches:?}"
    );
}

#[test]
fn a_dead_metrics_source_and_too_few_samples_never_act() {
    let dir = tempfile::tempdir().unwrap();
    // Routers nobody runs: every check is "no data".
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let routers: String = ["r1", "r2"]
        .iter()
        .map(|r| format!("\n[[routers]]\nregion = \"{r}\"\nmetrics_url = \"http://127.0.0.1:{port}/metrics\"\n"))
        .collect();
    let text = format!(
        "{SMALL_PROFILE}\n[guard]\ncheck_interval_ms = 200\nwindow_ms = 600\n[slo]\nfailures_before_rollback = 1\n{routers}"
    );
    let profile = write_profile(dir.path(), &text);
    ok(
        &mut with_profile(&profile),
        &[
            "shift", "--all", "--to", "50", "--reason", "canary", "--yes",
        ],
    );
    let out = run(
        &mut with_profile(&profile),
        &["guard", "--mode", "rollback", "--checks", "5"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let checks: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("in the canary"))
        .collect();
    assert_eq!(checks.len(), 5, "{}", out.stderr);
    for line in &checks {
        assert!(
            line.contains("0 pass, 0 breach, 0 inconclusive, 4 no data"),
            "{line}"
        );
    }
    assert!(!out.stderr.contains("AUTO-ROLLBACK"), "{}", out.stderr);
    // Never a pass, never a rollback — and said, once, not at every check.
    assert_eq!(
        out.stderr
            .matches("ALERT no data (nothing judged or rolled back there; a plan holds)")
            .count(),
        1,
        "{}",
        out.stderr
    );
    // Too few samples: a failing provider, but never enough requests.
    let demo_dir = tempfile::tempdir().unwrap();
    let demo = quick_demo(demo_dir.path(), "").to_path_buf();
    let text = read(&demo).replace("min_samples = 10", "min_samples = 100000");
    let demo = write_profile(demo_dir.path(), &text);
    shift_all(&demo, "50");
    let log = demo_dir.path().join("guard.log");
    let mut guard = start_guard(&demo, "rollback", &log, &["--checks", "6"]);
    let base = simulator(&demo);
    set_faults(&base, r#"[{"provider":"runpod","outage":true}]"#);
    assert!(guard.wait().unwrap().success());
    let log = read(&log);
    assert!(log.contains("inconclusive"), "{log}");
    assert!(
        !log.contains("BREACH") && !log.contains("AUTO-ROLLBACK"),
        "{log}"
    );
    assert!(audited(demo_dir.path(), "auto_rollback").is_empty());
}

#[test]
fn two_guards_never_both_act() {
    let dir = tempfile::tempdir().unwrap();
    let profile = quick_demo(dir.path(), "");
    let log = dir.path().join("guard.log");
    let mut first = start_guard(&profile, "rollback", &log, &[]);
    wait_until("the first guard armed", || read(&log).contains("armed ("));
    let out = run(
        &mut with_profile(&profile),
        &["guard", "--mode", "rollback", "--checks", "1"],
    );
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the guard is already running: held by tester@"),
        "{}",
        out.stderr
    );
    first.kill().unwrap();
    first.wait().unwrap();
    // Its hold went with it.
    let out = run(
        &mut with_profile(&profile),
        &["guard", "--mode", "observe", "--checks", "1"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// A plan of one stage (us-east) at `shares`, each held `hold_s`.
fn us_plan(dir: &Path, shares: &[(u32, u32)]) -> String {
    let steps: Vec<String> = shares
        .iter()
        .map(|(s, h)| format!("{{ share = {s}, hold_s = {h} }}"))
        .collect();
    let path = dir.join("us.toml");
    let text = format!(
        "name = \"us\"\n[[stages]]\nname = \"US\"\nregions = [\"us-east\"]\nsteps = [{}]\n",
        steps.join(", ")
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn plan_status(profile: &Path) -> serde_json::Value {
    let out = ok(&mut with_profile(profile), &["--json", "plan", "status"]).stdout;
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["plan"].clone()
}

#[test]
fn the_guard_promotes_a_plan_whose_stage_passes_over_each_hold() {
    let dir = tempfile::tempdir().unwrap();
    // Limits the healthy demo meets (its RunPod cold starts stay under them).
    let profile = quick_demo(dir.path(), "");
    let text = read(&profile).replace("latency_p95_ms = 2000", "latency_p95_ms = 600000");
    let profile = write_profile(dir.path(), &text);
    let plan = us_plan(dir.path(), &[(50, 1), (100, 1)]);
    ok(
        &mut with_profile(&profile),
        &["plan", "start", &plan, "--yes"],
    );
    let log = dir.path().join("guard.log");
    let mut guard = start_guard(&profile, "hold", &log, &[]);
    wait_until("the plan done by the guard", || {
        plan_status(&profile)["status"] == "done"
    });
    guard.kill().unwrap();
    guard.wait().unwrap();
    let log = read(&log);
    assert_eq!(log.matches("guard: the gate passed").count(), 2, "{log}");
    let steps = ok(
        &mut with_profile(&profile),
        &["history", "--action", "plan_step"],
    )
    .stdout;
    assert_eq!(
        steps.matches("guard: the gate passed").count(),
        2,
        "{steps}"
    );
}

#[test]
fn an_auto_rollback_holds_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let profile = quick_demo(dir.path(), "");
    let plan = us_plan(dir.path(), &[(50, 3600)]);
    ok(
        &mut with_profile(&profile),
        &["plan", "start", &plan, "--yes"],
    );
    let log = dir.path().join("guard.log");
    let mut guard = start_guard(&profile, "rollback", &log, &[]);
    let base = simulator(&profile);
    runpod_outage(&base, "us-east");
    wait_until("the plan paused", || {
        plan_status(&profile)["status"] == "paused"
    });
    guard.kill().unwrap();
    guard.wait().unwrap();
    assert!(
        !audited(dir.path(), "auto_rollback").is_empty(),
        "{}",
        read(&log)
    );
    assert!(
        read(&log).contains("paused with the rollback"),
        "{}",
        read(&log)
    );
}

/// The cost rule (RunPod's cost per request against Modal's in the same
/// cell) holds by default: over the limit, a plan pauses and nothing rolls
/// back, even with the guard armed.
#[test]
fn a_dearer_provider_holds_the_plan_and_rolls_nothing_back() {
    let dir = tempfile::tempdir().unwrap();
    let profile = quick_demo(dir.path(), "");
    // A cost limit no provider meets; p95 out of the way.
    let text = read(&profile)
        .replace("cost_vs_fallback = 100", "cost_vs_fallback = 0.01")
        .replace("latency_p95_ms = 2000", "latency_p95_ms = 600000");
    let profile = write_profile(dir.path(), &text);
    let plan = us_plan(dir.path(), &[(50, 3600)]);
    ok(
        &mut with_profile(&profile),
        &["plan", "start", &plan, "--yes"],
    );
    let log = dir.path().join("guard.log");
    let mut guard = start_guard(&profile, "rollback", &log, &[]);
    wait_until("the plan paused", || {
        plan_status(&profile)["status"] == "paused"
    });
    guard.kill().unwrap();
    guard.wait().unwrap();
    let log = read(&log);
    assert!(log.contains("HOLD (the plan's next step waits)"), "{log}");
    assert!(log.contains("× the fallback's > 0.01×"), "{log}");
    assert!(!log.contains("AUTO-ROLLBACK"), "{log}");
    assert!(audited(dir.path(), "auto_rollback").is_empty(), "{log}");
}

/// A promotion is refused while the guard's last check finds the stage
/// breaching (exit 6, nothing written), goes over it with `--ignore-gate`
/// (the audit says so), and is not gated by a check gone stale. The rules
/// here only observe: the breach holds nothing by itself.
#[test]
fn a_promotion_is_refused_while_the_stage_breaches() {
    let dir = tempfile::tempdir().unwrap();
    let profile = quick_demo(dir.path(), "");
    let rules = "[guard.rules]\nerrors = \"observe\"\np95 = \"observe\"\ncold_starts = \"observe\"\ncost = \"observe\"\n";
    let text = read(&profile);
    let at = text
        .find("[guard.rules]")
        .expect("the demo's [guard.rules]");
    let end = at + text[at..].find("\n\n").expect("a blank line after it");
    let profile = write_profile(
        dir.path(),
        &format!("{}{rules}{}", &text[..at], &text[end..]),
    );
    let plan = us_plan(dir.path(), &[(50, 3600), (100, 0)]);
    ok(
        &mut with_profile(&profile),
        &["plan", "start", &plan, "--yes"],
    );
    let log = dir.path().join("guard.log");
    let mut guard = start_guard(&profile, "hold", &log, &[]);
    let base = simulator(&profile);
    runpod_outage(&base, "us-east");
    let published = dir.path().join("flags/beacon-routes.json.guard-check");
    wait_until("a breach in us-east published", || {
        std::fs::read_to_string(&published).is_ok_and(|t| t.contains("us-east\",\"BREACH"))
    });
    let before = plan_status(&profile);
    let out = run(&mut with_profile(&profile), &["plan", "promote", "--yes"]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("promote refused: the stage breaches its SLO"),
        "{}",
        out.stderr
    );
    assert_eq!(plan_status(&profile), before, "nothing written");
    assert_eq!(before["status"], "running", "observing rules hold nothing");
    let out = ok(
        &mut with_profile(&profile),
        &[
            "plan",
            "promote",
            "--yes",
            "--ignore-gate",
            "--reason",
            "known bad probe",
        ],
    );
    assert!(
        out.stderr.contains("PROMOTING OVER THE GATE"),
        "{}",
        out.stderr
    );
    guard.kill().unwrap();
    guard.wait().unwrap();
    let steps = ok(
        &mut with_profile(&profile),
        &["history", "--action", "plan_step"],
    )
    .stdout;
    assert!(
        steps.contains("known bad probe [promoted over the gate: "),
        "{steps}"
    );
    assert!(!log.exists() || !read(&log).contains("AUTO-ROLLBACK"));
    // A check older than a few intervals is no verdict: said, not gating.
    let old =
        std::fs::read_to_string(&published)
            .unwrap()
            .replacen("\"at\":\"20", "\"at\":\"19", 1);
    std::fs::write(&published, old).unwrap();
    let out = run(&mut with_profile(&profile), &["plan", "promote", "--yes"]);
    assert!(
        out.stderr
            .contains("no gate: the guard's last check (by tester@"),
        "{}",
        out.stderr
    );
}

/// A canary too small for `min_samples` whose few requests all fail is a
/// breach, not "inconclusive": at 5 % an outage is rolled back too.
#[test]
fn a_small_canary_that_fails_outright_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let profile = quick_demo(dir.path(), "");
    let text = read(&profile).replace("min_samples = 10", "min_samples = 200");
    let profile = write_profile(dir.path(), &text);
    shift_all(&profile, "5");
    let log = dir.path().join("guard.log");
    let mut guard = start_guard(&profile, "rollback", &log, &[]);
    let base = simulator(&profile);
    runpod_outage(&base, "eu-west");
    wait_until("an auto-rollback", || {
        !audited(dir.path(), "auto_rollback").is_empty()
    });
    guard.kill().unwrap();
    guard.wait().unwrap();
    let log = read(&log);
    assert!(log.contains("inconclusive"), "small and healthy: {log}");
    let rollback = &audited(dir.path(), "auto_rollback")[0];
    let reason = rollback["reason"].as_str().unwrap();
    assert!(
        reason.contains("/eu-west errors ") && reason.contains("even if the next"),
        "{reason}"
    );
    assert!(
        !reason.contains("us-east") && !reason.contains("apac-sg"),
        "{reason}"
    );
}

/// On the demo, a guard started beside another demo process (a console, a
/// guard) shares its simulator and routers: the faults injected there are
/// the ones it judges — not a world of its own where they never happen.
#[test]
fn a_guard_beside_a_demo_process_shares_its_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let profile = quick_demo(dir.path(), "");
    shift_all(&profile, "50");
    let first_log = dir.path().join("first.log");
    let mut first = start_guard(&profile, "observe", &first_log, &[]);
    let base = simulator(&profile);
    let log = dir.path().join("second.log");
    let mut second = start_guard(&profile, "observe", &log, &[]);
    wait_until("the second guard sharing", || {
        read(&log).contains("demo: sharing the simulator and routers of pid")
    });
    runpod_outage(&base, "us-east");
    wait_until("the second guard seeing the outage", || {
        read(&log).contains("us-east BREACH errors")
    });
    second.kill().unwrap();
    second.wait().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(!read(&log).contains("eu-west BREACH"), "{}", read(&log));
}

/// A guard sharing a demo simulator whose process ended is blind for good:
/// it stops (exit 4) and lets the role go, so that a guard that can see
/// takes it — rather than hold it and never act.
#[test]
fn a_guard_whose_shared_simulator_ended_lets_the_role_go() {
    let dir = tempfile::tempdir().unwrap();
    let profile = quick_demo(dir.path(), "");
    let owner_log = dir.path().join("owner.log");
    let mut owner = start_guard(&profile, "observe", &owner_log, &[]);
    simulator(&profile);
    let log = dir.path().join("sharer.log");
    let mut sharer = start_guard(&profile, "rollback", &log, &[]);
    wait_until("the sharer armed", || {
        read(&log).contains("demo: sharing the simulator") && read(&log).contains("armed (")
    });
    owner.kill().unwrap();
    owner.wait().unwrap();
    let status = sharer.wait().unwrap();
    assert_eq!(status.code(), Some(4), "{}", read(&log));
    assert!(
        read(&log).contains("is gone: stopping, so that another guard can act"),
        "{}",
        read(&log)
    );
    let out = run(
        &mut with_profile(&profile),
        &["guard", "--mode", "rollback", "--checks", "1"],
    );
    assert_eq!(out.code, 0, "the role is free again: {}", out.stderr);
}
