//! The audit log: append-only JSONL, fsync'd, one `commit` line per revision.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::{Action, ChangeRecord, Operator};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    /// A committed revision.
    Commit(ChangeRecord),
    /// An attempt that was refused (stale revision) and wrote nothing.
    Refused(RefusedAttempt),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusedAttempt {
    pub time: String,
    pub operator: Operator,
    pub action: Action,
    pub reason: String,
    pub based_on: u64,
    pub error: String,
}

/// One line that could not be read back, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub error: String,
}

/// How every commit line begins (the record's first field is its revision).
const COMMIT_PREFIX: &str = "{\"event\":\"commit\",\"revision\":";

#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

#[derive(Deserialize)]
struct Peek {
    event: String,
    #[serde(default)]
    revision: Option<u64>,
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and makes it durable.
    pub fn append(&self, event: &AuditEvent) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        self.append_line(&line)
    }

    /// Appends one complete line (ending in `\n`) and makes it durable.
    pub fn append_line(&self, line: &[u8]) -> io::Result<()> {
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
        };
        let mut file = match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                open()?
            }
            other => other?,
        };
        // One write of the whole line: concurrent appenders never interleave.
        file.write_all(line)?;
        file.sync_data()
    }

    /// Cuts a torn last line (a crash mid-append, e.g. power loss); the commit
    /// it belonged to is then reconciled from the document. Call under the store lock.
    pub fn repair_torn_tail(&self) -> io::Result<()> {
        let mut file = match OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(());
        }
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] == b'\n' {
            return Ok(());
        }
        let keep = find_line_start(&mut file, len)?;
        file.set_len(keep)?;
        file.sync_data()
    }

    /// The revision of the last `commit` line, reading backwards from the end.
    pub fn last_committed_revision(&self) -> io::Result<Option<u64>> {
        // Commit lines start with their revision: read only the head of each
        // line (a 1,000-cell rollback line is ~20 KB).
        self.find_last_commit(
            |head| commit_revision_of_head(head).map(Some),
            |line| {
                serde_json::from_slice::<Peek>(line)
                    .ok()
                    .filter(|p| p.event == "commit")
                    .map(|p| p.revision)
            },
        )
        .map(Option::flatten)
    }

    /// The record of the last `commit` line (for messages about the past).
    pub fn last_commit(&self) -> io::Result<Option<ChangeRecord>> {
        self.find_last_commit(
            |_| None,
            |line| match serde_json::from_slice::<AuditEvent>(line) {
                Ok(AuditEvent::Commit(record)) => Some(record),
                _ => None,
            },
        )
    }

    /// Walks complete lines backwards; `quick` sees the first 64 bytes of a
    /// line, `full` the whole line when `quick` could not decide.
    fn find_last_commit<T>(
        &self,
        quick: impl Fn(&[u8]) -> Option<T>,
        full: impl Fn(&[u8]) -> Option<T>,
    ) -> io::Result<Option<T>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut end = file.metadata()?.len();
        let mut last_byte = [0u8; 1];
        if end > 0 {
            file.seek(SeekFrom::Start(end - 1))?;
            file.read_exact(&mut last_byte)?;
        }
        // A last line without its newline is torn (a crash mid-append): not a commit.
        let mut complete = last_byte[0] == b'\n';
        while end > 0 {
            let start = find_line_start(&mut file, end - 1)?;
            if complete {
                let mut head = vec![0u8; (end - start).min(64) as usize];
                file.seek(SeekFrom::Start(start))?;
                file.read_exact(&mut head)?;
                if let Some(found) = quick(&head) {
                    return Ok(Some(found));
                }
                let mut line = vec![0u8; (end - start) as usize];
                file.seek(SeekFrom::Start(start))?;
                file.read_exact(&mut line)?;
                if let Some(found) = full(&line) {
                    return Ok(Some(found));
                }
            }
            complete = true;
            end = start;
        }
        Ok(None)
    }

    /// Every event in order, and the lines that could not be read.
    pub fn read_all(&self) -> io::Result<(Vec<AuditEvent>, Vec<BadLine>)> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(e),
        };
        let mut events = Vec::new();
        let mut bad = Vec::new();
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<AuditEvent>(line) {
                Ok(e) => events.push(e),
                Err(e) => bad.push(BadLine {
                    line: i + 1,
                    error: e.to_string(),
                }),
            }
        }
        Ok((events, bad))
    }
}

/// `{"event":"commit","revision":N,…` → N.
fn commit_revision_of_head(head: &[u8]) -> Option<u64> {
    let rest = head.strip_prefix(COMMIT_PREFIX.as_bytes())?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&b',') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The offset just after the last `\n` strictly before `pos` (0 if none).
fn find_line_start(file: &mut File, pos: u64) -> io::Result<u64> {
    const CHUNK: u64 = 8 * 1024;
    let mut hi = pos;
    let mut buf = [0u8; CHUNK as usize];
    while hi > 0 {
        let lo = hi.saturating_sub(CHUNK);
        let n = (hi - lo) as usize;
        file.seek(SeekFrom::Start(lo))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(lo + i as u64 + 1);
        }
        hi = lo;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Operator, Split};

    fn record(revision: u64) -> ChangeRecord {
        ChangeRecord {
            revision,
            previous_revision: revision - 1,
            time: "2026-11-28T00:00:00.000Z".into(),
            operator: Operator {
                user: "a".into(),
                host: "h".into(),
                ssh_client: None,
            },
            action: Action::Shift,
            reason: "r".into(),
            changes: vec![crate::domain::CellChange {
                cell: crate::domain::CellId::new("m", "r"),
                before: None,
                after: Split::all("modal"),
            }],
            elapsed_ms: 1.0,
            note: None,
        }
    }

    #[test]
    fn finds_the_last_commit_past_refusals_and_torn_tails() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("a.jsonl"));
        assert_eq!(log.last_committed_revision().unwrap(), None);
        log.append(&AuditEvent::Commit(record(1))).unwrap();
        log.append(&AuditEvent::Commit(record(2))).unwrap();
        log.append(&AuditEvent::Refused(RefusedAttempt {
            time: "t".into(),
            operator: record(1).operator,
            action: Action::Shift,
            reason: "r".into(),
            based_on: 1,
            error: "stale".into(),
        }))
        .unwrap();
        assert_eq!(log.last_committed_revision().unwrap(), Some(2));
        let mut f = OpenOptions::new().append(true).open(log.path()).unwrap();
        f.write_all(b"{\"event\":\"commit\",\"revision\":3,\"prev")
            .unwrap();
        assert_eq!(log.last_committed_revision().unwrap(), Some(2));
        log.repair_torn_tail().unwrap();
        let (events, bad) = log.read_all().unwrap();
        assert_eq!(events.len(), 3);
        assert!(bad.is_empty());
        assert_eq!(events[0], AuditEvent::Commit(record(1)));
    }
}
