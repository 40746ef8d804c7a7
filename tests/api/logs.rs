//! What is logged: one audit line per request, and never a key, a session id
//! or an Authorization value, at the most verbose level, in both formats.

use serde_json::Value;

use crate::helpers::*;

#[test]
fn the_leak_check_finds_a_secret_in_a_log() {
    let logs = format!("INFO session request key={KEY_V1}");
    assert_eq!(leaked(&logs, [KEY_V1, KEY_V2]), [KEY_V1]);
    assert!(leaked("nothing here", [KEY_V1]).is_empty());
}

#[tokio::test]
async fn each_request_logs_one_audit_line_with_who_asked_for_whom() {
    let app = TestApp::spawn_with(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).await.init().await;
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_error(&app.send(event("http-api-no-authorizer.json")).await, 401, "unauthenticated");
    let lines: Vec<Value> = app
        .logs
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "session request")
        .collect();
    assert_eq!(lines.len(), 2, "{}", app.logs.text());
    let ok = &lines[0];
    assert_eq!(ok["request_id"], "JKJaXmPLvHcESHA=");
    assert_eq!(ok["caller_kind"], "jwt");
    assert_eq!(ok["principal"], "user-42");
    assert_eq!(ok["source_ip"], "203.0.113.10");
    assert_eq!(ok["user_agent"], "okhttp/4.12.0");
    assert_eq!(ok["external_id"], "user-42");
    assert_eq!(ok["outcome"], "created");
    assert_eq!(ok["status"], 201);
    assert_eq!(ok["upstream_status"], 201);
    assert!(ok["upstream_latency_ms"].as_f64().is_some());
    assert!(ok["expires_at"].as_i64().unwrap() > now_epoch());
    let denied = &lines[1];
    assert_eq!(denied["outcome"], "unauthenticated");
    assert_eq!(denied["status"], 401);
    assert_eq!(denied["caller_kind"], "none");
    assert!(denied["source_ip"].as_str().is_some_and(|ip| !ip.is_empty()), "{denied}");
}

#[tokio::test]
async fn server_side_failures_are_logged_at_error_level() {
    let app = TestApp::spawn().await;
    app.secrets.set(transient());
    let app = app.init().await;
    app.send(event("http-api-jwt.json")).await;
    let line = app.logs.text().lines().find(|l| l.contains("session request")).unwrap().to_owned();
    assert!(line.contains("ERROR") && line.contains("secret_unavailable"), "{line}");
}

/// Drives every event and the main faults at TRACE, in text and JSON, and
/// checks that no key, session id or Authorization value was logged.
#[tokio::test]
async fn nothing_secret_is_logged_at_trace_level_in_either_format() {
    for format in ["text", "JSON"] {
        let app =
            TestApp::spawn_with(&[("AWS_LAMBDA_LOG_FORMAT", format), ("SECRET_CACHE_TTL_SECONDS", "0")])
                .await
                .init()
                .await;
        let events = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/events")).unwrap();
        let mut names: Vec<String> = events
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json") && n != "env.json")
            .collect();
        names.sort();
        for name in &names {
            app.send_raw(name).await;
        }
        // A rotation, so both keys go through the flow.
        *app.behaviour.valid_keys.lock().unwrap() = vec![KEY_V2.to_owned()];
        app.secrets.set(versioned(KEY_V2, "v2"));
        assert_created(&app.send(event("http-api-jwt.json")).await);
        app.secrets.set(transient());
        app.send(event("rest-cognito.json")).await;
        let logs = app.logs.text();
        assert!(logs.contains("session request") && logs.lines().count() > names.len(), "logs were captured");
        let found = leaked(&logs, app.secrets_to_hide().iter().map(String::as_str));
        assert!(found.is_empty(), "{format}: leaked {found:?}");
        assert!(app.behaviour.issued.lock().unwrap().len() >= 5);
    }
}

#[tokio::test]
async fn each_request_writes_one_emf_document_with_outcome_latency_and_secret_fetches() {
    let app = TestApp::spawn().await.init().await;
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_error(&app.send(event("http-api-no-authorizer.json")).await, 401, "unauthenticated");
    let docs = app.metric_documents();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0]["SessionsCreated"], 1);
    assert_eq!(docs[0]["SecretFetches"], 1, "the Init fetch is counted once");
    assert!(docs[0]["UpstreamLatency"].as_f64().unwrap() > 0.0);
    assert_eq!(docs[1]["SecretFetches"], 0, "within the TTL nothing is fetched");
    assert_eq!(docs[2]["SessionsCreated"], 0);
    assert_eq!(docs[2]["ErrorCode"], "unauthenticated");
    assert_eq!(docs[2]["Errors"], 1);
    assert!(docs[2].get("UpstreamLatency").is_none());
    assert_eq!(docs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ParsecSessionBroker");
}

#[tokio::test]
async fn a_long_user_agent_is_cut_in_the_audit_line() {
    let app = TestApp::spawn_with(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).await.init().await;
    let agent = "é".repeat(300);
    let request =
        event_with("http-api-jwt.json", |e| e["requestContext"]["http"]["userAgent"] = agent.clone().into());
    assert_created(&app.send(request).await);
    let logged = app.audit_lines()[0]["user_agent"].as_str().unwrap().to_owned();
    assert!(logged.len() <= 256 && logged.len() >= 254, "{}", logged.len());
    assert!(agent.starts_with(&logged));
}
