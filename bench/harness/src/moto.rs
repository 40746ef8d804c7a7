//! moto_server (from the Makefile's `.venv`) for the quota figures: DynamoDB over HTTP on
//! 127.0.0.1, with a raw JSON client to create the table and to time moto's own answer.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub const TABLE: &str = "bench-session-quotas";

pub struct Moto {
    pub port: u16,
    _child: Child,
}

pub async fn start() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(".venv/bin/python")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server from .venv (make tools)");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let moto = Moto { port, _child: child };
    moto.call(
        "CreateTable",
        &serde_json::json!({"TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}),
    )
    .await;
    moto
}

impl Moto {
    /// One DynamoDB call on a fresh connection; returns how long moto took to answer it.
    pub async fn call(&self, operation: &str, body: &serde_json::Value) -> Duration {
        let body = body.to_string();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: DynamoDB_20120810.{operation}\r\n\
             Content-Type: application/x-amz-json-1.0\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential=bench/20260101/us-east-1/dynamodb/aws4_request\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await.expect("moto");
        let started = Instant::now();
        stream.write_all(request.as_bytes()).await.expect("send");
        // moto closes each connection, but only some time after the answer: stop at its end.
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
            "moto refused {operation}"
        );
        took
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
