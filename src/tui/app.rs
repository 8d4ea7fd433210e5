//! The console's state and what each key does to it. No terminal here: keys
//! go in, effects (commits, quit) come out, and the view draws the state.

use std::time::{Duration, Instant};

use crate::domain::{CellChange, CellId, Direction, Id, PerMille, Routes, Selection};
use crate::flags::Snapshot;
use crate::ops::{ShiftAmount, ShiftPlan};

use super::command::{self, Action};
use super::keymap::{Command, Keymap};
use super::live::Live;

/// `X` must be pressed again within this to roll back.
pub const ROLLBACK_WINDOW: Duration = Duration::from_secs(3);

use super::modes::{Confirm, Detail, FaultMenu, GiveUp, Help, Hint, History, Line, Page, Reply};
pub use super::modes::{Focus, Pending, PendingKind, Prompt};

/// What the console shows and its keys do: the matrix, or one component.
#[derive(Debug, Clone)]
pub enum Mode {
    Matrix,
    Confirm(Confirm),
    /// Give up a pending rollback's retries? (Keep retrying focused.)
    GiveUpRollback(GiveUp),
    /// The demo's fault menu.
    Faults(FaultMenu),
    Help(Help),
    /// Typing on the bottom line: an exact share, a `:` command, a `/` filter.
    Input(Line),
    /// One cell in detail, with the audit lines about it.
    Detail(Detail),
    /// The audit history as lines, scrolled.
    History(History),
    /// The cutover plan as lines (`p`), scrolled.
    Plan(History),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Good,
    Warn,
    Bad,
}

/// What the runner must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Nothing to do beyond drawing the new state.
    None,
    Quit,
    /// Repaint the whole screen (Ctrl-L).
    Redraw,
    /// Give the terminal back and stop (Ctrl-Z); redraw on resume.
    Suspend,
    /// Plan a shift of the selection (the runner has the profile and store).
    PlanShift(Selection, ShiftAmount),
    PlanUndo,
    ShowHistory,
    ShowDetail(CellId),
    Warmup(Selection),
    /// Commit the pending change.
    Commit,
    /// Send the demo simulator this whole list of fault rules.
    SetFaults(Vec<crate::sim::Fault>),
    Rollback(Selection),
    /// Every cell to the fallback whatever the document's state (`:rollback force`).
    ForceRollback,
    /// A cutover plan's verb (`:plan …`).
    Plan(super::command::PlanCommand),
    /// Switch to a theme by name (`:theme`).
    Theme(String),
}

/// What one run of the console is about, fixed from start to end: the
/// profile's ids and prices, the operator, the keys, the SLO.
pub struct Session {
    pub profile_name: String,
    pub environment: String,
    pub production: bool,
    pub store_label: String,
    pub operator: String,
    pub read_only: bool,
    pub models: Vec<Id>,
    pub regions: Vec<Id>,
    pub fallback: String,
    /// The provider traffic is shifted to (the one that is not the fallback).
    pub target: String,
    pub keymap: Keymap,
    /// Price per second of each provider, for cost per 1k inferences.
    pub prices: Vec<(String, f64)>,
    /// Theme names `:theme` accepts.
    pub themes: Vec<String>,
    /// What the figures are judged against.
    pub slo: crate::config::SloConfig,
    /// The embedded simulator's address, on the demo.
    pub sim_address: Option<String>,
    /// The store keeps the regions' acknowledgements and the operators
    /// connected (etcd): "applied" counts them, and a rollback waits for them.
    pub acknowledgements: bool,
    /// A region that has not applied a rollback by then is shown in red.
    pub apply_deadline: Duration,
}

/// The routing document as the console last read it, and what it knows
/// about how it got there.
pub struct DocumentView {
    pub routes: Routes,
    pub revision: u64,
    /// The flag store cannot be read (missing or damaged document, store
    /// down): the splits shown are not known to be the routers'. Cleared by
    /// the next good load.
    pub store_error: Option<String>,
    /// A load of the document is with the store worker.
    pub load_in_flight: bool,
    /// The store told of a change while a load was out: load again after.
    pub reload_wanted: bool,
    /// When the document was last read (the matrix's age).
    pub loaded_at: Option<Instant>,
    pub loaded_once: bool,
    /// Revisions this console committed (others' are news).
    pub own_revisions: Vec<u64>,
    /// The cells another operator just changed, marked for a few seconds.
    pub news: Option<super::reports::News>,
    /// The cutover plan's state, as the document carries it.
    pub plan: Option<crate::domain::plan::PlanState>,
}

