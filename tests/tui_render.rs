//! The console's screens drawn into a test backend and compared with
//! reviewed snapshots (`cargo insta review` after a deliberate change).
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use beacon_console::config::ProfileSource;
use beacon_console::domain::{CellId, Id, Selection};
use beacon_console::ops::monitor::RegionStatus;
use beacon_console::ops::{self, Console, ShiftAmount};
use beacon_console::providers::ErrorClass;
use beacon_console::providers::runpod::{Health, HealthWorkers};
use beacon_console::telemetry::Figures;
use beacon_console::telemetry::probes::Probed;
use beacon_console::tui::app::{App, Effect, Mode, Tone};
use beacon_console::tui::live::Live;
use beacon_console::tui::modes::{Detail, History};
use beacon_console::tui::new_app;
use beacon_console::tui::theme::Theme;
use beacon_console::tui::view::draw;
use beacon_console::tui::worker;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn console(dir: &std::path::Path, read_only: bool) -> Console {
    Console::open(
        &ProfileSource::Demo {
            state_dir: dir.to_path_buf(),
        },
        read_only,
    )
    .unwrap()
}

/// The demo matrix with fixed figures: every cell probed, one cell at 25 %
/// RunPod that the routers serve at 24 %, one region behind.
fn app(dir: &std::path::Path, read_only: bool) -> App {
    let c = console(dir, false);
    let snapshot = c.store.load().unwrap();
    let plan = ops::plan_shift(
        &c.profile,
        snapshot.routes(),
        &beacon_console::domain::Selection::Cell(CellId::new(
            Id::from("llama-3.2-1b"),
            Id::from("us-east"),
        )),
        ShiftAmount::To(beacon_console::domain::PerMille::parse_percent("25").unwrap()),
        None,
    )
    .unwrap();
    c.commit(
        &snapshot,
        plan.routes,
        beacon_console::domain::Action::Shift,
        "canary",
        Instant::now(),
    )
    .unwrap();
    let c = console(dir, read_only);
    let mut app = new_app(&c).unwrap();
    // The test process's locale must not choose the glyphs.
    app.ascii = false;
    app.session.operator = "alice@bastion-1".into();
    app.clock = "03:12:09Z".into();
    let mut live = Live::default();
    for (i, cell) in c.profile.cells().iter().enumerate() {
        for (j, provider) in ["runpod", "modal"].iter().enumerate() {
            let base = if *provider == "runpod" { 180 } else { 2400 };
            live.probed.insert(
                (cell.clone(), provider.to_string()),
                Probed {
                    figures: Figures {
                        requests: 60,
                        errors: u64::from(i == 4 && j == 0) * 3,
                        errors_by_class: if i == 4 && j == 0 {
                            let mut by = [0; ErrorClass::ALL.len()];
                            by[ErrorClass::Timeout.index()] = 2;
                            by[ErrorClass::RateLimited.index()] = 1;
                            by
                        } else {
                            Default::default()
                        },
                        cold: (i as u64 + j as u64) % 4,
                        p50_ms: Some(base),
                        p90_ms: Some(base + 30 * i as u64),
                        p95_ms: Some(base + 40 * i as u64),
                        p99_ms: Some(base + 90 * i as u64),
                    },
                    delays: if *provider == "runpod" {
                        vec![90, 120, 150, 7_200, 11_800]
                    } else {
                        vec![2_400, 3_100]
                    },
                    recent: (0..40)
                        .map(|k| (base as u32) + ((k * 37 + i as u32 * 11) % 9) * 25)
                        .collect(),
                    health: (*provider == "runpod").then_some(Health {
                        workers: HealthWorkers {
                            idle: 1,
                            running: (i % 2) as u64,
                            ..Default::default()
                        },
                        ..Default::default()
                    }),
                },
            );
        }
        let mut shares = std::collections::BTreeMap::new();
        let rp = if i == 0 { 24.2 } else { 0.0 };
        shares.insert("runpod".to_string(), rp);
        shares.insert("modal".to_string(), 100.0 - rp);
        live.served.insert(cell.clone(), shares);
        live.served_requests.insert(cell.clone(), 400.0);
    }
    live.regions = ["us-east", "eu-west", "apac-sg"]
        .iter()
        .enumerate()
        .map(|(i, r)| RegionStatus {
            region: Id::from(*r),
            applied_revision: Some(if i == 2 { 0 } else { 1 }),
            error: None,
            age: Some(Duration::from_secs(1)),
        })
        .collect();
    app.live = live;
    app
}

fn render(app: &App, width: u16, height: u16, color: bool) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let theme = Theme::built_in(if color { "default" } else { "mono" }).unwrap();
    terminal.draw(|f| draw(f, app, theme)).unwrap();
    terminal.backend().to_string()
}

/// `+`, planned as the runner plans it, and the dialog opened.
fn press_plus(app: &mut App, c: &Console, now: Instant) {
    let Effect::PlanShift(selection, amount) = app.on_key(key(KeyCode::Char('+')), now) else {
        panic!("+ plans a shift");
    };
    let snapshot = c.store.load().unwrap();
    let plan = ops::plan_shift(&c.profile, snapshot.routes(), &selection, amount, None).unwrap();
    app.propose_shift(snapshot, plan, amount);
}

/// The dialog's change, committed as the console does: by the store worker,
/// its report applied to the state.
fn commit_through_the_worker(c: &Console, app: &mut App, now: Instant) {
    let pending = app.take_pending().expect("a dialog");
    let report = worker::handle(c, worker::Request::Commit(Box::new(pending)));
    app.on_report(report, now);
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn matrix_at_80x24_and_160x48() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), false);
    insta::assert_snapshot!("matrix_80x24", render(&app, 80, 24, true));
    insta::assert_snapshot!("matrix_160x48", render(&app, 160, 48, true));
}

#[test]
fn confirmation_dialog_shows_before_after_and_the_base_revision() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    let now = Instant::now();
    assert_eq!(app.on_key(key(KeyCode::Char(' ')), now), Effect::None);
    app.on_key(key(KeyCode::Right), now);
    app.on_key(key(KeyCode::Char(' ')), now);
    press_plus(&mut app, &c, now);
    insta::assert_snapshot!("confirm_80x24", render(&app, 80, 24, true));
    // RunPod cold where it gains traffic: the dialog says so, and how to warm it.
    let rp = (CellId::new("llama-3.2-1b", "eu-west"), "runpod".to_string());
    let workers = &mut app
        .live
        .probed
        .get_mut(&rp)
        .unwrap()
        .health
        .as_mut()
        .unwrap()
        .workers;
    (workers.idle, workers.running) = (0, 0);
    let screen = render(&app, 80, 24, true);
    assert!(
        screen.contains(" ! runpod cold in eu-west: expect cold starts up to 6–12 s"),
        "{screen}"
    );
    assert!(screen.contains("(w on those cells warms them)"), "{screen}");
    assert!(screen.contains("[ Cancel ]"), "{screen}");
    // Cancel has the focus: Enter writes nothing.
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::None);
    assert!(app.take_pending().is_none());
}

#[test]
fn help_is_generated_from_the_keymap() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    app.on_key(key(KeyCode::Char('?')), Instant::now());
    insta::assert_snapshot!("help_80x24", render(&app, 80, 24, true));
}

#[test]
fn too_small_and_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let app_rw = app(dir.path(), false);
    insta::assert_snapshot!("too_small_79x23", render(&app_rw, 79, 23, true));
    insta::assert_snapshot!("too_small_80x22", render(&app_rw, 80, 22, true));
    insta::assert_snapshot!("matrix_80x23", render(&app_rw, 80, 23, true));
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), true);
    let now = Instant::now();
    assert_eq!(app.on_key(key(KeyCode::Char('X')), now), Effect::None);
    assert_eq!(
        app.on_key(key(KeyCode::Char('X')), now),
        Effect::None,
        "no rollback when read-only"
    );
    assert_eq!(app.on_key(key(KeyCode::Char('+')), now), Effect::None);
    insta::assert_snapshot!("read_only_80x24", render(&app, 80, 24, false));
}

#[test]
fn x_twice_within_three_seconds_rolls_back_and_not_later() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let t0 = Instant::now();
    assert_eq!(app.on_key(key(KeyCode::Char('X')), t0), Effect::None);
    assert!(matches!(
        app.on_key(key(KeyCode::Char('X')), t0 + Duration::from_secs(2)),
        Effect::Rollback(beacon_console::domain::Selection::All)
    ));
    assert_eq!(app.on_key(key(KeyCode::Char('X')), t0), Effect::None);
    assert_eq!(
        app.on_key(key(KeyCode::Char('X')), t0 + Duration::from_secs(4)),
        Effect::None,
        "too late: arms again instead"
    );
    // Another key in between disarms it.
    app.on_key(key(KeyCode::Char('j')), t0 + Duration::from_secs(4));
    assert_eq!(
        app.on_key(key(KeyCode::Char('X')), t0 + Duration::from_secs(5)),
        Effect::None
    );
    // Ctrl-letters never write.
    let ctrl_x = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::CONTROL);
    assert_eq!(
        app.on_key(ctrl_x, t0 + Duration::from_secs(5)),
        Effect::None
    );
}

