//! One session per device (`docs/contract.md`, "Device sessions") through the whole
//! service, with the session store's in-memory double (its conditions are atomic, as
//! DynamoDB's are per item) and the Parsec stub over HTTP. The live DynamoDB store and
//! several processes on one table: `device_store.rs`, against dynalite.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use lambda_http::Request;
use serde_json::{json, Value};
use session_broker::entrypoints::request::serve;
use session_broker::sessions::seal::SealKeys;
use session_broker::sessions::{Lease, StoredItem};
use session_broker::testing::{misconfigured, seal_secret, transient, StoreMode};

use crate::helpers::*;

/// The HTTP API JWT event of user `sub` with `body`.
fn asking(sub: &str, body: Value) -> Request {
    let sub = sub.to_owned();
    event_with("http-api-jwt.json", move |e| {
        e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(sub);
        e["body"] = json!(body.to_string());
    })
}

fn device(sub: &str, device_id: &str) -> Request {
    asking(sub, json!({ "device_id": device_id }))
}

async fn store_on(extra: &[(&str, &str)]) -> TestApp {
    let mut env = STORE_ON.to_vec();
    env.push(("AWS_LAMBDA_LOG_FORMAT", "JSON"));
    env.extend_from_slice(extra);
    TestApp::spawn_with(&env).await.init().await
}

/// A `200` with exactly the session id and expiry of `created`.
fn assert_reused(response: &TestResponse, created: &TestResponse) {
    assert_eq!(response.status, 200, "body: {}", response.body);
    assert_eq!(response.body, created.body, "the same session_id and expires_at");
    assert_eq!(response.body.as_object().unwrap().len(), 2);
}

fn item_key(sub: &str, device_id: &str) -> session_broker::sessions::ItemKey {
    SealKeys::derive(SEAL_S1.as_bytes()).item_key(sub, device_id)
}

#[tokio::test]
async fn the_same_user_and_device_twice_get_201_then_200_with_the_same_session_and_one_parsec_call() {
    let app = store_on(&[]).await;
    let first = app.send(device("user-42", "phone-1")).await;
    assert_created(&first);
    let calls_before = app.sessions.calls();
    let second = app.send(device("user-42", "phone-1")).await;
    assert_reused(&second, &first);
    assert_eq!(app.sessions.calls() - calls_before, 1, "a reuse hit is one store read");
    assert_eq!(app.parsec_calls().await, 1);
    let sessions: Vec<_> = app.audit_lines().iter().map(|l| l["session"].clone()).collect();
    assert_eq!(sessions, vec![json!("minted"), json!("reused")]);
    let reused: Vec<_> = app.metric_documents().iter().map(|d| d["SessionsReused"].clone()).collect();
    assert_eq!(reused, vec![json!(0), json!(1)]);
    assert_eq!(app.metric_documents()[1]["SessionsCreated"], 0, "a reused session is not a created one");
}

#[tokio::test]
async fn another_device_or_another_user_gets_its_own_session() {
    let app = store_on(&[]).await;
    let mine = assert_created(&app.send(device("user-42", "phone-1")).await);
    let my_tablet = assert_created(&app.send(device("user-42", "tablet-1")).await);
    // The same device_id sent by someone else reaches that user's own item, never mine.
    let theirs = assert_created(&app.send(device("user-77", "phone-1")).await);
    assert!(mine != my_tablet && mine != theirs && my_tablet != theirs);
    assert_eq!(app.parsec_calls().await, 3);
    let theirs_again = app.send(device("user-77", "phone-1")).await;
    assert_eq!(theirs_again.status, 200);
    assert_eq!(theirs_again.body["session_id"], theirs);
}

#[tokio::test]
async fn requests_without_device_id_never_touch_the_store_and_mint_each_time() {
    let app = store_on(&[]).await;
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_eq!(app.parsec_calls().await, 2);
    assert_eq!(app.sessions.calls(), 0);
    assert_eq!(app.audit_lines()[0]["session"], Value::Null);
}

