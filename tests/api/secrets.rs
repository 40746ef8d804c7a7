//! Secrets Manager behaviour: Init fetch, TTL, cold and warm failures.

use crate::helpers::*;

#[tokio::test]
async fn the_key_is_fetched_during_init_and_reused_within_the_ttl() {
    let app = TestApp::spawn().await.init().await;
    assert_eq!(app.secrets.fetches(), 1);
    for _ in 0..3 {
        assert_created(&app.send(event("http-api-jwt.json")).await);
    }
    assert_eq!(app.secrets.fetches(), 1);
}

#[tokio::test]
async fn a_zero_ttl_fetches_the_key_for_every_request() {
    let app = TestApp::spawn_with(&[("SECRET_CACHE_TTL_SECONDS", "0")]).await.init().await;
    for _ in 0..3 {
        assert_created(&app.send(event("http-api-jwt.json")).await);
    }
    assert_eq!(app.secrets.fetches(), 4);
}

#[tokio::test]
async fn secrets_manager_down_at_cold_start_is_503_with_retry_after_until_it_recovers() {
    let app = TestApp::spawn().await;
    app.secrets.set(transient());
    let app = app.init().await;
    let response = app.send(event("http-api-jwt.json")).await;
    assert_error(&response, 503, "secret_unavailable");
    assert!(response.header("retry-after").is_some_and(|v| v.parse::<u32>().is_ok()));
    assert_eq!(app.parsec_calls().await, 0);
    app.secrets.set(versioned(KEY_V1, "v1"));
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_eq!(app.secrets.fetches(), 3);
}

#[tokio::test]
async fn secrets_manager_down_when_warm_keeps_serving_the_cached_key() {
    let app = TestApp::spawn_with(&[("SECRET_CACHE_TTL_SECONDS", "0")]).await.init().await;
    app.secrets.set(transient());
    for _ in 0..5 {
        assert_created(&app.send(event("http-api-jwt.json")).await);
    }
    let warnings = app.logs.text().matches("serving the cached key").count();
    assert_eq!(warnings, 1, "one warning per failed refresh, not per request");
    assert_eq!(app.secrets.fetches(), 2, "the Init fetch and one refresh; then the back-off");
    let failures: u64 =
        app.metric_documents().iter().map(|d| d["SecretRefreshFailures"].as_u64().unwrap()).sum();
    assert_eq!(failures, 1);
    app.secrets.set(versioned(KEY_V1, "v1"));
    assert_created(&app.send(event("http-api-jwt.json")).await);
}

#[tokio::test]
async fn an_unusable_secret_is_500_misconfigured_and_says_nothing_internal() {
    let app = TestApp::spawn().await;
    app.secrets.set(misconfigured());
    let app = app.init().await;
    let response = app.send(event("http-api-jwt.json")).await;
    assert_error(&response, 500, "misconfigured");
    let text = response.body.to_string();
    assert!(!text.contains("parsec/enterprise") && !text.contains("AccessDenied"), "{text}");
    assert_eq!(app.parsec_calls().await, 0);
    assert!(app.logs.text().contains("AccessDeniedException"), "the reason goes to the log");
}

#[tokio::test]
async fn a_secret_that_becomes_unusable_stops_sessions_even_with_a_key_cached() {
    let app = TestApp::spawn_with(&[("SECRET_CACHE_TTL_SECONDS", "0")]).await.init().await;
    app.secrets.set(misconfigured());
    assert_error(&app.send(event("http-api-jwt.json")).await, 500, "misconfigured");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn client_errors_do_not_touch_secrets_manager_or_parsec() {
    let app = TestApp::spawn_with(&[("SECRET_CACHE_TTL_SECONDS", "0")]).await.init().await;
    for name in [
        "http-api-no-authorizer.json",
        "http-api-jwt-get.json",
        "http-api-jwt-text-plain.json",
        "http-api-jwt-other-user.json",
    ] {
        assert!(app.send(event(name)).await.status >= 400);
    }
    assert_eq!(app.secrets.fetches(), 1);
    assert_eq!(app.parsec_calls().await, 0);
}