#[test]
fn history_view_lists_the_audit_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    ops::rollback(&c, &beacon_console::domain::Selection::All, "drill").unwrap();
    assert_eq!(
        app.on_key(key(KeyCode::Char('L')), Instant::now()),
        Effect::ShowHistory
    );
    let history = ops::history(c.store.as_ref(), &c.audit, None).unwrap();
    // The real lines, with the wall-clock times and this machine's operator
    // pinned for the snapshot.
    let operator = c.operator.to_string();
    let lines = history
        .lines()
        .into_iter()
        .map(|l| l.replace(&operator, "alice@bastion-1"))
        .map(|l| match l.find("2026-").or_else(|| l.find("20")) {
            Some(i) if l.starts_with("rev") => {
                format!("{}2026-11-28T03:12:09.000Z{}", &l[..i], &l[i + 24..])
            }
            _ => l,
        })
        .collect();
    app.mode = beacon_console::tui::app::Mode::History(History::new(lines));
    let screen = render(&app, 80, 24, true);
    let rollback = screen.find("rollback").expect("rollback listed");
    let shift = screen.find("shift").expect("shift listed");
    assert!(rollback < shift, "newest first:\n{screen}");
    insta::assert_snapshot!("history_80x24", screen);
}

#[test]
fn a_conflict_says_who_changed_what_reloads_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    let now = Instant::now();
    press_plus(&mut app, &c, now);
    // Someone else rolls back while the dialog is open.
    ops::rollback(
        &c,
        &beacon_console::domain::Selection::All,
        "other operator",
    )
    .unwrap();
    app.on_key(key(KeyCode::Right), now);
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::Commit);
    // Applied before the console's next reload saw the change: the store's
    // compare-and-swap refuses it.
    commit_through_the_worker(&c, &mut app, now);
    let after = c.store.load().unwrap();
    assert_eq!(after.revision(), 2, "nothing written over the rollback");
    assert_eq!(app.document.revision, 2, "reloaded");
    let (text, _) = app.status.clone().unwrap();
    assert!(text.contains("revision 1 is stale"), "{text}");
    assert!(text.contains("other operator"), "{text}");
    // Pinned for the snapshot: this machine's operator and the clock time.
    let operator = c.operator.to_string();
    let mut pinned = text.replace(&operator, "bob@bastion-2");
    if let Some(at) = pinned.find(" at 20") {
        pinned.replace_range(at + 4..at + 4 + 24, "2026-11-28T03:12:09.000Z");
    }
    app.status = Some((pinned, app.status.clone().unwrap().1));
    insta::assert_snapshot!("conflict_80x24", render(&app, 80, 24, true));
}

#[test]
fn mono_shows_state_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    app.on_key(key(KeyCode::Char('X')), Instant::now());
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|f| draw(f, &app, Theme::built_in("mono").unwrap()))
        .unwrap();
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
    let text = terminal.backend().to_string();
    // State still shows: the applied marks, the served mismatch, the warning.
    assert!(text.contains("apac-sg …"), "{text}");
    assert!(text.contains("press X again"), "{text}");
    insta::assert_snapshot!("mono_80x24", text);
}

#[test]
fn equals_takes_an_exact_share_and_refuses_a_bad_one_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let now = Instant::now();
    app.on_key(key(KeyCode::Char('=')), now);
    for ch in "150".chars() {
        app.on_key(key(KeyCode::Char(ch)), now);
    }
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::None);
    let (text, _) = app.status.clone().expect("an error");
    assert!(text.contains("150"), "{text}");
    assert!(
        matches!(app.mode, beacon_console::tui::app::Mode::Input(_)),
        "still typing"
    );
    for _ in 0..3 {
        app.on_key(key(KeyCode::Backspace), now);
    }
    for ch in "12.5".chars() {
        app.on_key(key(KeyCode::Char(ch)), now);
    }
    insta::assert_snapshot!("set_exact_80x24", render(&app, 80, 24, true));
    match app.on_key(key(KeyCode::Enter), now) {
        Effect::PlanShift(beacon_console::domain::Selection::Cell(cell), ShiftAmount::To(p)) => {
            assert_eq!(cell.to_string(), "llama-3.2-1b/us-east");
            assert_eq!(p.get(), 125);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cold_fallback_regions_are_named_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let cells: Vec<CellId> = ["us-east", "eu-west"]
        .iter()
        .map(|r| CellId::new(Id::from("llama-3.2-1b"), Id::from(*r)))
        .collect();
    assert_eq!(
        app.live.cold_regions("modal", &cells).warning(),
        None,
        "warm in the fixture"
    );
    // eu-west's Modal probes met cold starts on most requests: cold.
    let key = (cells[1].clone(), "modal".to_string());
    app.live.probed.get_mut(&key).unwrap().figures.cold = 50;
    // us-east's RunPod endpoint has no idle or running worker: cold.
    let rp = (cells[0].clone(), "runpod".to_string());
    let health = app
        .live
        .probed
        .get_mut(&rp)
        .unwrap()
        .health
        .as_mut()
        .unwrap();
    health.workers.idle = 0;
    health.workers.running = 0;
    assert_eq!(
        app.live.cold_regions("modal", &cells).warning().as_deref(),
        Some("modal cold in eu-west: expect 2–4 s cold starts")
    );
    assert_eq!(
        app.live.cold_regions("runpod", &cells).regions,
        vec!["us-east".to_string()]
    );
}

#[test]
fn no_figures_is_not_warm_in_a_shift_dialog() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    // RunPod in eu-west (which gains RunPod traffic) has never been probed.
    let unprobed = CellId::new(Id::from("llama-3.2-1b"), Id::from("eu-west"));
    app.live
        .probed
        .remove(&(unprobed.clone(), "runpod".to_string()));
    let selection = beacon_console::domain::Selection::Row {
        model: "llama-3.2-1b".into(),
    };
    let amount = ShiftAmount::To(beacon_console::domain::PerMille::new(50).unwrap());
    let snapshot = c.store.load().unwrap();
    let plan = ops::plan_shift(&c.profile, snapshot.routes(), &selection, amount, None).unwrap();
    app.propose_shift(snapshot, plan, amount);
    let Mode::Confirm(dialog) = &app.mode else {
        panic!("a dialog");
    };
    let warnings = app.gaining_warnings(&dialog.pending);
    let text: Vec<&str> = warnings.iter().map(|(w, _)| w.as_str()).collect();
    assert!(
        text.contains(&"runpod: no figures for 1 cell(s): warmth unknown"),
        "{text:?}"
    );
    assert!(
        !text
            .iter()
            .any(|w| w.contains("warm where") && w.contains("runpod")),
        "{text:?}"
    );
}

#[test]
fn detail_view_shows_both_providers_and_the_cells_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let cell = CellId::new(Id::from("llama-3.2-1b"), Id::from("us-east"));
    assert_eq!(
        app.on_key(key(KeyCode::Enter), Instant::now()),
        Effect::ShowDetail(cell.clone())
    );
    app.mode = beacon_console::tui::app::Mode::Detail(Detail {
        cell,
        changes: vec![
            "rev 1     2026-11-28T03:12:09.000Z  shift           alice@bastion-1  \"canary\""
                .into(),
            "          llama-3.2-1b/us-east  modal 100% → modal 75% runpod 25%".into(),
        ],
    });
    let screen = render(&app, 80, 24, true);
    assert!(screen.contains("probes p50 180ms  p90 180ms"), "{screen}");
    assert!(screen.contains("served 24.2%"), "{screen}");
    insta::assert_snapshot!("detail_80x24", screen);
    insta::assert_snapshot!("detail_160x48", render(&app, 160, 48, true));
    // Errors by class, the most frequent first.
    app.mode = beacon_console::tui::app::Mode::Detail(Detail::new(CellId::new(
        Id::from("qwen-2.5-1.5b"),
        Id::from("eu-west"),
    )));
    let screen = render(&app, 80, 24, true);
    assert!(
        screen.contains("errors: timeout 2 · rate limited 1"),
        "{screen}"
    );
    assert!(screen.contains("errors: none"), "{screen}");
    assert_eq!(app.on_key(key(KeyCode::Esc), Instant::now()), Effect::None);
    assert!(matches!(app.mode, beacon_console::tui::app::Mode::Matrix));
}