#[tokio::test]
async fn without_a_store_device_id_is_accepted_and_every_request_mints() {
    let app = TestApp::spawn_with(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).await.init().await;
    assert_created(&app.send(device("user-42", "phone-1")).await);
    assert_created(&app.send(device("user-42", "phone-1")).await);
    assert_eq!(app.parsec_calls().await, 2);
    assert_eq!(app.sessions.calls(), 0);
    assert_eq!(app.audit_lines()[1]["session"], "minted_without_store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_identical_requests_in_one_process_mint_one_session() {
    let app = store_on(&[]).await;
    app.behaviour.delay_ms.store(300, Ordering::SeqCst);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let service = Arc::clone(&app.service);
            tokio::spawn(async move {
                let response = serve(&service, device("user-42", "phone-1")).await;
                let status = response.status().as_u16();
                let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
                (status, body)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert_eq!(app.parsec_calls().await, 1, "one mint for 32 duplicates");
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 201 || *s == 200),
        "every duplicate waited for it: {answers:?}"
    );
    let ids: std::collections::HashSet<_> = answers.iter().map(|(_, b)| b["session_id"].clone()).collect();
    assert_eq!(ids.len(), 1, "every answer carries the one session: {ids:?}");
}

#[tokio::test]
async fn renew_true_replaces_the_stored_session_and_a_failed_renew_keeps_it() {
    let app = store_on(&[]).await;
    let first = app.send(device("user-42", "phone-1")).await;
    let old = assert_created(&first);
    let renewed = app.send(asking("user-42", json!({"device_id": "phone-1", "renew": true}))).await;
    let new = assert_created(&renewed);
    assert_ne!(old, new);
    assert_reused(&app.send(device("user-42", "phone-1")).await, &renewed);
    assert_eq!(app.audit_lines()[1]["session"], "renewed");
    // A renew Parsec refuses (the key is rejected) leaves the stored session as it was.
    app.behaviour.valid_keys.lock().unwrap().clear();
    let failed = app.send(asking("user-42", json!({"device_id": "phone-1", "renew": true}))).await;
    assert_error(&failed, 502, "upstream_auth_failed");
    assert_reused(&app.send(device("user-42", "phone-1")).await, &renewed);
    let stored = app.sessions.items();
    assert!(stored.iter().all(|(_, item)| item.lease.is_none()), "the failed renew released its lease");
}

#[tokio::test]
async fn a_stored_session_with_less_life_left_than_the_minimum_is_replaced() {
    // The stub's sessions live an hour: with 3,601 s required, none is ever good enough.
    let app = store_on(&[("SESSION_REUSE_MIN_REMAINING_SECONDS", "3601")]).await;
    let first = assert_created(&app.send(device("user-42", "phone-1")).await);
    let second = assert_created(&app.send(device("user-42", "phone-1")).await);
    assert_ne!(first, second);
    assert_eq!(app.parsec_calls().await, 2);
    assert_eq!(app.sessions.items().len(), 1, "the new one took the old one's place");
}

#[tokio::test]
async fn the_store_holds_no_session_id_external_id_or_device_id_in_any_form() {
    let app = store_on(&[]).await;
    let mut ids = Vec::new();
    for (sub, dev) in [("user-42", "phone-1"), ("user-42", "tablet-9"), ("user-77", "phone-1")] {
        ids.push(assert_created(&app.send(device(sub, dev)).await));
    }
    let items = app.sessions.items();
    assert_eq!(items.len(), 3);
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let forbidden: Vec<Vec<u8>> = ids
        .iter()
        .map(String::as_str)
        .chain(["user-42", "user-77", "phone-1", "tablet-9"])
        .flat_map(|v| {
            let hex: String = v.bytes().map(|b| format!("{b:02x}")).collect();
            [
                v.as_bytes().to_vec(),
                hex.into_bytes(),
                b64.encode(v).into_bytes(),
                b64url.encode(v).into_bytes(),
            ]
        })
        .collect();
    for (key, item) in items {
        let sealed = item.sealed.expect("a completed item");
        let mut stored = vec![key.as_str().as_bytes().to_vec(), sealed.ct.clone(), sealed.kid.into_bytes()];
        stored.push(b64.encode(&sealed.ct).into_bytes());
        for attribute in &stored {
            for f in &forbidden {
                assert!(
                    !attribute.windows(f.len().min(attribute.len()).max(1)).any(|w| w == f.as_slice()),
                    "{:?} found in the store",
                    String::from_utf8_lossy(f)
                );
            }
        }
    }
}

#[tokio::test]
async fn a_ciphertext_copied_into_another_users_item_is_not_returned_to_that_user() {
    let app = store_on(&[]).await;
    let victim = assert_created(&app.send(device("user-42", "phone-1")).await);
    assert_created(&app.send(device("user-77", "phone-1")).await);
    // A writer of the table copies the victim's sealed session into the attacker's item.
    let victims_item =
        app.sessions.items().into_iter().find(|(k, _)| *k == item_key("user-42", "phone-1")).unwrap().1;
    app.sessions.put(item_key("user-77", "phone-1"), victims_item);
    let attacker = app.send(device("user-77", "phone-1")).await;
    let minted = assert_created(&attacker);
    assert_ne!(minted, victim, "the copied ciphertext does not open in another item");
    assert_eq!(app.parsec_calls().await, 3);
}

#[tokio::test]
async fn a_rotated_seal_secret_mints_once_more_and_never_answers_5xx() {
    let app = store_on(&[("SECRET_CACHE_TTL_SECONDS", "0")]).await;
    let before = assert_created(&app.send(device("user-42", "phone-1")).await);
    app.seal.set(seal_secret(SEAL_S2, "s2"));
    let after = app.send(device("user-42", "phone-1")).await;
    let rotated = assert_created(&after);
    assert_ne!(before, rotated);
    assert_reused(&app.send(device("user-42", "phone-1")).await, &after);
    assert_eq!(app.parsec_calls().await, 2);
}

#[tokio::test]
async fn a_hanging_or_failing_store_costs_at_most_its_bound_then_mints() {
    for mode in [StoreMode::Hanging, StoreMode::Failing] {
        let app = store_on(&[("SESSION_STORE_WAIT_MS", "100")]).await;
        app.sessions.set_mode(mode);
        let started = Instant::now();
        assert_created(&app.send(device("user-42", "phone-1")).await);
        assert_created(&app.send(device("user-42", "phone-1")).await);
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "{mode:?}: two requests took {took:?}");
        assert_eq!(app.parsec_calls().await, 2, "{mode:?}: no reuse without a store");
        let failures: u64 =
            app.metric_documents().iter().map(|d| d["SessionStoreFailures"].as_u64().unwrap()).sum();
        assert_eq!(failures, 2, "{mode:?}: one failed read per request");
        let warnings = app.logs.text().matches("the session store failed").count();
        assert_eq!(warnings, 1, "{mode:?}: one warning per failure burst");
        // It answers again: the next request stores, the one after reuses.
        app.sessions.set_mode(StoreMode::Healthy);
        let stored = app.send(device("user-42", "phone-1")).await;
        assert_created(&stored);
        assert_reused(&app.send(device("user-42", "phone-1")).await, &stored);
    }
}

