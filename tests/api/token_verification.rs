//! Re-verifying the caller's token (`JWT_ISSUER`): the verified token decides, the
//! context must agree with it, and a context a forger writes gets nothing
//! (docs/contract.md, "Re-verifying the caller's token").

use std::sync::Arc;

use serde_json::{json, Value};
use session_broker::testing::issuer::{Signing, TestIssuer, RSA_KID};
use session_broker::testing::MemoryKeySet;

use crate::helpers::*;

async fn app(env: &[(&str, &str)]) -> (TestApp, TestIssuer, Arc<MemoryKeySet>) {
    let issuer = TestIssuer::new();
    let jwks = Arc::new(MemoryKeySet::serving(&issuer.jwks()));
    (TestApp::spawn_verifying(env, jwks.clone()).await, issuer, jwks)
}

#[tokio::test]
async fn a_valid_token_whose_context_matches_gets_a_session_for_its_own_subject() {
    let (app, issuer, _) = app(&[]).await;
    let response = app.send(signed(&issuer, "user-42")).await;
    assert_created(&response);
    let sent: Value = serde_json::from_slice(&app.session_requests().await[0].body).unwrap();
    assert_eq!(sent, json!({"external_id": "user-42"}));
}

#[tokio::test]
async fn a_context_naming_another_user_than_its_valid_token_is_401_and_parsec_is_not_called() {
    let (app, issuer, _) = app(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).await;
    let claims = TestIssuer::claims("user-42");
    let token = issuer.sign(Signing::Rs256, RSA_KID, &claims);
    let mut forged = claims.clone();
    forged["sub"] = json!("victim");
    assert_error(&app.send(signed_event("http-api-jwt.json", &token, &forged)).await, 401, "unauthenticated");
    // a claim the token does not have, and a scope it does not hold
    let mut extra = claims.clone();
    extra["cognito:groups"] = json!("admins");
    assert_error(&app.send(signed_event("http-api-jwt.json", &token, &extra)).await, 401, "unauthenticated");
    let mut scoped = claims.clone();
    scoped["scope"] = json!("parsec/sessions parsec/backend");
    assert_error(&app.send(signed_event("http-api-jwt.json", &token, &scoped)).await, 401, "unauthenticated");
    let mut flood = claims.clone();
    flood["x".repeat(10_000)] = json!("y");
    assert_error(&app.send(signed_event("http-api-jwt.json", &token, &flood)).await, 401, "unauthenticated");
    assert_eq!(app.parsec_calls().await, 0);
    let audit = app.audit_lines();
    assert!(audit[0]["detail"].as_str().unwrap().contains("`sub`"), "{}", audit[0]);
    let cut = audit[3]["detail"].as_str().unwrap();
    assert!(
        cut.contains(&"x".repeat(64)) && cut.len() < 200 && !cut.contains(&"x".repeat(65)),
        "the event's claim name is cut: {} bytes",
        cut.len()
    );
}

#[tokio::test]
async fn the_sample_events_demo_token_and_bad_tokens_are_401() {
    let (app, issuer, _) = app(&[]).await;
    assert_error(&app.send(event("http-api-jwt.json")).await, 401, "unauthenticated");
    let now = session_broker::testing::issuer::now();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut claims = TestIssuer::claims("user-42");
        edit(&mut claims);
        claims
    };
    let cases = [
        ("expired beyond the leeway", Signing::Rs256, RSA_KID, with(&|c| c["exp"] = json!(now - 120))),
        ("another audience", Signing::Rs256, RSA_KID, with(&|c| c["client_id"] = json!("someone-else"))),
        ("alg none", Signing::None, RSA_KID, with(&|_| {})),
        ("HS256 with the public key", Signing::Hs256WithPublicKey, RSA_KID, with(&|_| {})),
        ("an unknown key", Signing::Rs256, "unknown-kid", with(&|_| {})),
    ];
    for (case, signing, kid, claims) in cases {
        let token = issuer.sign(signing, kid, &claims);
        let response = app.send(signed_event("http-api-jwt.json", &token, &claims)).await;
        assert_eq!(response.status, 401, "{case}: {}", response.body);
    }
    let stranger = TestIssuer::new();
    assert_error(&app.send(signed(&stranger, "user-42")).await, 401, "unauthenticated");
    let within = with(&|c| c["exp"] = json!(now - 30));
    let token = issuer.sign(Signing::Rs256, RSA_KID, &within);
    assert_created(&app.send(signed_event("http-api-jwt.json", &token, &within)).await);
    assert_eq!(app.parsec_calls().await, 1);
}