/// The matrix and everything shown around it.
pub struct App {
    /// What this run is: fixed from start to end.
    pub session: Session,
    /// The routing document as this console last read it.
    pub document: DocumentView,
    pub cursor: (usize, usize),
    pub selected: Vec<CellId>,
    pub mode: Mode,
    pub rollback_armed: Option<Instant>,
    pub status: Option<(String, Tone)>,
    /// A failed rollback: stays until acknowledged.
    pub banner: Option<String>,
    pub live: Live,
    pub clock: String,
    pub scroll: usize,
    /// What is in flight (a warmup, rollback retries), if anything: quitting
    /// then asks first.
    pub busy: Option<String>,
    /// `q` was pressed once while busy.
    pub quit_asked: bool,
    /// Shows only the cells whose `model/region` contains this (`/`).
    pub filter: String,
    /// The terminal is below the minimum size: the console is not on the
    /// screen, so no key but quit, help and redraw may act.
    pub too_small: bool,
    /// A dialog is being planned by the store worker: keys typed meanwhile
    /// wait for it.
    pub planning: bool,
    /// A reason given on the command line (`-- why`), for the next dialog
    /// or rollback.
    pub typed_reason: Option<String>,
    /// Draw in ASCII only (the locale is not UTF-8, or `--ascii`).
    pub ascii: bool,
    /// The demo's faults in force (set from the fault menu).
    pub faults: super::faults::DemoFaults,
    /// A rollback not yet written: retried until it lands.
    pub rollback: Option<super::reports::PendingRollback>,
    /// The regions' acknowledgements and the operators connected.
    pub presence: super::presence::PresenceView,
    /// A rollback written and not yet applied everywhere.
    pub awaiting: Option<super::presence::AwaitApply>,
    /// The guardrails as this console runs them.
    pub guard: super::guarding::GuardView,
    /// Ring the terminal's bell at the next frame (an automatic action).
    pub bell: bool,
}

impl App {
    pub fn cell_at(&self, (row, col): (usize, usize)) -> CellId {
        CellId::new(
            self.session.models[row].clone(),
            self.session.regions[col].clone(),
        )
    }

    pub fn current(&self) -> CellId {
        self.cell_at(self.cursor)
    }

    /// Whether `region` applies the revision shown: its sync's
    /// acknowledgement where the store keeps them, else its router's
    /// metrics (unknown while the flag store cannot be read: there is no
    /// revision to compare).
    pub fn applies(&self, region: &str) -> Option<bool> {
        if self.document.store_error.is_some() {
            return None;
        }
        match self.acknowledged(region) {
            Some(acked) => Some(acked.is_some_and(|a| a >= self.document.revision)),
            None => self.routers_apply(region),
        }
    }

    /// Whether `region`'s router reports the revision shown (its metrics).
    pub fn routers_apply(&self, region: &str) -> Option<bool> {
        self.live.applies(region, self.document.revision)
    }

    pub fn is_selected(&self, cell: &CellId) -> bool {
        self.selected.contains(cell)
    }

    /// The selection an action applies to: the picked cells, else the cursor.
    fn selection_or_cursor(&self) -> Selection {
        if self.selected.is_empty() {
            Selection::Cell(self.current())
        } else {
            Selection::Cells(self.selected.clone())
        }
    }

    pub fn say(&mut self, text: impl Into<String>, tone: Tone) {
        self.status = Some((text.into(), tone));
    }

    /// Whether a second `X` now would roll back.
    pub fn rollback_is_armed(&self, now: Instant) -> bool {
        self.rollback_armed
            .is_some_and(|at| now.duration_since(at) <= ROLLBACK_WINDOW)
    }

