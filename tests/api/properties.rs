//! Property tests of everything that reads input: for any body, header and
//! authorizer context the function answers a success or a documented 4xx,
//! never a 5xx and never a panic; and a session is only ever for the caller.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use session_broker::broker::Broker;
use session_broker::domain::body;
use session_broker::domain::external_id::ExternalId;
use session_broker::entrypoints::request::serve;
use session_broker::entrypoints::Service;
use session_broker::observability::metrics::MetricsSink;
use session_broker::testing::{self, versioned, Doubles, MemoryParsec, MemorySecrets};

fn broker(mode: &str) -> (Service<Doubles>, Arc<MemoryParsec>) {
    let config = testing::config(&[
        ("PARSEC_API_URL", "http://127.0.0.1:9"),
        ("EXTERNAL_ID_SOURCE", mode),
        ("TRUSTED_CALLERS", "scope:parsec/backend,client_id:backend,principal:lambda_authorizer:svc"),
    ])
    .unwrap();
    let parsec = Arc::new(MemoryParsec::default());
    let broker =
        Broker::new(&config, MemorySecrets::new(versioned("k", "v")), parsec.clone(), None, None, None);
    (Service::new(broker, MetricsSink::Off), parsec)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// JSON values of every kind, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,80}".prop_map(Value::String),
        Just(json!("user-42")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_:]{1,12}|sub|scope|scp|claims|principalId", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn any_authorizer_v2() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any_json(),
        prop::collection::btree_map("sub|scope|scp|[a-z]{1,8}", ".{0,70}", 0..5)
            .prop_map(|claims| json!({"jwt": {"claims": claims, "scopes": null}})),
        any_json().prop_map(|lambda| json!({"lambda": lambda})),
        prop::collection::btree_map("userArn|callerId|accountId|userId|principalOrgId", ".{0,40}", 0..5)
            .prop_map(|iam| json!({"iam": iam})),
    ]
}

fn any_body() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        ".{0,200}",
        any_json().prop_map(|v| v.to_string()),
        ".{0,70}".prop_map(|id| json!({"external_id": id}).to_string()),
        (".{0,10}", any_json()).prop_map(|(k, v)| format!(r#"{{"external_id":"user-42","{k}":{v}}}"#)),
        (0usize..6000).prop_map(|n| format!(r#"{{"external_id":"{}"}}"#, "a".repeat(n))),
    ]
}

fn any_content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("Application/JSON; charset=utf-8".to_owned())),
        "[ -~]{0,40}".prop_map(Some),
    ]
}

fn http_api_event(
    method: &str,
    authorizer: Value,
    body: &str,
    content_type: Option<String>,
    b64: bool,
) -> Value {
    use base64::Engine;
    let mut headers = Map::new();
    if let Some(ct) = content_type {
        headers.insert("content-type".into(), json!(ct));
    }
    let body = if b64 { base64::engine::general_purpose::STANDARD.encode(body) } else { body.to_owned() };
    json!({
        "version": "2.0", "routeKey": "POST /sessions", "rawPath": "/sessions", "rawQueryString": "",
        "headers": headers, "body": body, "isBase64Encoded": b64,
        "requestContext": {
            "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d", "requestId": "r",
            "routeKey": "POST /sessions", "stage": "$default", "time": "t", "timeEpoch": 0,
            "http": {"method": method, "path": "/sessions", "protocol": "HTTP/1.1", "sourceIp": "1.1.1.1", "userAgent": "p"},
            "authorizer": authorizer
        }
    })
}

fn rest_event(authorizer: Value, identity: Value, body: &str, content_type: Option<String>) -> Value {
    let mut headers = Map::new();
    if let Some(ct) = content_type {
        headers.insert("Content-Type".into(), json!(ct));
    }
    json!({
        "resource": "/sessions", "path": "/sessions", "httpMethod": "POST", "headers": headers,
        "multiValueHeaders": {}, "body": body, "isBase64Encoded": false,
        "requestContext": {"accountId": "1", "resourceId": "r", "stage": "Prod", "requestId": "r",
            "identity": identity, "resourcePath": "/sessions", "httpMethod": "POST", "apiId": "a",
            "authorizer": authorizer}
    })
}

