//! beacon-console: the on-call console for moving LLM inference from Modal to
//! RunPod Serverless by routing flags. `domain` is pure; `ops` has the use
//! cases without any screen; `cli` and `tui` are faces over `ops`.

pub mod cli;
pub mod config;
pub mod domain;
pub mod failure;
pub mod flags;
pub mod fleet;
pub mod ops;
pub mod providers;
pub mod sim;
pub mod telemetry;
pub mod tui;
