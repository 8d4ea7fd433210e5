//! The console: the live matrix on a terminal, keys to shift and roll back.
//! One thread runs everything (a single-threaded tokio runtime): keys arrive
//! from a reader thread, measurements from the monitor's tasks, and the
//! screen is redrawn only when something changed (a key, a resize, new
//! figures, the clock's second).

pub mod app;
pub(crate) mod ascii;
pub(crate) mod command;
pub(crate) mod faults;
pub(crate) mod guarding;
pub(crate) mod keymap;
pub mod live;
pub mod modes;
pub(crate) mod plan_view;
pub(crate) mod presence;
pub(crate) mod reading;
pub(crate) mod reports;
pub mod theme;
pub mod view;
pub mod worker;

use crate::failure::Failure;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyEventKind};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

use crate::config::{Environment, StoreConfig};
use crate::domain::Selection;
use crate::ops::monitor::Monitor;
use crate::ops::{Console, OpsError};

use crate::telemetry::window::Outcome;
use app::{App, DocumentView, Effect, Mode, Session, Tone};
use keymap::Keymap;
use live::Live;
use theme::{Depth, Theme};

pub struct Options {
    /// The theme, already brought down to `depth`.
    pub theme: Theme,
    /// What the terminal shows (NO_COLOR, `--color`): a theme switched to
    /// with `:theme` is brought down to it too.
    pub depth: Depth,
    pub time_scale: Option<f64>,
    /// `--ascii`: ASCII even where the locale says UTF-8.
    pub ascii: bool,
    /// `--guard MODE`: the guard's mode for this console (else the profile's).
    pub guard: Option<crate::domain::guard::GuardMode>,
}

