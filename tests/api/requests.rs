//! Request checks in the contract's order, and the shape of every response.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn any_method_but_post_is_405_with_an_allow_header() {
    let app = TestApp::spawn().await.init().await;
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
        let request =
            event_with("http-api-jwt.json", |e| e["requestContext"]["http"]["method"] = json!(method));
        let response = app.send(request).await;
        assert_error(&response, 405, "method_not_allowed");
        assert_eq!(response.header("allow"), Some("POST"));
    }
    let rest = event_with("rest-lambda-authorizer.json", |e| e["httpMethod"] = json!("GET"));
    assert_error(&app.send(rest).await, 405, "method_not_allowed");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn the_method_is_checked_before_authentication() {
    let app = TestApp::spawn().await.init().await;
    let request =
        event_with("http-api-no-authorizer.json", |e| e["requestContext"]["http"]["method"] = json!("GET"));
    assert_error(&app.send(request).await, 405, "method_not_allowed");
}

#[tokio::test]
async fn authentication_is_checked_before_the_body() {
    let app = TestApp::spawn().await.init().await;
    let request = event_with("http-api-no-authorizer.json", |e| e["body"] = json!("x".repeat(5000)));
    assert_error(&app.send(request).await, 401, "unauthenticated");
}

#[tokio::test]
async fn a_body_over_4096_bytes_is_413_whatever_its_type() {
    let app = TestApp::spawn().await.init().await;
    assert_error(&app.send(event("http-api-jwt-too-large.json")).await, 413, "payload_too_large");
    let text = event_with("http-api-jwt-text-plain.json", |e| e["body"] = json!("y".repeat(4097)));
    assert_error(&app.send(text).await, 413, "payload_too_large");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn the_size_limit_applies_to_the_decoded_body() {
    use base64::Engine;
    let app = TestApp::spawn().await.init().await;
    // 4096 bytes decoded, about 5.5 KB encoded: within the limit.
    let exact = format!(r#"{{"external_id":"user-42"}}{}"#, " ".repeat(4096 - 25));
    assert_eq!(exact.len(), 4096);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&exact);
    let request = event_with("http-api-jwt-base64-body.json", |e| e["body"] = json!(encoded));
    assert_created(&app.send(request).await);
    let over = base64::engine::general_purpose::STANDARD.encode(format!("{exact} "));
    let request = event_with("http-api-jwt-base64-body.json", |e| e["body"] = json!(over));
    assert_error(&app.send(request).await, 413, "payload_too_large");
}

#[tokio::test]
async fn a_non_json_content_type_is_415() {
    let app = TestApp::spawn().await.init().await;
    assert_error(&app.send(event("http-api-jwt-text-plain.json")).await, 415, "unsupported_media_type");
    let missing = event_with("http-api-jwt.json", |e| {
        e["headers"].as_object_mut().unwrap().remove("content-type");
    });
    assert_error(&app.send(missing).await, 415, "unsupported_media_type");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn media_types_compare_case_insensitively_with_parameters_in_both_payload_versions() {
    let app = TestApp::spawn().await.init().await;
    let v2 = event_with("http-api-jwt.json", |e| {
        e["headers"]["content-type"] = json!("Application/JSON; charset=UTF-8")
    });
    assert_created(&app.send(v2).await);
    let v1 = event_with("rest-lambda-authorizer.json", |e| {
        e["headers"]["Content-Type"] = json!("application/json;charset=utf-8");
        e["multiValueHeaders"]["Content-Type"] = json!(["application/json;charset=utf-8"]);
    });
    assert_created(&app.send(v1).await);
}

#[tokio::test]
async fn an_empty_body_needs_no_content_type() {
    let app = TestApp::spawn().await.init().await;
    assert_created(&app.send(event("http-api-jwt-scope-claim.json")).await);
    let empty_text = event_with("http-api-jwt-text-plain.json", |e| e["body"] = json!(""));
    assert_created(&app.send(empty_text).await);
}

#[tokio::test]
async fn malformed_bodies_are_400_invalid_request_and_reach_nobody() {
    let app = TestApp::spawn().await.init().await;
    assert_error(&app.send(event("http-api-jwt-invalid-json.json")).await, 400, "invalid_request");
    assert_error(&app.send(event("http-api-jwt-extra-field.json")).await, 400, "invalid_request");
    for body in [
        "   ",
        "null",
        "[]",
        "\"user-42\"",
        r#"{"external_id":42}"#,
        r#"{"external_id":"user-42","external_id":"user-42"}"#,
    ] {
        assert_error(&app.send(jwt_with_body(body)).await, 400, "invalid_request");
    }
    assert_eq!(app.parsec_calls().await, 0);
    assert_eq!(app.secrets.fetches(), 1, "only the Init fetch");
}

#[tokio::test]
async fn the_body_shape_is_checked_before_which_user() {
    let app = TestApp::spawn().await.init().await;
    assert_error(&app.send(jwt_with_body(r#"{"external_id":"user-7","x":1}"#)).await, 400, "invalid_request");
}

#[tokio::test]
async fn a_body_external_id_equal_to_the_callers_own_is_accepted() {
    let app = TestApp::spawn().await.init().await;
    assert_created(&app.send(jwt_with_body(r#"{"external_id":"user-42"}"#)).await);
    assert_created(&app.send(jwt_with_body("{}")).await);
}

#[tokio::test]
async fn external_id_rules_apply_in_body_mode() {
    let env = [("EXTERNAL_ID_SOURCE", "body"), ("TRUSTED_CALLERS", "client_id:3n4b5urk1ft4fl3mg5e62d9ado")];
    let app = TestApp::spawn_with(&env).await.init().await;
    let too_long = json!({"external_id": "a".repeat(64)}).to_string();
    let multibyte = json!({"external_id": "é".repeat(32)}).to_string();
    for body in [
        r#"{"external_id":""}"#,
        r#"{"external_id":"a\nb"}"#,
        r#"{"external_id":"\u0000"}"#,
        &too_long,
        &multibyte,
        r#"{"external_id":"user\u200b42"}"#,
        r#"{"external_id":"\ufeffuser-42"}"#,
        r#"{"external_id":"user-42\u202e"}"#,
        r#"{"external_id":"user\u2060"}"#,
        r#"{"external_id":" user-42"}"#,
        r#"{"external_id":"user-42 "}"#,
        r#"{"external_id":"user-42\u00a0"}"#,
    ] {
        assert_error(&app.send(jwt_with_body(body)).await, 400, "invalid_external_id");
    }
    assert_eq!(app.parsec_calls().await, 0);
    let longest = json!({"external_id": "a".repeat(63)}).to_string();
    assert_created(&app.send(jwt_with_body(&longest)).await);
    assert_created(&app.send(jwt_with_body(r#"{"external_id":"Ada Lovelace"}"#)).await);
}

#[tokio::test]
async fn external_id_rules_apply_to_claims_too() {
    let app = TestApp::spawn().await.init().await;
    let long_sub = event_with("http-api-jwt-scope-claim.json", |e| {
        e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("s".repeat(64));
    });
    assert_error(&app.send(long_sub).await, 400, "invalid_external_id");
    for sub in ["user\u{200b}42", "user-42 ", "\u{feff}user-42"] {
        let invisible = event_with("http-api-jwt-scope-claim.json", |e| {
            e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(sub);
        });
        assert_error(&app.send(invisible).await, 400, "invalid_external_id");
    }
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn the_request_id_is_api_gateways_else_lambdas() {
    let app = TestApp::spawn().await.init().await;
    let response = app.send(event("http-api-no-authorizer.json")).await;
    assert_eq!(response.body["error"]["request_id"], "JKJaXmPLvHcESHA=");
    let response = app.send(event("rest-no-authorizer.json")).await;
    assert_eq!(response.body["error"]["request_id"], "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
    let no_gateway_id = event_with("http-api-no-authorizer.json", |e| {
        e["requestContext"].as_object_mut().unwrap().remove("requestId");
    });
    let response = app.send(with_deadline(no_gateway_id, 10_000)).await;
    assert_eq!(response.body["error"]["request_id"], "lambda-request-id");
}

#[tokio::test]
async fn a_success_carries_only_the_session_id_and_expiry() {
    let app = TestApp::spawn().await.init().await;
    let response = app.send(event("http-api-jwt.json")).await;
    let id = assert_created(&response);
    assert_eq!(id.len(), 64);
    let mut keys: Vec<&String> = response.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["expires_at", "session_id"]);
    assert!(!response.body.to_string().contains("peer"));
    assert!(matches!(response.body["expires_at"], Value::Number(_)));
}

#[tokio::test]
async fn the_init_rehearsal_calls_nobody_and_logs_nothing() {
    let app = TestApp::spawn().await.init().await;
    session_broker::entrypoints::lambda::rehearse(&app.service.broker).await;
    assert_eq!(app.parsec_calls().await, 0);
    assert_eq!(app.secrets.fetches(), 1, "only the Init fetch");
    assert!(!app.logs.text().contains("session request"), "{}", app.logs.text());
    assert!(app.metric_documents().is_empty());
}

/// device_id and renew: their rules come after the external_id rules and before the quota;
/// with no session store configured every valid request mints as before, and the audit line
/// says so.
#[tokio::test]
async fn device_fields_are_checked_after_the_external_id_rules_and_without_a_store_every_request_mints() {
    let app = TestApp::spawn_with(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).await.init().await;
    let bad_device = r#"{"external_id":"user-42","device_id":"not a device"}"#;
    assert_error(&app.send(jwt_with_body(bad_device)).await, 400, "invalid_device_id");
    let other_user_and_bad_device = r#"{"external_id":"user-7","device_id":"not a device"}"#;
    assert_error(&app.send(jwt_with_body(other_user_and_bad_device)).await, 403, "forbidden");
    let look_alike_and_bad_device = "{\"external_id\":\"user-42\u{200b}\",\"device_id\":\"x y\"}";
    assert_error(&app.send(jwt_with_body(look_alike_and_bad_device)).await, 403, "forbidden");
    assert_error(&app.send(jwt_with_body(r#"{"renew":true}"#)).await, 400, "invalid_request");
    assert_error(
        &app.send(jwt_with_body(r#"{"device_id":"d-1","renew":"yes"}"#)).await,
        400,
        "invalid_request",
    );
    assert_eq!(app.parsec_calls().await, 0, "no refusal reached Parsec");
    let device = r#"{"device_id":"3f1c2a9e-7b6d-4c1e-9f0a-1b2c3d4e5f60"}"#;
    let first = assert_created(&app.send(jwt_with_body(device)).await);
    let second = assert_created(&app.send(jwt_with_body(&device.replace('}', r#","renew":true}"#))).await);
    assert_ne!(first, second, "no store: each request mints its own session");
    app.behaviour.issued.lock().unwrap().extend([first, second]);
    assert_eq!(app.parsec_calls().await, 2);
    let sessions: Vec<Value> = app.audit_lines().iter().map(|l| l["session"].clone()).collect();
    assert_eq!(sessions[5..], [json!("minted_without_store"), json!("minted_without_store")]);
}
