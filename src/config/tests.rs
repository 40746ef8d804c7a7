//! Every variable: defaults, empty values, each refusal naming its variable.
use super::*;
use std::collections::HashMap;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(|name| map.get(name).cloned())
}

fn with_secret(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
    let mut vars = vec![("PARSEC_SECRET_ID", "parsec/enterprise")];
    vars.extend_from_slice(extra);
    config(&vars)
}

fn failing_variable(extra: &[(&'static str, &'static str)]) -> &'static str {
    with_secret(extra).unwrap_err().variable
}

#[test]
fn defaults_follow_the_contract() {
    let c = with_secret(&[]).unwrap();
    assert_eq!(c.secret_field, "api_key");
    assert_eq!(c.sessions_url.as_str(), "https://kessel-api.parsecgaming.com/enterprise/sessions");
    assert_eq!(c.external_id_source, ExternalIdSource::Claim);
    assert_eq!(c.external_id_claim, "sub");
    assert_eq!(c.required_scope, None);
    assert_eq!(c.secret_cache_ttl, Duration::from_secs(300));
    assert_eq!(c.parsec_timeout, Duration::from_millis(5000));
    assert!(!c.parsec_warm_up);
}

#[test]
fn a_missing_secret_id_names_the_variable() {
    assert_eq!(config(&[]).unwrap_err().variable, "PARSEC_SECRET_ID");
    assert_eq!(config(&[("PARSEC_SECRET_ID", "")]).unwrap_err().variable, "PARSEC_SECRET_ID");
}

#[test]
fn empty_variables_count_as_unset() {
    let c = with_secret(&[
        ("PARSEC_SECRET_FIELD", ""),
        ("PARSEC_API_URL", ""),
        ("EXTERNAL_ID_SOURCE", ""),
        ("REQUIRED_SCOPE", ""),
        ("SECRET_CACHE_TTL_SECONDS", ""),
        ("PARSEC_TIMEOUT_MS", ""),
    ])
    .unwrap();
    assert_eq!(c, with_secret(&[]).unwrap());
}

#[test]
fn plain_http_is_refused_unless_the_host_is_loopback() {
    assert_eq!(failing_variable(&[("PARSEC_API_URL", "http://parsec.example.com")]), "PARSEC_API_URL");
    assert_eq!(failing_variable(&[("PARSEC_API_URL", "http://10.0.0.1:80")]), "PARSEC_API_URL");
    assert_eq!(failing_variable(&[("PARSEC_API_URL", "ftp://127.0.0.1")]), "PARSEC_API_URL");
    assert_eq!(failing_variable(&[("PARSEC_API_URL", "not a url")]), "PARSEC_API_URL");
    assert_eq!(failing_variable(&[("PARSEC_API_URL", "https://u:p@host")]), "PARSEC_API_URL");
    for ok in ["http://127.0.0.1:9000", "http://127.1.2.3", "http://[::1]:8080", "http://LOCALHOST:1"] {
        assert!(with_secret(&[("PARSEC_API_URL", ok)]).is_ok(), "{ok}");
    }
}

#[test]
fn the_sessions_path_is_joined_to_a_base_with_or_without_a_path() {
    let c = with_secret(&[("PARSEC_API_URL", "http://127.0.0.1:9000/")]).unwrap();
    assert_eq!(c.sessions_url.as_str(), "http://127.0.0.1:9000/enterprise/sessions");
    let c = with_secret(&[
        ("PARSEC_API_URL", "https://proxy.example.com/parsec/"),
        ("PARSEC_API_URL_ALLOW_ANY_HOST", "true"),
    ])
    .unwrap();
    assert_eq!(c.sessions_url.as_str(), "https://proxy.example.com/parsec/enterprise/sessions");
}

