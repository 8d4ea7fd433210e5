use std::fmt;

/// What kind of failure a provider call ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 401/403: bad or missing key.
    Auth,
    /// 404: unknown endpoint or job.
    NotFound,
    /// 429 after every retry.
    RateLimited,
    /// 400: the provider refused the input.
    BadInput,
    /// 5xx after every retry.
    Server,
    /// No answer within the request timeout.
    Timeout,
    /// Nothing listens there (or the host cannot be reached).
    ConnectionRefused,
    /// An answer that is not the JSON the wire format promises.
    Malformed,
    /// The job ran and ended FAILED, CANCELLED or TIMED_OUT.
    JobFailed,
    /// A URL this console refuses (not https, not loopback).
    Refused,
}

impl ErrorClass {
    /// Every class, in the order reports list them.
    pub const ALL: [ErrorClass; 10] = [
        ErrorClass::Timeout,
        ErrorClass::RateLimited,
        ErrorClass::Server,
        ErrorClass::ConnectionRefused,
        ErrorClass::Malformed,
        ErrorClass::JobFailed,
        ErrorClass::Auth,
        ErrorClass::NotFound,
        ErrorClass::BadInput,
        ErrorClass::Refused,
    ];

    /// Its place in [`Self::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }

    pub fn label(self) -> &'static str {
        match self {
            ErrorClass::Auth => "auth",
            ErrorClass::NotFound => "not found",
            ErrorClass::RateLimited => "rate limited",
            ErrorClass::BadInput => "bad input",
            ErrorClass::Server => "server error",
            ErrorClass::Timeout => "timeout",
            ErrorClass::ConnectionRefused => "connection refused",
            ErrorClass::Malformed => "malformed response",
            ErrorClass::JobFailed => "job failed",
            ErrorClass::Refused => "refused URL",
        }
    }

    /// Worth another attempt.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorClass::RateLimited | ErrorClass::Server)
    }
}

/// A failed provider call. The message never holds a secret: keys travel in
/// headers only, and bodies are cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub class: ErrorClass,
    pub status: Option<u16>,
    pub message: String,
    pub attempts: u32,
}

impl ProviderError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            status: None,
            message: message.into(),
            attempts: 1,
        }
    }

    /// From an HTTP status and (the start of) its body.
    pub fn from_status(status: u16, body: &str) -> Self {
        let class = match status {
            401 | 403 => ErrorClass::Auth,
            404 => ErrorClass::NotFound,
            429 => ErrorClass::RateLimited,
            400 | 422 => ErrorClass::BadInput,
            500..=599 => ErrorClass::Server,
            _ => ErrorClass::Malformed,
        };
        let excerpt: String = body.chars().take(200).collect();
        let what = if (300..400).contains(&status) {
            " (a redirect, not followed)"
        } else {
            ""
        };
        Self {
            class,
            status: Some(status),
            message: format!("HTTP {status}{what}: {}", excerpt.trim()),
            attempts: 1,
        }
    }

    /// From a transport error. reqwest's text names the URL, never headers;
    /// its causes (hyper's, the TLS library's, the socket's) name neither,
    /// and tell what happened: they are added.
    pub fn from_transport(e: &reqwest::Error) -> Self {
        let mut class = if e.is_timeout() {
            ErrorClass::Timeout
        } else if e.is_decode() || e.is_body() {
            ErrorClass::Malformed
        } else {
            ErrorClass::ConnectionRefused
        };
        // reqwest calls any failure while reading a body a decode error; the
        // cause tells a garbled answer from a connection that broke (which
        // the direct path reports as a connection error).
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        let mut cause_class = None;
        while let Some(cause) = source {
            if let Some(h) = cause.downcast_ref::<hyper::Error>() {
                cause_class.get_or_insert(
                    if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                        ErrorClass::Malformed
                    } else if h.is_timeout() {
                        ErrorClass::Timeout
                    } else {
                        ErrorClass::ConnectionRefused
                    },
                );
            } else if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                cause_class.get_or_insert(if io.kind() == std::io::ErrorKind::TimedOut {
                    ErrorClass::Timeout
                } else {
                    ErrorClass::ConnectionRefused
                });
            }
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        if !e.is_timeout() {
            class = cause_class.unwrap_or(class);
        }
        Self::new(class, message)
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class.label(), self.message)?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for ProviderError {}
