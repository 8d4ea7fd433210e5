//! Real etcd servers on loopback for the tests (Debian `etcd-server`, which
//! scripts/test.sh installs): one member, or a cluster of three, each in a
//! temporary directory and killed when the test ends.
// Each test binary uses a part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One etcd member: its ports and process.
pub struct Member {
    pub name: String,
    pub client: u16,
    pub peer: u16,
    data: PathBuf,
    cluster: String,
    child: Option<Child>,
    log: PathBuf,
    /// Client connections over TLS with client certificates (the fixtures).
    tls: bool,
}

impl Member {
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client)
    }

    /// Starts (or restarts) the member on its data directory.
    pub fn start(&mut self, state: &str) {
        let log = std::fs::File::create(&self.log).unwrap();
        let child = Command::new("etcd")
            .args(["--name", &self.name])
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--listen-client-urls", &self.url()])
            .args(["--advertise-client-urls", &self.url()])
            .args([
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{}", self.peer),
            ])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{}", self.peer),
            ])
            .args(["--initial-cluster", &self.cluster])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", "beacon-test"])
            // A test cluster: small, quick elections.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(self.tls_args())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd is installed (scripts/test.sh installs etcd-server)");
        self.child = Some(child);
    }

    fn tls_args(&self) -> Vec<String> {
        if !self.tls {
            return Vec::new();
        }
        let f = |name: &str| tls_fixture(name).display().to_string();
        vec![
            "--cert-file".into(),
            f("server.pem"),
            "--key-file".into(),
            f("server.key"),
            "--trusted-ca-file".into(),
            f("ca.pem"),
            "--client-cert-auth".into(),
        ]
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Etcd {
    pub members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl Etcd {
    /// One member, ready.
    pub fn start() -> Etcd {
        Self::cluster(1)
    }

    /// `n` members on loopback, ready (a leader elected).
    pub fn cluster(n: usize) -> Etcd {
        Self::start_members(n, false)
    }

    /// One member that speaks TLS only and wants a client certificate.
    pub fn start_tls() -> Etcd {
        Self::start_members(1, true)
    }

    fn start_members(n: usize, tls: bool) -> Etcd {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Member> = ports
            .iter()
            .enumerate()
            .map(|(i, &(client, peer))| Member {
                name: format!("m{i}"),
                client,
                peer,
                data: dir.path().join(format!("m{i}")),
                cluster: cluster.clone(),
                child: None,
                log: dir.path().join(format!("m{i}.log")),
                tls,
            })
            .collect();
        for m in &mut members {
            m.start("new");
        }
        let etcd = Etcd { members, _dir: dir };
        etcd.wait_healthy();
        etcd
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::url).collect()
    }

    /// `endpoints = [...]` for a profile.
    pub fn endpoints_toml(&self) -> String {
        let list: Vec<String> = self.endpoints().iter().map(|e| format!("{e:?}")).collect();
        format!("[{}]", list.join(", "))
    }

    /// Waits until the cluster answers a linearizable read.
    pub fn wait_healthy(&self) {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if self.etcdctl(&["get", "/health-check"]).0 {
                return;
            }
            assert!(
                Instant::now() < until,
                "etcd never became healthy:\n{}",
                self.members[0].log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs etcdctl (v3 API) against every member: (success, stdout).
    pub fn etcdctl(&self, args: &[&str]) -> (bool, String) {
        let (ok, stdout, _) = self.etcdctl_with(args, &[]);
        (ok, stdout)
    }

    fn ctl_tls(&self) -> Vec<String> {
        if !self.members.first().is_some_and(|m| m.tls) {
            return Vec::new();
        }
        let f = |name: &str| tls_fixture(name).display().to_string();
        vec![
            format!("--cacert={}", f("ca.pem")),
            format!("--cert={}", f("client.pem")),
            format!("--key={}", f("client.key")),
        ]
    }

    /// Runs etcdctl with more environment: (success, stdout, stderr).
    pub fn etcdctl_with(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .envs(env.iter().copied())
            .arg(format!("--endpoints={}", self.endpoints().join(",")))
            .args(["--command-timeout=2s", "--dial-timeout=1s"])
            .args(self.ctl_tls())
            .args(args)
            .output()
            .expect("etcdctl is installed (Debian etcd-client)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The value at `key`, if any.
    pub fn get(&self, key: &str) -> Option<String> {
        let (ok, out) = self.etcdctl(&["get", key, "--print-value-only"]);
        assert!(ok, "etcdctl get {key}");
        let value = out.strip_suffix('\n').unwrap_or(&out).to_string();
        (!value.is_empty()).then_some(value)
    }

    /// Every key under `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let (ok, out) = self.etcdctl(&["get", prefix, "--prefix", "--keys-only"]);
        assert!(ok, "etcdctl get --prefix {prefix}");
        out.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// A profile on `etcd` (SMALL_PROFILE's cells) with the local audit copy in `dir`.
pub fn etcd_profile(dir: &Path, etcd: &Etcd, extra: &str) -> PathBuf {
    let text = crate::common::SMALL_PROFILE.replace(
        "[store]\nkind = \"file\"\npath = \"state/routes.json\"\n",
        &format!(
            "[store]\nkind = \"etcd\"\nendpoints = {}\nkey = \"/beacon/routes\"\n{extra}\n[audit]\npath = \"audit.jsonl\"\n",
            etcd.endpoints_toml()
        ),
    );
    assert!(
        text.contains("kind = \"etcd\""),
        "SMALL_PROFILE's store section moved"
    );
    crate::common::write_profile(dir, &text)
}

/// Short timeouts, for the tests that take etcd away.
pub const QUICK: &str = "dial_timeout_ms = 300\nrequest_timeout_ms = 500\n";

/// A fresh etcd, a directory, and a profile on them (`extra`: more
/// `[store]` lines).
pub struct Setup {
    pub etcd: Etcd,
    pub dir: tempfile::TempDir,
    pub profile: PathBuf,
}

pub fn setup(extra: &str) -> Setup {
    setup_cluster(1, extra)
}

/// As `setup`, on a cluster of `members`.
pub fn setup_cluster(members: usize, extra: &str) -> Setup {
    let etcd = Etcd::cluster(members);
    let dir = tempfile::tempdir().unwrap();
    let profile = etcd_profile(dir.path(), &etcd, extra);
    Setup { etcd, dir, profile }
}

/// `shift --cell CELL --to PCT --reason REASON --yes` on `profile`.
pub fn shift_on(profile: &Path, cell: &str, pct: &str, reason: &str) -> crate::common::Run {
    shift_as("tester", profile, cell, pct, reason)
}

/// The same, by `operator`.
pub fn shift_as(
    operator: &str,
    profile: &Path,
    cell: &str,
    pct: &str,
    reason: &str,
) -> crate::common::Run {
    let args = [
        "shift", "--cell", cell, "--to", pct, "--reason", reason, "--yes",
    ];
    let mut command = crate::common::with_profile(profile);
    command.env("BEACON_OPERATOR", operator);
    crate::common::run(&mut command, &args)
}

/// A file of `tests/fixtures/etcd-tls`.
pub fn tls_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/etcd-tls")
        .join(name)
}
