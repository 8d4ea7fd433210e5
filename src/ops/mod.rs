//! Use cases, composed from domain + config + flags. No screen here: the CLI
//! and the TUI are two faces over these functions.

pub(crate) mod bench;
mod console;
mod error;
pub mod gate;
pub mod guard;
mod history;
pub mod monitor;
pub mod notify;
mod operator;
pub mod plan;
mod rollback;
mod shift;
mod undo;

pub use console::Console;
pub use error::OpsError;
pub use history::{History, history};
pub use operator::detect_operator;
pub use rollback::{Rollback, force_rollback, plan_rollback, rollback, rollback_as};
pub use shift::{ShiftAmount, ShiftPlan, Skipped, plan_shift};
pub use undo::plan_undo;