    /// What a key does. Writes are never a single keystroke: they go through
    /// a dialog (Cancel focused) or, for rollback, a second `X`.
    pub fn on_key(&mut self, key: crossterm::event::KeyEvent, now: Instant) -> Effect {
        use crossterm::event::{KeyCode, KeyModifiers};
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('l') {
            return Effect::Redraw;
        }
        if self.too_small {
            return self.on_key_unseen(key);
        }
        let reply = match &mut self.mode {
            Mode::Matrix => return self.on_matrix_key(key, now),
            Mode::Confirm(c) => c.on_key(key, &self.session.environment),
            Mode::GiveUpRollback(g) => g.on_key(key),
            Mode::Faults(f) => f.on_key(key),
            Mode::Help(h) => h.on_key(key),
            Mode::Input(l) => l.on_key(key),
            Mode::Detail(d) => d.on_key(key),
            Mode::History(h) | Mode::Plan(h) => h.on_key(key),
        };
        self.on_reply(reply)
    }

    /// Carries out what a mode's key did.
    fn on_reply(&mut self, reply: Reply) -> Effect {
        match reply {
            Reply::Stay => {}
            Reply::Close => self.mode = Mode::Matrix,
            Reply::Say(text, tone) => self.say(text, tone),
            Reply::CloseSay(text, tone) => {
                self.mode = Mode::Matrix;
                self.say(text, tone);
            }
            Reply::Effect(effect) => return effect,
            Reply::GiveUpRollback => {
                self.mode = Mode::Matrix;
                self.give_up_rollback();
            }
            Reply::Filter(text) => {
                self.status = None;
                self.filter = text;
                self.keep_cursor_visible();
            }
            Reply::Typed => self.status = None,
            Reply::ClearFilter => self.clear_filter(),
            Reply::Submit(prompt, text) => return self.on_enter(&text, prompt),
            Reply::Complete(line) => self.complete(&line),
            Reply::FaultChosen(index) => return self.choose_fault(index),
            Reply::NextPage => {
                self.mode = Mode::Help(Help { page: Page::Legend });
            }
        }
        Effect::None
    }

    /// Tab on the command line.
    fn complete(&mut self, line: &str) {
        let completion = command::complete(line, &self.vocabulary());
        self.mode = Mode::Input(Line::new(Prompt::Command, &completion.line));
        match completion.candidates.len() {
            0 => self.status = None,
            n => self.say(
                format!("{n}: {}", completion.candidates.join("  ")),
                Tone::Info,
            ),
        }
    }

    /// The matrix's keys, from the keymap.
    fn on_matrix_key(&mut self, key: crossterm::event::KeyEvent, now: Instant) -> Effect {
        use crossterm::event::{KeyCode, KeyModifiers};
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        // Ctrl-Z suspends like any terminal program (never inside a dialog:
        // a change waiting for confirmation is not left behind a shell).
        if ctrl && key.code == KeyCode::Char('z') {
            return Effect::Suspend;
        }
        if ctrl && key.code == KeyCode::Char('c') {
            return Effect::Quit;
        }
        if self.banner.is_some() && key.code == KeyCode::Enter {
            self.banner = None;
            return Effect::None;
        }
        let Some(command) = self.session.keymap.command(&key) else {
            return Effect::None;
        };
        // Any key but a second X disarms a pending rollback.
        let armed = self.rollback_is_armed(now);
        if command != Command::Rollback {
            self.rollback_armed = None;
        }
        let asked = std::mem::take(&mut self.quit_asked);
        match command {
            Command::Quit => {
                self.quit_asked = asked;
                self.ask_quit()
            }
            _ if command.writes() || command == Command::Warmup => {
                self.on_write_command(command, armed, now)
            }
            _ => self.on_view_command(command),
        }
    }

