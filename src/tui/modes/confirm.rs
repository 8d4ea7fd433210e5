//! The confirmation dialog of a change forward (shift, undo): before → after,
//! Cancel focused, compare-and-swap against the document it showed; in
//! production the change is typed, not pressed; stale once the document
//! changes under it.

use crossterm::event::{KeyCode, KeyEvent};

use crate::domain::{CellChange, Routes};
use crate::flags::Snapshot;
use crate::ops::Skipped;

use super::{Binding, Hint, Reply, action, bind, hints, is_ctrl_c};
use crate::tui::app::{Effect, Tone};

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
    /// Why, as typed in the dialog (optional: the audit says the dialog's
    /// title otherwise).
    pub reason: Option<String>,
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
    /// The dialog's reason field.
    Reason,
}

impl Focus {
    /// Between the two buttons (←/→).
    pub fn toggled(self) -> Focus {
        match self {
            Focus::Cancel => Focus::Confirm,
            Focus::Confirm | Focus::Reason => Focus::Cancel,
        }
    }

    /// Around the dialog (Tab): Cancel, then the reason, then Apply.
    fn next(self) -> Focus {
        match self {
            Focus::Cancel => Focus::Reason,
            Focus::Reason => Focus::Confirm,
            Focus::Confirm => Focus::Cancel,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Confirm {
    pub pending: Box<Pending>,
    pub focus: Focus,
    /// In production, what the operator types to confirm a change
    /// forward (the environment's name, or the one cell it changes).
    pub typed: Option<tui_input::Input>,
    /// Why it can no longer be confirmed: the document changed since.
    pub stale: Option<String>,
    /// Why the change is made, for the audit (Tab reaches it).
    pub reason: tui_input::Input,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Focus,
    Next,
    Choose,
    Cancel,
}

/// No letter acts on the buttons: an operator typing a reason into what
/// turned out to be a button must not apply (or cancel) by a `y` or an `n`.
const KEYS: &[Binding<Act>] = &[
    bind(&[KeyCode::Left, KeyCode::Right], "←/→", "focus", Act::Focus),
    bind(
        &[KeyCode::Tab, KeyCode::BackTab],
        "Tab",
        "reason",
        Act::Next,
    ),
    bind(&[KeyCode::Enter], "Enter", "choose", Act::Choose),
    bind(&[KeyCode::Esc], "Esc", "cancel", Act::Cancel),
];

/// Typing the reason: letters are text.
const REASON_KEYS: &[Binding<Act>] = &[
    bind(&[], "type", "why (for the audit)", Act::Choose),
    bind(
        &[KeyCode::Tab, KeyCode::BackTab],
        "Tab",
        "to Apply",
        Act::Next,
    ),
    bind(&[KeyCode::Enter], "Enter", "done", Act::Choose),
    bind(&[KeyCode::Esc], "Esc", "cancel", Act::Cancel),
];

/// In production the words are typed: letters are text there too.
const TYPED_KEYS: &[Binding<Act>] = &[
    bind(&[], "type", "to confirm", Act::Choose),
    bind(
        &[KeyCode::Tab, KeyCode::BackTab],
        "Tab",
        "focus, reason",
        Act::Next,
    ),
    bind(&[KeyCode::Enter], "Enter", "choose", Act::Choose),
    bind(&[KeyCode::Esc], "Esc", "cancel", Act::Cancel),
];

fn cancelled() -> Reply {
    Reply::CloseSay("cancelled: nothing written".into(), Tone::Info)
}

impl Confirm {
    pub fn new(pending: Pending, production: bool) -> Self {
        Self {
            pending: Box::new(pending),
            focus: Focus::Cancel,
            typed: production.then(tui_input::Input::default),
            stale: None,
            reason: tui_input::Input::default(),
        }
    }

    /// Letters are text while the reason (or production's words) is typed.
    fn table(&self) -> &'static [Binding<Act>] {
        match (self.focus, &self.typed) {
            (Focus::Reason, _) => REASON_KEYS,
            (_, Some(_)) => TYPED_KEYS,
            (_, None) => KEYS,
        }
    }

    pub fn footer(&self) -> Vec<Hint> {
        hints(self.table())
    }

    /// The reason typed, if any.
    pub fn reason(&self) -> Option<String> {
        let reason = self.reason.value().trim();
        (!reason.is_empty()).then(|| reason.to_string())
    }

    pub fn on_key(&mut self, key: KeyEvent, environment: &str) -> Reply {
        // Ctrl-C inside a dialog cancels it; it never quits from here.
        if is_ctrl_c(&key) {
            return cancelled();
        }
        match action(self.table(), key.code) {
            Some(Act::Focus) => {
                self.focus = self.focus.toggled();
                Reply::Stay
            }
            Some(Act::Next) => {
                self.focus = self.focus.next();
                Reply::Stay
            }
            Some(Act::Cancel) => cancelled(),
            Some(Act::Choose) if self.focus == Focus::Cancel => cancelled(),
            // Enter after the reason: on to Apply (a second Enter applies).
            Some(Act::Choose) if self.focus == Focus::Reason => {
                self.focus = Focus::Confirm;
                Reply::Stay
            }
            Some(Act::Choose) => self.apply(environment),
            None => {
                self.type_key(key);
                Reply::Stay
            }
        }
    }

    /// A key typed into the reason (when it has the focus) or production's
    /// words; control characters never get in.
    fn type_key(&mut self, key: KeyEvent) {
        use tui_input::backend::crossterm::EventHandler;
        if let KeyCode::Char(c) = key.code
            && crate::domain::text::is_unsafe_char(c)
        {
            return;
        }
        let field = match (self.focus, &mut self.typed) {
            (Focus::Reason, _) => Some(&mut self.reason),
            (_, typed) => typed.as_mut(),
        };
        if let Some(input) = field {
            input.handle_event(&crossterm::event::Event::Key(key));
        }
    }

    /// Apply, unless the dialog is stale or production's words are missing.
    fn apply(&self, environment: &str) -> Reply {
        if let Some(why) = &self.stale {
            return Reply::Say(format!("{why}: nothing written"), Tone::Bad);
        }
        let confirmed = self
            .typed
            .as_ref()
            .is_none_or(|t| self.typed_confirms(t.value(), environment));
        if confirmed {
            return Reply::Effect(Effect::Commit);
        }
        let want = self.confirmation_words(environment).join(" or ");
        Reply::Say(
            format!("type {want} to apply: nothing written yet"),
            Tone::Warn,
        )
    }

    /// What may be typed to confirm a change forward in production: the
    /// environment's name, or the cell when the change touches just one.
    pub fn confirmation_words(&self, environment: &str) -> Vec<String> {
        let mut words = vec![environment.to_string()];
        if let [only] = self.pending.changes.as_slice() {
            words.push(only.cell.to_string());
        }
        words
    }

    fn typed_confirms(&self, typed: &str, environment: &str) -> bool {
        self.confirmation_words(environment)
            .iter()
            .any(|w| w == typed.trim())
    }
}
