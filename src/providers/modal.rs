//! Modal web endpoints: `POST` JSON, `Modal-Key`/`Modal-Secret` when proxy auth
//! is on. By this project's convention the function answers
//! `{"output": …, "execution_ms": N}`; cold start ≈ latency − execution − the
//! network baseline, an estimate.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method};
use serde::Deserialize;
use serde_json::Value;

use super::{HttpClient, ProviderError, ProviderUrl, sensitive_header};
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

#[derive(Clone)]
pub struct ModalClient {
    http: HttpClient,
    /// The JSON content type, and `Modal-Key` and `Modal-Secret` marked
    /// sensitive when the endpoint has proxy auth on (built once: they are
    /// sent on every call).
    headers: HeaderMap,
    proxy_auth: bool,
}

impl std::fmt::Debug for ModalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModalClient")
            .field("proxy_auth", &self.proxy_auth.then_some("<redacted>"))
            .finish_non_exhaustive()
    }
}

impl ModalClient {
    /// A key or secret that is not a valid header value is refused here, with
    /// a message that does not show it.
    pub fn new(
        http: HttpClient,
        proxy_auth: Option<(Secret, Secret)>,
    ) -> Result<Self, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some((key, secret)) = &proxy_auth {
            headers.insert("modal-key", sensitive_header(key, "Modal-Key")?);
            headers.insert("modal-secret", sensitive_header(secret, "Modal-Secret")?);
        }
        Ok(Self {
            http,
            headers,
            proxy_auth: proxy_auth.is_some(),
        })
    }

    pub async fn infer(&self, url: &str, input: &Value) -> Result<Inference, ProviderError> {
        let body = Bytes::from(serde_json::to_vec(input).unwrap_or_default());
        self.infer_at(&ProviderUrl::parse(url)?, body).await
    }

    /// [`Self::infer`] to a URL parsed beforehand with the input serialized
    /// beforehand (the hot path of probes and load runs).
    pub async fn infer_at(
        &self,
        url: &ProviderUrl,
        body: Bytes,
    ) -> Result<Inference, ProviderError> {
        let started = Instant::now();
        let reply: Reply = self
            .http
            .json(Method::POST, url, &self.headers, body)
            .await?;
        Ok(Inference {
            output: reply.output,
            execution_ms: reply.execution_ms,
            latency: started.elapsed(),
        })
    }
}
