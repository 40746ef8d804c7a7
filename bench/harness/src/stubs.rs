//! In-process stand-ins for Secrets Manager and Parsec: answers in
//! microseconds, so what is measured is the function, not the stand-ins.
//! Both can be told to misbehave, for the fault-under-load tests
//! (`tests/api/faults_under_load.rs` compiles these files too).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::{serve, serve_on, Response, Server};

pub const API_KEY: &str = "bench-enterprise-key-0123456789abcdef";
/// The value of the device-session seal secret: any secret whose id names `seal`.
pub const SEAL_SECRET: &str = "bench-seal-secret-material-0123456789abcdef0123";

/// How the Secrets Manager stand-in answers `GetSecretValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SecretsMode {
    Healthy = 0,
    /// `500 InternalServiceError` (the SDK retries it).
    Failing = 1,
    /// Accepts the request and never answers.
    Silent = 2,
    /// Resets the connection instead of answering.
    Resetting = 3,
}

pub struct SecretsManager {
    pub server: Server,
    pub requests: Arc<AtomicUsize>,
    /// The `X-Amzn-Trace-Id` header of each `GetSecretValue`, in order.
    #[allow(dead_code)] // read by tests/api/faults_under_load.rs, which compiles this file
    pub trace_headers: Arc<Mutex<Vec<Option<String>>>>,
    mode: Arc<AtomicU8>,
}

impl SecretsManager {
    pub fn set_mode(&self, mode: SecretsMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

pub async fn secrets_manager() -> SecretsManager {
    secrets_manager_on(None).await
}

/// [`secrets_manager`], over TLS with `tls` when given (`tls::server_config`).
pub async fn secrets_manager_on(tls: Option<Arc<rustls::ServerConfig>>) -> SecretsManager {
    let requests = Arc::new(AtomicUsize::new(0));
    let mode = Arc::new(AtomicU8::new(SecretsMode::Healthy as u8));
    let trace_headers: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let (count, current, traces) = (requests.clone(), mode.clone(), trace_headers.clone());
    let server = serve_on(tls, move |req| {
        let (count, current, traces) = (count.clone(), current.clone(), traces.clone());
        async move {
            if req.header("x-amz-target") != Some("secretsmanager.GetSecretValue") {
                return Response::json(400, r#"{"__type":"InvalidAction"}"#.into());
            }
            count.fetch_add(1, Ordering::SeqCst);
            traces.lock().unwrap().push(req.header("x-amzn-trace-id").map(str::to_owned));
            match current.load(Ordering::SeqCst) {
                1 => return Response::json(500, r#"{"__type":"InternalServiceError"}"#.into()),
                2 => std::future::pending::<()>().await,
                3 => return Response::reset(),
                _ => {}
            }
            let seal = String::from_utf8_lossy(&req.body).contains("seal");
            let secret = if seal {
                SEAL_SECRET.to_owned()
            } else {
                serde_json::json!({"api_key": API_KEY}).to_string()
            };
            let body = serde_json::json!({
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench/key-AbCdEf",
                "Name": "bench/key", "VersionId": "v1", "VersionStages": ["AWSCURRENT"],
                "SecretString": secret, "CreatedDate": 1.7e9
            });
            Response::json(200, body.to_string())
        }
    })
    .await;
    SecretsManager { server, requests, trace_headers, mode }
}

pub struct Parsec {
    pub server: Server,
    pub delay_ms: Arc<AtomicU64>,
    /// Answer every session request `403 invalid api key`, as for a revoked key.
    #[allow(dead_code)] // set by tests/api/faults_under_load.rs, which compiles this file
    pub reject_all: Arc<AtomicBool>,
    /// Time spent answering each request, in arrival order.
    pub service_times: Arc<Mutex<Vec<Duration>>>,
}

impl Parsec {
    pub fn take_service_times(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.service_times.lock().unwrap())
    }
}

pub async fn parsec() -> Parsec {
    parsec_on(None).await
}

/// [`parsec`], over TLS with `tls` when given (`tls::server_config`).
pub async fn parsec_on(tls: Option<Arc<rustls::ServerConfig>>) -> Parsec {
    let delay_ms = Arc::new(AtomicU64::new(0));
    let service_times: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let reject_all = Arc::new(AtomicBool::new(false));
    let (delay, times, reject) = (delay_ms.clone(), service_times.clone(), reject_all.clone());
    let counter = Arc::new(AtomicU64::new(0));
    let server = serve_on(tls, move |req| {
        let (delay, times, counter, reject) = (delay.clone(), times.clone(), counter.clone(), reject.clone());
        async move {
            let started = Instant::now();
            let wait = delay.load(Ordering::Relaxed);
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            let response = if req.method != "POST" || req.path != "/enterprise/sessions" {
                Response::json(404, r#"{"message":"Not Found"}"#.into())
            } else if req.header("x-api-key") != Some(API_KEY) || reject.load(Ordering::SeqCst) {
                Response::json(403, r#"{"error":"invalid api key"}"#.into())
            } else {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
                Response::json(
                    201,
                    format!(
                        r#"{{"session":{{"id":"{n:064x}","expires_at":{},"host_peer_id":"h","client_peer_id":"c"}}}}"#,
                        now + 3600
                    ),
                )
            };
            times.lock().unwrap().push(started.elapsed());
            response
        }
    })
    .await;
    Parsec { server, delay_ms, reject_all, service_times }
}

/// The issuer's JWKS (`bench/fixtures/jwks.json`) at `/.well-known/jwks.json`, counting fetches.
pub struct Jwks {
    pub server: Server,
    pub fetches: Arc<AtomicUsize>,
}

pub async fn jwks(document: String) -> Jwks {
    let fetches = Arc::new(AtomicUsize::new(0));
    let (count, document) = (fetches.clone(), Arc::new(document));
    let server = serve(move |req| {
        let (count, document) = (count.clone(), document.clone());
        async move {
            if req.method != "GET" || req.path != "/.well-known/jwks.json" {
                return Response::json(404, r#"{"message":"Not Found"}"#.into());
            }
            count.fetch_add(1, Ordering::SeqCst);
            Response::json(200, document.to_string())
        }
    })
    .await;
    Jwks { server, fetches }
}
