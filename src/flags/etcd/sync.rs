//! `sync`: beside each region's router, mirrors the routing document from
//! etcd into the flagd file the router's OpenFeature provider watches, and
//! acknowledges each revision it wrote under `PREFIX/applied/<region>` with a
//! lease, so a sync that dies disappears from the console within the lease.
//!
//! The file is only ever replaced by a document that decodes (the router
//! keeps the last good one otherwise); when etcd is away the file stays as it
//! is, the log says since when, and the acknowledgement's `checked_at` ages.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use etcd_client::{Client, EventType, PutOptions, WatchOptions};

use super::conn::{Reach, brief};
use crate::config::EtcdConfig;
use crate::flags::FlagCodec;
use crate::flags::file::{now_utc, replace_file};

/// A sync that stops renewing is gone from `applied/` after this.
pub const LEASE_TTL_SECONDS: i64 = 10;
/// How often the acknowledgement is refreshed (its `checked_at`).
const HEARTBEAT: Duration = Duration::from_secs(3);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub struct SyncSettings {
    pub region: String,
    pub to: PathBuf,
    /// One mirror and acknowledgement, then exit (for scripts).
    pub once: bool,
    /// Who runs it, for the acknowledgement (`host`).
    pub host: String,
    /// No log lines (a task inside the console, whose screen they would
    /// garble); the acknowledgement still says everything.
    pub quiet: bool,
}

/// The acknowledgement at `PREFIX/applied/<region>`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    /// The revision in the file the router reads.
    pub revision: u64,
    /// When that revision was written to the file.
    pub written_at: String,
    /// When the sync last heard from etcd (it ages while etcd is away).
    pub checked_at: String,
    pub host: String,
    pub path: String,
    /// Why the newest document was not written (undecodable), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// The state of the mirror between connections.
struct Mirror {
    settings: SyncSettings,
    codec: FlagCodec,
    config: EtcdConfig,
    /// The revision in the file and when it was written.
    written: Option<(u64, String)>,
    refused: Option<String>,
}

