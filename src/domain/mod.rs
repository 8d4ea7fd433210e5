//! Pure types and rules of routing: no I/O, no screen, no clock.

pub(crate) mod cell;
pub(crate) mod change;
pub mod guard;
pub(crate) mod ladder;
pub(crate) mod percent;
pub mod plan;
pub(crate) mod routes;
pub(crate) mod selection;
pub(crate) mod split;
pub(crate) mod text;

pub use cell::{CellId, CellKey};

/// An id of a model, region or provider. Shared, so that the thousands of
/// copies a 1,000-cell matrix makes of the same few ids cost no allocation.
pub type Id = std::sync::Arc<str>;
pub use change::{Action, CellChange, ChangeRecord, Operator};
pub use ladder::{Direction, Ladder, LadderError};
pub use percent::{PerMille, PercentError};
pub use routes::Routes;
pub use selection::{Selection, SelectionError};
pub use split::{Split, SplitError};

/// Ids of models, regions and providers: lower-case letters, digits, `.`, `_`, `-`.
/// `@`, `/` and `:` are excluded so that flag keys and `MODEL/REGION` stay unambiguous.
pub fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && id.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("llama-3.2-1b"));
        assert!(is_valid_id("us-east"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("-x"));
        assert!(!is_valid_id("a/b"));
        assert!(!is_valid_id("a@b"));
        assert!(!is_valid_id("Upper"));
    }
}
