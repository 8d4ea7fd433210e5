use std::sync::Once;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{ErrorClass, ProviderError};
use crate::config::check_url;

/// How hard to try: attempts in all, and the backoff between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in [0, min(max, base * 2^n)], or Retry-After when given.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max);
        }
        let ceiling = self.base.saturating_mul(1 << attempt.min(16)).min(self.max);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// A URL a provider call may go to: https, or plain http to loopback only.
/// Parsed and checked once, so a load run does not re-parse it per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUrl(reqwest::Url);

impl ProviderUrl {
    pub fn parse(url: &str) -> Result<Self, ProviderError> {
        check_url(url).map_err(|m| ProviderError::new(ErrorClass::Refused, m))?;
        reqwest::Url::parse(url).map(Self).map_err(|e| {
            ProviderError::new(
                ErrorClass::Refused,
                format!("URL {url:?} is not valid: {e}"),
            )
        })
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// One pooled HTTP client (rustls) with a per-request timeout.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

static CRYPTO: Once = Once::new();

impl HttpClient {
    pub fn new(timeout: Duration, retry: RetryPolicy) -> Result<Self, ProviderError> {
        CRYPTO.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let inner = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(64)
            // Provider APIs answer where they are asked; a redirect is an
            // error to report, not a place to send credentials.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ProviderError::new(
                    ErrorClass::ConnectionRefused,
                    format!("cannot build the HTTP client: {e}"),
                )
            })?;
        Ok(Self {
            inner,
            timeout,
            retry,
        })
    }

    /// Sends a JSON request (built afresh for each attempt), retrying 429 and
    /// 5xx with backoff, and decodes a JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        url: &ProviderUrl,
        build: impl Fn(&reqwest::Client, reqwest::Url) -> reqwest::RequestBuilder,
    ) -> Result<T, ProviderError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.once::<T>(build(&self.inner, url.0.clone())).await;
            match result {
                Ok(value) => return Ok(value),
                Err((mut e, retry_after)) => {
                    e.attempts = attempt;
                    if !e.class.is_transient() || attempt >= self.retry.attempts {
                        return Err(e);
                    }
                    tokio::time::sleep(self.retry.delay(attempt - 1, retry_after)).await;
                }
            }
        }
    }

    /// One `GET` of a text resource (a metrics page): no retries, the
    /// caller polls again anyway.
    pub async fn text(&self, url: &ProviderUrl) -> Result<String, ProviderError> {
        let response = self
            .inner
            .get(url.0.clone())
            .send()
            .await
            .map_err(|e| ProviderError::from_transport(&e))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| ProviderError::from_transport(&e))?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(ProviderError::from_status(status, &body))
        }
    }

    async fn once<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, (ProviderError, Option<Duration>)> {
        let response = request
            .send()
            .await
            .map_err(|e| (ProviderError::from_transport(&e), None))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(Duration::from_secs_f64);
        let body = response
            .bytes()
            .await
            .map_err(|e| (ProviderError::from_transport(&e), None))?;
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body);
            return Err((ProviderError::from_status(status, &text), retry_after));
        }
        serde_json::from_slice(&body).map_err(|e| {
            let mut err = ProviderError::new(
                ErrorClass::Malformed,
                format!("HTTP {status} with a body that is not the expected JSON: {e}"),
            );
            err.status = Some(status);
            (err, None)
        })
    }
}

/// A secret as a header value marked sensitive (hyper then keeps it out of
/// its debug output and HPACK tables). The error names the header, never the
/// value.
pub(crate) fn sensitive_header(
    secret: &crate::config::Secret,
    header: &str,
) -> Result<reqwest::header::HeaderValue, ProviderError> {
    let mut value = reqwest::header::HeaderValue::from_str(secret.expose()).map_err(|_| {
        ProviderError::new(
            ErrorClass::BadInput,
            format!("the secret for {header} contains characters a header cannot carry"),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}