/// Runs until stopped (or once); returns an error only for what retrying
/// cannot fix. Logs one line per event to stderr.
pub async fn run(
    config: &EtcdConfig,
    codec: FlagCodec,
    settings: SyncSettings,
) -> Result<(), String> {
    let reach = Reach::new(config).map_err(|e| e.to_string())?;
    let mut mirror = Mirror {
        written: existing_revision(&settings.to, &codec),
        settings,
        codec,
        config: config.clone(),
        refused: None,
    };
    if let Some((revision, _)) = &mirror.written {
        mirror.log(&format!(
            "{} holds revision {revision}",
            mirror.settings.to.display()
        ));
    }
    let mut backoff = Duration::from_millis(100);
    let mut away_since: Option<Instant> = None;
    loop {
        let outcome = match reach.connect().await {
            Ok(client) => mirror.serve(client, &mut away_since).await,
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(why) if mirror.settings.once => return Err(why),
            Err(why) => {
                let since = *away_since.get_or_insert_with(Instant::now);
                let serving = match &mirror.written {
                    Some((revision, _)) => format!("serving revision {revision}"),
                    None => "no document written yet".to_string(),
                };
                mirror.log(&format!(
                    "etcd away for {} s ({why}); {serving} from {}",
                    since.elapsed().as_secs(),
                    mirror.settings.to.display()
                ));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

impl Mirror {
    /// One connection: lease, read, write, acknowledge, then watch.
    async fn serve(
        &mut self,
        mut client: Client,
        away_since: &mut Option<Instant>,
    ) -> Result<(), String> {
        let lease = client
            .lease_grant(LEASE_TTL_SECONDS, None)
            .await
            .map_err(|e| brief(&e))?
            .id();
        let got = client
            .get(self.config.key.clone(), None)
            .await
            .map_err(|e| brief(&e))?;
        if let Some(since) = away_since.take() {
            self.log(&format!(
                "etcd is back after {} s",
                since.elapsed().as_secs()
            ));
        }
        let from = got
            .header()
            .map_or(0, etcd_client::ResponseHeader::revision)
            + 1;
        match got.kvs().first() {
            Some(kv) => self.take(kv.value()),
            None => self.log(&format!(
                "no routing document at {} yet; {} is left as it is",
                self.config.key,
                self.settings.to.display()
            )),
        }
        self.acknowledge(&mut client, lease).await?;
        if self.settings.once {
            return Ok(());
        }
        let (mut keeper, mut kept) = client
            .lease_keep_alive(lease)
            .await
            .map_err(|e| brief(&e))?;
        let options = WatchOptions::new().with_start_revision(from);
        let mut watch = client
            .watch(self.config.key.clone(), Some(options))
            .await
            .map_err(|e| brief(&e))?;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                message = watch.message() => {
                    let Some(response) = message.map_err(|e| brief(&e))? else {
                        return Err("the watch ended".into());
                    };
                    if response.canceled() {
                        return Err(format!("the watch was cancelled: {}", response.cancel_reason()));
                    }
                    for event in response.events() {
                        match (event.event_type(), event.kv()) {
                            (EventType::Put, Some(kv)) => self.take(kv.value()),
                            _ => self.log("the routing document was deleted in etcd; the file keeps the last one"),
                        }
                    }
                    self.acknowledge(&mut client, lease).await?;
                }
                _ = heartbeat.tick() => {
                    keeper.keep_alive().await.map_err(|e| brief(&e))?;
                    match kept.message().await.map_err(|e| brief(&e))? {
                        Some(answer) if answer.ttl() > 0 => {}
                        _ => return Err("the lease expired".into()),
                    }
                    self.acknowledge(&mut client, lease).await?;
                }
            }
        }
    }

    fn log(&self, line: &str) {
        if !self.settings.quiet {
            log_line(line);
        }
    }

    /// Writes `bytes` to the file if they decode and are not there yet.
    fn take(&mut self, bytes: &[u8]) {
        let revision = match self.codec.decode(bytes) {
            Ok(doc) => doc.revision,
            Err(e) => {
                let why = format!(
                    "the document in etcd is unreadable ({e}); the file keeps the last good one"
                );
                self.log(&why);
                self.refused = Some(why);
                return;
            }
        };
        self.refused = None;
        if self.written.as_ref().is_some_and(|(r, _)| *r == revision) {
            return;
        }
        match replace_file(&self.settings.to, bytes) {
            Ok(()) => {
                self.log(&format!(
                    "wrote revision {revision} to {}",
                    self.settings.to.display()
                ));
                self.written = Some((revision, now_utc()));
            }
            Err(e) => {
                let why = format!("cannot write {}: {e}", self.settings.to.display());
                self.log(&why);
                self.refused = Some(why);
            }
        }
    }

    async fn acknowledge(&self, client: &mut Client, lease: i64) -> Result<(), String> {
        let Some((revision, written_at)) = &self.written else {
            return Ok(());
        };
        let applied = Applied {
            revision: *revision,
            written_at: written_at.clone(),
            checked_at: now_utc(),
            host: self.settings.host.clone(),
            path: self.settings.to.display().to_string(),
            refused: self.refused.clone(),
        };
        let value = serde_json::to_vec(&applied).map_err(|e| e.to_string())?;
        let key = self.config.applied_key(&self.settings.region);
        client
            .put(key, value, Some(PutOptions::new().with_lease(lease)))
            .await
            .map_err(|e| brief(&e))?;
        Ok(())
    }
}

/// The revision of the document already at `path`, when it decodes.
fn existing_revision(path: &std::path::Path, codec: &FlagCodec) -> Option<(u64, String)> {
    let bytes = std::fs::read(path).ok()?;
    let doc = codec.decode(&bytes).ok()?;
    Some((doc.revision, "before this sync started".to_string()))
}

fn log_line(line: &str) {
    eprintln!(
        "{} sync: {}",
        now_utc(),
        crate::domain::text::printable(line)
    );
}
