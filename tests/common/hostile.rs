//! Servers that misbehave, on loopback, for the provider clients to survive;
//! and a CONNECT proxy that terminates TLS with a test certificate for
//! `*.beacon.test` and forwards the plain request to one of them, so that the
//! proxy path (reqwest) meets the same servers as the direct one.
//!
//! Every hostile answer ends with the server closing its side (or never
//! answering): the proxy relays one request per tunnel.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The secret every client of the hostile suite is given: no error may show it.
pub const CANARY: &str = "CANARY-5f3a9";
pub const CANARY_SECRET: &str = "CANARY-SECRET-77c1e";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// Accepts, reads the request, never answers.
    Hang,
    /// 200, chunked, a body that never ends.
    EndlessBody,
    /// The status line and then one byte of header every 100 ms, forever.
    Slowloris,
    /// 429 with `Retry-After: 999999999`.
    RetryAfterForever,
    /// 429 with `Retry-After: 1e30` (more seconds than a `Duration` holds).
    RetryAfterOverflow,
    /// 302 to a path of the same server that would answer 200 with valid JSON.
    Redirect,
    /// Half an answer, then a TCP reset.
    ResetMidAnswer,
    /// 200 with 5,000 headers.
    ManyHeaders,
    /// Not TLS: a few bytes of plain text to whatever arrives, then close.
    Garbage,
    /// 400 whose body is the request head (secrets included) sent back.
    Echo,
}

impl Hostile {
    pub const ALL: [Hostile; 10] = [
        Hostile::Hang,
        Hostile::EndlessBody,
        Hostile::Slowloris,
        Hostile::RetryAfterForever,
        Hostile::RetryAfterOverflow,
        Hostile::Redirect,
        Hostile::ResetMidAnswer,
        Hostile::ManyHeaders,
        Hostile::Garbage,
        Hostile::Echo,
    ];
}

/// A hostile server: where it listens and how many requests reached it.
pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
}

/// Reads one request (head, then a `Content-Length` body) and returns its head.
async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&data, b"\r\n\r\n") {
            break i + 4;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let want = head_end + content_length(&head);
    while data.len() < want {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(head)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Starts a hostile server of `kind` on loopback (on the calling runtime).
pub async fn serve(kind: Hostile) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move { misbehave(kind, socket, &counter).await });
        }
    });
    Server { addr, requests }
}

async fn misbehave(kind: Hostile, mut socket: TcpStream, requests: &AtomicUsize) {
    if kind == Hostile::Garbage {
        // Whatever comes (a TLS ClientHello), the answer is not TLS.
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await;
        let _ = socket
            .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nnot tls")
            .await;
        let _ = socket.shutdown().await;
        // Drain until the client gives up, so the close is a FIN, not a reset.
        while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        return;
    }
    let Some(head) = read_request(&mut socket).await else {
        return;
    };
    requests.fetch_add(1, Ordering::SeqCst);
    match kind {
        Hostile::Hang => {
            // Holds the connection open, answering nothing, until the test ends.
            std::future::pending::<()>().await;
        }
        Hostile::EndlessBody => {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await;
            let chunk = {
                let data = vec![b' '; 64 * 1024];
                let mut c = format!("{:x}\r\n", data.len()).into_bytes();
                c.extend_from_slice(&data);
                c.extend_from_slice(b"\r\n");
                c
            };
            // Until the client hangs up.
            while socket.write_all(&chunk).await.is_ok() {}
        }
        Hostile::Slowloris => {
            if socket.write_all(b"HTTP/1.1 200 OK\r\n").await.is_err() {
                return;
            }
            loop {
                // The server's pace, not a synchronisation.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if socket.write_all(b"x").await.is_err() {
                    return;
                }
            }
        }
        Hostile::RetryAfterForever | Hostile::RetryAfterOverflow => {
            let after = if kind == Hostile::RetryAfterForever {
                "999999999"
            } else {
                "1e30"
            };
            let body = r#"{"error":"rate limited"}"#;
            let answer = format!(
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {after}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            close_after(socket, answer.as_bytes()).await;
        }
        Hostile::Redirect => {
            let answer = if head.contains("/followed") {
                // Valid for both clients: were the redirect followed, the call would succeed.
                let body = r#"{"jobs":{"completed":0,"failed":0,"inProgress":0,"inQueue":0,"retried":0},"workers":{"idle":0,"initializing":0,"ready":0,"running":0,"throttled":0},"output":"followed"}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 302 Found\r\nLocation: /followed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
            };
            close_after(socket, answer.as_bytes()).await;
        }
        Hostile::ResetMidAnswer => {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"jobs\":{\"comp")
                .await;
            let _ = socket.flush().await;
            // SO_LINGER 0: closing now sends a reset, not a FIN.
            #[allow(deprecated)]
            let _ = socket.set_linger(Some(Duration::ZERO));
            drop(socket);
        }
        Hostile::ManyHeaders => {
            let mut answer = String::from("HTTP/1.1 200 OK\r\n");
            for i in 0..5_000 {
                answer.push_str(&format!("X-Header-{i}: {i}\r\n"));
            }
            answer.push_str("Content-Length: 2\r\nConnection: close\r\n\r\n{}");
            close_after(socket, answer.as_bytes()).await;
        }
        Hostile::Echo => {
            let body = head.as_bytes();
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let mut all = answer.into_bytes();
            all.extend_from_slice(body);
            close_after(socket, &all).await;
        }
        Hostile::Garbage => unreachable!(),
    }
}

