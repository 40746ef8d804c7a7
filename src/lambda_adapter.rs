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

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::http::serve;
use crate::parsec::SessionMinter;
use crate::response;
use crate::secret::SecretSource;

/// Answers the event as Lambda delivered it (raw JSON).
pub async fn handle_raw<S: SecretSource, P: SessionMinter>(
    broker: &Broker<S, P>,
    raw: &RawValue,
    context: Context,
) -> Value {
    if let Ok(payload) = serde_json::from_str::<LambdaRequest>(raw.get()) {
        return handle_event(broker, payload, context).await;
    }
    let Ok(mut value) = serde_json::from_str::<Value>(raw.get()) else {
        return unreadable(&RequestOrigin::ApiGatewayV2, &context.request_id);
    };
    stringify_jwt_claims(&mut value);
    let origin =
        if value["version"] == "2.0" { RequestOrigin::ApiGatewayV2 } else { RequestOrigin::ApiGatewayV1 };
    match serde_json::from_value::<LambdaRequest>(value) {
        Ok(payload) => handle_event(broker, payload, context).await,
        Err(_) => unreadable(&origin, &context.request_id),
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

fn unreadable(origin: &RequestOrigin, request_id: &str) -> Value {
    tracing::warn!(request_id = %request_id, "an event that is not an API Gateway request was answered 400");
    let err = BrokerError::InvalidRequest("The request could not be read.");
    to_wire(origin, response::error(&err, request_id))
}

/// Answers one raw event with the response shape its front door expects.
pub async fn handle_event<S: SecretSource, P: SessionMinter>(
    broker: &Broker<S, P>,
    payload: LambdaRequest,
    context: Context,
) -> Value {
    let origin = payload.request_origin();
    let request_id = context.request_id.clone();
    let response = match catch_unwind(AssertUnwindSafe(|| Request::from(payload))) {
        Ok(request) => serve(broker, request.with_lambda_context(context)).await,
        Err(_) => return unreadable(&origin, &request_id),
    };
    to_wire(&origin, response)
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
    use crate::error::BrokerError;

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