    /// Keys that only change what is shown: moves, selection, views.
    fn on_view_command(&mut self, command: Command) -> Effect {
        match command {
            Command::History => return Effect::ShowHistory,
            Command::Detail => return Effect::ShowDetail(self.current()),
            Command::Up => self.cursor.0 = step(&self.visible_models(), self.cursor.0, -1),
            Command::Down => self.cursor.0 = step(&self.visible_models(), self.cursor.0, 1),
            Command::Left => self.cursor.1 = step(&self.visible_regions(), self.cursor.1, -1),
            Command::Right => self.cursor.1 = step(&self.visible_regions(), self.cursor.1, 1),
            Command::Select => {
                // The status line shows the selection again.
                self.status = None;
                let cell = self.current();
                if let Some(i) = self.selected.iter().position(|c| *c == cell) {
                    self.selected.remove(i);
                } else {
                    self.selected.push(cell);
                }
            }
            // Every cell shown: with a filter, the ones it matches — not the
            // whole rectangle of the rows and columns it keeps on screen.
            Command::SelectAll => {
                self.status = None;
                let cols = self.visible_regions();
                self.selected = self
                    .visible_models()
                    .into_iter()
                    .flat_map(|r| cols.iter().map(move |&c| (r, c)))
                    .map(|rc| self.cell_at(rc))
                    .filter(|cell| self.shows(&cell.model, &cell.region))
                    .collect();
            }
            // Esc clears what narrows the view: the selection, the
            // message, and a filter kept from `/`.
            Command::Clear => {
                self.selected.clear();
                self.status = None;
                if !self.filter.is_empty() {
                    self.clear_filter();
                }
            }
            Command::Help => self.mode = Mode::Help(Help::new()),
            Command::Faults if self.session.sim_address.is_none() => {
                self.say(
                    "the fault menu is for the demo's simulator only",
                    Tone::Info,
                );
            }
            Command::Faults => self.mode = Mode::Faults(FaultMenu { cursor: 0 }),
            Command::Plan => {
                let lines = self.plan_lines(std::time::SystemTime::now());
                self.mode = Mode::Plan(History::new(lines));
            }
            Command::Colon => {
                self.status = None;
                self.mode = Mode::Input(Line::new(Prompt::Command, ""));
            }
            Command::Filter => {
                self.status = None;
                self.mode = Mode::Input(Line::new(Prompt::Filter, &self.filter));
            }
            _ => {}
        }
        Effect::None
    }

    /// Keys that lead to a write (through a dialog, or X twice) or to paid
    /// requests (warmup): refused when read-only.
    fn on_write_command(&mut self, command: Command, armed: bool, now: Instant) -> Effect {
        if self.session.read_only {
            let what = if command == Command::Warmup {
                "READ-ONLY: warmups are disabled (each is a paid inference)"
            } else {
                "READ-ONLY: writes are disabled"
            };
            self.say(what, Tone::Warn);
            return Effect::None;
        }
        let target = self.selection_or_cursor();
        match command {
            Command::StepUp => Effect::PlanShift(target, ShiftAmount::Step(Direction::Up)),
            Command::StepDown => Effect::PlanShift(target, ShiftAmount::Step(Direction::Down)),
            Command::SetExact => {
                self.status = None;
                self.mode = Mode::Input(Line::new(Prompt::Share(target), ""));
                Effect::None
            }
            Command::Undo => Effect::PlanUndo,
            Command::Warmup => Effect::Warmup(target),
            Command::Rollback => self.on_rollback_key(armed, now),
            _ => Effect::None,
        }
    }

    /// `X`: the first arms (and says what a second would do), the second
    /// within the window rolls the selection, else everything, back.
    fn on_rollback_key(&mut self, armed: bool, now: Instant) -> Effect {
        if armed {
            self.rollback_armed = None;
            let selection = if self.selected.is_empty() {
                Selection::All
            } else {
                Selection::Cells(self.selected.clone())
            };
            return Effect::Rollback(selection);
        }
        self.rollback_armed = Some(now);
        let what = if self.selected.is_empty() {
            "EVERY cell".to_string()
        } else {
            format!("{} selected cell(s)", self.selected.len())
        };
        let again = self.session.keymap.label(Command::Rollback);
        self.say(
            format!(
                "press {again} again within 3 s to roll back {what} to {}",
                self.session.fallback
            ),
            Tone::Warn,
        );
        Effect::None
    }

    fn clear_filter(&mut self) {
        self.filter.clear();
        self.mode = Mode::Matrix;
        self.say("filter cleared: every cell shown", Tone::Info);
    }

