//! The Lambda entry: turns the raw API Gateway event into a `lambda_http`
//! request and the response back into the event's response shape.
//!
//! `lambda_http` does the same in its own adapter, but panics on some inputs
//! (a `Host` header that is not a host name, an `isBase64Encoded` body that is
//! not base64), which the runtime reports as a failed invocation: API Gateway's
//! opaque 502. Here such an event gets the contract's `400 invalid_request`.
//! Likewise an event lambda_http cannot deserialise at all: the one known
//! variant, HTTP API JWT claims that are not strings, is normalised to the
//! claims' JSON text (as the contract reads typed claims); anything else is a 400.

use std::panic::{catch_unwind, AssertUnwindSafe};

use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::http::HeaderMap;
use lambda_http::request::{LambdaRequest, RequestOrigin};
use lambda_http::{Body, Context, Request, RequestExt, Response};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::broker::{Broker, Deps, Outcome};
use crate::entrypoints::request::{finish, handle};
use crate::entrypoints::{response, Service};

/// What reached the function: a request it could read, or an event it could
/// not (with the request id to answer under). Built once and moved once per
/// request, so the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Incoming {
    Read(Request),
    Unreadable { request_id: String, why: &'static str },
}

/// Answers the event as Lambda delivered it (raw JSON), in the response shape
/// of its front door.
pub async fn handle_raw<D: Deps>(service: &Service<D>, raw: &RawValue, context: Context) -> Value {
    let (origin, incoming) = read_event(raw, context);
    let outcome = outcome(&service.broker, incoming).await;
    to_wire(&origin, finish(service, outcome))
}

async fn outcome<D: Deps>(broker: &Broker<D>, incoming: Incoming) -> Outcome {
    match incoming {
        Incoming::Read(request) => handle(broker, &request).await,
        Incoming::Unreadable { request_id, why } => Outcome::unreadable(request_id, why),
    }
}

/// The event as a `lambda_http` request, or why it cannot be one. Either way
/// with the request id to answer under: API Gateway's when the event has one.
pub fn read_event(raw: &RawValue, context: Context) -> (RequestOrigin, Incoming) {
    if let Ok(payload) = serde_json::from_str::<LambdaRequest>(raw.get()) {
        return to_request(payload, context);
    }
    let Ok(mut value) = serde_json::from_str::<Value>(raw.get()) else {
        return (RequestOrigin::ApiGatewayV2, unreadable(None, context, "the event is not JSON"));
    };
    stringify_jwt_claims(&mut value);
    let origin =
        if value["version"] == "2.0" { RequestOrigin::ApiGatewayV2 } else { RequestOrigin::ApiGatewayV1 };
    let gateway_id = value.pointer("/requestContext/requestId").and_then(Value::as_str).map(str::to_owned);
    match serde_json::from_value::<LambdaRequest>(value) {
        Ok(payload) => to_request(payload, context),
        Err(_) => (origin, unreadable(gateway_id, context, "the event is not an API Gateway request")),
    }
}

/// lambda_http's conversion, which panics on some inputs (see the module note).
fn to_request(payload: LambdaRequest, context: Context) -> (RequestOrigin, Incoming) {
    let origin = payload.request_origin();
    let gateway_id = gateway_request_id(&payload);
    match catch_unwind(AssertUnwindSafe(|| Request::from(payload))) {
        Ok(request) => (origin, Incoming::Read(request.with_lambda_context(context))),
        Err(_) => (origin, unreadable(gateway_id, context, "lambda_http could not convert the event")),
    }
}

fn unreadable(gateway_id: Option<String>, context: Context, why: &'static str) -> Incoming {
    let request_id = gateway_id.filter(|id| !id.is_empty()).unwrap_or(context.request_id);
    Incoming::Unreadable { request_id, why }
}

