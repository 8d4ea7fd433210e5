//! The console: the live matrix on a terminal, keys to shift and roll back.
//! One thread runs everything (a single-threaded tokio runtime): keys arrive
//! from a reader thread, measurements from the monitor's tasks, and the
//! screen is redrawn only when something changed (a key, a resize, new
//! figures, the clock's second).

pub mod app;
pub mod command;
pub mod keymap;
pub mod live;
pub mod theme;
pub mod view;

use std::io::Write;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyEventKind};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

use crate::config::{Environment, StoreConfig};
use crate::domain::{Action, Selection};
use crate::ops::monitor::Monitor;
use crate::ops::{self, Console, OpsError};

use crate::telemetry::window::Outcome;
use app::{App, Effect, Mode, PendingKind, Tone};
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
    let store_label = match &profile.store {
        StoreConfig::File { .. } => "file".to_string(),
    };
    Ok(App {
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
        routes,
        revision: snapshot
            .as_ref()
            .map_or(0, crate::flags::Snapshot::revision),
        store_error,
        cursor: (0, 0),
        selected: Vec::new(),
        mode: Mode::Matrix,
        rollback_armed: None,
        status: None,
        banner: None,
        live: Live::default(),
        clock: clock(),
        keymap: Keymap::with_profile_keys(&profile.keys),
        scroll: 0,
        prices: profile
            .providers
            .iter()
            .map(|p| (p.id.clone(), p.price_per_second))
            .collect(),
        busy: None,
        quit_asked: false,
        filter: String::new(),
        themes: theme::names(),
    })
}

fn clock() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    // 2026-11-28T03:12:09Z → 03:12:09Z
    now.get(11..).unwrap_or(&now).to_string()
}

/// A rollback that failed to write, retried until it lands or is cancelled.
struct Retry {
    selection: Selection,
    next: Instant,
    delay: Duration,
}

pub fn run(console: Console, options: Options) -> Result<(), OpsError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OpsError::Unavailable(format!("cannot start the async runtime: {e}")))?;
    let mut app = new_app(&console)?;
    runtime.block_on(async {
        let monitor = Monitor::start(
            &console.profile,
            options.time_scale,
            Duration::from_secs(30),
        )
        .await?;
        if let Some((provider, why)) = monitor.clients.unavailable().iter().next() {
            app.say(
                format!("{provider} figures unavailable: {why} (rollback and shifts still work)"),
                Tone::Warn,
            );
        }
        // From here the terminal is ours; ratatui's panic hook gives it back
        // before the panic message is printed.
        let mut terminal = ratatui::try_init()
            .map_err(|e| OpsError::Unavailable(format!("cannot set up the terminal: {e}")))?;
        // On a panic: the terminal back and the cursor shown first, then
        // the message (ratatui's hook, then the default one).
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            ratatui::restore();
            let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
            previous(info);
        }));
        let result = event_loop(&console, &monitor, &mut app, &mut terminal, &options).await;
        ratatui::restore();
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
        monitor.stop().await;
        match result? {
            Ended::Quit => Ok(()),
            // The conventional 128 + n, after the terminal is given back.
            Ended::Signal(name, number) => Err(OpsError::Interrupted { name, number }),
        }
    })
}

