//! The function's configuration, read once at start-up. A missing or invalid
//! variable is a [`ConfigError`] naming it; `main` logs it and stops.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

mod stores;
pub use stores::{DeviceConfig, QuotaConfig};

use crate::domain::policy::{is_user_editable_claim, ExternalIdSource};
use crate::domain::trust::TrustedCallers;

pub const DEFAULT_API_URL: &str = "https://kessel-api.parsecgaming.com";
/// The `https` hosts the key is sent to unless `PARSEC_API_URL_ALLOW_ANY_HOST`: the
/// documented one and the one Parsec's current clients use.
pub const PARSEC_HOSTS: [&str; 2] = ["kessel-api.parsecgaming.com", "kessel-api.parsec.app"];
const SESSIONS_PATH: &str = "enterprise/sessions";
/// Lambda's longest invocation; a larger upstream budget can never be used.
const MAX_TIMEOUT_MS: u64 = 900_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub secret_id: String,
    pub secret_field: String,
    /// `{PARSEC_API_URL}/enterprise/sessions`, checked and joined once.
    pub sessions_url: Url,
    pub external_id_source: ExternalIdSource,
    pub external_id_claim: String,
    pub required_scope: Option<String>,
    pub secret_cache_ttl: Duration,
    pub parsec_timeout: Duration,
    /// `PARSEC_WARM_UP`: open the Parsec connection during Init with a `GET /`
    /// (creates nothing). Off unless set, so Parsec sees only session requests.
    pub parsec_warm_up: bool,
    /// `TRUSTED_CALLERS`: who may name a user in `body` mode.
    pub trusted_callers: TrustedCallers,
    /// `SESSION_QUOTA` and `QUOTA_TABLE`; `None`: no quota, no table, no DynamoDB call.
    pub quota: Option<QuotaConfig>,
    /// `SESSION_STORE_TABLE` and its companions; `None`: every request mints, as without `device_id`.
    pub devices: Option<DeviceConfig>,
    /// `JWT_ISSUER` and `JWT_AUDIENCE`: every caller's token is re-verified.
    pub jwt: Option<JwtConfig>,
    /// What start-up warns about: escape hatches that are switched on.
    pub warnings: Vec<ConfigWarning>,
}

/// Whose tokens the function re-verifies, and where their keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    pub issuer: String,
    /// `JWT_AUDIENCE`, comma-separated: a token's `aud` (or `client_id`) must be one.
    pub audiences: Vec<String>,
    /// `JWT_JWKS_URL`, else `<JWT_ISSUER>/.well-known/jwks.json`.
    pub jwks_url: Url,
}