/// The state the matrix starts from, for a console.
pub fn new_app(console: &Console) -> Result<App, OpsError> {
    let profile = &console.profile;
    // A store that cannot be read still opens the console (a rollback may be
    // what is needed), but says so instead of showing revision 0.
    let (snapshot, store_error) = match console.store.load() {
        Ok(snapshot) => (Some(snapshot), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let routes = snapshot.as_ref().map_or_else(
        || crate::domain::Routes::all_to(profile.cells(), profile.fallback.as_str()),
        |s| s.routes().clone(),
    );
    let target = profile
        .sole_target()
        .map(str::to_string)
        .or_else(|| {
            profile
                .providers
                .iter()
                .find(|p| p.id != profile.fallback)
                .map(|p| p.id.clone())
        })
        .unwrap_or_else(|| profile.fallback.clone());
    // What the document is read from: `file`, `etcd`, or a `copy`.
    let store_label = console
        .store
        .describe()
        .split_whitespace()
        .next()
        .unwrap_or("store")
        .to_string();
    Ok(App {
        session: Session {
            profile_name: profile.name.clone(),
            environment: match profile.environment {
                Environment::Demo => "demo",
                Environment::Staging => "staging",
                Environment::Production => "production",
            }
            .to_string(),
            production: profile.environment == Environment::Production,
            store_label,
            operator: format!("{}@{}", console.operator.user, console.operator.host),
            read_only: console.read_only,
            models: profile.model_ids(),
            regions: profile.region_ids(),
            fallback: profile.fallback.clone(),
            target,
            keymap: Keymap::with_profile_keys(&profile.keys),
            prices: profile
                .providers
                .iter()
                .map(|p| (p.id.clone(), p.price_per_second))
                .collect(),
            themes: theme::names(),
            slo: profile.slo.clone(),
            sim_address: None,
            acknowledgements: console.store.keeps_presence(),
            apply_deadline: match &profile.store {
                StoreConfig::Etcd(etcd) => etcd.apply_deadline,
                StoreConfig::File { .. } => presence::DEFAULT_APPLY_DEADLINE,
            },
        },
        presence: presence::PresenceView::default(),
        awaiting: None,
        guard: guarding::GuardView {
            guard: crate::ops::guard::Guard::for_profile(profile, None).ok(),
            ..guarding::GuardView::default()
        },
        bell: false,
        cursor: (0, 0),
        selected: Vec::new(),
        mode: Mode::Matrix,
        rollback_armed: None,
        status: None,
        banner: None,
        live: Live::default(),
        clock: clock(),
        scroll: 0,
        busy: None,
        quit_asked: false,
        filter: String::new(),
        too_small: false,
        planning: false,
        typed_reason: None,
        faults: faults::DemoFaults::default(),
        ascii: !ascii::locale_is_utf8(),
        rollback: None,
        document: DocumentView {
            routes,
            revision: snapshot
                .as_ref()
                .map_or(0, crate::flags::Snapshot::revision),
            store_error,
            load_in_flight: false,
            reload_wanted: false,
            plan: snapshot
                .as_ref()
                .and_then(|s| crate::ops::plan::state_of(&s.document).ok().flatten()),
            loaded_at: snapshot.as_ref().map(|_| std::time::Instant::now()),
            loaded_once: true,
            own_revisions: Vec::new(),
            news: None,
        },
    })
}

fn clock() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    // 2026-11-28T03:12:09Z → 03:12:09Z
    now.get(11..).unwrap_or(&now).to_string()
}

pub fn run(console: Console, options: Options) -> Result<(), OpsError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new("start the async runtime", e))?;
    let mut app = new_app(&console)?;
    app.ascii |= options.ascii;
    if options.guard.is_some() {
        app.guard.guard =
            crate::ops::guard::Guard::for_profile(&console.profile, options.guard).ok();
    }
    let console = Arc::new(console);
    runtime.block_on(async {
        let monitor = Monitor::start(
            &console.profile,
            options.time_scale,
            Duration::from_secs(30),
        )
        .await?;
        app.session.sim_address = monitor.clients.sim_base();
        // `status` beside this console can tell where the faults go; a
        // console or guard started beside it shares its simulator.
        let _announced = monitor.announce(&console.profile);
        if let Some(shared) = monitor.shared() {
            app.say(
                format!(
                    "demo: sharing the simulator of pid {} (its faults and this console's are the same)",
                    shared.pid
                ),
                Tone::Info,
            );
        }
        if let Some((provider, why)) = monitor.clients.unavailable().iter().next() {
            app.say(
                if console.read_only {
                    format!("{provider} figures unavailable: {why}")
                } else {
                    format!(
                        "{provider} figures unavailable: {why} (rollback and shifts still work)"
                    )
                },
                Tone::Warn,
            );
        }
        // From here the terminal is ours; ratatui's panic hook gives it back
        // before the panic message is printed.
        let mut terminal =
            ratatui::try_init().map_err(|e| Failure::new("set up the terminal", e))?;
        // A panic from here on gives the terminal back first (the binary's
        // panic hook calls give_back_terminal).
        TERMINAL_TAKEN.store(true, std::sync::atomic::Ordering::SeqCst);
        let result = event_loop(&console, &monitor, &mut app, &mut terminal, &options).await;
        give_back_terminal();
        monitor.stop().await;
        match result? {
            Ended::Quit => Ok(()),
            // The conventional 128 + n, after the terminal is given back.
            Ended::Signal(name, number) => Err(OpsError::Interrupted { name, number }),
        }
    })
}

type Term = Terminal<CrosstermBackend<std::io::Stdout>>;

/// Whether the console has the terminal (raw, alternate screen).
static TERMINAL_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Gives the terminal back if the console has it: main screen, cooked
/// mode, cursor shown. Safe to call from a panic hook, and more than once.
pub fn give_back_terminal() {
    if TERMINAL_TAKEN.swap(false, std::sync::atomic::Ordering::SeqCst) {
        ratatui::restore();
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
    }
}

