//! The test harness: a broker wired to a fake secret source and a Parsec stub,
//! plus the log capture that checks every test for leaked secrets.

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{json, Value};
use session_broker::broker::{Broker, DeviceStore};
use session_broker::entrypoints::lambda::handle_raw;
use session_broker::entrypoints::request::serve;
use session_broker::entrypoints::Service;
use session_broker::observability::metrics::MetricsSink;
use session_broker::observability::telemetry;
use session_broker::parsec::client::ParsecClient;
use session_broker::quotas::dynamodb::DynamoQuotaStore;
use session_broker::quotas::{QuotaKey, QuotaStore, StoreError, Take};
use session_broker::sessions::seal::SealKeys;
use session_broker::testing::issuer::{self, TestIssuer};
use session_broker::testing::{
    self, seal_secret, MemoryKeySet, MemoryQuotaStore, MemorySecrets, MemorySessionStore, With,
};
pub use session_broker::testing::{misconfigured, transient, versioned};
use tracing::level_filters::LevelFilter;
use wiremock::{Mock, MockServer, Request as StubRequest, Respond, ResponseTemplate};

pub const KEY_V1: &str = "pk_live_v1_3f9a8c7e6d5b4a39281706f5e4d3c2b1";
pub const KEY_V2: &str = "pk_live_v2_0a1b2c3d4e5f60718293a4b5c6d7e8f9";
/// The seal secret's value (SESSION_SEAL_SECRET_ID) at version s1, and a rotated one.
pub const SEAL_S1: &str = "seal-material-s1-7c1d9e2f4a6b8c0d2e4f6a8b0c2d4e6f";
pub const SEAL_S2: &str = "seal-material-s2-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// The variables that turn the session store on (the tests' memory store and seal secret).
pub const STORE_ON: [(&str, &str); 2] =
    [("SESSION_STORE_TABLE", "device-sessions"), ("SESSION_SEAL_SECRET_ID", "parsec/seal")];

/// Loads `events/<name>`, the file users invoke with.
pub fn event(name: &str) -> Request {
    testing::request(name, |_| {})
}

/// The text of `events/<name>`, as Lambda delivers it.
pub fn event_text(name: &str) -> String {
    testing::event_json(name, |_| {}).to_string()
}

/// An event with its JSON edited before lambda_http reads it.
pub fn event_with(name: &str, edit: impl FnOnce(&mut Value)) -> Request {
    testing::request(name, edit)
}

/// `events/<name>` carrying `token` as API Gateway's JWT authorizer passes it on: the
/// `Authorization` header, and the token's claims (as text) and scopes in the context.
pub fn signed_event(name: &str, token: &str, claims: &Value) -> Request {
    let (token, claims) = (token.to_owned(), claims.clone());
    event_with(name, move |e| {
        e["headers"]["authorization"] = json!(format!("Bearer {token}"));
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Array(items) => {
                format!(
                    "[{}]",
                    items.iter().map(|i| i.as_str().unwrap_or("").to_owned()).collect::<Vec<_>>().join(" ")
                )
            }
            other => other.to_string(),
        };
        let context: serde_json::Map<String, Value> =
            claims.as_object().unwrap().iter().map(|(k, v)| (k.clone(), json!(text(v)))).collect();
        let scopes: Vec<&str> = claims["scope"].as_str().map(|s| s.split(' ').collect()).unwrap_or_default();
        e["requestContext"]["authorizer"] = json!({"jwt": {"claims": context, "scopes": scopes}});
    })
}

/// A valid token of `issuer` for `sub`, and the event API Gateway would make of it.
pub fn signed(issuer: &TestIssuer, sub: &str) -> Request {
    let claims = TestIssuer::claims(sub);
    signed_event("http-api-jwt.json", &issuer.sign(issuer::Signing::Rs256, issuer::RSA_KID, &claims), &claims)
}

/// An HTTP API JWT event whose body is `body` (sent as application/json).
pub fn jwt_with_body(body: &str) -> Request {
    let body = body.to_owned();
    event_with("http-api-jwt.json", move |e| e["body"] = Value::String(body))
}

pub fn now_epoch() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Gives the request a Lambda context whose deadline is `in_ms` from now.
pub fn with_deadline(request: Request, in_ms: u64) -> Request {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut ctx = lambda_http::lambda_runtime::Context::default();
    ctx.request_id = "lambda-request-id".into();
    ctx.deadline = now_ms + in_ms;
    request.with_lambda_context(ctx)
}

