//! The real binary in a real pseudo-terminal (tmux, 80×24) on the demo: the
//! matrix appears, a cell is shifted with keys, `X X` rolls everything back,
//! and quitting — or an SSH drop (SIGHUP) — gives the terminal back.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/tmux.rs"]
mod tmux;

use std::path::Path;
use std::process::Command;

use common::*;
use tmux::Tmux;

fn status_json(state: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&mut demo(state), &["--json", "status"]).stdout).unwrap()
}

fn runpod_percent(status: &serde_json::Value, cell: &str) -> f64 {
    let c = status["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cell"] == cell)
        .unwrap_or_else(|| panic!("{cell} in {status}"));
    c["split_percent"]["runpod"].as_f64().unwrap_or(0.0)
}

#[test]
fn shift_with_keys_then_x_x_rolls_everything_back_and_quit_restores() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(dir.path());
    let screen = t.wait_for("ROLLBACK");
    assert!(screen.contains("llama-3.2-1b"), "{screen}");
    assert_eq!(
        t.format("#{alternate_on}"),
        "1",
        "the console is on the alternate screen"
    );

    // + opens the dialog with Cancel focused; → Enter applies.
    t.keys(&["+"]);
    t.wait_for("Apply to 1 cell(s)");
    t.keys(&["Right", "Enter"]);
    t.wait_for("rev 1 ·");
    let status = status_json(dir.path());
    assert_eq!(status["revision"], 1);
    assert_eq!(runpod_percent(&status, "llama-3.2-1b/us-east"), 1.0);

    // Two more cells to 1 %, then X X sends everything back in one commit.
    t.keys(&["j", "+", "Right", "Enter"]);
    t.wait_for("rev 2 ·");
    t.keys(&["X"]);
    t.wait_for("press X again");
    t.keys(&["X"]);
    t.wait_for("ROLLED BACK 2 cell(s) to modal");
    let status = status_json(dir.path());
    assert_eq!(status["revision"], 3);
    for cell in status["cells"].as_array().unwrap() {
        assert_eq!(
            runpod_percent(&status, cell["cell"].as_str().unwrap()),
            0.0,
            "{cell}"
        );
    }
    let audit = std::fs::read_to_string(dir.path().join("audit/beacon-audit.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(last["action"], "rollback");
    assert_eq!(last["revision"], 3);
    assert_eq!(audit.lines().count(), 3);

    // w warms both providers of the cursor's cell, progress in the status line.
    t.keys(&["w"]);
    t.wait_for("warmed cell qwen-2.5-1.5b/us-east: 6 requests to 2 endpoints");

    t.keys(&["q"]);
    let screen = t.wait_for("EXITED 0");
    assert_eq!(
        t.format("#{alternate_on}"),
        "0",
        "left the alternate screen:\n{screen}"
    );
    assert_eq!(t.format("#{cursor_flag}"), "1", "cursor shown");
}

#[test]
fn an_ssh_drop_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(dir.path());
    t.wait_for("ROLLBACK");
    let shell = t.format("#{pane_pid}");
    let console = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
    let pid = String::from_utf8_lossy(&console.stdout)
        .lines()
        .next()
        .expect("the console runs under the pane's shell")
        .trim()
        .to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    t.wait_for("EXITED");
    assert_eq!(t.format("#{alternate_on}"), "0");
    assert_eq!(t.format("#{cursor_flag}"), "1");
    // Nothing was written.
    assert_eq!(status_json(dir.path())["revision"], 0);
}

/// Whether any SGR sequence in `screen` sets a foreground or background
/// colour (39 and 49, the defaults, do not).
fn sets_a_colour(screen: &str) -> bool {
    screen.split("\u{1b}[").skip(1).any(|seq| {
        let params = seq.split('m').next().unwrap_or("");
        params.split(';').any(|p| {
            matches!(
                p.parse::<u32>(),
                Ok(30..=38 | 40..=48 | 90..=97 | 100..=107)
            )
        })
    })
}

/// The console's process id (the pane's shell runs it).
fn console_pid(t: &Tmux) -> String {
    let shell = t.format("#{pane_pid}");
    let console = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
    String::from_utf8_lossy(&console.stdout)
        .lines()
        .next()
        .expect("the console runs under the pane's shell")
        .trim()
        .to_string()
}

