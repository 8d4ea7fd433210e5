//! The local flag store: one JSON file, replaced atomically under an exclusive lock.
//!
//! A commit: lock `<doc>.lock` → re-read the document and compare it with the
//! snapshot (CAS) → write a temp file in the same directory → fsync → rename
//! over the document → fsync the directory → append the audit line → unlock.
//! A crash at any instant leaves the old or the new document, never a torn one;
//! a crash after the rename but before the audit append is repaired on the next
//! start from the change record the document carries.

use crate::failure::Failure;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::audit::{AuditEvent, AuditLog, RefusedAttempt};
use super::flagd::{Document, FlagCodec, peek_revision};
use super::record_text::RecordText;
use super::store::{
    CommitRequest, Committed, Conflict, Fingerprint, FlagStore, Held, Snapshot, StoreError,
    changes_from_unknown, next_document, next_revision,
};
use crate::domain::{Action, CellChange, ChangeRecord, Operator};

/// The largest document read: 60 times a 1,000-cell one.
const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

pub struct FileStore {
    path: PathBuf,
    lock_path: PathBuf,
    /// `.NAME.tmp` beside the document: written, fsync'd, renamed over it.
    tmp_path: PathBuf,
    audit: AuditLog,
    codec: FlagCodec,
    lock_timeout: Duration,
    /// Never writes, not even to repair the audit log (`--read-only`).
    read_only: bool,
    /// A copy of another store's document (`--store-file`): the local
    /// audit log is not its audit, so no lag is counted against it.
    copy: bool,
}

/// Where the audit log stands against a document, under the lock.
struct AuditState {
    /// The last revision with a commit line (`None`: the log cannot be read).
    audited: Option<u64>,
    /// Why the log could not be read or brought up to date, if it could not.
    error: Option<String>,
}

/// Held while the store is locked; the OS releases it if the process dies.
struct LockGuard {
    _file: File,
}

fn unavailable(what: &str, path: &Path, e: io::Error) -> StoreError {
    StoreError::Failed(Failure::new(format!("{what} {}", path.display()), e))
}