/// A setting that is allowed but weakens a guarantee; logged at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub variable: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {} {}", self.variable, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError { variable, reason: reason.into() }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`; an empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());

        let secret_id = get("PARSEC_SECRET_ID")
            .ok_or_else(|| invalid("PARSEC_SECRET_ID", "is required: the secret's name or ARN"))?;
        let secret_field = get("PARSEC_SECRET_FIELD").unwrap_or_else(|| "api_key".to_owned());
        let mut warnings = Vec::new();
        let api_url = get("PARSEC_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        // `sam local` sets AWS_SAM_LOCAL=true in its container; Lambda never does, and the
        // template does not declare it. Only then may plain http reach a private address:
        // the stand-ins on the Docker network `make invoke` creates (SECURITY.md).
        let sam_local = get("AWS_SAM_LOCAL").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let sessions_url = sessions_url(&api_url, sam_local)?;
        if sessions_url.scheme() == "http" && !is_loopback(&sessions_url) {
            warnings.push(ConfigWarning {
                variable: "PARSEC_API_URL",
                message: format!(
                    "the API key is sent over plain http to {} on a private network: allowed only under sam local (AWS_SAM_LOCAL=true)",
                    sessions_url.host_str().unwrap_or("")
                ),
            });
        }
        if sessions_url.scheme() == "https" && !is_loopback(&sessions_url) && !is_parsec(&sessions_url) {
            if !flag(&get, "PARSEC_API_URL_ALLOW_ANY_HOST")? {
                return Err(invalid(
                    "PARSEC_API_URL",
                    "must be on kessel-api.parsecgaming.com or kessel-api.parsec.app (or loopback); set PARSEC_API_URL_ALLOW_ANY_HOST=true to send the key elsewhere",
                ));
            }
            warnings.push(ConfigWarning {
                variable: "PARSEC_API_URL",
                message: format!(
                    "the API key is sent to {}, not Parsec's own host",
                    sessions_url.host_str().unwrap_or("")
                ),
            });
        }

        let external_id_source = match get("EXTERNAL_ID_SOURCE").as_deref() {
            None => ExternalIdSource::Claim,
            Some(v) if v.eq_ignore_ascii_case("claim") => ExternalIdSource::Claim,
            Some(v) if v.eq_ignore_ascii_case("body") => ExternalIdSource::Body,
            Some(_) => return Err(invalid("EXTERNAL_ID_SOURCE", "must be `claim` or `body`")),
        };
        let external_id_claim = get("EXTERNAL_ID_CLAIM").unwrap_or_else(|| "sub".to_owned());
        if is_user_editable_claim(&external_id_claim) {
            if !flag(&get, "ALLOW_MUTABLE_EXTERNAL_ID_CLAIM")? {
                return Err(invalid(
                    "EXTERNAL_ID_CLAIM",
                    "names a claim users can change; choose an immutable one such as `sub`, or set ALLOW_MUTABLE_EXTERNAL_ID_CLAIM=true",
                ));
            }
            warnings.push(ConfigWarning {
                variable: "EXTERNAL_ID_CLAIM",
                message: format!("`{external_id_claim}` can be changed by users: one may take over another's Parsec identity"),
            });
        }
        let trusted_callers = match get("TRUSTED_CALLERS") {
            Some(text) => TrustedCallers::parse(&text).map_err(|why| invalid("TRUSTED_CALLERS", why))?,
            None => TrustedCallers::default(),
        };
        if external_id_source == ExternalIdSource::Body && trusted_callers.is_empty() {
            return Err(invalid(
                "TRUSTED_CALLERS",
                "is required with EXTERNAL_ID_SOURCE=body: who may name a user",
            ));
        }
        let required_scope = get("REQUIRED_SCOPE");
        if required_scope.as_deref().is_some_and(|s| s.chars().any(char::is_whitespace)) {
            return Err(invalid("REQUIRED_SCOPE", "must be a single scope without spaces"));
        }

        let ttl = match get("SECRET_CACHE_TTL_SECONDS") {
            None => 300,
            Some(v) => v.parse::<u64>().map_err(|_| {
                invalid("SECRET_CACHE_TTL_SECONDS", "must be a whole number of seconds (0 or more)")
            })?,
        };
        let timeout_ms = match get("PARSEC_TIMEOUT_MS") {
            None => 5000,
            Some(v) => {
                v.parse::<u64>().ok().filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms)).ok_or_else(|| {
                    invalid("PARSEC_TIMEOUT_MS", "must be a positive whole number of milliseconds")
                })?
            }
        };

        let parsec_warm_up = flag(&get, "PARSEC_WARM_UP")?;
        let quota = stores::quota_config(&get)?;
        let devices = stores::device_config(&get)?;
        let jwt = jwt_config(&get)?;
        warnings.extend(endpoint_warnings(&get));

        Ok(Config {
            secret_id,
            secret_field,
            sessions_url,
            external_id_source,
            external_id_claim,
            required_scope,
            secret_cache_ttl: Duration::from_secs(ttl),
            parsec_timeout: Duration::from_millis(timeout_ms),
            parsec_warm_up,
            trusted_callers,
            quota,
            devices,
            jwt,
            warnings,
        })
    }
}

