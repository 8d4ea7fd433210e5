//! A tmux server of the test's own running the real binary in a pseudo-
//! terminal (80×24): keys in, screen out.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]
// Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::bin;

/// A tmux server of our own, killed when the test ends.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(state: &Path) -> Tmux {
        Self::start_with(state, "")
    }

    /// The console with more arguments.
    pub fn start_with(state: &Path, args: &str) -> Tmux {
        Self::start_env(state, "LC_ALL=C.UTF-8", args)
    }

    /// The console with environment variables (`NAME=value …`) and arguments.
    pub fn start_env(state: &Path, env: &str, args: &str) -> Tmux {
        Self::run(&format!(
            "{env} BEACON_OPERATOR=tester {} --state-dir {} --time-scale 50 {args}",
            bin().display(),
            state.display()
        ))
    }

    /// Any shell command line; the pane then says `EXITED <code>`.
    pub fn run(command: &str) -> Tmux {
        let socket = format!("beacon-test-{}-{}", std::process::id(), fastrand_suffix());
        let command = format!("{command} ; echo EXITED $? ; sleep 600");
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "80",
                "-y",
                "24",
                &command,
            ])
            .status()
            .expect("tmux is installed (scripts/test.sh installs it)")
            .success();
        assert!(ok, "tmux new-session");
        Tmux { socket }
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
        }
    }

    /// Waits until the screen shows `text` (the console redraws on each key
    /// and each second; a minute is a generous limit on a loaded machine).
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_until(text, |screen| screen.contains(text))
    }

    /// Waits until `done` holds for the screen (`what` names it on failure).
    pub fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < until,
                "never saw {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn format(&self, what: &str) -> String {
        self.tmux(&["display-message", "-p", what])
            .trim()
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
}
