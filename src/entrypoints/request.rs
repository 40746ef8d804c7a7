//! The HTTP adapter: turns a `lambda_http` request into the contract's checks,
//! in the contract's order, and every outcome into a response.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::Method;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use tokio::time::Instant;

use crate::broker::{Broker, Deps};
use crate::domain::body;
use crate::domain::error::BrokerError;
use crate::entrypoints::identity;
use crate::entrypoints::response;
use crate::observability::audit::Audit;
use crate::parsec::Session;

/// What the function keeps back from the invocation's deadline to answer in time.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// What reached the adapter: a request it could read, or an event it could
/// not (with the request id to answer under). Built once and moved once per
/// request, so the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Incoming {
    Read(Request),
    Unreadable { request_id: String, why: &'static str },
}

/// Whether an answer is recorded (audit line and metrics). Only Init's
/// rehearsal is not: it is not a request anybody made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    On,
    Off,
}

/// Answers one request. Never fails: every outcome, a caught panic included,
/// ends in [`finish`].
pub async fn serve<D: Deps>(broker: &Broker<D>, request: Request) -> Response<Body> {
    answer(broker, Incoming::Read(request), Recording::On).await
}

/// The one path of a request: checks, outcome, [`finish`].
pub async fn answer<D: Deps>(broker: &Broker<D>, incoming: Incoming, recording: Recording) -> Response<Body> {
    match incoming {
        Incoming::Read(request) => {
            let mut audit = Audit::new(request_id(&request));
            let (source_ip, user_agent) = identity::client(request.request_context_ref());
            audit.client(source_ip, user_agent);
            let outcome = crate::broker::panic_guard::catch_panic(process(broker, &request, &mut audit))
                .await
                .unwrap_or(Err(BrokerError::Internal));
            finish(broker, audit, outcome, recording)
        }
        Incoming::Unreadable { request_id, why } => {
            let mut audit = Audit::new(request_id);
            audit.upstream.detail = Some(why.to_owned());
            let outcome = Err(BrokerError::InvalidRequest("The request could not be read."));
            finish(broker, audit, outcome, recording)
        }
    }
}

/// Where every request ends: the response, the audit line, the metrics.
fn finish<D: Deps>(
    broker: &Broker<D>,
    mut audit: Audit,
    outcome: Result<Session, BrokerError>,
    recording: Recording,
) -> Response<Body> {
    let response = match &outcome {
        Ok(session) => {
            audit.expires_at = Some(session.expires_at);
            response::created(session)
        }
        Err(e) => response::error(e, &audit.request_id),
    };
    if recording == Recording::On {
        let error_code = outcome.as_ref().err().map(BrokerError::code);
        audit.emit(error_code.unwrap_or("created"), response.status().as_u16());
        broker.record_metrics(error_code, &audit.upstream);
    }
    response
}

async fn process<D: Deps>(
    broker: &Broker<D>,
    request: &Request,
    audit: &mut Audit,
) -> Result<Session, BrokerError> {
    if request.method() != Method::POST {
        return Err(BrokerError::MethodNotAllowed);
    }
    let caller = identity::caller(request.request_context_ref()).ok_or(BrokerError::Unauthenticated)?;
    audit.caller(&caller);
    broker.policy().check_caller(&caller)?;
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
