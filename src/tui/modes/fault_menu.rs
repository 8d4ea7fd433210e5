//! The demo's fault menu (`F`): pick a fault for the cursor's region.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Binding, Hint, Reply, action, bind, hints};
use crate::tui::faults::CHOICES;

#[derive(Debug, Clone, PartialEq)]
pub struct FaultMenu {
    pub cursor: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Up,
    Down,
    Apply,
    Close,
}

const KEYS: &[Binding<Act>] = &[
    bind(&[KeyCode::Up, KeyCode::Char('k')], "↑/↓", "choose", Act::Up),
    bind(&[KeyCode::Down, KeyCode::Char('j')], "", "", Act::Down),
    bind(&[], "1–7", "pick", Act::Apply),
    bind(&[KeyCode::Enter], "Enter", "apply", Act::Apply),
    bind(
        &[KeyCode::Esc, KeyCode::Char('q'), KeyCode::Char('F')],
        "Esc",
        "close",
        Act::Close,
    ),
];

impl FaultMenu {
    pub fn footer(&self) -> Vec<Hint> {
        hints(KEYS)
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        let last = CHOICES.len() - 1;
        if let KeyCode::Char(c @ '1'..='9') = key.code {
            let index = c as usize - '1' as usize;
            return if index <= last {
                Reply::FaultChosen(index)
            } else {
                Reply::Stay
            };
        }
        match action(KEYS, key.code) {
            Some(Act::Up) => self.cursor = self.cursor.saturating_sub(1),
            Some(Act::Down) => self.cursor = (self.cursor + 1).min(last),
            Some(Act::Apply) => return Reply::FaultChosen(self.cursor),
            Some(Act::Close) => return Reply::Close,
            None => {}
        }
        Reply::Stay
    }
}
