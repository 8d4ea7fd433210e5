//! The audit history, newest first, scrolled.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Binding, Hint, Reply, action, bind, hints};

#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub lines: Vec<String>,
    pub offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Down,
    Up,
    PageDown,
    PageUp,
    Newest,
    Back,
}

const KEYS: &[Binding<Act>] = &[
    bind(
        &[KeyCode::Down, KeyCode::Char('j')],
        "↑/↓",
        "scroll",
        Act::Down,
    ),
    bind(&[KeyCode::Up, KeyCode::Char('k')], "", "", Act::Up),
    bind(
        &[KeyCode::PageDown, KeyCode::Char(' ')],
        "PgUp/PgDn",
        "page",
        Act::PageDown,
    ),
    bind(&[KeyCode::PageUp], "", "", Act::PageUp),
    bind(
        &[KeyCode::Home, KeyCode::Char('g')],
        "g",
        "newest",
        Act::Newest,
    ),
    bind(
        &[KeyCode::Esc, KeyCode::Char('q'), KeyCode::Char('L')],
        "Esc",
        "back",
        Act::Back,
    ),
];

impl History {
    pub fn new(lines: Vec<String>) -> Self {
        Self { lines, offset: 0 }
    }

    pub fn footer(&self) -> Vec<Hint> {
        hints(KEYS)
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        let last = self.lines.len().saturating_sub(1);
        let offset = &mut self.offset;
        match action(KEYS, key.code) {
            Some(Act::Down) => *offset = (*offset + 1).min(last),
            Some(Act::Up) => *offset = offset.saturating_sub(1),
            Some(Act::PageDown) => *offset = (*offset + 15).min(last),
            Some(Act::PageUp) => *offset = offset.saturating_sub(15),
            Some(Act::Newest) => *offset = 0,
            Some(Act::Back) => return Reply::Close,
            None => {}
        }
        Reply::Stay
    }
}