#[test]
fn q_asks_first_when_something_is_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let now = Instant::now();
    app.busy = Some("a warmup".into());
    assert_eq!(app.on_key(key(KeyCode::Char('q')), now), Effect::None);
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .0
            .contains("a warmup is in flight")
    );
    assert_eq!(app.on_key(key(KeyCode::Char('q')), now), Effect::Quit);
    // Another key in between: asks again.
    app.on_key(key(KeyCode::Char('q')), now);
    app.on_key(key(KeyCode::Char('j')), now);
    assert_eq!(app.on_key(key(KeyCode::Char('q')), now), Effect::None);
    app.busy = None;
    assert_eq!(app.on_key(key(KeyCode::Char('q')), now), Effect::Quit);
}

#[test]
fn a_served_share_is_flagged_only_beyond_what_sampling_explains() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let cell = CellId::new(Id::from("llama-3.2-1b"), Id::from("us-east"));
    let set = |app: &mut App, served: f64, n: f64| {
        let shares = app.live.served.get_mut(&cell).unwrap();
        shares.insert("runpod".into(), served);
        shares.insert("modal".into(), 100.0 - served);
        app.live.served_requests.insert(cell.clone(), n);
    };
    // Asked 25 %: 18 % served over 400 requests is 3.2 σ off: flagged.
    set(&mut app, 18.0, 400.0);
    assert!(app.live.mismatch(&cell, "runpod", 25.0));
    assert!(render(&app, 80, 24, true).contains("served 18% ≠"));
    // The same 18 % over 40 requests is what chance gives: not flagged.
    set(&mut app, 18.0, 40.0);
    assert!(!app.live.mismatch(&cell, "runpod", 25.0));
    // Within 5 points is never flagged, however many requests.
    set(&mut app, 21.0, 100_000.0);
    assert!(!app.live.mismatch(&cell, "runpod", 25.0));
}

fn type_text(app: &mut App, text: &str, now: Instant) {
    for ch in text.chars() {
        app.on_key(key(KeyCode::Char(ch)), now);
    }
}

#[test]
fn the_command_line_completes_ids_and_runs_commands() {
    use beacon_console::domain::{PerMille, Selection};
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    app.session.themes = vec!["default".into(), "high-contrast".into(), "mono".into()];
    let now = Instant::now();
    app.on_key(key(KeyCode::Char(':')), now);
    type_text(&mut app, "sh", now);
    app.on_key(key(KeyCode::Tab), now);
    type_text(&mut app, "llama-3.2-1b/e", now);
    app.on_key(key(KeyCode::Tab), now);
    type_text(&mut app, "4", now);
    insta::assert_snapshot!("command_line_80x24", render(&app, 80, 24, true));
    assert_eq!(
        app.on_key(key(KeyCode::Enter), now),
        Effect::PlanShift(
            Selection::Cell(CellId::new("llama-3.2-1b", "eu-west")),
            ShiftAmount::To(PerMille::parse_percent("4").unwrap())
        )
    );

    // Several candidates: listed in the status line, the line completed as
    // far as they agree.
    app.on_key(key(KeyCode::Char(':')), now);
    type_text(&mut app, "rollback llama", now);
    app.on_key(key(KeyCode::Tab), now);
    let (listed, _) = app.status.clone().expect("the candidates");
    assert!(
        listed.starts_with("4: ")
            && listed.contains("llama-3.2-1b/apac-sg")
            && listed.contains("llama-3.2-1b/*"),
        "{listed}"
    );
    app.on_key(key(KeyCode::Esc), now);

    // A typed-out rollback acts at once, like the second X.
    app.on_key(key(KeyCode::Char(':')), now);
    type_text(&mut app, "rollback all", now);
    assert_eq!(
        app.on_key(key(KeyCode::Enter), now),
        Effect::Rollback(Selection::All)
    );

    app.on_key(key(KeyCode::Char(':')), now);
    type_text(&mut app, "theme mono", now);
    assert_eq!(
        app.on_key(key(KeyCode::Enter), now),
        Effect::Theme("mono".into())
    );

    // A bad line stays, with the reason.
    app.on_key(key(KeyCode::Char(':')), now);
    type_text(&mut app, "shift nope/us-east 5", now);
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::None);
    let (why, _) = app.status.clone().expect("the reason");
    assert!(why.contains("unknown model \"nope\""), "{why}");
    assert!(matches!(app.mode, beacon_console::tui::app::Mode::Input(_)));
    app.on_key(key(KeyCode::Esc), now);

    app.on_key(key(KeyCode::Char(':')), now);
    type_text(&mut app, "q", now);
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::Quit);
}

#[test]
fn the_command_line_writes_nothing_when_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), true);
    let now = Instant::now();
    for line in ["rollback all", "shift llama-3.2-1b/us-east 50", "undo"] {
        app.on_key(key(KeyCode::Char(':')), now);
        type_text(&mut app, line, now);
        assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::None, "{line}");
        let (why, _) = app.status.clone().expect("a reason");
        assert!(why.contains("READ-ONLY"), "{why}");
    }
}

#[test]
fn a_filter_shows_the_matching_cells_and_esc_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let now = Instant::now();
    app.on_key(key(KeyCode::Char('/')), now);
    type_text(&mut app, "eu-w", now);
    app.on_key(key(KeyCode::Enter), now);
    let text = render(&app, 80, 24, true);
    insta::assert_snapshot!("filter_80x24", text);
    assert!(
        text.contains("eu-west") && !text.contains("us-east") && !text.contains("apac-sg"),
        "{text}"
    );
    assert_eq!(app.current().to_string(), "llama-3.2-1b/eu-west");
    // `a` selects what is shown, not what is hidden.
    app.on_key(key(KeyCode::Char('a')), now);
    assert_eq!(app.selected.len(), 3);
    assert!(app.selected.iter().all(|c| &*c.region == "eu-west"));
    // Moving stays within what is shown.
    app.on_key(key(KeyCode::Right), now);
    assert_eq!(app.current().to_string(), "llama-3.2-1b/eu-west");
    app.on_key(key(KeyCode::Char('/')), now);
    app.on_key(key(KeyCode::Esc), now);
    assert!(app.filter.is_empty());
    assert!(render(&app, 80, 24, true).contains("apac-sg"));
    // A filter that matches nothing shows everything, and says so.
    app.on_key(key(KeyCode::Char('/')), now);
    type_text(&mut app, "zzz", now);
    let (why, _) = app.status.clone().expect("a word");
    assert!(why.contains("no cell matches"), "{why}");
    assert_eq!(app.visible_models().len(), 3);
    // …and is not kept: `a` then selects every cell, as the screen shows,
    // and the screen says no filter is in force.
    app.on_key(key(KeyCode::Enter), now);
    assert!(app.filter.is_empty(), "{:?}", app.filter);
    app.on_key(key(KeyCode::Char('a')), now);
    assert_eq!(app.selected.len(), 9);
}

#[test]
fn select_all_under_a_filter_takes_only_the_cells_it_matches() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let now = Instant::now();
    // "t" matches every mistral-7b cell and every -east/-west one: its
    // rows × columns are all nine cells, its matches only seven.
    app.on_key(key(KeyCode::Char('/')), now);
    type_text(&mut app, "t", now);
    app.on_key(key(KeyCode::Enter), now);
    let matched: Vec<String> = ["llama-3.2-1b", "qwen-2.5-1.5b", "mistral-7b"]
        .iter()
        .flat_map(|m| ["us-east", "eu-west", "apac-sg"].map(|r| format!("{m}/{r}")))
        .filter(|c| c.contains('t'))
        .collect();
    assert_eq!(matched.len(), 7);
    app.on_key(key(KeyCode::Char('a')), now);
    let mut selected: Vec<String> = app.selected.iter().map(ToString::to_string).collect();
    selected.sort();
    let mut expected = matched;
    expected.sort();
    assert_eq!(selected, expected);
}

#[test]
fn a_missing_document_is_shown_as_unknown_not_as_revision_0() {
    let dir = tempfile::tempdir().unwrap();
    let app_before = app(dir.path(), false);
    assert_eq!(app_before.document.revision, 1);
    std::fs::remove_file(common::doc_path(dir.path())).unwrap();
    let c = console(dir.path(), false);
    let mut app = new_app(&c).unwrap();
    // The test process's locale must not choose the glyphs.
    app.ascii = false;
    let error = app.document.store_error.clone().expect("a store error");
    assert!(error.contains("missing"), "{error}");
    assert!(error.contains("revision 1 was committed"), "{error}");
    // The state path, operator and time vary: fixed for the snapshot.
    let state = dir.path().display().to_string();
    let (head, rest) = error.split_once(" by ").unwrap();
    let (_, tail) = rest.split_once(": routers").unwrap();
    let fixed = format!("{head} by alice@bastion-1 at 2026-11-29T03:00:00.000Z: routers{tail}");
    app.document.store_error = Some(fixed.replace(&state, "STATE"));
    app.session.operator = "alice@bastion-1".into();
    app.clock = "03:12:09Z".into();
    let screen = render(&app, 80, 24, false);
    assert!(screen.contains("rev ?"), "{screen}");
    assert!(!screen.contains("rev 0"), "{screen}");
    assert!(screen.contains("split unknown"), "{screen}");
    insta::assert_snapshot!("missing_document_80x24", screen);
}