/// The Parsec stand-in's default behaviour, as `docs/parsec-api.md` says:
/// checks the key and the body, answers 201 with a fresh 64-hex session id.
pub struct ParsecBehaviour {
    pub valid_keys: Mutex<Vec<String>>,
    pub issued: Mutex<Vec<String>>,
    counter: AtomicUsize,
    /// How long each session takes to be created (0: at once).
    pub delay_ms: AtomicU64,
}

/// Serves [`ParsecBehaviour`] from the stub server.
pub struct ParsecResponder(pub Arc<ParsecBehaviour>);

impl Respond for ParsecResponder {
    fn respond(&self, request: &StubRequest) -> ResponseTemplate {
        let this = &self.0;
        let key = request.headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !this.valid_keys.lock().unwrap().iter().any(|k| k == key) {
            return ResponseTemplate::new(403).set_body_json(json!({"error": "invalid api key"}));
        }
        let json_type = request.headers.get("content-type").is_some_and(|v| v == "application/json");
        let body: Option<Value> = serde_json::from_slice(&request.body).ok();
        let external_id = body.as_ref().and_then(|b| b.get("external_id")).and_then(Value::as_str);
        let only_field = body.as_ref().and_then(Value::as_object).is_some_and(|o| o.len() == 1);
        let Some(external_id) = external_id.filter(|_| json_type && only_field) else {
            return ResponseTemplate::new(400).set_body_json(json!({"error": "bad request"}));
        };
        let n = this.counter.fetch_add(1, Ordering::SeqCst);
        let id = format!("{:064x}", 0x5e55_1000_u64 + n as u64 * 7919 + external_id.len() as u64);
        this.issued.lock().unwrap().push(id.clone());
        ResponseTemplate::new(201)
            .set_body_json(json!({"session": {
                "id": id, "expires_at": now_epoch() + 3600,
                "host_peer_id": "2Bq9eXAMPLEhostPEER", "client_peer_id": "2Bq9eXAMPLEclientPEER",
                "user_id": 1234, "roles": ["guest"]
            }}))
            .set_delay(std::time::Duration::from_millis(this.delay_ms.load(Ordering::SeqCst)))
    }
}

/// Everything logged during one test; checked for leaks when the test ends.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The values that must never appear in a log: API keys, session ids,
/// Authorization header values. Returns the ones found.
pub fn leaked<'a>(logs: &str, secrets: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    secrets.into_iter().filter(|s| !s.is_empty() && logs.contains(*s)).map(str::to_owned).collect()
}

/// The integration tests' dependencies: secrets in memory, Parsec over HTTP
/// against the stub server.
pub type TestDeps = With<Arc<MemorySecrets>, ParsecClient, TestQuotas>;

/// The seal secret's double.
pub type SealSecrets = MemorySecrets<Arc<SealKeys>>;

/// The quota stores the tests use: DynamoDB (against moto, or an endpoint that fails) or
/// the in-memory double.
pub enum TestQuotas {
    Dynamo(DynamoQuotaStore),
    Memory(Arc<MemoryQuotaStore>),
}

impl QuotaStore for TestQuotas {
    async fn take(&self, key: &QuotaKey, limit: u32, expires_at: u64) -> Result<Take, StoreError> {
        match self {
            TestQuotas::Dynamo(store) => store.take(key, limit, expires_at).await,
            TestQuotas::Memory(store) => store.take(key, limit, expires_at).await,
        }
    }

    async fn give_back(&self, key: &QuotaKey) -> Result<(), StoreError> {
        match self {
            TestQuotas::Dynamo(store) => store.give_back(key).await,
            TestQuotas::Memory(store) => store.give_back(key).await,
        }
    }
}

pub struct TestApp {
    pub service: Arc<Service<TestDeps>>,
    pub secrets: Arc<MemorySecrets>,
    /// Used when the configuration sets SESSION_STORE_TABLE (STORE_ON).
    pub sessions: Arc<MemorySessionStore>,
    pub seal: Arc<SealSecrets>,
    pub parsec: MockServer,
    pub behaviour: Arc<ParsecBehaviour>,
    pub logs: LogBuffer,
    pub metrics: Arc<Mutex<Vec<String>>>,
    authorization_values: Mutex<Vec<String>>,
    _log_guard: tracing::dispatcher::DefaultGuard,
}

pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// Default configuration (claim mode) with the key at version v1.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    pub async fn spawn_with(env: &[(&str, &str)]) -> TestApp {
        TestApp::spawn_with_quotas(env, None).await
    }

    /// With `quotas` as the quota store (used when `env` sets `SESSION_QUOTA`).
    pub async fn spawn_with_quotas(env: &[(&str, &str)], quotas: Option<TestQuotas>) -> TestApp {
        TestApp::spawn_full(env, quotas, None).await
    }

    /// Re-verifying tokens (`JWT_ISSUER`, `JWT_AUDIENCE` of the test issuer) against
    /// `jwks`, then `env`; Init already run.
    pub async fn spawn_verifying(env: &[(&str, &str)], jwks: Arc<MemoryKeySet>) -> TestApp {
        let mut vars = vec![("JWT_ISSUER", issuer::ISSUER), ("JWT_AUDIENCE", issuer::AUDIENCE)];
        vars.extend_from_slice(env);
        TestApp::spawn_full(&vars, None, Some(jwks)).await.init().await
    }

    pub async fn spawn_full(
        env: &[(&str, &str)],
        quotas: Option<TestQuotas>,
        jwks: Option<Arc<MemoryKeySet>>,
    ) -> TestApp {
        let logs = LogBuffer::default();
        let json = env.iter().any(|(k, v)| *k == "AWS_LAMBDA_LOG_FORMAT" && v.eq_ignore_ascii_case("json"));
        let writer = {
            let logs = logs.clone();
            move || logs.clone()
        };
        let log_guard =
            tracing::dispatcher::set_default(&telemetry::dispatch(writer, LevelFilter::TRACE, json));
        let parsec = MockServer::start().await;
        let behaviour = Arc::new(ParsecBehaviour {
            valid_keys: Mutex::new(vec![KEY_V1.to_owned()]),
            issued: Mutex::new(Vec::new()),
            counter: AtomicUsize::new(0),
            delay_ms: AtomicU64::new(0),
        });
        Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path("/enterprise/sessions"))
            .respond_with(ParsecResponder(behaviour.clone()))
            .with_priority(u8::MAX)
            .mount(&parsec)
            .await;
        let uri = parsec.uri();
        let mut vars = vec![("PARSEC_API_URL", uri.as_str())];
        vars.extend_from_slice(env);
        let config = testing::config(&vars).expect("test configuration is valid");
        let secrets = Arc::new(MemorySecrets::new(versioned(KEY_V1, "v1")));
        let client = ParsecClient::new(
            session_broker::startup::http_client::build().unwrap(),
            config.sessions_url.clone(),
        );
        let metrics = Arc::new(Mutex::new(Vec::new()));
        let sessions = Arc::new(MemorySessionStore::default());
        let seal = Arc::new(MemorySecrets::new(seal_secret(SEAL_S1, "s1")));
        let devices = DeviceStore { seal: seal.clone(), store: sessions.clone() };
        let broker = Broker::new(&config, secrets.clone(), client, quotas, jwks, Some(devices));
        let service = Service::new(broker, MetricsSink::Memory(metrics.clone()));
        TestApp {
            service: Arc::new(service),
            secrets,
            sessions,
            seal,
            parsec,
            behaviour,
            logs,
            metrics,
            authorization_values: Mutex::new(Vec::new()),
            _log_guard: log_guard,
        }
    }

    /// Runs Init (the first secret fetch), as the binary does before serving.
    pub async fn init(self) -> TestApp {
        self.service.broker.prime().await;
        self
    }

    pub async fn send(&self, request: Request) -> TestResponse {
        if let Some(auth) = request.headers().get("authorization").and_then(|v| v.to_str().ok()) {
            self.authorization_values.lock().unwrap().push(auth.to_owned());
        }
        let response = serve(&self.service, request).await;
        let (parts, body) = response.into_parts();
        let text = match body {
            Body::Text(t) => t,
            Body::Binary(b) => String::from_utf8(b).expect("utf-8 body"),
            Body::Empty => String::new(),
            _ => panic!("unexpected body kind"),
        };
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"));
        assert_contract_headers(&parts.headers);
        TestResponse { status: parts.status.as_u16(), headers: parts.headers, body }
    }

    /// Sends `events/<name>` through the raw entry, as Lambda delivers it (events lambda_http
    /// cannot read included); returns the front door's response document.
    pub async fn send_raw(&self, name: &str) -> Value {
        let raw = testing::raw_event(name, |_| {});
        let event: Value = serde_json::from_str(raw.get()).unwrap();
        for pointer in ["/headers/authorization", "/headers/Authorization"] {
            if let Some(auth) = event.pointer(pointer).and_then(Value::as_str) {
                self.authorization_values.lock().unwrap().push(auth.to_owned());
            }
        }
        let wire = handle_raw(&self.service, &raw, lambda_http::Context::default()).await;
        let body: Value = serde_json::from_str(wire["body"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
        if let Some(id) = body["session_id"].as_str() {
            self.behaviour.issued.lock().unwrap().push(id.to_owned());
        }
        wire
    }

    /// The session requests Parsec received (Init's warm-up `GET /` excluded).
    pub async fn session_requests(&self) -> Vec<wiremock::Request> {
        let all = self.parsec.received_requests().await.unwrap_or_default();
        all.into_iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/enterprise/sessions")
            .collect()
    }

    pub async fn parsec_calls(&self) -> usize {
        self.session_requests().await.len()
    }

    /// The EMF documents written so far, parsed.
    pub fn metric_documents(&self) -> Vec<Value> {
        self.metrics.lock().unwrap().iter().map(|d| serde_json::from_str(d).unwrap()).collect()
    }

    /// The audit lines logged so far (JSON log format), parsed.
    pub fn audit_lines(&self) -> Vec<Value> {
        self.logs
            .text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["message"] == "session request")
            .collect()
    }

    /// The values this test must never have logged.
    pub fn secrets_to_hide(&self) -> Vec<String> {
        let mut all = vec![KEY_V1.to_owned(), KEY_V2.to_owned(), SEAL_S1.to_owned(), SEAL_S2.to_owned()];
        all.extend(self.behaviour.issued.lock().unwrap().iter().cloned());
        for auth in self.authorization_values.lock().unwrap().iter() {
            all.push(auth.clone());
            all.extend(auth.split_whitespace().filter(|p| p.len() > 8).map(str::to_owned));
        }
        all
    }
}

