//! The [`SessionMinter`] that talks HTTP to Parsec: one shared client, no
//! redirects, a bounded body, and one retry only for a failed connect.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};
use tokio::time::{timeout_at, Instant};

use crate::domain::external_id::ExternalId;
use crate::parsec::{Minted, Session, SessionId, SessionMinter, UpstreamError};
use crate::secrets::ApiKey;

pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
const DEFAULT_RETRY_AFTER: &str = "1";

pub struct ParsecClient {
    http: Client,
    sessions_url: Url,
}

#[derive(Serialize)]
struct CreateSession<'a> {
    external_id: &'a str,
}

/// Parsec's answer, parsed leniently: only `id` and `expires_at` are required.
#[derive(Deserialize)]
struct Envelope {
    session: WireSession,
}

#[derive(Deserialize)]
struct WireSession {
    id: String,
    expires_at: i64,
}

impl ParsecClient {
    /// `http` must not follow redirects: see [`crate::startup::http_client::build`].
    pub fn new(http: Client, sessions_url: Url) -> Self {
        ParsecClient { http, sessions_url }
    }

    async fn post_once(&self, key: &ApiKey, body: &[u8]) -> Result<Minted, Attempt> {
        let response = self
            .http
            .post(self.sessions_url.clone())
            .header("x-api-key", key.header_value().clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    Attempt::ConnectFailed
                } else {
                    Attempt::Failed(UpstreamError::Unreachable)
                }
            })?;
        interpret(response).await.map_err(Attempt::Failed)
    }
}

enum Attempt {
    /// Nothing reached Parsec: safe to try once more.
    ConnectFailed,
    Failed(UpstreamError),
}

impl SessionMinter for ParsecClient {
    async fn create_session(
        &self,
        key: &ApiKey,
        external_id: &ExternalId,
        deadline: Instant,
    ) -> Result<Minted, UpstreamError> {
        let body = serde_json::to_vec(&CreateSession { external_id: external_id.as_str() })
            .map_err(|_| UpstreamError::Unreachable)?;
        let exchange = async {
            let outcome = match self.post_once(key, &body).await {
                Err(Attempt::ConnectFailed) => self.post_once(key, &body).await, // the one retry
                other => other,
            };
            outcome.map_err(|attempt| match attempt {
                Attempt::ConnectFailed => UpstreamError::Unreachable,
                Attempt::Failed(e) => e,
            })
        };
        timeout_at(deadline, exchange).await.unwrap_or(Err(UpstreamError::Timeout))
    }

    /// `GET` the API's root: it creates nothing, and leaves a connection (TCP
    /// and TLS done) in the pool for the first session request.
    async fn warm_up(&self) {
        let mut root = self.sessions_url.clone();
        root.set_path("/");
        let request = async {
            if let Ok(response) = self.http.get(root).send().await {
                let _ = read_bounded(response).await; // drain, so the connection is reusable
            }
        };
        let _ = tokio::time::timeout(WARM_UP_BUDGET, request).await;
    }
}

/// How long Init may spend opening the Parsec connection.
const WARM_UP_BUDGET: std::time::Duration = std::time::Duration::from_millis(1000);

async fn interpret(response: Response) -> Result<Minted, UpstreamError> {
    let status = response.status();
    match status {
        StatusCode::OK | StatusCode::CREATED => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return Err(UpstreamError::Rejected { status: status.as_u16() })
        }
        StatusCode::TOO_MANY_REQUESTS => {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| is_retry_after(v))
                .unwrap_or(DEFAULT_RETRY_AFTER)
                .to_owned();
            return Err(UpstreamError::Throttled { retry_after });
        }
        other => return Err(UpstreamError::Status(other.as_u16())),
    }
    let status = status.as_u16();
    let invalid = |reason| UpstreamError::InvalidResponse { status, reason };
    let body = read_bounded(response).await.map_err(invalid)?;
    let envelope: Envelope =
        serde_json::from_slice(&body).map_err(|_| invalid("body is not the session JSON"))?;
    let session = envelope.session;
    if session.id.is_empty() {
        return Err(invalid("session.id is empty"));
    }
    if session.expires_at <= now_epoch_seconds() {
        return Err(invalid("session.expires_at is not in the future"));
    }
    Ok(Minted { session: Session { id: SessionId::new(session.id), expires_at: session.expires_at }, status })
}

/// Delta-seconds or an HTTP-date: short, printable, passed on as Parsec sent it.
fn is_retry_after(value: &str) -> bool {
    !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

async fn read_bounded(mut response: Response) -> Result<Vec<u8>, &'static str> {
    const TOO_LARGE: &str = "body is larger than 64 KiB";
    if response.content_length().is_some_and(|len| len > MAX_RESPONSE_BYTES as u64) {
        return Err(TOO_LARGE);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| "body was cut off")? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(TOO_LARGE);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn now_epoch_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