/// Writes `answer`, then closes gracefully (FIN after the client is done).
async fn close_after(mut socket: TcpStream, answer: &[u8]) {
    let _ = socket.write_all(answer).await;
    let _ = socket.shutdown().await;
    let mut buf = [0u8; 1024];
    while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
}

/// The process's resident set, in bytes (Linux).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

pub fn tls_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// A CONNECT proxy on loopback (threads, blocking I/O: it serves the tests'
/// runtimes without being part of any). For `NAME.beacon.test:443` it
/// answers 200, then either terminates TLS with the test certificate and
/// relays one plain request to the server registered for NAME, or (for a
/// `raw` route) tunnels the bytes untouched. Unknown hosts get 502.
pub struct TlsProxy {
    pub addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, (SocketAddr, bool)>>>,
    /// Every request head the proxy received, in order.
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl TlsProxy {
    pub fn start() -> TlsProxy {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(tls_fixture("server.pem"))
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
        let key = PrivateKeyDer::from_pem_file(tls_fixture("server.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, (SocketAddr, bool)>>> = Arc::default();
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let (r, h) = (routes.clone(), heads.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (r, h, config) = (r.clone(), h.clone(), config.clone());
                std::thread::spawn(move || relay(client, &r, &h, config));
            }
        });
        TlsProxy {
            addr,
            routes,
            heads,
        }
    }

    /// `https://NAME.beacon.test` now leads to `to`.
    pub fn route(&self, name: &str, to: SocketAddr, raw: bool) -> String {
        let host = format!("{name}.beacon.test");
        self.routes.lock().unwrap().insert(host.clone(), (to, raw));
        format!("https://{host}")
    }
}

fn read_head_blocking(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    Some(head)
}

fn relay(
    mut client: std::net::TcpStream,
    routes: &Mutex<HashMap<String, (SocketAddr, bool)>>,
    heads: &Mutex<Vec<String>>,
    config: Arc<rustls::ServerConfig>,
) {
    // A safety net only: every test ends long before.
    let limit = Some(Duration::from_secs(120));
    let _ = client.set_read_timeout(limit);
    let Some(head) = read_head_blocking(&mut client) else {
        return;
    };
    let head = String::from_utf8_lossy(&head).into_owned();
    heads.lock().unwrap().push(head.clone());
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("");
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    let route = routes.lock().unwrap().get(host).copied();
    let Some((upstream_addr, raw)) = route else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let Ok(mut upstream) = std::net::TcpStream::connect(upstream_addr) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let _ = upstream.set_read_timeout(limit);
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    if raw {
        let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else {
            return;
        };
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut c2, &mut u2);
            let _ = u2.shutdown(std::net::Shutdown::Write);
        });
        let _ = std::io::copy(&mut upstream, &mut client);
        let _ = client.shutdown(std::net::Shutdown::Write);
        return;
    }
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, client);
    // One request: head, then its body.
    let Some(request_head) = read_head_blocking(&mut tls) else {
        return;
    };
    let text = String::from_utf8_lossy(&request_head).into_owned();
    let mut body = vec![0u8; content_length(&text)];
    if tls.read_exact(&mut body).is_err() || upstream.write_all(&request_head).is_err() {
        return;
    }
    if upstream.write_all(&body).is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match upstream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|_| tls.flush()).is_err() {
                    return;
                }
            }
            // The server reset: so does the proxy (no close_notify, no FIN).
            Err(_) => {
                let _ = tls.sock.set_linger_zero();
                return;
            }
        }
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

