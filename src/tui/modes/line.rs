//! Typing on the bottom line: an exact share, a `:` command, a `/` filter.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Binding, Hint, Reply, action, bind, hints, is_ctrl_c};
use crate::domain::Selection;
use crate::tui::app::Tone;

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

#[derive(Debug, Clone)]
pub struct Line {
    pub input: tui_input::Input,
    pub prompt: Prompt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Submit,
    Complete,
    Cancel,
    Type,
}

const SHARE: &[Binding<Act>] = &[
    bind(&[], "0–100", "percent, 0.1 steps", Act::Type),
    bind(&[KeyCode::Enter], "Enter", "preview", Act::Submit),
    bind(&[KeyCode::Esc], "Esc", "cancel", Act::Cancel),
];

const COMMAND: &[Binding<Act>] = &[
    bind(&[KeyCode::Tab], "Tab", "complete", Act::Complete),
    bind(&[KeyCode::Enter], "Enter", "run", Act::Submit),
    bind(&[KeyCode::Esc], "Esc", "cancel", Act::Cancel),
];

const FILTER: &[Binding<Act>] = &[
    bind(&[], "text", "model/region contains", Act::Type),
    bind(&[KeyCode::Enter], "Enter", "keep", Act::Submit),
    bind(&[KeyCode::Esc], "Esc", "clear", Act::Cancel),
];

impl Line {
    pub fn new(prompt: Prompt, text: &str) -> Self {
        Self {
            input: tui_input::Input::new(text.to_string()),
            prompt,
        }
    }

    fn table(&self) -> &'static [Binding<Act>] {
        match self.prompt {
            Prompt::Share(_) => SHARE,
            Prompt::Command => COMMAND,
            Prompt::Filter => FILTER,
        }
    }

    pub fn footer(&self) -> Vec<Hint> {
        hints(self.table())
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        let filter = self.prompt == Prompt::Filter;
        let act = if is_ctrl_c(&key) {
            Some(Act::Cancel)
        } else {
            action(self.table(), key.code)
        };
        match act {
            // Leaving the filter, either way, clears it: "cancelled" must
            // not leave a filter hiding cells.
            Some(Act::Cancel) if filter => Reply::ClearFilter,
            Some(Act::Cancel) => Reply::CloseSay("cancelled: nothing written".into(), Tone::Info),
            Some(Act::Submit) => {
                Reply::Submit(self.prompt.clone(), self.input.value().trim().to_string())
            }
            Some(Act::Complete) => Reply::Complete(self.input.value().to_string()),
            Some(Act::Type) | None => {
                use tui_input::backend::crossterm::EventHandler;
                let changed = self
                    .input
                    .handle_event(&crossterm::event::Event::Key(key))
                    .is_some_and(|c| c.value);
                match (changed, filter) {
                    (true, true) => Reply::Filter(self.input.value().trim().to_string()),
                    (true, false) => Reply::Typed,
                    (false, _) => Reply::Stay,
                }
            }
        }
    }
}
