//! The validated profile: models, regions, providers, endpoints, SLOs, store.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use toml::Spanned;

use super::error::ConfigError;
use super::raw::{
    RawAudit, RawEndpoint, RawKeys, RawProfile, RawProvider, RawRouter, RawSecret, RawSimulator,
    RawSlo, RawStore, RawTelemetry,
};
use super::secret::SecretSource;
use crate::domain::{CellId, Id, Ladder, PerMille, is_valid_id};

/// Where a profile comes from.
#[derive(Debug, Clone)]
pub enum ProfileSource {
    /// A TOML file; relative paths inside are relative to its directory.
    File(PathBuf),
    /// The built-in demo; its relative paths are relative to the state directory.
    Demo { state_dir: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Demo,
    Staging,
    Production,
}

impl Environment {
    pub fn label(self) -> &'static str {
        match self {
            Environment::Demo => "DEMO",
            Environment::Staging => "STAGING",
            Environment::Production => "PRODUCTION",
        }
    }

    /// The name as the profile spells it (`environment = "production"`).
    pub fn name(self) -> &'static str {
        match self {
            Environment::Demo => "demo",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    RunPod,
    Modal,
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub id: String,
    pub kind: ProviderKind,
    pub price_per_second: f64,
    pub api_key: Option<SecretSource>,
    pub proxy_key: Option<SecretSource>,
    pub proxy_secret: Option<SecretSource>,
    /// The endpoint of cells that have no explicit `[[endpoints]]` entry.
    pub template: Option<EndpointTemplate>,
    /// RunPod: the REST API base for endpoint settings (keep-warm).
    pub rest_base: Option<String>,
}

/// An endpoint with `{model}` and `{region}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointTemplate {
    RunPod {
        api_base: String,
        endpoint_id: String,
    },
    Modal {
        url: String,
    },
}

/// How to reach one provider for one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `{api_base}/{endpoint_id}/runsync` etc.
    RunPod {
        api_base: String,
        endpoint_id: String,
    },
    /// A Modal web endpoint URL.
    Modal { url: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SloConfig {
    pub cold_start_ms: f64,
    pub cold_start_fast_percent: f64,
    pub latency_p95_ms: f64,
    pub error_rate_percent: f64,
    pub cost_vs_fallback: f64,
    pub min_samples: u64,
    pub failures_before_rollback: u32,
    /// Cells with limits of their own (`[[slo.cells]]`).
    pub overrides: Vec<(CellId, SloOverride)>,
}

/// A cell's own limits; the rest are the profile's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SloOverride {
    pub cold_start_fast_percent: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub error_rate_percent: Option<f64>,
}

impl SloConfig {
    /// The limits that hold for `cell`: the profile's, with its overrides.
    /// Borrowed where the cell has none (the common case, read per cell
    /// on every frame: no copy).
    pub fn for_cell(&self, cell: &CellId) -> std::borrow::Cow<'_, SloConfig> {
        let Some((_, o)) = self.overrides.iter().find(|(c, _)| c == cell) else {
            return std::borrow::Cow::Borrowed(self);
        };
        let mut slo = self.clone();
        slo.cold_start_fast_percent = o
            .cold_start_fast_percent
            .unwrap_or(slo.cold_start_fast_percent);
        slo.latency_p95_ms = o.latency_p95_ms.unwrap_or(slo.latency_p95_ms);
        slo.error_rate_percent = o.error_rate_percent.unwrap_or(slo.error_rate_percent);
        slo.overrides = Vec::new();
        std::borrow::Cow::Owned(slo)
    }
}

impl Default for SloConfig {
    /// The research doc's Phase 1 gates.
    fn default() -> Self {
        Self {
            cold_start_ms: 500.0,
            cold_start_fast_percent: 80.0,
            latency_p95_ms: 2000.0,
            error_rate_percent: 1.0,
            cost_vs_fallback: 1.0,
            min_samples: 20,
            failures_before_rollback: 3,
            overrides: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreConfig {
    File {
        path: PathBuf,
        lock_timeout: Duration,
    },
    Etcd(Box<super::store::EtcdConfig>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    pub seed: u64,
    pub requests_per_second: f64,
    pub time_scale: f64,
}

#[derive(Debug, Clone)]
pub struct Named {
    pub id: Id,
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Profile {
    /// The file the profile came from, as shown in messages.
    pub origin: String,
    pub name: String,
    pub environment: Environment,
    pub read_only: bool,
    pub theme: Option<String>,
    /// Where `theme` is written (line, column), so that a theme that cannot
    /// be loaded is reported there.
    pub theme_at: Option<(usize, usize)>,
    pub fallback: String,
    pub ladder: Ladder,
    pub yearly_inferences: u64,
    pub models: Vec<Named>,
    pub regions: Vec<Named>,
    pub providers: Vec<ProviderConfig>,
    /// `[[endpoints]]` entries; other cells use their provider's template.
    pub explicit_endpoints: IndexMap<(CellId, String), Endpoint>,
    pub slo: SloConfig,
    pub store: StoreConfig,
    pub audit_path: PathBuf,
    pub simulator: Option<SimulatorConfig>,
    pub telemetry: TelemetryConfig,
    /// Console key bindings from `[keys]`: (command, keys), each key in the
    /// canonical form of [`KEY_NAMES`] or one printable character.
    pub keys: Vec<(String, Vec<String>)>,
    /// The guardrails: mode and check interval (limits from `[slo]`).
    pub guard: super::guard::GuardConfig,
    /// `[notify] webhook`: where state changes are sent (a secret URL).
    pub webhook: Option<SecretSource>,
    /// Each region's router metrics endpoint (`[[routers]]`), in region order.
    pub routers: Vec<RouterEndpoint>,
}

/// How the console measures: probes and router scrapes.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    pub probe_interval: Duration,
    /// ± this share of the interval, at random.
    pub probe_jitter: f64,
    pub probe_concurrency: usize,
    /// RunPod `/health` per endpoint at most this often.
    pub health_interval: Duration,
    pub scrape_interval: Duration,
    /// Where the routers' figures come from.
    pub source: MetricsSource,
    /// Probes a second at most (each is an inference: it costs money).
    pub max_probes_per_second: f64,
    /// Probe where the routers see traffic too (default: not — the
    /// routers' figures are the truer ones, and cost nothing).
    pub probe_with_traffic: bool,
}

/// Where the routers' figures come from.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum MetricsSource {
    /// Each region's router's `/metrics` (`[[routers]]`, or the demo's).
    #[default]
    Routers,
    /// A Prometheus server that scrapes the routers: its HTTP API.
    Prometheus {
        url: String,
        token: Option<SecretSource>,
    },
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            probe_interval: Duration::from_secs(5),
            probe_jitter: 0.2,
            probe_concurrency: 16,
            health_interval: Duration::from_secs(5),
            scrape_interval: Duration::from_secs(2),
            source: MetricsSource::Routers,
            max_probes_per_second: 2.0,
            probe_with_traffic: false,
        }
    }
}

/// Where a region's router serves its Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterEndpoint {
    pub region: Id,
    pub metrics_url: String,
}