trait LingerZero {
    fn set_linger_zero(&self) -> std::io::Result<()>;
}

impl LingerZero for std::net::TcpStream {
    /// SO_LINGER 0, so dropping the socket sends a reset.
    fn set_linger_zero(&self) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket descriptor and a correctly sized option value.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// How the clients reach a hostile server.
#[derive(Clone, Copy)]
pub enum Variant {
    /// `http://127.0.0.1:PORT` (`https://` for the TLS case): the direct path.
    Direct,
    /// `https://NAME.beacon.test` through the CONNECT proxy: the reqwest path.
    Proxy(&'static TlsProxy),
}

static NEXT_NAME: AtomicUsize = AtomicUsize::new(0);

pub fn base_url(variant: Variant, kind: Hostile, server: &Server) -> String {
    match variant {
        Variant::Direct if kind == Hostile::Garbage => format!("https://{}", server.addr),
        Variant::Direct => format!("http://{}", server.addr),
        Variant::Proxy(proxy) => {
            let name = format!("{kind:?}-{}", NEXT_NAME.fetch_add(1, Ordering::Relaxed))
                .to_ascii_lowercase();
            proxy.route(&name, server.addr, kind == Hostile::Garbage)
        }
    }
}

/// What a call to a server of `kind` must end in.
pub fn expected(kind: Hostile) -> beacon_console::providers::ErrorClass {
    use beacon_console::providers::ErrorClass;
    match kind {
        Hostile::Hang | Hostile::Slowloris => ErrorClass::Timeout,
        Hostile::EndlessBody | Hostile::Redirect | Hostile::ManyHeaders => ErrorClass::Malformed,
        Hostile::RetryAfterForever | Hostile::RetryAfterOverflow => ErrorClass::RateLimited,
        Hostile::ResetMidAnswer | Hostile::Garbage => ErrorClass::ConnectionRefused,
        Hostile::Echo => ErrorClass::BadInput,
    }
}

/// The client timeout for `kind`: short where the timeout is the expected
/// end, long (never reached on a slow machine) everywhere else.
pub fn client_timeout(kind: Hostile) -> Duration {
    match kind {
        Hostile::Hang | Hostile::Slowloris => Duration::from_secs(2),
        _ => Duration::from_secs(30),
    }
}

fn assert_no_canary(what: &str, e: &beacon_console::providers::ProviderError) {
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(
            !text.contains(CANARY) && !text.contains(CANARY_SECRET),
            "{what}: the secret is in the error: {text}"
        );
    }
}

/// A RunPod `/health` and a Modal inference against a fresh server of
/// `kind`: each must end in the expected error class, within bounded time,
/// without the secret in its message.
pub async fn survive(variant: Variant, kind: Hostile) {
    use beacon_console::config::Secret;
    use beacon_console::providers::modal::ModalClient;
    use beacon_console::providers::runpod::RunPodClient;
    use beacon_console::providers::{HttpClient, ProviderUrl, RetryPolicy};

    let timeout = client_timeout(kind);
    // The default policy: 3 attempts, Retry-After capped at 2 s.
    let http = HttpClient::new(timeout, RetryPolicy::default()).unwrap();
    assert_eq!(http.proxied(), matches!(variant, Variant::Proxy(_)));
    // Far beyond the client timeout and every retry: reaching it is a hang.
    let bound = timeout + Duration::from_secs(60);
    let want = expected(kind);
    let rss_before = rss_bytes();

    let server = serve(kind).await;
    let base = base_url(variant, kind, &server);
    let runpod =
        RunPodClient::new(http.clone(), &format!("{base}/v2"), Secret::new(CANARY)).unwrap();
    let e = tokio::time::timeout(bound, runpod.health("endpoint"))
        .await
        .unwrap_or_else(|_| panic!("{kind:?}: RunPod /health still running after {bound:?}"))
        .expect_err("a hostile server's answer is an error");
    assert_eq!(e.class, want, "{kind:?} (RunPod): {e}");
    assert_no_canary("RunPod", &e);
    check_details(kind, &e, &server);

    let server = serve(kind).await;
    let base = base_url(variant, kind, &server);
    let modal = ModalClient::new(
        http.clone(),
        Some((Secret::new(CANARY), Secret::new(CANARY_SECRET))),
    )
    .unwrap();
    let url = ProviderUrl::parse(&format!("{base}/modal/endpoint")).unwrap();
    let e = tokio::time::timeout(
        bound,
        modal.infer_at(&url, bytes::Bytes::from_static(b"{\"prompt\":\"hi\"}")),
    )
    .await
    .unwrap_or_else(|_| panic!("{kind:?}: Modal inference still running after {bound:?}"))
    .expect_err("a hostile server's answer is an error");
    assert_eq!(e.class, want, "{kind:?} (Modal): {e}");
    assert_no_canary("Modal", &e);
    check_details(kind, &e, &server);

    if kind == Hostile::EndlessBody {
        let grown = rss_bytes().saturating_sub(rss_before);
        assert!(
            grown < 200 << 20,
            "an endless body grew the process by {} MiB",
            grown >> 20
        );
    }
}

fn check_details(kind: Hostile, e: &beacon_console::providers::ProviderError, server: &Server) {
    match kind {
        Hostile::RetryAfterForever | Hostile::RetryAfterOverflow => {
            assert_eq!(e.attempts, 3, "{e}");
            assert_eq!(server.requests.load(Ordering::SeqCst), 3, "{e}");
        }
        Hostile::Redirect => {
            assert_eq!(e.status, Some(302), "{e}");
            assert!(e.to_string().contains("redirect"), "{e}");
            assert_eq!(server.requests.load(Ordering::SeqCst), 1, "followed: {e}");
        }
        Hostile::EndlessBody => assert!(e.to_string().contains("MiB"), "{e}"),
        Hostile::Echo => assert_eq!(e.status, Some(400), "{e}"),
        _ => {}
    }
}

/// One test per hostile server, for a variant.
macro_rules! hostile_tests {
    ($variant:expr) => {
        #[tokio::test]
        async fn a_server_that_never_answers_times_out() {
            hostile::survive($variant, hostile::Hostile::Hang).await;
        }
        #[tokio::test]
        async fn an_endless_body_is_refused_at_the_cap_in_bounded_memory() {
            hostile::survive($variant, hostile::Hostile::EndlessBody).await;
        }
        #[tokio::test]
        async fn slowloris_headers_time_out() {
            hostile::survive($variant, hostile::Hostile::Slowloris).await;
        }
        #[tokio::test]
        async fn retry_after_999999999_is_capped_by_the_retry_policy() {
            hostile::survive($variant, hostile::Hostile::RetryAfterForever).await;
        }
        #[tokio::test]
        async fn retry_after_beyond_what_a_duration_holds_does_not_panic() {
            hostile::survive($variant, hostile::Hostile::RetryAfterOverflow).await;
        }
        #[tokio::test]
        async fn a_redirect_is_not_followed() {
            hostile::survive($variant, hostile::Hostile::Redirect).await;
        }
        #[tokio::test]
        async fn a_reset_mid_answer_is_a_connection_error() {
            hostile::survive($variant, hostile::Hostile::ResetMidAnswer).await;
        }
        #[tokio::test]
        async fn five_thousand_headers_are_malformed() {
            hostile::survive($variant, hostile::Hostile::ManyHeaders).await;
        }
        #[tokio::test]
        async fn https_to_a_server_that_does_not_speak_tls_is_a_connection_error() {
            hostile::survive($variant, hostile::Hostile::Garbage).await;
        }
        #[tokio::test]
        async fn a_server_echoing_the_request_does_not_put_the_secret_in_the_error() {
            hostile::survive($variant, hostile::Hostile::Echo).await;
        }
    };
}