#[test]
fn numbers_and_modes_are_validated() {
    assert_eq!(failing_variable(&[("EXTERNAL_ID_SOURCE", "header")]), "EXTERNAL_ID_SOURCE");
    assert_eq!(failing_variable(&[("SECRET_CACHE_TTL_SECONDS", "-1")]), "SECRET_CACHE_TTL_SECONDS");
    assert_eq!(failing_variable(&[("SECRET_CACHE_TTL_SECONDS", "5m")]), "SECRET_CACHE_TTL_SECONDS");
    assert_eq!(failing_variable(&[("PARSEC_TIMEOUT_MS", "0")]), "PARSEC_TIMEOUT_MS");
    assert_eq!(failing_variable(&[("PARSEC_TIMEOUT_MS", "1.5")]), "PARSEC_TIMEOUT_MS");
    assert_eq!(failing_variable(&[("REQUIRED_SCOPE", "a b")]), "REQUIRED_SCOPE");
    assert_eq!(failing_variable(&[("PARSEC_WARM_UP", "yes")]), "PARSEC_WARM_UP");
    assert!(with_secret(&[("PARSEC_WARM_UP", "TRUE")]).unwrap().parsec_warm_up);
    let c = with_secret(&[
        ("EXTERNAL_ID_SOURCE", "body"),
        ("TRUSTED_CALLERS", "scope:parsec/backend"),
        ("SECRET_CACHE_TTL_SECONDS", "0"),
        ("PARSEC_TIMEOUT_MS", "250"),
        ("REQUIRED_SCOPE", "parsec/sessions"),
    ])
    .unwrap();
    assert_eq!(c.external_id_source, ExternalIdSource::Body);
    assert_eq!(c.secret_cache_ttl, Duration::ZERO);
    assert_eq!(c.parsec_timeout, Duration::from_millis(250));
    assert_eq!(c.required_scope.as_deref(), Some("parsec/sessions"));
}

#[test]
fn the_error_message_names_the_variable() {
    let e = failing_variable(&[("PARSEC_TIMEOUT_MS", "soon")]);
    assert_eq!(e, "PARSEC_TIMEOUT_MS");
    assert!(with_secret(&[("PARSEC_TIMEOUT_MS", "soon")])
        .unwrap_err()
        .to_string()
        .contains("PARSEC_TIMEOUT_MS"));
}

#[test]
fn trusted_callers_must_be_of_the_four_forms_and_body_mode_requires_them() {
    assert_eq!(failing_variable(&[("TRUSTED_CALLERS", "backend")]), "TRUSTED_CALLERS");
    assert_eq!(failing_variable(&[("TRUSTED_CALLERS", "role:not-an-arn")]), "TRUSTED_CALLERS");
    assert_eq!(failing_variable(&[("EXTERNAL_ID_SOURCE", "body")]), "TRUSTED_CALLERS");
    let c = with_secret(&[("EXTERNAL_ID_SOURCE", "body"), ("TRUSTED_CALLERS", "client_id:backend")]).unwrap();
    assert!(!c.trusted_callers.is_empty());
    assert!(c.warnings.is_empty());
}

#[test]
fn a_claim_users_can_edit_stops_start_up_unless_explicitly_allowed() {
    for claim in [
        "email",
        "phone_number",
        "preferred_username",
        "name",
        "nickname",
        "given_name",
        "family_name",
        "custom:player_id",
        "Email",
    ] {
        assert_eq!(failing_variable(&[("EXTERNAL_ID_CLAIM", claim)]), "EXTERNAL_ID_CLAIM", "{claim}");
    }
    let c =
        with_secret(&[("EXTERNAL_ID_CLAIM", "email"), ("ALLOW_MUTABLE_EXTERNAL_ID_CLAIM", "true")]).unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.warnings[0].variable, "EXTERNAL_ID_CLAIM");
    for claim in ["sub", "cognitoIdentityId", "username", "player_number"] {
        assert!(with_secret(&[("EXTERNAL_ID_CLAIM", claim)]).is_ok(), "{claim}");
    }
    let bad_flag = [("EXTERNAL_ID_CLAIM", "email"), ("ALLOW_MUTABLE_EXTERNAL_ID_CLAIM", "yes")];
    assert_eq!(failing_variable(&bad_flag), "ALLOW_MUTABLE_EXTERNAL_ID_CLAIM");
}

