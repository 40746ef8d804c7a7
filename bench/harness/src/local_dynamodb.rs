//! Local DynamoDB implementations on 127.0.0.1 for the figures with a table: moto_server (from
//! the Makefile's `.venv`) for the quota, dynalite (from its `.node`) for the device sessions;
//! a raw JSON client to create the table and to time the store's own answer.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub const TABLE: &str = "bench-session-quotas";
pub const SESSION_TABLE: &str = "bench-device-sessions";

pub struct LocalDynamo {
    pub port: u16,
    _child: Child,
}

/// moto_server with the quota table.
pub async fn moto() -> LocalDynamo {
    let port = free_port();
    let port_text = port.to_string();
    start(".venv/bin/python", &["-m", "moto.server", "-H", "127.0.0.1", "-p", &port_text], port, TABLE).await
}

/// dynalite with the device-session table.
pub async fn dynalite() -> LocalDynamo {
    let port = free_port();
    let port_text = port.to_string();
    let args = ["--host", "127.0.0.1", "--port", port_text.as_str(), "--createTableMs", "0"];
    start(".node/node_modules/.bin/dynalite", &args, port, SESSION_TABLE).await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(program: &str, args: &[&str], port: u16, table: &str) -> LocalDynamo {
    let child = Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} (make tools): {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{program} did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = LocalDynamo { port, _child: child };
    store
        .call(
            "CreateTable",
            &serde_json::json!({"TableName": table, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}),
        )
        .await;
    store
}

impl LocalDynamo {
    /// One DynamoDB call on a fresh connection; returns how long the store took to answer it.
    pub async fn call(&self, operation: &str, body: &serde_json::Value) -> Duration {
        let body = body.to_string();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DynamoDB_20120810.{operation}\r\n\
             Content-Type: application/x-amz-json-1.0\r\nX-Amz-Date: 20260101T000000Z\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, \
             SignedHeaders=host, Signature=00\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await.expect("local DynamoDB");
        let started = Instant::now();
        stream.write_all(request.as_bytes()).await.expect("send");
        // The store closes each connection, but only some time after the answer: stop at its end.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = stream.read(&mut chunk).await.expect("read");
            answer.extend_from_slice(&chunk[..n]);
            if n == 0 || is_complete(&answer) {
                break;
            }
        }
        let took = started.elapsed();
        assert!(
            answer.starts_with(b"HTTP/1.1 200") || answer.starts_with(b"HTTP/1.0 200"),
            "the local DynamoDB refused {operation}"
        );
        took
    }

    /// The strongly consistent `GetItem` a reuse hit sends, timed as the store answers it.
    pub async fn get_item(&self, n: u64) -> Duration {
        self.call(
            "GetItem",
            &serde_json::json!({"TableName": SESSION_TABLE, "Key": {"pk": {"S": format!("device-session#{n}")}},
                "ConsistentRead": true}),
        )
        .await
    }

    /// The `UpdateItem` the function sends per request, timed as moto answers it.
    pub async fn update_item(&self, n: u64) -> Duration {
        self.call(
            "UpdateItem",
            &serde_json::json!({"TableName": TABLE, "Key": {"pk": {"S": format!("bench#{n}")}},
                "UpdateExpression": "ADD #sessions :one SET expires_at = :expires_at",
                "ConditionExpression": "attribute_not_exists(#sessions) OR #sessions < :limit",
                "ExpressionAttributeNames": {"#sessions": "sessions"},
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": "1000000"},
                    ":expires_at": {"N": "4000000000"}},
                "ReturnValues": "UPDATED_NEW", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
        )
        .await
    }
}

/// Headers and a Content-Length body have arrived.
fn is_complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    answer.len() >= end + 4 + length
}
