//! The one place responses are built: the success body, the error body, and
//! the headers every answer carries.

use lambda_http::http::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, X_CONTENT_TYPE_OPTIONS,
};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::broker::Outcome;
use crate::domain::error::BrokerError;
use crate::parsec::Session;

#[derive(Serialize)]
struct Created<'a> {
    session_id: &'a str,
    expires_at: i64,
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    request_id: &'a str,
}

/// The HTTP status of each way a request can fail: the contract's error table.
pub fn status(err: &BrokerError) -> StatusCode {
    use BrokerError::*;
    match err {
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Unauthenticated | TokenRejected => StatusCode::UNAUTHORIZED,
        Forbidden(_) => StatusCode::FORBIDDEN,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        InvalidRequest(_) | InvalidExternalId(_) | InvalidDeviceId(_) => StatusCode::BAD_REQUEST,
        SecretUnavailable | UpstreamThrottled { .. } | JwksUnavailable { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        Misconfigured | Internal => StatusCode::INTERNAL_SERVER_ERROR,
        UpstreamAuthFailed | UpstreamError | UpstreamInvalidResponse | UpstreamUnreachable => {
            StatusCode::BAD_GATEWAY
        }
        UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
        RequestInProgress => StatusCode::CONFLICT,
    }
}

/// The response for a request's outcome.
pub fn of(outcome: &Outcome) -> Response<Body> {
    match &outcome.result {
        Ok(session) if outcome.reused() => json(StatusCode::OK, &body(session)),
        Ok(session) => created(session),
        Err(e) => error(e, &outcome.record.request_id),
    }
}

/// `201` with the session id and its expiry, nothing else.
pub fn created(session: &Session) -> Response<Body> {
    json(StatusCode::CREATED, &body(session))
}

/// The body of `201` and of `200` (a device's stored session): the same two fields.
fn body(session: &Session) -> Created<'_> {
    Created { session_id: session.id.expose(), expires_at: session.expires_at }
}

/// The contract's error body, with `Allow` or `Retry-After` where they apply.
pub fn error(err: &BrokerError, request_id: &str) -> Response<Body> {
    let body = ErrorEnvelope { error: ErrorBody { code: err.code(), message: err.message(), request_id } };
    let mut response = json(status(err), &body);
    let headers = response.headers_mut();
    if *err == BrokerError::MethodNotAllowed {
        headers.insert(ALLOW, HeaderValue::from_static("POST"));
    }
    if let Some(value) = err.retry_after().and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(RETRY_AFTER, value);
    }
    response
}

fn json(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Serialising these plain structs cannot fail; an empty object is the fallback.
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_mistakes_are_4xx_and_server_faults_are_5xx() {
        let client = [
            BrokerError::MethodNotAllowed,
            BrokerError::Unauthenticated,
            BrokerError::Forbidden("x"),
            BrokerError::PayloadTooLarge,
            BrokerError::UnsupportedMediaType,
            BrokerError::InvalidRequest("x"),
            BrokerError::InvalidExternalId("x"),
            BrokerError::QuotaExceeded { retry_after: "1".into() },
        ];
        assert!(client.iter().all(|e| status(e).is_client_error()));
        let server = [
            BrokerError::SecretUnavailable,
            BrokerError::Misconfigured,
            BrokerError::UpstreamAuthFailed,
            BrokerError::UpstreamThrottled { retry_after: "1".into() },
            BrokerError::UpstreamError,
            BrokerError::UpstreamInvalidResponse,
            BrokerError::UpstreamTimeout,
            BrokerError::UpstreamUnreachable,
            BrokerError::Internal,
        ];
        assert!(server.iter().all(|e| status(e).is_server_error()));
    }
}
