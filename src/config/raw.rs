//! The profile as written in TOML, with spans kept for error messages.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub name: Spanned<String>,
    #[serde(default)]
    pub environment: Option<Spanned<String>>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub theme: Option<Spanned<String>>,
    pub fallback: Spanned<String>,
    #[serde(default)]
    pub ladder: Option<Spanned<Vec<Spanned<f64>>>>,
    #[serde(default)]
    pub yearly_inferences: Option<Spanned<i64>>,
    pub models: Vec<RawNamed>,
    pub regions: Vec<RawNamed>,
    pub providers: Vec<RawProvider>,
    #[serde(default)]
    pub endpoints: Vec<RawEndpoint>,
    #[serde(default)]
    pub slo: RawSlo,
    pub store: RawStore,
    #[serde(default)]
    pub audit: Option<RawAudit>,
    #[serde(default)]
    pub simulator: Option<RawSimulator>,
    #[serde(default)]
    pub telemetry: RawTelemetry,
    #[serde(default)]
    pub routers: Vec<RawRouter>,
    /// Console key bindings: command name → a key or a list of keys.
    #[serde(default)]
    pub keys: indexmap::IndexMap<Spanned<String>, Spanned<RawKeys>>,
    #[serde(default)]
    pub guard: RawGuard,
    #[serde(default)]
    pub notify: Option<RawNotify>,
}

/// `[notify]`: where state changes are sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// A Slack-compatible incoming-webhook URL (a secret: it is the key).
    pub webhook: Option<Spanned<RawSecret>>,
}

/// `[guard]`: what the guardrails do, and how often they check.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    #[serde(default)]
    pub check_interval_ms: Option<Spanned<i64>>,
    #[serde(default)]
    pub window_ms: Option<Spanned<i64>>,
    /// `[guard.rules]`: what each rule's breach does.
    #[serde(default)]
    pub rules: RawRuleModes,
}

/// `[guard.rules]`: a mode per SLO rule (capped by the guard's mode).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuleModes {
    #[serde(default)]
    pub errors: Option<Spanned<String>>,
    #[serde(default)]
    pub p95: Option<Spanned<String>>,
    #[serde(default)]
    pub cold_starts: Option<Spanned<String>>,
    #[serde(default)]
    pub cost: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawKeys {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    pub probe_interval_ms: Option<Spanned<i64>>,
    pub probe_jitter_percent: Option<Spanned<f64>>,
    pub probe_concurrency: Option<Spanned<i64>>,
    pub health_interval_ms: Option<Spanned<i64>>,
    pub scrape_interval_ms: Option<Spanned<i64>>,
    /// Probes a second at most, over every (cell, provider).
    #[serde(default)]
    pub max_probes_per_second: Option<Spanned<f64>>,
    /// Probe cells that have router traffic too (default: only those without).
    #[serde(default)]
    pub probe_with_traffic: Option<bool>,
    /// "routers" (scrape each `[[routers]]`) or "prometheus".
    #[serde(default)]
    pub source: Option<Spanned<String>>,
    #[serde(default)]
    pub prometheus_url: Option<Spanned<String>>,
    #[serde(default)]
    pub prometheus_token: Option<Spanned<RawSecret>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouter {
    pub region: Spanned<String>,
    pub metrics_url: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamed {
    pub id: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub id: Spanned<String>,
    pub kind: Spanned<String>,
    pub price_per_second: Spanned<f64>,
    /// RunPod: `https://api.runpod.ai/v2`.
    #[serde(default)]
    pub api_base: Option<Spanned<String>>,
    /// RunPod: endpoint id for cells without an explicit endpoint, e.g. `beacon-{model}-{region}`.
    #[serde(default)]
    pub endpoint_template: Option<Spanned<String>>,
    /// RunPod: the REST API for endpoint settings (keep-warm `workersMin`),
    /// `https://rest.runpod.io/v1`.
    #[serde(default)]
    pub rest_base: Option<Spanned<String>>,
    /// Modal: web endpoint URL for cells without an explicit endpoint.
    #[serde(default)]
    pub url_template: Option<Spanned<String>>,
    #[serde(default)]
    pub api_key: Option<Spanned<RawSecret>>,
    #[serde(default)]
    pub proxy_key: Option<Spanned<RawSecret>>,
    #[serde(default)]
    pub proxy_secret: Option<Spanned<RawSecret>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub model: Spanned<String>,
    pub region: Spanned<String>,
    pub provider: Spanned<String>,
    #[serde(default)]
    pub endpoint_id: Option<Spanned<String>>,
    #[serde(default)]
    pub url: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlo {
    pub cold_start_ms: Option<Spanned<f64>>,
    pub cold_start_fast_percent: Option<Spanned<f64>>,
    pub latency_p95_ms: Option<Spanned<f64>>,
    pub error_rate_percent: Option<Spanned<f64>>,
    pub cost_vs_fallback: Option<Spanned<f64>>,
    pub min_samples: Option<Spanned<i64>>,
    pub failures_before_rollback: Option<Spanned<i64>>,
    /// Per-cell overrides: `[[slo.cells]] cell = "m/r"` and any limit.
    #[serde(default)]
    pub cells: Vec<RawSloCell>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSloCell {
    pub cell: Spanned<String>,
    pub cold_start_fast_percent: Option<Spanned<f64>>,
    pub latency_p95_ms: Option<Spanned<f64>>,
    pub error_rate_percent: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub kind: Spanned<String>,
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub lock_timeout_ms: Option<Spanned<i64>>,
    // etcd
    #[serde(default)]
    pub endpoints: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub key: Option<Spanned<String>>,
    #[serde(default)]
    pub prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub tls: Option<Spanned<RawTls>>,
    #[serde(default)]
    pub user: Option<Spanned<RawSecret>>,
    #[serde(default)]
    pub password: Option<Spanned<RawSecret>>,
    #[serde(default)]
    pub dial_timeout_ms: Option<Spanned<i64>>,
    #[serde(default)]
    pub request_timeout_ms: Option<Spanned<i64>>,
    #[serde(default)]
    pub apply_deadline_ms: Option<Spanned<i64>>,
}

/// `[store.tls]`: PEM files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    #[serde(default)]
    pub ca: Option<Spanned<String>>,
    #[serde(default)]
    pub cert: Option<Spanned<String>>,
    #[serde(default)]
    pub key: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub path: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimulator {
    #[serde(default)]
    pub seed: Option<Spanned<i64>>,
    #[serde(default)]
    pub requests_per_second: Option<Spanned<f64>>,
    #[serde(default)]
    pub time_scale: Option<Spanned<f64>>,
}
