//! Telemetry: what the routers report, read back. (Probes and windows of
//! samples come next.)

pub mod probes;
pub mod prometheus;
pub mod scrape;
pub(crate) mod window;

pub use scrape::{CellTraffic, RouterSnapshot, parse_router_metrics};
pub use window::Figures;