/// How the event loop ended.
enum Ended {
    Quit,
    /// A signal that ends the process (SSH drop, `kill`, Ctrl-C or Ctrl-\
    /// sent from outside): the terminal is restored first.
    Signal(&'static str, i32),
}

/// The signals that end the console, each watched so that the terminal is
/// restored before the process goes (their default action would leave it
/// raw, in the alternate screen, cursor hidden).
struct EndSignals {
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl EndSignals {
    fn watch() -> Result<EndSignals, OpsError> {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = |name: &str, number: i32| {
            signal(SignalKind::from_raw(number))
                .map_err(|e| OpsError::from(Failure::new(format!("watch {name}"), e)))
        };
        Ok(EndSignals {
            hup: watch("SIGHUP", libc::SIGHUP)?,
            int: watch("SIGINT", libc::SIGINT)?,
            quit: watch("SIGQUIT", libc::SIGQUIT)?,
            term: watch("SIGTERM", libc::SIGTERM)?,
        })
    }

    /// The next of them to arrive.
    async fn next(&mut self) -> Ended {
        tokio::select! {
            _ = self.hup.recv() => Ended::Signal("SIGHUP", libc::SIGHUP),
            _ = self.int.recv() => Ended::Signal("SIGINT", libc::SIGINT),
            _ = self.quit.recv() => Ended::Signal("SIGQUIT", libc::SIGQUIT),
            _ = self.term.recv() => Ended::Signal("SIGTERM", libc::SIGTERM),
        }
    }
}

/// Keys and resizes from a blocking reader thread.
fn spawn_input() -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(event) = crossterm::event::read() {
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    rx
}

async fn event_loop(
    console: &Arc<Console>,
    monitor: &Monitor,
    app: &mut App,
    terminal: &mut Term,
    options: &Options,
) -> Result<Ended, OpsError> {
    let mut palette = options.theme;
    let mut input = spawn_input();
    let mut signals = EndSignals::watch()?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (warm_tx, mut warm_rx) = mpsc::unbounded_channel();
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let mut ctx = Ctx {
        console,
        monitor,
        webhook: webhook(console, app),
        store: worker::spawn(console.clone(), report_tx),
        warmups: warm_tx,
        warming: false,
    };
    let (_keep, mut changes) = follow_store(console, &app.session.operator);
    arm_guard(&ctx, app);
    let mut dirty = true;
    let mut typeahead = std::collections::VecDeque::new();
    // Fault injection for the tests of the panic path (terminal restored
    // first, then color-eyre's report).
    if std::env::var_os("BEACON_PANIC_AFTER_FIRST_FRAME").is_some() {
        draw(terminal, app, palette)?;
        panic!("panic requested by BEACON_PANIC_AFTER_FIRST_FRAME");
    }
    loop {
        app.busy = if app.rollback.is_some() {
            Some("a rollback that is not written yet".to_string())
        } else if ctx.warming {
            Some("a warmup".to_string())
        } else {
            None
        };
        if dirty {
            draw(terminal, app, palette)?;
            dirty = false;
        }
        if std::mem::take(&mut app.bell) {
            ring_bell();
        }
        tokio::select! {
            event = input.recv() => {
                let Some(event) = event else { return Ok(Ended::Quit) };
                match event {
                    // Typed ahead while a dialog is being planned: kept for
                    // the dialog, never applied to the matrix under it.
                    Event::Key(key) if key.kind != KeyEventKind::Release && app.planning => {
                        typeahead.push_back(key);
                    }
                    Event::Key(key) if key.kind != KeyEventKind::Release => {
                        match key_pressed(&mut ctx, app, key, &mut palette, options) {
                            Flow::Quit => return Ok(Ended::Quit),
                            Flow::Redraw => repaint(terminal),
                            Flow::Continue => {}
                        }
                        dirty = true;
                    }
                    Event::Resize(..) => dirty = true,
                    _ => {}
                }
            }
            _ = tick.tick() => {
                on_tick(&ctx, app).await;
                dirty = true;
            }
            // Another operator's change, a region's acknowledgement, the
            // store back after being away: read now, not at the next tick.
            Some(()) = changes.recv() => {
                while changes.try_recv().is_ok() {}
                read_again(&ctx, app);
            }
            Some(report) = reports.recv() => {
                if let Some(request) = app.on_report(report, Instant::now()) {
                    ctx.send(request);
                }
                while !app.planning && let Some(key) = typeahead.pop_front() {
                    match key_pressed(&mut ctx, app, key, &mut palette, options) {
                        Flow::Quit => return Ok(Ended::Quit),
                        Flow::Redraw => repaint(terminal),
                        Flow::Continue => {}
                    }
                }
                dirty = true;
            }
            Some(event) = warm_rx.recv() => {
                match event {
                    // Progress never hides the quit question.
                    WarmupEvent::Progress(done, total) if !app.quit_asked => {
                        app.say(format!("warming up: {done}/{total} requests"), Tone::Info);
                    }
                    WarmupEvent::Progress(..) => {}
                    WarmupEvent::Done(summary) => {
                        ctx.warming = false;
                        app.say(summary, Tone::Good);
                    }
                    WarmupEvent::Note(text) => app.say(text, Tone::Warn),
                    WarmupEvent::Faults(rules) => app.faults.in_force(rules),
                }
                dirty = true;
            }
            ended = signals.next() => return Ok(ended),
        }
    }
}

/// A key: to the state, then what it asks of the runner.
fn key_pressed(
    ctx: &mut Ctx,
    app: &mut App,
    key: crossterm::event::KeyEvent,
    palette: &mut Theme,
    options: &Options,
) -> Flow {
    // The size now, not at the last frame: a key must not act on a screen
    // the operator no longer sees.
    if let Ok((w, h)) = crossterm::terminal::size() {
        app.too_small = w < view::MIN_WIDTH || h < view::MIN_HEIGHT;
    }
    let effect = app.on_key(key, Instant::now());
    if let Effect::Theme(name) = &effect {
        match Theme::load(name) {
            Ok(theme) => {
                *palette = theme.at_depth(options.depth);
                app.say(format!("theme {name}"), Tone::Good);
            }
            Err(e) => app.say(e.to_string(), Tone::Bad),
        }
    }
    apply(ctx, app, effect)
}

/// Each second: new figures, the clock, a reload of the document (unless
/// one is still with the worker), a rollback retry that is due.
async fn on_tick(ctx: &Ctx<'_>, app: &mut App) {
    let now = Instant::now();
    app.live = Live::gather(ctx.monitor, app.document.revision).await;
    app.clock = clock();
    read_again(ctx, app);
    app.check_apply(now);
    if !ctx.console.read_only && app.guard.role_retry_due(now) {
        ctx.send(worker::Request::TakeGuard);
    }
    if app.guard_due(now)
        && let Some(mut guard) = app.guard.guard.take()
    {
        let check = guard
            .check_routes(&app.document.routes, app.document.revision, ctx.monitor)
            .await;
        app.guard.guard = Some(guard);
        for request in app.guard_checked(&check) {
            ctx.send(request);
        }
    }
    send_notifications(ctx, app);
    app.refresh_plan_view(std::time::SystemTime::now());
    if ctx.monitor.shared_gone() {
        shared_simulator_gone(ctx, app);
    } else {
        read_faults(ctx, app);
    }
    if app.rollback_armed.is_some() && !app.rollback_is_armed(now) {
        app.rollback_armed = None;
        app.say("rollback not confirmed: nothing written", Tone::Info);
    }
    if app.document.news.as_ref().is_some_and(|n| now >= n.until) {
        app.document.news = None;
    }
    if let Some(request) = app.due_rollback(now) {
        ctx.send(request);
    }
}

/// The demo simulator this console shared is gone, and its figures with
/// it: said once; an acting guard lets its role go (blind, it must not keep
/// a guard that can see from acting) and only observes from then on.
fn shared_simulator_gone(ctx: &Ctx<'_>, app: &mut App) {
    let Some(shared) = ctx.monitor.shared() else {
        return;
    };
    if app.guard.sim_gone {
        return;
    }
    app.guard.sim_gone = true;
    if app.guard.needs_role() {
        if let Some(guard) = app.guard.guard.as_mut() {
            guard.mode = crate::domain::guard::GuardMode::Observe;
        }
        app.guard.role = None;
        ctx.send(worker::Request::ReleaseGuard);
    }
    app.alert(format!(
        "the demo simulator of pid {} is gone: no figures from here on, the guard let its role go — quit and start the console again",
        shared.pid
    ));
}

/// Armed, the console's guard needs the role (the store worker takes it
/// and keeps it); read-only it cannot act.
fn arm_guard(ctx: &Ctx<'_>, app: &mut App) {
    if !app.guard.needs_role() {
        return;
    }
    if ctx.console.read_only {
        // It cannot act: it observes, and says so (never "elsewhere", as if
        // another process guarded).
        if let Some(guard) = app.guard.guard.as_mut() {
            guard.mode = crate::domain::guard::GuardMode::Observe;
        }
        app.say(
            "READ-ONLY: the guard only observes here (it cannot roll back or hold a plan)",
            Tone::Warn,
        );
    } else {
        ctx.send(worker::Request::TakeGuard);
    }
}

/// The webhook the guard's notifications go to, where the profile has one
/// that can be read (else said once, and notifications are off).
fn webhook(console: &Console, app: &mut App) -> Option<crate::providers::ProviderUrl> {
    match crate::ops::notify::webhook_url(&console.profile) {
        Ok(url) => {
            if url.is_some() {
                app.guard.notifier = Some(crate::ops::notify::Notifier::new(&console.profile));
            }
            url
        }
        Err(why) => {
            app.say(format!("{why}; notifications are off"), Tone::Warn);
            None
        }
    }
}

/// The guard's notifications, posted by a task of their own (network I/O
/// never runs on the UI task); a failure is said without the URL.
fn send_notifications(ctx: &Ctx<'_>, app: &mut App) {
    let messages = std::mem::take(&mut app.guard.outbox);
    let Some(url) = ctx.webhook.clone() else {
        return;
    };
    if messages.is_empty() {
        return;
    }
    let http = ctx.monitor.clients.http();
    tokio::spawn(async move {
        for message in &messages {
            let _ = crate::ops::notify::send(&http, &url, message).await;
        }
    });
}

/// An automatic action: the bell, after the frame that says it.
fn ring_bell() {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x07");
    let _ = out.flush();
}

/// Changes the store tells of (etcd's watch), and this console announced as
/// connected. The sender is kept where the store cannot watch, so that the
/// channel stays open (and quiet).
fn follow_store(
    console: &Console,
    operator: &str,
) -> (mpsc::UnboundedSender<()>, mpsc::UnboundedReceiver<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let notify = tx.clone();
    console.store.subscribe(Box::new(move || {
        let _ = notify.send(());
    }));
    // A read-only console writes nothing, not even that it is there.
    if !console.read_only {
        console.store.announce_operator(operator);
    }
    (tx, rx)
}

/// Asks the worker for the document (and the regions' acknowledgements and
/// the operators, where the store keeps them), unless a read is still out:
/// then once more after it.
fn read_again(ctx: &Ctx<'_>, app: &mut App) {
    if app.document.load_in_flight {
        app.document.reload_wanted = true;
    } else {
        app.document.load_in_flight = true;
        ctx.send(worker::Request::Load);
    }
    if app.session.acknowledgements && !app.presence.in_flight {
        app.presence.in_flight = true;
        ctx.send(worker::Request::Presence);
    }
}

/// Repaints every cell: a fresh Terminal has no previous frame. (Terminal::
/// clear asks the terminal for the cursor position, an answer the key
/// reader thread would swallow.)
fn repaint(terminal: &mut Term) {
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    );
    if let Ok(fresh) = Terminal::new(CrosstermBackend::new(std::io::stdout())) {
        *terminal = fresh;
    }
}

fn draw(terminal: &mut Term, app: &mut App, palette: Theme) -> Result<(), OpsError> {
    let size = terminal.size().unwrap_or_default();
    let height = size.height;
    app.too_small = size.width < view::MIN_WIDTH || size.height < view::MIN_HEIGHT;
    app.scroll = view::first_visible(app, height.saturating_sub(4));
    // Synchronized update: the terminal shows the frame whole or not at all.
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(out, crossterm::terminal::BeginSynchronizedUpdate);
    terminal
        .draw(|frame| view::draw(frame, app, palette))
        .map_err(|e| Failure::new("draw", e))?;
    let _ = crossterm::execute!(out, crossterm::terminal::EndSynchronizedUpdate);
    let _ = out.flush();
    Ok(())
}

enum Flow {
    Continue,
    Redraw,
    Quit,
}

/// What the key handlers need besides the state: the console, the monitor's
/// clients (for warmups), the store worker and the loop's bookkeeping.
struct Ctx<'a> {
    console: &'a Arc<Console>,
    monitor: &'a Monitor,
    /// `[notify] webhook`, when set and readable.
    webhook: Option<crate::providers::ProviderUrl>,
    store: std::sync::mpsc::Sender<worker::Request>,
    warmups: mpsc::UnboundedSender<WarmupEvent>,
    warming: bool,
}

