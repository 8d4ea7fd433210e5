//! The routers' metrics read back from a Prometheus server (`[telemetry]
//! source = "prometheus"`), for fleets whose routers are already scraped:
//! one instant query of the contract's series per interval — the same
//! counters and histogram buckets a router serves — grouped by `region`
//! into the same snapshots, so the console's figures (counter deltas,
//! quantiles from bucket deltas, over a named window) are computed exactly
//! as from the routers. A region whose newest sample is older than `fresh`
//! has no data (Prometheus keeps answering with old samples for minutes).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::config::Secret;
use crate::providers::{HttpClient, ProviderUrl};

use super::scrape::{RouterSnapshot, parse_router_metrics};

/// The contract's series, as one selector.
const SERIES: &str = r#"{__name__=~"beacon_routing_revision|beacon_requests_total|beacon_routed_total|beacon_cold_starts_total|beacon_request_duration_seconds_bucket|beacon_request_duration_seconds_sum|beacon_request_duration_seconds_count"}"#;

/// Per region: its snapshot, or why there is none.
pub type Regions = BTreeMap<String, Result<RouterSnapshot, String>>;

/// One query: every region's series, and how old each region's newest
/// sample is.
pub async fn query(
    http: &HttpClient,
    base: &str,
    token: Option<&Secret>,
    fresh: Duration,
) -> Result<Regions, String> {
    let values = instant(http, base, token, SERIES).await?;
    let stamps = instant(http, base, token, "timestamp(beacon_routing_revision)").await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut by_region: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
    for sample in &values {
        if let Some(region) = sample.labels.get("region") {
            by_region.entry(region.clone()).or_default().push(sample);
        }
    }
    let mut out = Regions::new();
    for (region, samples) in by_region {
        let newest = stamps
            .iter()
            .filter(|s| s.labels.get("region") == Some(&region))
            .map(|s| s.value)
            .fold(f64::NEG_INFINITY, f64::max);
        let age = now - newest;
        let result = if age > fresh.as_secs_f64() {
            Err(format!(
                "Prometheus's newest sample of router {region} is {age:.0} s old"
            ))
        } else {
            parse_router_metrics(&exposition(&samples))
                .map_err(|e| format!("Prometheus answer: {e}"))
        };
        out.insert(region, result);
    }
    Ok(out)
}

/// One series' labels and value.
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

async fn instant(
    http: &HttpClient,
    base: &str,
    token: Option<&Secret>,
    promql: &str,
) -> Result<Vec<Sample>, String> {
    let url = ProviderUrl::parse(&format!("{base}/api/v1/query?query={}", encode(promql)))
        .map_err(|e| format!("Prometheus URL: {e}"))?;
    let mut headers = http::HeaderMap::new();
    if let Some(token) = token {
        let value = http::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| "the Prometheus token is not a valid header value".to_string())?;
        headers.insert(http::header::AUTHORIZATION, value);
    }
    let answer: serde_json::Value = http
        .json(http::Method::GET, &url, &headers, bytes::Bytes::new())
        .await
        .map_err(|e| format!("Prometheus at {base}: {e}"))?;
    if answer["status"] != "success" {
        return Err(format!(
            "Prometheus at {base}: {}",
            answer["error"].as_str().unwrap_or("query failed")
        ));
    }
    let results = answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(results
        .iter()
        .filter_map(|r| {
            let metric = r["metric"].as_object()?;
            let labels: BTreeMap<String, String> = metric
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
            let value = r["value"][1].as_str()?.parse().ok()?;
            Some(Sample {
                name: labels.get("__name__").cloned().unwrap_or_default(),
                labels,
                value,
            })
        })
        .collect())
}

/// The samples as the text a router serves (what the parser reads).
fn exposition(samples: &[&Sample]) -> String {
    let mut text = String::new();
    let family = |name: &str| {
        name.strip_suffix("_bucket")
            .or_else(|| name.strip_suffix("_sum"))
            .or_else(|| name.strip_suffix("_count"))
            .filter(|f| *f == "beacon_request_duration_seconds")
            .unwrap_or(name)
            .to_string()
    };
    let mut families: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        families.entry(family(&s.name)).or_default().push(s);
    }
    for (name, samples) in families {
        let kind = match name.as_str() {
            "beacon_request_duration_seconds" => "histogram",
            "beacon_routing_revision" => "gauge",
            _ => "counter",
        };
        let _ = writeln!(text, "# TYPE {name} {kind}");
        for s in samples {
            let labels: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "__name__" | "instance" | "job"))
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            let _ = writeln!(text, "{}{{{}}} {}", s.name, labels.join(","), s.value);
        }
    }
    text
}

/// Percent-encodes a query parameter (RFC 3986 unreserved kept).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_answer_reads_as_the_router_would_serve_it() {
        let s = |name: &str, extra: &[(&str, &str)], value: f64| {
            let mut labels: BTreeMap<String, String> = [
                ("__name__", name),
                ("instance", "127.0.0.1:1"),
                ("job", "beacon"),
                ("model", "m"),
                ("region", "r"),
                ("provider", "runpod"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Sample {
                name: name.into(),
                labels,
                value,
            }
        };
        let samples = [
            s("beacon_routing_revision", &[], 7.0),
            s("beacon_requests_total", &[("outcome", "ok")], 90.0),
            s(
                "beacon_requests_total",
                &[("outcome", "server_error")],
                10.0,
            ),
            s("beacon_routed_total", &[], 100.0),
            s(
                "beacon_request_duration_seconds_bucket",
                &[("le", "0.5")],
                60.0,
            ),
            s(
                "beacon_request_duration_seconds_bucket",
                &[("le", "+Inf")],
                100.0,
            ),
            s("beacon_request_duration_seconds_count", &[], 100.0),
            s("beacon_request_duration_seconds_sum", &[], 40.0),
        ];
        let refs: Vec<&Sample> = samples.iter().collect();
        let snap = parse_router_metrics(&exposition(&refs)).unwrap();
        assert_eq!(snap.revision, Some(7));
        let counts = &snap.counts[&("m".to_string(), "runpod".to_string())];
        assert_eq!(
            (counts.ok, counts.errors, counts.routed),
            (90.0, 10.0, 100.0)
        );
        assert_eq!(counts.buckets.len(), 2);
        assert_eq!(encode(r#"{a="b c"}"#), "%7Ba%3D%22b%20c%22%7D");
    }
}