/// Replaces `path` with `bytes` atomically (temp in the same directory,
/// fsync, rename, fsync the directory): a reader — flagd's file watcher —
/// sees the old document or the new one, never a torn one.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(path.file_name().unwrap_or_default());
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
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
            read_only: false,
            copy: false,
        }
    }

    /// A store that reads only: loads report the audit's lag instead of repairing it.
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// A read-only copy of another store's document (`--store-file`).
    #[must_use]
    pub fn as_copy(mut self) -> Self {
        self.copy = true;
        self.read_only = true;
        self
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

    /// The document's bytes, at most `MAX_DOCUMENT_BYTES + 1` of them (a
    /// larger file is refused by `decode`, without reading all of it).
    fn read_bytes(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable("read", &self.path, e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unavailable("read", &self.path, e))?;
        Ok(Some(bytes))
    }

    fn decode(&self, bytes: Option<&[u8]>) -> Result<Document, StoreError> {
        match bytes {
            Some(b) if b.len() as u64 > MAX_DOCUMENT_BYTES => Err(StoreError::Corrupt {
                path: self.path.display().to_string(),
                detail: format!(
                    "it is larger than {} MiB (a 1,000-cell document is about 0.25 MiB)",
                    MAX_DOCUMENT_BYTES >> 20
                ),
            }),
            None => Ok(self.codec.initial()),
            Some(b) => self.codec.decode(b).map_err(|e| StoreError::Corrupt {
                path: self.path.display().to_string(),
                detail: e.to_string(),
            }),
        }
    }

    /// Brings the audit log up to `doc` (its pending lines and its own
    /// record). Under the lock. Returns the last audited revision.
    fn reconcile(&self, doc: &Document) -> Result<u64, StoreError> {
        let audit_err = |e| unavailable("read or repair the audit log", self.audit.path(), e);
        self.audit.repair_torn_tail().map_err(audit_err)?;
        let audited = self.audit.last_committed_revision().map_err(audit_err)?;
        let audited = audited.unwrap_or(0);
        let lines = unaudited_lines(doc, Some(audited));
        if lines.is_empty() {
            return Ok(audited);
        }
        self.audit
            .append_line(&lines)
            .map_err(|e| unavailable("append to the audit log", self.audit.path(), e))?;
        Ok(audited.max(doc.revision))
    }

    /// Like `reconcile`, but an audit log that cannot be read or written is
    /// reported, not fatal: the rollback paths must not depend on it.
    fn audit_state(&self, doc: &Document) -> AuditState {
        match self.reconcile(doc) {
            Ok(audited) => AuditState {
                audited: Some(audited),
                error: None,
            },
            Err(e) => AuditState {
                audited: self
                    .audit
                    .last_committed_revision()
                    .ok()
                    .map(Option::unwrap_or_default),
                error: Some(e.into_detail()),
            },
        }
    }

    /// Whether the audit lags the document (checked without the lock), and by how much.
    fn audit_lag(&self, doc: &Document) -> u64 {
        if doc.revision == 0 || self.copy {
            return 0;
        }
        match self.audit.last_committed_revision() {
            Ok(audited) => doc.revision.saturating_sub(audited.unwrap_or(0)),
            // Unreadable: treat it as behind, so that a writer tries to repair it.
            Err(_) => 1,
        }
    }

    /// A missing document is only "nothing committed yet" when the audit log
    /// says nothing was ever committed.
    fn ensure_never_committed(&self) -> Result<(), StoreError> {
        match self.audit.last_commit() {
            Ok(None) => Ok(()),
            Ok(Some(last)) => Err(StoreError::Missing {
                path: self.path.display().to_string(),
                revision: last.revision,
                by: format!(" by {} at {}", last.operator, last.time),
            }),
            Err(e) => Err(StoreError::Unavailable(format!(
                "flag document {} is missing and the audit log {} cannot be read ({e}), so it is unknown whether revisions were committed; `rollback --all --force` writes an all-fallback document",
                self.path.display(),
                self.audit.path().display()
            ))),
        }
    }

    /// The document's bytes and what they decode to; a missing document
    /// after commits is an error, never revision 0.
    fn read_current(&self) -> Result<(Option<Vec<u8>>, Document), StoreError> {
        let bytes = self.read_bytes()?;
        if bytes.is_none() {
            self.ensure_never_committed()?;
        }
        let document = self.decode(bytes.as_deref())?;
        Ok((bytes, document))
    }

    /// `NAME.json` → `NAME.json.<name>` beside the document.
    fn published_path(&self, name: &str) -> PathBuf {
        let mut file = self.path.file_name().unwrap_or_default().to_os_string();
        file.push(format!(".{name}"));
        self.path.with_file_name(file)
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

    /// Writes `routes` as the revision after `base` (under the lock). When the
    /// audit log is out of reach, the lines it lacks travel in the document
    /// (`pendingAudit`) until an append succeeds: no revision goes unaudited.
    fn write_revision(
        &self,
        base: &Document,
        audit: &AuditState,
        request: CommitRequest,
        changes: Vec<CellChange>,
        scratch: Vec<u8>,
    ) -> Result<Committed, StoreError> {
        // Never reuse a revision number, even if the document was restored from an old copy.
        let revision = next_revision(base.revision.max(audit.audited.unwrap_or(0)))?;
        let pending = match &audit.error {
            Some(_) => unaudited_lines(base, audit.audited),
            None => Vec::new(),
        };
        let started = request.started;
        let mut doc = next_document(base, revision, request, changes);
        doc.pending_audit =
            (!pending.is_empty()).then(|| String::from_utf8_lossy(&pending).into_owned());
        let mut bytes = scratch;
        self.codec.encode_into(&doc, &mut bytes);
        self.write_atomic(&bytes)?;
        let text = doc.change_record.take().unwrap_or_default();
        let audit_warning = self.append_after_commit(revision, audit, pending, &text);
        // The record moves back out of its text: no copy of 1,000 changes.
        let record = text.into_record().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "revision {revision} is committed but its record could not be read back"
            ))
        })?;
        Ok(Committed {
            record,
            elapsed: started.elapsed(),
            audit_warning,
        })
    }

    /// Appends the new revision's line (after any pending ones); a failure is
    /// a loud warning, never a failed commit: the document is already written.
    fn append_after_commit(
        &self,
        revision: u64,
        audit: &AuditState,
        mut lines: Vec<u8>,
        text: &RecordText,
    ) -> Option<String> {
        let earlier = lines.iter().filter(|b| **b == b'\n').count();
        let pending_note = |why: &str| {
            let earlier = match earlier {
                0 => String::new(),
                n => format!(" (and {n} earlier)"),
            };
            format!(
                "AUDIT LINE PENDING: revision {revision} is committed, but the audit log {} {why}; its line{earlier} is kept in the document and written by the next successful append",
                self.audit.path().display()
            )
        };
        if audit.audited.is_none() {
            // Unreadable: appending could duplicate lines it already has.
            return Some(pending_note(&format!(
                "cannot be read ({})",
                audit.error.as_deref().unwrap_or("unknown error")
            )));
        }
        lines.extend_from_slice(&text.audit_line());
        self.audit
            .append_line(&lines)
            .err()
            .map(|e| pending_note(&format!("cannot be written ({e})")))
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
        if self.copy {
            return format!("copy {} (read-only)", self.path.display());
        }
        format!("file {}", self.path.display())
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        let (bytes, document) = self.read_current()?;
        let lag = self.audit_lag(&document);
        if lag > 0 && !self.read_only {
            let _lock = self.lock()?;
            // Re-read under the lock: another process may have committed meanwhile.
            let (bytes, document) = self.read_current()?;
            let audit_behind = match self.reconcile(&document) {
                Ok(_) => 0,
                Err(_) => self.audit_lag(&document),
            };
            return Ok(Snapshot {
                fingerprint: Fingerprint::of(bytes.as_deref()),
                document,
                audit_behind,
                store_revision: None,
            });
        }
        Ok(Snapshot {
            fingerprint: Fingerprint::of(bytes.as_deref()),
            document,
            audit_behind: lag,
            store_revision: None,
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
        if current.is_none() {
            self.ensure_never_committed()?;
        }
        // A change forward needs its audit line; only rollbacks go ahead without.
        let audited = self.reconcile(&base.document).map_err(|e| {
            StoreError::Unavailable(format!(
                "{}; forward changes are refused until the audit log can be written (rollback still works: its audit line waits in the document)",
                e.into_detail()
            ))
        })?;
        let audit = AuditState {
            audited: Some(audited),
            error: None,
        };
        let changes = base.document.routes.diff(&request.routes);
        // The bytes just read are no longer needed: their buffer takes the new document.
        let scratch = current.unwrap_or_default();
        self.write_revision(&base.document, &audit, request, changes, scratch)
    }

    fn commit_latest(
        &self,
        build: &mut dyn FnMut(&Document) -> Option<CommitRequest>,
    ) -> Result<Option<Committed>, StoreError> {
        let _lock = self.lock()?;
        let (current, document) = self.read_current()?;
        let audit = self.audit_state(&document);
        let Some(request) = build(&document) else {
            return Ok(None);
        };
        let changes = document.routes.diff(&request.routes);
        // Nothing to change is no new revision — unless the plan's state
        // changes (a pause, a resume).
        if changes.is_empty() && request.plan.is_none() {
            return Ok(None);
        }
        let scratch = current.unwrap_or_default();
        self.write_revision(&document, &audit, request, changes, scratch)
            .map(Some)
    }

    fn hold(&self, name: &str, holder: &str) -> Result<Held, StoreError> {
        fs::create_dir_all(self.dir()).map_err(|e| unavailable("create", self.dir(), e))?;
        let mut lock_name = self
            .lock_path
            .file_name()
            .unwrap_or_default()
            .to_os_string();
        lock_name.push(format!(".{name}"));
        let path = self.lock_path.with_file_name(lock_name);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| unavailable("open", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut who = String::new();
                let _ = file.read_to_string(&mut who);
                return Err(StoreError::Held(format!(
                    "the {name} is already running: held by {} ({})",
                    crate::domain::text::printable(who.trim()),
                    path.display()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(unavailable("lock", &path, e)),
        }
        // Who holds it, for the one refused (the OS lets go if we die).
        let text = format!("{holder} (pid {}) since {}", std::process::id(), now_utc());
        let written = file
            .set_len(0)
            .and_then(|()| file.write_all(text.as_bytes()));
        written.map_err(|e| unavailable("write", &path, e))?;
        Ok(Box::new(file))
    }

    fn publish(&self, name: &str, text: &str) -> Result<(), StoreError> {
        if self.read_only {
            return Ok(());
        }
        let path = self.published_path(name);
        replace_file(&path, text.as_bytes()).map_err(|e| unavailable("write", &path, e))
    }

    fn published(&self, name: &str) -> Result<Option<String>, StoreError> {
        let path = self.published_path(name);
        match fs::read(&path) {
            // Bounded: a record is a few kB; anything larger is not ours.
            Ok(bytes) if bytes.len() <= 1 << 20 => {
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unavailable("read", &path, e)),
        }
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
            // Missing: what the routers serve is unknown, so every cell is
            // a change from an unknown split.
            None => {
                let document = self.codec.initial();
                let changes = changes_from_unknown(&request.routes);
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
                let changes = changes_from_unknown(&request.routes);
                request.note = Some(format!(
                    "unreadable document ({e}) kept as {}",
                    backup.display()
                ));
                (document, changes)
            }
        };
        let audit = self.audit_state(&base);
        self.write_revision(&base, &audit, request, changes, Vec::new())
    }
}

/// The audit lines `doc` carries that the log lacks (`audited`: its last
/// commit; `None`: unknown, so all of them), oldest first, each re-serialized
/// so that it is exactly one line whatever a hand edit put in the document.
fn unaudited_lines(doc: &Document, audited: Option<u64>) -> Vec<u8> {
    let after = audited.unwrap_or(0);
    let missing = |revision: u64| audited.is_none() || revision > after;
    let mut out = Vec::new();
    let mut push = |record: ChangeRecord| {
        if serde_json::to_writer(&mut out, &AuditEvent::Commit(record)).is_ok() {
            out.push(b'\n');
        }
    };
    for line in doc.pending_audit.as_deref().unwrap_or("").lines() {
        if let Ok(AuditEvent::Commit(record)) = serde_json::from_str(line)
            && record.revision < doc.revision
            && missing(record.revision)
        {
            push(record);
        }
    }
    if doc.revision > 0 && missing(doc.revision) {
        push(
            doc.last_change()
                .cloned()
                .unwrap_or_else(|| outside_record(doc, after)),
        );
    }
    out
}

/// The record of a revision written without one (by hand, or another tool).
fn outside_record(doc: &Document, previous_revision: u64) -> ChangeRecord {
    ChangeRecord {
        revision: doc.revision,
        previous_revision,
        time: now_utc(),
        operator: Operator {
            user: "unknown".into(),
            host: "unknown".into(),
            ssh_client: None,
        },
        action: Action::Shift,
        reason: "revision written outside beacon-console (no change record in the document)".into(),
        changes: Vec::new(),
        elapsed_ms: 0.0,
        note: Some("reconciled".into()),
    }
}
