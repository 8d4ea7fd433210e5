//! Data-plane clients: RunPod Serverless and Modal web endpoints, as they
//! speak (DESIGN §4). One HTTP client with kept-alive connections, per-request timeouts, bounded
//! retries with jittered backoff for 429 and 5xx, and an error taxonomy the
//! screens and reports show. Secrets only ever go into request headers.

mod conn;
mod error;
mod http;
pub mod modal;
pub mod runpod;

pub use error::{ErrorClass, ProviderError};
pub(crate) use http::sensitive_header;
pub use http::{HttpClient, PROXY_VARIABLES, ProviderUrl, RetryPolicy};
