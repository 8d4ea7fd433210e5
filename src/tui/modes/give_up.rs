//! Giving up a rollback that is not written yet: only this, explicitly and
//! confirmed, ends its retries. "Keep retrying" has the focus.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Binding, Focus, Hint, Reply, action, bind, hints, is_ctrl_c};
use crate::tui::app::Tone;

#[derive(Debug, Clone, PartialEq)]
pub struct GiveUp {
    /// `Confirm` is "Give up".
    pub focus: Focus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Focus,
    Choose,
    Keep,
}

const KEYS: &[Binding<Act>] = &[
    bind(
        &[
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::Tab,
            KeyCode::BackTab,
        ],
        "←/→",
        "focus",
        Act::Focus,
    ),
    bind(&[KeyCode::Enter], "Enter", "choose", Act::Choose),
    bind(&[KeyCode::Esc], "Esc", "keep retrying", Act::Keep),
];

impl GiveUp {
    pub fn new() -> Self {
        Self {
            focus: Focus::Cancel,
        }
    }

    pub fn footer(&self) -> Vec<Hint> {
        hints(KEYS)
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        let keep = || Reply::CloseSay("the rollback is still being retried".into(), Tone::Warn);
        if is_ctrl_c(&key) {
            return keep();
        }
        match action(KEYS, key.code) {
            Some(Act::Focus) => {
                self.focus = self.focus.toggled();
                Reply::Stay
            }
            Some(Act::Choose) if self.focus == Focus::Confirm => Reply::GiveUpRollback,
            Some(Act::Choose | Act::Keep) => keep(),
            None => Reply::Stay,
        }
    }
}

impl Default for GiveUp {
    fn default() -> Self {
        Self::new()
    }
}