#[tokio::test]
async fn a_missing_token_and_a_context_that_is_not_a_jwt_one_are_401() {
    let (app, issuer, _) = app(&[]).await;
    let no_header = event_with("http-api-jwt.json", |e| {
        e["headers"].as_object_mut().unwrap().remove("authorization");
    });
    assert_error(&app.send(no_header).await, 401, "unauthenticated");
    let token = issuer.token("user-42");
    for name in [
        "http-api-lambda-authorizer.json",
        "http-api-iam.json",
        "rest-lambda-authorizer.json",
        "rest-iam.json",
    ] {
        let token = token.clone();
        let request = event_with(name, move |e| {
            e["headers"]["authorization"] = json!(format!("Bearer {token}"));
        });
        assert_error(&app.send(request).await, 401, "unauthenticated");
    }
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn required_scope_is_read_from_the_verified_token() {
    let (app, issuer, _) = app(&[("REQUIRED_SCOPE", "parsec/sessions")]).await;
    assert_created(&app.send(signed(&issuer, "user-42")).await);
    let mut claims = TestIssuer::claims("user-42");
    claims["scope"] = json!("profile");
    let token = issuer.sign(Signing::Rs256, RSA_KID, &claims);
    assert_error(&app.send(signed_event("http-api-jwt.json", &token, &claims)).await, 403, "forbidden");
}

#[tokio::test]
async fn a_rest_cognito_context_agrees_with_its_token_in_api_gateways_own_renderings() {
    let (app, issuer, _) = app(&[]).await;
    let mut claims = TestIssuer::claims("user-42");
    claims["cognito:groups"] = json!(["players", "beta"]);
    claims["email_verified"] = json!(true);
    let token = issuer.sign(Signing::Rs256, RSA_KID, &claims);
    let date = |n: &Value| {
        // what the REST Cognito authorizer writes for epoch seconds
        let secs = n.as_i64().unwrap();
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{secs}"), "+%a %b %d %H:%M:%S UTC %Y"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let context = json!({
        "sub": "user-42", "iss": claims["iss"], "client_id": claims["client_id"], "token_use": "access",
        "scope": "parsec/sessions", "cognito:groups": "players,beta", "email_verified": "true",
        "exp": date(&claims["exp"]), "iat": date(&claims["iat"])
    });
    let request = event_with("rest-cognito.json", move |e| {
        e["headers"]["Authorization"] = json!(token);
        e["requestContext"]["authorizer"] = json!({"claims": context});
    });
    assert_created(&app.send(request).await);
}

#[tokio::test]
async fn a_jwks_down_at_start_is_503_jwks_unavailable_with_retry_after() {
    let issuer = TestIssuer::new();
    let jwks = Arc::new(MemoryKeySet::default()); // serves nothing: every fetch fails
    let app = TestApp::spawn_verifying(&[], jwks.clone()).await;
    let response = app.send(signed(&issuer, "user-42")).await;
    assert_error(&response, 503, "jwks_unavailable");
    let retry: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(jwks.fetches(), 1, "the refetch waits for its 10 s");
    assert_eq!(app.parsec_calls().await, 0);
}

#[tokio::test]
async fn the_benchs_verified_fixture_gets_a_session_from_its_jwks_and_a_forged_copy_does_not() {
    let read = |name: &str| {
        std::fs::read_to_string(format!("{}/bench/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    let jwks = Arc::new(MemoryKeySet::serving(&read("jwks.json")));
    let env = [
        ("JWT_ISSUER", "https://bench-issuer.parsec-session-broker.invalid"),
        ("JWT_AUDIENCE", "bench-client"),
    ];
    let app = TestApp::spawn_full(&env, None, Some(jwks)).await.init().await;
    let event: Value = serde_json::from_str(&read("http-api-jwt-verified.json")).unwrap();
    let request = |event: &Value| lambda_http::request::from_str(&event.to_string()).unwrap();
    assert_created(&app.send(request(&event)).await);
    let mut forged = event.clone();
    forged["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("victim");
    assert_error(&app.send(request(&forged)).await, 401, "unauthenticated");
}
