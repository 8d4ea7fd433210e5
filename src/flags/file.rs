//! The local flag store: one JSON file, replaced atomically under an exclusive lock.
//!
//! A commit: lock `<doc>.lock` → re-read the document and compare it with the
//! snapshot (CAS) → write a temp file in the same directory → fsync → rename
//! over the document → fsync the directory → append the audit line → unlock.
//! A crash at any instant leaves the old or the new document, never a torn one;
//! a crash after the rename but before the audit append is repaired on the next
//! start from the change record the document carries.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::audit::{AuditEvent, AuditLog, RefusedAttempt};
use super::flagd::{Document, FlagCodec, peek_revision};
use super::record_text::RecordText;
use super::store::{
    CommitRequest, Committed, Conflict, Fingerprint, FlagStore, Snapshot, StoreError,
};
use crate::domain::{Action, CellChange, ChangeRecord, Operator};

pub struct FileStore {
    path: PathBuf,
    lock_path: PathBuf,
    /// `.NAME.tmp` beside the document: written, fsync'd, renamed over it.
    tmp_path: PathBuf,
    audit: AuditLog,
    codec: FlagCodec,
    lock_timeout: Duration,
}

/// Held while the store is locked; the OS releases it if the process dies.
struct LockGuard {
    _file: File,
}

fn unavailable(what: &str, path: &Path, e: io::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot {what} {}: {e}", path.display()))
}

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now_utc() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

