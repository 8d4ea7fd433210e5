//! One cell in detail, with the audit lines about it.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Binding, Hint, Reply, action, bind, hints};
use crate::domain::CellId;

#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub cell: CellId,
    /// The audit lines about the cell (filled when the worker reports).
    pub changes: Vec<String>,
}

const KEYS: &[Binding<()>] = &[bind(
    &[KeyCode::Esc, KeyCode::Enter, KeyCode::Char('q')],
    "Esc",
    "back",
    (),
)];

impl Detail {
    pub fn new(cell: CellId) -> Self {
        Self {
            cell,
            changes: Vec::new(),
        }
    }

    pub fn footer(&self) -> Vec<Hint> {
        hints(KEYS)
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        match action(KEYS, key.code) {
            Some(()) => Reply::Close,
            None => Reply::Stay,
        }
    }
}
