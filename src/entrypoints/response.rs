//! The one place responses are built: the success body, the error body, and
//! the headers every answer carries.

use lambda_http::http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

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

/// `201` with the session id and its expiry, nothing else.
pub fn created(session: &Session) -> Response<Body> {
    let body = Created { session_id: session.id.expose(), expires_at: session.expires_at };
    json(StatusCode::CREATED, &body)
}

/// The contract's error body, with `Allow` or `Retry-After` where they apply.
pub fn error(err: &BrokerError, request_id: &str) -> Response<Body> {
    let body = ErrorEnvelope { error: ErrorBody { code: err.code(), message: err.message(), request_id } };
    let mut response = json(err.status(), &body);
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
    response
}
