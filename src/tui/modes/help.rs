//! Help: every key (from the keymap), then the legend of the matrix's marks.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Binding, Hint, Reply, action, bind, hints};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Keys,
    Legend,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Help {
    pub page: Page,
}

const KEYS: &[Binding<()>] = &[
    bind(
        &[KeyCode::Char('?'), KeyCode::Right, KeyCode::PageDown],
        "?",
        "legend",
        (),
    ),
    bind(&[], "any key", "close", ()),
];

impl Help {
    pub fn new() -> Self {
        Self { page: Page::Keys }
    }

    pub fn footer(&self) -> Vec<Hint> {
        match self.page {
            Page::Keys => hints(KEYS),
            Page::Legend => hints(&KEYS[1..]),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        match (self.page, action(KEYS, key.code)) {
            (Page::Keys, Some(())) => Reply::NextPage,
            _ => Reply::Close,
        }
    }
}

impl Default for Help {
    fn default() -> Self {
        Self::new()
    }
}