impl FileStore {
    pub fn new(
        path: impl Into<PathBuf>,
        audit: AuditLog,
        codec: FlagCodec,
        lock_timeout: Duration,
    ) -> Self {
        let path = path.into();
        let name = path.file_name().unwrap_or_default();
        let mut lock_name = name.to_os_string();
        lock_name.push(".lock");
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(".tmp");
        Self {
            lock_path: path.with_file_name(lock_name),
            tmp_path: path.with_file_name(tmp_name),
            path,
            audit,
            codec,
            lock_timeout,
        }
    }

    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    fn lock(&self) -> Result<LockGuard, StoreError> {
        fs::create_dir_all(self.dir()).map_err(|e| unavailable("create", self.dir(), e))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| unavailable("open the lock file", &self.lock_path, e))?;
        let deadline = Instant::now() + self.lock_timeout;
        let mut pause = Duration::from_micros(200);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Unavailable(format!(
                        "{} is locked by another process (see `fuser {}`) for more than {} ms; nothing was written",
                        self.path.display(),
                        self.lock_path.display(),
                        self.lock_timeout.as_millis()
                    )));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(unavailable("lock", &self.lock_path, e));
                }
            }
        }
        // Nothing is written to the lock file: a truncate + write there costs
        // more than a rollback's whole CPU work (ext4 journals it).
        Ok(LockGuard { _file: file })
    }

    fn read_bytes(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unavailable("read", &self.path, e)),
        }
    }

    fn decode(&self, bytes: Option<&[u8]>) -> Result<Document, StoreError> {
        match bytes {
            None => Ok(self.codec.initial()),
            Some(b) => self.codec.decode(b).map_err(|e| StoreError::Corrupt {
                path: self.path.display().to_string(),
                detail: e.to_string(),
            }),
        }
    }

    /// Makes sure the audit has the line of the document's revision. Under the lock.
    fn reconcile(&self, doc: &Document) -> Result<u64, StoreError> {
        let audit_err = |e| unavailable("read or repair the audit log", self.audit.path(), e);
        self.audit.repair_torn_tail().map_err(audit_err)?;
        let audited = self
            .audit
            .last_committed_revision()
            .map_err(audit_err)?
            .unwrap_or(0);
        if doc.revision > audited {
            if let Some(text) = &doc.change_record
                && doc.last_change().is_some()
            {
                self.audit
                    .append_line(&text.audit_line())
                    .map_err(|e| unavailable("append to the audit log", self.audit.path(), e))?;
                return Ok(doc.revision);
            }
            let record = ChangeRecord {
                revision: doc.revision,
                previous_revision: audited,
                time: now_utc(),
                operator: Operator {
                    user: "unknown".into(),
                    host: "unknown".into(),
                    ssh_client: None,
                },
                action: Action::Shift,
                reason:
                    "revision written outside beacon-console (no change record in the document)"
                        .into(),
                changes: Vec::new(),
                elapsed_ms: 0.0,
                note: Some("reconciled".into()),
            };
            self.audit
                .append(&AuditEvent::Commit(record))
                .map_err(|e| unavailable("append to the audit log", self.audit.path(), e))?;
            return Ok(doc.revision);
        }
        Ok(audited)
    }

    /// Whether the audit lags the document (checked without the lock).
    fn needs_reconcile(&self, doc: &Document) -> bool {
        doc.revision > 0
            && self
                .audit
                .last_committed_revision()
                .map_or(true, |r| r.unwrap_or(0) < doc.revision)
    }

    /// temp + fsync + rename + fsync(dir).
    fn write_atomic(&self, bytes: &[u8]) -> Result<(), StoreError> {
        // One fixed temp name is enough: only the lock holder writes, and a temp
        // left by a process killed mid-write is simply overwritten.
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&self.tmp_path)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&self.tmp_path, &self.path)?;
            File::open(self.dir())?.sync_all()
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&self.tmp_path);
            unavailable("write", &self.path, e)
        })
    }

    /// Writes `routes` as the revision after `base` (under the lock).
    fn write_revision(
        &self,
        base: &Document,
        audited: u64,
        request: CommitRequest,
        changes: Vec<CellChange>,
        scratch: Vec<u8>,
    ) -> Result<Committed, StoreError> {
        // Never reuse a revision number, even if the document was restored from an old copy.
        let revision = base.revision.max(audited) + 1;
        let record = ChangeRecord {
            revision,
            previous_revision: base.revision,
            time: now_utc(),
            operator: request.operator,
            action: request.action,
            reason: request.reason,
            changes,
            elapsed_ms: request.started.elapsed().as_secs_f64() * 1000.0,
            note: request.note,
        };
        // Serialized once: the same text goes into the document and the audit line.
        let text = RecordText::new(record);
        let mut doc = Document {
            revision,
            routes: request.routes,
            change_record: Some(text),
            foreign: base.foreign.clone(),
            extra: base.extra.clone(),
        };
        let mut bytes = scratch;
        self.codec.encode_into(&doc, &mut bytes);
        self.write_atomic(&bytes)?;
        let text = doc.change_record.take().unwrap_or_default();
        let line = text.audit_line();
        let audit_warning = self
            .audit
            .append_line(&line)
            .err()
            .map(|e| format!("revision {revision} is committed but its audit line could not be written ({e}); it will be added from the document on the next start"));
        // The record moves back out of its text: no copy of 1,000 changes.
        let record = text.into_record().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "revision {revision} is committed but its record could not be read back"
            ))
        })?;
        Ok(Committed {
            record,
            elapsed: request.started.elapsed(),
            audit_warning,
        })
    }

    fn conflict(&self, base: &Snapshot, current: Option<&[u8]>) -> Conflict {
        let doc = current.and_then(|b| self.codec.decode(b).ok());
        let current_revision = match (&doc, current) {
            (Some(d), _) => Some(d.revision),
            (None, Some(b)) => peek_revision(b),
            (None, None) => None,
        };
        let change = doc.as_ref().and_then(|d| d.last_change());
        Conflict {
            based_on: base.revision(),
            current: current_revision,
            changed_by: change.map(|c| c.operator.to_string()),
            changed_at: change.map(|c| c.time.clone()),
            change: change.map(|c| format!("{}, \"{}\"", c.action, c.reason)),
            outside_edit: current.is_some()
                && (current_revision == Some(base.revision()) || change.is_none()),
        }
    }
}

