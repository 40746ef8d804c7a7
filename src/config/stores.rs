//! The variables of the two DynamoDB-backed features: the per-user quota (`SESSION_QUOTA`,
//! `QUOTA_TABLE`, `QUOTA_STORE_WAIT_MS`) and one session per device (`SESSION_STORE_TABLE`,
//! `SESSION_SEAL_SECRET_ID`, `SESSION_REUSE_MIN_REMAINING_SECONDS`, `SESSION_STORE_WAIT_MS`).

use std::ops::RangeInclusive;
use std::time::Duration;

use super::{invalid, ConfigError};
use crate::quotas::gate::{QuotaLimit, STORE_WAIT};

/// The per-user quota and where its counters live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaConfig {
    pub limit: QuotaLimit,
    pub table: String,
    /// `QUOTA_STORE_WAIT_MS`: the longest a request waits for DynamoDB (default 250).
    pub store_wait: Duration,
}

/// One session per device: where the sessions live and how they are sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// `SESSION_STORE_TABLE`.
    pub table: String,
    /// `SESSION_SEAL_SECRET_ID`: the seal secret's name or ARN.
    pub seal_secret_id: String,
    /// `SESSION_REUSE_MIN_REMAINING_SECONDS`: a stored session with less life left is replaced.
    pub min_remaining: Duration,
    /// `SESSION_STORE_WAIT_MS`: the bound on each store call.
    pub store_wait: Duration,
}

/// `SESSION_QUOTA` needs `QUOTA_TABLE`; the wait has a default and a range.
pub(super) fn quota_config(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<QuotaConfig>, ConfigError> {
    let Some(text) = get("SESSION_QUOTA") else {
        return Ok(None);
    };
    let limit = QuotaLimit::parse(&text).ok_or_else(|| {
        invalid("SESSION_QUOTA", "must be <N>/<SECONDS>, two positive whole numbers (e.g. 20/3600)")
    })?;
    let table = get("QUOTA_TABLE")
        .ok_or_else(|| invalid("QUOTA_TABLE", "is required with SESSION_QUOTA: the DynamoDB table"))?;
    let store_wait_ms =
        whole_number(get, "QUOTA_STORE_WAIT_MS", STORE_WAIT.as_millis() as u64, 1..=5000, "milliseconds")?;
    Ok(Some(QuotaConfig { limit, table, store_wait: Duration::from_millis(store_wait_ms) }))
}

/// The session store's variables: the seal secret is required with the table; the two
/// numbers have defaults and ranges.
pub(super) fn device_config(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<DeviceConfig>, ConfigError> {
    let Some(table) = get("SESSION_STORE_TABLE") else {
        return Ok(None);
    };
    let seal_secret_id = get("SESSION_SEAL_SECRET_ID").ok_or_else(|| {
        invalid(
            "SESSION_SEAL_SECRET_ID",
            "is required with SESSION_STORE_TABLE: the secret whose value seals the stored sessions",
        )
    })?;
    let min_remaining = whole_number(get, "SESSION_REUSE_MIN_REMAINING_SECONDS", 600, 0..=86_400, "seconds")?;
    let store_wait_ms = whole_number(get, "SESSION_STORE_WAIT_MS", 250, 1..=5000, "milliseconds")?;
    Ok(Some(DeviceConfig {
        table,
        seal_secret_id,
        min_remaining: Duration::from_secs(min_remaining),
        store_wait: Duration::from_millis(store_wait_ms),
    }))
}

/// `variable` as a whole number within `range` (`default` when unset).
fn whole_number(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, ConfigError> {
    let Some(text) = get(variable) else {
        return Ok(default);
    };
    text.parse::<u64>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        invalid(
            variable,
            format!("must be a whole number of {unit} from {} to {}", range.start(), range.end()),
        )
    })
}
