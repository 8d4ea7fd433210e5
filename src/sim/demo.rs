//! What the demo's in-process simulator needs wired up: its keys and a
//! router per region.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{EtcdConfig, Profile, Secret, StoreConfig};
use crate::flags::fractional::Generation;
use crate::providers::HttpClient;
use crate::providers::modal::ModalClient;
use crate::providers::runpod::RunPodClient;

use super::{RouterConfig, SimRouter};

/// The simulator's keys. Not secrets — they open a loopback simulator — but
/// handled as secrets all the same; `BEACON_DEMO_RUNPOD_KEY`,
/// `BEACON_DEMO_MODAL_KEY` and `BEACON_DEMO_MODAL_SECRET` override them.
#[derive(Debug, Clone)]
pub struct DemoKeys {
    pub runpod: Secret,
    pub modal_key: Secret,
    pub modal_secret: Secret,
}

impl DemoKeys {
    pub fn from_env() -> Self {
        let get = |name: &str, default: &str| {
            Secret::new(std::env::var(name).unwrap_or_else(|_| default.to_string()))
        };
        Self {
            runpod: get("BEACON_DEMO_RUNPOD_KEY", "demo-runpod-key"),
            modal_key: get("BEACON_DEMO_MODAL_KEY", "demo-modal-key"),
            modal_secret: get("BEACON_DEMO_MODAL_SECRET", "demo-modal-secret"),
        }
    }
}

/// How the regional routers run.
#[derive(Debug, Clone, Copy)]
pub struct RouterSettings {
    pub requests_per_second: f64,
    pub seed: u64,
    pub request_deadline: Duration,
    pub reload_every: Duration,
}

/// A router per region of `profile`, against the simulator at `base`, reading
/// the profile's flag document: the file store's, or — with etcd — the file
/// a `sync` task beside each router mirrors, as on a real fleet.
pub async fn start_routers(
    profile: &Profile,
    base: &str,
    keys: &DemoKeys,
    http: &HttpClient,
    settings: RouterSettings,
) -> std::io::Result<Vec<(String, SimRouter)>> {
    let mut routers = Vec::new();
    for (i, region) in profile.region_ids().iter().enumerate() {
        let document = router_document(profile, region)?;
        let config = RouterConfig {
            region: region.to_string(),
            profile: profile.clone(),
            sim_base: base.to_string(),
            document,
            requests_per_second: settings.requests_per_second,
            seed: settings.seed.wrapping_add(i as u64 + 1),
            generation: Generation::V3,
            runpod: RunPodClient::new(
                http.clone(),
                &format!("{base}/runpod/v2"),
                keys.runpod.clone(),
            )
            .map_err(std::io::Error::other)?,
            modal: ModalClient::new(
                http.clone(),
                Some((keys.modal_key.clone(), keys.modal_secret.clone())),
            )
            .map_err(std::io::Error::other)?,
            request_deadline: settings.request_deadline,
            reload_every: settings.reload_every,
        };
        let router = SimRouter::start(config, ([127, 0, 0, 1], 0).into()).await?;
        routers.push((region.to_string(), router));
    }
    Ok(routers)
}

/// The document `region`'s router reads.
fn router_document(profile: &Profile, region: &str) -> std::io::Result<PathBuf> {
    match &profile.store {
        StoreConfig::File { path, .. } => Ok(path.clone()),
        StoreConfig::Etcd(config) => start_sync(profile, config, region),
    }
}

/// A `sync` task for `region` (quiet: its log would land on the console's
/// screen), mirroring into a file of this process's own.
#[cfg(feature = "etcd")]
fn start_sync(profile: &Profile, config: &EtcdConfig, region: &str) -> std::io::Result<PathBuf> {
    use crate::flags::etcd::sync::{self, SyncSettings};
    let dir = std::env::temp_dir().join(format!("beacon-sim-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let to = dir.join(format!("{region}.json"));
    let settings = SyncSettings {
        region: region.to_string(),
        to: to.clone(),
        once: false,
        host: format!("sim-router-{region}"),
        quiet: true,
    };
    let codec = crate::flags::FlagCodec::for_profile(profile);
    let config = config.clone();
    tokio::spawn(async move {
        let _ = sync::run(&config, codec, settings).await;
    });
    Ok(to)
}

#[cfg(not(feature = "etcd"))]
fn start_sync(_: &Profile, _: &EtcdConfig, _: &str) -> std::io::Result<PathBuf> {
    Err(std::io::Error::other(
        "this beacon-console was built without etcd support: build it with `cargo build --release --features etcd`",
    ))
}
