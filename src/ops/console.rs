use std::path::PathBuf;

use crate::config::{Profile, ProfileSource, StoreConfig};
use crate::domain::Operator;
use crate::flags::audit::AuditLog;
use crate::flags::file::FileStore;
use crate::flags::{FlagCodec, FlagStore};

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
        let store: Box<dyn FlagStore + Send + Sync> = match &profile.store {
            StoreConfig::File { path, lock_timeout } => Box::new(FileStore::new(
                path.clone(),
                audit.clone(),
                codec,
                *lock_timeout,
            )),
        };
        Ok(Console {
            read_only: read_only || profile.read_only,
            profile,
            store,
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

    pub fn store_path(&self) -> PathBuf {
        self.profile.store_path().to_path_buf()
    }
}
