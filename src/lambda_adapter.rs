//! The Lambda entry: turns the raw API Gateway event into a `lambda_http`
//! request and the response back into the event's response shape.
//!
//! `lambda_http` does the same in its own adapter, but panics on some inputs
//! (a `Host` header that is not a host name, an `isBase64Encoded` body that is
//! not base64), which the runtime reports as a failed invocation: API Gateway's
//! opaque 502. Here such an event gets the contract's `400 invalid_request`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::http::HeaderMap;
use lambda_http::request::{LambdaRequest, RequestOrigin};
use lambda_http::{Body, Context, Request, RequestExt, Response};
use serde_json::Value;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::http::serve;
use crate::parsec::SessionMinter;
use crate::response;
use crate::secret::SecretSource;

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
        Err(_) => {
            let err = BrokerError::InvalidRequest("The request could not be read.");
            tracing::warn!(request_id = %request_id, "an event lambda_http could not read was answered 400");
            response::error(&err, &request_id)
        }
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
