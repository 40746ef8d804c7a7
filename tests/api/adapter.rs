//! The raw-event adapter: events lambda_http itself cannot read get a 400,
//! and responses come back in the shape each front door expects.

use lambda_http::Context;
use serde_json::{json, Value};
use session_broker::entrypoints::lambda::handle_raw;

use crate::helpers::*;

fn body_code(wire: &Value) -> String {
    let body: Value = serde_json::from_str(wire["body"].as_str().unwrap()).unwrap();
    body["error"]["code"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_host_header_that_is_not_a_host_is_400_not_a_failed_invocation() {
    let app = TestApp::spawn().await.init().await;
    let event =
        raw_json("http-api-jwt.json", |e| e["headers"]["host"] = json!("abc.execute-api>>>.amazonaws.com"));
    let wire = handle_raw(&app.service, &event, Context::default()).await;
    assert_eq!(wire["statusCode"], 400);
    assert_eq!(body_code(&wire), "invalid_request");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn a_body_flagged_base64_that_is_not_base64_is_400() {
    let app = TestApp::spawn().await.init().await;
    let event = raw_json("rest-lambda-authorizer.json", |e| {
        e["isBase64Encoded"] = json!(true);
        e["body"] = json!("{not base64!}");
    });
    let wire = handle_raw(&app.service, &event, Context::default()).await;
    assert_eq!(wire["statusCode"], 400);
    assert_eq!(wire["multiValueHeaders"]["content-type"], json!(["application/json"]));
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn a_session_comes_back_in_each_front_doors_response_shape() {
    let app = TestApp::spawn().await.init().await;
    let v2 = handle_raw(&app.service, &raw_json("http-api-jwt.json", |_| {}), Context::default()).await;
    assert_eq!(v2["statusCode"], 201);
    assert_eq!(v2["headers"]["cache-control"], "no-store");
    let v1 = handle_raw(&app.service, &raw_json("rest-cognito.json", |_| {}), Context::default()).await;
    assert_eq!(v1["statusCode"], 201);
    assert_eq!(v1["multiValueHeaders"]["pragma"], json!(["no-cache"]));
    let session: Value = serde_json::from_str(v1["body"].as_str().unwrap()).unwrap();
    assert!(session["session_id"].is_string() && session["expires_at"].is_i64());
}

fn raw_json(name: &str, edit: impl FnOnce(&mut Value)) -> Box<serde_json::value::RawValue> {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut value);
    serde_json::value::RawValue::from_string(value.to_string()).unwrap()
}

#[tokio::test]
async fn http_api_jwt_claims_that_are_not_strings_are_read_as_their_json_text() {
    let app = TestApp::spawn_with(&[("EXTERNAL_ID_CLAIM", "player_number")]).await.init().await;
    let event = raw_json("http-api-jwt-scope-claim.json", |e| {
        e["requestContext"]["authorizer"]["jwt"]["claims"]["player_number"] = json!(1001);
        e["requestContext"]["authorizer"]["jwt"]["claims"]["email_verified"] = json!(true);
    });
    let wire = handle_raw(&app.service, &event, Context::default()).await;
    assert_eq!(wire["statusCode"], 201, "{wire}");
    let sent: Value = serde_json::from_slice(&app.session_requests().await[0].body).unwrap();
    assert_eq!(sent["external_id"], "1001");
    let session: Value = serde_json::from_str(wire["body"].as_str().unwrap()).unwrap();
    app.behaviour.issued.lock().unwrap().push(session["session_id"].as_str().unwrap().to_owned());
}

#[tokio::test]
async fn an_event_that_is_no_api_gateway_request_is_400() {
    let app = TestApp::spawn().await.init().await;
    for text in [r#"{}"#, r#"{"hello":"world"}"#, r#"[1,2]"#, r#""text""#] {
        let raw = serde_json::value::RawValue::from_string(text.to_owned()).unwrap();
        let wire = handle_raw(&app.service, &raw, Context::default()).await;
        assert_eq!(wire["statusCode"], 400, "{text}");
        assert_eq!(body_code(&wire), "invalid_request");
    }
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn a_normal_event_takes_the_direct_path() {
    let app = TestApp::spawn().await.init().await;
    let wire = handle_raw(&app.service, &raw_json("rest-cognito.json", |_| {}), Context::default()).await;
    assert_eq!(wire["statusCode"], 201);
    let session: Value = serde_json::from_str(wire["body"].as_str().unwrap()).unwrap();
    assert!(app
        .behaviour
        .issued
        .lock()
        .unwrap()
        .contains(&session["session_id"].as_str().unwrap().to_owned()));
}

#[tokio::test]
async fn an_unreadable_event_is_audited_and_counted_like_any_other_request() {
    let app = TestApp::spawn_with(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).await.init().await;
    let event = raw_json("rest-lambda-authorizer.json", |e| {
        e["isBase64Encoded"] = json!(true);
        e["body"] = json!("{not base64!}");
    });
    let wire = handle_raw(&app.service, &event, Context::default()).await;
    assert_eq!(wire["statusCode"], 400);
    let lines = app.audit_lines();
    assert_eq!(lines.len(), 1, "{}", app.logs.text());
    assert_eq!(lines[0]["request_id"], "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
    assert_eq!(lines[0]["outcome"], "invalid_request");
    assert_eq!(lines[0]["status"], 400);
    let documents = app.metric_documents();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0]["ErrorCode"], "invalid_request");
    assert_eq!(documents[0]["SessionsCreated"], 0);
}

#[tokio::test]
async fn an_unreadable_event_answers_under_api_gateways_request_id() {
    let app = TestApp::spawn().await.init().await;
    let mut context = Context::default();
    context.request_id = "lambda-request-id".into();
    let bad_base64 = raw_json("http-api-jwt.json", |e| {
        e["isBase64Encoded"] = json!(true);
        e["body"] = json!("{not base64!}");
    });
    let wire = handle_raw(&app.service, &bad_base64, context.clone()).await;
    assert_eq!(body_request_id(&wire), "JKJaXmPLvHcESHA=");
    let not_an_event = raw_json("http-api-jwt.json", |e| e["headers"] = json!("not a map"));
    let wire = handle_raw(&app.service, &not_an_event, context.clone()).await;
    assert_eq!(wire["statusCode"], 400);
    assert_eq!(body_request_id(&wire), "JKJaXmPLvHcESHA=");
    let no_gateway_id = serde_json::value::RawValue::from_string("{}".into()).unwrap();
    let wire = handle_raw(&app.service, &no_gateway_id, context).await;
    assert_eq!(body_request_id(&wire), "lambda-request-id");
}

fn body_request_id(wire: &Value) -> String {
    let body: Value = serde_json::from_str(wire["body"].as_str().unwrap()).unwrap();
    body["error"]["request_id"].as_str().unwrap_or("").to_owned()
}
