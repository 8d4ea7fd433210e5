//! `[store]` of kind "etcd": endpoints, the document's key, the prefix for
//! everything else (audit, acknowledgements, operators), TLS, credentials
//! and timeouts.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::error::ConfigError;
use super::profile::Validator;
use super::raw::{RawStore, RawTls};
use super::secret::SecretSource;

#[derive(Debug, Clone, PartialEq)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    /// The routing document's key, e.g. `/beacon/routes`.
    pub key: String,
    /// Everything else lives under it (default: the key's parent).
    pub prefix: String,
    pub tls: Option<EtcdTls>,
    pub user: Option<SecretSource>,
    pub password: Option<SecretSource>,
    pub dial_timeout: Duration,
    pub request_timeout: Duration,
    /// A region that has not acknowledged a revision by then is shown in red.
    pub apply_deadline: Duration,
}

/// PEM files for TLS to etcd (client certificate optional).
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdTls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl EtcdConfig {
    /// `etcd http://a:2379,http://b:2379 /beacon/routes`.
    pub fn describe(&self) -> String {
        format!("etcd {} {}", self.endpoints.join(","), self.key)
    }

    /// `PREFIX/audit/<revision, zero-padded>`: sorts as the revisions do.
    pub fn audit_key(&self, revision: u64) -> String {
        format!("{}/audit/{revision:020}", self.prefix)
    }

    pub fn audit_prefix(&self) -> String {
        format!("{}/audit/", self.prefix)
    }

    /// `PREFIX/applied/<region>`: the revision a region's sync wrote.
    pub fn applied_key(&self, region: &str) -> String {
        format!("{}/applied/{region}", self.prefix)
    }

    pub fn applied_prefix(&self) -> String {
        format!("{}/applied/", self.prefix)
    }

    /// `PREFIX/operators/<user@host>/<pid>`: a console that is connected
    /// (the pid tells two consoles of one user on one host apart).
    pub fn operator_key(&self, operator: &str) -> String {
        format!(
            "{}/operators/{operator}/{}",
            self.prefix,
            std::process::id()
        )
    }

    pub fn operators_prefix(&self) -> String {
        format!("{}/operators/", self.prefix)
    }
}

impl Validator<'_> {
    pub(super) fn etcd_store(&self, raw: &RawStore) -> Result<EtcdConfig, ConfigError> {
        if let Some(path) = &raw.path {
            return Err(self.err(
                path.span(),
                "an etcd store has no path: expected endpoints and key",
            ));
        }
        let endpoints = self.etcd_endpoints(raw)?;
        let key = self.etcd_key(raw)?;
        let prefix = match &raw.prefix {
            Some(p) => self.etcd_path(p, "prefix")?,
            None => key
                .rsplit_once('/')
                .map(|(parent, _)| parent.to_string())
                .unwrap_or_default(),
        };
        let user = self.secret(&raw.user)?;
        let password = self.secret(&raw.password)?;
        if user.is_some() != password.is_some() {
            let span = raw
                .user
                .as_ref()
                .or(raw.password.as_ref())
                .map(Spanned::span);
            return Err(self.err(
                span.unwrap_or(raw.kind.span()),
                "user and password go together",
            ));
        }
        let millis = |v, default, what| {
            self.count(v, default, what, 1, 600_000)
                .map(Duration::from_millis)
        };
        Ok(EtcdConfig {
            endpoints,
            key,
            prefix,
            tls: raw.tls.as_ref().map(|t| self.etcd_tls(t.get_ref())),
            user,
            password,
            dial_timeout: millis(&raw.dial_timeout_ms, 2000, "store.dial_timeout_ms")?,
            request_timeout: millis(&raw.request_timeout_ms, 2000, "store.request_timeout_ms")?,
            apply_deadline: millis(&raw.apply_deadline_ms, 2000, "store.apply_deadline_ms")?,
        })
    }

    fn etcd_endpoints(&self, raw: &RawStore) -> Result<Vec<String>, ConfigError> {
        let Some(list) = &raw.endpoints else {
            return Err(self.err(
                raw.kind.span(),
                "an etcd store needs endpoints = [\"http://127.0.0.1:2379\", …]",
            ));
        };
        if list.get_ref().is_empty() {
            return Err(self.err(list.span(), "endpoints is empty: expected at least one URL"));
        }
        list.get_ref()
            .iter()
            .map(|e| {
                let url = e.get_ref();
                let rest = url
                    .strip_prefix("http://")
                    .or_else(|| url.strip_prefix("https://"));
                match rest {
                    Some(host) if !host.is_empty() && !host.contains('/') => Ok(url.clone()),
                    _ => Err(self.err(
                        e.span(),
                        format!(
                            "expected an etcd endpoint like \"http://127.0.0.1:2379\", got {url:?}"
                        ),
                    )),
                }
            })
            .collect()
    }

    fn etcd_key(&self, raw: &RawStore) -> Result<String, ConfigError> {
        match &raw.key {
            Some(k) => self.etcd_path(k, "key"),
            None => Err(self.err(
                raw.kind.span(),
                "an etcd store needs key = \"/beacon/routes\"",
            )),
        }
    }

    /// An absolute key without a trailing slash: `/beacon/routes`.
    fn etcd_path(&self, value: &Spanned<String>, what: &str) -> Result<String, ConfigError> {
        let v = value.get_ref();
        let ok = v.starts_with('/')
            && v.len() > 1
            && !v.ends_with('/')
            && !v.contains("//")
            && !v.chars().any(char::is_control);
        if ok {
            Ok(v.clone())
        } else {
            Err(self.err(
                value.span(),
                format!("{what} must be an absolute key like \"/beacon/routes\" (no trailing /), got {v:?}"),
            ))
        }
    }

    fn etcd_tls(&self, raw: &RawTls) -> EtcdTls {
        let path = |p: &Option<Spanned<String>>| p.as_ref().map(|p| self.path(p.get_ref()));
        EtcdTls {
            ca: path(&raw.ca),
            cert: path(&raw.cert),
            key: path(&raw.key),
        }
    }
}
