//! Where a running demo's simulator listens, for other commands to tell:
//! the console writes `simulator.json` beside the flag document while it
//! runs, and `status` reports the address (the drill found it with
//! `ss -ltnp`). A console or `guard` started beside it shares it — its
//! simulator and its routers — rather than start a world of its own where
//! the first one's faults would not show. A file left by a process that
//! died names a port that no longer answers; `running` checks before
//! believing it.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

const FILE: &str = "simulator.json";

/// The simulator a console on this state directory is running.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Announcement {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The process that runs it.
    pub pid: u32,
    /// Its routers: region → `/metrics` URL (none: it runs none).
    #[serde(default)]
    pub routers: Vec<(String, String)>,
}

impl Announcement {
    /// Where its fault rules are set.
    pub fn fault_api(&self) -> String {
        format!("{}/sim/faults", self.base)
    }
}

/// Removes the announcement when the process that wrote it ends normally.
#[derive(Debug)]
pub struct Announced {
    path: PathBuf,
    ours: Announcement,
}

impl Drop for Announced {
    fn drop(&mut self) {
        // Only our own: a second console may have announced since.
        if read(&self.path) == Some(self.ours.clone()) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Announces `base` and its routers in `dir` (best effort: the demo runs
/// without it).
pub fn announce(dir: &Path, base: &str, routers: Vec<(String, String)>) -> Option<Announced> {
    let ours = Announcement {
        base: base.to_string(),
        pid: std::process::id(),
        routers,
    };
    let path = dir.join(FILE);
    let temp = dir.join(format!(".{FILE}.{}", ours.pid));
    let text = serde_json::to_vec(&ours).ok()?;
    // Before the first commit the store's directory may not exist yet.
    std::fs::create_dir_all(dir).ok()?;
    std::fs::write(&temp, text).ok()?;
    std::fs::rename(&temp, &path).ok()?;
    Some(Announced { path, ours })
}

/// The simulator announced in `dir`, if it still answers there.
pub fn running(dir: &Path) -> Option<Announcement> {
    let found = read(&dir.join(FILE))?;
    let addr = address(&found.base)?;
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    Some(found)
}

fn read(path: &Path) -> Option<Announcement> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Only loopback addresses are believed: the file could be edited.
fn address(base: &str) -> Option<SocketAddr> {
    let host_port = base.strip_prefix("http://")?;
    let addr = host_port.to_socket_addrs().ok()?.next()?;
    addr.ip().is_loopback().then_some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_is_believed_only_while_its_port_answers() {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let announced = announce(dir.path(), &base, Vec::new()).unwrap();
        let found = running(dir.path()).unwrap();
        assert_eq!(found.base, base);
        assert_eq!(found.fault_api(), format!("{base}/sim/faults"));
        drop(listener);
        assert_eq!(running(dir.path()), None, "nothing listens there now");
        drop(announced);
        assert!(
            !dir.path().join(FILE).exists(),
            "removed when the console ends"
        );
    }

    #[test]
    fn an_address_off_loopback_is_not_believed() {
        assert_eq!(address("http://10.0.0.1:80"), None);
        assert!(address("http://127.0.0.1:80").is_some());
        assert_eq!(address("127.0.0.1:80"), None);
    }
}