impl Profile {
    /// Loads and validates a profile.
    pub fn load(source: &ProfileSource) -> Result<Profile, ConfigError> {
        match source {
            ProfileSource::File(path) => {
                let origin = path.display().to_string();
                let text = super::error::read_text(path, "profile")?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                Self::parse(&origin, &text, &base)
            }
            ProfileSource::Demo { state_dir } => Self::parse(
                "profiles/demo.toml (built in)",
                super::DEMO_PROFILE,
                state_dir,
            ),
        }
    }

    /// Parses profile text; relative paths are joined to `base`.
    pub fn parse(origin: &str, text: &str, base: &Path) -> Result<Profile, ConfigError> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| {
            ConfigError::at(origin, text, e.span(), e.message().trim_end().to_string())
        })?;
        Validator { origin, text, base }.validate(raw)
    }

    pub fn model_ids(&self) -> Vec<Id> {
        self.models.iter().map(|m| m.id.clone()).collect()
    }

    pub fn region_ids(&self) -> Vec<Id> {
        self.regions.iter().map(|r| r.id.clone()).collect()
    }

    pub fn provider_ids(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.id.clone()).collect()
    }

    /// Every cell, models first then regions.
    pub fn cells(&self) -> Vec<CellId> {
        self.models
            .iter()
            .flat_map(|m| {
                self.regions
                    .iter()
                    .map(|r| CellId::new(m.id.clone(), r.id.clone()))
            })
            .collect()
    }

    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Providers that have an endpoint for this cell, in profile order.
    pub fn providers_for(&self, cell: &CellId) -> Vec<String> {
        self.providers
            .iter()
            .filter(|p| self.has_endpoint(cell, &p.id))
            .map(|p| p.id.clone())
            .collect()
    }

    /// How to reach `provider` for `cell`, if the profile says.
    pub fn endpoint(&self, cell: &CellId, provider: &str) -> Option<Endpoint> {
        if let Some(e) = self
            .explicit_endpoints
            .get(&(cell.clone(), provider.to_string()))
        {
            return Some(e.clone());
        }
        let fill = |t: &str| {
            t.replace("{model}", &cell.model)
                .replace("{region}", &cell.region)
        };
        match &self.provider(provider)?.template {
            Some(EndpointTemplate::RunPod {
                api_base,
                endpoint_id,
            }) => Some(Endpoint::RunPod {
                api_base: api_base.clone(),
                endpoint_id: fill(endpoint_id),
            }),
            Some(EndpointTemplate::Modal { url }) => Some(Endpoint::Modal { url: fill(url) }),
            None => None,
        }
    }

    pub fn has_endpoint(&self, cell: &CellId, provider: &str) -> bool {
        self.provider(provider)
            .is_some_and(|p| p.template.is_some())
            || self
                .explicit_endpoints
                .contains_key(&(cell.clone(), provider.to_string()))
    }

    /// The one provider that is not the fallback, when there is exactly one.
    pub fn sole_target(&self) -> Option<&str> {
        let mut others = self.providers.iter().filter(|p| p.id != self.fallback);
        match (others.next(), others.next()) {
            (Some(p), None) => Some(&p.id),
            _ => None,
        }
    }

    /// The flag document's file (a file store's; none for etcd).
    pub fn store_path(&self) -> Option<&Path> {
        match &self.store {
            StoreConfig::File { path, .. } => Some(path),
            StoreConfig::Etcd(_) => None,
        }
    }

    /// Where the store is, for summaries: a path, or etcd's endpoints and key.
    pub fn store_text(&self) -> String {
        match &self.store {
            StoreConfig::File { path, .. } => format!("file {}", path.display()),
            StoreConfig::Etcd(etcd) => etcd.describe(),
        }
    }
}

/// A provider's endpoint templates, for cells without an explicit endpoint.
struct Templates {
    endpoint_id: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    api_base: Option<String>,
}

impl Templates {
    /// The provider's endpoint for cells without an `[[endpoints]]` entry.
    fn template(&self) -> Option<EndpointTemplate> {
        match (&self.endpoint_id, &self.url) {
            (Some(id), _) => Some(EndpointTemplate::RunPod {
                api_base: self.api_base.clone().unwrap_or_default(),
                endpoint_id: id.get_ref().clone(),
            }),
            (_, Some(url)) => Some(EndpointTemplate::Modal {
                url: url.get_ref().clone(),
            }),
            _ => None,
        }
    }
}

