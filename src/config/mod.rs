//! Profile loading and validation. Every error names file:line:col.

mod error;
mod guard;
mod plan;
mod profile;
mod raw;
mod secret;
mod store;

pub use error::{ConfigError, read_text};
pub use guard::{GuardConfig, parse_mode as parse_guard_mode};
pub use plan::{load_plan, parse_plan};
pub use profile::{
    Endpoint, EndpointTemplate, Environment, MetricsSource, Profile, ProfileSource, ProviderConfig,
    ProviderKind, SimulatorConfig, SloConfig, StoreConfig,
};
pub use profile::{KEY_COMMANDS, KEY_NAMES, check_url};
pub use secret::{Secret, SecretSource};
pub use store::{EtcdConfig, EtcdTls};

/// The demo profile, built into the binary so that a fresh machine needs no files.
pub const DEMO_PROFILE: &str = include_str!("../../profiles/demo.toml");