impl Ctx<'_> {
    /// To the store worker (it lives as long as the loop).
    fn send(&self, request: worker::Request) {
        let _ = self.store.send(request);
    }
}

/// What background work (warmups, the demo's faults) reports.
enum WarmupEvent {
    Progress(usize, usize),
    Done(String),
    /// A line for the status (the demo's faults were set, or not).
    Note(String),
    /// The demo simulator's faults in force, as it answered.
    Faults(Vec<crate::sim::Fault>),
}

fn apply(ctx: &mut Ctx, app: &mut App, effect: Effect) -> Flow {
    use worker::Request;
    match effect {
        Effect::Warmup(selection) => start_warmup(ctx, app, selection),
        // The loop swaps the theme: it owns the palette.
        Effect::None | Effect::Theme(_) => {}
        Effect::Quit => return Flow::Quit,
        Effect::Redraw => return Flow::Redraw,
        Effect::Suspend => {
            suspend();
            return Flow::Redraw;
        }
        Effect::PlanShift(selection, amount) => {
            app.planning = true;
            ctx.send(Request::PlanShift {
                selection,
                amount,
                provider: app.session.target.clone(),
            });
        }
        Effect::ShowDetail(cell) => {
            app.mode = Mode::Detail(modes::Detail::new(cell.clone()));
            ctx.send(Request::CellHistory(cell));
        }
        Effect::ShowHistory => ctx.send(Request::History),
        Effect::PlanUndo => {
            app.planning = true;
            ctx.send(Request::PlanUndo);
        }
        Effect::Commit => {
            if let Some(pending) = app.take_pending() {
                app.say(format!("writing: {}…", pending.title), Tone::Info);
                ctx.send(Request::Commit(Box::new(pending)));
            }
        }
        Effect::SetFaults(rules) => send_faults(ctx, app, rules),
        Effect::Rollback(selection) => {
            app.say(format!("rolling back {selection}…"), Tone::Warn);
            if let Some(request) = app.request_rollback(selection, Instant::now()) {
                ctx.send(request);
            }
        }
        Effect::Plan(command) => {
            let reason = app.typed_reason.take();
            ctx.send(Request::Plan {
                command,
                reason,
                guard: false,
            });
        }
        Effect::ForceRollback => {
            app.say(
                "rolling back all cells over the unreadable document…",
                Tone::Warn,
            );
            if let Some(request) = app.request_force_rollback(Instant::now()) {
                ctx.send(request);
            }
        }
    }
    Flow::Continue
}

