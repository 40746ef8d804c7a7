//! Who is calling, read from the authorizer context API Gateway attached to the
//! event: one [`Caller`] for every front door (see `docs/contract.md`,
//! "Caller identity").

use std::collections::BTreeMap;

use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayProxyRequestContext, ApiGatewayRequestAuthorizerIamDescription, ApiGatewayV2httpRequestContext,
};
use lambda_http::request::RequestContext;
use serde_json::Value;

use crate::domain::caller::{claim_text, Caller, CallerKind, PoolIdentity};

/// Keys API Gateway adds to a REST Lambda authorizer's map that say nothing
/// about who the caller is.
const REST_AUTHORIZER_BOOKKEEPING: &[&str] = &["integrationLatency"];

/// The caller described by the request context, or `None` when no
/// authorizer vouched for anyone (which the contract answers with 401).
pub fn caller(context: Option<&RequestContext>) -> Option<Caller> {
    match context? {
        RequestContext::ApiGatewayV2(ctx) => from_http_api(ctx),
        RequestContext::ApiGatewayV1(ctx) => from_rest_api(ctx),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The client's source IP and user agent, as API Gateway reports them.
pub fn client(context: Option<&RequestContext>) -> (Option<&str>, Option<&str>) {
    match context {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.http.source_ip.as_deref(), ctx.http.user_agent.as_deref())
        }
        Some(RequestContext::ApiGatewayV1(ctx)) => {
            (ctx.identity.source_ip.as_deref(), ctx.identity.user_agent.as_deref())
        }
        _ => (None, None),
    }
}

fn from_http_api(ctx: &ApiGatewayV2httpRequestContext) -> Option<Caller> {
    let authorizer = ctx.authorizer.as_ref()?;
    if let Some(jwt) = authorizer.jwt.as_ref().filter(|jwt| !jwt.claims.is_empty()) {
        let claims: BTreeMap<String, String> =
            jwt.claims.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut scopes = jwt.scopes.clone().unwrap_or_default();
        for key in ["scope", "scp"] {
            scopes.extend(jwt.claims.get(key).map(|v| split_scopes(v)).unwrap_or_default());
        }
        return Caller::new(CallerKind::Jwt, claims, scopes);
    }
    if !authorizer.fields.is_empty() {
        return from_value_map(CallerKind::LambdaAuthorizer, authorizer.fields.iter(), &["scope"]);
    }
    authorizer.iam.as_ref().and_then(from_iam)
}

fn from_rest_api(ctx: &ApiGatewayProxyRequestContext) -> Option<Caller> {
    let fields = &ctx.authorizer.fields;
    if let Some(Value::Object(claims)) = fields.get("claims") {
        // HTTP API with payload format 1.0 and a JWT authorizer sends the claims here
        // too, beside a `scopes` key (an array, or null) that REST's Cognito authorizer
        // never sends: a JWT caller, with the scopes from both.
        if let Some(scopes) = fields.get("scopes") {
            let mut caller_scopes: Vec<String> = scope_list(scopes);
            let claim_scopes = claims.iter().filter(|(k, _)| matches!(k.as_str(), "scope" | "scp"));
            caller_scopes.extend(claim_scopes.flat_map(|(_, v)| scope_list(v)));
            let claims =
                claims.iter().filter_map(|(k, v)| claim_text(v).map(|text| (k.clone(), text))).collect();
            return Caller::new(CallerKind::Jwt, claims, caller_scopes);
        }
        return from_value_map(CallerKind::Cognito, claims.iter(), &["scope", "scp"]);
    }
    let context = fields.iter().filter(|(k, _)| !REST_AUTHORIZER_BOOKKEEPING.contains(&k.as_str()));
    if let Some(caller) = from_value_map(CallerKind::LambdaAuthorizer, context, &["scope", "scp"]) {
        return Some(caller);
    }
    let identity = &ctx.identity;
    identity.user_arn.as_deref().filter(|arn| !arn.is_empty())?;
    let pairs = [
        ("userArn", &identity.user_arn),
        ("callerId", &identity.caller),
        ("accountId", &identity.account_id),
        ("userId", &identity.user),
        ("cognitoIdentityId", &identity.cognito_identity_id),
        ("cognitoIdentityPoolId", &identity.cognito_identity_pool_id),
    ];
    let caller = Caller::new(CallerKind::Iam, text_claims(pairs), Vec::new())?;
    if caller.claim("cognitoIdentityId").is_none() {
        return Some(caller);
    }
    // Anything but an explicit "authenticated" is a guest: fail closed.
    let authenticated = identity.cognito_authentication_type.as_deref() == Some("authenticated");
    Some(caller.with_pool_identity(PoolIdentity { authenticated }))
}

