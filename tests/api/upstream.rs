//! Every row of the contract's upstream table, against a Parsec stub on 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// Makes the stub answer `template` for every session request from now on.
async fn parsec_answers(app: &TestApp, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/enterprise/sessions"))
        .respond_with(template)
        .with_priority(1)
        .mount(&app.parsec)
        .await;
}

/// After a fault, the stub heals and a normal request succeeds again.
async fn recovers(app: &TestApp) {
    app.parsec.reset().await;
    Mock::given(method("POST"))
        .and(path("/enterprise/sessions"))
        .respond_with(ParsecResponder(app.behaviour.clone()))
        .mount(&app.parsec)
        .await;
    assert_created(&app.send(event("http-api-jwt.json")).await);
}

fn session_body(id: Value, expires_at: Value) -> Value {
    json!({"session": {"id": id, "expires_at": expires_at}})
}

#[tokio::test]
async fn parsec_receives_the_key_header_and_exactly_the_external_id() {
    let app = TestApp::spawn().await.init().await;
    assert_created(&app.send(event("http-api-jwt.json")).await);
    let requests = app.session_requests().await;
    let request = &requests[0];
    assert_eq!(request.url.path(), "/enterprise/sessions");
    assert_eq!(request.headers.get("x-api-key").unwrap(), KEY_V1);
    assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
    assert!(request.headers.get("authorization").is_none(), "the caller's token is not forwarded");
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, json!({"external_id": "user-42"}));
}

#[tokio::test]
async fn a_200_with_a_valid_session_is_answered_as_201() {
    let app = TestApp::spawn().await.init().await;
    let id = "ab".repeat(32);
    parsec_answers(
        &app,
        ResponseTemplate::new(200).set_body_json(session_body(json!(id), json!(now_epoch() + 60))),
    )
    .await;
    let response = app.send(event("http-api-jwt.json")).await;
    assert_eq!(assert_created(&response), id);
    app.behaviour.issued.lock().unwrap().push(id);
}

#[tokio::test]
async fn a_rejected_key_with_an_unchanged_secret_is_502_upstream_auth_failed_without_retry() {
    for status in [401, 403] {
        let app = TestApp::spawn().await.init().await;
        parsec_answers(
            &app,
            ResponseTemplate::new(status).set_body_json(json!({"error": "invalid api key"})),
        )
        .await;
        let response = app.send(event("http-api-jwt.json")).await;
        assert_error(&response, 502, "upstream_auth_failed");
        assert!(!response.body.to_string().contains("invalid api key"), "Parsec's body is not echoed");
        assert_eq!(app.parsec_calls().await, 1);
        assert_eq!(app.secrets.fetches(), 2, "Init, then the refetch at once");
        recovers(&app).await;
    }
}

#[tokio::test]
async fn a_rotated_key_is_fetched_at_once_and_tried_once_more() {
    let app = TestApp::spawn().await.init().await;
    // The secret was rotated after Init: Parsec now only accepts v2.
    *app.behaviour.valid_keys.lock().unwrap() = vec![KEY_V2.to_owned()];
    app.secrets.set(versioned(KEY_V2, "v2"));
    let response = app.send(event("http-api-jwt.json")).await;
    assert_created(&response);
    let requests = app.session_requests().await;
    let keys: Vec<&str> =
        requests.iter().map(|r| r.headers.get("x-api-key").unwrap().to_str().unwrap()).collect();
    assert_eq!(keys, [KEY_V1, KEY_V2]);
    assert_eq!(app.secrets.fetches(), 2);
    // The new key is now the cached one: no further fetch, one call per request.
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_eq!(app.parsec_calls().await, 3);
    assert_eq!(app.secrets.fetches(), 2);
}

#[tokio::test]
async fn a_rotated_key_that_is_also_rejected_ends_in_upstream_auth_failed_after_two_calls() {
    let app = TestApp::spawn().await.init().await;
    *app.behaviour.valid_keys.lock().unwrap() = vec![];
    app.secrets.set(versioned(KEY_V2, "v2"));
    assert_error(&app.send(event("http-api-jwt.json")).await, 502, "upstream_auth_failed");
    assert_eq!(app.parsec_calls().await, 2);
}

