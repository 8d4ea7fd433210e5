//! `FlagStore` on etcd. The document and `PREFIX/audit/<revision>` are put
//! in one `Txn`, so the two can never disagree; the local audit file is a
//! copy, written after the commit (its failure is a warning, never a lost
//! commit).

use std::time::Duration;

use etcd_client::{
    Compare, CompareOp, GetOptions, KeyValue, PutOptions, SortOrder, SortTarget, Txn, TxnOp,
    TxnOpResponse, WatchOptions,
};

use super::conn::{Blocking, Reach};
use super::sync::Applied;
use crate::config::EtcdConfig;
use crate::domain::CellChange;
use crate::flags::audit::{AuditEvent, AuditLog, BadLine, RefusedAttempt};
use crate::flags::file::now_utc;
use crate::flags::flagd::peek_revision;
use crate::flags::store::{Fingerprint, changes_from_unknown, next_document, next_revision};
use crate::flags::{
    AuditRead, CommitRequest, Committed, Conflict, Document, FlagCodec, FlagStore, Held, Presence,
    RegionAck, Snapshot, StoreError,
};

/// A rollback that keeps losing races retries this often before it says so.
const LATEST_ATTEMPTS: usize = 50;
/// A console that stops renewing is gone from `operators/` after this.
const OPERATOR_LEASE_SECONDS: i64 = 10;
/// A holder that stops renewing (its process died) lets go after this.
const HOLD_LEASE_SECONDS: i64 = 10;

pub struct EtcdStore {
    config: EtcdConfig,
    codec: FlagCodec,
    /// The local copy of the audit (etcd's `PREFIX/audit/` is the whole).
    audit: AuditLog,
    etcd: Blocking,
}

/// The document key as read: its bytes and `mod_revision` (0: absent), and
/// the last audit entry's revision and text.
struct Read {
    value: Option<Vec<u8>>,
    mod_revision: i64,
    last_audit: Option<(u64, Vec<u8>)>,
}

/// A write ready to go: the document, its audit entry and what else goes in
/// the same transaction.
struct Write {
    document: Document,
    bytes: Vec<u8>,
    extra: Vec<TxnOp>,
}

impl EtcdStore {
    pub fn new(config: EtcdConfig, audit: AuditLog, codec: FlagCodec) -> Result<Self, StoreError> {
        let etcd = Blocking::new(Reach::new(&config)?)?;
        Ok(EtcdStore {
            config,
            codec,
            audit,
            etcd,
        })
    }

    /// The document key and the last audit entry, read at one etcd revision.
    fn read(&self) -> Result<Read, StoreError> {
        let key = self.config.key.clone();
        let audit_prefix = self.config.audit_prefix();
        let mut response = self.etcd.call(
            "read the routing document from",
            move |mut client| async move {
                let last = GetOptions::new()
                    .with_prefix()
                    .with_sort(SortTarget::Key, SortOrder::Descend)
                    .with_limit(1);
                let txn = Txn::new()
                    .and_then([TxnOp::get(key, None), TxnOp::get(audit_prefix, Some(last))]);
                client.txn(txn).await
            },
        )?;
        let _ = response.take_header();
        let mut gets = response.op_responses().into_iter().filter_map(|r| match r {
            TxnOpResponse::Get(mut get) => Some(get.take_kvs()),
            _ => None,
        });
        let document = gets.next().unwrap_or_default().into_iter().next();
        let audit = gets.next().unwrap_or_default().into_iter().next();
        let mod_revision = document.as_ref().map_or(0, KeyValue::mod_revision);
        Ok(Read {
            value: document.map(|kv| kv.into_key_value().1),
            mod_revision,
            last_audit: audit.and_then(|kv| {
                let (key, value) = kv.into_key_value();
                let revision = String::from_utf8_lossy(&key)
                    .rsplit('/')
                    .next()?
                    .parse()
                    .ok()?;
                Some((revision, value))
            }),
        })
    }

    fn decode(&self, read: &Read) -> Result<Document, StoreError> {
        match &read.value {
            Some(bytes) => self.codec.decode(bytes).map_err(|e| StoreError::Corrupt {
                path: self.describe(),
                detail: e.to_string(),
            }),
            None => match &read.last_audit {
                None => Ok(self.codec.initial()),
                Some((revision, line)) => Err(self.missing(*revision, line)),
            },
        }
    }

