//! An operation that failed because of something underneath it (a file, a
//! socket, the terminal), with that cause kept as a typed source.
//!
//! The message says it all on one line — "cannot read /x: permission denied"
//! — because an on-call reads one line; the cause stays reachable through
//! `Error::source` for code that decides by it (retry on a timeout, say).

use std::error::Error;
use std::sync::Arc;

/// "cannot WHAT: CAUSE", with CAUSE kept as the source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot {what}: {source}")]
pub struct Failure {
    what: String,
    #[source]
    source: Arc<dyn Error + Send + Sync>,
}

impl Failure {
    /// `what` reads after "cannot": "read the audit log /x".
    pub fn new(what: impl Into<String>, cause: impl Error + Send + Sync + 'static) -> Self {
        Failure {
            what: what.into(),
            source: Arc::new(cause),
        }
    }

    /// The I/O error underneath, when that is what it was.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        self.source
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_said_and_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let failure = Failure::new("read /x", io);
        assert_eq!(failure.to_string(), "cannot read /x: permission denied");
        assert_eq!(
            failure.io_kind(),
            Some(std::io::ErrorKind::PermissionDenied)
        );
        let source = failure.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("permission denied"));
    }
}