impl Drop for TestApp {
    /// Every test that used the harness also checks its own logs for leaks.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let logs = self.logs.text();
        let metrics = self.metrics.lock().unwrap().join("\n");
        let found = leaked(&format!("{logs}\n{metrics}"), self.secrets_to_hide().iter().map(String::as_str));
        assert!(found.is_empty(), "secrets leaked into the logs or metrics: {found:?}\n{logs}");
    }
}

/// The headers every response carries.
pub fn assert_contract_headers(headers: &HeaderMap) {
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(headers.get("pragma").unwrap(), "no-cache");
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
}

/// The contract's error body: code, a message, the request id; nothing else.
pub fn assert_error(response: &TestResponse, status: u16, code: &str) {
    assert_eq!(response.status, status, "body: {}", response.body);
    assert_eq!(response.code(), code, "body: {}", response.body);
    let error = response.body["error"].as_object().expect("error object");
    assert_eq!(error.len(), 3, "{error:?}");
    assert!(!error["message"].as_str().unwrap().is_empty());
    assert!(error["request_id"].is_string());
    assert_eq!(response.body.as_object().unwrap().len(), 1);
}

/// A `201` with exactly a session id and a future expiry.
pub fn assert_created(response: &TestResponse) -> String {
    assert_eq!(response.status, 201, "body: {}", response.body);
    let body = response.body.as_object().unwrap();
    assert_eq!(body.len(), 2, "{body:?}");
    assert!(body["expires_at"].as_i64().unwrap() > now_epoch());
    body["session_id"].as_str().unwrap().to_owned()
}

/// What Lambda sets for a 128 MB function named `name`, fake AWS credentials, and the
/// bench stand-ins' secret id: the environment of the tests that run the real binary
/// under the bench's Runtime API emulator (add the stand-ins' URLs and the test's own).
pub fn binary_env(name: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("PARSEC_SECRET_ID", "bench/key"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
