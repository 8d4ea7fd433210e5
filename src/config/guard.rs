//! `[guard]`: the guardrails' mode and check interval; their limits are the
//! profile's `[slo]`.

use std::time::Duration;

use super::error::ConfigError;
use super::profile::Validator;
use super::raw::RawGuard;
use crate::domain::guard::GuardMode;

#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    pub mode: GuardMode,
    /// How often each cell is checked.
    pub check_interval: Duration,
    /// The traffic each check judges: the routers' over this long.
    pub window: Duration,
}

impl Default for GuardConfig {
    /// Observing: a guard alerts until someone arms it.
    fn default() -> Self {
        GuardConfig {
            mode: GuardMode::Observe,
            check_interval: Duration::from_secs(10),
            window: Duration::from_secs(30),
        }
    }
}

/// The modes as the profile and `--mode` spell them.
pub fn parse_mode(text: &str) -> Option<GuardMode> {
    match text {
        "disarmed" => Some(GuardMode::Disarmed),
        "observe" => Some(GuardMode::Observe),
        "hold" => Some(GuardMode::Hold),
        "rollback" => Some(GuardMode::Rollback),
        _ => None,
    }
}

impl Validator<'_> {
    pub(super) fn guard(&self, raw: &RawGuard) -> Result<GuardConfig, ConfigError> {
        let defaults = GuardConfig::default();
        let mode = match &raw.mode {
            None => defaults.mode,
            Some(m) => parse_mode(m.get_ref()).ok_or_else(|| {
                self.err(
                    m.span(),
                    format!(
                        "unknown guard mode {:?}: expected \"disarmed\", \"observe\", \"hold\" or \"rollback\"",
                        m.get_ref()
                    ),
                )
            })?,
        };
        let interval = self.count(
            &raw.check_interval_ms,
            10_000,
            "guard.check_interval_ms",
            100,
            3_600_000,
        )?;
        let window = self.count(&raw.window_ms, 30_000, "guard.window_ms", 100, 3_600_000)?;
        Ok(GuardConfig {
            mode,
            check_interval: Duration::from_millis(interval),
            window: Duration::from_millis(window),
        })
    }
}
