//! The console's state and what each key does to it. No terminal here: keys
//! go in, effects (commits, quit) come out, and the view draws the state.

use std::time::{Duration, Instant};

use crate::domain::{CellChange, CellId, Direction, Id, PerMille, Routes, Selection};
use crate::flags::Snapshot;
use crate::ops::{ShiftAmount, ShiftPlan, Skipped};

use super::command::{self, Action};
use super::keymap::{Command, Keymap};
use super::live::Live;

/// `X` must be pressed again within this to roll back.
pub const ROLLBACK_WINDOW: Duration = Duration::from_secs(3);

/// The one thing a dialog would commit, kept until confirmed or cancelled.
#[derive(Debug, Clone)]
pub struct Pending {
    pub title: String,
    /// The document the change was planned on: the commit is a
    /// compare-and-swap against it.
    pub base: Snapshot,
    pub changes: Vec<CellChange>,
    pub skipped: Vec<Skipped>,
    pub routes: Routes,
    pub kind: PendingKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    Shift,
    Undo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Cancel,
    Confirm,
}

#[derive(Debug, Clone)]
pub enum Mode {
    Matrix,
    Confirm {
        pending: Box<Pending>,
        focus: Focus,
        /// In production, what the operator types to confirm a change
        /// forward (the environment's name, or the one cell it changes).
        typed: Option<tui_input::Input>,
        /// Why it can no longer be confirmed: the document changed since.
        stale: Option<String>,
    },
    /// The demo's fault menu, the cursor on a choice.
    Faults {
        cursor: usize,
    },
    /// Give up a pending rollback's retries? (Cancel focused.)
    GiveUpRollback {
        focus: Focus,
    },
    Help,
    /// The help's second page: what the matrix's marks mean.
    Legend,
    /// Typing on the bottom line: an exact share, a `:` command, a `/` filter.
    Input {
        input: tui_input::Input,
        prompt: Prompt,
    },
    /// One cell in detail, with the audit lines about it.
    Detail {
        cell: CellId,
        changes: Vec<String>,
    },
    /// The audit history as lines, scrolled to `offset`.
    History {
        lines: Vec<String>,
        offset: usize,
    },
}

/// What the bottom line is typing.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// An exact share for the selection (or the cursor's cell).
    Share(Selection),
    /// A `:` command line.
    Command,
    /// A `/` filter on model and region ids, applied as it is typed.
    Filter,
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
    /// Switch to a theme by name (`:theme`).
    Theme(String),
}

/// The matrix and everything shown around it.
pub struct App {
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
    pub routes: Routes,
    pub revision: u64,
    pub cursor: (usize, usize),
    pub selected: Vec<CellId>,
    pub mode: Mode,
    pub rollback_armed: Option<Instant>,
    pub status: Option<(String, Tone)>,
    /// A failed rollback: stays until acknowledged.
    pub banner: Option<String>,
    /// The flag store cannot be read (missing or damaged document, store
    /// down): the splits shown are not known to be the routers'. Cleared by
    /// the next good load.
    pub store_error: Option<String>,
    pub live: Live,
    pub clock: String,
    pub keymap: Keymap,
    pub scroll: usize,
    /// Price per second of each provider, for cost per 1k inferences.
    pub prices: Vec<(String, f64)>,
    /// What is in flight (a warmup, rollback retries), if anything: quitting
    /// then asks first.
    pub busy: Option<String>,
    /// `q` was pressed once while busy.
    pub quit_asked: bool,
    /// Shows only the cells whose `model/region` contains this (`/`).
    pub filter: String,
    /// Theme names `:theme` accepts.
    pub themes: Vec<String>,
    /// The terminal is below the minimum size: the console is not on the
    /// screen, so no key but quit, help and redraw may act.
    pub too_small: bool,
    /// Draw in ASCII only (the locale is not UTF-8, or `--ascii`).
    pub ascii: bool,
    /// What the figures are judged against.
    pub slo: crate::config::SloConfig,
    /// The embedded simulator's address, on the demo.
    pub sim_address: Option<String>,
    /// The demo's faults in force (set from the fault menu).
    pub faults: super::faults::DemoFaults,
    /// A rollback not yet written: retried until it lands.
    pub rollback: Option<super::reports::PendingRollback>,
    /// A load of the document is with the store worker.
    pub load_in_flight: bool,
    /// When the document was last read (the matrix's age).
    pub loaded_at: Option<Instant>,
    pub loaded_once: bool,
    /// Revisions this console committed (others' are news).
    pub own_revisions: Vec<u64>,
    /// The cells another operator just changed, marked for a few seconds.
    pub news: Option<super::reports::News>,
}