#[test]
fn production_dialogs_are_confirmed_by_typing_not_by_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    app.session.production = true;
    app.session.environment = "production".into();
    let c = console(dir.path(), false);
    let now = Instant::now();
    press_plus(&mut app, &c, now);
    insta::assert_snapshot!("production_confirm_80x24", render(&app, 80, 24, false));
    // `y` is a letter being typed here, and Apply with the wrong words writes nothing.
    assert_eq!(app.on_key(key(KeyCode::Char('y')), now), Effect::None);
    // Tab: the reason, then Apply.
    assert_eq!(app.on_key(key(KeyCode::Tab), now), Effect::None);
    assert_eq!(app.on_key(key(KeyCode::Tab), now), Effect::None);
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::None);
    assert!(app.status.clone().unwrap().0.contains("type production"));
    // The words typed, Apply applies.
    app.on_key(key(KeyCode::Backspace), now);
    for ch in "production".chars() {
        app.on_key(key(KeyCode::Char(ch)), now);
    }
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::Commit);
}

#[test]
fn a_dialog_on_an_older_revision_says_so_at_once_and_cannot_be_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    let now = Instant::now();
    press_plus(&mut app, &c, now);
    commit_as_bob(&c, "other operator");
    // The console's next reload (the worker's report) sees the new revision.
    let report = worker::handle(&c, worker::Request::Load);
    app.on_report(report, now);
    let screen = render(&app, 80, 24, false);
    assert!(screen.contains("STALE: the document changed"), "{screen}");
    app.on_key(key(KeyCode::Right), now);
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::None);
    assert_eq!(app.on_key(key(KeyCode::Char('y')), now), Effect::None);
    assert_eq!(c.store.load().unwrap().revision(), 2, "nothing written");
    insta::assert_snapshot!("stale_dialog_80x24", render(&app, 80, 24, false));
}

/// Everything back on Modal, committed as another operator would.
fn commit_as_bob(c: &Console, reason: &str) {
    let bob = beacon_console::domain::Operator {
        user: "bob".into(),
        host: "bastion-2".into(),
        ssh_client: Some("10.0.0.9".into()),
    };
    let snapshot = c.store.load().unwrap();
    let routes = snapshot
        .routes()
        .filled(&beacon_console::domain::Split::all("modal"));
    let request = beacon_console::flags::CommitRequest {
        routes,
        action: beacon_console::domain::Action::Rollback,
        reason: reason.into(),
        operator: bob,
        started: Instant::now(),
        note: None,
        plan: None,
    };
    c.store.commit(&snapshot, request).unwrap();
}

#[test]
fn another_operators_change_is_news_with_who_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    let now = Instant::now();
    app.on_report(worker::handle(&c, worker::Request::Load), now);
    assert!(app.status.is_none() || !app.status.clone().unwrap().0.contains("rev"));
    commit_as_bob(&c, "p95 regression in us-east");
    app.on_report(worker::handle(&c, worker::Request::Load), now);
    let (text, _) = app.status.clone().expect("news");
    assert!(
        text.starts_with("rev 2 by bob@bastion-2 (ssh from 10.0.0.9)"),
        "{text}"
    );
    assert!(text.contains("rollback llama-3.2-1b/us-east"), "{text}");
    assert!(text.contains("\"p95 regression in us-east\""), "{text}");
    let screen = render(&app, 80, 24, false);
    assert!(
        screen.contains("*RP"),
        "the changed cell is marked: {screen}"
    );
    // Our own commits are not news.
    app.status = None;
    press_plus(&mut app, &c, now);
    app.on_key(key(KeyCode::Right), now);
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::Commit);
    commit_through_the_worker(&c, &mut app, now);
    app.on_report(worker::handle(&c, worker::Request::Load), now);
    let (text, _) = app.status.clone().unwrap();
    assert!(!text.contains(" by "), "{text}");
}

#[test]
fn a_failed_rollback_is_retried_joined_and_only_given_up_when_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let now = Instant::now();
    let us = Selection::Column {
        region: "us-east".into(),
    };
    let Some(worker::Request::Rollback {
        selection: first, ..
    }) = app.request_rollback(us.clone(), now)
    else {
        panic!("sent at once");
    };
    assert_eq!(first, us);
    // The write fails (store down): kept, with the reason, retried later.
    let failed = worker::Report::RolledBack {
        selection: us.clone(),
        result: Err(ops::OpsError::Unavailable("disk on fire".into())),
        after: None,
        elapsed: Duration::from_millis(3),
    };
    assert!(app.on_report(failed, now).is_none());
    let text = app.pending_rollback_text(now).unwrap();
    assert!(text.contains("ROLLBACK NOT WRITTEN"), "{text}");
    assert!(text.contains("disk on fire"), "{text}");
    // Esc in a dialog or the matrix does not give it up.
    app.on_key(key(KeyCode::Esc), now);
    assert!(app.rollback.is_some());
    // A second rollback joins the first instead of replacing it.
    let eu = Selection::Column {
        region: "eu-west".into(),
    };
    // Pressed again, it is tried at once, for both.
    let Some(worker::Request::Rollback {
        selection: both, ..
    }) = app.request_rollback(eu, now)
    else {
        panic!("tried at once");
    };
    let cells = both
        .resolve(&app.session.models, &app.session.regions)
        .unwrap();
    assert_eq!(cells.len(), 6, "{both}");
    assert!(app.due_rollback(now).is_none(), "one attempt at a time");
    let failed = worker::Report::RolledBack {
        selection: both.clone(),
        result: Err(ops::OpsError::Unavailable("disk on fire".into())),
        after: None,
        elapsed: Duration::from_millis(3),
    };
    app.on_report(failed, now);
    assert!(app.due_rollback(now).is_none(), "backs off");
    assert!(
        app.due_rollback(now + Duration::from_secs(3)).is_some(),
        "retried when due"
    );
    assert!(render(&app, 80, 24, false).contains("ROLLBACK NOT WRITTEN"));
    // Giving up takes the command and a confirmation; Cancel has the focus.
    type_text(&mut app, ":rollback cancel", now);
    app.on_key(key(KeyCode::Enter), now);
    insta::assert_snapshot!("give_up_rollback_80x24", render(&app, 80, 24, false));
    app.on_key(key(KeyCode::Enter), now);
    assert!(app.rollback.is_some(), "Enter on Keep retrying keeps it");
    type_text(&mut app, ":rollback cancel", now);
    app.on_key(key(KeyCode::Enter), now);
    app.on_key(key(KeyCode::Right), now);
    app.on_key(key(KeyCode::Enter), now);
    assert!(app.rollback.is_none());
    assert!(app.status.clone().unwrap().0.contains("NOT rolled back"));
}

#[test]
fn below_the_minimum_size_no_key_writes_and_the_console_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    app.too_small = true;
    let now = Instant::now();
    for code in [
        KeyCode::Char('+'),
        KeyCode::Char('X'),
        KeyCode::Char('X'),
        KeyCode::Char('='),
        KeyCode::Char('u'),
        KeyCode::Char(':'),
        KeyCode::Char('w'),
        KeyCode::Enter,
    ] {
        assert_eq!(app.on_key(key(code), now), Effect::None, "{code:?}");
        assert!(matches!(app.mode, beacon_console::tui::app::Mode::Matrix));
    }
    assert!(app.rollback_armed.is_none(), "X was not armed");
    assert!(app.status.clone().unwrap().0.contains("terminal too small"));
    // A dialog opened before the resize cannot be confirmed either.
    app.too_small = false;
    let c = console(dir.path(), false);
    press_plus(&mut app, &c, now);
    app.on_key(key(KeyCode::Right), now);
    app.too_small = true;
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::None);
    assert_eq!(app.on_key(key(KeyCode::Char('y')), now), Effect::None);
    // Quit and help still act.
    app.too_small = false;
    app.on_key(key(KeyCode::Esc), now);
    app.too_small = true;
    assert_eq!(app.on_key(key(KeyCode::Char('q')), now), Effect::Quit);
}