#[tokio::test]
async fn a_failed_refetch_after_rejection_is_upstream_auth_failed() {
    let app = TestApp::spawn().await.init().await;
    *app.behaviour.valid_keys.lock().unwrap() = vec![];
    app.secrets.set(transient());
    assert_error(&app.send(event("http-api-jwt.json")).await, 502, "upstream_auth_failed");
    assert_eq!(app.parsec_calls().await, 1);
    // Secrets Manager back with the same key, Parsec accepting it again.
    app.secrets.set(versioned(KEY_V1, "v1"));
    *app.behaviour.valid_keys.lock().unwrap() = vec![KEY_V1.to_owned()];
    assert_created(&app.send(event("http-api-jwt.json")).await);
}

#[tokio::test]
async fn throttling_is_503_with_parsecs_retry_after_or_one_second() {
    let app = TestApp::spawn().await.init().await;
    parsec_answers(&app, ResponseTemplate::new(429).insert_header("Retry-After", "7")).await;
    let response = app.send(event("http-api-jwt.json")).await;
    assert_error(&response, 503, "upstream_throttled");
    assert_eq!(response.header("retry-after"), Some("7"));
    app.parsec.reset().await;
    parsec_answers(&app, ResponseTemplate::new(429)).await;
    let response = app.send(event("http-api-jwt.json")).await;
    assert_error(&response, 503, "upstream_throttled");
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(app.parsec_calls().await, 1, "a throttled call is not repeated");
    recovers(&app).await;
}

#[tokio::test]
async fn any_other_status_is_502_upstream_error_and_never_echoed() {
    for status in [202, 204, 400, 404, 409, 500, 502, 503] {
        let app = TestApp::spawn().await.init().await;
        parsec_answers(
            &app,
            ResponseTemplate::new(status).set_body_json(json!({"message": "Internal Server Error"})),
        )
        .await;
        let response = app.send(event("http-api-jwt.json")).await;
        assert_error(&response, 502, "upstream_error");
        assert!(!response.body.to_string().contains("Internal Server Error"));
        assert_eq!(app.parsec_calls().await, 1, "status {status} is not retried");
        recovers(&app).await;
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_the_key_never_reaches_the_other_host() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(201)).mount(&elsewhere).await;
    for status in [301, 302, 307, 308] {
        let app = TestApp::spawn().await.init().await;
        let target = format!("{}/enterprise/sessions", elsewhere.uri());
        parsec_answers(&app, ResponseTemplate::new(status).insert_header("Location", target.as_str())).await;
        assert_error(&app.send(event("http-api-jwt.json")).await, 502, "upstream_error");
        assert_eq!(app.parsec_calls().await, 1);
        recovers(&app).await;
    }
    assert_eq!(elsewhere.received_requests().await.unwrap().len(), 0);
}

#[tokio::test]
async fn unusable_success_bodies_are_502_upstream_invalid_response() {
    let future = json!(now_epoch() + 3600);
    let bodies = [
        ResponseTemplate::new(201).set_body_string("not json"),
        ResponseTemplate::new(201).set_body_string(""),
        ResponseTemplate::new(201).set_body_json(json!({"id": "x", "expires_at": future})),
        ResponseTemplate::new(201).set_body_json(json!({"session": {"expires_at": future}})),
        ResponseTemplate::new(201).set_body_json(json!({"session": {"id": "abc"}})),
        ResponseTemplate::new(201).set_body_json(session_body(json!(""), future.clone())),
        ResponseTemplate::new(201).set_body_json(session_body(json!(42), future.clone())),
        ResponseTemplate::new(201).set_body_json(session_body(json!("abc"), json!("1999999999"))),
        ResponseTemplate::new(201).set_body_json(session_body(json!("abc"), json!(1.5e9))),
        ResponseTemplate::new(201).set_body_json(session_body(json!("abc"), json!(now_epoch() - 1))),
        ResponseTemplate::new(200).set_body_json(session_body(json!("abc"), json!(null))),
        ResponseTemplate::new(201).set_body_string(format!(
            r#"{{"session":{{"id":"abc","expires_at":{}}},"pad":"{}"}}"#,
            now_epoch() + 60,
            "p".repeat(64 * 1024)
        )),
    ];
    for (i, template) in bodies.into_iter().enumerate() {
        let app = TestApp::spawn().await.init().await;
        parsec_answers(&app, template).await;
        assert_error(&app.send(event("http-api-jwt.json")).await, 502, "upstream_invalid_response");
        assert_eq!(app.parsec_calls().await, 1, "case {i}");
        recovers(&app).await;
    }
}