#[test]
fn the_key_goes_only_to_parsecs_host_unless_explicitly_allowed() {
    for other in [
        "https://evil.example.com",
        "https://kessel-api.parsecgaming.com.evil.example",
        "https://parsecgaming.com",
    ] {
        assert_eq!(failing_variable(&[("PARSEC_API_URL", other)]), "PARSEC_API_URL", "{other}");
    }
    assert!(with_secret(&[("PARSEC_API_URL", "https://KESSEL-API.parsecgaming.com/")]).is_ok());
    let current = with_secret(&[("PARSEC_API_URL", "https://kessel-api.parsec.app")]).unwrap();
    assert!(current.warnings.is_empty(), "the host Parsec's current clients use passes the pin");
    assert_eq!(current.sessions_url.as_str(), "https://kessel-api.parsec.app/enterprise/sessions");
    assert_eq!(
        failing_variable(&[("PARSEC_API_URL", "https://kessel-api.parsec.app.evil.example")]),
        "PARSEC_API_URL"
    );
    for loopback in ["https://127.0.0.1:8443", "https://localhost", "http://[::1]:9"] {
        assert!(with_secret(&[("PARSEC_API_URL", loopback)]).unwrap().warnings.is_empty(), "{loopback}");
    }
    let c = with_secret(&[
        ("PARSEC_API_URL", "https://parsec-proxy.example.com"),
        ("PARSEC_API_URL_ALLOW_ANY_HOST", "true"),
    ])
    .unwrap();
    assert_eq!(c.warnings[0].variable, "PARSEC_API_URL");
}

#[test]
fn a_quota_needs_n_per_seconds_and_a_table() {
    assert_eq!(with_secret(&[]).unwrap().quota, None);
    assert_eq!(with_secret(&[("SESSION_QUOTA", ""), ("QUOTA_TABLE", "t")]).unwrap().quota, None);
    assert_eq!(failing_variable(&[("SESSION_QUOTA", "20/3600")]), "QUOTA_TABLE");
    for bad in ["20", "0/3600", "20/0", "x/y", "-1/60", "20 per hour"] {
        assert_eq!(
            failing_variable(&[("SESSION_QUOTA", bad), ("QUOTA_TABLE", "t")]),
            "SESSION_QUOTA",
            "{bad}"
        );
    }
    let c = with_secret(&[("SESSION_QUOTA", "20/3600"), ("QUOTA_TABLE", "quotas")]).unwrap();
    let quota = c.quota.unwrap();
    assert_eq!((quota.limit.limit, quota.limit.window_secs, quota.table.as_str()), (20, 3600, "quotas"));
    assert_eq!(quota.store_wait, Duration::from_millis(250));
    let bad_wait = [("SESSION_QUOTA", "1/60"), ("QUOTA_TABLE", "t"), ("QUOTA_STORE_WAIT_MS", "0")];
    assert_eq!(failing_variable(&bad_wait), "QUOTA_STORE_WAIT_MS");
}

#[test]
fn a_session_store_needs_its_seal_secret_and_its_numbers_in_range() {
    assert_eq!(with_secret(&[]).unwrap().devices, None);
    assert_eq!(failing_variable(&[("SESSION_STORE_TABLE", "sessions")]), "SESSION_SEAL_SECRET_ID");
    let store = [("SESSION_STORE_TABLE", "sessions"), ("SESSION_SEAL_SECRET_ID", "parsec/seal")];
    let devices = with_secret(&store).unwrap().devices.unwrap();
    assert_eq!((devices.table.as_str(), devices.seal_secret_id.as_str()), ("sessions", "parsec/seal"));
    assert_eq!(devices.min_remaining, Duration::from_secs(600));
    assert_eq!(devices.store_wait, Duration::from_millis(250));
    for (variable, bad) in [
        ("SESSION_STORE_WAIT_MS", "0"),
        ("SESSION_STORE_WAIT_MS", "5001"),
        ("SESSION_STORE_WAIT_MS", "fast"),
        ("SESSION_REUSE_MIN_REMAINING_SECONDS", "-1"),
        ("SESSION_REUSE_MIN_REMAINING_SECONDS", "86401"),
    ] {
        let mut vars = store.to_vec();
        vars.push((variable, bad));
        assert_eq!(failing_variable(&vars), variable, "{bad}");
    }
    let mut vars = store.to_vec();
    vars.extend([("SESSION_STORE_WAIT_MS", "5000"), ("SESSION_REUSE_MIN_REMAINING_SECONDS", "0")]);
    let devices = with_secret(&vars).unwrap().devices.unwrap();
    assert_eq!((devices.store_wait, devices.min_remaining), (Duration::from_millis(5000), Duration::ZERO));
}