    /// A choice of the fault menu, for the cursor's region.
    fn choose_fault(&mut self, index: usize) -> Effect {
        let Some(choice) = super::faults::CHOICES.get(index).copied() else {
            return Effect::None;
        };
        let region = self.current().region.to_string();
        self.mode = Mode::Matrix;
        self.say(
            format!("demo fault: {}…", choice.label(&region)),
            Tone::Warn,
        );
        Effect::SetFaults(self.faults.choose(choice, &region))
    }

    /// A key while the console does not fit the terminal: the operator
    /// cannot see what it would do, so only quit and help act.
    fn on_key_unseen(&mut self, key: crossterm::event::KeyEvent) -> Effect {
        use crossterm::event::{KeyCode, KeyModifiers};
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        match self.session.keymap.command(&key) {
            _ if ctrl_c && !matches!(self.mode, Mode::Confirm(_)) => Effect::Quit,
            Some(Command::Quit) if matches!(self.mode, Mode::Matrix) => self.ask_quit(),
            _ => {
                self.rollback_armed = None;
                self.say(
                    "terminal too small: that key was ignored (only q and Ctrl-L act until it fits)",
                    Tone::Warn,
                );
                Effect::None
            }
        }
    }

    fn vocabulary(&self) -> command::Vocabulary<'_> {
        command::Vocabulary {
            models: &self.session.models,
            regions: &self.session.regions,
            themes: &self.session.themes,
        }
    }

    /// Enter on the bottom line.
    /// A plan verb typed on the command line: forward ones (promote,
    /// resume) are left to the command line in production, and refused
    /// where they would send the target traffic while it is failing.
    fn plan_command(&mut self, command: command::PlanCommand) -> Effect {
        use command::PlanCommand::{Promote, PromoteOverGate, Resume, ResumeAnyway};
        let forward = matches!(command, Promote | PromoteOverGate | Resume | ResumeAnyway);
        if forward && self.session.production {
            // Confirmed by typing, on the command line, not by one Enter here.
            self.say(
                "PRODUCTION: plan promote and resume are confirmed on the command line (beacon-console plan …)",
                Tone::Warn,
            );
            return Effect::None;
        }
        if matches!(command, Promote | Resume)
            && let Some(failing) = self.plan_into_failure()
        {
            let verb = if command == Promote {
                "promote"
            } else {
                "resume"
            };
            self.say(
                format!("{failing}: not sent more traffic (:plan {verb} anyway)"),
                Tone::Bad,
            );
            return Effect::None;
        }
        Effect::Plan(command)
    }

    fn on_enter(&mut self, text: &str, prompt: Prompt) -> Effect {
        match prompt {
            Prompt::Share(selection) => {
                match PerMille::parse_percent(text.trim_end_matches('%')) {
                    Ok(share) => {
                        self.mode = Mode::Matrix;
                        Effect::PlanShift(selection, ShiftAmount::To(share))
                    }
                    // Stay in the field with the reason: the operator fixes the number.
                    Err(e) => {
                        self.say(e.to_string(), Tone::Bad);
                        Effect::None
                    }
                }
            }
            Prompt::Filter => {
                self.mode = Mode::Matrix;
                Effect::None
            }
            Prompt::Command => {
                let (line, reason) = match command::split_reason(text) {
                    Ok(split) => split,
                    Err(why) => {
                        self.say(why, Tone::Bad);
                        return Effect::None;
                    }
                };
                let parsed = command::parse(line, &self.vocabulary());
                if reason.is_some()
                    && !matches!(
                        parsed,
                        Ok(Action::Shift(..)
                            | Action::Rollback(_)
                            | Action::ForceRollback
                            | Action::Plan(_))
                    )
                {
                    self.say(
                        "a reason (after --) goes with shift and rollback",
                        Tone::Bad,
                    );
                    return Effect::None;
                }
                // Carried to the dialog (shift) or the rollback's audit line.
                self.typed_reason = reason;
                let action = match parsed {
                    Ok(action) => action,
                    // Stay on the line with the reason.
                    Err(why) => {
                        self.say(why, Tone::Bad);
                        return Effect::None;
                    }
                };
                self.mode = Mode::Matrix;
                self.status = None;
                let writes = matches!(
                    action,
                    Action::Shift(..)
                        | Action::Rollback(_)
                        | Action::ForceRollback
                        | Action::Undo
                        | Action::Plan(_)
                );
                if writes && self.session.read_only {
                    self.say("READ-ONLY: writes are disabled", Tone::Warn);
                    return Effect::None;
                }
                match action {
                    Action::Shift(selection, share) => {
                        Effect::PlanShift(selection, ShiftAmount::To(share))
                    }
                    Action::Rollback(selection) => Effect::Rollback(selection),
                    Action::ForceRollback => Effect::ForceRollback,
                    Action::Plan(command) => self.plan_command(command),
                    Action::GiveUpRollback if self.rollback.is_none() => {
                        self.say("no rollback is pending", Tone::Info);
                        Effect::None
                    }
                    Action::GiveUpRollback => {
                        self.mode = Mode::GiveUpRollback(GiveUp::new());
                        Effect::None
                    }
                    Action::Warmup(selection) => Effect::Warmup(selection),
                    Action::Undo => Effect::PlanUndo,
                    Action::Theme(name) => Effect::Theme(name),
                    Action::Filter(text) => {
                        self.filter = text;
                        self.keep_cursor_visible();
                        Effect::None
                    }
                    Action::History => Effect::ShowHistory,
                    Action::Help => {
                        self.mode = Mode::Help(Help::new());
                        Effect::None
                    }
                    Action::Quit => self.ask_quit(),
                }
            }
        }
    }

    /// Quits, but while something is in flight only when asked twice.
    fn ask_quit(&mut self) -> Effect {
        match &self.busy {
            Some(what) if !self.quit_asked => {
                let what = format!("{what} is in flight: quit again to quit anyway");
                self.quit_asked = true;
                self.say(what, Tone::Warn);
                Effect::None
            }
            _ => Effect::Quit,
        }
    }

    /// Whether the filter shows this cell.
    fn shows(&self, model: &str, region: &str) -> bool {
        let filter = self.filter.to_lowercase();
        filter.is_empty() || format!("{model}/{region}").to_lowercase().contains(&filter)
    }

    /// Model rows with at least one cell the filter shows (all of them when
    /// it shows none: an empty screen helps nobody).
    pub fn visible_models(&self) -> Vec<usize> {
        if self.filter.is_empty() {
            return (0..self.session.models.len()).collect();
        }
        let shown: Vec<usize> = (0..self.session.models.len())
            .filter(|&m| {
                self.session
                    .regions
                    .iter()
                    .any(|r| self.shows(&self.session.models[m], r))
            })
            .collect();
        if shown.is_empty() {
            (0..self.session.models.len()).collect()
        } else {
            shown
        }
    }

    /// Region columns with at least one cell the filter shows (all of them
    /// when it shows none).
    pub fn visible_regions(&self) -> Vec<usize> {
        if self.filter.is_empty() {
            return (0..self.session.regions.len()).collect();
        }
        let shown: Vec<usize> = (0..self.session.regions.len())
            .filter(|&r| {
                self.session
                    .models
                    .iter()
                    .any(|m| self.shows(m, &self.session.regions[r]))
            })
            .collect();
        if shown.is_empty() {
            (0..self.session.regions.len()).collect()
        } else {
            shown
        }
    }

    /// After the filter changed: the cursor onto a shown cell, and a word
    /// when nothing matches (the matrix then shows everything).
    fn keep_cursor_visible(&mut self) {
        let matches = self
            .session
            .models
            .iter()
            .any(|m| self.session.regions.iter().any(|r| self.shows(m, r)));
        if !matches {
            // Not kept: a filter in force that shows everything would make
            // `a` and the header say one thing and the screen another.
            let filter = std::mem::take(&mut self.filter);
            self.say(
                format!("no cell matches {filter:?}: no filter, showing all"),
                Tone::Warn,
            );
        }
        let (rows, cols) = (self.visible_models(), self.visible_regions());
        if !rows.contains(&self.cursor.0) {
            self.cursor.0 = rows[0];
        }
        if !cols.contains(&self.cursor.1) {
            self.cursor.1 = cols[0];
        }
    }

    /// Opens the confirmation dialog for a shift planned on `base`.
    pub fn propose_shift(&mut self, base: Snapshot, plan: ShiftPlan, amount: ShiftAmount) {
        if plan.changes.is_empty() {
            let why = plan
                .skipped
                .first()
                .map_or_else(|| "no cell changes".to_string(), |s| s.why.clone());
            self.say(format!("nothing to change: {why}"), Tone::Info);
            return;
        }
        let how = match amount {
            ShiftAmount::Step(Direction::Up) => "one step up".to_string(),
            ShiftAmount::Step(Direction::Down) => "one step down".to_string(),
            ShiftAmount::To(p) => format!("to {p}"),
        };
        let pending = Pending {
            title: format!("Shift {} {how}", plan.provider),
            base,
            changes: plan.changes,
            skipped: plan.skipped,
            routes: plan.routes,
            kind: PendingKind::Shift,
            reason: None,
        };
        let mut dialog = Confirm::new(pending, self.session.production);
        if let Some(why) = self.typed_reason.take() {
            dialog.reason = tui_input::Input::new(why);
        }
        self.mode = Mode::Confirm(dialog);
    }

    pub fn propose_undo(
        &mut self,
        base: Snapshot,
        routes: Routes,
        undone: u64,
        changes: Vec<CellChange>,
    ) {
        let pending = Pending {
            title: format!("Undo revision {undone}"),
            base,
            changes,
            skipped: Vec::new(),
            routes,
            kind: PendingKind::Undo,
            reason: None,
        };
        self.mode = Mode::Confirm(Confirm::new(pending, self.session.production));
    }

    /// Takes the pending change out of the dialog (the runner commits it).
    pub fn take_pending(&mut self) -> Option<Pending> {
        match std::mem::replace(&mut self.mode, Mode::Matrix) {
            Mode::Confirm(c) => {
                let reason = c.reason();
                Some(Pending {
                    reason,
                    ..*c.pending
                })
            }
            other => {
                self.mode = other;
                None
            }
        }
    }

    /// Keys for the footer: what applies in the current mode, each with a
    /// rank (0 = always shown; higher ones give way first on a narrow screen).
    /// Each mode's hints come from the table its keys are handled by.
    pub fn footer_keys(&self) -> Vec<Hint> {
        match &self.mode {
            Mode::Confirm(c) => c.footer(),
            Mode::Faults(f) => f.footer(),
            Mode::GiveUpRollback(g) => g.footer(),
            Mode::Help(h) => h.footer(),
            Mode::Input(l) => l.footer(),
            Mode::Detail(d) => d.footer(),
            Mode::History(h) | Mode::Plan(h) => h.footer(),
            Mode::Matrix => {
                let k = |c| self.session.keymap.label(c);
                let mut keys = vec![
                    (
                        format!(
                            "{}{}{}{}",
                            k(Command::Left),
                            k(Command::Down),
                            k(Command::Up),
                            k(Command::Right)
                        ),
                        "move",
                        5,
                    ),
                    (k(Command::Select).replace("Space", "␣"), "select", 2),
                ];
                if !self.session.read_only {
                    keys.push((
                        format!(
                            "{}/{}/{}",
                            k(Command::StepUp),
                            k(Command::StepDown),
                            k(Command::SetExact)
                        ),
                        "shift",
                        1,
                    ));
                    keys.push((format!("{0} {0}", k(Command::Rollback)), "ROLLBACK", 0));
                    keys.push((k(Command::Undo), "undo", 3));
                    keys.push((k(Command::Warmup), "warm", 3));
                }
                keys.push((k(Command::Colon), "cmd", 2));
                keys.push((k(Command::Filter), "filter", 4));
                keys.push((k(Command::Help), "help", 0));
                keys.push((k(Command::Quit), "quit", 0));
                keys
            }
        }
    }
}

/// The next shown index from `at` in direction `by` (±1), staying put at
/// either end.
fn step(shown: &[usize], at: usize, by: isize) -> usize {
    let Some(i) = shown.iter().position(|&x| x == at) else {
        return shown.first().copied().unwrap_or(at);
    };
    let next = i as isize + by;
    if next < 0 {
        return at;
    }
    shown.get(next as usize).copied().unwrap_or(at)
}