#[test]
fn ascii_mode_draws_every_screen_in_plain_ascii() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    app.ascii = true;
    let screen = render(&app, 80, 24, false);
    assert!(screen.is_ascii(), "{screen}");
    // Bars and sparklines still say how much: 25 % is not 0 %.
    assert!(
        screen.contains("RP ###..........  25%") || screen.contains("RP ###"),
        "{screen}"
    );
    assert!(screen.contains("us-east ok"), "{screen}");
    insta::assert_snapshot!("ascii_matrix_80x24", screen);
    let c = console(dir.path(), false);
    press_plus(&mut app, &c, Instant::now());
    let dialog = render(&app, 80, 23, false);
    assert!(dialog.is_ascii(), "{dialog}");
    insta::assert_snapshot!("ascii_confirm_80x23", dialog);
    let wide = render(&app, 160, 48, false);
    assert!(wide.is_ascii());
}

#[test]
fn colour_depth_follows_term_and_colorterm() {
    use beacon_console::tui::theme::Depth;
    assert_eq!(
        Depth::from_env(true, Some("truecolor"), Some("xterm-256color")),
        Depth::None
    );
    assert_eq!(
        Depth::from_env(false, Some("truecolor"), Some("xterm")),
        Depth::Truecolor
    );
    assert_eq!(
        Depth::from_env(false, None, Some("xterm-256color")),
        Depth::Indexed256
    );
    assert_eq!(
        Depth::from_env(false, None, Some("screen-256color")),
        Depth::Indexed256
    );
    assert_eq!(Depth::from_env(false, None, Some("xterm")), Depth::Ansi16);
    assert_eq!(Depth::from_env(false, None, Some("screen")), Depth::Ansi16);
    assert_eq!(Depth::from_env(false, None, Some("vt100")), Depth::None);
    assert_eq!(Depth::from_env(false, None, Some("dumb")), Depth::None);
}

/// Router traffic for `(model, region)` put into the app's figures; the cell.
fn with_traffic(
    app: &mut App,
    (model, region): (&str, &str),
    providers: &[(&str, f64, f64, f64, f64)],
) -> CellId {
    let cell = CellId::new(Id::from(model), Id::from(region));
    app.live
        .traffic
        .insert(cell.clone(), traffic(&cell, providers));
    cell
}

/// Router traffic for a cell: (provider, requests, errors, cold, p95 seconds).
fn traffic(
    cell: &CellId,
    providers: &[(&str, f64, f64, f64, f64)],
) -> beacon_console::telemetry::CellTraffic {
    use beacon_console::telemetry::scrape::ProviderTraffic;
    let requests: f64 = providers.iter().map(|p| p.1).sum();
    beacon_console::telemetry::CellTraffic {
        cell: cell.clone(),
        window: Duration::from_secs(10),
        age: Duration::from_secs(1),
        providers: providers
            .iter()
            .map(|&(p, n, e, c, p95)| {
                let t = ProviderTraffic {
                    requests: n,
                    errors: e,
                    cold: c,
                    p50_s: Some(p95 / 2.0),
                    p95_s: Some(p95),
                    p99_s: Some(p95 * 1.5),
                };
                (p.to_string(), t)
            })
            .collect(),
        requests,
        share: providers
            .iter()
            .map(|p| (p.0.to_string(), p.1 * 100.0 / requests))
            .collect(),
        error_percent: providers.iter().map(|p| p.2).sum::<f64>() * 100.0 / requests,
        latency: Default::default(),
    }
}

#[test]
fn an_outage_and_an_slo_breach_read_at_a_glance_with_and_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    // RunPod us-east in a full outage; qwen/eu-west slow and erroring.
    let us = with_traffic(
        &mut app,
        ("llama-3.2-1b", "us-east"),
        &[
            ("runpod", 60.0, 60.0, 0.0, 0.2),
            ("modal", 180.0, 0.0, 4.0, 1.7),
        ],
    );
    with_traffic(
        &mut app,
        ("qwen-2.5-1.5b", "eu-west"),
        &[
            ("runpod", 100.0, 0.0, 30.0, 9.7),
            ("modal", 100.0, 47.0, 0.0, 1.9),
        ],
    );
    let screen = render(&app, 80, 24, false);
    assert!(screen.contains("RP DOWN 100% err!!"), "{screen}");
    assert!(screen.contains("RP  9.7s!!"), "{screen}");
    assert!(screen.contains("MO  1.9s !47.0%!!"), "{screen}");
    insta::assert_snapshot!("outage_and_breach_mono_80x24", screen);
    insta::assert_snapshot!("outage_and_breach_80x23", render(&app, 80, 23, true));
    insta::assert_snapshot!("outage_and_breach_160x48", render(&app, 160, 48, true));
    app.ascii = true;
    let ascii = render(&app, 80, 24, false);
    assert!(ascii.is_ascii());
    insta::assert_snapshot!("outage_and_breach_ascii_80x24", ascii);
    // The detail view says it too, whole, at 80 columns.
    app.ascii = false;
    app.mode = Mode::Detail(Detail::new(us));
    let detail = render(&app, 80, 24, false);
    assert!(detail.contains("router err 100.0% · cold 0%"), "{detail}");
    assert!(
        detail.contains("router 10 s: 60 req · p95 200ms"),
        "{detail}"
    );
}

#[test]
fn a_rollback_onto_a_failing_fallback_and_a_shift_onto_a_failing_target_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    let now = Instant::now();
    // Modal in us-east in a full outage for llama; RunPod failing for qwen there.
    with_traffic(
        &mut app,
        ("llama-3.2-1b", "us-east"),
        &[
            ("runpod", 60.0, 0.0, 0.0, 0.2),
            ("modal", 180.0, 180.0, 0.0, 0.0),
        ],
    );
    with_traffic(
        &mut app,
        ("qwen-2.5-1.5b", "us-east"),
        &[
            ("runpod", 10.0, 5.0, 0.0, 0.3),
            ("modal", 100.0, 0.0, 0.0, 1.9),
        ],
    );
    // The whole us-east column to 5 %: llama gives traffic back to Modal,
    // the others give it to RunPod; each side is checked for every cell.
    type_text(&mut app, "/us-east", now);
    app.on_key(key(KeyCode::Enter), now);
    app.on_key(key(KeyCode::Char('a')), now);
    let Effect::PlanShift(selection, amount) = ({
        app.on_key(key(KeyCode::Char('=')), now);
        type_text(&mut app, "5", now);
        app.on_key(key(KeyCode::Enter), now)
    }) else {
        panic!("= plans a shift");
    };
    let snapshot = c.store.load().unwrap();
    let plan = ops::plan_shift(&c.profile, snapshot.routes(), &selection, amount, None).unwrap();
    app.propose_shift(snapshot, plan, amount);
    let dialog = render(&app, 80, 24, false);
    assert!(
        dialog.contains("runpod FAILING in qwen-2.5-1.5b/us-east (errors 50%)"),
        "{dialog}"
    );
    assert!(
        dialog.contains("modal FAILING in llama-3.2-1b/us-east (DOWN)"),
        "{dialog}"
    );
    insta::assert_snapshot!("shift_onto_failing_80x24", dialog);
    app.on_key(key(KeyCode::Esc), now);
    // X X: written first, then told loudly what it rolled back onto.
    let Some(request) = app.request_rollback(Selection::All, now) else {
        panic!("sent");
    };
    app.on_report(worker::handle(&c, request), now);
    let banner = app.banner.clone().expect("a banner");
    // What changed (one cell was off the fallback), not what was selected.
    assert!(
        banner.contains("ROLLED BACK 1 cell(s) to modal"),
        "{banner}"
    );
    assert!(
        banner.contains("BUT modal FAILING in llama-3.2-1b/us-east (DOWN)"),
        "{banner}"
    );
    assert_eq!(
        c.store.load().unwrap().revision(),
        2,
        "written, not delayed"
    );
    // The write's milliseconds vary: pinned for the snapshots.
    let pin = |text: &str| {
        let at = text.find(" ms ").unwrap_or(0);
        let start = text[..at].rfind("· ").map_or(at, |i| i + "· ".len());
        format!("{}1.0{}", &text[..start], &text[at..])
    };
    app.banner = app.banner.as_deref().map(pin);
    app.status = app.status.clone().map(|(t, tone)| (pin(&t), tone));
    insta::assert_snapshot!("rollback_onto_failing_80x24", render(&app, 80, 24, false));
    insta::assert_snapshot!("rollback_onto_failing_ascii_80x23", {
        app.ascii = true;
        render(&app, 80, 23, false)
    });
}

