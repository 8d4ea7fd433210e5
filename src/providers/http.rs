use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;

use super::conn::{Answer, Connections, Route};
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
/// Shared: a target's URL is cloned into every task that calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUrl(Arc<ParsedUrl>);

#[derive(Debug, PartialEq, Eq)]
struct ParsedUrl {
    url: reqwest::Url,
    route: Route,
}

impl ProviderUrl {
    pub fn parse(url: &str) -> Result<Self, ProviderError> {
        let invalid = |why: String| {
            ProviderError::new(
                ErrorClass::Refused,
                format!("URL {url:?} is not valid: {why}"),
            )
        };
        check_url(url).map_err(|m| ProviderError::new(ErrorClass::Refused, m))?;
        let parsed = reqwest::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let route = Route::new(&parsed).ok_or_else(|| invalid("no host to send it to".into()))?;
        Ok(Self(Arc::new(ParsedUrl { url: parsed, route })))
    }

    pub fn as_str(&self) -> &str {
        self.0.url.as_str()
    }
}

/// The HTTP client of every provider call: kept-alive connections (rustls),
/// a per-request timeout, retries.
#[derive(Clone)]
pub struct HttpClient {
    engine: Engine,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let engine = match self.engine {
            Engine::Direct(_) => "direct",
            Engine::Proxied(_) => "proxied",
        };
        f.debug_struct("HttpClient")
            .field("engine", &engine)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Direct connections driven by each call (the cheap path probes need), or,
/// when the environment names an HTTP proxy, reqwest, which honours
/// `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` as curl does.
#[derive(Clone)]
enum Engine {
    Direct(Arc<Connections>),
    Proxied(reqwest::Client),
}

const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn proxy_in_environment() -> bool {
    PROXY_VARIABLES
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|value| !value.is_empty()))
}

static CRYPTO: Once = Once::new();

impl HttpClient {
    pub fn new(timeout: Duration, retry: RetryPolicy) -> Result<Self, ProviderError> {
        CRYPTO.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let connect_timeout = timeout.min(Duration::from_secs(5));
        let engine = if proxy_in_environment() {
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(connect_timeout)
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
            Engine::Proxied(client)
        } else {
            Engine::Direct(Arc::new(Connections::new(connect_timeout, 64)))
        };
        Ok(Self {
            engine,
            timeout,
            retry,
        })
    }

    /// Whether calls go through an HTTP proxy named in the environment.
    pub fn proxied(&self) -> bool {
        matches!(self.engine, Engine::Proxied(_))
    }

    /// One request, its answer read whole, within the timeout. Redirects are
    /// not followed (a 3xx is an answer like any other).
    async fn exchange(
        &self,
        method: Method,
        url: &ProviderUrl,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Answer, ProviderError> {
        match &self.engine {
            Engine::Direct(connections) => {
                let call = connections.send(&url.0.route, method, headers, body);
                tokio::time::timeout(self.timeout, call)
                    .await
                    .unwrap_or_else(|_| {
                        Err(ProviderError::new(
                            ErrorClass::Timeout,
                            format!(
                                "no answer from {} within {} ms",
                                url.0.route.origin(),
                                self.timeout.as_millis()
                            ),
                        ))
                    })
            }
            Engine::Proxied(client) => {
                let response = client
                    .request(method, url.0.url.clone())
                    .headers(headers.clone())
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| ProviderError::from_transport(&e))?;
                let status = response.status().as_u16();
                let retry_after = super::conn::retry_after(response.headers());
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| ProviderError::from_transport(&e))?;
                Ok(Answer {
                    status,
                    retry_after,
                    body,
                })
            }
        }
    }

    /// Sends a request (JSON body, or none), retrying 429 and 5xx with
    /// backoff, and decodes a JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &ProviderUrl,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<T, ProviderError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .once::<T>(method.clone(), url, headers, body.clone())
                .await;
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
        let answer = self
            .exchange(Method::GET, url, &HeaderMap::new(), Bytes::new())
            .await?;
        let body = String::from_utf8_lossy(&answer.body).into_owned();
        if (200..300).contains(&answer.status) {
            Ok(body)
        } else {
            Err(ProviderError::from_status(answer.status, &body))
        }
    }

    async fn once<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &ProviderUrl,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<T, (ProviderError, Option<Duration>)> {
        let Answer {
            status,
            retry_after,
            body,
        } = self
            .exchange(method, url, headers, body)
            .await
            .map_err(|e| (e, None))?;
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
) -> Result<http::HeaderValue, ProviderError> {
    let mut value = http::HeaderValue::from_str(secret.expose()).map_err(|_| {
        ProviderError::new(
            ErrorClass::BadInput,
            format!("the secret for {header} contains characters a header cannot carry"),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}
