//! With a proxy named in the environment, calls go through it (as curl and
//! reqwest do). Its own test binary: the environment is process-wide.

use std::time::Duration;

use beacon_console::providers::{HttpClient, ProviderUrl, RetryPolicy};
use bytes::Bytes;
use http::{HeaderMap, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn a_proxy_in_the_environment_carries_the_calls() {
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let (seen, mut heads) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut socket, _) = proxy.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            .await;
        let _ = seen.send(String::from_utf8_lossy(&head).into_owned());
    });
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var("ALL_PROXY", &proxy_url) };
    let client = HttpClient::new(Duration::from_secs(10), RetryPolicy::default()).unwrap();
    assert!(client.proxied());
    // Port 9 (discard) is closed here: only the proxy can answer.
    let url = ProviderUrl::parse("http://127.0.0.1:9/v2/e/health").unwrap();
    let answer: serde_json::Value = client
        .json(Method::GET, &url, &HeaderMap::new(), Bytes::new())
        .await
        .unwrap();
    assert_eq!(answer, serde_json::json!({}));
    let head = heads.recv().await.unwrap();
    assert!(
        head.starts_with("GET http://127.0.0.1:9/v2/e/health HTTP/1.1\r\n"),
        "{head}"
    );
}