impl App {
    pub fn cell_at(&self, (row, col): (usize, usize)) -> CellId {
        CellId::new(self.models[row].clone(), self.regions[col].clone())
    }

    pub fn current(&self) -> CellId {
        self.cell_at(self.cursor)
    }

    /// Whether `region`'s router applies the revision shown (unknown while
    /// the flag store cannot be read: there is no revision to compare).
    pub fn applies(&self, region: &str) -> Option<bool> {
        if self.store_error.is_some() {
            return None;
        }
        self.live.applies(region, self.revision)
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
        // Ctrl-Z suspends like any terminal program (never inside a dialog:
        // a change waiting for confirmation is not left behind a shell).
        if ctrl && key.code == KeyCode::Char('z') && matches!(self.mode, Mode::Matrix) {
            return Effect::Suspend;
        }
        if matches!(self.mode, Mode::Faults { .. }) {
            return self.on_fault_key(key.code);
        }
        if let Mode::GiveUpRollback { focus } = &mut self.mode {
            match key.code {
                KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab => {
                    *focus = match focus {
                        Focus::Cancel => Focus::Confirm,
                        Focus::Confirm => Focus::Cancel,
                    };
                }
                KeyCode::Enter if *focus == Focus::Confirm => {
                    self.mode = Mode::Matrix;
                    self.give_up_rollback();
                }
                KeyCode::Enter | KeyCode::Esc => {
                    self.mode = Mode::Matrix;
                    self.say("the rollback is still being retried", Tone::Warn);
                }
                KeyCode::Char('c') if ctrl => self.mode = Mode::Matrix,
                _ => {}
            }
            return Effect::None;
        }
        if let Mode::Confirm {
            focus,
            typed,
            pending,
            stale,
        } = &mut self.mode
        {
            if let Some(why) = stale.clone()
                && (key.code == KeyCode::Enter && *focus == Focus::Confirm
                    || key.code == KeyCode::Char('y') && typed.is_none())
            {
                self.say(format!("{why}: nothing written"), Tone::Bad);
                return Effect::None;
            }
            let typing = typed.is_some();
            match key.code {
                KeyCode::Esc => {
                    self.mode = Mode::Matrix;
                    self.say("cancelled: nothing written", Tone::Info);
                }
                KeyCode::Char('n') if !typing => {
                    self.mode = Mode::Matrix;
                    self.say("cancelled: nothing written", Tone::Info);
                }
                // Ctrl-C inside a dialog cancels it; it never quits from here.
                KeyCode::Char('c') if ctrl => {
                    self.mode = Mode::Matrix;
                    self.say("cancelled: nothing written", Tone::Info);
                }
                KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab => {
                    *focus = match focus {
                        Focus::Cancel => Focus::Confirm,
                        Focus::Confirm => Focus::Cancel,
                    };
                }
                KeyCode::Char('y') if !typing => return Effect::Commit,
                KeyCode::Enter if *focus == Focus::Confirm => {
                    let confirmed = typed
                        .as_ref()
                        .is_none_or(|t| typed_confirms(t.value(), &self.environment, pending));
                    if confirmed {
                        return Effect::Commit;
                    }
                    let want = confirmation_words(&self.environment, pending).join(" or ");
                    self.say(
                        format!("type {want} to apply: nothing written yet"),
                        Tone::Warn,
                    );
                }
                KeyCode::Enter => {
                    self.mode = Mode::Matrix;
                    self.say("cancelled: nothing written", Tone::Info);
                }
                _ => {
                    if let Some(input) = typed {
                        use tui_input::backend::crossterm::EventHandler;
                        input.handle_event(&crossterm::event::Event::Key(key));
                    }
                }
            }
            return Effect::None;
        }
        if matches!(self.mode, Mode::Help) {
            // `?` again (or →, PgDn): the legend of the matrix's marks.
            self.mode = match key.code {
                KeyCode::Char('?') | KeyCode::Right | KeyCode::PageDown => Mode::Legend,
                _ => Mode::Matrix,
            };
            return Effect::None;
        }
        if matches!(self.mode, Mode::Legend) {
            self.mode = Mode::Matrix;
            return Effect::None;
        }
        if let Mode::Input { input, prompt } = &mut self.mode {
            match key.code {
                // Leaving the filter, either way, clears it: "cancelled" must
                // not leave a filter hiding cells.
                KeyCode::Esc if *prompt == Prompt::Filter => self.clear_filter(),
                KeyCode::Char('c') if ctrl && *prompt == Prompt::Filter => self.clear_filter(),
                KeyCode::Esc => {
                    self.mode = Mode::Matrix;
                    self.say("cancelled: nothing written", Tone::Info);
                }
                KeyCode::Char('c') if ctrl => {
                    self.mode = Mode::Matrix;
                    self.say("cancelled: nothing written", Tone::Info);
                }
                KeyCode::Enter => {
                    let text = input.value().trim().to_string();
                    let prompt = prompt.clone();
                    return self.on_enter(&text, prompt);
                }
                KeyCode::Tab if *prompt == Prompt::Command => {
                    let line = input.value().to_string();
                    let completion = command::complete(&line, &self.vocabulary());
                    self.mode = Mode::Input {
                        input: tui_input::Input::new(completion.line),
                        prompt: Prompt::Command,
                    };
                    match completion.candidates.len() {
                        0 => self.status = None,
                        n => self.say(
                            format!("{n}: {}", completion.candidates.join("  ")),
                            Tone::Info,
                        ),
                    }
                }
                _ => {
                    use tui_input::backend::crossterm::EventHandler;
                    if input
                        .handle_event(&crossterm::event::Event::Key(key))
                        .is_some_and(|c| c.value)
                    {
                        self.status = None;
                        if *prompt == Prompt::Filter {
                            self.filter = input.value().trim().to_string();
                            self.keep_cursor_visible();
                        }
                    }
                }
            }
            return Effect::None;
        }
        if let Mode::Detail { .. } = self.mode {
            if matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) {
                self.mode = Mode::Matrix;
            }
            return Effect::None;
        }
        if let Mode::History { lines, offset } = &mut self.mode {
            let last = lines.len().saturating_sub(1);
            match key.code {
                KeyCode::Down | KeyCode::Char('j') => *offset = (*offset + 1).min(last),
                KeyCode::Up | KeyCode::Char('k') => *offset = offset.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => *offset = (*offset + 15).min(last),
                KeyCode::PageUp => *offset = offset.saturating_sub(15),
                KeyCode::Home | KeyCode::Char('g') => *offset = 0,
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('L') => self.mode = Mode::Matrix,
                _ => {}
            }
            return Effect::None;
        }
        if ctrl && key.code == KeyCode::Char('c') {
            return Effect::Quit;
        }
        if self.banner.is_some() && key.code == KeyCode::Enter {
            self.banner = None;
            return Effect::None;
        }
        let Some(command) = self.keymap.command(&key) else {
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
                return self.ask_quit();
            }
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
            // Every cell shown: with a filter, the ones it shows.
            Command::SelectAll => {
                self.status = None;
                let cols = self.visible_regions();
                self.selected = self
                    .visible_models()
                    .into_iter()
                    .flat_map(|r| cols.iter().map(move |&c| (r, c)))
                    .map(|rc| self.cell_at(rc))
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
            Command::Warmup if self.read_only => {
                self.say(
                    "READ-ONLY: warmups are disabled (each is a paid inference)",
                    Tone::Warn,
                );
            }
            Command::Help => self.mode = Mode::Help,
            Command::Faults if self.sim_address.is_none() => {
                self.say(
                    "the fault menu is for the demo's simulator only",
                    Tone::Info,
                );
            }
            Command::Faults => self.mode = Mode::Faults { cursor: 0 },
            Command::StepUp | Command::StepDown | Command::SetExact | Command::Undo
                if self.read_only =>
            {
                self.say("READ-ONLY: writes are disabled", Tone::Warn);
            }
            Command::Rollback if self.read_only => {
                self.say("READ-ONLY: writes are disabled", Tone::Warn);
            }
            Command::StepUp => {
                return Effect::PlanShift(
                    self.selection_or_cursor(),
                    ShiftAmount::Step(Direction::Up),
                );
            }
            Command::StepDown => {
                return Effect::PlanShift(
                    self.selection_or_cursor(),
                    ShiftAmount::Step(Direction::Down),
                );
            }
            Command::SetExact => {
                self.status = None;
                self.mode = Mode::Input {
                    input: tui_input::Input::default(),
                    prompt: Prompt::Share(self.selection_or_cursor()),
                };
            }
            Command::CommandLine => {
                self.status = None;
                self.mode = Mode::Input {
                    input: tui_input::Input::default(),
                    prompt: Prompt::Command,
                };
            }
            Command::Filter => {
                self.status = None;
                self.mode = Mode::Input {
                    input: tui_input::Input::new(self.filter.clone()),
                    prompt: Prompt::Filter,
                };
            }
            Command::Undo => return Effect::PlanUndo,
            Command::History => return Effect::ShowHistory,
            Command::Detail => return Effect::ShowDetail(self.current()),
            Command::Warmup => return Effect::Warmup(self.selection_or_cursor()),
            Command::Rollback => {
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
                let again = self.keymap.label(Command::Rollback);
                self.say(
                    format!(
                        "press {again} again within 3 s to roll back {what} to {}",
                        self.fallback
                    ),
                    Tone::Warn,
                );
            }
        }
        Effect::None
    }

    fn clear_filter(&mut self) {
        self.filter.clear();
        self.mode = Mode::Matrix;
        self.say("filter cleared: every cell shown", Tone::Info);
    }

    /// A key in the fault menu: move, pick by digit, apply, close.
    fn on_fault_key(&mut self, code: crossterm::event::KeyCode) -> Effect {
        use crossterm::event::KeyCode;
        let Mode::Faults { cursor } = &mut self.mode else {
            return Effect::None;
        };
        let last = super::faults::CHOICES.len() - 1;
        let chosen = match code {
            KeyCode::Up | KeyCode::Char('k') => {
                *cursor = cursor.saturating_sub(1);
                None
            }
            KeyCode::Down | KeyCode::Char('j') => {
                *cursor = (*cursor + 1).min(last);
                None
            }
            KeyCode::Enter => Some(*cursor),
            KeyCode::Char(c @ '1'..='9') => Some(c as usize - '1' as usize).filter(|i| *i <= last),
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('F') => {
                self.mode = Mode::Matrix;
                None
            }
            _ => None,
        };
        let Some(index) = chosen else {
            return Effect::None;
        };
        let choice = super::faults::CHOICES[index];
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
        match self.keymap.command(&key) {
            _ if ctrl_c && !matches!(self.mode, Mode::Confirm { .. }) => Effect::Quit,
            Some(Command::Quit) if matches!(self.mode, Mode::Matrix) => self.ask_quit(),
            Some(Command::Help) if matches!(self.mode, Mode::Matrix) => {
                self.mode = Mode::Help;
                Effect::None
            }
            _ => {
                self.rollback_armed = None;
                self.say(
                    "terminal too small: that key was ignored (only q, ? and Ctrl-L act until it fits)",
                    Tone::Warn,
                );
                Effect::None
            }
        }
    }

    fn vocabulary(&self) -> command::Vocabulary<'_> {
        command::Vocabulary {
            models: &self.models,
            regions: &self.regions,
            themes: &self.themes,
        }
    }

    /// Enter on the bottom line.
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
                let parsed = command::parse(text, &self.vocabulary());
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
                    Action::Shift(..) | Action::Rollback(_) | Action::Undo
                );
                if writes && self.read_only {
                    self.say("READ-ONLY: writes are disabled", Tone::Warn);
                    return Effect::None;
                }
                match action {
                    Action::Shift(selection, share) => {
                        Effect::PlanShift(selection, ShiftAmount::To(share))
                    }
                    Action::Rollback(selection) => Effect::Rollback(selection),
                    Action::GiveUpRollback if self.rollback.is_none() => {
                        self.say("no rollback is pending", Tone::Info);
                        Effect::None
                    }
                    Action::GiveUpRollback => {
                        self.mode = Mode::GiveUpRollback {
                            focus: Focus::Cancel,
                        };
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
                        self.mode = Mode::Help;
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
            return (0..self.models.len()).collect();
        }
        let shown: Vec<usize> = (0..self.models.len())
            .filter(|&m| self.regions.iter().any(|r| self.shows(&self.models[m], r)))
            .collect();
        if shown.is_empty() {
            (0..self.models.len()).collect()
        } else {
            shown
        }
    }

    /// Region columns with at least one cell the filter shows (all of them
    /// when it shows none).
    pub fn visible_regions(&self) -> Vec<usize> {
        if self.filter.is_empty() {
            return (0..self.regions.len()).collect();
        }
        let shown: Vec<usize> = (0..self.regions.len())
            .filter(|&r| self.models.iter().any(|m| self.shows(m, &self.regions[r])))
            .collect();
        if shown.is_empty() {
            (0..self.regions.len()).collect()
        } else {
            shown
        }
    }

    /// After the filter changed: the cursor onto a shown cell, and a word
    /// when nothing matches (the matrix then shows everything).
    fn keep_cursor_visible(&mut self) {
        let matches = self
            .models
            .iter()
            .any(|m| self.regions.iter().any(|r| self.shows(m, r)));
        if !matches {
            let filter = self.filter.clone();
            self.say(
                format!("no cell matches {filter:?}: showing all"),
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
        self.mode = Mode::Confirm {
            pending: Box::new(Pending {
                title: format!("Shift {} {how}", plan.provider),
                base,
                changes: plan.changes,
                skipped: plan.skipped,
                routes: plan.routes,
                kind: PendingKind::Shift,
            }),
            focus: Focus::Cancel,
            typed: self.production.then(tui_input::Input::default),
            stale: None,
        };
    }

    pub fn propose_undo(
        &mut self,
        base: Snapshot,
        routes: Routes,
        undone: u64,
        changes: Vec<CellChange>,
    ) {
        self.mode = Mode::Confirm {
            pending: Box::new(Pending {
                title: format!("Undo revision {undone}"),
                base,
                changes,
                skipped: Vec::new(),
                routes,
                kind: PendingKind::Undo,
            }),
            focus: Focus::Cancel,
            typed: self.production.then(tui_input::Input::default),
            stale: None,
        };
    }

    /// Takes the pending change out of the dialog (the runner commits it).
    pub fn take_pending(&mut self) -> Option<Pending> {
        match std::mem::replace(&mut self.mode, Mode::Matrix) {
            Mode::Confirm { pending, .. } => Some(*pending),
            other => {
                self.mode = other;
                None
            }
        }
    }

    /// Keys for the footer: what applies in the current mode, each with a
    /// rank (0 = always shown; higher ones give way first on a narrow screen).
    pub fn footer_keys(&self) -> Vec<(String, &'static str, u8)> {
        let always =
            |keys: Vec<(String, &'static str)>| keys.into_iter().map(|(k, w)| (k, w, 0)).collect();
        match &self.mode {
            Mode::Confirm { typed: Some(_), .. } => always(vec![
                ("type".into(), "to confirm"),
                ("Tab".into(), "focus"),
                ("Enter".into(), "choose"),
                ("Esc".into(), "cancel"),
            ]),
            Mode::Confirm { .. } => always(vec![
                ("←/→".into(), "focus"),
                ("Enter".into(), "choose"),
                ("y".into(), "apply"),
                ("Esc".into(), "cancel"),
            ]),
            Mode::Faults { .. } => always(vec![
                ("↑/↓ 1–7".into(), "choose"),
                ("Enter".into(), "apply"),
                ("Esc".into(), "close"),
            ]),
            Mode::GiveUpRollback { .. } => always(vec![
                ("←/→".into(), "focus"),
                ("Enter".into(), "choose"),
                ("Esc".into(), "keep retrying"),
            ]),
            Mode::Help => always(vec![("?".into(), "legend"), ("any key".into(), "close")]),
            Mode::Legend => always(vec![("any key".into(), "close")]),
            Mode::Input {
                prompt: Prompt::Share(_),
                ..
            } => always(vec![
                ("0–100".into(), "percent, 0.1 steps"),
                ("Enter".into(), "preview"),
                ("Esc".into(), "cancel"),
            ]),
            Mode::Input {
                prompt: Prompt::Command,
                ..
            } => always(vec![
                ("Tab".into(), "complete"),
                ("Enter".into(), "run"),
                ("Esc".into(), "cancel"),
            ]),
            Mode::Input {
                prompt: Prompt::Filter,
                ..
            } => always(vec![
                ("text".into(), "model/region contains"),
                ("Enter".into(), "keep"),
                ("Esc".into(), "clear"),
            ]),
            Mode::Detail { .. } => always(vec![("Esc".into(), "back")]),
            Mode::History { .. } => always(vec![
                ("↑/↓".into(), "scroll"),
                ("PgUp/PgDn".into(), "page"),
                ("g".into(), "newest"),
                ("Esc".into(), "back"),
            ]),
            Mode::Matrix => {
                let k = |c| self.keymap.label(c);
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
                if !self.read_only {
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
                keys.push((k(Command::CommandLine), "cmd", 2));
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

/// What may be typed to confirm a change forward in production: the
/// environment's name, or the cell when the change touches just one.
pub fn confirmation_words(environment: &str, pending: &Pending) -> Vec<String> {
    let mut words = vec![environment.to_string()];
    if let [only] = pending.changes.as_slice() {
        words.push(only.cell.to_string());
    }
    words
}

fn typed_confirms(typed: &str, environment: &str, pending: &Pending) -> bool {
    confirmation_words(environment, pending)
        .iter()
        .any(|w| w == typed.trim())
}
