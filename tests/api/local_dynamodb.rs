//! Local DynamoDB implementations for the tests, each on a free loopback port and stopped on
//! drop: moto (from the Makefile's `.venv`) and dynalite (from its `.node`), whose writes to
//! an item are serialised, so conditional writes under concurrency behave as DynamoDB's do.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};

pub struct LocalDynamo {
    child: Child,
    pub endpoint: String,
}

impl LocalDynamo {
    /// moto_server: the DynamoDB API with TTL; its conditional writes are not atomic.
    pub fn moto() -> LocalDynamo {
        let python = format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR"));
        let port = free_port();
        LocalDynamo::start(
            &python,
            &["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()],
            port,
            "moto comes from .venv: run `make tools` (make test does)",
        )
    }

    /// dynalite: conditional writes atomic per item; no `UpdateTimeToLive`.
    pub fn dynalite() -> LocalDynamo {
        let bin = format!("{}/.node/node_modules/.bin/dynalite", env!("CARGO_MANIFEST_DIR"));
        let port = free_port();
        LocalDynamo::start(
            &bin,
            &["--host", "127.0.0.1", "--port", &port.to_string(), "--createTableMs", "0"],
            port,
            "dynalite comes from .node: run `make tools` (make test does)",
        )
    }

    fn start(program: &str, args: &[&str], port: u16, missing: &str) -> LocalDynamo {
        assert!(std::path::Path::new(program).exists(), "{missing}");
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{program} did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        LocalDynamo { child, endpoint: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for LocalDynamo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A DynamoDB client for `endpoint`, with the function's own timeouts and the shared HTTP client.
pub async fn dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .endpoint_url(endpoint)
        .http_client(session_broker::startup::http_client::for_sdk(
            session_broker::startup::http_client::build().unwrap(),
        ))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// The table as the template creates it: string key `pk`, and (`ttl`) TTL on `expires_at`.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str, ttl: bool) {
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the table");
    if ttl {
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("enable TTL");
    }
}
