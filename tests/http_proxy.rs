//! With a proxy named in the environment, calls to other machines go through
//! it (as curl and reqwest do), and calls to loopback never do: a proxy is
//! another machine, and a plain-http loopback call would hand it the secret
//! headers in clear. Its own test binary: the environment is process-wide.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use beacon_console::providers::{ErrorClass, HttpClient, ProviderUrl, RetryPolicy};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

async fn read_head(socket: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Accepts connections, reports each one's first head, answers `answer`
/// and closes.
async fn listen(answer: &'static [u8]) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (seen, heads) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let head = read_head(&mut socket).await;
            let _ = seen.send(head);
            let _ = socket.write_all(answer).await;
        }
    });
    (addr, heads)
}

#[tokio::test]
async fn loopback_calls_bypass_the_proxy_and_others_go_through_it() {
    // The fake proxy refuses every tunnel once it has seen what was asked.
    let (proxy, mut proxy_heads) =
        listen(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await;
    let (server, mut server_heads) =
        listen(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").await;
    // SAFETY: set before any other thread of this test binary reads the environment.
    #[allow(unsafe_code)]
    unsafe {
        for v in ["NO_PROXY", "no_proxy"] {
            std::env::remove_var(v);
        }
        std::env::set_var("ALL_PROXY", format!("http://{proxy}"));
    }
    let retry = RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    };
    let client = HttpClient::new(Duration::from_secs(30), retry).unwrap();
    assert!(client.proxied());
    let mut headers = HeaderMap::new();
    let mut secret = HeaderValue::from_static("Bearer sk-loopback-5ecret");
    secret.set_sensitive(true);
    headers.insert(http::header::AUTHORIZATION, secret);

    // Plain http to loopback: straight to the server, in origin form.
    let url = ProviderUrl::parse(&format!("http://{server}/v2/e/health")).unwrap();
    let answer: serde_json::Value = client
        .json(Method::GET, &url, &headers, Bytes::new())
        .await
        .unwrap();
    assert_eq!(answer, serde_json::json!({}));
    let head = server_heads.recv().await.unwrap();
    assert!(head.starts_with("GET /v2/e/health HTTP/1.1\r\n"), "{head}");

    // https to another host: a CONNECT to the proxy, which refuses it.
    let url = ProviderUrl::parse("https://api.beacon.test/v2/e/health").unwrap();
    let e = client
        .json::<serde_json::Value>(Method::GET, &url, &headers, Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::ConnectionRefused, "{e}");
    // The proxy's first request is that CONNECT: the loopback call, made
    // before, never reached it.
    let head = proxy_heads.recv().await.unwrap();
    assert!(
        head.starts_with("CONNECT api.beacon.test:443 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(!head.contains("5ecret"), "{head}");
}
