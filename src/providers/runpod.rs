//! RunPod Serverless: `/runsync` (polling `/status/{id}` past the wait
//! window), `/run` + `/status`, `/health`; `Authorization: Bearer <key>`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ErrorClass, HttpClient, ProviderError, ProviderUrl, sensitive_header};
use crate::config::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    InQueue,
    InProgress,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

impl JobStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::InQueue | JobStatus::InProgress)
    }
}

/// A job as `/runsync`, `/run` and `/status/{id}` return it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Job {
    pub id: String,
    pub status: JobStatus,
    /// Milliseconds in the queue, cold start included: the cold-start signal.
    #[serde(rename = "delayTime", default)]
    pub delay_ms: Option<u64>,
    #[serde(rename = "executionTime", default)]
    pub execution_ms: Option<u64>,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(rename = "workerId", default)]
    pub worker_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
pub struct HealthJobs {
    pub completed: u64,
    pub failed: u64,
    #[serde(rename = "inProgress")]
    pub in_progress: u64,
    #[serde(rename = "inQueue")]
    pub in_queue: u64,
    pub retried: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
pub struct HealthWorkers {
    pub idle: u64,
    pub initializing: u64,
    pub ready: u64,
    pub running: u64,
    pub throttled: u64,
    #[serde(default)]
    pub unhealthy: u64,
}

/// `GET /health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
pub struct Health {
    pub jobs: HealthJobs,
    pub workers: HealthWorkers,
}

/// One endpoint's URLs, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPodEndpoint {
    id: String,
    runsync: ProviderUrl,
    health: ProviderUrl,
}

/// A client for one RunPod API base (`https://api.runpod.ai/v2`).
#[derive(Clone)]
pub struct RunPodClient {
    http: HttpClient,
    api_base: String,
    /// `Authorization: Bearer <key>` (marked sensitive), built once; the
    /// second map adds the JSON content type for POSTs.
    get_headers: HeaderMap,
    post_headers: HeaderMap,
    /// Between `/status` polls while a job is not done.
    pub poll_interval: Duration,
}

impl std::fmt::Debug for RunPodClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunPodClient")
            .field("api_base", &self.api_base)
            .field("authorization", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl RunPodClient {
    /// A key that is not a valid header value is refused here, with a message
    /// that does not show it.
    pub fn new(http: HttpClient, api_base: &str, key: Secret) -> Result<Self, ProviderError> {
        let bearer = Secret::new(format!("Bearer {}", key.expose()));
        let mut get_headers = HeaderMap::new();
        get_headers.insert(AUTHORIZATION, sensitive_header(&bearer, "Authorization")?);
        let mut post_headers = get_headers.clone();
        post_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(Self {
            http,
            api_base: api_base.trim_end_matches('/').to_string(),
            get_headers,
            post_headers,
            poll_interval: Duration::from_millis(250),
        })
    }

    fn url(&self, endpoint_id: &str, path: &str) -> Result<ProviderUrl, ProviderError> {
        ProviderUrl::parse(&format!("{}/{endpoint_id}/{path}", self.api_base))
    }

    /// An endpoint's URLs, parsed once for calls made again and again
    /// (probes, load runs).
    pub fn endpoint(&self, endpoint_id: &str) -> Result<RunPodEndpoint, ProviderError> {
        Ok(RunPodEndpoint {
            id: endpoint_id.to_string(),
            runsync: self.url(endpoint_id, "runsync")?,
            health: self.url(endpoint_id, "health")?,
        })
    }

    /// The body of `/run` and `/runsync` for `input`, for callers that send
    /// the same input again and again (probes) and serialize it once.
    pub fn request_body(input: &Value) -> Bytes {
        Bytes::from(serde_json::to_vec(&json!({ "input": input })).unwrap_or_default())
    }

    async fn post(&self, url: &ProviderUrl, body: Bytes) -> Result<Job, ProviderError> {
        self.http
            .json(Method::POST, url, &self.post_headers, body)
            .await
    }

    /// `POST /run`: queue a job.
    pub async fn run(&self, endpoint_id: &str, input: &Value) -> Result<Job, ProviderError> {
        self.post(&self.url(endpoint_id, "run")?, Self::request_body(input))
            .await
    }

    /// `GET /status/{id}`.
    pub async fn status(&self, endpoint_id: &str, job_id: &str) -> Result<Job, ProviderError> {
        let url = self.url(endpoint_id, &format!("status/{job_id}"))?;
        self.http
            .json(Method::GET, &url, &self.get_headers, Bytes::new())
            .await
    }

    /// `GET /health`.
    pub async fn health(&self, endpoint_id: &str) -> Result<Health, ProviderError> {
        self.health_of(&self.endpoint(endpoint_id)?).await
    }

    /// [`Self::health`] of an endpoint prepared beforehand.
    pub async fn health_of(&self, endpoint: &RunPodEndpoint) -> Result<Health, ProviderError> {
        self.http
            .json(
                Method::GET,
                &endpoint.health,
                &self.get_headers,
                Bytes::new(),
            )
            .await
    }

    /// `POST /runsync`, then `/status/{id}` until the job is final or
    /// `deadline` has passed. A final state other than COMPLETED is an error.
    pub async fn runsync(
        &self,
        endpoint_id: &str,
        input: &Value,
        deadline: Duration,
    ) -> Result<Job, ProviderError> {
        self.runsync_on(
            &self.endpoint(endpoint_id)?,
            Self::request_body(input),
            deadline,
        )
        .await
    }

    /// [`Self::runsync`] on an endpoint prepared beforehand, with a body from
    /// [`Self::request_body`].
    pub async fn runsync_on(
        &self,
        endpoint: &RunPodEndpoint,
        body: Bytes,
        deadline: Duration,
    ) -> Result<Job, ProviderError> {
        let endpoint_id = endpoint.id.as_str();
        let started = Instant::now();
        let mut job = self.post(&endpoint.runsync, body).await?;
        while !job.status.is_final() {
            if started.elapsed() >= deadline {
                return Err(ProviderError::new(
                    ErrorClass::Timeout,
                    format!(
                        "job {} still {:?} after {} ms",
                        job.id,
                        job.status,
                        deadline.as_millis()
                    ),
                ));
            }
            tokio::time::sleep(
                self.poll_interval
                    .min(deadline.saturating_sub(started.elapsed())),
            )
            .await;
            job = self.status(endpoint_id, &job.id).await?;
        }
        match job.status {
            JobStatus::Completed => Ok(job),
            other => Err(ProviderError::new(
                ErrorClass::JobFailed,
                format!(
                    "job {} ended {other:?}: {}",
                    job.id,
                    job.error.as_deref().unwrap_or("no error given")
                ),
            )),
        }
    }
}
