//! One component per console mode besides the matrix: each owns its state,
//! what its keys do and the footer hints for them, both read from one table
//! of bindings, so the footer cannot say what the keys do not do.

pub mod confirm;
pub mod detail;
pub mod fault_menu;
pub mod give_up;
pub mod help;
pub mod history;
pub mod line;

use crossterm::event::KeyCode;

use super::app::{Effect, Tone};

pub use confirm::{Confirm, Focus, Pending, PendingKind};
pub use detail::Detail;
pub use fault_menu::FaultMenu;
pub use give_up::GiveUp;
pub use help::{Help, Page};
pub use history::History;
pub use line::{Line, Prompt};

/// A footer hint: keys, what they do, and a rank (0 = always shown; higher
/// ones give way first on a narrow screen).
pub type Hint = (String, &'static str, u8);

/// One row of a mode's key table.
pub struct Binding<A> {
    pub keys: &'static [KeyCode],
    /// How the footer shows the keys ("" for none: a key the footer omits).
    pub label: &'static str,
    pub what: &'static str,
    pub action: A,
}

/// One row of a key table, on one line.
pub const fn bind<A>(
    keys: &'static [KeyCode],
    label: &'static str,
    what: &'static str,
    action: A,
) -> Binding<A> {
    Binding {
        keys,
        label,
        what,
        action,
    }
}

/// The action `code` is bound to in `table`.
pub fn action<A: Copy>(table: &[Binding<A>], code: KeyCode) -> Option<A> {
    table
        .iter()
        .find(|b| b.keys.contains(&code))
        .map(|b| b.action)
}

/// The footer's hints for `table`, in its order.
pub fn hints<A>(table: &[Binding<A>]) -> Vec<Hint> {
    table
        .iter()
        .filter(|b| !b.label.is_empty())
        .map(|b| (b.label.to_string(), b.what, 0))
        .collect()
}

/// What a key did in a mode; the app carries it out.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Nothing more: stay in the mode.
    Stay,
    /// Back to the matrix.
    Close,
    /// Stay, with a message.
    Say(String, Tone),
    /// Back to the matrix, with a message.
    CloseSay(String, Tone),
    /// Stay, and the runner does this.
    Effect(Effect),
    /// Give up the pending rollback (confirmed).
    GiveUpRollback,
    /// The filter as typed so far.
    Filter(String),
    /// Something was typed: the last message no longer applies.
    Typed,
    /// Clear the filter and leave.
    ClearFilter,
    /// Enter on the bottom line: the app reads what was typed.
    Submit(Prompt, String),
    /// Tab on the command line: the app completes it.
    Complete(String),
    /// A choice of the fault menu, by position.
    FaultChosen(usize),
    /// The help's next page.
    NextPage,
}

/// Ctrl-C: never a quit from inside a mode, only a way out of it.
pub fn is_ctrl_c(key: &crossterm::event::KeyEvent) -> bool {
    key.modifiers
        .contains(crossterm::event::KeyModifiers::CONTROL)
        && key.code == KeyCode::Char('c')
}