const DOCUMENTED_4XX: [u16; 6] = [400, 401, 403, 405, 413, 415];

/// Sends `event` (if lambda_http can read it at all) and checks the answer.
fn check(mode: &str, event: Value) -> Result<(), TestCaseError> {
    let Ok(request) = lambda_http::request::from_str(&event.to_string()) else {
        return Ok(()); // never reaches the handler
    };
    let (broker, parsec) = broker(mode);
    let response = runtime().block_on(serve(&broker, request));
    let status = response.status().as_u16();
    prop_assert!(status == 201 || DOCUMENTED_4XX.contains(&status), "status {status} for {event}");
    let issued = parsec.external_ids();
    prop_assert_eq!(issued.len(), usize::from(status == 201));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn body_parsing_never_panics_and_only_answers_documented_client_errors(
        body in prop::collection::vec(any::<u8>(), 0..5000),
        content_type in any_content_type(),
    ) {
        if let Err(e) = body::parse(content_type.as_deref().map(str::as_bytes), &body) {
            prop_assert!([400, 413, 415].contains(&session_broker::entrypoints::response::status(&e).as_u16()), "{e:?}");
        }
    }

    #[test]
    fn external_id_accepts_exactly_the_contracts_strings(
        id in "[\\x00-\\x7f]{0,70}|[a-zé李ë \u{200B}\u{202E}\u{FEFF}\u{00A0}\u{2060}\u{115F}\u{3164}\u{FFA0}\u{2800}\u{034F}\u{FE0F}\u{E0100}\u{180B}\u{2028}\u{2029}\u{E000}\u{0378}\u{3000}]{0,24}"
    ) {
        // The contract's list, written out independently of the code's tables.
        let invisible = |c: char| matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{E0001}' | '\u{E0020}'..='\u{E007F}'
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}' | '\u{034F}' | '\u{FE00}'..='\u{FE0F}'
            | '\u{E0100}'..='\u{E01EF}' | '\u{180B}'..='\u{180F}' | '\u{2028}' | '\u{2029}'
            | '\u{E000}'..='\u{F8FF}' | '\u{0378}');
        let expected = (1..=63).contains(&id.len())
            && !id.chars().any(char::is_control)
            && !id.chars().any(invisible)
            && !id.chars().any(|c| c.is_whitespace() && c != ' ')
            && !id.starts_with(' ')
            && !id.ends_with(' ');
        prop_assert_eq!(ExternalId::parse(&id).is_ok(), expected);
    }

    #[test]
    fn any_http_api_event_gets_a_session_or_a_documented_4xx(
        method in "POST|GET|PUT|OPTIONS|[A-Z]{1,7}",
        authorizer in any_authorizer_v2(),
        body in any_body(),
        content_type in any_content_type(),
        b64 in any::<bool>(),
        mode in "claim|body",
    ) {
        check(&mode, http_api_event(&method, authorizer, &body, content_type, b64))?;
    }

    #[test]
    fn any_rest_event_gets_a_session_or_a_documented_4xx(
        authorizer in any_json(),
        user_arn in prop::option::of(".{0,40}"),
        body in any_body(),
        content_type in any_content_type(),
        mode in "claim|body",
    ) {
        check(&mode, rest_event(authorizer, json!({"userArn": user_arn, "caller": "c"}), &body, content_type))?;
    }

    #[test]
    fn in_claim_mode_a_session_is_only_ever_for_the_callers_own_sub(
        sub in ".{0,70}",
        requested in prop::option::of(".{0,70}"),
    ) {
        let body = requested.as_ref().map(|r| json!({"external_id": r}).to_string()).unwrap_or_default();
        let event = http_api_event("POST", json!({"jwt": {"claims": {"sub": sub}, "scopes": null}}), &body,
            Some("application/json".into()), false);
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let (broker, parsec) = broker("claim");
        let status = runtime().block_on(serve(&broker, request)).status().as_u16();
        let issued = parsec.external_ids();
        if status == 201 {
            prop_assert_eq!(issued, vec![sub.clone()]);
            prop_assert!(requested.is_none_or(|r| r == sub));
        } else {
            prop_assert!(issued.is_empty());
            prop_assert!(DOCUMENTED_4XX.contains(&status));
        }
    }
}

