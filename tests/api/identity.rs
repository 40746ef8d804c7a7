//! Caller identity for every front door, both external_id modes, and the scope rule.

use serde_json::{json, Value};

use crate::helpers::*;

/// The body Parsec received for the only session created in this test.
async fn parsec_external_id(app: &TestApp) -> String {
    let requests = app.session_requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].headers.get("x-api-key").unwrap(), KEY_V1);
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    body["external_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_claim_bearing_front_door_gets_a_session_for_the_callers_own_sub() {
    for name in [
        "http-api-jwt.json",
        "http-api-jwt-scope-claim.json",
        "http-api-jwt-base64-body.json",
        "http-api-lambda-authorizer.json",
        "rest-lambda-authorizer.json",
        "rest-cognito.json",
    ] {
        let app = TestApp::spawn().await.init().await;
        let response = app.send(event(name)).await;
        let session_id = assert_created(&response);
        assert_eq!(app.behaviour.issued.lock().unwrap().as_slice(), [session_id], "{name}");
        assert_eq!(parsec_external_id(&app).await, "user-42", "{name}");
    }
}

#[tokio::test]
async fn iam_callers_are_identified_by_their_arn_claims() {
    for name in ["http-api-iam.json", "function-url-iam.json", "rest-iam.json"] {
        let app = TestApp::spawn_with(&[("EXTERNAL_ID_CLAIM", "userId")]).await.init().await;
        assert_created(&app.send(event_with(name, |e| e["body"] = Value::Null)).await);
        assert_eq!(parsec_external_id(&app).await, "AROAEXAMPLEROLEID:backend", "{name}");
    }
}

#[tokio::test]
async fn iam_backends_in_body_mode_name_the_user_in_the_body() {
    for name in ["http-api-iam.json", "function-url-iam.json", "rest-iam.json"] {
        let app = TestApp::spawn_with(&[("EXTERNAL_ID_SOURCE", "body")]).await.init().await;
        assert_created(&app.send(event(name)).await);
        assert_eq!(parsec_external_id(&app).await, "player-1001", "{name}");
    }
}

#[tokio::test]
async fn iam_callers_have_no_sub_so_claim_mode_forbids_them_by_default() {
    for name in ["http-api-iam.json", "rest-iam.json"] {
        let app = TestApp::spawn().await.init().await;
        assert_error(&app.send(event(name)).await, 403, "forbidden");
        assert_eq!(app.parsec_calls().await, 0);
    }
}

#[tokio::test]
async fn a_request_without_an_authorizer_is_unauthenticated_and_parsec_is_not_called() {
    for name in ["http-api-no-authorizer.json", "rest-no-authorizer.json"] {
        let app = TestApp::spawn().await.init().await;
        assert_error(&app.send(event(name)).await, 401, "unauthenticated");
        assert_eq!(app.parsec_calls().await, 0, "{name}");
    }
}

#[tokio::test]
async fn empty_authorizers_are_unauthenticated() {
    let app = TestApp::spawn().await.init().await;
    for authorizer in
        [json!({}), json!({"jwt": {"claims": {}, "scopes": null}}), json!({"lambda": {}}), json!({"iam": {}})]
    {
        let request = event_with("http-api-jwt.json", |e| e["requestContext"]["authorizer"] = authorizer);
        assert_error(&app.send(request).await, 401, "unauthenticated");
    }
    let rest = event_with("rest-lambda-authorizer.json", |e| {
        e["requestContext"]["authorizer"] = json!({"integrationLatency": 0})
    });
    assert_error(&app.send(rest).await, 401, "unauthenticated");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn numeric_and_boolean_claims_are_used_in_their_json_text_form() {
    let no_body = || event_with("rest-lambda-authorizer.json", |e| e["body"] = Value::Null);
    let app = TestApp::spawn_with(&[("EXTERNAL_ID_CLAIM", "accountNumber")]).await.init().await;
    assert_created(&app.send(no_body()).await);
    assert_eq!(parsec_external_id(&app).await, "1234567");
    let app = TestApp::spawn_with(&[("EXTERNAL_ID_CLAIM", "premium")]).await.init().await;
    assert_created(&app.send(no_body()).await);
    assert_eq!(parsec_external_id(&app).await, "true");
    // A body may repeat the number's text form.
    let app = TestApp::spawn_with(&[("EXTERNAL_ID_CLAIM", "accountNumber")]).await.init().await;
    let repeat =
        event_with("rest-lambda-authorizer.json", |e| e["body"] = json!(r#"{"external_id":"1234567"}"#));
    assert_created(&app.send(repeat).await);
}

#[tokio::test]
async fn a_caller_cannot_ask_for_another_users_session_in_claim_mode() {
    let app = TestApp::spawn().await.init().await;
    assert_error(&app.send(event("http-api-jwt-other-user.json")).await, 403, "forbidden");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn a_missing_identity_claim_is_forbidden() {
    let app = TestApp::spawn_with(&[("EXTERNAL_ID_CLAIM", "player_id")]).await.init().await;
    assert_error(&app.send(event("http-api-jwt.json")).await, 403, "forbidden");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn body_mode_takes_the_user_from_the_body_for_an_authenticated_backend() {
    let app = TestApp::spawn_with(&[("EXTERNAL_ID_SOURCE", "body")]).await.init().await;
    assert_created(&app.send(event("http-api-jwt-other-user.json")).await);
    assert_eq!(parsec_external_id(&app).await, "user-7");
}

#[tokio::test]
async fn body_mode_without_an_external_id_is_invalid() {
    let app = TestApp::spawn_with(&[("EXTERNAL_ID_SOURCE", "body")]).await.init().await;
    assert_error(&app.send(event("http-api-jwt-scope-claim.json")).await, 400, "invalid_request");
    assert_error(&app.send(jwt_with_body("{}")).await, 400, "invalid_request");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn body_mode_still_requires_an_authenticated_caller() {
    let app = TestApp::spawn_with(&[("EXTERNAL_ID_SOURCE", "body")]).await.init().await;
    assert_error(&app.send(event("http-api-no-authorizer.json")).await, 401, "unauthenticated");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn a_required_scope_is_found_in_the_jwt_scopes_or_the_scope_claim() {
    let app = TestApp::spawn_with(&[("REQUIRED_SCOPE", "parsec/sessions")]).await.init().await;
    for name in [
        "http-api-jwt.json",
        "http-api-jwt-scope-claim.json",
        "http-api-lambda-authorizer.json",
        "rest-lambda-authorizer.json",
    ] {
        assert_created(&app.send(event(name)).await);
    }
}

#[tokio::test]
async fn a_caller_without_the_required_scope_is_forbidden_in_both_modes() {
    for mode in ["claim", "body"] {
        let app = TestApp::spawn_with(&[("REQUIRED_SCOPE", "parsec/admin"), ("EXTERNAL_ID_SOURCE", mode)])
            .await
            .init()
            .await;
        for name in ["http-api-jwt.json", "rest-cognito.json", "http-api-iam.json"] {
            assert_error(&app.send(event(name)).await, 403, "forbidden");
        }
        assert_eq!(app.parsec_calls().await, 0);
    }
}

#[tokio::test]
async fn the_scope_check_comes_before_the_body_checks() {
    let app = TestApp::spawn_with(&[("REQUIRED_SCOPE", "parsec/admin")]).await.init().await;
    assert_error(&app.send(event("http-api-jwt-too-large.json")).await, 403, "forbidden");
    assert_error(&app.send(event("http-api-jwt-text-plain.json")).await, 403, "forbidden");
}