#[test]
fn every_ending_signal_restores_the_terminal_and_sigpipe_stays_ignored() {
    for (signal, code) in [("INT", 130), ("QUIT", 131), ("TERM", 143)] {
        let dir = tempfile::tempdir().unwrap();
        let t = Tmux::start(dir.path());
        t.wait_for("ROLLBACK");
        let pid = console_pid(&t);
        // A peer resetting a connection must not kill the console unrestored.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let ignored = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
            .unwrap();
        assert_ne!(
            ignored & (1 << (libc::SIGPIPE - 1)),
            0,
            "SIGPIPE is not ignored"
        );
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let screen = t.wait_for("EXITED");
        assert!(
            screen.contains(&format!("EXITED {code}")),
            "{signal}: {screen}"
        );
        assert!(
            screen.contains(&format!("stopped by SIG{signal}")),
            "{screen}"
        );
        assert_eq!(
            t.format("#{alternate_on}"),
            "0",
            "{signal}: alternate screen left on"
        );
        assert_eq!(t.format("#{cursor_flag}"), "1", "{signal}: cursor hidden");
        assert_eq!(status_json(dir.path())["revision"], 0);
    }
}

#[test]
fn the_console_starts_without_provider_secrets_and_says_which_figures_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_without_secrets(dir.path());
    let t = Tmux::start_with(dir.path(), &format!("--profile {}", profile.display()));
    let screen = t.wait_for("no credentials");
    assert!(screen.contains("RP no credentials"), "{screen}");
    assert!(screen.contains("MO no credentials"), "{screen}");
    assert!(!screen.contains("CANARY"), "{screen}");
    // X X still rolls back: flag writes need no provider secret.
    t.keys(&["+"]);
    t.wait_for("Apply to 1 cell(s)");
    t.keys(&["Right", "Enter"]);
    t.wait_for("rev 1");
    t.keys(&["X", "X"]);
    t.wait_for("ROLLED BACK");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn status_beside_the_console_tells_where_its_simulator_listens() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        status_json(dir.path())["simulator"].is_null(),
        "no console yet"
    );
    let t = Tmux::start(dir.path());
    t.wait_for("ROLLBACK");
    t.keys(&["?"]);
    let help = t.wait_for("simulator");
    let status = status_json(dir.path());
    let base = status["simulator"]["base"].as_str().unwrap().to_string();
    assert!(
        help.contains(&format!("simulator    {base}")),
        "{base} in\n{help}"
    );
    assert_eq!(
        status["simulator"]["fault_api"],
        format!("{base}/sim/faults")
    );
    let text = ok(&mut demo(dir.path()), &["status"]).stdout;
    assert!(
        text.contains(&format!("faults: POST {base}/sim/faults")),
        "{text}"
    );
    t.keys(&["Escape", "q"]);
    t.wait_for("EXITED 0");
    assert!(
        status_json(dir.path())["simulator"].is_null(),
        "gone with the console"
    );
}

