//! The live session store (`sessions/dynamodb.rs`) on dynalite, a DynamoDB implementation
//! whose writes to an item are serialised as DynamoDB's are (moto's conditional writes are
//! not atomic under concurrency): its conditions one by one, what a table reader sees, and
//! four processes of the real binary, sixteen requests each at once, sharing one table.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use session_broker::parsec::{Session, SessionId};
use session_broker::sessions::dynamodb::DynamoSessionStore;
use session_broker::sessions::seal::SealKeys;
use session_broker::sessions::{Claim, Lease, LeaseRequest, Replace, SessionStore};
use session_broker::testing::epoch_ms;

use crate::local_dynamodb::{create_table, dynamodb, LocalDynamo};
use crate::runtime_api::Emulator;
use crate::stubs;

const TABLE: &str = "parsec-device-sessions";

async fn dynalite_table() -> (LocalDynamo, aws_sdk_dynamodb::Client) {
    let dynalite = LocalDynamo::dynalite();
    let client = dynamodb(&dynalite.endpoint).await;
    create_table(&client, TABLE, false).await;
    (dynalite, client)
}

fn lease(owner: &str, now_ms: u64, replace: Replace) -> LeaseRequest {
    LeaseRequest {
        lease: Lease { owner: owner.into(), until_ms: now_ms + 5_000 },
        now_ms,
        replace,
        expires_at: now_ms / 1000 + 4 * 3600,
    }
}

#[tokio::test]
async fn the_dynamodb_store_grants_one_lease_at_a_time_and_keeps_a_session_through_a_failed_renew() {
    let (_dynalite, client) = dynalite_table().await;
    let store = DynamoSessionStore::new(client.clone(), TABLE.into());
    let keys = SealKeys::derive(b"a seal secret of at least thirty-two characters");
    let item = keys.item_key("user-42", "phone-1");
    let now = epoch_ms();
    let fresh_from = (now / 1000) as i64 + 600;
    assert_eq!(store.read(&item).await.unwrap(), None);
    assert_eq!(
        store.lease(&item, &lease("a", now, Replace::ExpiringBefore(fresh_from))).await.unwrap(),
        Claim::Taken
    );
    let refused = store.lease(&item, &lease("b", now, Replace::Any)).await.unwrap();
    assert!(matches!(refused, Claim::Refused(_)), "a live lease refuses the next: {refused:?}");
    let session = Session {
        id: SessionId::new("sess-stored-in-dynalite".into()),
        expires_at: (now / 1000) as i64 + 3600,
    };
    let sealed = keys.seal(&item, "s1", &session).unwrap();
    assert!(!store.complete(&item, "b", &sealed, 1).await.unwrap(), "only the holder completes");
    assert!(store.complete(&item, "a", &sealed, 1).await.unwrap());
    let stored = store.read(&item).await.unwrap().unwrap();
    assert_eq!(stored.lease, None);
    assert_eq!(keys.open(&item, "s1", stored.sealed.as_ref().unwrap()), Some(session.clone()));
    // A fresh session is not replaced unless the request says so (renew, or it did not open).
    let later = epoch_ms();
    assert!(matches!(
        store.lease(&item, &lease("c", later, Replace::ExpiringBefore(fresh_from))).await.unwrap(),
        Claim::Refused(_)
    ));
    assert_eq!(store.lease(&item, &lease("d", later, Replace::Any)).await.unwrap(), Claim::Taken);
    store.release(&item, "d").await.unwrap();
    let kept = store.read(&item).await.unwrap().unwrap();
    assert_eq!(kept.lease, None, "released");
    assert_eq!(
        keys.open(&item, "s1", kept.sealed.as_ref().unwrap()),
        Some(session),
        "a failed renew keeps the session"
    );
    // An expired lease is taken over (its holder crashed).
    let expired = LeaseRequest {
        lease: Lease { owner: "e".into(), until_ms: later + 1 },
        ..lease("e", later, Replace::Any)
    };
    assert_eq!(store.lease(&item, &expired).await.unwrap(), Claim::Taken);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.lease(&item, &lease("f", epoch_ms(), Replace::Any)).await.unwrap(), Claim::Taken);
}

#[tokio::test]
async fn a_missing_table_is_a_permanent_store_error() {
    let dynalite = LocalDynamo::dynalite();
    let store = DynamoSessionStore::new(dynamodb(&dynalite.endpoint).await, "no-such-table".into());
    let item = SealKeys::derive(b"a seal secret of at least thirty-two characters").item_key("u", "d");
    let error = store.read(&item).await.unwrap_err();
    assert!(error.permanent && error.reason == "ResourceNotFoundException", "{error:?}");
}

