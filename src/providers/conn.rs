//! Kept-alive HTTP/1.1 connections on hyper's connection API. Each call
//! drives its own connection in the calling task: no hand-off to a
//! connection task and back, no pool lock held across an await. Probes make
//! thousands of small calls a second, and through reqwest's pooled client
//! each cost about twice the CPU (see the README's probe-engine figures).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tower_service::Service;

use super::{ErrorClass, ProviderError};

type Io = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
type Driver = Pin<Box<http1::Connection<Io, Full<Bytes>>>>;

/// A connection a server may keep open this long unused; older ones are
/// dropped rather than risked.
const IDLE_FOR: Duration = Duration::from_secs(30);
/// Answers larger than this are refused (provider answers are small JSON).
pub(crate) const MAX_BODY: usize = 8 << 20;

/// The error of an answer past [`MAX_BODY`], on either path.
pub(crate) fn too_large(origin: &str) -> ProviderError {
    ProviderError::new(
        ErrorClass::Malformed,
        format!(
            "reading the answer from {origin}: larger than {} MiB, refused",
            MAX_BODY >> 20
        ),
    )
}

/// Where a request goes, split once into what a call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// `scheme://host:port`: the pool key.
    origin: String,
    /// The whole URL, for the connector.
    uri: Uri,
    /// Path and query: the request line.
    target: Uri,
    host: HeaderValue,
}

impl Route {
    pub(crate) fn new(url: &reqwest::Url) -> Option<Self> {
        let host = url.host_str()?;
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let port = url.port_or_known_default()?;
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        Some(Self {
            origin: format!("{}://{}:{port}", url.scheme(), url.host_str()?),
            uri: url.as_str().parse().ok()?,
            target: target.parse().ok()?,
            host: HeaderValue::from_str(&host).ok()?,
        })
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by providers).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        // `try_`: a huge value (`1e30`) is no reason to panic; the retry
        // policy caps what it waits anyway.
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// An answer, read whole.
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    /// `None` once the connection has ended: dropping it closes the channel
    /// the sender waits on, so a call waiting on it fails rather than hangs.
    driver: Option<Driver>,
    idle_since: Instant,
}

pub(crate) struct Connections {
    /// Built on the first connection: setting up TLS reads the system's
    /// root certificates (≈ 10 ms), which the demo on loopback never needs
    /// and the console's first frame should not wait for.
    connector: OnceLock<Result<HttpsConnector<HttpConnector>, String>>,
    connect_timeout: Duration,
    idle: Mutex<HashMap<String, Vec<Conn>>>,
    max_idle: usize,
}

impl Connections {
    pub(crate) fn new(connect_timeout: Duration, max_idle: usize) -> Self {
        Self {
            connector: OnceLock::new(),
            connect_timeout,
            idle: Mutex::new(HashMap::new()),
            max_idle,
        }
    }

