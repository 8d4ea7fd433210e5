//! Modal web endpoints: `POST` JSON, `Modal-Key`/`Modal-Secret` when proxy auth
//! is on. By this project's convention the function answers
//! `{"output": …, "execution_ms": N}`; cold start ≈ latency − execution − the
//! network baseline, an estimate.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use super::{HttpClient, ProviderError};
use crate::config::Secret;

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Reply {
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    execution_ms: Option<u64>,
}

/// One inference through a Modal web endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Inference {
    pub output: Option<Value>,
    pub execution_ms: Option<u64>,
    pub latency: Duration,
}

impl Inference {
    /// Cold start ≈ latency − execution − baseline (never negative).
    pub fn cold_start_estimate(&self, baseline: Duration) -> Option<Duration> {
        let execution = Duration::from_millis(self.execution_ms?);
        Some(
            self.latency
                .saturating_sub(execution)
                .saturating_sub(baseline),
        )
    }
}

#[derive(Debug, Clone)]
pub struct ModalClient {
    http: HttpClient,
    /// `Modal-Key` and `Modal-Secret`, when the endpoint has proxy auth on.
    proxy_auth: Option<(Secret, Secret)>,
}

impl ModalClient {
    pub fn new(http: HttpClient, proxy_auth: Option<(Secret, Secret)>) -> Self {
        Self { http, proxy_auth }
    }

    pub async fn infer(&self, url: &str, input: &Value) -> Result<Inference, ProviderError> {
        let started = Instant::now();
        let reply: Reply = self
            .http
            .json(url, |c, u| {
                let request = c.post(u).json(input);
                match &self.proxy_auth {
                    Some((key, secret)) => request
                        .header("Modal-Key", key.expose())
                        .header("Modal-Secret", secret.expose()),
                    None => request,
                }
            })
            .await?;
        Ok(Inference {
            output: reply.output,
            execution_ms: reply.execution_ms,
            latency: started.elapsed(),
        })
    }
}
