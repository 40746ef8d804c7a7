//! Per-user session quotas against moto's DynamoDB (the real DynamoDB API over HTTP on
//! 127.0.0.1, started here like the Secrets Manager emulator of the end-to-end run), and
//! against a DynamoDB that refuses connections or never answers. See `docs/contract.md`,
//! "Per-user quota".

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use session_broker::quotas::dynamodb::DynamoQuotaStore;
use session_broker::testing::MemoryQuotaStore;

use crate::helpers::*;
use crate::local_dynamodb::{create_table, dynamodb, free_port, LocalDynamo};

const TABLE: &str = "parsec-session-quotas";

/// moto's DynamoDB with the quota table. The store wait is raised from 250 ms: these tests are
/// about the conditional write, and moto on a busy 2-core runner can take longer than
/// DynamoDB would (the fallback has tests of its own below).
async fn with_moto(quota: &str) -> (TestApp, LocalDynamo, aws_sdk_dynamodb::Client) {
    let moto = LocalDynamo::moto();
    let client = dynamodb(&moto.endpoint).await;
    create_table(&client, TABLE, true).await;
    let store = TestQuotas::Dynamo(DynamoQuotaStore::new(client.clone(), TABLE.into()));
    let env = [
        ("SESSION_QUOTA", quota),
        ("QUOTA_TABLE", TABLE),
        ("QUOTA_STORE_WAIT_MS", "5000"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
    ];
    let app = TestApp::spawn_with_quotas(&env, Some(store)).await.init().await;
    (app, moto, client)
}

async fn items(
    client: &aws_sdk_dynamodb::Client,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    client.scan().table_name(TABLE).send().await.unwrap().items.unwrap_or_default()
}

/// `count` requests for user-42, all in flight at once.
async fn burst(app: &TestApp, count: usize) -> Vec<TestResponse> {
    let sends = (0..count).map(|_| app.send(event("http-api-jwt.json")));
    let mut responses = Vec::new();
    let mut set: Vec<_> = sends.map(Box::pin).collect();
    // Poll all of them together: every request is in flight before any finishes.
    while !set.is_empty() {
        let (response, _, rest) = select_all(set).await;
        responses.push(response);
        set = rest;
    }
    responses
}

/// A tiny `select_all` over boxed futures (no futures crate needed).
async fn select_all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> (F::Output, usize, Vec<F>) {
    std::future::poll_fn(move |cx| {
        for i in 0..futures.len() {
            if let std::task::Poll::Ready(out) = std::pin::Pin::new(&mut futures[i]).poll(cx) {
                drop(futures.swap_remove(i));
                let rest = std::mem::take(&mut futures);
                return std::task::Poll::Ready((out, i, rest));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

fn statuses(responses: &[TestResponse]) -> (usize, usize) {
    let created = responses.iter().filter(|r| r.status == 201).count();
    let refused = responses.iter().filter(|r| r.status == 429 && r.code() == "quota_exceeded").count();
    (created, refused)
}

fn record_sessions(app: &TestApp, responses: &[TestResponse]) {
    for r in responses.iter().filter(|r| r.status == 201) {
        app.behaviour.issued.lock().unwrap().push(r.body["session_id"].as_str().unwrap().to_owned());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_32_requests_for_one_user_yields_exactly_n_sessions() {
    let (app, _moto, client) = with_moto("5/3600").await;
    let responses = burst(&app, 32).await;
    record_sessions(&app, &responses);
    assert_eq!(statuses(&responses), (5, 27));
    assert_eq!(app.parsec_calls().await, 5);
    // One counter for the user's window. (Its value is not checked here: moto's UpdateItem
    // is not atomic under concurrent requests, and sometimes loses an increment; the
    // process's own cap keeps the burst exact, see quotas/gate.rs.)
    assert_eq!(items(&client).await.len(), 1);
}

/// Two execution environments share the table: the conditional write keeps the count
/// across them (sequential requests, so moto's lack of atomicity does not matter).
#[tokio::test]
async fn two_execution_environments_share_one_limit_through_the_table() {
    let (first, _moto, client) = with_moto("5/3600").await;
    let store = TestQuotas::Dynamo(DynamoQuotaStore::new(client.clone(), TABLE.into()));
    let env = [("SESSION_QUOTA", "5/3600"), ("QUOTA_TABLE", TABLE), ("QUOTA_STORE_WAIT_MS", "5000")];
    let second = TestApp::spawn_with_quotas(&env, Some(store)).await.init().await;
    let mut created = 0;
    for i in 0..8 {
        let app = if i % 2 == 0 { &first } else { &second };
        let response = app.send(event("http-api-jwt.json")).await;
        if response.status == 201 {
            created += 1;
            record_sessions(app, std::slice::from_ref(&response));
        } else {
            assert_error(&response, 429, "quota_exceeded");
        }
    }
    assert_eq!(created, 5);
    assert_eq!(items(&client).await[0]["sessions"].as_n().unwrap(), "5");
}

#[tokio::test]
async fn over_the_limit_is_429_with_retry_after_until_the_window_ends_and_parsec_is_not_called() {
    let (app, _moto, _client) = with_moto("2/3600").await;
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_created(&app.send(event("http-api-jwt.json")).await);
    let refused = app.send(event("http-api-jwt.json")).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_error(&refused, 429, "quota_exceeded");
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    let window_end = now - now % 3600 + 3600;
    assert!((1..=3600).contains(&retry_after));
    assert!(retry_after.abs_diff(window_end - now) <= 1, "{retry_after} vs {}", window_end - now);
    assert_eq!(app.parsec_calls().await, 2);
    // Another user has a quota of their own.
    let other = event_with("rest-cognito.json", |e| {
        e["requestContext"]["authorizer"]["claims"]["sub"] = serde_json::json!("user-43")
    });
    assert_created(&app.send(other).await);
    let audit = app.audit_lines();
    assert_eq!(audit[2]["outcome"], "quota_exceeded");
    assert_eq!(audit[2]["quota"], "store");
    let docs = app.metric_documents();
    assert_eq!(docs.iter().map(|d| d["QuotaExceeded"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 0, 1, 0]);
}

#[tokio::test]
async fn a_parsec_failure_gives_the_unit_back() {
    let (app, _moto, client) = with_moto("2/3600").await;
    app.behaviour.valid_keys.lock().unwrap().clear(); // Parsec rejects the key: 502
    for _ in 0..4 {
        assert_error(&app.send(event("http-api-jwt.json")).await, 502, "upstream_auth_failed");
    }
    assert_eq!(items(&client).await[0]["sessions"].as_n().unwrap(), "0");
    app.behaviour.valid_keys.lock().unwrap().push(KEY_V1.to_owned());
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_error(&app.send(event("http-api-jwt.json")).await, 429, "quota_exceeded");
}

#[tokio::test]
async fn the_table_holds_counters_only() {
    let (app, _moto, client) = with_moto("3/60").await;
    let response = app.send(event("http-api-jwt.json")).await;
    let session_id = assert_created(&response);
    let stored = items(&client).await;
    assert_eq!(stored.len(), 1);
    let mut names: Vec<&String> = stored[0].keys().collect();
    names.sort();
    assert_eq!(names, ["expires_at", "pk", "sessions"]);
    let text = format!("{:?}", stored[0]);
    for secret in [session_id.as_str(), KEY_V1, "eyJhbGciOiJSUzI1NiIsImtpZCI6ImRlbW8ifQ"] {
        assert!(!text.contains(secret), "{secret} stored in the quota table");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let expires_at: u64 = stored[0]["expires_at"].as_n().unwrap().parse().unwrap();
    assert!(expires_at >= now - now % 60 + 60, "TTL only after the window ends");
    assert!(stored[0]["pk"].as_s().unwrap().contains("user-42"));
}

/// DynamoDB failing in `how`: every answer within 1.5 s, and the limit still held in the process.
async fn the_limit_holds_in_process(endpoint: String, how: &str) {
    let store = TestQuotas::Dynamo(DynamoQuotaStore::new(dynamodb(&endpoint).await, TABLE.into()));
    let env = [("SESSION_QUOTA", "3/3600"), ("QUOTA_TABLE", TABLE), ("AWS_LAMBDA_LOG_FORMAT", "JSON")];
    let app = TestApp::spawn_with_quotas(&env, Some(store)).await.init().await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let response = app.send(event("http-api-jwt.json")).await;
        assert!(started.elapsed() < Duration::from_millis(1500), "{how}: took {:?}", started.elapsed());
        if response.status == 201 {
            app.behaviour
                .issued
                .lock()
                .unwrap()
                .push(response.body["session_id"].as_str().unwrap().to_owned());
        }
        statuses.push(response.status);
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429], "{how}");
    let warnings = app.logs.text().matches("the quota store is failing").count();
    assert_eq!(warnings, 1, "{how}: one warning per failure burst");
    let failures: u64 =
        app.metric_documents().iter().map(|d| d["QuotaStoreFailures"].as_u64().unwrap()).sum();
    assert!(failures >= 1, "{how}");
    assert!(app.audit_lines().iter().all(|l| l["quota"] == "local"), "{how}");
}

#[tokio::test]
async fn dynamodb_refusing_connections_falls_back_to_the_same_limit_in_process() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    the_limit_holds_in_process(closed, "connection refused").await;
}

#[tokio::test]
async fn dynamodb_that_never_answers_falls_back_within_the_bound() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap(); // accepts (backlog), never answers
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    the_limit_holds_in_process(endpoint, "no answer").await;
    drop(silent);
}

#[tokio::test]
async fn without_a_quota_the_store_is_never_called() {
    let store = Arc::new(MemoryQuotaStore::default());
    let app = TestApp::spawn_with_quotas(&[], Some(TestQuotas::Memory(store.clone()))).await.init().await;
    for _ in 0..3 {
        assert_created(&app.send(event("http-api-jwt.json")).await);
    }
    assert_eq!(store.calls(), 0);
    let doc: &Value = &app.metric_documents()[0];
    assert!(doc.get("QuotaExceeded").is_none() && doc.get("QuotaStoreFailures").is_none());
}

/// A quota table that does not exist (or that the role may not write) is a misconfiguration:
/// 500 misconfigured, Parsec never called, every time, instead of a quota silently held per
/// process. moto answers ResourceNotFoundException as DynamoDB does.
#[tokio::test]
async fn a_missing_quota_table_is_500_misconfigured_and_parsec_is_not_called() {
    let moto = LocalDynamo::moto();
    let client = dynamodb(&moto.endpoint).await; // no create_table
    let store = TestQuotas::Dynamo(DynamoQuotaStore::new(client, TABLE.into()));
    let env = [
        ("SESSION_QUOTA", "3/3600"),
        ("QUOTA_TABLE", TABLE),
        ("QUOTA_STORE_WAIT_MS", "5000"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
    ];
    let app = TestApp::spawn_with_quotas(&env, Some(store)).await.init().await;
    for _ in 0..2 {
        assert_error(&app.send(event("http-api-jwt.json")).await, 500, "misconfigured");
    }
    assert_eq!(app.parsec_calls().await, 0);
    let audit = app.audit_lines();
    assert!(
        audit.iter().all(|l| l["detail"].as_str().unwrap_or("").contains("ResourceNotFoundException")),
        "{audit:?}"
    );
    let failures: u64 =
        app.metric_documents().iter().map(|d| d["QuotaStoreFailures"].as_u64().unwrap()).sum();
    assert_eq!(failures, 2);
}