/// Ctrl-Z: the terminal back to the shell until `fg`.
// One of the two reasoned exceptions to `unsafe_code = "deny"`: std has no
// way to raise a signal on the own process.
#[allow(unsafe_code)]
fn suspend() {
    ratatui::restore();
    let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
    // SAFETY: raising a signal on our own process; SIGTSTP's default
    // action stops it, and execution continues here on SIGCONT.
    unsafe {
        libc::raise(libc::SIGTSTP);
    }
    let _ = crossterm::terminal::enable_raw_mode();
    let _ = crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen);
}

fn start_warmup(ctx: &mut Ctx, app: &mut App, selection: Selection) {
    if ctx.warming {
        app.say("a warmup is already running", Tone::Info);
        return;
    }
    let clients = &ctx.monitor.clients;
    // Warm only what can be called; say what cannot.
    let skipped: Vec<String> = clients
        .unavailable()
        .iter()
        .map(|(provider, why)| format!("{provider} skipped ({why})"))
        .collect();
    let targets = clients
        .targets(&ctx.console.profile, &selection, None)
        .map(|mut t| {
            t.retain(|t| !clients.unavailable().contains_key(&t.provider));
            t
        });
    match targets {
        Ok(targets) if !targets.is_empty() => {
            ctx.warming = true;
            spawn_warmup(ctx.monitor, targets, selection, ctx.warmups.clone());
            if skipped.is_empty() {
                app.say("warming up…", Tone::Info);
            } else {
                app.say(format!("warming up… {}", skipped.join("; ")), Tone::Warn);
            }
        }
        Ok(_) => app.say("no endpoints to warm there", Tone::Info),
        Err(e) => app.say(e.to_string(), Tone::Bad),
    }
}

