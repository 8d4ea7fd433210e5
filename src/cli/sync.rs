//! `sync --region R --to PATH [--once]`: the etcd → flagd file mirror beside
//! a router. Logs to stderr, one line per event (systemd-friendly); exits 2
//! on a bad profile or arguments, 4 when `--once` cannot reach etcd, and
//! otherwise runs until stopped.

use crate::config::{Profile, StoreConfig};
use crate::ops::OpsError;

use super::args::SyncArgs;

pub fn run(profile: &Profile, args: SyncArgs) -> Result<(), OpsError> {
    let StoreConfig::Etcd(config) = &profile.store else {
        return Err(OpsError::Invalid(format!(
            "sync mirrors an etcd store, and the profile {} keeps its flags in {}",
            profile.origin,
            profile.store_text()
        )));
    };
    if !profile.region_ids().iter().any(|r| **r == *args.region) {
        return Err(OpsError::Invalid(format!(
            "unknown region {:?}: the profile has {}",
            args.region,
            profile.region_ids().join(", ")
        )));
    }
    let dir = args.to.parent().filter(|d| !d.as_os_str().is_empty());
    if dir.is_some_and(|d| !d.is_dir()) {
        return Err(OpsError::Invalid(format!(
            "{} is not in an existing directory",
            args.to.display()
        )));
    }
    if args.to.is_dir() {
        return Err(OpsError::Invalid(format!(
            "{} is a directory: --to names the flagd file the router reads",
            args.to.display()
        )));
    }
    mirror(profile, config, args)
}

#[cfg(feature = "etcd")]
fn mirror(
    profile: &Profile,
    config: &crate::config::EtcdConfig,
    args: SyncArgs,
) -> Result<(), OpsError> {
    use crate::flags::etcd::sync::{self, SyncSettings};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| crate::failure::Failure::new("start the async runtime", e))?;
    let settings = SyncSettings {
        region: args.region,
        to: args.to,
        once: args.once,
        host: crate::ops::detect_operator().host,
        quiet: false,
    };
    let codec = crate::flags::FlagCodec::for_profile(profile);
    runtime.block_on(async {
        tokio::select! {
            result = sync::run(config, codec, settings) => result.map_err(|why| OpsError::Unavailable(format!("flag store unavailable: {why}"))),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

#[cfg(not(feature = "etcd"))]
fn mirror(_: &Profile, _: &crate::config::EtcdConfig, _: SyncArgs) -> Result<(), OpsError> {
    Err(OpsError::Invalid(
        "this beacon-console was built without etcd support: build it with `cargo build --release --features etcd`".into(),
    ))
}
