//! A `lambda_http` request in, a response out: reads what the broker needs
//! into an [`Inbound`], hands it to [`Broker::handle`], and ends every request in
//! [`finish`] (response, audit line, metrics).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use tokio::time::Instant;

use crate::broker::{Broker, Deps, Inbound, Outcome};
use crate::entrypoints::{identity, response, Service};
use crate::observability::audit;
use crate::observability::metrics::RequestMetrics;
use crate::observability::xray;
use crate::tokens::BearerToken;

/// What the function keeps back from the invocation's deadline to answer in time.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// Answers one request. Never fails: every outcome ends in [`finish`].
pub async fn serve<D: Deps>(service: &Service<D>, request: Request) -> Response<Body> {
    let outcome = handle(&service.broker, &request).await;
    finish(service, outcome)
}

/// The broker's outcome for `request`, within the invocation's X-Ray trace.
pub(crate) async fn handle<D: Deps>(broker: &Broker<D>, request: &Request) -> Outcome {
    let trace_id = request.lambda_context_ref().and_then(|c| c.xray_trace_id.clone());
    xray::within(trace_id, broker.handle(inbound(request))).await
}

/// What the broker needs of the request, and nothing of `lambda_http`.
fn inbound(request: &Request) -> Inbound<'_> {
    let context = request.request_context_ref();
    let (source_ip, user_agent) = identity::client(context);
    Inbound {
        request_id: request_id(request),
        method: request.method().as_str(),
        caller: identity::caller(context),
        token: request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(BearerToken::from_header),
        content_type: request.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()),
        body: request.body().as_ref(),
        deadline: invocation_deadline(request),
        source_ip,
        user_agent,
    }
}

/// Where every request ends: the response, the audit line, the metrics.
pub(crate) fn finish<D: Deps>(service: &Service<D>, outcome: Outcome) -> Response<Body> {
    let response = response::of(&outcome);
    audit::emit(&outcome.record, outcome.error_code().unwrap_or("created"), response.status().as_u16());
    service.metrics.record(&RequestMetrics::of(&outcome, service.broker.take_counters()));
    response
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