    /// The key is gone but revisions were committed: never "revision 0".
    fn missing(&self, revision: u64, line: &[u8]) -> StoreError {
        let by = match serde_json::from_slice(line) {
            Ok(AuditEvent::Commit(record)) => format!(" by {} at {}", record.operator, record.time),
            _ => String::new(),
        };
        StoreError::Missing {
            path: self.describe(),
            revision,
            by,
        }
    }

    /// One transaction: if the key is still at `base_mod` and the audit entry
    /// is new, put both (and `extra`); else read the key for the conflict.
    fn write(
        &self,
        base_mod: i64,
        write: Write,
    ) -> Result<Result<Document, Option<KeyValue>>, StoreError> {
        let key = self.config.key.clone();
        let revision = write.document.revision;
        let audit_key = self.config.audit_key(revision);
        let line = write
            .document
            .change_record
            .as_ref()
            .map(|text| {
                let mut line = text.audit_line();
                line.pop();
                line
            })
            .unwrap_or_default();
        let bytes = write.bytes;
        let extra = write.extra;
        let response = self.etcd.call("commit to", move |mut client| async move {
            let mut ops = vec![
                TxnOp::put(key.clone(), bytes, None),
                TxnOp::put(audit_key.clone(), line, None),
            ];
            ops.extend(extra);
            let txn = Txn::new()
                .when([
                    Compare::mod_revision(key.clone(), CompareOp::Equal, base_mod),
                    Compare::create_revision(audit_key, CompareOp::Equal, 0),
                ])
                .and_then(ops)
                .or_else([TxnOp::get(key, None)]);
            client.txn(txn).await
        })?;
        if response.succeeded() {
            return Ok(Ok(write.document));
        }
        let current = response.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(mut get) => get.take_kvs().into_iter().next(),
            _ => None,
        });
        Ok(Err(current))
    }

    /// Builds, writes and reports one revision over `base` read at `base_mod`.
    fn commit_over(
        &self,
        base: &Document,
        base_mod: i64,
        revision: u64,
        request: CommitRequest,
        changes: Vec<CellChange>,
        extra: Vec<TxnOp>,
    ) -> Result<Result<Committed, Option<KeyValue>>, StoreError> {
        let started = request.started;
        let document = next_document(base, revision, request, changes);
        let bytes = self.codec.encode(&document);
        let document = match self.write(
            base_mod,
            Write {
                document,
                bytes,
                extra,
            },
        )? {
            Ok(document) => document,
            Err(current) => return Ok(Err(current)),
        };
        let text = document.change_record.unwrap_or_default();
        let audit_warning = self.audit.append_line(&text.audit_line()).err().map(|e| {
            format!(
                "revision {revision} is committed and its audit entry is in etcd, but the local copy {} cannot be written ({e})",
                self.audit.path().display()
            )
        });
        let record = text.into_record().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "revision {revision} is committed but its record could not be read back"
            ))
        })?;
        Ok(Ok(Committed {
            record,
            elapsed: started.elapsed(),
            audit_warning,
        }))
    }

    fn conflict(
        &self,
        based_on: u64,
        base_mod: i64,
        current: Option<&KeyValue>,
    ) -> Result<Conflict, StoreError> {
        if current.map_or(0, KeyValue::mod_revision) == base_mod {
            // The document did not move, so the audit entry already existed.
            return Err(StoreError::Unavailable(format!(
                "{} already has an audit entry for revision {}: the document's revision was set back by hand? Nothing was written",
                self.describe(),
                based_on.saturating_add(1)
            )));
        }
        let bytes = current.map(KeyValue::value);
        let doc = bytes.and_then(|b| self.codec.decode(b).ok());
        let current_revision = doc
            .as_ref()
            .map(|d| d.revision)
            .or_else(|| bytes.and_then(peek_revision));
        let change = doc.as_ref().and_then(Document::last_change);
        Ok(Conflict {
            based_on,
            current: current_revision,
            changed_by: change.map(|c| c.operator.to_string()),
            changed_at: change.map(|c| c.time.clone()),
            change: change.map(|c| format!("{}, \"{}\"", c.action, c.reason)),
            outside_edit: bytes.is_some()
                && (current_revision == Some(based_on) || change.is_none()),
        })
    }
}

impl FlagStore for EtcdStore {
    fn describe(&self) -> String {
        self.config.describe()
    }

