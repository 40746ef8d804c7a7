//! The HTTP adapter: turns a `lambda_http` request into the contract's checks,
//! in the contract's order, and every outcome into a response.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::Method;
use lambda_http::request::{RequestContext, RequestOrigin};
use lambda_http::{Body, Request, RequestExt, Response};
use tokio::time::Instant;

use crate::audit::Audit;
use crate::body;
use crate::broker::Broker;
use crate::caller::Caller;
use crate::error::BrokerError;
use crate::parsec::{Session, SessionMinter};
use crate::response;
use crate::secret::SecretSource;

/// What the function keeps back from the invocation's deadline to answer in time.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// Answers one request. Never fails: every outcome is a response.
pub async fn handle<S: SecretSource, P: SessionMinter>(
    broker: &Broker<S, P>,
    request: Request,
) -> Response<Body> {
    let mut audit = Audit::new(request_id(&request));
    let result = process(broker, &request, &mut audit).await;
    let response = match &result {
        Ok(session) => {
            audit.expires_at = Some(session.expires_at);
            response::created(session)
        }
        Err(e) => response::error(e, &audit.request_id),
    };
    let error_code = result.as_ref().err().map(BrokerError::code);
    audit.emit(error_code.unwrap_or("created"), response.status());
    broker.record_metrics(error_code, &audit.upstream);
    response
}

async fn process<S: SecretSource, P: SessionMinter>(
    broker: &Broker<S, P>,
    request: &Request,
    audit: &mut Audit,
) -> Result<Session, BrokerError> {
    if request.method() != Method::POST {
        return Err(BrokerError::MethodNotAllowed);
    }
    let caller = Caller::from_context(request.request_context_ref()).ok_or(BrokerError::Unauthenticated)?;
    audit.caller(&caller);
    broker.policy().check_scope(&caller)?;
    let content_type = request.headers().get(CONTENT_TYPE).map(|v| v.as_bytes());
    let body = body::parse(content_type, request.body().as_ref())?;
    let external_id = broker.policy().external_id(&caller, body.external_id.as_deref())?;
    audit.external_id(&external_id);
    broker.create_session(&external_id, invocation_deadline(request), &mut audit.upstream).await
}

/// API Gateway's request id, else the Lambda request id.
fn request_id(request: &Request) -> String {
    let gateway = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.as_deref(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.as_deref(),
        #[allow(unreachable_patterns)]
        _ => None,
    };
    gateway
        .filter(|id| !id.is_empty())
        .or_else(|| request.lambda_context_ref().map(|c| c.request_id.as_str()))
        .unwrap_or_default()
        .to_owned()
}

/// When the answer must be ready: the invocation's deadline less a margin.
/// Without a usable Lambda deadline only the Parsec budget applies: no context
/// (unit tests), or a value that is not epoch milliseconds (some local
/// emulators, cargo lambda's among them, send the timeout itself, `600000`).
fn invocation_deadline(request: &Request) -> Instant {
    let now = Instant::now();
    let deadline_ms = request.lambda_context_ref().map_or(0, |c| c.deadline);
    if deadline_ms < PLAUSIBLE_EPOCH_MS {
        return now + Duration::from_secs(24 * 3600);
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let remaining = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    now + remaining.saturating_sub(DEADLINE_MARGIN)
}

/// 2001-09-09 in epoch milliseconds: any real deadline is later.
const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;

/// An unauthenticated HTTP API event: the rehearsal's input.
const REHEARSAL_EVENT: &str = r#"{"version":"2.0","routeKey":"POST /sessions","rawPath":"/sessions",
"rawQueryString":"","headers":{"content-type":"application/json"},"body":"{}","isBase64Encoded":false,
"requestContext":{"accountId":"-","apiId":"-","domainName":"-","domainPrefix":"-","requestId":"rehearsal",
"routeKey":"POST /sessions","stage":"$default","time":"-","timeEpoch":0,
"http":{"method":"POST","path":"/sessions","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"-"}}}"#;

/// Runs the request path once during Init on a built-in event that stops at
/// `401`: no Secrets Manager or Parsec call, no audit line, no metric. It
/// pages in and warms the code every request uses, so the first real
/// invocation costs about what a warm one does.
pub async fn rehearse<S: SecretSource, P: SessionMinter>(broker: &Broker<S, P>) {
    let Ok(request) = lambda_http::request::from_str(REHEARSAL_EVENT) else { return };
    let mut audit = Audit::new(request_id(&request));
    let outcome = process(broker, &request, &mut audit).await;
    let response = match &outcome {
        Ok(session) => response::created(session),
        Err(e) => response::error(e, &audit.request_id),
    };
    let _ = body::parse(Some(b"application/json"), br#"{"external_id":"rehearsal"}"#);
    let _ = crate::lambda_adapter::to_wire(&RequestOrigin::ApiGatewayV2, response);
}

/// [`handle`], with a panic on the request path answered as the contract's
/// `500` rather than a lost invocation.
pub async fn serve<S: SecretSource, P: SessionMinter>(
    broker: &Broker<S, P>,
    request: Request,
) -> Response<Body> {
    let id = request_id(&request);
    match crate::panic_guard::catch_panic(handle(broker, request)).await {
        Ok(response) => response,
        Err(()) => {
            let err = BrokerError::Internal;
            let response = response::error(&err, &id);
            let audit = Audit::new(id);
            audit.emit(err.code(), response.status());
            broker.record_metrics(Some(err.code()), &audit.upstream);
            response
        }
    }
}