#[test]
fn another_operators_shift_appears_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(dir.path());
    t.wait_for("ROLLBACK");
    let mut bob = demo(dir.path());
    bob.env("BEACON_OPERATOR", "bob");
    let args = [
        "shift",
        "--cell",
        "qwen-2.5-1.5b/eu-west",
        "--to",
        "10",
        "--reason",
        "canary eu",
        "--yes",
    ];
    ok(&mut bob, &args);
    let screen = t.wait_for("rev 1 by bob@");
    assert!(screen.contains("\"canary eu\""), "{screen}");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn a_store_lock_held_elsewhere_freezes_neither_keys_nor_the_screen() {
    let dir = tempfile::tempdir().unwrap();
    let profile = patient_store(dir.path());
    let lock_path = dir.path().join("state/routes.json.lock");
    let lock = std::fs::File::open(&lock_path).unwrap();
    lock.lock().unwrap();
    let t = Tmux::start_with(dir.path(), &format!("--profile {}", profile.display()));
    t.wait_for("ROLLBACK");
    // The rollback waits for the lock on the store worker …
    t.keys(&["X", "X"]);
    t.wait_for("rolling back");
    // … while keys and redraws go on.
    t.keys(&["?"]);
    let screen = t.wait_for("this help");
    assert!(!screen.contains("ROLLED BACK"), "{screen}");
    t.keys(&["Escape"]);
    drop(lock);
    t.wait_for("ROLLED BACK 4 cell(s)");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn below_the_minimum_size_keys_write_nothing_and_80x23_is_enough() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(dir.path());
    t.wait_for("ROLLBACK");
    t.tmux(&["resize-window", "-x", "70", "-y", "20"]);
    t.wait_for("terminal too small");
    // Blind: a shift confirmed and a rollback, as in the drill.
    t.keys(&["+", "Right", "Enter", "y", "X", "X"]);
    t.wait_for("that key was ignored");
    assert_eq!(status_json(dir.path())["revision"], 0, "nothing written");
    // A tmux status line on an 80×24 terminal leaves 80×23: the console fits.
    t.tmux(&["resize-window", "-x", "80", "-y", "23"]);
    t.wait_for("[X X]ROLLBACK");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn a_plain_terminal_gets_plain_ascii_and_no_colour() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start_env(dir.path(), "LC_ALL= LANG=C TERM=vt100", "");
    let screen = t.wait_for("ROLLBACK");
    assert!(screen.is_ascii(), "{screen}");
    assert!(screen.contains("RP ..."), "ASCII bars: {screen}");
    // With escapes: no colour at all for a vt100 (bold and reverse only).
    let raw = t.tmux(&["capture-pane", "-p", "-e"]);
    assert!(!sets_a_colour(&raw), "{raw:?}");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn keys_typed_while_a_dialog_is_planned_go_to_the_dialog() {
    let dir = tempfile::tempdir().unwrap();
    let profile = patient_store(dir.path());
    let t = Tmux::start_with(dir.path(), &format!("--profile {}", profile.display()));
    t.wait_for("ROLLBACK");
    // The next read must repair the audit log, under a lock held elsewhere:
    // planning the dialog waits.
    std::fs::remove_file(dir.path().join("state/routes.audit.jsonl")).unwrap();
    let lock = std::fs::File::open(dir.path().join("state/routes.json.lock")).unwrap();
    lock.lock().unwrap();
    t.keys(&["+", "Right", "Enter"]);
    let screen = t.screen();
    assert!(
        !screen.contains("in detail") && !screen.contains("Apply"),
        "{screen}"
    );
    drop(lock);
    // The dialog opens, and the keys typed ahead confirm it.
    t.wait_for("rev 2");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn a_panic_gives_the_terminal_back_before_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start_env(
        dir.path(),
        "LC_ALL=C.UTF-8 RUST_BACKTRACE=0 BEACON_PANIC_AFTER_FIRST_FRAME=1",
        "",
    );
    let screen = t.wait_for("EXITED");
    assert!(screen.contains("The application panicked"), "{screen}");
    assert!(screen.contains("panic requested"), "{screen}");
    assert_eq!(t.format("#{alternate_on}"), "0");
    assert_eq!(t.format("#{cursor_flag}"), "1");
}

/// SMALL_PROFILE with a store that waits for its lock as long as it takes,
/// at revision 1 (every cell at 5 %).
fn patient_store(dir: &Path) -> std::path::PathBuf {
    let text = format!("{SMALL_PROFILE}lock_timeout_ms = 600000\n");
    let profile = write_profile(dir, &text);
    let shift = ["shift", "--all", "--to", "5", "--reason", "r", "--yes"];
    ok(&mut with_profile(&profile), &shift);
    profile
}

/// Every "served N%" figure on the screen.
fn served_shares(screen: &str) -> Vec<f64> {
    screen
        .split("served ")
        .skip(1)
        .filter_map(|rest| rest.split('%').next()?.trim().parse().ok())
        .collect()
}

#[test]
fn after_a_rollback_the_served_share_reads_zero_once_applied() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        &mut demo(dir.path()),
        &["shift", "--all", "--to", "50", "--reason", "half", "--yes"],
    );
    let t = Tmux::start(dir.path());
    // The routers' real traffic shows half on RunPod in every cell.
    t.wait_until("9 served shares near 50 %", |s| {
        let shares = served_shares(s);
        shares.len() == 9 && shares.iter().all(|v| (25.0..=75.0).contains(v))
    });
    t.keys(&["X", "X"]);
    t.wait_for("ROLLED BACK 9 cell(s)");
    // Counted only from traffic since each region applied the rollback: no
    // minute-long average dragging the old share along.
    let screen = t.wait_until("applied 3/3 and every served share at most 5 %", |s| {
        let shares = served_shares(s);
        s.contains("applied 3/3") && shares.len() == 9 && shares.iter().all(|v| *v <= 5.0)
    });
    assert!(screen.contains("traffic 10s"), "{screen}");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