pub(super) struct Validator<'a> {
    origin: &'a str,
    text: &'a str,
    base: &'a Path,
}

impl Validator<'_> {
    pub(super) fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.origin, self.text, Some(span), message)
    }

    fn id(&self, id: &Spanned<String>, what: &str) -> Result<String, ConfigError> {
        if is_valid_id(id.get_ref()) {
            Ok(id.get_ref().clone())
        } else {
            Err(self.err(
                id.span(),
                format!(
                    "invalid {what} id {:?}: expected lower-case letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)",
                    id.get_ref()
                ),
            ))
        }
    }

    fn ids(&self, list: &[super::raw::RawNamed], what: &str) -> Result<Vec<Named>, ConfigError> {
        let mut out: Vec<Named> = Vec::new();
        for item in list {
            let id = self.id(&item.id, what)?;
            if out.iter().any(|n| *n.id == *id) {
                return Err(self.err(item.id.span(), format!("duplicate {what} id {id:?}")));
            }
            out.push(Named {
                id: Id::from(id),
                name: item.name.clone(),
            });
        }
        if out.is_empty() {
            return Err(ConfigError::at(
                self.origin,
                self.text,
                None,
                format!("no {what}s declared (expected at least one [[{what}s]] entry)"),
            ));
        }
        Ok(out)
    }

    pub(super) fn path(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    pub(super) fn secret(
        &self,
        raw: &Option<Spanned<RawSecret>>,
    ) -> Result<Option<SecretSource>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let source = match (&raw.get_ref().env, &raw.get_ref().file) {
            (Some(env), None) if !env.is_empty() => SecretSource::Env(env.clone()),
            (None, Some(file)) if !file.is_empty() => {
                // Checked where it is read (probes, warmup, bench): writing
                // the flags never needs a provider secret.
                SecretSource::File(self.path(file))
            }
            _ => {
                return Err(self.err(
                    raw.span(),
                    "expected exactly one of { env = \"VAR\" } or { file = \"path\" }",
                ));
            }
        };
        Ok(Some(source))
    }

    fn positive(
        &self,
        v: &Option<Spanned<f64>>,
        default: f64,
        what: &str,
        max: f64,
    ) -> Result<f64, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if s.get_ref().is_finite() && *s.get_ref() >= 0.0 && *s.get_ref() <= max => {
                Ok(*s.get_ref())
            }
            Some(s) => Err(self.err(
                s.span(),
                format!("{what} must be between 0 and {max}, got {}", s.get_ref()),
            )),
        }
    }

    /// As `positive`, without 0: a limit of 0 ms or 0× would make every
    /// request a breach (and an armed guard roll every cell back).
    fn above_zero(
        &self,
        v: &Option<Spanned<f64>>,
        default: f64,
        what: &str,
        max: f64,
    ) -> Result<f64, ConfigError> {
        match v {
            Some(s) if *s.get_ref() == 0.0 => Err(self.err(
                s.span(),
                format!("{what} must be above 0 and at most {max}, got 0"),
            )),
            _ => self.positive(v, default, what, max),
        }
    }

    pub(super) fn count(
        &self,
        v: &Option<Spanned<i64>>,
        default: u64,
        what: &str,
        min: i64,
        max: i64,
    ) -> Result<u64, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if (min..=max).contains(s.get_ref()) => Ok(*s.get_ref() as u64),
            Some(s) => Err(self.err(
                s.span(),
                format!(
                    "{what} must be between {min} and {max}, got {}",
                    s.get_ref()
                ),
            )),
        }
    }

    fn url(&self, url: &str, span: Range<usize>, simulated: bool) -> Result<(), ConfigError> {
        if simulated && url.starts_with("{sim}") {
            return Ok(());
        }
        if url.starts_with("{sim}") {
            return Err(self.err(span, "{sim} URLs need a [simulator] section"));
        }
        check_url(url).map_err(|m| self.err(span, m))
    }

    /// Checks the sections in the order a reader meets them (so that, of
    /// several errors, the same one is reported first) and builds the profile.
    fn validate(&self, raw: RawProfile) -> Result<Profile, ConfigError> {
        let name = raw.name.get_ref().clone();
        let environment = self.environment(raw.environment.as_ref())?;
        let models = self.ids(&raw.models, "model")?;
        let regions = self.ids(&raw.regions, "region")?;
        let simulated = raw.simulator.is_some();
        let (mut providers, templates) = self.providers(&raw.providers, simulated)?;
        let fallback = self.fallback(&raw.fallback, &providers)?;
        // Endpoints: explicit entries first, then templates fill the rest.
        let cells = (models.as_slice(), regions.as_slice());
        let endpoints = self.endpoints(&raw.endpoints, cells, &providers, &templates, simulated)?;
        for (provider, t) in providers.iter_mut().zip(&templates) {
            provider.template = t.template();
        }
        self.fallback_everywhere(&raw.fallback, &providers, cells, &endpoints)?;
        let ladder = self.ladder(raw.ladder.as_ref())?;
        let slo = self.slo(&raw.slo)?;
        self.slo_cells_known(&raw.slo.cells, &models, &regions)?;
        let store = self.store(&raw.store)?;
        let audit_path = self.audit_path(raw.audit.as_ref(), &store);
        let yearly_inferences = self.count(
            &raw.yearly_inferences,
            1_000_000,
            "yearly_inferences",
            1,
            i64::MAX,
        )?;
        let simulator = self.simulator(raw.simulator.as_ref())?;
        let telemetry = self.telemetry(&raw.telemetry)?;
        let routers = self.routers(&raw.routers, &regions, simulated)?;
        let keys = self.keys(&raw.keys)?;
        let guard = self.guard(&raw.guard)?;
        let webhook = match &raw.notify {
            Some(n) => self.secret(&n.webhook)?,
            None => None,
        };
        Ok(Profile {
            origin: self.origin.to_string(),
            name,
            environment,
            read_only: raw.read_only,
            theme: raw.theme.as_ref().map(|t| t.get_ref().clone()),
            theme_at: raw
                .theme
                .as_ref()
                .map(|t| super::error::line_col(self.text, t.span().start)),
            fallback,
            ladder,
            yearly_inferences,
            models,
            regions,
            providers,
            explicit_endpoints: endpoints,
            slo,
            store,
            audit_path,
            simulator,
            telemetry,
            routers,
            keys,
            guard,
            webhook,
        })
    }

    /// `environment`: production unless the profile says demo or staging.
    fn environment(&self, raw: Option<&Spanned<String>>) -> Result<Environment, ConfigError> {
        let Some(e) = raw else {
            return Ok(Environment::Production);
        };
        match e.get_ref().as_str() {
            "demo" => Ok(Environment::Demo),
            "staging" => Ok(Environment::Staging),
            "production" => Ok(Environment::Production),
            other => Err(self.err(
                e.span(),
                format!(
                    "unknown environment {other:?}: expected \"demo\", \"staging\" or \"production\""
                ),
            )),
        }
    }

    /// `[[providers]]`: at least one, ids unique. Each provider's templates
    /// are kept aside: they become its `template` once the explicit
    /// endpoints have been read.
    fn providers(
        &self,
        raw: &[RawProvider],
        simulated: bool,
    ) -> Result<(Vec<ProviderConfig>, Vec<Templates>), ConfigError> {
        let mut providers: Vec<ProviderConfig> = Vec::new();
        let mut templates: Vec<Templates> = Vec::new();
        for p in raw {
            let id = self.id(&p.id, "provider")?;
            if providers.iter().any(|q| q.id == id) {
                return Err(self.err(p.id.span(), format!("duplicate provider id {id:?}")));
            }
            let (provider, template) = self.provider(id, p, simulated)?;
            providers.push(provider);
            templates.push(template);
        }
        if providers.is_empty() {
            return Err(ConfigError::at(
                self.origin,
                self.text,
                None,
                "no providers declared (expected at least one [[providers]] entry)",
            ));
        }
        Ok((providers, templates))
    }

    /// One `[[providers]]` entry: kind, price, API bases, the fields its
    /// kind takes, templates, then secrets.
    fn provider(
        &self,
        id: String,
        p: &RawProvider,
        simulated: bool,
    ) -> Result<(ProviderConfig, Templates), ConfigError> {
        let kind = self.provider_kind(&p.kind)?;
        let price = self.positive(
            &Some(p.price_per_second.clone()),
            0.0,
            "price_per_second",
            1.0,
        )?;
        let api_base = self.runpod_base(
            p.api_base.as_ref(),
            kind,
            simulated,
            "https://api.runpod.ai/v2",
            "api_base is for runpod providers; a modal provider uses url_template or per-endpoint url",
        )?;
        let rest_base = self.runpod_base(
            p.rest_base.as_ref(),
            kind,
            simulated,
            "https://rest.runpod.io/v1",
            "rest_base is for runpod providers (Modal has no API for warm containers)",
        )?;
        match kind {
            ProviderKind::RunPod => self.runpod_fields(p)?,
            ProviderKind::Modal => self.modal_fields(p)?,
        }
        self.provider_templates(p, simulated)?;
        let provider = ProviderConfig {
            id,
            kind,
            price_per_second: price,
            api_key: self.secret(&p.api_key)?,
            proxy_key: self.secret(&p.proxy_key)?,
            proxy_secret: self.secret(&p.proxy_secret)?,
            template: None,
            rest_base,
        };
        let templates = Templates {
            endpoint_id: p.endpoint_template.clone(),
            url: p.url_template.clone(),
            api_base,
        };
        Ok((provider, templates))
    }

    fn provider_kind(&self, kind: &Spanned<String>) -> Result<ProviderKind, ConfigError> {
        match kind.get_ref().as_str() {
            "runpod" => Ok(ProviderKind::RunPod),
            "modal" => Ok(ProviderKind::Modal),
            other => Err(self.err(
                kind.span(),
                format!("unknown provider kind {other:?}: expected \"runpod\" or \"modal\""),
            )),
        }
    }

    /// A RunPod API base (`api_base`, `rest_base`): a URL, kept without its
    /// trailing '/', else `default`; a modal provider has none (`on_modal`
    /// says why when one is given).
    fn runpod_base(
        &self,
        base: Option<&Spanned<String>>,
        kind: ProviderKind,
        simulated: bool,
        default: &str,
        on_modal: &str,
    ) -> Result<Option<String>, ConfigError> {
        match (base, kind) {
            (Some(b), ProviderKind::RunPod) => {
                self.url(b.get_ref(), b.span(), simulated)?;
                Ok(Some(b.get_ref().trim_end_matches('/').to_string()))
            }
            (None, ProviderKind::RunPod) => Ok(Some(default.to_string())),
            (Some(b), ProviderKind::Modal) => Err(self.err(b.span(), on_modal)),
            (None, ProviderKind::Modal) => Ok(None),
        }
    }

    /// A runpod provider has no modal-only fields.
    fn runpod_fields(&self, p: &RawProvider) -> Result<(), ConfigError> {
        if let Some(t) = &p.url_template {
            return Err(self.err(
                t.span(),
                "url_template is for modal providers; a runpod provider uses endpoint_template",
            ));
        }
        if let Some(s) = p.proxy_key.as_ref().or(p.proxy_secret.as_ref()) {
            return Err(self.err(
                s.span(),
                "proxy_key/proxy_secret are for modal providers; a runpod provider uses api_key",
            ));
        }
        Ok(())
    }

    /// A modal provider has no runpod-only fields, and its proxy key and
    /// secret come as a pair.
    fn modal_fields(&self, p: &RawProvider) -> Result<(), ConfigError> {
        if let Some(t) = &p.endpoint_template {
            return Err(self.err(
                t.span(),
                "endpoint_template is for runpod providers; a modal provider uses url_template",
            ));
        }
        if let Some(s) = &p.api_key {
            return Err(self.err(
                s.span(),
                "api_key is for runpod providers; a modal provider uses proxy_key and proxy_secret",
            ));
        }
        if p.proxy_key.is_some() != p.proxy_secret.is_some() {
            let s = p
                .proxy_key
                .as_ref()
                .or(p.proxy_secret.as_ref())
                .map(toml::Spanned::span);
            return Err(ConfigError::at(
                self.origin,
                self.text,
                s,
                "proxy_key and proxy_secret go together (Modal-Key and Modal-Secret headers)",
            ));
        }
        Ok(())
    }

    /// Templates use known placeholders only, and a `url_template` filled
    /// in is a URL.
    fn provider_templates(&self, p: &RawProvider, simulated: bool) -> Result<(), ConfigError> {
        for t in [&p.endpoint_template, &p.url_template]
            .into_iter()
            .flatten()
        {
            check_template(t.get_ref()).map_err(|m| self.err(t.span(), m))?;
        }
        if let Some(t) = &p.url_template {
            self.url(
                &t.get_ref().replace("{model}", "m").replace("{region}", "r"),
                t.span(),
                simulated,
            )?;
        }
        Ok(())
    }

    /// `fallback` is a declared provider.
    fn fallback(
        &self,
        raw: &Spanned<String>,
        providers: &[ProviderConfig],
    ) -> Result<String, ConfigError> {
        let fallback = raw.get_ref().clone();
        if !providers.iter().any(|p| p.id == fallback) {
            return Err(self.err(
                raw.span(),
                format!(
                    "fallback {fallback:?} is not a declared provider (declared: {})",
                    join_ids(providers.iter().map(|p| &p.id))
                ),
            ));
        }
        Ok(fallback)
    }

    /// `[[endpoints]]`: each for a declared model, region and provider, at
    /// most one per cell and provider, with the field its provider's kind
    /// takes. `templates` gives each provider's RunPod API base.
    fn endpoints(
        &self,
        raw: &[RawEndpoint],
        (models, regions): (&[Named], &[Named]),
        providers: &[ProviderConfig],
        templates: &[Templates],
        simulated: bool,
    ) -> Result<IndexMap<(CellId, String), Endpoint>, ConfigError> {
        let mut endpoints: IndexMap<(CellId, String), Endpoint> = IndexMap::new();
        for e in raw {
            let index = self.endpoint_target(e, models, regions, providers)?;
            let (model, region) = (e.model.get_ref(), e.region.get_ref());
            let provider = e.provider.get_ref();
            let key = (
                CellId::new(model.as_str(), region.as_str()),
                provider.clone(),
            );
            if endpoints.contains_key(&key) {
                return Err(self.err(
                    e.model.span(),
                    format!("duplicate endpoint for {}/{} on {provider}", model, region),
                ));
            }
            let endpoint = match providers[index].kind {
                ProviderKind::RunPod => self.runpod_endpoint(e, &templates[index])?,
                ProviderKind::Modal => self.modal_endpoint(e, simulated)?,
            };
            endpoints.insert(key, endpoint);
        }
        Ok(endpoints)
    }

    /// An endpoint's model, region and provider are declared; the index of
    /// its provider.
    fn endpoint_target(
        &self,
        e: &RawEndpoint,
        models: &[Named],
        regions: &[Named],
        providers: &[ProviderConfig],
    ) -> Result<usize, ConfigError> {
        let model = e.model.get_ref();
        let region = e.region.get_ref();
        let provider = e.provider.get_ref();
        if !models.iter().any(|m| *m.id == **model) {
            return Err(self.err(
                e.model.span(),
                format!(
                    "endpoint for undeclared model {model:?} (declared: {})",
                    join_ids(models.iter().map(|m| &m.id))
                ),
            ));
        }
        if !regions.iter().any(|r| *r.id == **region) {
            return Err(self.err(
                e.region.span(),
                format!(
                    "endpoint for undeclared region {region:?} (declared: {})",
                    join_ids(regions.iter().map(|r| &r.id))
                ),
            ));
        }
        providers
            .iter()
            .position(|p| p.id == *provider)
            .ok_or_else(|| {
                self.err(
                    e.provider.span(),
                    format!(
                        "endpoint for undeclared provider {provider:?} (declared: {})",
                        join_ids(providers.iter().map(|p| &p.id))
                    ),
                )
            })
    }

    /// A runpod endpoint: an `endpoint_id` (no `url`), on its provider's API base.
    fn runpod_endpoint(&self, e: &RawEndpoint, t: &Templates) -> Result<Endpoint, ConfigError> {
        if let Some(u) = &e.url {
            return Err(self.err(u.span(), "a runpod endpoint takes endpoint_id, not url"));
        }
        let Some(id) = &e.endpoint_id else {
            return Err(self.err(e.provider.span(), "a runpod endpoint needs endpoint_id"));
        };
        Ok(Endpoint::RunPod {
            api_base: t.api_base.clone().unwrap_or_default(),
            endpoint_id: id.get_ref().clone(),
        })
    }

    /// A modal endpoint: a `url` (no `endpoint_id`).
    fn modal_endpoint(&self, e: &RawEndpoint, simulated: bool) -> Result<Endpoint, ConfigError> {
        if let Some(i) = &e.endpoint_id {
            return Err(self.err(i.span(), "a modal endpoint takes url, not endpoint_id"));
        }
        let Some(url) = &e.url else {
            return Err(self.err(e.provider.span(), "a modal endpoint needs url"));
        };
        self.url(url.get_ref(), url.span(), simulated)?;
        Ok(Endpoint::Modal {
            url: url.get_ref().clone(),
        })
    }

    /// Every cell has an endpoint for the fallback (a template or an
    /// `[[endpoints]]` entry), or rollback could not send its traffic anywhere.
    fn fallback_everywhere(
        &self,
        raw: &Spanned<String>,
        providers: &[ProviderConfig],
        (models, regions): (&[Named], &[Named]),
        endpoints: &IndexMap<(CellId, String), Endpoint>,
    ) -> Result<(), ConfigError> {
        let fallback = raw.get_ref();
        let fallback_has_template = providers
            .iter()
            .any(|p| p.id == *fallback && p.template.is_some());
        if fallback_has_template {
            return Ok(());
        }
        for m in models {
            for r in regions {
                let cell = CellId::new(m.id.clone(), r.id.clone());
                if !endpoints.contains_key(&(cell.clone(), fallback.clone())) {
                    return Err(self.err(
                        raw.span(),
                        format!("cell {cell} has no endpoint for the fallback provider {fallback:?}: add an [[endpoints]] entry or a template, or rollback could not send its traffic anywhere"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `ladder`: the standard one unless given; each step a valid share.
    fn ladder(&self, raw: Option<&Spanned<Vec<Spanned<f64>>>>) -> Result<Ladder, ConfigError> {
        let Some(list) = raw else {
            return Ok(Ladder::standard());
        };
        let mut steps = Vec::new();
        for step in list.get_ref() {
            let pm = PerMille::from_percent_f64(*step.get_ref())
                .map_err(|e| self.err(step.span(), format!("ladder step: {e}")))?;
            steps.push(pm);
        }
        Ladder::new(steps).map_err(|e| self.err(list.span(), e.to_string()))
    }

    /// `[slo]`: the bench gates, each within its range; defaults for the rest.
    fn slo(&self, s: &RawSlo) -> Result<SloConfig, ConfigError> {
        let d = SloConfig::default();
        Ok(SloConfig {
            cold_start_ms: self.above_zero(
                &s.cold_start_ms,
                d.cold_start_ms,
                "slo.cold_start_ms",
                600_000.0,
            )?,
            cold_start_fast_percent: self.positive(
                &s.cold_start_fast_percent,
                d.cold_start_fast_percent,
                "slo.cold_start_fast_percent",
                100.0,
            )?,
            latency_p95_ms: self.above_zero(
                &s.latency_p95_ms,
                d.latency_p95_ms,
                "slo.latency_p95_ms",
                600_000.0,
            )?,
            error_rate_percent: self.positive(
                &s.error_rate_percent,
                d.error_rate_percent,
                "slo.error_rate_percent",
                100.0,
            )?,
            cost_vs_fallback: self.above_zero(
                &s.cost_vs_fallback,
                d.cost_vs_fallback,
                "slo.cost_vs_fallback",
                100.0,
            )?,
            min_samples: self.count(
                &s.min_samples,
                d.min_samples,
                "slo.min_samples",
                1,
                1_000_000,
            )?,
            failures_before_rollback: self.count(
                &s.failures_before_rollback,
                3,
                "slo.failures_before_rollback",
                1,
                100,
            )? as u32,
            overrides: self.slo_overrides(&s.cells)?,
        })
    }

    /// Each `[[slo.cells]]` names a cell of this profile.
    fn slo_cells_known(
        &self,
        cells: &[super::raw::RawSloCell],
        models: &[Named],
        regions: &[Named],
    ) -> Result<(), ConfigError> {
        for c in cells {
            let (model, region) = c.cell.get_ref().split_once('/').unwrap_or_default();
            if !models.iter().any(|m| &*m.id == model) {
                return Err(self.err(c.cell.span(), format!("unknown model {model:?}")));
            }
            if !regions.iter().any(|r| &*r.id == region) {
                return Err(self.err(c.cell.span(), format!("unknown region {region:?}")));
            }
        }
        Ok(())
    }

    /// `[[slo.cells]]`: a cell, each at most once, limits in range.
    fn slo_overrides(
        &self,
        cells: &[super::raw::RawSloCell],
    ) -> Result<Vec<(CellId, SloOverride)>, ConfigError> {
        let mut out: Vec<(CellId, SloOverride)> = Vec::new();
        for c in cells {
            let text = c.cell.get_ref();
            let id = text
                .split_once('/')
                .filter(|(m, r)| is_valid_id(m) && is_valid_id(r))
                .map(|(m, r)| CellId::new(Id::from(m), Id::from(r)))
                .ok_or_else(|| {
                    self.err(
                        c.cell.span(),
                        format!("expected a cell MODEL/REGION, got {text:?}"),
                    )
                })?;
            if out.iter().any(|(o, _)| *o == id) {
                return Err(self.err(c.cell.span(), format!("{text} has limits of its own twice")));
            }
            let limit = |v: &Option<Spanned<f64>>,
                         what: &str,
                         max: f64|
             -> Result<Option<f64>, ConfigError> {
                v.as_ref()
                    .map(|_| {
                        if what.ends_with("latency_p95_ms") {
                            self.above_zero(v, 0.0, what, max)
                        } else {
                            self.positive(v, 0.0, what, max)
                        }
                    })
                    .transpose()
            };
            out.push((
                id,
                SloOverride {
                    cold_start_fast_percent: limit(
                        &c.cold_start_fast_percent,
                        "slo.cells.cold_start_fast_percent",
                        100.0,
                    )?,
                    latency_p95_ms: limit(
                        &c.latency_p95_ms,
                        "slo.cells.latency_p95_ms",
                        600_000.0,
                    )?,
                    error_rate_percent: limit(
                        &c.error_rate_percent,
                        "slo.cells.error_rate_percent",
                        100.0,
                    )?,
                },
            ));
        }
        Ok(out)
    }

    /// `[store]`: a file store (the only kind in this build) with its path.
    fn store(&self, raw: &RawStore) -> Result<StoreConfig, ConfigError> {
        match raw.kind.get_ref().as_str() {
            "file" => {
                let Some(path) = &raw.path else {
                    return Err(self.err(
                        raw.kind.span(),
                        "a file store needs path = \"…/beacon-routes.json\"",
                    ));
                };
                let lock_timeout = self.count(
                    &raw.lock_timeout_ms,
                    5000,
                    "store.lock_timeout_ms",
                    1,
                    600_000,
                )?;
                Ok(StoreConfig::File {
                    path: self.path(path.get_ref()),
                    lock_timeout: Duration::from_millis(lock_timeout),
                })
            }
            "etcd" => self.etcd_store(raw).map(|c| StoreConfig::Etcd(Box::new(c))),
            other => Err(self.err(
                raw.kind.span(),
                format!("unknown store kind {other:?}: expected \"file\" or \"etcd\""),
            )),
        }
    }

    /// `[audit]` path, else next to the flag file.
    fn audit_path(&self, raw: Option<&RawAudit>, store: &StoreConfig) -> PathBuf {
        match raw {
            Some(a) => self.path(a.path.get_ref()),
            None => match store {
                StoreConfig::File { path, .. } => path.with_extension("audit.jsonl"),
                // The local copy of an etcd store's audit (etcd has the whole).
                StoreConfig::Etcd(_) => self.base.join("beacon-routes.audit.jsonl"),
            },
        }
    }

    /// `[simulator]`, when present: seed, request rate and time scale.
    fn simulator(
        &self,
        raw: Option<&RawSimulator>,
    ) -> Result<Option<SimulatorConfig>, ConfigError> {
        let Some(sim) = raw else {
            return Ok(None);
        };
        Ok(Some(SimulatorConfig {
            seed: self.count(&sim.seed, 42, "simulator.seed", 0, i64::MAX)?,
            requests_per_second: self.positive(
                &sim.requests_per_second,
                20.0,
                "simulator.requests_per_second",
                100_000.0,
            )?,
            time_scale: self.positive(&sim.time_scale, 1.0, "simulator.time_scale", 10_000.0)?,
        }))
    }

    /// `[[routers]]`: at most one per declared region, each metrics URL
    /// valid; returned in region order.
    fn routers(
        &self,
        raw: &[RawRouter],
        regions: &[Named],
        simulated: bool,
    ) -> Result<Vec<RouterEndpoint>, ConfigError> {
        let mut routers: Vec<RouterEndpoint> = Vec::new();
        for r in raw {
            let Some(region) = regions.iter().find(|g| *g.id == **r.region.get_ref()) else {
                return Err(self.err(
                    r.region.span(),
                    format!(
                        "router for unknown region {:?} (declared: {})",
                        r.region.get_ref(),
                        join_ids(regions.iter().map(|g| g.id.clone()))
                    ),
                ));
            };
            if routers.iter().any(|x| x.region == region.id) {
                return Err(self.err(
                    r.region.span(),
                    format!("a second router for region {:?}", r.region.get_ref()),
                ));
            }
            self.url(r.metrics_url.get_ref(), r.metrics_url.span(), simulated)?;
            routers.push(RouterEndpoint {
                region: region.id.clone(),
                metrics_url: r.metrics_url.get_ref().clone(),
            });
        }
        routers.sort_by_key(|r| regions.iter().position(|g| g.id == r.region));
        Ok(routers)
    }

    /// `[keys]`: known commands, keys the console can bind (no Ctrl or Alt
    /// chords: no Ctrl-letter writes, and Ctrl-B/Ctrl-A belong to tmux and
    /// screen), and no key bound twice.
    fn keys(
        &self,
        raw: &indexmap::IndexMap<Spanned<String>, Spanned<RawKeys>>,
    ) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (command, keys) in raw {
            if !KEY_COMMANDS.contains(&command.get_ref().as_str()) {
                return Err(self.err(
                    command.span(),
                    format!(
                        "unknown command {:?} in [keys] (commands: {})",
                        command.get_ref(),
                        KEY_COMMANDS.join(", ")
                    ),
                ));
            }
            let list = match keys.get_ref() {
                RawKeys::One(k) => vec![k.clone()],
                RawKeys::Many(ks) => ks.clone(),
            };
            if list.is_empty() {
                return Err(self.err(keys.span(), "give at least one key"));
            }
            let mut canonical = Vec::new();
            for key in &list {
                let key = canonical_key(key).map_err(|why| self.err(keys.span(), why))?;
                if let Some((other, _)) = out.iter().find(|(_, ks)| ks.contains(&key)) {
                    return Err(self.err(
                        keys.span(),
                        format!("key {key:?} is already bound to {other}"),
                    ));
                }
                canonical.push(key);
            }
            out.push((command.get_ref().clone(), canonical));
        }
        Ok(out)
    }

    fn telemetry(&self, raw: &RawTelemetry) -> Result<TelemetryConfig, ConfigError> {
        let d = TelemetryConfig::default();
        let ms = |v: &Option<Spanned<i64>>, default: Duration, what: &str| {
            self.count(v, default.as_millis() as u64, what, 100, 3_600_000)
                .map(Duration::from_millis)
        };
        Ok(TelemetryConfig {
            probe_interval: ms(
                &raw.probe_interval_ms,
                d.probe_interval,
                "telemetry.probe_interval_ms",
            )?,
            probe_jitter: self.positive(
                &raw.probe_jitter_percent,
                d.probe_jitter * 100.0,
                "telemetry.probe_jitter_percent",
                50.0,
            )? / 100.0,
            probe_concurrency: self.count(
                &raw.probe_concurrency,
                d.probe_concurrency as u64,
                "telemetry.probe_concurrency",
                1,
                1024,
            )? as usize,
            health_interval: ms(
                &raw.health_interval_ms,
                d.health_interval,
                "telemetry.health_interval_ms",
            )?,
            scrape_interval: ms(
                &raw.scrape_interval_ms,
                d.scrape_interval,
                "telemetry.scrape_interval_ms",
            )?,
            source: self.metrics_source(raw)?,
            max_probes_per_second: self.positive(
                &raw.max_probes_per_second,
                d.max_probes_per_second,
                "telemetry.max_probes_per_second",
                10_000.0,
            )?,
            probe_with_traffic: raw.probe_with_traffic.unwrap_or(d.probe_with_traffic),
        })
    }

    /// `[telemetry] source`: the routers themselves, or Prometheus.
    fn metrics_source(&self, raw: &RawTelemetry) -> Result<MetricsSource, ConfigError> {
        let Some(source) = &raw.source else {
            return Ok(MetricsSource::Routers);
        };
        match source.get_ref().as_str() {
            "routers" => Ok(MetricsSource::Routers),
            "prometheus" => {
                let Some(url) = &raw.prometheus_url else {
                    return Err(self.err(
                        source.span(),
                        "a prometheus source needs prometheus_url = \"http://…:9090\"",
                    ));
                };
                check_url(url.get_ref()).map_err(|m| self.err(url.span(), m))?;
                Ok(MetricsSource::Prometheus {
                    url: url.get_ref().trim_end_matches('/').to_string(),
                    token: self.secret(&raw.prometheus_token)?,
                })
            }
            other => Err(self.err(
                source.span(),
                format!(
                    "unknown telemetry source {other:?}: expected \"routers\" or \"prometheus\""
                ),
            )),
        }
    }
}

/// Commands `[keys]` may bind (the console's keymap names them the same).
pub const KEY_COMMANDS: [&str; 21] = [
    "up",
    "down",
    "left",
    "right",
    "select",
    "select_all",
    "clear",
    "step_up",
    "step_down",
    "set_exact",
    "rollback",
    "undo",
    "warmup",
    "detail",
    "history",
    "command_line",
    "filter",
    "faults",
    "plan",
    "help",
    "quit",
];

/// Named keys `[keys]` accepts (any case), besides one printable character.
pub const KEY_NAMES: [&str; 23] = [
    "Up",
    "Down",
    "Left",
    "Right",
    "Enter",
    "Esc",
    "Space",
    "Tab",
    "Backspace",
    "Home",
    "End",
    "PageUp",
    "PageDown",
    "F1",
    "F2",
    "F3",
    "F4",
    "F5",
    "F6",
    "F7",
    "F8",
    "F9",
    "F10",
];

/// A key as the keymap reads it: a name of [`KEY_NAMES`] or one character.
fn canonical_key(key: &str) -> Result<String, String> {
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("ctrl")
        || lower.starts_with("c-")
        || lower.starts_with('^') && key.len() > 1
        || lower.starts_with("alt")
        || lower.starts_with("m-")
    {
        return Err(format!(
            "{key:?}: Ctrl and Alt chords cannot be bound (no Ctrl key writes, and Ctrl-B/Ctrl-A are tmux and screen prefixes)"
        ));
    }
    if let Some(name) = KEY_NAMES.iter().find(|n| n.eq_ignore_ascii_case(key)) {
        return Ok(name.to_string());
    }
    let mut chars = key.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if !c.is_control() && c != ' ' => Ok(c.to_string()),
        _ => Err(format!(
            "{key:?} is not a key: expected one character or one of {}",
            KEY_NAMES.join(", ")
        )),
    }
}

fn join_ids<S: AsRef<str>>(ids: impl Iterator<Item = S>) -> String {
    ids.map(|s| s.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Templates may use `{model}` and `{region}` (and `{sim}` in simulator profiles) only.
fn check_template(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("unclosed '{{' in template {t:?}"));
        };
        let name = &after[..close];
        if !matches!(name, "model" | "region" | "sim") {
            return Err(format!(
                "unknown placeholder {{{name}}} in template {t:?}: expected {{model}} or {{region}}"
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// HTTPS only, except to loopback.
pub fn check_url(url: &str) -> Result<(), String> {
    if let Some(rest) = url.strip_prefix("https://") {
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("URL {url:?} has no host"));
        }
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split('/').next().unwrap_or("");
        let host = if let Some(v6) = authority.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            authority.split(':').next().unwrap_or("")
        };
        let loopback = host == "localhost"
            || host == "::1"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(());
        }
        return Err(format!(
            "URL {url:?} must use https:// (plain http is allowed only to loopback)"
        ));
    }
    Err(format!("URL {url:?} must start with https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://x.modal.run").is_ok());
        assert!(check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(check_url("http://[::1]:80/").is_ok());
        assert!(check_url("http://localhost/").is_ok());
        assert!(check_url("http://example.com/").is_err());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https://").is_err());
    }

    #[test]
    fn templates() {
        assert!(check_template("beacon-{model}-{region}").is_ok());
        assert!(check_template("{sim}/x").is_ok());
        assert!(check_template("{modle}").is_err());
        assert!(check_template("{model").is_err());
    }
}