/// Three requests to each endpoint of the selection, eight at a time; the
/// latencies also go into the cells' figures.
fn spawn_warmup(
    monitor: &Monitor,
    targets: Vec<crate::fleet::Target>,
    selection: Selection,
    events: mpsc::UnboundedSender<WarmupEvent>,
) {
    let clients = monitor.clients.clone();
    let telemetry = monitor.telemetry.clone();
    tokio::spawn(async move {
        let progress_events = events.clone();
        let progress: std::sync::Arc<dyn Fn(usize, usize) + Send + Sync> =
            std::sync::Arc::new(move |done, total| {
                let _ = progress_events.send(WarmupEvent::Progress(done, total));
            });
        let samples =
            crate::fleet::drive(clients, &targets, 3, 8, Duration::from_secs(60), progress).await;
        let (mut requests, mut cold, mut errors) = (0, 0, 0);
        for (target, samples) in targets.iter().zip(&samples) {
            for s in samples {
                requests += 1;
                let was_cold = s.cold_ms.is_some_and(|c| c >= 500);
                cold += usize::from(was_cold);
                errors += usize::from(s.error.is_some());
                telemetry.record_sample(
                    &target.cell,
                    &target.provider,
                    Outcome {
                        latency: s.latency,
                        error: s.error,
                        cold: was_cold,
                        delay_ms: s.cold_ms,
                    },
                );
            }
        }
        let _ = events.send(WarmupEvent::Done(format!(
            "warmed {selection}: {requests} requests to {} endpoints, {cold} cold start(s), {errors} error(s)",
            targets.len()
        )));
    });
}