#[test]
fn the_demo_fault_menu_sets_rules_for_the_cursors_region() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let now = Instant::now();
    // Not on a real fleet.
    assert_eq!(app.on_key(key(KeyCode::Char('F')), now), Effect::None);
    assert!(
        app.status
            .clone()
            .unwrap()
            .0
            .contains("demo's simulator only")
    );
    app.session.sim_address = Some("http://127.0.0.1:40000".into());
    app.on_key(key(KeyCode::Char('F')), now);
    insta::assert_snapshot!("fault_menu_80x24", render(&app, 80, 24, false));
    let Effect::SetFaults(rules) = app.on_key(key(KeyCode::Char('1')), now) else {
        panic!("1 picks the first choice");
    };
    assert_eq!(rules.len(), 1);
    assert!(rules[0].outage);
    assert_eq!(rules[0].scope.region.as_deref(), Some("us-east"));
    let screen = render(&app, 120, 24, false);
    assert!(
        screen.contains("FAULTS: runpod outage in us-east"),
        "{screen}"
    );
    // At 80 columns the badge is a word (the menu names the faults) and the
    // header gives way by need: the applied count and an acting guard stay.
    app.guard.guard = Some(
        beacon_console::ops::guard::Guard::for_profile(
            &console(dir.path(), false).profile,
            Some(beacon_console::domain::guard::GuardMode::Rollback),
        )
        .unwrap(),
    );
    app.guard.role = Some(Ok(()));
    let screen = render(&app, 80, 24, false);
    let header = screen.lines().next().unwrap();
    assert!(header.contains(" FAULTS "), "{header}");
    assert!(header.contains("applied 2/3"), "{header}");
    assert!(header.contains("guard ARMED"), "{header}");
    app.on_key(key(KeyCode::Char('?')), now);
    assert!(render(&app, 80, 24, false).contains("simulator    http://127.0.0.1:40000"));
}

#[test]
fn small_things_from_the_drill() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let now = Instant::now();
    // Ctrl-C in `/` does not leave a filter behind while saying "cancelled".
    type_text(&mut app, "/apac", now);
    app.on_key(
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        now,
    );
    assert!(app.filter.is_empty());
    // A kept filter: Esc in the matrix clears it.
    type_text(&mut app, "/apac", now);
    app.on_key(key(KeyCode::Enter), now);
    assert_eq!(app.filter, "apac");
    app.on_key(key(KeyCode::Esc), now);
    assert!(app.filter.is_empty());
    // The legend is the help's second page.
    app.on_key(key(KeyCode::Char('?')), now);
    app.on_key(key(KeyCode::Char('?')), now);
    let legend = render(&app, 80, 24, false);
    assert!(legend.contains("w1/0/0"), "{legend}");
    insta::assert_snapshot!("legend_80x24", legend);
    app.on_key(key(KeyCode::Esc), now);
    // Read-only: no warmup (each request is a paid inference).
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_read_only(dir.path());
    assert_eq!(app.on_key(key(KeyCode::Char('w')), now), Effect::None);
    assert!(app.status.clone().unwrap().0.contains("READ-ONLY"));
}

fn app_read_only(dir: &std::path::Path) -> App {
    app(dir, true)
}

#[test]
fn a_reason_typed_in_the_dialog_goes_to_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    let now = Instant::now();
    press_plus(&mut app, &c, now);
    // Tab: the reason; letters are text there, `y` and `n` too.
    app.on_key(key(KeyCode::Tab), now);
    type_text(&mut app, "canary after bench, ticket 42 y n", now);
    insta::assert_snapshot!("confirm_with_reason_80x24", render(&app, 80, 24, false));
    // Enter moves on to Apply, a second Enter applies.
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::None);
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::Commit);
    commit_through_the_worker(&c, &mut app, now);
    let last = c.store.load().unwrap();
    let record = last.document.last_change().unwrap();
    assert_eq!(
        record.reason,
        "canary after bench, ticket 42 y n (console: Shift runpod one step up)"
    );
}

/// A screen at the acceptance's sizes and palettes: 80×23 and 160×48 in
/// colour, 80×24 in mono, and 80×24 in ASCII (which must be pure ASCII).
fn snapshot_everywhere(name: &str, app: &mut App) {
    insta::assert_snapshot!(format!("{name}_80x23"), render(app, 80, 23, true));
    insta::assert_snapshot!(format!("{name}_160x48"), render(app, 160, 48, true));
    insta::assert_snapshot!(format!("{name}_mono_80x24"), render(app, 80, 24, false));
    app.ascii = true;
    let ascii = render(app, 80, 24, false);
    app.ascii = false;
    assert!(ascii.is_ascii(), "{ascii}");
    insta::assert_snapshot!(format!("{name}_ascii_80x24"), ascii);
}

#[test]
fn a_stale_matrix_and_another_operators_change_at_every_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    let now = Instant::now();
    // Not read for 12 s (a store held elsewhere): the header says so.
    app.document.loaded_at = Some(now - Duration::from_secs(12));
    assert!(render(&app, 80, 24, false).contains("rev 1 (12 s old)"));
    snapshot_everywhere("stale_matrix", &mut app);
    // Another operator's rollback: who, when, what, why; the cell marked.
    commit_as_bob(&c, "p95 regression in us-east");
    app.on_report(worker::handle(&c, worker::Request::Load), now);
    let (text, tone) = app.status.clone().unwrap();
    // The change's time of day, pinned for the snapshot.
    let pinned = match text.split_once(" at ") {
        Some((head, tail)) => format!("{head} at 03:12:09Z{}", &tail[9..]),
        None => text,
    };
    app.status = Some((pinned, tone));
    snapshot_everywhere("news", &mut app);
}

#[test]
fn a_reason_after_two_dashes_on_the_command_line_goes_to_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    let now = Instant::now();
    // A rollback from the command line, with its reason.
    type_text(
        &mut app,
        ":rollback */us-east -- p95 regression after deploy",
        now,
    );
    let Effect::Rollback(selection) = app.on_key(key(KeyCode::Enter), now) else {
        panic!("a rollback");
    };
    let Some(request) = app.request_rollback(selection, now) else {
        panic!("sent");
    };
    app.on_report(worker::handle(&c, request), now);
    let record = c
        .store
        .load()
        .unwrap()
        .document
        .last_change()
        .cloned()
        .unwrap();
    assert_eq!(
        record.reason,
        "p95 regression after deploy (console: rollback of column us-east)"
    );
    // A shift: the reason is in its dialog, still editable.
    type_text(&mut app, ":shift mistral-7b/eu-west 5 -- canary", now);
    let Effect::PlanShift(selection, amount) = app.on_key(key(KeyCode::Enter), now) else {
        panic!("a shift to plan");
    };
    let snapshot = c.store.load().unwrap();
    let plan = ops::plan_shift(&c.profile, snapshot.routes(), &selection, amount, None).unwrap();
    app.propose_shift(snapshot, plan, amount);
    let Mode::Confirm(dialog) = &app.mode else {
        panic!("a dialog");
    };
    assert_eq!(dialog.reason().as_deref(), Some("canary"));
    // Anything else with a reason is refused in place.
    app.on_key(key(KeyCode::Esc), now);
    type_text(&mut app, ":undo -- because", now);
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::None);
    assert!(
        app.status
            .clone()
            .unwrap()
            .0
            .contains("goes with shift and rollback")
    );
}

#[test]
fn letters_never_act_on_the_dialogs_buttons() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    let c = console(dir.path(), false);
    let now = Instant::now();
    press_plus(&mut app, &c, now);
    // On Apply, a reason typed there by mistake neither applies nor cancels.
    app.on_key(key(KeyCode::Right), now);
    for ch in "yes no".chars() {
        assert_eq!(
            app.on_key(key(KeyCode::Char(ch)), now),
            Effect::None,
            "{ch}"
        );
        assert!(
            matches!(app.mode, Mode::Confirm(_)),
            "{ch} closed the dialog"
        );
    }
    // From Cancel (where a dialog opens), the first Tab goes to the reason.
    app.on_key(key(KeyCode::Left), now);
    app.on_key(key(KeyCode::Tab), now);
    type_text(&mut app, "yes", now);
    let Mode::Confirm(dialog) = &app.mode else {
        panic!("a dialog");
    };
    assert_eq!(dialog.reason().as_deref(), Some("yes"));
}

