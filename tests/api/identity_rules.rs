//! The identity rules that close look-alike and confused-caller gaps: HTTP API payload
//! 1.0 JWT callers and their scopes, `principal:` trust entries bound to a caller kind, and
//! `external_id` values that could pass for another user's (docs/contract.md, "Who the
//! caller is" and "Which user the session is for").

use serde_json::{json, Value};

use crate::helpers::*;
use crate::identity::{body_mode, parsec_external_id};

/// HTTP API with payload format 1.0 behind a JWT authorizer: REST's event shape, with the
/// claims in `authorizer.claims` and the scopes in `authorizer.scopes`.
fn http_api_v1_jwt(scopes: Value) -> lambda_http::Request {
    event_with("rest-cognito.json", move |e| {
        e["version"] = json!("1.0");
        e["requestContext"]["authorizer"]["scopes"] = scopes;
    })
}

#[tokio::test]
async fn http_api_payload_1_0_jwt_scopes_satisfy_the_required_scope() {
    let app =
        TestApp::spawn_with(&[("REQUIRED_SCOPE", "parsec/sessions"), ("AWS_LAMBDA_LOG_FORMAT", "JSON")])
            .await
            .init()
            .await;
    assert_created(&app.send(http_api_v1_jwt(json!(["parsec/sessions"]))).await);
    assert_eq!(app.audit_lines()[0]["caller_kind"], "jwt");
    assert_error(&app.send(http_api_v1_jwt(json!(["parsec/other"]))).await, 403, "forbidden");
    assert_error(&app.send(http_api_v1_jwt(Value::Null)).await, 403, "forbidden");
    assert_eq!(app.parsec_calls().await, 1);
}

#[tokio::test]
async fn http_api_payload_1_0_jwt_scopes_count_for_scope_trust_entries() {
    let app = body_mode("scope:parsec/backend").await;
    let naming = |scopes: Value| {
        let request = http_api_v1_jwt(scopes);
        let (mut parts, _) = request.into_parts();
        parts.headers.insert("content-type", "application/json".parse().unwrap());
        lambda_http::Request::from_parts(
            parts,
            lambda_http::Body::Text(r#"{"external_id":"player-1001"}"#.into()),
        )
    };
    assert_created(&app.send(naming(json!(["parsec/backend"]))).await);
    assert_eq!(parsec_external_id(&app).await, "player-1001");
    assert_error(&app.send(naming(json!(["parsec/sessions"]))).await, 403, "forbidden");
}

#[tokio::test]
async fn a_principal_entry_trusts_the_lambda_authorizer_backend_and_not_a_jwt_user_of_that_name() {
    let app = body_mode("principal:lambda_authorizer:user-42").await;
    let backend = event_with("http-api-lambda-authorizer.json", |e| {
        e["body"] = json!(r#"{"external_id":"player-1001"}"#);
    });
    assert_created(&app.send(backend).await);
    assert_eq!(parsec_external_id(&app).await, "player-1001");
    let user = event_with("http-api-jwt.json", |e| e["body"] = json!(r#"{"external_id":"player-1001"}"#));
    assert_error(&app.send(user).await, 403, "forbidden");
    assert_eq!(app.parsec_calls().await, 1);
}

#[tokio::test]
async fn look_alike_characters_are_400_invalid_external_id_in_the_claim_and_in_a_trusted_body() {
    let look_alikes = [
        '\u{115F}',
        '\u{1160}',
        '\u{3164}',
        '\u{FFA0}',
        '\u{2800}',
        '\u{034F}',
        '\u{FE00}',
        '\u{FE0F}',
        '\u{E0100}',
        '\u{E01EF}',
        '\u{180B}',
        '\u{180F}',
        '\u{2028}',
        '\u{2029}',
    ];
    let claim_mode = TestApp::spawn().await.init().await;
    let backend = body_mode("client_id:backend7m2vq4k1s9example").await;
    for c in look_alikes {
        let id = format!("user{c}42");
        let claimed = event_with("http-api-jwt.json", |e| {
            e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(id);
            e["body"] = json!("{}");
        });
        assert_error(&claim_mode.send(claimed).await, 400, "invalid_external_id");
        let body = json!({"external_id": id}).to_string();
        let named = event_with("http-api-jwt-backend.json", |e| e["body"] = json!(body));
        assert_error(&backend.send(named).await, 400, "invalid_external_id");
    }
    assert_eq!(claim_mode.parsec_calls().await + backend.parsec_calls().await, 0);
}