fn from_iam(iam: &ApiGatewayRequestAuthorizerIamDescription) -> Option<Caller> {
    let pairs = [
        ("userArn", &iam.user_arn),
        ("callerId", &iam.caller_id),
        ("accountId", &iam.account_id),
        ("userId", &iam.user_id),
        ("principalOrgId", &iam.principal_org_id),
    ];
    let mut claims = text_claims(pairs);
    let Some(pool) = iam.cognito_identity.as_ref() else {
        return Caller::new(CallerKind::Iam, claims, Vec::new());
    };
    let pool_pairs =
        [("cognitoIdentityId", &pool.identity_id), ("cognitoIdentityPoolId", &pool.identity_pool_id)];
    claims.extend(text_claims(pool_pairs));
    // `amr` lists "authenticated" or "unauthenticated"; without it, a guest.
    let authenticated = pool.amr.iter().any(|a| a == "authenticated");
    Caller::new(CallerKind::Iam, claims, Vec::new())
        .map(|c| c.with_pool_identity(PoolIdentity { authenticated }))
}

fn text_claims<const N: usize>(pairs: [(&str, &Option<String>); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().filter(|v| !v.is_empty()).map(|v| (k.to_owned(), v.clone())))
        .collect()
}

/// Claims from a map of JSON values (Lambda authorizer context, Cognito claims):
/// strings as they are, numbers and booleans as JSON text, anything else left out.
fn from_value_map<'a>(
    kind: CallerKind,
    map: impl Iterator<Item = (&'a String, &'a Value)> + Clone,
    scope_keys: &[&str],
) -> Option<Caller> {
    let claims: BTreeMap<String, String> =
        map.clone().filter_map(|(k, v)| claim_text(v).map(|text| (k.clone(), text))).collect();
    let scopes =
        map.filter(|(k, _)| scope_keys.contains(&k.as_str())).flat_map(|(_, v)| scope_list(v)).collect();
    Caller::new(kind, claims, scopes)
}

/// Scopes from space-separated text (HTTP API turns a JSON array claim into `"[a b]"`).
fn split_scopes(text: &str) -> Vec<String> {
    let inner = text.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(text);
    inner.split_whitespace().map(str::to_owned).collect()
}

