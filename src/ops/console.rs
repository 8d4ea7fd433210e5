use crate::config::{Profile, ProfileSource, StoreConfig};
use std::time::Instant;

use crate::domain::{Action, Operator, Routes};
use crate::flags::audit::{AuditEvent, AuditLog, RefusedAttempt};
use crate::flags::file::FileStore;
use crate::flags::{CommitRequest, Committed, FlagCodec, FlagStore, Snapshot};

use super::{OpsError, detect_operator};

/// A loaded profile with its flag store and operator: what every use case needs.
pub struct Console {
    pub profile: Profile,
    pub store: Box<dyn FlagStore + Send + Sync>,
    pub audit: AuditLog,
    pub operator: Operator,
    pub read_only: bool,
}

impl Console {
    pub fn open(source: &ProfileSource, read_only: bool) -> Result<Console, OpsError> {
        let profile = Profile::load(source)?;
        let audit = AuditLog::new(profile.audit_path.clone());
        let codec = FlagCodec::for_profile(&profile);
        let read_only = read_only || profile.read_only;
        let store: Box<dyn FlagStore + Send + Sync> = match &profile.store {
            StoreConfig::File { path, lock_timeout } => Box::new(
                FileStore::new(path.clone(), audit.clone(), codec, *lock_timeout)
                    .read_only(read_only),
            ),
            StoreConfig::Etcd(config) => etcd_store(config, &audit, codec)?,
        };
        Ok(Console {
            read_only,
            profile,
            store,
            audit,
            operator: detect_operator(),
        })
    }

    /// The profile's console on a copy of the routing document (the file a
    /// `sync` keeps beside a router), read-only: for when the store itself
    /// is out of reach.
    pub fn open_copy(source: &ProfileSource, copy: &std::path::Path) -> Result<Console, OpsError> {
        let profile = Profile::load(source)?;
        let audit = AuditLog::new(profile.audit_path.clone());
        let codec = FlagCodec::for_profile(&profile);
        let lock_timeout = std::time::Duration::from_secs(5);
        let store = FileStore::new(copy.to_path_buf(), audit.clone(), codec, lock_timeout)
            .read_only(true)
            .as_copy();
        Ok(Console {
            read_only: true,
            profile,
            store: Box::new(store),
            audit,
            operator: detect_operator(),
        })
    }

    /// Refuses writes in read-only mode.
    pub fn ensure_writable(&self, what: &str) -> Result<(), OpsError> {
        if self.read_only {
            let why = if self.profile.read_only {
                format!("the profile {} is read-only", self.profile.origin)
            } else {
                "--read-only is set".to_string()
            };
            return Err(OpsError::ReadOnly(format!("refusing to {what}: {why}")));
        }
        Ok(())
    }

    /// A change by this console's operator.
    pub fn request(
        &self,
        routes: Routes,
        action: Action,
        reason: &str,
        started: Instant,
    ) -> CommitRequest {
        CommitRequest {
            routes,
            action,
            reason: reason.to_string(),
            operator: self.operator.clone(),
            started,
            note: None,
            plan: None,
        }
    }

    /// Audits an attempt refused before it reached the store (a script's
    /// `--expect-revision`); an audit log out of reach only loses this line.
    pub fn record_refusal(&self, action: Action, reason: &str, based_on: u64, error: &str) {
        let _ = self.audit.append(&AuditEvent::Refused(RefusedAttempt {
            time: crate::flags::file::now_utc(),
            operator: self.operator.clone(),
            action,
            reason: reason.to_string(),
            based_on,
            error: error.to_string(),
        }));
    }

    /// Commits `routes` if the document is still `base` (compare-and-swap).
    /// Every write goes through here or the two below, where read-only is
    /// enforced once, whatever face (command line, console) asked.
    pub fn commit(
        &self,
        base: &Snapshot,
        routes: Routes,
        action: Action,
        reason: &str,
        started: Instant,
    ) -> Result<Committed, OpsError> {
        self.ensure_writable(&format!("commit a {action}"))?;
        Ok(self
            .store
            .commit(base, self.request(routes, action, reason, started))?)
    }

    /// Commits a prepared request, compare-and-swap on `base`.
    pub fn commit_request(
        &self,
        base: &Snapshot,
        request: CommitRequest,
    ) -> Result<Committed, OpsError> {
        self.ensure_writable(&format!("commit a {}", request.action))?;
        Ok(self.store.commit(base, request)?)
    }

    /// Reads and commits under one lock (rollbacks: they never conflict).
    pub fn commit_latest(
        &self,
        build: &mut dyn FnMut(&crate::flags::Document) -> Option<CommitRequest>,
    ) -> Result<Option<Committed>, OpsError> {
        self.ensure_writable("roll back")?;
        Ok(self.store.commit_latest(build)?)
    }

    /// The emergency path over a missing or unreadable document.
    pub fn force_replace(&self, request: CommitRequest) -> Result<Committed, OpsError> {
        self.ensure_writable("roll back")?;
        Ok(self.store.force_replace(request)?)
    }
}

#[cfg(feature = "etcd")]
fn etcd_store(
    config: &crate::config::EtcdConfig,
    audit: &AuditLog,
    codec: FlagCodec,
) -> Result<Box<dyn FlagStore + Send + Sync>, OpsError> {
    let store = crate::flags::etcd::EtcdStore::new(config.clone(), audit.clone(), codec)?;
    Ok(Box::new(store))
}

#[cfg(not(feature = "etcd"))]
fn etcd_store(
    _: &crate::config::EtcdConfig,
    _: &AuditLog,
    _: FlagCodec,
) -> Result<Box<dyn FlagStore + Send + Sync>, OpsError> {
    Err(OpsError::Invalid(
        "this beacon-console was built without etcd support: build it with `cargo build --release --features etcd`".into(),
    ))
}
