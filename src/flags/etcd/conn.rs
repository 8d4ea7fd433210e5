//! A connection to etcd for code that is not async (the store's callers:
//! the command line, the console's store worker): a small runtime of the
//! connection's own runs each call, bounded by the request timeout.
//!
//! Calls go through a channel, not `block_on`, so they also work from a
//! thread that is itself inside another runtime.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use crate::config::{EtcdConfig, EtcdTls, SecretSource};
use crate::failure::Failure;
use crate::flags::StoreError;

/// How to reach etcd: endpoints, TLS, credentials, timeouts.
#[derive(Clone)]
pub struct Reach {
    pub endpoints: Vec<String>,
    options: ConnectOptions,
    /// Read when connecting (a store opens without them: `check-config`
    /// reports them, and a file-less read-only copy never needs them).
    credentials: Option<(SecretSource, SecretSource)>,
    pub request_timeout: Duration,
    pub dial_timeout: Duration,
}

impl Reach {
    /// Reads the TLS files (their errors name the file).
    pub fn new(config: &EtcdConfig) -> Result<Reach, StoreError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.dial_timeout)
            .with_timeout(config.request_timeout)
            // A dead member is noticed between requests, not on the next one.
            .with_keep_alive(Duration::from_secs(5), config.dial_timeout);
        if let Some(tls) = &config.tls {
            options = options.with_tls(tls_options(tls)?);
        }
        Ok(Reach {
            endpoints: config.endpoints.clone(),
            options,
            credentials: config.user.clone().zip(config.password.clone()),
            request_timeout: config.request_timeout,
            dial_timeout: config.dial_timeout,
        })
    }

    /// A client (async); connecting authenticates when credentials are set.
    /// The credentials are read here, each time: errors name the variable
    /// or file, never a value.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        let mut options = self.options.clone();
        if let Some((user, password)) = &self.credentials {
            let read = |s: &SecretSource| {
                s.read()
                    .map_err(|why| StoreError::Unavailable(format!("etcd credentials: {why}")))
            };
            let (user, password) = (read(user)?, read(password)?);
            options = options.with_user(user.expose(), password.expose());
        }
        let connect = Client::connect(&self.endpoints, Some(options));
        match tokio::time::timeout(self.dial_timeout + self.request_timeout, connect).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(self.failed("connect to", e)),
            Err(_) => Err(self.timed_out()),
        }
    }

    pub fn failed(&self, what: &str, e: etcd_client::Error) -> StoreError {
        StoreError::Failed(Failure::new(
            format!("{what} etcd at {}", self.endpoints.join(",")),
            Brief(e),
        ))
    }

    pub fn timed_out(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "etcd at {} did not answer within {} ms",
            self.endpoints.join(","),
            self.request_timeout.as_millis()
        ))
    }
}

fn tls_options(tls: &EtcdTls) -> Result<TlsOptions, StoreError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| StoreError::Failed(Failure::new(format!("read {}", path.display()), e)))
    };
    let mut options = TlsOptions::new();
    if let Some(ca) = &tls.ca {
        options = options.ca_certificate(Certificate::from_pem(read(ca)?));
    }
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            options = options.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        (None, None) => {}
        _ => {
            return Err(StoreError::Unavailable(
                "store.tls needs both cert and key for a client certificate".into(),
            ));
        }
    }
    Ok(options)
}

/// A blocking face over an async client.
pub struct Blocking {
    reach: Reach,
    runtime: Option<tokio::runtime::Runtime>,
    client: Mutex<Option<Client>>,
}

impl Blocking {
    pub fn new(reach: Reach) -> Result<Blocking, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("etcd")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Failed(Failure::new("start the etcd runtime", e)))?;
        Ok(Blocking {
            reach,
            runtime: Some(runtime),
            client: Mutex::new(None),
        })
    }

    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// Runs `call` with a client, within the request timeout (connecting
    /// first when there is no client yet, or the last call failed).
    pub fn call<T, Fut>(
        &self,
        what: &str,
        call: impl FnOnce(Client) -> Fut + Send + 'static,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, etcd_client::Error>> + Send + 'static,
    {
        let cached = self.client.lock().map(|c| c.clone()).unwrap_or(None);
        let reach = self.reach.clone();
        let timeout = self.reach.request_timeout;
        let outcome = self.run(async move {
            let client = match cached {
                Some(c) => c,
                None => reach.connect().await.map_err(Outcome::Store)?,
            };
            match tokio::time::timeout(timeout, call(client.clone())).await {
                Ok(Ok(value)) => Ok((value, client)),
                Ok(Err(e)) => Err(Outcome::Etcd(e)),
                Err(_) => Err(Outcome::TimedOut),
            }
        })?;
        match outcome {
            Ok((value, client)) => {
                if let Ok(mut slot) = self.client.lock() {
                    *slot = Some(client);
                }
                Ok(value)
            }
            Err(failure) => {
                // Connect afresh next time: the endpoint may have moved on.
                if let Ok(mut slot) = self.client.lock() {
                    *slot = None;
                }
                Err(match failure {
                    Outcome::Store(e) => e,
                    Outcome::Etcd(e) => self.reach.failed(what, e),
                    Outcome::TimedOut => self.reach.timed_out(),
                })
            }
        }
    }

    /// Runs `task` in the background for as long as the connection lives.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(task);
        }
    }

    /// Runs a future on the connection's runtime and waits for it.
    fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the etcd connection is closed".into()))?;
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Unavailable("the etcd connection is closed".into()))
    }
}

impl Drop for Blocking {
    fn drop(&mut self) {
        // Dropping a runtime from inside another one panics; this does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

enum Outcome {
    Store(StoreError),
    Etcd(etcd_client::Error),
    TimedOut,
}

/// An etcd client error told in a few words: the innermost cause ("Connection
/// refused (os error 111)", "etcdserver: authentication failed"), not the
/// transport's nested `Debug` text, which an 80-column line cannot hold.
#[derive(Debug)]
struct Brief(etcd_client::Error);

impl std::fmt::Display for Brief {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", brief(&self.0))
    }
}

/// The few words of an etcd client error (see [`Brief`]).
pub fn brief(e: &etcd_client::Error) -> String {
    if let etcd_client::Error::GRpcStatus(status) = e {
        return status.message().to_string();
    }
    // Each cause's own words, without the Debug dump the outer ones
    // embed: "tcp connect error".
    let mut words = Vec::new();
    let mut inner = std::error::Error::source(e);
    while let Some(cause) = inner {
        let text = cause.to_string();
        if !text.contains('(') || text.contains("os error") {
            words.push(text);
        }
        inner = cause.source();
    }
    if words.is_empty() {
        return e.to_string();
    }
    words.join(": ")
}

impl std::error::Error for Brief {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
