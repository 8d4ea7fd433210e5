//! Helpers shared by the integration tests: run the real binary, snapshot a
//! directory, write profiles.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_beacon-console"))
}

/// The binary on the demo profile with its state in `state`.
pub fn demo(state: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("--state-dir").arg(state);
    cmd.env_remove("BEACON_PROFILE");
    cmd.env("BEACON_OPERATOR", "tester");
    cmd.stdin(Stdio::null());
    cmd
}

/// The binary on a profile file.
pub fn with_profile(profile: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("--profile").arg(profile);
    cmd.env("BEACON_OPERATOR", "tester");
    cmd.stdin(Stdio::null());
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.args(args).output().expect("run beacon-console");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs and asserts success.
pub fn ok(cmd: &mut Command, args: &[&str]) -> Run {
    let r = run(cmd, args);
    assert_eq!(
        r.code, 0,
        "{args:?} failed:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    r
}

/// Shifts one demo cell's RunPod share to `pct` through the real binary.
pub fn shift_cell(state: &Path, cell: &str, pct: &str, reason: &str) {
    let args = [
        "shift", "--cell", cell, "--to", pct, "--reason", reason, "--yes",
    ];
    ok(&mut demo(state), &args);
}

/// `rollback --all --force --yes --reason REASON` on a demo state.
pub fn force_rollback(state: &Path, reason: &str) -> Run {
    let args = ["rollback", "--all", "--force", "--yes", "--reason", reason];
    ok(&mut demo(state), &args)
}

/// Revision 1 of a demo state: llama-3.2-1b/us-east at 5 % RunPod.
pub fn canary(state: &Path) {
    shift_cell(state, "llama-3.2-1b/us-east", "5", "x");
}

/// Every file under `dir` with its bytes.
pub fn snapshot_dir(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

pub fn doc_path(state: &Path) -> PathBuf {
    state.join("flags/beacon-routes.json")
}

pub fn audit_path(state: &Path) -> PathBuf {
    state.join("audit/beacon-audit.jsonl")
}

/// The `revision` of every `commit` line of an audit log.
pub fn audit_revisions(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "commit")
        .filter_map(|v| v["revision"].as_u64())
        .collect()
}

pub fn doc_revision(state: &Path) -> u64 {
    let text = std::fs::read_to_string(doc_path(state)).expect("document");
    let v: serde_json::Value = serde_json::from_str(&text).expect("document parses");
    v["metadata"]["version"].as_str().unwrap().parse().unwrap()
}

/// A two-model, two-region profile file in `dir`, with extra TOML appended.
pub const SMALL_PROFILE: &str = r#"name = "test"
environment = "staging"
fallback = "modal"
models = [{ id = "m1" }, { id = "m.2" }]
regions = [{ id = "r1" }, { id = "r2" }]

[[providers]]
id = "modal"
kind = "modal"
price_per_second = 0.0003
url_template = "https://ws--{model}-{region}.modal.run"

[[providers]]
id = "runpod"
kind = "runpod"
price_per_second = 0.000255
endpoint_template = "ep-{model}-{region}"

[store]
kind = "file"
path = "state/routes.json"
"#;

pub fn write_profile(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("profile.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `beacon-console sim` on the demo in `state`, as a separate process, and
/// the JSON line it prints first (base URL, routers' metrics URLs).
pub fn start_sim(state: &Path, rps: &str) -> (std::process::Child, serde_json::Value) {
    use std::io::{BufRead, BufReader};
    let mut child = demo(state)
        .args(["--json", "sim", "--time-scale", "100", "--rps", rps])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, serde_json::from_str(&line).unwrap())
}

/// Ctrl-C (SIGINT) to a `sim` process; it must stop cleanly.
pub fn interrupt(mut child: std::process::Child) {
    // SAFETY: signalling our own child process.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// One provider's row of one cell in `status --live --json`.
pub fn live_provider<'a>(
    status: &'a serde_json::Value,
    cell: &str,
    provider: &str,
) -> &'a serde_json::Value {
    let row = status["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cell"] == cell)
        .unwrap_or_else(|| panic!("{cell} in {status}"));
    row["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == provider)
        .unwrap_or_else(|| panic!("{provider} in {row}"))
}

/// SMALL_PROFILE with secrets that cannot be read: an unset variable for
/// RunPod and a group-readable file for Modal.
pub fn profile_without_secrets(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let secret = dir.join("modal.secret");
    std::fs::write(&secret, "CANARY-modal-8d1f\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = SMALL_PROFILE
        .replace(
            "url_template = \"https://ws--{model}-{region}.modal.run\"",
            "url_template = \"https://ws--{model}-{region}.modal.run\"\nproxy_key = { file = \"modal.secret\" }\nproxy_secret = { file = \"modal.secret\" }",
        )
        .replace(
            "endpoint_template = \"ep-{model}-{region}\"",
            "endpoint_template = \"ep-{model}-{region}\"\napi_key = { env = \"BEACON_TEST_UNSET_KEY\" }",
        );
    write_profile(dir, &text)
}

/// A child process killed and reaped when dropped: a test that fails
/// half-way (a panic in a wait) leaves no guard, sync or simulator running
/// behind it.
pub struct Reaped(pub std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