/// On an etcd store: the others connected, "applied" by the syncs'
/// acknowledgements (the routers' count beside it when they differ), and a
/// rollback a region has not applied past the deadline, named in its column
/// and the status line — in words, so that mono and ASCII say it too.
#[test]
fn a_region_that_has_not_applied_a_rollback_is_named() {
    use beacon_console::flags::{Presence, RegionAck};
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    app.session.acknowledgements = true;
    app.session.operator = "alice@bastion-1".into();
    let revision = app.document.revision;
    let ack = |region: &str, revision: u64| RegionAck {
        region: region.into(),
        revision,
        checked_at: "2026-11-29T03:00:00.000Z".into(),
        host: format!("router-{region}"),
        refused: None,
    };
    let presence = Presence {
        applied: vec![
            ack("us-east", revision),
            ack("eu-west", revision),
            ack("apac-sg", revision - 1),
        ],
        operators: vec!["alice@bastion-1".into(), "bob@bastion-2".into()],
    };
    let now = Instant::now();
    app.presence_read(Ok(presence), now);
    app.say(
        "ROLLED BACK 9 cell(s) to modal · rev 1 · 2.1 ms",
        Tone::Good,
    );
    app.await_apply(revision, now - Duration::from_secs(3));
    app.check_apply(now);
    let (status, tone) = app.status.clone().unwrap();
    assert!(
        status.contains("NOT APPLIED in apac-sg after 2.0 s (applied 2/3)"),
        "{status}"
    );
    assert_eq!(tone, Tone::Bad);
    let screen = render(&app, 80, 24, true);
    assert!(screen.contains("+ bob@bastion-2"), "{screen}");
    assert!(screen.contains("apac-sg NOT APPLIED"), "{screen}");
    insta::assert_snapshot!("not_applied_80x24", screen);
    app.ascii = true;
    insta::assert_snapshot!("not_applied_80x24_ascii_mono", render(&app, 80, 24, false));
    insta::assert_snapshot!("not_applied_120x30", render(&app, 120, 30, true));
    // A region with no acknowledgement at all has no sync: said so.
    let no_sync = Presence {
        applied: vec![ack("us-east", revision), ack("eu-west", revision)],
        operators: vec![
            "alice@bastion-1".into(),
            "alice@bastion-1".into(),
            "bob@bastion-2".into(),
        ],
    };
    app.presence_read(Ok(no_sync), now);
    let screen = render(&app, 80, 24, true);
    assert!(
        screen.contains("apac-sg NO SYNC") || screen.contains("apac-sg NOT APPLIED"),
        "{screen}"
    );
    // Alice's other console counts; her own does not.
    assert_eq!(
        app.other_operators(),
        vec!["alice@bastion-1", "bob@bastion-2"]
    );
    // Once it applies: done, with the time it took.
    let all = Presence {
        applied: vec![
            ack("us-east", revision),
            ack("eu-west", revision),
            ack("apac-sg", revision),
        ],
        operators: vec!["alice@bastion-1".into()],
    };
    app.presence_read(Ok(all), now);
    let (status, _) = app.status.clone().unwrap();
    assert!(status.contains("applied 3/3 in"), "{status}");
    assert!(!render(&app, 80, 24, true).contains("+ bob"));
}

/// The first `X` is answered on screen even while the store is out of
/// reach (its red line does not hide the "press X again").
#[test]
fn the_rollback_prompt_shows_over_a_store_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path(), false);
    app.document.store_error =
        Some("flag store unavailable: etcd at http://127.0.0.1:2379: tcp connect error".into());
    app.on_key(key(KeyCode::Char('X')), Instant::now());
    let screen = render(&app, 80, 24, false);
    assert!(screen.contains("again"), "{screen}");
    assert!(!screen.contains("FLAG STORE"), "the prompt first: {screen}");
}

/// The console's guard: armed (with the role), a trigger is a rollback of
/// exactly those cells through the worker, audited as `auto_rollback`, then
/// a banner and the bell; observing, a banner and the bell, nothing written.
#[test]
fn the_consoles_guard_rolls_back_the_triggered_cells_loudly() {
    use beacon_console::domain::guard::{Broken, GuardMode, Rule, Verdict};
    use beacon_console::ops::guard::{CellCheck, Check, Guard, Trigger};
    let dir = tempfile::tempdir().unwrap();
    let c = console(dir.path(), false);
    let mut app = app(dir.path(), false);
    let now = Instant::now();
    let cell = CellId::new(Id::from("llama-3.2-1b"), Id::from("us-east"));
    let why = "errors 100.0% > 1%".to_string();
    let check = Check {
        revision: app.document.revision,
        cells: vec![CellCheck {
            cell: cell.clone(),
            verdict: Verdict::Breach(vec![Broken {
                rule: Rule::Errors,
                text: why.clone(),
            }]),
            streak: 3,
        }],
        triggered: vec![Trigger {
            cell: cell.clone(),
            why: format!("{cell} {why} (3 checks in a row)"),
            action: GuardMode::Rollback,
        }],
        blind: Vec::new(),
    };
    // Observing: loud, and nothing asked of the store.
    app.guard.notifier = Some(beacon_console::ops::notify::Notifier::new(&c.profile));
    app.guard.guard = Some(Guard::for_profile(&c.profile, Some(GuardMode::Observe)).unwrap());
    assert!(app.guard_checked(&check).is_empty());
    // One notification of the breach; the same check again says nothing.
    let events = |app: &App| -> Vec<&'static str> {
        app.guard
            .outbox
            .iter()
            .map(|m| match m.event {
                beacon_console::ops::notify::Event::Breach => "breach",
                beacon_console::ops::notify::Event::AutoRollback => "auto_rollback",
                _ => "other",
            })
            .collect()
    };
    assert_eq!(events(&app), vec!["breach"]);
    app.guard_checked(&check);
    assert_eq!(events(&app), vec!["breach"]);
    assert!(
        app.banner
            .as_deref()
            .unwrap()
            .starts_with("GUARD ALERT (observing")
    );
    assert!(std::mem::take(&mut app.bell));
    app.banner = None;
    // Armed, but another process holds the role: it does not act here.
    app.guard.guard = Some(Guard::for_profile(&c.profile, Some(GuardMode::Rollback)).unwrap());
    app.guard.role = Some(Err("held by bob@bastion-2".into()));
    assert!(app.guard_checked(&check).is_empty());
    assert!(render(&app, 120, 30, false).contains("guard elsewhere"));
    // Armed with the role: exactly that cell, audited as the guard's.
    app.guard.role = Some(Ok(()));
    let requests = app.guard_checked(&check);
    assert!(
        matches!(requests[0], worker::Request::PublishCheck(_)),
        "the check published first: {requests:?}"
    );
    let [_, request] = <[_; 2]>::try_from(requests).expect("a rollback asked of the worker");
    let report = worker::handle(&c, request);
    app.on_report(report, now);
    let banner = app.banner.clone().unwrap();
    assert!(
        banner.starts_with("AUTO-ROLLBACK 1 cell(s) to modal · rev 2 at ")
            && banner.ends_with(
                "Z by this console's guard · llama-3.2-1b/us-east errors 100.0% > 1% (3 checks in a row)"
            ),
        "{banner}"
    );
    assert!(app.bell);
    let record = c
        .store
        .load()
        .unwrap()
        .document
        .last_change()
        .cloned()
        .unwrap();
    assert_eq!(record.action, beacon_console::domain::Action::AutoRollback);
    assert_eq!(record.changes.len(), 1);
    assert_eq!(record.changes[0].cell, cell);
    assert!(render(&app, 120, 30, false).contains("guard ARMED"));
    // The rollback's notification replaces the breach's (it says it too).
    assert_eq!(events(&app), vec!["auto_rollback"]);
    assert!(
        app.guard.outbox[0].text.contains("modal 100%"),
        "{}",
        app.guard.outbox[0].text
    );
}

/// `p`: the plan as the document carries it — its steps with the current
/// one marked, the hold's countdown, the gate per cell; `:plan pause`
/// through the worker.
#[test]
fn the_plan_view_shows_the_steps_the_hold_and_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let c = console(dir.path(), false);
    start_shipped_plan(&c);
    let mut app = new_app(&c).unwrap();
    app.ascii = false;
    app.clock = "03:12:09Z".into();
    let now = Instant::now();
    app.on_key(key(KeyCode::Char('p')), now);
    let Mode::Plan(view) = &app.mode else {
        panic!("the plan view");
    };
    let text = view.lines.join("\n");
    assert!(
        text.starts_with("plan research-order: stage US step 1/4 (5%), running"),
        "{text}"
    );
    assert!(
        text.contains("hold 600 s left") || text.contains("hold 599 s left"),
        "{text}"
    );
    assert!(
        text.contains("gate: this console's guard is disarmed"),
        "{text}"
    );
    let screen = render(&app, 80, 24, true);
    assert!(screen.contains(" plan · "), "{screen}");
    app.on_key(key(KeyCode::Esc), now);
    type_text(&mut app, ":plan pause -- p95 looks odd", now);
    let effect = app.on_key(key(KeyCode::Enter), now);
    let Effect::Plan(command) = effect else {
        panic!("a plan verb: {effect:?}");
    };
    let report = worker::handle(
        &c,
        worker::Request::Plan {
            command,
            reason: Some("p95 looks odd".into()),
            guard: false,
        },
    );
    app.on_report(report, now);
    let (said, _) = app.status.clone().unwrap();
    assert!(said.contains("stage US step 1/4 (5%), paused"), "{said}");
    assert_eq!(
        app.document.plan.as_ref().unwrap().status,
        beacon_console::domain::plan::PlanStatus::Paused
    );
    // Paused, the guard has nothing to hold; running, a hold pauses it.
    assert!(app.hold_plan("guard").is_none());
    app.document.plan.as_mut().unwrap().status = beacon_console::domain::plan::PlanStatus::Running;
    assert!(matches!(
        app.hold_plan("guard: its cells were rolled back"),
        Some(worker::Request::Plan { .. })
    ));
}