    fn load(&self) -> Result<Snapshot, StoreError> {
        let read = self.read()?;
        let document = self.decode(&read)?;
        Ok(Snapshot {
            fingerprint: Fingerprint::of(read.value.as_deref()),
            document,
            audit_behind: 0,
            store_revision: Some(read.mod_revision),
        })
    }

    fn commit(&self, base: &Snapshot, request: CommitRequest) -> Result<Committed, StoreError> {
        let base_mod = base.store_revision.unwrap_or(0);
        let revision = next_revision(base.revision())?;
        let changes = base.document.routes.diff(&request.routes);
        let refused = (
            request.operator.clone(),
            request.action,
            request.reason.clone(),
        );
        match self.commit_over(
            &base.document,
            base_mod,
            revision,
            request,
            changes,
            Vec::new(),
        )? {
            Ok(committed) => Ok(committed),
            Err(current) => {
                let conflict = self.conflict(base.revision(), base_mod, current.as_ref())?;
                let (operator, action, reason) = refused;
                let _ = self.audit.append(&AuditEvent::Refused(RefusedAttempt {
                    time: now_utc(),
                    operator,
                    action,
                    reason,
                    based_on: base.revision(),
                    error: conflict.to_string(),
                }));
                Err(StoreError::Conflict(conflict))
            }
        }
    }

    fn commit_latest(
        &self,
        build: &mut dyn FnMut(&Document) -> Option<CommitRequest>,
    ) -> Result<Option<Committed>, StoreError> {
        // Read, compute, transaction; a lost race reads again.
        for _ in 0..LATEST_ATTEMPTS {
            let read = self.read()?;
            let document = self.decode(&read)?;
            let Some(request) = build(&document) else {
                return Ok(None);
            };
            let changes = document.routes.diff(&request.routes);
            // Nothing to change is no new revision — unless the plan's state
            // changes (a pause, a resume).
            if changes.is_empty() && request.plan.is_none() {
                return Ok(None);
            }
            let revision = next_revision(document.revision)?;
            if let Ok(committed) = self.commit_over(
                &document,
                read.mod_revision,
                revision,
                request,
                changes,
                Vec::new(),
            )? {
                return Ok(Some(committed));
            }
        }
        Err(StoreError::Unavailable(format!(
            "{} changed under every one of {LATEST_ATTEMPTS} attempts; nothing was written by this one",
            self.describe()
        )))
    }

    fn force_replace(&self, request: CommitRequest) -> Result<Committed, StoreError> {
        for _ in 0..LATEST_ATTEMPTS {
            let read = self.read()?;
            let audited = read.last_audit.as_ref().map_or(0, |(r, _)| *r);
            let mut request = request.clone();
            let (base, changes, extra) = match read.value.as_deref().map(|b| self.codec.decode(b)) {
                Some(Ok(document)) => {
                    let changes = document.routes.diff(&request.routes);
                    (document, changes, Vec::new())
                }
                None => {
                    let mut document = self.codec.initial();
                    document.revision = audited;
                    request.note = Some("no flag document existed; wrote a fresh one".into());
                    (document, changes_from_unknown(&request.routes), Vec::new())
                }
                Some(Err(e)) => {
                    let backup = format!(
                        "{}/unreadable/{:020}",
                        self.config.prefix, read.mod_revision
                    );
                    let bad = read.value.clone().unwrap_or_default();
                    let mut document = self.codec.initial();
                    document.revision = peek_revision(&bad).unwrap_or(0).max(audited);
                    request.note = Some(format!("unreadable document ({e}) kept under {backup}"));
                    let keep = TxnOp::put(backup, bad, None);
                    (document, changes_from_unknown(&request.routes), vec![keep])
                }
            };
            let revision = next_revision(base.revision.max(audited))?;
            if let Ok(committed) =
                self.commit_over(&base, read.mod_revision, revision, request, changes, extra)?
            {
                return Ok(committed);
            }
        }
        Err(StoreError::Unavailable(format!(
            "{} changed under every one of {LATEST_ATTEMPTS} attempts; nothing was written by this one",
            self.describe()
        )))
    }

    fn keeps_presence(&self) -> bool {
        true
    }

