use crate::config::ConfigError;
use crate::domain::{PercentError, SelectionError, SplitError};
use crate::flags::{Conflict, StoreError};

/// Why an operation did not happen. Each kind has its own exit code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpsError {
    /// Bad input: unknown id, out-of-range percentage, missing confirmation… (exit 2)
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// From the flag store, with its cause kept: a stale revision (exit 3),
    /// or the store cannot be locked, read or written, or the document is
    /// unreadable or missing (exit 4).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else this needs cannot be reached (runtime, simulator,
    /// terminal). (exit 4)
    #[error("{0}")]
    Unavailable(String),
    /// As `Unavailable`, with the cause underneath kept. (exit 4)
    #[error(transparent)]
    Failed(#[from] crate::failure::Failure),
    /// A write in read-only mode. (exit 5)
    #[error("{0}")]
    ReadOnly(String),
    /// The benchmark ran, and its gates did not all pass. (exit 6)
    #[error("{0}")]
    GatesFailed(String),
    /// Ended by a signal after giving the terminal back. (exit 128 + n)
    #[error("stopped by {name}; the terminal is restored and nothing was left half written")]
    Interrupted { name: &'static str, number: i32 },
}

impl OpsError {
    /// The documented exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            OpsError::Invalid(_) | OpsError::Config(_) => 2,
            OpsError::Store(StoreError::Conflict(_)) => 3,
            OpsError::Store(StoreError::Held(_)) => 7,
            OpsError::Store(_) | OpsError::Unavailable(_) | OpsError::Failed(_) => 4,
            OpsError::ReadOnly(_) => 5,
            OpsError::GatesFailed(_) => 6,
            OpsError::Interrupted { number, .. } => 128 + number,
        }
    }
}

impl From<crate::fleet::FleetError> for OpsError {
    fn from(e: crate::fleet::FleetError) -> Self {
        match e {
            crate::fleet::FleetError::Invalid(why) => OpsError::Invalid(why),
            crate::fleet::FleetError::Failed(why) => OpsError::Failed(why),
        }
    }
}

impl From<Conflict> for OpsError {
    fn from(c: Conflict) -> Self {
        OpsError::Store(StoreError::Conflict(c))
    }
}

impl From<SelectionError> for OpsError {
    fn from(e: SelectionError) -> Self {
        OpsError::Invalid(e.to_string())
    }
}

impl From<PercentError> for OpsError {
    fn from(e: PercentError) -> Self {
        OpsError::Invalid(e.to_string())
    }
}

impl From<SplitError> for OpsError {
    fn from(e: SplitError) -> Self {
        OpsError::Invalid(e.to_string())
    }
}