/// The console's guard steers a plan too, holding the role: a stage that
/// passed a whole hold is promoted — over the revision the check judged
/// only — and each cell in the canary shows the guard's verdict.
#[test]
fn the_consoles_guard_promotes_a_plan_by_its_gate() {
    use beacon_console::domain::guard::{GuardMode, Verdict};
    use beacon_console::ops::guard::{CellCheck, Check, Guard};
    let dir = tempfile::tempdir().unwrap();
    let c = console(dir.path(), false);
    let path = dir.path().join("us.toml");
    std::fs::write(
        &path,
        "name = \"us\"\n[[stages]]\nname = \"US\"\nregions = [\"us-east\"]\nsteps = [{ share = 50, hold_s = 0 }, { share = 100, hold_s = 0 }]\n",
    )
    .unwrap();
    let plan = beacon_console::config::load_plan(&path, &c.profile).unwrap();
    ops::plan::act(&c, &ops::plan::Verb::Start(plan), "day 1").unwrap();
    let mut app = new_app(&c).unwrap();
    app.guard.guard = Some(Guard::for_profile(&c.profile, Some(GuardMode::Hold)).unwrap());
    app.guard.role = Some(Ok(()));
    app.clock = "03:12:09Z".into();
    app.session.operator = "alice@bastion-1".into();
    app.guard.notifier = Some(beacon_console::ops::notify::Notifier::new(&c.profile));
    let cell = CellId::new(Id::from("llama-3.2-1b"), Id::from("us-east"));
    let check = |revision, verdict| Check {
        revision,
        cells: vec![CellCheck {
            cell: cell.clone(),
            verdict,
            streak: 0,
        }],
        triggered: Vec::new(),
        blind: Vec::new(),
    };
    // Too few requests is not a pass: the gate stays shut.
    let few = Verdict::Inconclusive {
        requests: 3.0,
        needed: 20,
    };
    let requests = app.guard_checked(&check(app.document.revision, few));
    assert!(
        matches!(requests[..], [worker::Request::PublishCheck(_)]),
        "{requests:?}"
    );
    assert!(render(&app, 120, 30, false).contains("G few"));
    // A pass over the (zero) hold: promoted, over the judged revision.
    let requests = app.guard_checked(&check(app.document.revision, Verdict::Pass));
    let [_, request] = <[_; 2]>::try_from(requests).expect("published, then promoted");
    assert!(matches!(request, worker::Request::PlanOver { .. }));
    assert!(render(&app, 120, 30, false).contains("G ok"));
    insta::assert_snapshot!("guard_marks_80x24", render(&app, 80, 24, false));
    app.on_report(worker::handle(&c, request), Instant::now());
    let state = app.document.plan.clone().unwrap();
    assert_eq!((state.stage, state.step), (0, 1), "{state:?}");
    // Notified once written: the step, its cells, who.
    let step = app
        .guard
        .outbox
        .iter()
        .find(|m| m.event == beacon_console::ops::notify::Event::PlanStep)
        .expect("a plan_step notification");
    assert!(
        step.text.contains("step 2/2 (100%)") && step.text.contains("alice@bastion-1"),
        "{}",
        step.text
    );
    let steps = ops::history(c.store.as_ref(), &c.audit, None)
        .unwrap()
        .lines()
        .join("\n");
    assert!(steps.contains("guard: the gate passed"), "{steps}");
    // A promotion over a revision that has moved on is refused, unwritten.
    let revision = app.document.revision;
    let stale = worker::handle(
        &c,
        worker::Request::PlanOver {
            revision: revision - 1,
            reason: "guard: the gate passed".into(),
        },
    );
    app.on_report(stale, Instant::now());
    assert_eq!(c.store.load().unwrap().revision(), revision);
    let (said, _) = app.status.clone().unwrap();
    assert!(said.contains("not promoted"), "{said}");
}

/// The plan view follows the plan while it is open: paused elsewhere (by
/// another operator or a guard), it says so at the next refresh.
#[test]
fn the_open_plan_view_follows_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let c = console(dir.path(), false);
    start_shipped_plan(&c);
    let mut app = new_app(&c).unwrap();
    let now = Instant::now();
    app.on_key(key(KeyCode::Char('p')), now);
    ops::plan::act(&c, &ops::plan::Verb::Pause, "bob: p95 looks odd").unwrap();
    app.on_report(worker::handle(&c, worker::Request::Load), now);
    app.refresh_plan_view(std::time::SystemTime::now());
    let Mode::Plan(view) = &app.mode else {
        panic!("still the plan view");
    };
    assert!(
        view.lines[0].ends_with("step 1/4 (5%), paused"),
        "{}",
        view.lines[0]
    );
}

/// `:plan resume` (or promote) would send the target more traffic where it
/// is failing: refused on the spot, naming where; `anyway` goes through.
#[test]
fn the_console_does_not_resume_a_plan_into_a_failing_provider() {
    let dir = tempfile::tempdir().unwrap();
    let c = console(dir.path(), false);
    start_shipped_plan(&c);
    ops::plan::act(&c, &ops::plan::Verb::Pause, "outage").unwrap();
    let mut app = new_app(&c).unwrap();
    let now = Instant::now();
    with_traffic(
        &mut app,
        ("llama-3.2-1b", "us-east"),
        &[
            ("runpod", 60.0, 60.0, 0.0, 0.2),
            ("modal", 180.0, 0.0, 0.0, 0.4),
        ],
    );
    type_text(&mut app, ":plan resume", now);
    assert_eq!(app.on_key(key(KeyCode::Enter), now), Effect::None);
    let (said, _) = app.status.clone().unwrap();
    assert!(
        said.contains("runpod FAILING in llama-3.2-1b/us-east (DOWN)")
            && said.contains(":plan resume anyway"),
        "{said}"
    );
    type_text(&mut app, ":plan resume anyway", now);
    let effect = app.on_key(key(KeyCode::Enter), now);
    assert_eq!(format!("{effect:?}"), "Plan(ResumeAnyway)");
}

/// Cells in the canary without data for a trigger's worth of checks: a
/// banner and the bell, once — never a pass, never a rollback.
#[test]
fn the_consoles_guard_says_when_it_is_blind() {
    use beacon_console::domain::guard::{GuardMode, Verdict};
    use beacon_console::ops::guard::{CellCheck, Check, Guard};
    let dir = tempfile::tempdir().unwrap();
    let c = console(dir.path(), false);
    let mut app = app(dir.path(), false);
    app.guard.guard = Some(Guard::for_profile(&c.profile, Some(GuardMode::Rollback)).unwrap());
    app.guard.role = Some(Ok(()));
    let cell = CellId::new(Id::from("llama-3.2-1b"), Id::from("us-east"));
    let why = "router us-east: connection refused".to_string();
    let check = Check {
        revision: app.document.revision,
        cells: vec![CellCheck {
            cell: cell.clone(),
            verdict: Verdict::NoData(why.clone()),
            streak: 0,
        }],
        triggered: Vec::new(),
        blind: vec![(cell.clone(), format!("{cell} {why}"))],
    };
    let requests = app.guard_checked(&check);
    assert!(
        requests
            .iter()
            .all(|r| matches!(r, worker::Request::PublishCheck(_))),
        "nothing but the check published: {requests:?}"
    );
    let banner = app.banner.clone().unwrap();
    assert!(
        banner.starts_with("GUARD BLIND: no data, nothing judged or rolled back there"),
        "{banner}"
    );
    assert!(std::mem::take(&mut app.bell));
    app.banner = None;
    app.guard_checked(&check);
    assert!(app.banner.is_none(), "said once");
    assert!(!app.bell);
}

/// The shipped plan (`plans/research-order.toml`) started on `c`.
fn start_shipped_plan(c: &Console) {
    let plan = beacon_console::config::load_plan(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/research-order.toml"),
        &c.profile,
    )
    .unwrap();
    ops::plan::act(c, &ops::plan::Verb::Start(plan), "day 1").unwrap();
}