#[test]
fn jwt_issuer_and_audience_come_together_and_the_jwks_url_defaults_under_the_issuer() {
    let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example";
    let c = with_secret(&[("JWT_ISSUER", issuer), ("JWT_AUDIENCE", "app-a, app-b")]).unwrap();
    let jwt = c.jwt.unwrap();
    assert_eq!(jwt.audiences, vec!["app-a".to_owned(), "app-b".to_owned()]);
    assert_eq!(jwt.jwks_url.as_str(), format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(with_secret(&[]).unwrap().jwt, None);
    assert_eq!(failing_variable(&[("JWT_ISSUER", issuer)]), "JWT_AUDIENCE");
    assert_eq!(failing_variable(&[("JWT_AUDIENCE", "a")]), "JWT_ISSUER");
    assert_eq!(failing_variable(&[("JWT_JWKS_URL", "https://x.example/jwks")]), "JWT_ISSUER");
    assert_eq!(failing_variable(&[("JWT_ISSUER", issuer), ("JWT_AUDIENCE", "a,,b")]), "JWT_AUDIENCE");
}

#[test]
fn the_jwks_url_is_https_or_http_to_loopback_only() {
    let with_url = |url: &'static str| {
        with_secret(&[("JWT_ISSUER", "https://issuer.example"), ("JWT_AUDIENCE", "a"), ("JWT_JWKS_URL", url)])
    };
    assert!(with_url("https://issuer.example/keys").is_ok());
    assert!(with_url("http://127.0.0.1:9000/jwks.json").is_ok());
    assert_eq!(with_url("http://issuer.example/keys").unwrap_err().variable, "JWT_JWKS_URL");
    assert_eq!(with_url("https://user:pw@issuer.example/keys").unwrap_err().variable, "JWT_JWKS_URL");
    assert_eq!(with_url("ftp://issuer.example/keys").unwrap_err().variable, "JWT_JWKS_URL");
    let plain = with_secret(&[("JWT_ISSUER", "http://issuer.example"), ("JWT_AUDIENCE", "a")]);
    assert_eq!(plain.unwrap_err().variable, "JWT_ISSUER", "the derived URL is checked too");
}

#[test]
fn an_sdk_endpoint_outside_aws_and_loopback_warns_naming_its_variable() {
    let warned = |vars: &[(&'static str, &'static str)]| -> Vec<&'static str> {
        with_secret(vars).unwrap().warnings.iter().map(|w| w.variable).collect()
    };
    assert!(warned(&[
        ("AWS_ENDPOINT_URL", "https://secretsmanager.eu-west-1.amazonaws.com"),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:5000"),
        ("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.eu-west-1.api.aws"),
    ])
    .is_empty());
    assert!(warned(&[("AWS_ENDPOINT_URL", "http://localhost:4566")]).is_empty());
    assert!(
        warned(&[("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.cn-north-1.amazonaws.com.cn")]).is_empty()
    );
    assert_eq!(
        warned(&[("AWS_ENDPOINT_URL_SECRETS_MANAGER", "https://proxy.example.com")]),
        ["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
    );
    assert_eq!(warned(&[("AWS_ENDPOINT_URL", "https://amazonaws.com.evil.example")]), ["AWS_ENDPOINT_URL"]);
    assert_eq!(warned(&[("AWS_ENDPOINT_URL_DYNAMODB", "not a url")]), ["AWS_ENDPOINT_URL_DYNAMODB"]);
}

#[test]
fn plain_http_to_a_private_address_is_allowed_only_under_sam_local_and_warns() {
    let docker = [("PARSEC_API_URL", "http://172.29.77.1:9001")];
    assert_eq!(failing_variable(&docker), "PARSEC_API_URL", "a deployed function refuses it");
    let local = with_secret(&[docker[0], ("AWS_SAM_LOCAL", "true")]).unwrap();
    assert_eq!(local.sessions_url.as_str(), "http://172.29.77.1:9001/enterprise/sessions");
    assert!(local.warnings.iter().any(|w| w.variable == "PARSEC_API_URL" && w.message.contains("sam local")));
    for elsewhere in ["http://8.8.8.8:9001", "http://parsec.example.com", "http://host.docker.internal:9001"]
    {
        let refused = with_secret(&[("PARSEC_API_URL", elsewhere), ("AWS_SAM_LOCAL", "true")]);
        assert_eq!(refused.unwrap_err().variable, "PARSEC_API_URL", "{elsewhere}");
    }
    let loopback = with_secret(&[("PARSEC_API_URL", "http://127.0.0.1:9001")]).unwrap();
    assert!(loopback.warnings.is_empty(), "loopback is the ordinary local case: no warning");
}
