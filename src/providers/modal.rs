//! Modal web endpoints: `POST` JSON, `Modal-Key`/`Modal-Secret` when proxy auth
//! is on. By this project's convention the function answers
//! `{"output": …, "execution_ms": N}`; cold start ≈ latency − execution − the
//! network baseline, an estimate.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
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
    /// `Modal-Key` and `Modal-Secret` as header values marked sensitive, when
    /// the endpoint has proxy auth on (built once: they are sent on every call).
    proxy_auth: Option<(HeaderValue, HeaderValue)>,
}

impl std::fmt::Debug for ModalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModalClient")
            .field(
                "proxy_auth",
                &self.proxy_auth.as_ref().map(|_| "<redacted>"),
            )
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
        let proxy_auth = match proxy_auth {
            Some((key, secret)) => Some((
                sensitive_header(&key, "Modal-Key")?,
                sensitive_header(&secret, "Modal-Secret")?,
            )),
            None => None,
        };
        Ok(Self { http, proxy_auth })
    }

    pub async fn infer(&self, url: &str, input: &Value) -> Result<Inference, ProviderError> {
        self.infer_at(&ProviderUrl::parse(url)?, input).await
    }

    /// [`Self::infer`] to a URL parsed beforehand (the hot path of a load run).
    pub async fn infer_at(
        &self,
        url: &ProviderUrl,
        input: &Value,
    ) -> Result<Inference, ProviderError> {
        let started = Instant::now();
        let body = Bytes::from(serde_json::to_vec(input).unwrap_or_default());
        let reply: Reply = self
            .http
            .json(url, |c, u| {
                let request = c
                    .post(u)
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(body.clone());
                match &self.proxy_auth {
                    Some((key, secret)) => request
                        .header("Modal-Key", key.clone())
                        .header("Modal-Secret", secret.clone()),
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
