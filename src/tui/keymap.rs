//! Which key does what. The help screen and the footer are generated from
//! this table, so they cannot drift from what the keys really do. No
//! Ctrl-letter key writes anything, and none of the defaults is a tmux or
//! screen prefix (Ctrl-B, Ctrl-A).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Up,
    Down,
    Left,
    Right,
    Select,
    SelectAll,
    Clear,
    StepUp,
    StepDown,
    SetExact,
    Rollback,
    Undo,
    Warmup,
    Detail,
    History,
    CommandLine,
    Filter,
    Help,
    Quit,
}

impl Command {
    pub fn describe(self) -> &'static str {
        match self {
            Command::Up => "move up",
            Command::Down => "move down",
            Command::Left => "move left",
            Command::Right => "move right",
            Command::Select => "select / unselect the cell",
            Command::SelectAll => "select every cell",
            Command::Clear => "clear the selection and the message",
            Command::StepUp => "step towards the target provider (selection, else the cell)",
            Command::StepDown => "one ladder step back towards the fallback",
            Command::SetExact => "set the target provider's share to an exact percentage",
            Command::Rollback => "twice in 3 s: selection (else EVERYTHING) to the fallback",
            Command::Undo => "undo the last change (with confirmation)",
            Command::History => "the audit history, newest first",
            Command::Detail => "the cell in detail: percentiles, workers, cost, its changes",
            Command::Warmup => "warm both providers of the selection (else the cell)",
            Command::CommandLine => "command line: shift, rollback, warmup, theme… (Tab completes)",
            Command::Filter => "filter cells by model/region text (Esc clears)",
            Command::Help => "this help",
            Command::Quit => "quit",
        }
    }

    /// Whether the command writes (disabled when read-only).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Command::StepUp
                | Command::StepDown
                | Command::SetExact
                | Command::Rollback
                | Command::Undo
        )
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(KeyCode, Command)>,
}

impl Default for Keymap {
    fn default() -> Self {
        use Command::*;
        use KeyCode::Char;
        Self {
            bindings: vec![
                (KeyCode::Up, Up),
                (Char('k'), Up),
                (KeyCode::Down, Down),
                (Char('j'), Down),
                (KeyCode::Left, Left),
                (Char('h'), Left),
                (KeyCode::Right, Right),
                (Char('l'), Right),
                (Char(' '), Select),
                (Char('a'), SelectAll),
                (KeyCode::Esc, Clear),
                (Char('+'), StepUp),
                (Char('-'), StepDown),
                (Char('='), SetExact),
                (Char('X'), Rollback),
                (Char('u'), Undo),
                (Char('w'), Warmup),
                (KeyCode::Enter, Detail),
                (Char('L'), History),
                (Char(':'), CommandLine),
                (Char('/'), Filter),
                (Char('?'), Help),
                (Char('q'), Quit),
            ],
        }
    }
}

impl Keymap {
    /// The command of a key press (Ctrl and Alt chords are never bound).
    pub fn command(&self, key: &KeyEvent) -> Option<Command> {
        if key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return None;
        }
        self.bindings
            .iter()
            .find(|(code, _)| *code == key.code)
            .map(|(_, c)| *c)
    }

    /// The first key bound to a command, as shown on screen.
    pub fn label(&self, command: Command) -> String {
        self.keys(command).into_iter().next().unwrap_or_default()
    }

    fn keys(&self, command: Command) -> Vec<String> {
        self.bindings
            .iter()
            .filter(|(_, c)| *c == command)
            .map(|(code, _)| key_name(*code))
            .collect()
    }

    /// (keys, what they do) for every command, in a stable order.
    /// The four moves share one row, so the help fits 80×24.
    pub fn help(&self) -> Vec<(String, &'static str, bool)> {
        let moves = [Command::Up, Command::Down, Command::Left, Command::Right];
        let mut seen: Vec<Command> = Vec::new();
        let mut rows = Vec::new();
        for (_, c) in &self.bindings {
            if seen.contains(c) {
                continue;
            }
            if moves.contains(c) {
                seen.extend(moves);
                let keys: Vec<String> = moves.iter().map(|m| self.keys(*m).join("")).collect();
                rows.push((keys.join(" "), "move the cursor", false));
                continue;
            }
            seen.push(*c);
            rows.push((self.keys(*c).join(" "), c.describe(), c.writes()));
        }
        rows
    }
}

fn key_name(code: KeyCode) -> String {
    match code {
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::Esc => "Esc".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Char(' ') => "Space".into(),
        KeyCode::Char(c) => c.to_string(),
        other => format!("{other:?}"),
    }
}