#[tokio::test]
async fn a_body_just_under_64_kib_is_read() {
    let app = TestApp::spawn().await.init().await;
    let head =
        format!(r#"{{"session":{{"id":"{}","expires_at":{}}},"pad":""#, "cd".repeat(32), now_epoch() + 60);
    let body = format!("{head}{}\"}}", "p".repeat(64 * 1024 - head.len() - 2));
    assert_eq!(body.len(), 64 * 1024);
    parsec_answers(&app, ResponseTemplate::new(201).set_body_string(body)).await;
    assert_eq!(assert_created(&app.send(event("http-api-jwt.json")).await), "cd".repeat(32));
    app.behaviour.issued.lock().unwrap().push("cd".repeat(32));
}

#[tokio::test]
async fn no_answer_within_the_budget_is_504_upstream_timeout() {
    let app = TestApp::spawn_with(&[("PARSEC_TIMEOUT_MS", "200")]).await.init().await;
    parsec_answers(&app, ResponseTemplate::new(201).set_delay(Duration::from_secs(5))).await;
    let started = Instant::now();
    assert_error(&app.send(event("http-api-jwt.json")).await, 504, "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(app.parsec_calls().await, 1);
    recovers(&app).await;
}

#[tokio::test]
async fn the_budget_is_cut_to_the_invocations_remaining_time_minus_500_ms() {
    let app = TestApp::spawn().await.init().await; // PARSEC_TIMEOUT_MS = 5000
    parsec_answers(&app, ResponseTemplate::new(201).set_delay(Duration::from_secs(10))).await;
    let started = Instant::now();
    let response = app.send(with_deadline(event("http-api-jwt.json"), 1500)).await;
    let took = started.elapsed();
    assert_error(&response, 504, "upstream_timeout");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn with_a_3_second_deadline_and_a_parsec_that_never_answers_504_comes_before_the_deadline_every_time() {
    let port = hanging_server().await;
    let url = format!("http://127.0.0.1:{port}");
    let app =
        TestApp::spawn_with(&[("PARSEC_API_URL", &url), ("PARSEC_TIMEOUT_MS", "60000")]).await.init().await;
    for _ in 0..3 {
        let started = Instant::now();
        let response = app.send(with_deadline(event("http-api-jwt.json"), 3000)).await;
        let took = started.elapsed();
        assert_error(&response, 504, "upstream_timeout");
        assert!(took >= Duration::from_millis(2400) && took < Duration::from_millis(2800), "{took:?}");
    }
}

/// A TCP server on 127.0.0.1 that accepts, reads, and never answers.
async fn hanging_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..16 {
            let Ok((socket, _)) = listener.accept().await else { return };
            held.push(socket); // kept open, silent, until the test ends
        }
    });
    port
}

#[tokio::test]
async fn an_invocation_already_past_its_budget_does_not_call_parsec() {
    let app = TestApp::spawn().await.init().await;
    assert_error(&app.send(with_deadline(event("http-api-jwt.json"), 400)).await, 504, "upstream_timeout");
    assert_eq!(app.parsec_calls().await, 0);
}