/// On the demo, the simulator's faults in force, asked each tick by a task
/// of its own (another console sharing the simulator may change them).
fn read_faults(ctx: &Ctx, app: &App) {
    let Some(address) = app.session.sim_address.clone() else {
        return;
    };
    let http = ctx.monitor.clients.http();
    let events = ctx.warmups.clone();
    tokio::spawn(async move {
        let Ok(url) = crate::providers::ProviderUrl::parse(&format!("{address}/sim/faults")) else {
            return;
        };
        let headers = http::HeaderMap::new();
        let answer = http
            .json::<Vec<crate::sim::Fault>>(http::Method::GET, &url, &headers, Vec::new().into())
            .await;
        if let Ok(rules) = answer {
            let _ = events.send(WarmupEvent::Faults(rules));
        }
    });
}

/// Sends the demo simulator its whole fault list, off the UI task; the
/// answer comes back as a status line.
fn send_faults(ctx: &Ctx, app: &mut App, rules: Vec<crate::sim::Fault>) {
    let Some(address) = app.session.sim_address.clone() else {
        return;
    };
    let http = ctx.monitor.clients.http();
    let events = ctx.warmups.clone();
    let summary = app
        .faults
        .summary()
        .unwrap_or_else(|| "faults cleared".to_string());
    tokio::spawn(async move {
        let url = crate::providers::ProviderUrl::parse(&format!("{address}/sim/faults"));
        let body = serde_json::to_vec(&rules).unwrap_or_default();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let sent = match url {
            Ok(url) => http
                .json::<serde_json::Value>(http::Method::POST, &url, &headers, body.into())
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        let text = match sent {
            Ok(()) => format!("demo {summary} (the simulator answers accordingly)"),
            Err(e) => format!("the simulator refused the faults: {e}"),
        };
        let _ = events.send(WarmupEvent::Note(text));
    });
}