type Term = Terminal<CrosstermBackend<std::io::Stdout>>;

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
                .map_err(|e| OpsError::Unavailable(format!("cannot watch {name}: {e}")))
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
    console: &Console,
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
    let mut ctx = Ctx {
        console,
        monitor,
        retry: None,
        warmups: warm_tx,
        warming: false,
    };
    let mut dirty = true;
    loop {
        app.busy = if ctx.retry.is_some() {
            Some("a rollback retry".to_string())
        } else if ctx.warming {
            Some("a warmup".to_string())
        } else {
            None
        };
        if dirty {
            draw(terminal, app, palette)?;
            dirty = false;
        }
        tokio::select! {
            event = input.recv() => {
                let Some(event) = event else { return Ok(Ended::Quit) };
                match event {
                    Event::Key(key) if key.kind != KeyEventKind::Release => {
                        let effect = app.on_key(key, Instant::now());
                        if key.code == crossterm::event::KeyCode::Esc && ctx.retry.is_some() {
                            ctx.retry = None;
                            app.banner = None;
                            app.say("rollback retries cancelled: the document was NOT rolled back", Tone::Bad);
                        }
                        if let Effect::Theme(name) = &effect {
                            match Theme::load(name) {
                                Ok(theme) => {
                                    palette = theme.at_depth(options.depth);
                                    app.say(format!("theme {name}"), Tone::Good);
                                }
                                Err(e) => app.say(e.to_string(), Tone::Bad),
                            }
                        }
                        match apply(&mut ctx, app, effect) {
                            Flow::Quit => return Ok(Ended::Quit),
                            Flow::Redraw => {
                                // A fresh Terminal has no previous frame, so the
                                // next draw repaints every cell. (Terminal::clear
                                // asks the terminal for the cursor position, an
                                // answer the key reader thread would swallow.)
                                let _ = crossterm::execute!(
                                    std::io::stdout(),
                                    crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
                                );
                                if let Ok(fresh) = Terminal::new(CrosstermBackend::new(std::io::stdout())) {
                                    *terminal = fresh;
                                }
                            }
                            Flow::Continue => {}
                        }
                        dirty = true;
                    }
                    Event::Resize(..) => dirty = true,
                    _ => {}
                }
            }
            _ = tick.tick() => {
                app.live = Live::gather(monitor).await;
                app.clock = clock();
                match console.store.load() {
                    Ok(snapshot) => {
                        app.store_error = None;
                        if snapshot.revision() != app.revision {
                            app.routes = snapshot.routes().clone();
                            app.revision = snapshot.revision();
                        }
                    }
                    Err(e) => app.store_error = Some(e.to_string()),
                }
                if app.rollback_armed.is_some() && !app.rollback_is_armed(Instant::now()) {
                    app.rollback_armed = None;
                    app.say("rollback not confirmed: nothing written", Tone::Info);
                }
                if let Some(r) = &mut ctx.retry
                    && Instant::now() >= r.next
                {
                    let selection = r.selection.clone();
                    match do_rollback(console, app, &selection) {
                        Ok(()) => {
                            ctx.retry = None;
                            app.banner = None;
                        }
                        Err(e) => {
                            r.delay = (r.delay * 2).min(Duration::from_secs(8));
                            r.next = Instant::now() + r.delay;
                            app.banner = Some(format!("ROLLBACK NOT WRITTEN: {e} — retrying in {} s, Esc cancels", r.delay.as_secs()));
                        }
                    }
                }
                dirty = true;
            }
            Some(event) = warm_rx.recv() => {
                match event {
                    WarmupEvent::Progress(done, total) => {
                        app.say(format!("warming up: {done}/{total} requests"), Tone::Info);
                    }
                    WarmupEvent::Done(summary) => {
                        ctx.warming = false;
                        app.say(summary, Tone::Good);
                    }
                }
                dirty = true;
            }
            ended = signals.next() => return Ok(ended),
        }
    }
}

fn draw(terminal: &mut Term, app: &mut App, palette: Theme) -> Result<(), OpsError> {
    let height = terminal.size().map(|s| s.height).unwrap_or(24);
    app.scroll = view::first_visible(app, height.saturating_sub(4));
    // Synchronized update: the terminal shows the frame whole or not at all.
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(out, crossterm::terminal::BeginSynchronizedUpdate);
    terminal
        .draw(|frame| view::draw(frame, app, palette))
        .map_err(|e| OpsError::Unavailable(format!("cannot draw: {e}")))?;
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
/// clients (for warmups) and the loop's bookkeeping.
struct Ctx<'a> {
    console: &'a Console,
    monitor: &'a Monitor,
    retry: Option<Retry>,
    warmups: mpsc::UnboundedSender<WarmupEvent>,
    warming: bool,
}