#[tokio::test]
async fn a_missing_store_table_is_500_misconfigured_and_parsec_is_not_called() {
    let app = store_on(&[]).await;
    app.sessions.set_mode(StoreMode::MissingTable);
    assert_error(&app.send(device("user-42", "phone-1")).await, 500, "misconfigured");
    assert_eq!(app.parsec_calls().await, 0);
    assert!(app.audit_lines()[0]["detail"].as_str().unwrap().contains("ResourceNotFoundException"));
    // Requests without a device do not use the store: they still mint.
    assert_created(&app.send(event("http-api-jwt.json")).await);
}

#[tokio::test]
async fn an_unusable_seal_secret_is_500_and_secrets_manager_down_with_nothing_cached_is_503() {
    let app = TestApp::spawn_with(&STORE_ON).await;
    app.seal.set(misconfigured());
    let app = app.init().await;
    assert_error(&app.send(device("user-42", "phone-1")).await, 500, "misconfigured");
    let app2 = TestApp::spawn_with(&STORE_ON).await;
    app2.seal.set(transient());
    let app2 = app2.init().await;
    let down = app2.send(device("user-42", "phone-1")).await;
    assert_error(&down, 503, "secret_unavailable");
    assert!(down.header("retry-after").is_some());
    assert_eq!(app.parsec_calls().await + app2.parsec_calls().await, 0);
    assert_created(&app2.send(event("http-api-jwt.json")).await);
}