fn gateway_request_id(payload: &LambdaRequest) -> Option<String> {
    match payload {
        LambdaRequest::ApiGatewayV1(event) => event.request_context.request_id.clone(),
        LambdaRequest::ApiGatewayV2(event) => event.request_context.request_id.clone(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// HTTP API JWT claims are strings on the wire; a number or boolean (or any
/// other JSON value) becomes its JSON text instead of failing the whole event.
fn stringify_jwt_claims(event: &mut Value) {
    let claims = event.pointer_mut("/requestContext/authorizer/jwt/claims").and_then(Value::as_object_mut);
    for value in claims.into_iter().flat_map(|c| c.values_mut()) {
        if !value.is_string() && !value.is_null() {
            *value = Value::String(value.to_string());
        }
    }
}

/// An unauthenticated HTTP API event: the rehearsal's input.
const REHEARSAL_EVENT: &str = r#"{"version":"2.0","routeKey":"POST /sessions","rawPath":"/sessions",
"rawQueryString":"","headers":{"content-type":"application/json"},"body":"{}","isBase64Encoded":false,
"requestContext":{"accountId":"-","apiId":"-","domainName":"-","domainPrefix":"-","requestId":"rehearsal",
"routeKey":"POST /sessions","stage":"$default","time":"-","timeEpoch":0,
"http":{"method":"POST","path":"/sessions","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"-"}}}"#;

/// Runs the request path once during Init, from the raw event to the wire
/// document, on a built-in event that stops at `401`: no Secrets Manager or
/// Parsec call, and no [`finish`], so no audit line and no metric. It pages in
/// and warms the code every request uses, so the first real invocation costs
/// about what a warm one does.
pub async fn rehearse<D: Deps>(broker: &Broker<D>) {
    let Ok(raw) = RawValue::from_string(REHEARSAL_EVENT.to_owned()) else { return };
    let (origin, incoming) = read_event(&raw, Context::default());
    let outcome = outcome(broker, incoming).await;
    let _ = to_wire(&origin, response::of(&outcome));
    let _ = crate::domain::body::parse(Some(b"application/json"), br#"{"external_id":"rehearsal"}"#);
}

/// The API Gateway response document for `response`, as lambda_http writes it:
/// REST (payload 1.0) in `multiValueHeaders`, HTTP API and Function URLs
/// (payload 2.0) in `headers`.
pub fn to_wire(origin: &RequestOrigin, response: Response<Body>) -> Value {
    let (parts, body) = response.into_parts();
    let (is_base64_encoded, body) = match body {
        Body::Empty => (false, None),
        text @ Body::Text(_) => (false, Some(text)),
        binary => (true, Some(binary)),
    };
    let status_code = i64::from(parts.status.as_u16());
    let document = match origin {
        RequestOrigin::ApiGatewayV1 => {
            let mut wire = ApiGatewayProxyResponse::default();
            wire.status_code = status_code;
            wire.multi_value_headers = parts.headers;
            wire.headers = HeaderMap::new();
            wire.body = body;
            wire.is_base64_encoded = is_base64_encoded;
            serde_json::to_value(wire)
        }
        _ => {
            let mut wire = ApiGatewayV2httpResponse::default();
            wire.status_code = status_code;
            wire.headers = parts.headers;
            wire.body = body;
            wire.is_base64_encoded = is_base64_encoded;
            serde_json::to_value(wire)
        }
    };
    document.unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error::BrokerError;

    #[test]
    fn rest_responses_put_headers_in_multi_value_headers() {
        let wire =
            to_wire(&RequestOrigin::ApiGatewayV1, response::error(&BrokerError::MethodNotAllowed, "r"));
        assert_eq!(wire["statusCode"], 405);
        assert_eq!(wire["multiValueHeaders"]["allow"], serde_json::json!(["POST"]));
        assert_eq!(wire["multiValueHeaders"]["cache-control"], serde_json::json!(["no-store"]));
        assert_eq!(wire["isBase64Encoded"], false);
        let body: Value = serde_json::from_str(wire["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }

    #[test]
    fn http_api_responses_put_headers_in_headers() {
        let wire = to_wire(&RequestOrigin::ApiGatewayV2, response::error(&BrokerError::Unauthenticated, "r"));
        assert_eq!(wire["statusCode"], 401);
        assert_eq!(wire["headers"]["content-type"], "application/json");
        assert_eq!(wire["headers"]["pragma"], "no-cache");
        assert!(wire["body"].as_str().unwrap().contains("unauthenticated"));
    }
}