/// Progress and the end of a warmup running in the background.
enum WarmupEvent {
    Progress(usize, usize),
    Done(String),
}

fn apply(ctx: &mut Ctx, app: &mut App, effect: Effect) -> Flow {
    let console = ctx.console;
    let retry = &mut ctx.retry;
    match effect {
        Effect::Warmup(selection) => {
            if ctx.warming {
                app.say("a warmup is already running", Tone::Info);
                return Flow::Continue;
            }
            let clients = &ctx.monitor.clients;
            // Warm only what can be called; say what cannot.
            let skipped: Vec<String> = clients
                .unavailable()
                .iter()
                .map(|(provider, why)| format!("{provider} skipped ({why})"))
                .collect();
            match clients
                .targets(&console.profile, &selection, None)
                .map(|mut t| {
                    t.retain(|t| !clients.unavailable().contains_key(&t.provider));
                    t
                }) {
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
        // The loop swaps the theme: it owns the palette.
        Effect::None | Effect::Theme(_) => {}
        Effect::Quit => return Flow::Quit,
        Effect::Redraw => return Flow::Redraw,
        Effect::Suspend => {
            ratatui::restore();
            let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
            // SAFETY: raising a signal on our own process; SIGTSTP's default
            // action stops it, and execution continues here on SIGCONT.
            unsafe {
                libc::raise(libc::SIGTSTP);
            }
            let _ = crossterm::terminal::enable_raw_mode();
            let _ =
                crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen);
            return Flow::Redraw;
        }
        Effect::PlanShift(selection, amount) => {
            match console.store.load().inspect(|snapshot| {
                app.routes = snapshot.routes().clone();
                app.revision = snapshot.revision();
            }) {
                Ok(snapshot) => match ops::plan_shift(
                    &console.profile,
                    snapshot.routes(),
                    &selection,
                    amount,
                    Some(&app.target),
                ) {
                    Ok(plan) => app.propose_shift(snapshot, plan, amount),
                    Err(e) => app.say(e.to_string(), Tone::Bad),
                },
                Err(e) => app.say(e.to_string(), Tone::Bad),
            }
        }
        Effect::ShowDetail(cell) => {
            let wanted = format!(" {cell} ");
            let changes = ops::history(&console.audit, Some(1000))
                .map(|h| {
                    // An event line, then its cell lines: keep the events
                    // that touched this cell, with that cell's line.
                    let lines = crate::cli::output::history_lines(&h);
                    let mut out = Vec::new();
                    let mut event = None;
                    for line in lines {
                        if line.starts_with("rev") || line.starts_with("refused") {
                            event = Some(line);
                        } else if format!("{line} ").contains(&wanted)
                            && let Some(e) = event.take()
                        {
                            out.push(e);
                            out.push(line);
                        }
                    }
                    out
                })
                .unwrap_or_default();
            app.mode = Mode::Detail { cell, changes };
        }
        Effect::ShowHistory => match ops::history(&console.audit, Some(1000)) {
            Ok(history) => {
                let mut lines = crate::cli::output::history_lines(&history);
                if lines.is_empty() {
                    lines.push("no changes recorded yet".into());
                }
                for bad in &history.bad_lines {
                    lines.push(format!(
                        "audit line {} is unreadable: {}",
                        bad.line, bad.error
                    ));
                }
                app.mode = Mode::History { lines, offset: 0 };
            }
            Err(e) => app.say(e.to_string(), Tone::Bad),
        },
        Effect::PlanUndo => match console.store.load() {
            Ok(snapshot) => match ops::plan_undo(&snapshot) {
                Ok((routes, undone, changes)) => {
                    app.revision = snapshot.revision();
                    app.propose_undo(snapshot, routes, undone, changes);
                }
                Err(e) => app.say(e.to_string(), Tone::Bad),
            },
            Err(e) => app.say(e.to_string(), Tone::Bad),
        },
        Effect::Commit => commit_pending(console, app),
        Effect::Rollback(selection) => {
            if let Err(e) = do_rollback(console, app, &selection) {
                let delay = Duration::from_secs(1);
                app.banner = Some(format!(
                    "ROLLBACK NOT WRITTEN: {e} — retrying in 1 s, Esc cancels"
                ));
                *retry = Some(Retry {
                    selection,
                    next: Instant::now() + delay,
                    delay,
                });
            }
        }
    }
    Flow::Continue
}

/// Commits the change the dialog holds, if the document is still at the
/// revision it was based on; otherwise says who changed it, reloads, and
/// writes nothing.
pub fn commit_pending(console: &Console, app: &mut App) {
    let Some(pending) = app.take_pending() else {
        return;
    };
    let started = Instant::now();
    let (action, reason) = match pending.kind {
        PendingKind::Shift => (Action::Shift, format!("console: {}", pending.title)),
        PendingKind::Undo => (Action::Undo, format!("console: {}", pending.title)),
    };
    // Compare-and-swap against the document the dialog showed: if anyone
    // changed it since, the store refuses and says who, when and what.
    let result = console.commit(
        &pending.base,
        pending.routes.clone(),
        action,
        &reason,
        started,
    );
    match result {
        Ok(committed) => {
            app.routes = pending.routes;
            app.revision = committed.record.revision;
            app.selected.clear();
            app.say(
                format!(
                    "{}: {} cell(s) · rev {} · {:.1} ms",
                    pending.title,
                    pending.changes.len(),
                    committed.record.revision,
                    started.elapsed().as_secs_f64() * 1000.0
                ),
                Tone::Good,
            );
        }
        Err(e) => {
            if let Ok(s) = console.store.load() {
                app.routes = s.routes().clone();
                app.revision = s.revision();
            }
            app.say(e.to_string(), Tone::Bad);
        }
    }
}

/// Three requests to each endpoint of the selection, eight at a time; the
/// latencies also go into the cells' figures.
fn spawn_warmup(
    monitor: &Monitor,
    targets: Vec<crate::ops::load::Target>,
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
            crate::ops::load::drive(clients, &targets, 3, 8, Duration::from_secs(60), progress)
                .await;
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

fn do_rollback(console: &Console, app: &mut App, selection: &Selection) -> Result<(), OpsError> {
    let started = Instant::now();
    let reason = format!("console: rollback of {selection}");
    let done = ops::rollback(console, selection, &reason)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(s) = console.store.load() {
        app.routes = s.routes().clone();
        app.revision = s.revision();
        app.store_error = None;
    }
    if let Some(warning) = done
        .committed
        .as_ref()
        .and_then(|c| c.audit_warning.clone())
    {
        // Rolled back, but its audit line is pending: say both, loudly.
        app.banner = Some(format!(
            "ROLLED BACK {} cell(s) to {} · rev {} · {warning}",
            done.cells, app.fallback, done.revision
        ));
    }
    app.selected.clear();
    // Written first, warned after: the fallback's warmth never delays it.
    let cells = selection
        .resolve(&app.models, &app.regions)
        .unwrap_or_default();
    let cold = app.live.cold_regions(&app.fallback, &cells).warning();
    match done.committed {
        Some(_) => app.say(
            format!(
                "ROLLED BACK {} cell(s) to {} · rev {} · {ms:.1} ms{}",
                done.cells,
                app.fallback,
                done.revision,
                cold.as_ref()
                    .map(|w| format!(
                        " · {w}, press {} to warm",
                        app.keymap.label(keymap::Command::Warmup)
                    ))
                    .unwrap_or_default()
            ),
            if cold.is_some() {
                Tone::Warn
            } else {
                Tone::Good
            },
        ),
        None => app.say(
            format!(
                "already on {}: nothing to roll back (rev {})",
                app.fallback, done.revision
            ),
            Tone::Info,
        ),
    }
    Ok(())
}
