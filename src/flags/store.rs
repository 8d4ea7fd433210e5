//! What every flag store offers: load a snapshot, commit against it (CAS).

use std::fmt;
use std::hash::{DefaultHasher, Hasher};
use std::time::{Duration, Instant};

use super::flagd::Document;
use crate::domain::{Action, ChangeRecord, Operator, Routes};

/// Identity of the exact bytes a snapshot was read from (`None`: no document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(Option<(u64, usize)>);

impl Fingerprint {
    pub fn of(bytes: Option<&[u8]>) -> Self {
        Self(bytes.map(|b| {
            let mut h = DefaultHasher::new();
            h.write(b);
            (h.finish(), b.len())
        }))
    }
}

/// The routing document as read, and the bytes it was read from.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub document: Document,
    pub fingerprint: Fingerprint,
    /// Committed revisions whose audit lines are not in the audit log yet
    /// (a read-only load reports the lag instead of repairing it).
    pub audit_behind: u64,
    /// The store's own version of what was read (etcd: the key's
    /// mod_revision, compared on commit); `None` for the file store.
    pub store_revision: Option<i64>,
}

impl Snapshot {
    pub fn revision(&self) -> u64 {
        self.document.revision
    }

    pub fn routes(&self) -> &Routes {
        &self.document.routes
    }
}

/// A change to commit: the whole new routing state and why.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub routes: Routes,
    pub action: Action,
    pub reason: String,
    pub operator: Operator,
    /// When the operation began (after any confirmation), for `elapsed_ms`.
    pub started: Instant,
    pub note: Option<String>,
    /// The cutover plan's state to write with this revision: `Some(Some)`
    /// sets it, `Some(None)` clears it, `None` keeps the document's.
    pub plan: Option<Option<String>>,
}

#[derive(Debug, Clone)]
pub struct Committed {
    pub record: ChangeRecord,
    /// Until the document and the audit line were durable.
    pub elapsed: Duration,
    /// The document is committed but the audit append failed; it will be
    /// reconciled from the document on the next start.
    pub audit_warning: Option<String>,
}

/// The document changed since the snapshot the change was based on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub based_on: u64,
    pub current: Option<u64>,
    pub changed_by: Option<String>,
    pub changed_at: Option<String>,
    pub change: Option<String>,
    /// The bytes changed without a new revision: edited outside beacon-console.
    pub outside_edit: bool,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.current, self.outside_edit) {
            (None, _) => write!(
                f,
                "revision {} is stale: the flag document was removed since it was read; reload",
                self.based_on
            ),
            (Some(cur), true) => write!(
                f,
                "revision {} is stale: the flag document was edited outside beacon-console (now revision {cur}); reload and review",
                self.based_on
            ),
            (Some(cur), false) => {
                write!(
                    f,
                    "revision {} is stale: changed by {}",
                    self.based_on,
                    self.changed_by.as_deref().unwrap_or("an unknown operator")
                )?;
                if let Some(at) = &self.changed_at {
                    write!(f, " at {at}")?;
                }
                write!(f, " (revision {cur}")?;
                if let Some(change) = &self.change {
                    write!(f, ": {change}")?;
                }
                write!(f, "); reload")
            }
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Conflict(Conflict),
    /// The store cannot be reached, locked, read or written.
    #[error("flag store unavailable: {0}")]
    Unavailable(String),
    /// As `Unavailable`, with the error underneath (I/O, network) kept.
    #[error("flag store unavailable: {0}")]
    Failed(#[source] crate::failure::Failure),
    /// Revisions were committed, but the document is gone: routers may still
    /// serve the last one from their copy, so this is not "all on the fallback".
    #[error(
        "flag document {path} is missing, but revision {revision} was committed{by}: routers may still serve it from their last copy. Restore the file, or `rollback --all --force` to write an all-fallback revision {next}",
        next = revision.saturating_add(1)
    )]
    Missing {
        path: String,
        revision: u64,
        /// " by WHO at WHEN", when the audit log says.
        by: String,
    },
    /// A role (the guard) is held by another process. (exit 7)
    #[error("{0}")]
    Held(String),
    /// The document is there but is not a valid routing document.
    #[error(
        "flag document {path} is unreadable: {detail}; `rollback --all --force` replaces it with an all-fallback document (the bad file is kept)"
    )]
    Corrupt { path: String, detail: String },
}

impl StoreError {
    /// The message without the "flag store unavailable" prefix, for
    /// wrapping in a message of its own.
    pub fn into_detail(self) -> String {
        match self {
            StoreError::Unavailable(why) => why,
            StoreError::Failed(failure) => failure.to_string(),
            other => other.to_string(),
        }
    }
}

/// A region's acknowledgement of the revision its router's file holds
/// (written by `sync` beside the router).
#[derive(Debug, Clone, PartialEq)]
pub struct RegionAck {
    pub region: String,
    pub revision: u64,
    /// When the sync last heard from the store (it ages while it cannot).
    pub checked_at: String,
    pub host: String,
    /// Why the newest document was not written there, if so.
    pub refused: Option<String>,
}

/// What the regions acknowledged and who is connected, read at one time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Presence {
    pub applied: Vec<RegionAck>,
    /// Consoles connected, as `user@host`.
    pub operators: Vec<String>,
}