/// The bootstrap binary under its own Runtime API emulator, serving 16 at once, with its
/// session store at `dynamodb` (an endpoint URL) and `SESSION_STORE_WAIT_MS` = `store_wait_ms`.
async fn process(
    secrets: &stubs::SecretsManager,
    parsec: &stubs::Parsec,
    dynamodb: &str,
    store_wait_ms: &str,
) -> (Arc<Emulator>, tokio::process::Child) {
    let emulator = Arc::new(Emulator::start().await);
    emulator.set_timeout(Duration::from_secs(8));
    let env: Vec<(String, String)> = [
        ("AWS_LAMBDA_FUNCTION_NAME", "devices"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_MAX_CONCURRENCY", "16"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("PARSEC_SECRET_ID", "bench/key"),
        ("SESSION_STORE_TABLE", TABLE),
        ("SESSION_SEAL_SECRET_ID", "bench/seal"),
        ("SESSION_STORE_WAIT_MS", store_wait_ms),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), format!("http://127.0.0.1:{}", secrets.server.port)),
        ("AWS_ENDPOINT_URL_DYNAMODB".into(), dynamodb.to_owned()),
        ("PARSEC_API_URL".into(), format!("http://127.0.0.1:{}", parsec.server.port)),
    ])
    .collect();
    let (child, _, _) = emulator.spawn(Path::new(env!("CARGO_BIN_EXE_bootstrap")), &env).await;
    (emulator, child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_of_sixteen_concurrent_requests_for_one_device_mint_exactly_once() {
    let (dynalite, client) = dynalite_table().await;
    let secrets = stubs::secrets_manager().await;
    let parsec = stubs::parsec().await;
    // Parsec takes a while, as over the internet: the duplicates all arrive while it mints.
    parsec.delay_ms.store(400, std::sync::atomic::Ordering::SeqCst);
    let mut processes = Vec::new();
    for _ in 0..4 {
        // dynalite on a busy 2-core machine answers slower than DynamoDB: the contract's
        // "while the store answers within its bound" needs a bound it meets.
        processes.push(process(&secrets, &parsec, &dynalite.endpoint, "3000").await);
    }
    let event = Arc::new(crate::helpers::event_text("http-api-jwt-device.json"));
    let invocations: Vec<_> = (0..64)
        .map(|i| {
            let (emulator, event) = (processes[i % 4].0.clone(), event.clone());
            tokio::spawn(async move { emulator.invoke(event).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for invocation in invocations {
        outcomes.push(invocation.await.unwrap());
    }
    let minted = parsec.take_service_times().len();
    assert_eq!(minted, 1, "one Parsec call for 64 duplicates across 4 processes");
    let statuses: Vec<_> = outcomes.iter().map(|o| o.status).collect();
    let sessions: HashSet<String> = outcomes
        .iter()
        .filter(|o| matches!(o.status, Some(200 | 201)))
        .map(|o| {
            let body: serde_json::Value = serde_json::from_str(o.body.as_deref().unwrap()).unwrap();
            body["session_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(sessions.len(), 1, "every 200/201 carries the one session: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == Some(201)).count(), 1, "{statuses:?}");
    for outcome in outcomes.iter().filter(|o| !matches!(o.status, Some(200 | 201))) {
        assert_eq!(outcome.status, Some(409), "{statuses:?}");
        assert_eq!(outcome.retry_after.as_deref(), Some("1"));
    }
    // What a reader of the table sees: a keyed hash, ciphertext and numbers.
    let items = client.scan().table_name(TABLE).send().await.unwrap().items.unwrap_or_default();
    assert_eq!(items.len(), 1);
    let session_id = sessions.into_iter().next().unwrap();
    for (name, value) in &items[0] {
        assert!(["pk", "ct", "kid", "session_expires_at", "expires_at"].contains(&name.as_str()), "{name}");
        let text = match value {
            AttributeValue::S(s) | AttributeValue::N(s) => s.as_bytes().to_vec(),
            AttributeValue::B(b) => b.as_ref().to_vec(),
            other => panic!("{name}: {other:?}"),
        };
        for forbidden in [session_id.as_str(), "user-42", "3f1c2a9e-7b6d-4c1e-9f0a-1b2c3d4e5f60", "3f1c2a9e"]
        {
            assert!(
                !text.windows(forbidden.len()).any(|w| w == forbidden.as_bytes()),
                "{name} holds {forbidden}"
            );
        }
    }
    drop(processes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_store_that_refuses_connections_or_never_answers_costs_a_request_its_bound_then_it_mints() {
    let secrets = stubs::secrets_manager().await;
    let parsec = stubs::parsec().await;
    let refused = format!("http://127.0.0.1:{}", crate::local_dynamodb::free_port());
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap(); // accepts (backlog), never answers
    let silent_url = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let event = Arc::new(crate::helpers::event_text("http-api-jwt-device.json"));
    for (how, endpoint) in [("connection refused", refused), ("no answer", silent_url)] {
        let (emulator, _child) = process(&secrets, &parsec, &endpoint, "250").await;
        for _ in 0..3 {
            let outcome = emulator.invoke(event.clone()).await;
            assert_eq!(outcome.status, Some(201), "{how}: {:?}", outcome.body);
            // The read's 250 ms bound, then a normal mint: far below the 8 s timeout.
            assert!(outcome.latency < Duration::from_millis(1500), "{how}: took {:?}", outcome.latency);
        }
    }
    assert_eq!(parsec.take_service_times().len(), 6, "every request minted without reuse");
}
