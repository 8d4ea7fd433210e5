use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;

use super::conn::{Answer, Connections, MAX_BODY, Route, retry_after, too_large};
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
    /// One attempt: every failure counts (what probes need, so that a
    /// retried 500 is still an error in the figures).
    pub const ONCE: RetryPolicy = RetryPolicy {
        attempts: 1,
        base: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };

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
    /// To 127.0.0.0/8, `::1` or `localhost`: never through a proxy.
    loopback: bool,
}

/// Whether a URL's host is this machine: 127.0.0.0/8, `::1` (also as an
/// IPv4-mapped address) or `localhost`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => {
            let name = bare.strip_suffix('.').unwrap_or(bare);
            name.eq_ignore_ascii_case("localhost")
        }
    }
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
        let loopback = is_loopback(&parsed);
        // The text check above reads the host before any `user@`; the parsed
        // URL is what a call goes to: plain http only to loopback, again.
        if parsed.scheme() != "https" && !loopback {
            return Err(ProviderError::new(
                ErrorClass::Refused,
                format!("URL {url:?} must use https:// (plain http is allowed only to loopback)"),
            ));
        }
        Ok(Self(Arc::new(ParsedUrl {
            url: parsed,
            route,
            loopback,
        })))
    }

    pub fn as_str(&self) -> &str {
        self.0.url.as_str()
    }
}

/// The HTTP client of every provider call: kept-alive connections (rustls),
/// a per-request timeout, a cap on answer size, retries.
#[derive(Clone)]
pub struct HttpClient {
    /// Direct connections driven by each call (the cheap path probes need).
    direct: Arc<Connections>,
    /// When the environment names an HTTP proxy: reqwest, which honours
    /// `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` as curl does, for every
    /// host but loopback (a proxy is another machine: secrets to a plain-http
    /// loopback URL must not travel to it in clear).
    proxy: Option<reqwest::Client>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let engine = if self.proxy.is_some() {
            "proxied"
        } else {
            "direct"
        };
        f.debug_struct("HttpClient")
            .field("engine", &engine)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The environment variables that name an HTTP proxy (as curl reads them).
pub const PROXY_VARIABLES: [&str; 6] = [
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
        let proxy = if proxy_in_environment() {
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
            Some(client)
        } else {
            None
        };
        Ok(Self {
            direct: Arc::new(Connections::new(connect_timeout, 64)),
            proxy,
            timeout,
            retry,
        })
    }

    /// Whether calls (to any host but loopback) go through an HTTP proxy
    /// named in the environment.
    pub fn proxied(&self) -> bool {
        self.proxy.is_some()
    }

    /// One request, its answer read whole (at most [`MAX_BODY`] bytes), within
    /// the timeout, on either path. Redirects are not followed (a 3xx is an
    /// answer like any other).
    async fn exchange(
        &self,
        method: Method,
        url: &ProviderUrl,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Answer, ProviderError> {
        let call = async {
            match &self.proxy {
                Some(client) if !url.0.loopback => {
                    through_proxy(client, method, url, headers, body).await
                }
                _ => self.direct.send(&url.0.route, method, headers, body).await,
            }
        };
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

    /// POSTs `body` (a webhook): the status when it is 2xx; the answer's
    /// body is not read as JSON (Slack answers `ok`).
    pub async fn post(
        &self,
        url: &ProviderUrl,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<u16, ProviderError> {
        let answer = self.exchange(Method::POST, url, headers, body).await?;
        if (200..300).contains(&answer.status) {
            return Ok(answer.status);
        }
        let text = redact(&String::from_utf8_lossy(&answer.body), headers);
        Err(ProviderError::from_status(answer.status, &text))
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
            let text = redact(&String::from_utf8_lossy(&body), headers);
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

/// A request through reqwest (and the proxy it was given), its answer read
/// chunk by chunk and refused past [`MAX_BODY`], as on the direct path.
async fn through_proxy(
    client: &reqwest::Client,
    method: Method,
    url: &ProviderUrl,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Answer, ProviderError> {
    let origin = url.0.route.origin();
    let mut response = client
        .request(method, url.0.url.clone())
        .headers(headers.clone())
        .body(body)
        .send()
        .await
        .map_err(|e| ProviderError::from_transport(&e))?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let announced = response.content_length().unwrap_or(0);
    if announced > MAX_BODY as u64 {
        return Err(too_large(origin));
    }
    let mut read = BytesMut::with_capacity(announced as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ProviderError::from_transport(&e))?
    {
        if read.len() + chunk.len() > MAX_BODY {
            return Err(too_large(origin));
        }
        read.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        retry_after,
        body: read.freeze(),
    })
}

/// `text` with the value of every sensitive header of the request (and the
/// key of an `Authorization: <scheme> <key>`) blotted out: a server that
/// echoes the request in an error body must not put a secret into an error
/// message.
fn redact(text: &str, headers: &HeaderMap) -> String {
    let mut text = text.to_string();
    for value in headers.values().filter(|v| v.is_sensitive()) {
        let Ok(value) = value.to_str() else { continue };
        let key = value.rsplit(' ').next().unwrap_or(value);
        for secret in [value, key] {
            if secret.len() >= 4 && text.contains(secret) {
                text = text.replace(secret, "<redacted>");
            }
        }
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_told_apart() {
        for url in [
            "http://127.0.0.1:8080/x",
            "http://127.9.9.9/x",
            "http://localhost:1/x",
            "https://LOCALHOST./x",
            "http://[::1]:8080/x",
            "https://[::ffff:127.0.0.1]/x",
        ] {
            let parsed = ProviderUrl::parse(url).unwrap();
            assert!(parsed.0.loopback, "{url}");
        }
        for url in [
            "https://api.runpod.ai/v2",
            "https://localhost.evil.example/x",
            "https://128.0.0.1/x",
            "https://[::2]/x",
        ] {
            let parsed = ProviderUrl::parse(url).unwrap();
            assert!(!parsed.0.loopback, "{url}");
        }
    }

    #[test]
    fn plain_http_is_refused_unless_the_parsed_host_is_loopback() {
        // The text before `@` is user info: the host is evil.example.
        let e = ProviderUrl::parse("http://127.0.0.1:80@evil.example/v2").unwrap_err();
        assert_eq!(e.class, ErrorClass::Refused, "{e}");
    }

    #[test]
    fn sensitive_header_values_are_redacted_from_echoed_bodies() {
        let mut headers = HeaderMap::new();
        let mut v = http::HeaderValue::from_static("Bearer sk-12345678");
        v.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, v);
        headers.insert("x-plain", http::HeaderValue::from_static("visible"));
        let text = redact(
            "authorization: Bearer sk-12345678; key sk-12345678; x-plain: visible",
            &headers,
        );
        assert!(!text.contains("sk-12345678"), "{text}");
        assert!(text.contains("visible"), "{text}");
    }

    #[test]
    fn retry_after_is_capped_by_the_policy() {
        let policy = RetryPolicy::default();
        let huge = Some(Duration::from_secs(999_999_999));
        assert_eq!(policy.delay(0, huge), policy.max);
    }
}
