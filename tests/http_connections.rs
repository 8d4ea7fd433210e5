//! The HTTP client's own connections against plain TCP servers that answer
//! in ways the simulator never does: a kept-alive connection the server has
//! closed, a chunked answer, an answer too large to hold.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use beacon_console::providers::{ErrorClass, HttpClient, ProviderUrl, RetryPolicy};
use bytes::Bytes;
use http::{HeaderMap, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

fn client() -> HttpClient {
    let retry = RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    };
    HttpClient::new(Duration::from_secs(10), retry).unwrap()
}

/// Reads one request head (the client sends GETs without a body).
async fn read_head(socket: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A server that answers each connection's first request with `answer`,
/// then closes it and reports the request head.
async fn serve_once_per_connection(answer: Vec<u8>) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v2/endpoint/health",
        listener.local_addr().unwrap()
    );
    let (seen, heads) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let head = read_head(&mut socket).await;
            let _ = socket.write_all(&answer).await;
            drop(socket);
            let _ = seen.send(head);
        }
    });
    (url, heads)
}

async fn get(client: &HttpClient, url: &str) -> Result<serde_json::Value, ErrorClass> {
    let url = ProviderUrl::parse(url).unwrap();
    client
        .json(Method::GET, &url, &HeaderMap::new(), Bytes::new())
        .await
        .map_err(|e| e.class)
}

#[tokio::test]
async fn a_kept_alive_connection_the_server_closed_is_replaced_without_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v2/endpoint/health",
        listener.local_addr().unwrap()
    );
    let (close, mut close_now) = mpsc::unbounded_channel::<()>();
    let (closed, mut was_closed) = mpsc::unbounded_channel::<()>();
    let (seen, mut heads) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let head = read_head(&mut socket).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
                .await;
            let _ = seen.send(head);
            // Keep it open until the client has its answer and has kept the
            // connection for later; then close it under the client.
            close_now.recv().await;
            drop(socket);
            let _ = closed.send(());
        }
    });
    let client = client();
    assert_eq!(
        get(&client, &url).await,
        Ok(serde_json::json!({"ok": true}))
    );
    let first = heads.recv().await.unwrap();
    assert!(
        first.starts_with("GET /v2/endpoint/health HTTP/1.1\r\n"),
        "{first}"
    );
    assert!(
        first.to_ascii_lowercase().contains("\r\nhost: 127.0.0.1:"),
        "{first}"
    );
    close.send(()).unwrap();
    was_closed.recv().await.unwrap();
    // The server has closed the connection the client kept: the call goes
    // on a new one rather than failing.
    assert_eq!(
        get(&client, &url).await,
        Ok(serde_json::json!({"ok": true}))
    );
    assert!(
        heads.recv().await.is_some(),
        "the second call used a new connection"
    );
}

#[tokio::test]
async fn a_chunked_answer_is_read_whole() {
    let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{\"ok\":\r\n5\r\ntrue}\r\n0\r\n\r\n"
        .to_vec();
    let (url, _heads) = serve_once_per_connection(answer).await;
    assert_eq!(
        get(&client(), &url).await,
        Ok(serde_json::json!({"ok": true}))
    );
}

#[tokio::test]
async fn an_answer_too_large_to_hold_is_malformed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        read_head(&mut socket).await;
        let size = 9 << 20;
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(&vec![b' '; size]).await;
    });
    assert_eq!(get(&client(), &url).await, Err(ErrorClass::Malformed));
}

#[tokio::test]
async fn a_garbled_status_line_is_malformed() {
    let (url, _heads) = serve_once_per_connection(b"HTTX/9 abc\r\n\r\n".to_vec()).await;
    assert_eq!(get(&client(), &url).await, Err(ErrorClass::Malformed));
}