    fn connector(&self) -> Result<HttpsConnector<HttpConnector>, String> {
        self.connector
            .get_or_init(|| {
                use rustls_platform_verifier::ConfigVerifierExt;
                let tls = rustls::ClientConfig::with_platform_verifier()
                    .map_err(|e| format!("cannot set up TLS: {e}"))?;
                let mut tcp = HttpConnector::new();
                // The scheme is checked by `ProviderUrl` (https, or http to loopback).
                tcp.enforce_http(false);
                tcp.set_nodelay(true);
                tcp.set_connect_timeout(Some(self.connect_timeout));
                Ok(hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls)
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(tcp))
            })
            .clone()
    }

    /// One request and its whole answer. A kept-alive connection the server
    /// closed meanwhile fails before the request is written: the request then
    /// goes once more on a new connection.
    pub(crate) async fn send(
        &self,
        route: &Route,
        method: Method,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Answer, ProviderError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = route.target.clone();
        let h = request.headers_mut();
        h.reserve(headers.len() + 1);
        h.insert(HOST, route.host.clone());
        h.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone())));

        loop {
            let (mut conn, reused) = match self.checkout(&route.origin) {
                Some(conn) => (conn, true),
                None => (self.connect(route).await?, false),
            };
            let ready = drive(&mut conn.driver, conn.sender.ready()).await;
            if ready.is_err() {
                if reused {
                    continue;
                }
                return Err(broken(&route.origin));
            }
            let sent = conn.sender.try_send_request(request);
            let response = match drive(&mut conn.driver, sent).await {
                Ok(response) => response,
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => {
                        request = unsent;
                        continue;
                    }
                    _ => return Err(from_hyper(&route.origin, e.error())),
                },
            };
            let status = response.status().as_u16();
            let retry_after = retry_after(response.headers());
            let body = Limited::new(response.into_body(), MAX_BODY).collect();
            let body = match drive(&mut conn.driver, body).await {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return Err(too_large(&route.origin));
                }
                Err(e) => {
                    return Err(ProviderError::new(
                        ErrorClass::ConnectionRefused,
                        format!("reading the answer from {}: {e}", route.origin),
                    ));
                }
            };
            self.checkin(&route.origin, conn);
            return Ok(Answer {
                status,
                retry_after,
                body,
            });
        }
    }

    fn checkout(&self, origin: &str) -> Option<Conn> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let conns = idle.get_mut(origin)?;
        while let Some(conn) = conns.pop() {
            if conn.idle_since.elapsed() < IDLE_FOR && !conn.sender.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, origin: &str, mut conn: Conn) {
        if conn.driver.is_none() || conn.sender.is_closed() {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let conns = idle.entry(origin.to_string()).or_default();
        if conns.len() < self.max_idle {
            conns.push(conn);
        }
    }

    async fn connect(&self, route: &Route) -> Result<Conn, ProviderError> {
        let mut connector = self
            .connector()
            .map_err(|e| ProviderError::new(ErrorClass::ConnectionRefused, e))?;
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| connect_error(&route.origin, e.as_ref()))?;
        let io = connector
            .call(route.uri.clone())
            .await
            .map_err(|e| connect_error(&route.origin, e.as_ref()))?;
        let (sender, driver) = http1::Builder::new()
            // One write of head and body (they are small) rather than a writev.
            .writev(false)
            .handshake(io)
            .await
            .map_err(|e| from_hyper(&route.origin, &e))?;
        Ok(Conn {
            sender,
            driver: Some(Box::pin(driver)),
            idle_since: Instant::now(),
        })
    }
}

/// Polls `work` while driving the connection it needs; once the connection
/// has ended, `work` resolves with the error hyper gives it.
async fn drive<F: Future>(driver: &mut Option<Driver>, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if driver
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready())
        {
            *driver = None;
            // The dispatcher is gone: `work` now fails rather than waits.
            return work.as_mut().poll(cx);
        }
        Poll::Pending
    })
    .await
}

fn broken(origin: &str) -> ProviderError {
    ProviderError::new(
        ErrorClass::ConnectionRefused,
        format!("{origin} closed the connection at once"),
    )
}

/// hyper's errors name no header and no URL path: safe to show.
fn from_hyper(origin: &str, e: &hyper::Error) -> ProviderError {
    let class = if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        ErrorClass::Malformed
    } else if e.is_timeout() {
        ErrorClass::Timeout
    } else {
        ErrorClass::ConnectionRefused
    };
    ProviderError::new(class, format!("{origin}: {e}"))
}

fn connect_error(origin: &str, e: &(dyn std::error::Error + 'static)) -> ProviderError {
    // The connector nests its causes (ConnectError → io::Error); show them all.
    let mut message = format!("cannot connect to {origin}: {e}");
    let mut timed_out = false;
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    let class = if timed_out {
        ErrorClass::Timeout
    } else {
        ErrorClass::ConnectionRefused
    };
    ProviderError::new(class, message)
}
