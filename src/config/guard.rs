//! `[guard]`: the guardrails' mode and check interval; their limits are the
//! profile's `[slo]`.

use std::time::Duration;

use super::error::ConfigError;
use super::profile::Validator;
use super::raw::RawGuard;
use crate::domain::guard::{GuardMode, RuleModes};

#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    pub mode: GuardMode,
    /// How often each cell is checked.
    pub check_interval: Duration,
    /// The traffic each check judges: the routers' over this long.
    pub window: Duration,
    /// What each rule's breach does (`[guard.rules]`), capped by `mode`.
    pub rules: RuleModes,
}

impl Default for GuardConfig {
    /// Observing: a guard alerts until someone arms it.
    fn default() -> Self {
        GuardConfig {
            mode: GuardMode::Observe,
            check_interval: Duration::from_secs(10),
            window: Duration::from_secs(30),
            rules: RuleModes::default(),
        }
    }
}

/// The modes as the profile and `--mode` spell them.
pub fn parse_mode(text: &str) -> Option<GuardMode> {
    [
        GuardMode::Disarmed,
        GuardMode::Observe,
        GuardMode::Hold,
        GuardMode::Rollback,
    ]
    .into_iter()
    .find(|m| m.name() == text)
}

impl Validator<'_> {
    pub(super) fn guard(&self, raw: &RawGuard) -> Result<GuardConfig, ConfigError> {
        let defaults = GuardConfig::default();
        let mode = self.guard_mode(raw.mode.as_ref(), defaults.mode, "guard.mode")?;
        let r = &raw.rules;
        let d = defaults.rules;
        let rules = RuleModes {
            errors: self.guard_mode(r.errors.as_ref(), d.errors, "guard.rules.errors")?,
            p95: self.guard_mode(r.p95.as_ref(), d.p95, "guard.rules.p95")?,
            cold_starts: self.guard_mode(
                r.cold_starts.as_ref(),
                d.cold_starts,
                "guard.rules.cold_starts",
            )?,
            cost: self.guard_mode(r.cost.as_ref(), d.cost, "guard.rules.cost")?,
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
            rules,
        })
    }

    fn guard_mode(
        &self,
        raw: Option<&toml::Spanned<String>>,
        default: GuardMode,
        what: &str,
    ) -> Result<GuardMode, ConfigError> {
        let Some(m) = raw else {
            return Ok(default);
        };
        parse_mode(m.get_ref()).ok_or_else(|| {
            self.err(
                m.span(),
                format!(
                    "unknown {what} {:?}: expected \"disarmed\", \"observe\", \"hold\" or \"rollback\"",
                    m.get_ref()
                ),
            )
        })
    }
}