fn jwt_config(get: &impl Fn(&str) -> Option<String>) -> Result<Option<JwtConfig>, ConfigError> {
    let (issuer, audience) = match (get("JWT_ISSUER"), get("JWT_AUDIENCE")) {
        (None, None) => {
            if get("JWT_JWKS_URL").is_some() {
                return Err(invalid("JWT_ISSUER", "is required with JWT_JWKS_URL: whose keys they are"));
            }
            return Ok(None);
        }
        (Some(_), None) => {
            return Err(invalid(
                "JWT_AUDIENCE",
                "is required with JWT_ISSUER: the audiences (comma-separated)",
            ))
        }
        (None, Some(_)) => {
            return Err(invalid("JWT_ISSUER", "is required with JWT_AUDIENCE: the token issuer"))
        }
        (Some(issuer), Some(audience)) => (issuer, audience),
    };
    let audiences: Vec<String> = audience.split(',').map(|a| a.trim().to_owned()).collect();
    if audiences.iter().any(String::is_empty) {
        return Err(invalid("JWT_AUDIENCE", "has an empty entry"));
    }
    let (variable, text) = match get("JWT_JWKS_URL") {
        Some(url) => ("JWT_JWKS_URL", url),
        None => ("JWT_ISSUER", format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))),
    };
    let jwks_url = Url::parse(&text).map_err(|_| match variable {
        "JWT_JWKS_URL" => invalid(variable, "is not a valid URL"),
        _ => invalid(variable, "is not a URL the JWKS can be found under; set JWT_JWKS_URL"),
    })?;
    if !jwks_url.username().is_empty() || jwks_url.password().is_some() {
        return Err(invalid(variable, "must not carry credentials"));
    }
    match jwks_url.scheme() {
        "https" => {}
        "http" if is_loopback(&jwks_url) => {}
        _ => {
            return Err(invalid(variable, "must be an https URL (http only to a loopback host) for the JWKS"))
        }
    }
    Ok(Some(JwtConfig { issuer, audiences, jwks_url }))
}

/// The SDK endpoint variables: a changed endpoint receives the signed
/// `GetSecretValue`, and the key in its answer.
pub const ENDPOINT_VARIABLES: [&str; 3] =
    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB"];

/// One warning per SDK endpoint variable that points anywhere but AWS's own
/// domains or loopback.
fn endpoint_warnings(get: &impl Fn(&str) -> Option<String>) -> Vec<ConfigWarning> {
    const AWS_DOMAINS: [&str; 3] = ["amazonaws.com", "amazonaws.com.cn", "api.aws"];
    ENDPOINT_VARIABLES
        .into_iter()
        .filter_map(|variable| {
            let text = get(variable)?;
            let url = Url::parse(&text).ok();
            let trusted = url.as_ref().is_some_and(|url| {
                is_loopback(url)
                    || url.host_str().is_some_and(|host| {
                        let host = host.to_ascii_lowercase();
                        AWS_DOMAINS.iter().any(|d| host == *d || host.ends_with(&format!(".{d}")))
                    })
            });
            (!trusted).then(|| ConfigWarning {
                variable,
                message: format!(
                    "the AWS SDK is sent to {}, neither AWS nor loopback: that endpoint receives the signed requests and the key in Secrets Manager's answer",
                    url.as_ref().and_then(Url::host_str).unwrap_or("an unreadable endpoint")
                ),
            })
        })
        .collect()
}

/// A `true`/`false` variable (also `1`/`0`, in any case); unset is `false`.
fn flag(get: &impl Fn(&str) -> Option<String>, variable: &'static str) -> Result<bool, ConfigError> {
    match get(variable).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(invalid(variable, "must be `true` or `false`")),
    }
}

fn is_parsec(url: &Url) -> bool {
    url.host_str().is_some_and(|host| PARSEC_HOSTS.iter().any(|parsec| host.eq_ignore_ascii_case(parsec)))
}

/// Checks the base URL (https, or http to a loopback host only; under `sam local`
/// also to a private IPv4 address) and joins the sessions path to it.
fn sessions_url(base: &str, sam_local: bool) -> Result<Url, ConfigError> {
    const VAR: &str = "PARSEC_API_URL";
    let url = Url::parse(base).map_err(|_| invalid(VAR, "is not a valid URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(VAR, "must not carry credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(VAR, "must not have a query or fragment"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" if sam_local && is_private_ipv4(&url) => {}
        "http" => return Err(invalid(VAR, "must use https unless the host is loopback")),
        _ => return Err(invalid(VAR, "must be an https URL")),
    }
    let base_path = url.path().trim_end_matches('/');
    let mut joined = url.clone();
    joined.set_path(&format!("{base_path}/{SESSIONS_PATH}"));
    Ok(joined)
}

/// An RFC 1918 address literal, as Docker gives its bridge networks.
fn is_private_ipv4(url: &Url) -> bool {
    matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_private())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests;