/// A TCP server on 127.0.0.1 that reads a little, then closes the connection
/// without answering. Counts the connections it accepted.
async fn closing_server(linger_reset: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_millis(200), socket.read(&mut buf)).await;
            if linger_reset {
                #[allow(deprecated)] // a reset is the point here
                let _ = socket.set_linger(Some(Duration::ZERO));
            }
            drop(socket);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn a_connection_reset_before_an_answer_is_502_upstream_unreachable_and_not_retried() {
    let (port, accepted) = closing_server(true).await;
    let url = format!("http://127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[("PARSEC_API_URL", &url)]).await.init().await;
    let after_init = accepted.load(Ordering::SeqCst); // Init's warm-up connection
    assert_error(&app.send(event("http-api-jwt.json")).await, 502, "upstream_unreachable");
    assert_eq!(accepted.load(Ordering::SeqCst) - after_init, 1);
}

#[tokio::test]
async fn a_failed_connect_is_retried_once_then_502_upstream_unreachable() {
    // The TLS handshake fails against a plain TCP server: nothing was sent,
    // so it counts as a failure to connect and is tried exactly once more.
    let (port, accepted) = closing_server(false).await;
    let url = format!("https://127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[("PARSEC_API_URL", &url)]).await.init().await;
    let after_init = accepted.load(Ordering::SeqCst); // Init's warm-up connection
    assert_error(&app.send(event("http-api-jwt.json")).await, 502, "upstream_unreachable");
    assert_eq!(accepted.load(Ordering::SeqCst) - after_init, 2);
}

#[tokio::test]
async fn a_refused_connection_is_502_upstream_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[("PARSEC_API_URL", &url)]).await.init().await;
    let started = Instant::now();
    assert_error(&app.send(event("http-api-jwt.json")).await, 502, "upstream_unreachable");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn sessions_are_not_shared_between_requests() {
    let app = TestApp::spawn().await.init().await;
    let first = assert_created(&app.send(event("http-api-jwt.json")).await);
    let second = assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_ne!(first, second);
    assert_eq!(app.parsec_calls().await, 2);
    assert_eq!(app.secrets.fetches(), 1, "the key is cached within the TTL");
}

#[tokio::test]
async fn a_deadline_that_is_not_epoch_milliseconds_leaves_only_the_parsec_budget() {
    let app = TestApp::spawn().await.init().await;
    let mut ctx = lambda_http::lambda_runtime::Context::default();
    ctx.deadline = 600_000; // what cargo lambda's emulator sends
    use lambda_http::RequestExt;
    assert_created(&app.send(event("http-api-jwt.json").with_lambda_context(ctx)).await);
}

#[tokio::test]
async fn init_opens_the_parsec_connection_without_creating_a_session_when_asked_to() {
    let app = TestApp::spawn_with(&[("PARSEC_WARM_UP", "true")]).await.init().await;
    let requests = app.parsec.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method.as_str(), "GET");
    assert_eq!(requests[0].url.path(), "/");
    assert!(requests[0].headers.get("x-api-key").is_none(), "the warm-up carries no key");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn a_slow_parsec_within_the_budget_still_gives_a_session() {
    let app = TestApp::spawn_with(&[("PARSEC_TIMEOUT_MS", "2000")]).await.init().await;
    let id = "ef".repeat(32);
    let body = session_body(json!(id), json!(now_epoch() + 60));
    parsec_answers(
        &app,
        ResponseTemplate::new(201).set_body_json(body).set_delay(Duration::from_millis(600)),
    )
    .await;
    assert_eq!(assert_created(&app.send(event("http-api-jwt.json")).await), id);
    app.behaviour.issued.lock().unwrap().push(id);
    assert_eq!(app.parsec_calls().await, 1);
}

#[tokio::test]
async fn by_default_init_sends_parsec_nothing() {
    let app = TestApp::spawn().await.init().await;
    assert!(app.parsec.received_requests().await.unwrap().is_empty());
    assert_error(&app.send(event("http-api-no-authorizer.json")).await, 401, "unauthenticated");
    assert!(app.parsec.received_requests().await.unwrap().is_empty(), "a 401 reaches nobody");
}