#[test]
fn the_command_line_shifts_and_a_bad_theme_stops_before_the_screen_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("neon.toml");
    std::fs::write(&bad, "good = \"green\"\nbad = \"reddish\"\n").unwrap();
    let t = Tmux::start_with(dir.path(), &format!("--theme {}", bad.display()));
    let screen = t.wait_for("EXITED");
    assert!(
        screen.contains("neon.toml:2:7: bad = \"reddish\" is not a colour"),
        "{screen}"
    );
    assert!(screen.contains("EXITED 2"), "{screen}");
    drop(t);

    let t = Tmux::start_with(dir.path(), "--theme high-contrast");
    t.wait_for("ROLLBACK");
    t.keys(&[":"]);
    t.tmux(&["send-keys", "-l", "shift llama-3.2-1b/eu-w"]);
    t.keys(&["Tab"]);
    // (capture-pane drops trailing spaces: the one after the cell is there.)
    t.wait_for(":shift llama-3.2-1b/eu-west");
    t.tmux(&["send-keys", "-l", "10"]);
    t.keys(&["Enter"]);
    t.wait_for("Cancel");
    // No letter applies: the focus moves to Apply, Enter applies.
    t.keys(&["Right", "Enter"]);
    t.wait_for("rev 1");
    assert_eq!(
        runpod_percent(&status_json(dir.path()), "llama-3.2-1b/eu-west"),
        10.0
    );
    // A filter, then `:q`.
    t.keys(&["/"]);
    t.tmux(&["send-keys", "-l", "apac"]);
    t.keys(&["Enter"]);
    let screen = t.wait_for("/apac");
    assert!(!screen.contains("us-east"), "{screen}");
    t.keys(&[":"]);
    t.tmux(&["send-keys", "-l", "q"]);
    t.keys(&["Enter"]);
    t.wait_for("EXITED 0");
    assert_eq!(t.format("#{alternate_on}"), "0");
}

/// A console started mid-plan continues it: the plan lives in the
/// document. One console promotes it with `:plan promote`, quits; the next
/// console (a restart, or another operator's) shows the step it reached and
/// pauses it.
#[test]
fn a_console_restarted_mid_plan_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/research-order.toml");
    ok(
        &mut demo(dir.path()),
        &["plan", "start", plan.to_str().unwrap(), "--yes"],
    );
    let t = Tmux::start(dir.path());
    t.wait_for("ROLLBACK");
    t.keys(&["p"]);
    t.wait_for("stage US step 1/4 (5%), running");
    t.keys(&["Escape", ":", "plan promote -- looks good", "Enter"]);
    t.wait_for("step 2/4 (25%)");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    let t = Tmux::start(dir.path());
    t.wait_for("ROLLBACK");
    t.keys(&["p"]);
    t.wait_for("stage US step 2/4 (25%), running");
    t.keys(&["Escape", ":", "plan pause -- restarted", "Enter"]);
    t.wait_for("paused");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    let out = ok(&mut demo(dir.path()), &["--json", "plan", "status"]).stdout;
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["plan"]["status"], "paused", "{status}");
    assert_eq!(status["plan"]["step"], 1, "{status}");
}

/// A read-only console asked to guard cannot act: its guard observes, and
/// the header says so — never "elsewhere", as if another process guarded.
#[test]
fn a_read_only_console_guard_observes_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start_with(dir.path(), "--read-only --guard rollback");
    let screen = t.wait_for("the guard only observes here");
    assert!(screen.contains("READ-ONLY"), "{screen}");
    let screen = t.wait_for("guard observing");
    assert!(!screen.contains("guard elsewhere"), "{screen}");
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
}

/// Two demo consoles on one state directory share one simulator, and the
/// FAULTS badge says what that simulator has in force — whichever console
/// set or cleared it.
#[test]
fn the_faults_badge_says_what_the_shared_simulator_has_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let a = Tmux::start(dir.path());
    a.wait_for("ROLLBACK");
    let b = Tmux::start(dir.path());
    b.wait_for("sharing the simulator of pid");
    b.keys(&["F"]);
    b.wait_for("clear every fault");
    b.keys(&["1"]);
    b.wait_for("FAULTS");
    a.wait_for("FAULTS");
    a.keys(&["F"]);
    a.wait_for("clear every fault");
    a.keys(&["7"]);
    b.wait_until("the badge gone", |screen| {
        !screen.lines().next().unwrap_or("").contains("FAULTS")
    });
    for t in [&a, &b] {
        t.keys(&["Escape"]);
        t.keys(&["q"]);
        t.wait_for("EXITED 0");
    }
}