/// Scopes from a typed `scope`/`scp` value: text, or a JSON array of strings.
fn scope_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => split_scopes(s),
        Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn caller(event: Value) -> Option<Caller> {
        let request = lambda_http::request::from_str(&event.to_string()).expect("event parses");
        use lambda_http::RequestExt;
        super::caller(request.request_context_ref())
    }

    fn http_api(authorizer: Value) -> Value {
        json!({
            "version": "2.0", "routeKey": "POST /sessions", "rawPath": "/sessions", "rawQueryString": "",
            "headers": {}, "isBase64Encoded": false,
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "d", "domainPrefix": "d",
                "http": {"method": "POST", "path": "/sessions", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "t"},
                "requestId": "req", "routeKey": "POST /sessions", "stage": "$default", "time": "t", "timeEpoch": 0,
                "authorizer": authorizer
            }
        })
    }

    fn rest_api(authorizer: Value, identity: Value) -> Value {
        json!({
            "resource": "/sessions", "path": "/sessions", "httpMethod": "POST", "headers": {},
            "multiValueHeaders": {}, "isBase64Encoded": false,
            "requestContext": {
                "accountId": "123456789012", "resourceId": "r", "stage": "Prod", "requestId": "req",
                "identity": identity, "resourcePath": "/sessions", "httpMethod": "POST", "apiId": "api",
                "authorizer": authorizer
            }
        })
    }

    #[test]
    fn a_jwt_caller_gets_scopes_from_both_the_array_and_the_scope_claim() {
        let c = caller(http_api(json!({"jwt": {"claims": {"sub": "u1", "scope": "a b"}, "scopes": ["c"]}})))
            .unwrap();
        assert_eq!(c.kind(), CallerKind::Jwt);
        assert_eq!(c.claim("sub"), Some("u1"));
        assert!(c.has_scope("a") && c.has_scope("b") && c.has_scope("c"));
        assert!(!c.has_scope("d"));
    }

    #[test]
    fn a_jwt_scp_claim_in_bracket_form_is_split_into_scopes() {
        let c = caller(http_api(
            json!({"jwt": {"claims": {"sub": "u1", "scp": "[read write]"}, "scopes": null}}),
        ))
        .unwrap();
        assert!(c.has_scope("read") && c.has_scope("write"));
    }

    #[test]
    fn an_http_api_lambda_authorizer_context_is_the_claims_map() {
        let c = caller(http_api(json!({"lambda": {"sub": "u2", "tenant": 7, "admin": false, "scope": "x"}})))
            .unwrap();
        assert_eq!(c.kind(), CallerKind::LambdaAuthorizer);
        assert_eq!(c.claim("tenant"), Some("7"));
        assert_eq!(c.claim("admin"), Some("false"));
        assert!(c.has_scope("x"));
    }

    #[test]
    fn http_api_iam_exposes_the_documented_claims_only() {
        let c = caller(http_api(json!({"iam": {
            "accessKey": "AKIA", "accountId": "111", "callerId": "AIDA", "userArn": "arn:aws:iam::111:user/x",
            "userId": "AIDA", "principalOrgId": "o-1", "cognitoIdentity": null
        }})))
        .unwrap();
        assert_eq!(c.kind(), CallerKind::Iam);
        assert_eq!(c.claim("userArn"), Some("arn:aws:iam::111:user/x"));
        assert_eq!(c.claim("principalOrgId"), Some("o-1"));
        assert_eq!(c.claim("accessKey"), None);
        assert_eq!(c.principal(), "arn:aws:iam::111:user/x");
    }

    #[test]
    fn rest_lambda_authorizer_values_may_be_numbers_or_booleans() {
        let c = caller(rest_api(
            json!({"principalId": "p", "userNumber": 12345, "active": true, "integrationLatency": 3}),
            json!({}),
        ))
        .unwrap();
        assert_eq!(c.kind(), CallerKind::LambdaAuthorizer);
        assert_eq!(c.claim("userNumber"), Some("12345"));
        assert_eq!(c.claim("active"), Some("true"));
        assert_eq!(c.principal(), "p");
    }

    #[test]
    fn rest_cognito_claims_keep_working_with_typed_values() {
        let c = caller(rest_api(
            json!({"claims": {"sub": "c1", "email_verified": true, "scope": "s1 s2"}}),
            json!({}),
        ))
        .unwrap();
        assert_eq!(c.kind(), CallerKind::Cognito);
        assert_eq!(c.claim("email_verified"), Some("true"));
        assert!(c.has_scope("s2"));
    }

    #[test]
    fn rest_iam_maps_caller_and_user_to_the_http_api_names() {
        let c = caller(rest_api(
            json!({}),
            json!({"userArn": "arn:aws:iam::1:user/a", "caller": "C", "user": "U", "accountId": "1"}),
        ))
        .unwrap();
        assert_eq!(c.kind(), CallerKind::Iam);
        assert_eq!(c.claim("callerId"), Some("C"));
        assert_eq!(c.claim("userId"), Some("U"));
        assert_eq!(c.claim("accountId"), Some("1"));
    }

    #[test]
    fn no_authorizer_or_an_empty_one_is_no_caller() {
        assert!(caller(http_api(Value::Null)).is_none());
        assert!(caller(http_api(json!({}))).is_none());
        assert!(caller(http_api(json!({"jwt": {"claims": {}, "scopes": null}}))).is_none());
        assert!(caller(http_api(json!({"lambda": {}}))).is_none());
        assert!(caller(rest_api(json!({}), json!({"sourceIp": "1.2.3.4"}))).is_none());
        assert!(caller(rest_api(json!({"integrationLatency": 0}), json!({"userArn": null}))).is_none());
        assert!(super::caller(None).is_none());
    }

    fn pool_iam(amr: Value) -> Value {
        http_api(json!({"iam": {
            "accessKey": "ASIA", "accountId": "123456789012", "callerId": "AROA:CognitoIdentityCredentials",
            "userArn": "arn:aws:sts::123456789012:assumed-role/Cognito_GameAuth_Role/CognitoIdentityCredentials",
            "userId": "AROA:CognitoIdentityCredentials", "principalOrgId": null,
            "cognitoIdentity": {"amr": amr, "identityId": "us-east-1:1111-2222", "identityPoolId": "us-east-1:pool"}
        }}))
    }

    #[test]
    fn an_http_api_iam_caller_with_a_cognito_identity_is_named_by_its_identity_id() {
        let c = caller(pool_iam(json!(["authenticated", "cognito-idp.us-east-1.amazonaws.com/us-east-1_x"])))
            .unwrap();
        assert_eq!(c.claim("cognitoIdentityId"), Some("us-east-1:1111-2222"));
        assert_eq!(c.pool_identity(), Some(PoolIdentity { authenticated: true }));
        assert_eq!(c.principal(), "us-east-1:1111-2222");
        let guest = caller(pool_iam(json!(["unauthenticated"]))).unwrap();
        assert_eq!(guest.pool_identity(), Some(PoolIdentity { authenticated: false }));
        let no_amr = caller(pool_iam(json!([]))).unwrap();
        assert_eq!(no_amr.pool_identity(), Some(PoolIdentity { authenticated: false }));
    }

    #[test]
    fn a_rest_iam_caller_with_a_cognito_identity_is_a_guest_unless_authenticated() {
        let identity = |kind: Value| {
            json!({"userArn": "arn:aws:sts::1:assumed-role/Cognito_Unauth_Role/CognitoIdentityCredentials",
                   "caller": "C", "cognitoIdentityId": "us-east-1:3333", "cognitoAuthenticationType": kind})
        };
        let authenticated = caller(rest_api(json!({}), identity(json!("authenticated")))).unwrap();
        assert_eq!(authenticated.pool_identity(), Some(PoolIdentity { authenticated: true }));
        assert_eq!(authenticated.claim("cognitoIdentityId"), Some("us-east-1:3333"));
        for guest in [json!("unauthenticated"), Value::Null, json!("AUTHENTICATED")] {
            let c = caller(rest_api(json!({}), identity(guest.clone()))).unwrap();
            assert_eq!(c.pool_identity(), Some(PoolIdentity { authenticated: false }), "{guest}");
        }
        let plain = caller(rest_api(json!({}), json!({"userArn": "arn:aws:iam::1:user/a"}))).unwrap();
        assert_eq!(plain.pool_identity(), None);
    }
}