    fn hold(&self, name: &str, holder: &str) -> Result<Held, StoreError> {
        let key = format!("{}/holds/{name}", self.config.prefix);
        let text = format!("{holder} (pid {}) since {}", std::process::id(), now_utc());
        let (k, t) = (key.clone(), text);
        let taken = self
            .etcd
            .call("take a hold in", move |mut client| async move {
                let lease = client.lease_grant(HOLD_LEASE_SECONDS, None).await?.id();
                let txn = Txn::new()
                    .when([Compare::create_revision(k.clone(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(
                        k.clone(),
                        t,
                        Some(PutOptions::new().with_lease(lease)),
                    )])
                    .or_else([TxnOp::get(k, None)]);
                let response = client.txn(txn).await?;
                if response.succeeded() {
                    return Ok(Ok(lease));
                }
                let _ = client.lease_revoke(lease).await;
                let who = response.op_responses().into_iter().find_map(|r| match r {
                    TxnOpResponse::Get(get) => get
                        .kvs()
                        .first()
                        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
                    _ => None,
                });
                Ok(Err(who.unwrap_or_default()))
            })?;
        let lease = taken.map_err(|who| {
            StoreError::Held(format!(
                "the {name} is already running: held by {} ({key})",
                crate::domain::text::printable(&who)
            ))
        })?;
        let released = std::sync::Arc::new(tokio::sync::Notify::new());
        self.etcd.spawn(keep_holding(
            self.etcd.reach().clone(),
            lease,
            released.clone(),
        ));
        Ok(Box::new(Release {
            released,
            lease,
            key,
        }))
    }

    fn still_holds(&self, held: &Held) -> Result<bool, StoreError> {
        let Some(release) = held.downcast_ref::<Release>() else {
            return Ok(false);
        };
        let (key, lease) = (release.key.clone(), release.lease);
        let response = self
            .etcd
            .call("check a hold in", move |mut client| async move {
                client.get(key, None).await
            })?;
        Ok(response.kvs().first().is_some_and(|kv| kv.lease() == lease))
    }

    fn publish(&self, name: &str, text: &str) -> Result<(), StoreError> {
        let key = format!("{}/published/{name}", self.config.prefix);
        let text = text.to_string();
        self.etcd
            .call("publish to", move |mut client| async move {
                client.put(key, text, None).await
            })
            .map(|_| ())
    }

    fn published(&self, name: &str) -> Result<Option<String>, StoreError> {
        let key = format!("{}/published/{name}", self.config.prefix);
        let response = self
            .etcd
            .call("read what was published in", move |mut client| async move {
                client.get(key, None).await
            })?;
        Ok(response
            .kvs()
            .first()
            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()))
    }

    fn presence(&self) -> Option<Result<Presence, StoreError>> {
        Some(self.read_presence())
    }

    fn audit_events(&self) -> Option<Result<AuditRead, StoreError>> {
        Some(self.read_audit())
    }

    fn announce_operator(&self, operator: &str) {
        let key = self.config.operator_key(operator);
        self.etcd
            .spawn(keep_announcing(self.etcd.reach().clone(), key));
    }

    fn subscribe(&self, notify: Box<dyn Fn() + Send + Sync>) -> bool {
        let task = keep_watching(
            self.etcd.reach().clone(),
            self.config.key.clone(),
            self.config.prefix.clone(),
            notify,
        );
        self.etcd.spawn(task);
        true
    }
}

/// A console's presence and the watch: background tasks on the store's
/// runtime, each reconnecting by itself after etcd was away.
impl EtcdStore {
    /// Every audit entry under the prefix, oldest first. (Refused attempts
    /// are only in each bastion's local copy: they changed nothing.)
    fn read_audit(&self) -> Result<AuditRead, StoreError> {
        let prefix = self.config.audit_prefix();
        let mut response = self
            .etcd
            .call("read the audit from", move |mut client| async move {
                client
                    .get(prefix, Some(GetOptions::new().with_prefix()))
                    .await
            })?;
        let mut events = Vec::new();
        let mut bad = Vec::new();
        for (i, kv) in response.take_kvs().iter().enumerate() {
            match serde_json::from_slice::<AuditEvent>(kv.value()) {
                Ok(event) => events.push(event),
                Err(e) => bad.push(BadLine {
                    line: i + 1,
                    error: format!("{}: {e}", String::from_utf8_lossy(kv.key())),
                }),
            }
        }
        Ok((events, bad))
    }

