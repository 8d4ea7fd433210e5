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
    Colon,
    Filter,
    Faults,
    Plan,
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
            Command::Colon => "command line: shift, rollback, warmup, theme… (Tab completes)",
            Command::Filter => "filter cells by model/region text (Esc clears)",
            Command::Faults => "demo: break a provider in the cursor's region (fault menu)",
            Command::Plan => "the cutover plan: steps, the hold left, the gate per cell",
            Command::Help => "this help",
            Command::Quit => "quit",
        }
    }

    /// The name a profile's `[keys]` uses (config's `KEY_COMMANDS`).
    pub fn name(self) -> &'static str {
        match self {
            Command::Up => "up",
            Command::Down => "down",
            Command::Left => "left",
            Command::Right => "right",
            Command::Select => "select",
            Command::SelectAll => "select_all",
            Command::Clear => "clear",
            Command::StepUp => "step_up",
            Command::StepDown => "step_down",
            Command::SetExact => "set_exact",
            Command::Rollback => "rollback",
            Command::Undo => "undo",
            Command::Warmup => "warmup",
            Command::Detail => "detail",
            Command::History => "history",
            Command::Colon => "command_line",
            Command::Filter => "filter",
            Command::Faults => "faults",
            Command::Plan => "plan",
            Command::Help => "help",
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
                (Char(':'), Colon),
                (Char('/'), Filter),
                (Char('F'), Faults),
                (Char('p'), Plan),
                (Char('?'), Help),
                (Char('q'), Quit),
            ],
        }
    }
}

impl Keymap {
    /// The defaults with a profile's `[keys]` (already checked by the
    /// profile): a command given there keeps only the keys given, in its
    /// place in the help, and a key given there is taken from any other
    /// command.
    pub fn with_profile_keys(keys: &[(String, Vec<String>)]) -> Self {
        let mut map = Self::default();
        let all: Vec<Command> = map.bindings.iter().map(|(_, c)| *c).collect();
        for (name, names) in keys {
            let Some(command) = all.iter().copied().find(|c| c.name() == name) else {
                continue;
            };
            let codes: Vec<KeyCode> = names.iter().filter_map(|k| key_code(k)).collect();
            let at = map
                .bindings
                .iter()
                .position(|(_, c)| *c == command)
                .unwrap_or(map.bindings.len());
            let before = map.bindings[..at]
                .iter()
                .filter(|(code, c)| *c != command && !codes.contains(code))
                .count();
            map.bindings
                .retain(|(code, c)| *c != command && !codes.contains(code));
            for (i, code) in codes.into_iter().enumerate() {
                map.bindings.insert(before + i, (code, command));
            }
        }
        map
    }

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

/// A key in the profile's canonical form (see config's `KEY_NAMES`).
fn key_code(name: &str) -> Option<KeyCode> {
    Some(match name {
        "Up" => KeyCode::Up,
        "Down" => KeyCode::Down,
        "Left" => KeyCode::Left,
        "Right" => KeyCode::Right,
        "Enter" => KeyCode::Enter,
        "Esc" => KeyCode::Esc,
        "Space" => KeyCode::Char(' '),
        "Tab" => KeyCode::Tab,
        "Backspace" => KeyCode::Backspace,
        "Home" => KeyCode::Home,
        "End" => KeyCode::End,
        "PageUp" => KeyCode::PageUp,
        "PageDown" => KeyCode::PageDown,
        f if f.starts_with('F') && f.len() > 1 => KeyCode::F(f[1..].parse().ok()?),
        c => {
            let mut chars = c.chars();
            match (chars.next(), chars.next()) {
                (Some(ch), None) => KeyCode::Char(ch),
                _ => return None,
            }
        }
    })
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
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KEY_COMMANDS;

    #[test]
    fn every_command_has_the_name_the_profile_uses() {
        let map = Keymap::default();
        let mut names: Vec<&str> = map.bindings.iter().map(|(_, c)| c.name()).collect();
        names.dedup();
        assert_eq!(names, KEY_COMMANDS.to_vec());
    }

    #[test]
    fn profile_keys_replace_a_commands_keys_and_take_theirs_from_others() {
        let map = Keymap::with_profile_keys(&[
            ("rollback".into(), vec!["R".into()]),
            ("quit".into(), vec!["k".into(), "F10".into()]),
        ]);
        let press = |c| map.command(&KeyEvent::from(c));
        assert_eq!(press(KeyCode::Char('R')), Some(Command::Rollback));
        assert_eq!(press(KeyCode::Char('X')), None);
        assert_eq!(press(KeyCode::Char('k')), Some(Command::Quit));
        assert_eq!(press(KeyCode::F(10)), Some(Command::Quit));
        assert_eq!(press(KeyCode::Up), Some(Command::Up));
        assert_eq!(map.label(Command::Rollback), "R");
        assert_eq!(map.keys(Command::Quit), ["k", "F10"]);
        // The help keeps its order: rollback where it was.
        let help = map.help();
        let at = |what: &str| help.iter().position(|(_, d, _)| d.contains(what)).unwrap();
        assert!(at("twice in 3 s") < at("undo the last change"));
    }
}
