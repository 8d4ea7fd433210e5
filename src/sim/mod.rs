//! The embedded simulator: fake RunPod Serverless and Modal endpoints on
//! loopback that speak the same wire formats (DESIGN §4) — auth, status codes,
//! JSON — with worker pools that cold-start as the research doc measured, a
//! seeded random source, a time scale, and faults on demand (`POST /sim/faults`).

pub mod announce;
mod demo;
mod faults;
mod router;
mod server;
mod workers;

pub use demo::{DemoKeys, RouterSettings, start_routers};
pub use faults::{Fault, MAX_LATENCY_MULTIPLIER, Scope};
pub use router::{DURATION_BUCKETS, RouterConfig, SimRouter};
pub use server::{SimConfig, Simulator};
pub use workers::{ProviderModel, Start};