    fn read_presence(&self) -> Result<Presence, StoreError> {
        let applied = self.config.applied_prefix();
        let operators = self.config.operators_prefix();
        let mut response =
            self.etcd
                .call("read who applied what from", move |mut client| async move {
                    let all = || Some(GetOptions::new().with_prefix());
                    let txn = Txn::new()
                        .and_then([TxnOp::get(applied, all()), TxnOp::get(operators, all())]);
                    client.txn(txn).await
                })?;
        let _ = response.take_header();
        let mut gets = response.op_responses().into_iter().filter_map(|r| match r {
            TxnOpResponse::Get(mut get) => Some(get.take_kvs()),
            _ => None,
        });
        let last_part = |kv: &KeyValue| {
            String::from_utf8_lossy(kv.key())
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        };
        let applied = gets
            .next()
            .unwrap_or_default()
            .iter()
            .filter_map(|kv| {
                let ack: Applied = serde_json::from_slice(kv.value()).ok()?;
                Some(RegionAck {
                    region: last_part(kv),
                    revision: ack.revision,
                    checked_at: ack.checked_at,
                    host: ack.host,
                    refused: ack.refused,
                })
            })
            .collect();
        // `user@host/pid` → `user@host`, one entry per console.
        let prefix = self.config.operators_prefix();
        let operators = gets
            .next()
            .unwrap_or_default()
            .iter()
            .filter_map(|kv| {
                let key = String::from_utf8_lossy(kv.key());
                let rest = key.strip_prefix(&prefix)?;
                Some(
                    rest.rsplit_once('/')
                        .map_or(rest, |(who, _)| who)
                        .to_string(),
                )
            })
            .collect();
        Ok(Presence { applied, operators })
    }
}

/// `PREFIX/operators/<user@host>/<pid>` under a lease, renewed until the store is
/// dropped; re-registered after etcd was away.
async fn keep_announcing(reach: Reach, key: String) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if let Ok(mut client) = reach.connect().await
            && let Ok(lease) = client.lease_grant(OPERATOR_LEASE_SECONDS, None).await
        {
            let value = format!("{{\"since\":\"{}\"}}", now_utc());
            let put = client
                .put(
                    key.clone(),
                    value,
                    Some(PutOptions::new().with_lease(lease.id())),
                )
                .await;
            if put.is_ok()
                && let Ok((mut keeper, mut answers)) = client.lease_keep_alive(lease.id()).await
            {
                backoff = Duration::from_millis(200);
                loop {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    let alive = keeper.keep_alive().await.is_ok()
                        && matches!(answers.message().await, Ok(Some(a)) if a.ttl() > 0);
                    if !alive {
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Watches the key and the prefix; `notify` on each change and after each
/// reconnection (what changed meanwhile is unknown: read it all again).
async fn keep_watching(
    reach: Reach,
    key: String,
    prefix: String,
    notify: Box<dyn Fn() + Send + Sync>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if let Ok(mut client) = reach.connect().await
            && let Ok(mut stream) = client.watch(key.clone(), None).await
            && stream
                .watch(
                    format!("{prefix}/"),
                    Some(WatchOptions::new().with_prefix()),
                )
                .await
                .is_ok()
        {
            backoff = Duration::from_millis(200);
            notify();
            while let Ok(Some(response)) = stream.message().await {
                if response.canceled() {
                    break;
                }
                if !response.events().is_empty() {
                    notify();
                }
            }
            notify();
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Lets a hold go when dropped: its lease is revoked, not left to expire.
struct Release {
    released: std::sync::Arc<tokio::sync::Notify>,
    lease: i64,
    key: String,
}

impl Drop for Release {
    fn drop(&mut self) {
        self.released.notify_one();
    }
}

/// Renews a hold's lease until it is let go, then revokes it. Cut off from
/// etcd, it keeps trying: back within the lease, the hold was never lost;
/// later, the lease is gone and `still_holds` says so (the holder stands
/// down rather than act beside a new holder).
async fn keep_holding(reach: Reach, lease: i64, released: std::sync::Arc<tokio::sync::Notify>) {
    loop {
        let renewing = async {
            let mut client = reach.connect().await.ok()?;
            let (mut keeper, mut answers) = client.lease_keep_alive(lease).await.ok()?;
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                keeper.keep_alive().await.ok()?;
                let answer = answers.message().await.ok()??;
                if answer.ttl() <= 0 {
                    // Expired: nothing left to renew.
                    return Some(client);
                }
            }
        };
        tokio::select! {
            () = released.notified() => {
                if let Ok(mut client) = reach.connect().await {
                    let _ = client.lease_revoke(lease).await;
                }
                return;
            }
            expired = renewing => {
                if expired.is_some() {
                    released.notified().await;
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