impl FlagStore for FileStore {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        let bytes = self.read_bytes()?;
        let document = self.decode(bytes.as_deref())?;
        if self.needs_reconcile(&document) {
            let _lock = self.lock()?;
            // Re-read under the lock: another process may have committed meanwhile.
            let bytes = self.read_bytes()?;
            let document = self.decode(bytes.as_deref())?;
            self.reconcile(&document)?;
            return Ok(Snapshot {
                fingerprint: Fingerprint::of(bytes.as_deref()),
                document,
            });
        }
        Ok(Snapshot {
            fingerprint: Fingerprint::of(bytes.as_deref()),
            document,
        })
    }

    fn commit(&self, base: &Snapshot, request: CommitRequest) -> Result<Committed, StoreError> {
        let _lock = self.lock()?;
        let current = self.read_bytes()?;
        if Fingerprint::of(current.as_deref()) != base.fingerprint {
            let conflict = self.conflict(base, current.as_deref());
            let _ = self.audit.append(&AuditEvent::Refused(RefusedAttempt {
                time: now_utc(),
                operator: request.operator,
                action: request.action,
                reason: request.reason,
                based_on: base.revision(),
                error: conflict.to_string(),
            }));
            return Err(StoreError::Conflict(conflict));
        }
        let audited = self.reconcile(&base.document)?;
        let changes = base.document.routes.diff(&request.routes);
        // The bytes just read are no longer needed: their buffer takes the new document.
        let scratch = current.unwrap_or_default();
        self.write_revision(&base.document, audited, request, changes, scratch)
    }

    fn commit_latest(
        &self,
        build: &mut dyn FnMut(&Document) -> Option<CommitRequest>,
    ) -> Result<Option<Committed>, StoreError> {
        let _lock = self.lock()?;
        let current = self.read_bytes()?;
        let document = self.decode(current.as_deref())?;
        let audited = self.reconcile(&document)?;
        let Some(request) = build(&document) else {
            return Ok(None);
        };
        let changes = document.routes.diff(&request.routes);
        if changes.is_empty() {
            return Ok(None);
        }
        let scratch = current.unwrap_or_default();
        self.write_revision(&document, audited, request, changes, scratch)
            .map(Some)
    }

    fn force_replace(&self, mut request: CommitRequest) -> Result<Committed, StoreError> {
        let _lock = self.lock()?;
        let current = self.read_bytes()?;
        let decoded = current.as_deref().map(|b| self.codec.decode(b));
        let (base, changes) = match decoded {
            // A readable document: an ordinary commit over it.
            Some(Ok(document)) => {
                let changes = document.routes.diff(&request.routes);
                (document, changes)
            }
            // Missing: the implicit all-fallback revision 0.
            None => {
                let document = self.codec.initial();
                let changes = document.routes.diff(&request.routes);
                request.note = Some("no flag document existed; wrote a fresh one".into());
                (document, changes)
            }
            // Unreadable: keep it aside, then write a fresh document.
            Some(Err(e)) => {
                let stamp = now_utc().replace([':', '.'], "");
                let mut backup_name = self.path.file_name().unwrap_or_default().to_os_string();
                backup_name.push(format!(".unreadable-{stamp}"));
                let backup = self.path.with_file_name(backup_name);
                // A link (or copy), not a move: the bad file stays in place until
                // the new document replaces it atomically.
                fs::hard_link(&self.path, &backup)
                    .or_else(|_| fs::copy(&self.path, &backup).map(|_| ()))
                    .map_err(|err| unavailable("back up", &self.path, err))?;
                let mut document = self.codec.initial();
                document.revision = current.as_deref().and_then(peek_revision).unwrap_or(0);
                let changes = request
                    .routes
                    .iter()
                    .map(|(cell, split)| CellChange {
                        cell: cell.clone(),
                        before: None,
                        after: split.clone(),
                    })
                    .collect();
                request.note = Some(format!(
                    "unreadable document ({e}) kept as {}",
                    backup.display()
                ));
                (document, changes)
            }
        };
        self.audit
            .repair_torn_tail()
            .map_err(|e| unavailable("repair the audit log", self.audit.path(), e))?;
        let audited = self
            .audit
            .last_committed_revision()
            .map_err(|e| unavailable("read the audit log", self.audit.path(), e))?
            .unwrap_or(0);
        self.write_revision(&base, audited, request, changes, Vec::new())
    }
}
