//! CloudWatch metrics in Embedded Metric Format: one JSON document per request
//! on stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into
//! metrics (namespace `ParsecSessionBroker`). No API calls, no extra latency.

use std::io::Write;
#[cfg(any(test, feature = "testing"))]
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::broker::{Counters, Outcome};
use crate::domain::error::BrokerError;

pub const NAMESPACE: &str = "ParsecSessionBroker";

/// Where the documents go.
#[derive(Clone, Default)]
pub enum MetricsSink {
    /// Off: nothing is written.
    #[default]
    Off,
    /// Lambda's stdout, in production.
    Stdout,
    /// Kept in memory, for tests (never in the Lambda binary).
    #[cfg(any(test, feature = "testing"))]
    Memory(Arc<Mutex<Vec<String>>>),
}

/// What one request contributes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RequestMetrics<'a> {
    pub created: bool,
    pub error_code: Option<&'a str>,
    pub upstream_latency: Option<Duration>,
    pub secret_fetches: u64,
    /// Background key refreshes that failed (the cached key was served).
    pub secret_refresh_failures: u64,
    /// Only with `SESSION_QUOTA`.
    pub quota: Option<QuotaMetrics>,
    /// Only with `SESSION_STORE_TABLE`.
    pub devices: Option<DeviceMetrics>,
}

/// The session store's part of a request's metrics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeviceMetrics {
    /// The request was answered with the device's stored session.
    pub reused: bool,
    /// Session store failures since the last request.
    pub store_failures: u64,
}

/// The quota's part of a request's metrics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct QuotaMetrics {
    /// The request was refused for the quota.
    pub exceeded: bool,
    /// Quota store failures since the last request.
    pub store_failures: u64,
}

impl<'a> RequestMetrics<'a> {
    /// What `outcome` contributes, with what the broker counted since the last request.
    pub fn of(outcome: &'a Outcome, counters: Counters) -> Self {
        let error_code = outcome.error_code();
        RequestMetrics {
            created: outcome.result.is_ok() && !outcome.reused(),
            error_code,
            upstream_latency: outcome.record.upstream_latency,
            secret_fetches: counters.secret_fetches,
            secret_refresh_failures: counters.secret_refresh_failures,
            quota: counters.quota_store_failures.map(|store_failures| QuotaMetrics {
                exceeded: matches!(outcome.result, Err(BrokerError::QuotaExceeded { .. })),
                store_failures,
            }),
            devices: counters
                .session_store_failures
                .map(|store_failures| DeviceMetrics { reused: outcome.reused(), store_failures }),
        }
    }
}

impl MetricsSink {
    pub fn record(&self, metrics: &RequestMetrics<'_>) {
        match self {
            MetricsSink::Off => {}
            MetricsSink::Stdout => {
                let document = document(metrics, epoch_millis());
                // A lost metric line must never fail the request.
                let _ = writeln!(std::io::stdout().lock(), "{document}");
            }
            #[cfg(any(test, feature = "testing"))]
            MetricsSink::Memory(lines) => {
                let document = document(metrics, epoch_millis());
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(document);
            }
        }
    }
}

/// The EMF document for one request.
pub fn document(m: &RequestMetrics<'_>, timestamp_ms: u64) -> String {
    let mut root = Map::new();
    let mut plain = vec![json!({"Name": "SessionsCreated", "Unit": "Count"})];
    root.insert("SessionsCreated".into(), json!(u8::from(m.created)));
    plain.push(json!({"Name": "SecretFetches", "Unit": "Count"}));
    root.insert("SecretFetches".into(), json!(m.secret_fetches));
    plain.push(json!({"Name": "SecretRefreshFailures", "Unit": "Count"}));
    root.insert("SecretRefreshFailures".into(), json!(m.secret_refresh_failures));
    if let Some(quota) = &m.quota {
        plain.push(json!({"Name": "QuotaExceeded", "Unit": "Count"}));
        root.insert("QuotaExceeded".into(), json!(u8::from(quota.exceeded)));
        plain.push(json!({"Name": "QuotaStoreFailures", "Unit": "Count"}));
        root.insert("QuotaStoreFailures".into(), json!(quota.store_failures));
    }
    if let Some(devices) = &m.devices {
        plain.push(json!({"Name": "SessionsReused", "Unit": "Count"}));
        root.insert("SessionsReused".into(), json!(u8::from(devices.reused)));
        plain.push(json!({"Name": "SessionStoreFailures", "Unit": "Count"}));
        root.insert("SessionStoreFailures".into(), json!(devices.store_failures));
    }
    if let Some(latency) = m.upstream_latency {
        plain.push(json!({"Name": "UpstreamLatency", "Unit": "Milliseconds"}));
        root.insert("UpstreamLatency".into(), json!(latency.as_secs_f64() * 1000.0));
    }
    let mut directives =
        vec![json!({"Namespace": NAMESPACE, "Dimensions": [[]], "Metrics": Value::Array(plain)})];
    if let Some(code) = m.error_code {
        directives.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": [["ErrorCode"]],
            "Metrics": [{"Name": "Errors", "Unit": "Count"}]
        }));
        root.insert("ErrorCode".into(), json!(code));
        root.insert("Errors".into(), json!(1));
    }
    root.insert("_aws".into(), json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}));
    Value::Object(root).to_string()
}

fn epoch_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_session_counts_with_its_latency_and_no_error() {
        let m = RequestMetrics {
            created: true,
            upstream_latency: Some(Duration::from_millis(12)),
            secret_fetches: 1,
            ..Default::default()
        };
        let doc: Value = serde_json::from_str(&document(&m, 42)).unwrap();
        assert_eq!(doc["SessionsCreated"], 1);
        assert_eq!(doc["UpstreamLatency"], 12.0);
        assert_eq!(doc["SecretFetches"], 1);
        assert_eq!(doc["SecretRefreshFailures"], 0);
        assert!(doc.get("Errors").is_none());
        assert!(doc.get("QuotaExceeded").is_none(), "no quota metrics without a quota");
        assert_eq!(doc["_aws"]["Timestamp"], 42);
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        assert_eq!(directives[0]["Namespace"], NAMESPACE);
    }

    #[test]
    fn an_error_is_counted_by_code_and_every_listed_metric_has_a_value() {
        let m = RequestMetrics {
            error_code: Some("upstream_throttled"),
            quota: Some(QuotaMetrics { exceeded: false, store_failures: 2 }),
            ..Default::default()
        };
        let doc: Value = serde_json::from_str(&document(&m, 1)).unwrap();
        assert_eq!(doc["ErrorCode"], "upstream_throttled");
        assert_eq!(doc["Errors"], 1);
        assert_eq!(doc["QuotaStoreFailures"], 2);
        assert_eq!(doc["QuotaExceeded"], 0);
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for metric in directive["Metrics"].as_array().unwrap() {
                assert!(doc.get(metric["Name"].as_str().unwrap()).is_some(), "{metric}");
            }
            for set in directive["Dimensions"].as_array().unwrap() {
                for dim in set.as_array().unwrap() {
                    assert!(doc.get(dim.as_str().unwrap()).is_some());
                }
            }
        }
    }
}
