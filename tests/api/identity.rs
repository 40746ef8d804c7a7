//! Caller identity for every front door, both external_id modes, and the scope rule.

use serde_json::{json, Value};

use crate::helpers::*;

/// The backends the body-mode tests trust: the sample backend token's client
/// and the sample IAM role.
const BACKENDS: &str = "client_id:backend7m2vq4k1s9example,role:arn:aws:iam::123456789012:role/game-backend";

pub(crate) async fn body_mode(trusted: &str) -> TestApp {
    TestApp::spawn_with(&[("EXTERNAL_ID_SOURCE", "body"), ("TRUSTED_CALLERS", trusted)]).await.init().await
}

/// The users Parsec was asked for, in order.
async fn sent_external_ids(app: &TestApp) -> Vec<String> {
    let requests = app.session_requests().await;
    requests
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["external_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The body Parsec received for the only session created in this test.
pub(crate) async fn parsec_external_id(app: &TestApp) -> String {
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
async fn body_mode_takes_the_user_from_the_body_only_for_a_trusted_backend() {
    let app = body_mode(BACKENDS).await;
    assert_created(&app.send(event("http-api-jwt-backend.json")).await);
    assert_eq!(parsec_external_id(&app).await, "player-1001");
}

#[tokio::test]
async fn body_mode_serves_an_app_token_exactly_as_claim_mode() {
    let app = body_mode(BACKENDS).await;
    // The sample app token carries the same scope a backend's does.
    assert_error(&app.send(event("http-api-jwt-other-user.json")).await, 403, "forbidden");
    assert_eq!(app.parsec_calls().await, 0);
    assert_created(&app.send(event("http-api-jwt.json")).await);
    assert_created(&app.send(jwt_with_body("")).await);
    assert_created(&app.send(jwt_with_body("{}")).await);
    let users: Vec<String> = sent_external_ids(&app).await;
    assert_eq!(users, ["user-42", "user-42", "user-42"]);
}

type EventMaker = Box<dyn Fn() -> lambda_http::Request>;

/// Every front door in body mode: a caller a rule trusts names the user; the
/// same event under rules that do not trust it is served as in claim mode
/// (its body names someone else, so 403).
#[tokio::test]
async fn body_mode_trust_is_decided_per_rule_for_every_front_door() {
    let player =
        |name: &'static str| event_with(name, |e| e["body"] = json!(r#"{"external_id":"player-1001"}"#));
    let access_token_claims = |e: &mut Value| {
        e["requestContext"]["authorizer"]["claims"]["client_id"] = json!("backend7m2vq4k1s9example");
        e["headers"]["Content-Type"] = json!("application/json");
        e["body"] = json!(r#"{"external_id":"player-1001"}"#);
    };
    let cases: Vec<(&str, &str, EventMaker)> = vec![
        (
            "HTTP API JWT by client_id",
            "client_id:backend7m2vq4k1s9example",
            Box::new(|| event("http-api-jwt-backend.json")),
        ),
        ("HTTP API JWT by scope", "scope:parsec/backend", Box::new(|| event("http-api-jwt-backend.json"))),
        (
            "HTTP API Lambda authorizer",
            "principal:lambda_authorizer:user-42",
            Box::new(move || player("http-api-lambda-authorizer.json")),
        ),
        (
            "HTTP API IAM",
            "role:arn:aws:iam::123456789012:role/game-backend",
            Box::new(|| event("http-api-iam.json")),
        ),
        (
            "Function URL IAM",
            "role:arn:aws:iam::123456789012:role/game-backend",
            Box::new(|| event("function-url-iam.json")),
        ),
        (
            "REST Cognito",
            "client_id:backend7m2vq4k1s9example",
            Box::new(move || event_with("rest-cognito.json", access_token_claims)),
        ),
        (
            "REST Lambda authorizer",
            "principal:lambda_authorizer:user-42",
            Box::new(move || player("rest-lambda-authorizer.json")),
        ),
        ("REST IAM", "role:arn:aws:iam::123456789012:role/game-backend", Box::new(|| event("rest-iam.json"))),
    ];
    for (door, rule, request) in &cases {
        let app = body_mode(rule).await;
        assert_created(&app.send(request()).await);
        assert_eq!(parsec_external_id(&app).await, "player-1001", "{door} trusted by {rule}");
        let app = body_mode("client_id:some-other-client,scope:parsec/other,role:arn:aws:iam::123456789012:role/game-backend-2,principal:lambda_authorizer:someone-else").await;
        assert_error(&app.send(request()).await, 403, "forbidden");
        assert_eq!(app.parsec_calls().await, 0, "{door} untrusted");
    }
}

#[tokio::test]
async fn a_client_id_rule_falls_back_to_azp_and_never_matches_another_client() {
    let with_azp = || {
        event_with("http-api-jwt-backend.json", |e| {
            let claims = &mut e["requestContext"]["authorizer"]["jwt"]["claims"];
            claims.as_object_mut().unwrap().remove("client_id");
            claims["azp"] = json!("backend7m2vq4k1s9example");
        })
    };
    let app = body_mode("client_id:backend7m2vq4k1s9example").await;
    assert_created(&app.send(with_azp()).await);
    assert_error(&app.send(event("http-api-jwt-other-user.json")).await, 403, "forbidden");
    assert_eq!(sent_external_ids(&app).await, ["player-1001"]);
}

#[tokio::test]
async fn a_role_rule_trusts_sessions_of_that_role_only() {
    let session_of = |arn: &'static str| {
        event_with("http-api-iam.json", move |e| {
            e["requestContext"]["authorizer"]["iam"]["userArn"] = json!(arn)
        })
    };
    let app = body_mode("role:arn:aws:iam::123456789012:role/game-backend").await;
    assert_created(
        &app.send(session_of("arn:aws:sts::123456789012:assumed-role/game-backend/deploy-7")).await,
    );
    for other in [
        "arn:aws:sts::123456789012:assumed-role/game-backend-staging/deploy-7",
        "arn:aws:sts::999999999999:assumed-role/game-backend/deploy-7",
        "arn:aws:iam::123456789012:user/game-backend",
    ] {
        assert_error(&app.send(session_of(other)).await, 403, "forbidden");
    }
    assert_eq!(app.parsec_calls().await, 1);
}

#[tokio::test]
async fn body_mode_without_an_external_id_is_invalid_for_a_trusted_backend() {
    let app = body_mode(BACKENDS).await;
    let backend_body =
        |body: &'static str| event_with("http-api-jwt-backend.json", move |e| e["body"] = json!(body));
    assert_error(&app.send(backend_body("{}")).await, 400, "invalid_request");
    assert_error(&app.send(backend_body("")).await, 400, "invalid_request");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn body_mode_still_requires_an_authenticated_caller() {
    let app = body_mode(BACKENDS).await;
    assert_error(&app.send(event("http-api-no-authorizer.json")).await, 401, "unauthenticated");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn a_cognito_identity_pool_caller_is_named_by_its_identity_id() {
    let app = TestApp::spawn_with(&[("EXTERNAL_ID_CLAIM", "cognitoIdentityId")]).await.init().await;
    assert_created(&app.send(event("http-api-iam-cognito.json")).await);
    assert_created(&app.send(event("rest-iam-cognito.json")).await);
    let id = "eu-west-1:7f3c9a2e-1b4d-4c8e-9f0a-2d6b8e4c1a37";
    assert_eq!(sent_external_ids(&app).await, [id, id]);
    // An IAM caller without a Cognito identity has no identity id to name it.
    assert_error(
        &app.send(event_with("http-api-iam.json", |e| e["body"] = Value::Null)).await,
        403,
        "forbidden",
    );
}

#[tokio::test]
async fn a_guest_cognito_identity_is_forbidden_before_anything_is_called() {
    for mode in [
        &[("EXTERNAL_ID_CLAIM", "cognitoIdentityId")][..],
        &[
            ("EXTERNAL_ID_SOURCE", "body"),
            ("TRUSTED_CALLERS", "principal:iam:eu-west-1:5e0d7c1b-9a8f-4b2e-8d3c-6f1a0b9e2c48"),
        ],
    ] {
        let app = TestApp::spawn_with(mode).await.init().await;
        for name in ["http-api-iam-cognito-guest.json", "rest-iam-cognito-guest.json"] {
            assert_error(&app.send(event(name)).await, 403, "forbidden");
        }
        assert_eq!(app.parsec_calls().await, 0);
        assert_eq!(app.secrets.fetches(), 1, "only the Init fetch");
    }
}

#[tokio::test]
async fn the_shared_role_session_of_an_identity_pool_names_nobody() {
    for claim in ["userArn", "callerId", "userId"] {
        let app = TestApp::spawn_with(&[("EXTERNAL_ID_CLAIM", claim)]).await.init().await;
        assert_error(&app.send(event("http-api-iam-cognito.json")).await, 403, "forbidden");
        assert_error(&app.send(event("rest-iam-cognito.json")).await, 403, "forbidden");
        assert_eq!(app.parsec_calls().await, 0, "{claim}");
    }
    // The same claim still names an IAM caller that is not a pool identity.
    let app = TestApp::spawn_with(&[("EXTERNAL_ID_CLAIM", "userArn")]).await.init().await;
    assert_created(&app.send(event_with("rest-iam.json", |e| e["body"] = Value::Null)).await);
}

#[tokio::test]
async fn a_role_rule_naming_the_identity_pools_role_trusts_none_of_its_users() {
    let app = body_mode("role:arn:aws:iam::123456789012:role/Cognito_GameAuth_Role").await;
    let naming =
        event_with("http-api-iam-cognito.json", |e| e["body"] = json!(r#"{"external_id":"player-1001"}"#));
    assert_error(&app.send(naming).await, 403, "forbidden");
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
        let env =
            [("REQUIRED_SCOPE", "parsec/admin"), ("EXTERNAL_ID_SOURCE", mode), ("TRUSTED_CALLERS", BACKENDS)];
        let app = TestApp::spawn_with(&env).await.init().await;
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