/// A role held (see [`FlagStore::hold`]): let go when dropped.
pub type Held = Box<dyn std::any::Any + Send>;

/// Audit events, oldest first, and the entries that could not be read.
pub type AuditRead = (Vec<super::audit::AuditEvent>, Vec<super::audit::BadLine>);

/// A place that holds the routing document, with compare-and-swap commits.
pub trait FlagStore {
    /// Where the document lives, for headers and messages (`file /var/lib/…`).
    fn describe(&self) -> String;

    /// The current document (revision 0, all fallback, when there is none yet).
    fn load(&self) -> Result<Snapshot, StoreError>;

    /// Commits `request` if the document is still exactly `base`; otherwise a
    /// conflict, and nothing is written but a "refused" audit line.
    fn commit(&self, base: &Snapshot, request: CommitRequest) -> Result<Committed, StoreError>;

    /// Reads and commits under one lock, so it cannot conflict: for rollbacks.
    /// `build` returns `None` when there is nothing to change.
    fn commit_latest(
        &self,
        build: &mut dyn FnMut(&Document) -> Option<CommitRequest>,
    ) -> Result<Option<Committed>, StoreError>;

    /// The emergency path: replaces a missing or unreadable document with
    /// `routes` (the bad file is kept as a backup) or commits over a good one.
    fn force_replace(&self, request: CommitRequest) -> Result<Committed, StoreError>;

    /// The audit as the store keeps it, oldest first, where it keeps one
    /// of its own (etcd: every operator's commits); `None`: the local file
    /// is the audit.
    fn audit_events(&self) -> Option<Result<AuditRead, StoreError>> {
        None
    }

    /// Holds the role `name` (the guard) for as long as the returned value
    /// lives, so that two processes never both act; refused, naming the
    /// holder, while another process holds it.
    fn hold(&self, name: &str, holder: &str) -> Result<Held, StoreError>;

    /// Whether `held` (from [`FlagStore::hold`]) is still ours. A file
    /// store's OS lock cannot be lost while the process lives; an etcd
    /// hold can, when its lease ran out while etcd was out of reach —
    /// another process may have the role now, so the first must not act.
    fn still_holds(&self, _held: &Held) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Publishes a small record under `name` beside the document (the
    /// guard's last check), for other processes to read; not audited.
    fn publish(&self, name: &str, text: &str) -> Result<(), StoreError>;

    /// The record last published under `name`, if any.
    fn published(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// Whether `presence` has anything to say (etcd), without asking it.
    fn keeps_presence(&self) -> bool {
        false
    }

    /// What the regions acknowledged and who is connected, where the store
    /// keeps that (etcd); `None` where it does not (the file store).
    fn presence(&self) -> Option<Result<Presence, StoreError>> {
        None
    }

    /// Says that `operator` has a console open, for as long as the store
    /// lives (etcd: a key under a lease). Never blocks.
    fn announce_operator(&self, _operator: &str) {}

    /// Calls `notify` (from another thread) whenever the document, an
    /// acknowledgement or an operator changes, and once after the store
    /// comes back from being out of reach; false when it cannot watch.
    fn subscribe(&self, _notify: Box<dyn Fn() + Send + Sync>) -> bool {
        false
    }
}

/// The revision after `current`; refused rather than wrapped to 0.
pub(crate) fn next_revision(current: u64) -> Result<u64, StoreError> {
    current.checked_add(1).ok_or_else(|| {
        StoreError::Unavailable(format!(
            "revision {current} is the largest there can be: refusing to wrap it to 0 (was metadata.version edited by hand?); nothing was written"
        ))
    })
}

/// Every cell of `routes` as a change from a split nobody can read.
pub(crate) fn changes_from_unknown(routes: &Routes) -> Vec<crate::domain::CellChange> {
    routes
        .iter()
        .map(|(cell, split)| crate::domain::CellChange {
            cell: cell.clone(),
            before: None,
            after: split.clone(),
        })
        .collect()
}

/// The document of `revision`: `request`'s routes over `base` (whose other
/// flags and metadata stay), with its change record serialized once — the
/// same text goes into the document and the audit line.
pub(crate) fn next_document(
    base: &Document,
    revision: u64,
    request: CommitRequest,
    changes: Vec<crate::domain::CellChange>,
) -> Document {
    let record = ChangeRecord {
        revision,
        previous_revision: base.revision,
        time: super::file::now_utc(),
        operator: request.operator.clone(),
        action: request.action,
        reason: request.reason,
        changes,
        elapsed_ms: request.started.elapsed().as_secs_f64() * 1000.0,
        note: request.note,
    };
    let mut metadata_extra = base.metadata_extra.clone();
    if let Some(plan) = request.plan {
        metadata_extra.retain(|(key, _)| key != super::flagd::PLAN_KEY);
        if let Some(json) = plan {
            // A string: flagd's metadata values are scalars.
            let text = serde_json::to_string(&json).unwrap_or_default();
            metadata_extra.push((super::flagd::PLAN_KEY.to_string(), text));
        }
    }
    Document {
        revision,
        routes: request.routes,
        change_record: Some(super::RecordText::new(record)),
        foreign: base.foreign.clone(),
        extra: base.extra.clone(),
        metadata_extra,
        pending_audit: None,
    }
}