#[tokio::test]
async fn a_panic_on_the_request_path_still_answers_the_contracts_500() {
    let (broker, parsec) = broker("claim");
    parsec.panic_on_call();
    let response = serve(&broker, crate::helpers::event("http-api-jwt.json")).await;
    assert_eq!(response.status(), 500);
    crate::helpers::assert_contract_headers(response.headers());
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body["error"]["code"], "internal_error");
    assert_eq!(body["error"]["request_id"], "JKJaXmPLvHcESHA=");
    // The process lives on: the same broker answers the next request.
    let again = serve(&broker, crate::helpers::event("http-api-no-authorizer.json")).await;
    assert_eq!(again.status(), 401);
}

/// `Broker::handle` on what an entry point read, no event built: whatever mix of
/// failures a request has, the answer is that of the first failing check in the contract's
/// order (2 method, 3 caller, 4 scope, 5 size, 6 media type, 7 shape, 8 which user, 9 the
/// external_id rules), and only a request that passes them all reaches Parsec.
fn first_failing_check(
    post: bool,
    has_caller: bool,
    has_scope: bool,
    too_large: bool,
    json_type: bool,
    body: u8,
    bad_claim: bool,
) -> Result<(), TestCaseError> {
    use session_broker::broker::Inbound;
    use session_broker::domain::caller::{Caller, CallerKind};
    let config =
        testing::config(&[("PARSEC_API_URL", "http://127.0.0.1:9"), ("REQUIRED_SCOPE", "parsec/sessions")])
            .unwrap();
    let parsec = Arc::new(MemoryParsec::default());
    let broker = Broker::<Doubles>::new(
        &config,
        MemorySecrets::new(versioned("k", "v")),
        parsec.clone(),
        None,
        None,
        None,
    );
    let sub = if bad_claim { "\u{200b}user-42" } else { "user-42" };
    let scopes = if has_scope { vec!["parsec/sessions".to_owned()] } else { Vec::new() };
    let caller = Caller::new(CallerKind::Jwt, [("sub".to_owned(), sub.to_owned())].into(), scopes);
    // 0 empty, 1 `{}`, 2 the caller's own id, 3 another user's, 4 not an object.
    let mut text = match body {
        0 => String::new(),
        1 => "{}".to_owned(),
        2 => json!({"external_id": sub}).to_string(),
        3 => json!({"external_id": "user-7"}).to_string(),
        _ => "[1]".to_owned(),
    };
    if too_large {
        text = format!("{{\"external_id\":\"user-42\"{}}}", " ".repeat(4096));
    }
    let content_type: &[u8] = if json_type { b"application/json" } else { b"text/plain" };
    let inbound = Inbound {
        request_id: "r".into(),
        method: if post { "POST" } else { "GET" },
        caller: has_caller.then_some(caller).flatten(),
        token: None,
        content_type: Some(content_type),
        body: text.as_bytes(),
        deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(5),
        source_ip: None,
        user_agent: None,
    };
    let expected = if !post {
        Some("method_not_allowed")
    } else if !has_caller {
        Some("unauthenticated")
    } else if !has_scope {
        Some("forbidden")
    } else if too_large {
        Some("payload_too_large")
    } else if !text.is_empty() && !json_type {
        Some("unsupported_media_type")
    } else if body == 4 {
        Some("invalid_request")
    } else if body == 3 {
        Some("forbidden")
    } else if bad_claim {
        Some("invalid_external_id")
    } else {
        None
    };
    let outcome = runtime().block_on(broker.handle(inbound));
    prop_assert_eq!(outcome.error_code(), expected);
    prop_assert_eq!(parsec.external_ids().len(), usize::from(expected.is_none()));
    prop_assert_eq!(
        outcome.record.external_id.is_some(),
        expected.is_none() || expected == Some("quota_exceeded")
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_first_failing_check_in_the_contracts_order_decides_the_answer(
        post in any::<bool>(),
        has_caller in any::<bool>(),
        has_scope in any::<bool>(),
        too_large in any::<bool>(),
        json_type in any::<bool>(),
        body in 0u8..5,
        bad_claim in any::<bool>(),
    ) {
        first_failing_check(post, has_caller, has_scope, too_large, json_type, body, bad_claim)?;
    }
}