#[tokio::test]
async fn the_seal_secret_is_fetched_during_init_with_the_api_key() {
    let app = store_on(&[]).await;
    assert_eq!(app.seal.fetches(), 1, "fetched in Init");
    assert_created(&app.send(device("user-42", "phone-1")).await);
    assert_eq!(app.seal.fetches(), 1, "served from the cache");
}

#[tokio::test]
async fn a_request_finding_another_holding_the_lease_waits_then_answers_409_with_retry_after() {
    let app = store_on(&[]).await;
    let far = session_broker::testing::epoch_ms() + 60_000;
    let lease = Lease { owner: "another-request".into(), until_ms: far };
    app.sessions.put(item_key("user-42", "phone-1"), StoredItem { sealed: None, lease: Some(lease) });
    let started = Instant::now();
    let response = app.send(device("user-42", "phone-1")).await;
    let waited = started.elapsed();
    assert_error(&response, 409, "request_in_progress");
    assert_eq!(response.header("retry-after"), Some("1"));
    assert!(waited >= Duration::from_millis(1900) && waited < Duration::from_millis(3000), "{waited:?}");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn a_lease_left_by_a_crashed_holder_is_taken_over_once_it_expires() {
    let app = store_on(&[]).await;
    let soon = session_broker::testing::epoch_ms() + 300;
    let lease = Lease { owner: "crashed".into(), until_ms: soon };
    app.sessions.put(item_key("user-42", "phone-1"), StoredItem { sealed: None, lease: Some(lease) });
    let response = app.send(device("user-42", "phone-1")).await;
    assert_created(&response);
    assert_eq!(app.parsec_calls().await, 1);
}

#[tokio::test]
async fn the_quota_is_charged_only_for_sessions_minted() {
    let quotas = Arc::new(session_broker::testing::MemoryQuotaStore::default());
    let mut env = STORE_ON.to_vec();
    env.extend([("SESSION_QUOTA", "2/3600"), ("QUOTA_TABLE", "quotas")]);
    let app = TestApp::spawn_with_quotas(&env, Some(TestQuotas::Memory(quotas))).await.init().await;
    let first = app.send(device("user-42", "phone-1")).await;
    assert_created(&first);
    for _ in 0..4 {
        assert_reused(&app.send(device("user-42", "phone-1")).await, &first);
    }
    assert_created(&app.send(device("user-42", "tablet-1")).await);
    assert_error(&app.send(device("user-42", "laptop-1")).await, 429, "quota_exceeded");
    assert_eq!(app.parsec_calls().await, 2);
    // The device that already has a session still gets it.
    assert_reused(&app.send(device("user-42", "phone-1")).await, &first);
    assert!(
        app.sessions.items().iter().all(|(_, i)| i.lease.is_none()),
        "the refused mint released its lease"
    );
}
