//! A minimal HTTP/1.1 server for the stand-ins and the Runtime API emulator:
//! keep-alive, Content-Length bodies, one handler per server, plain or over TLS
//! (the stand-ins of the TLS rows, `tls.rs`). Loopback only.

use std::future::Future;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The status of [`Response::reset`]: no answer, the connection reset instead.
const RESET: u16 = 0;

impl Response {
    /// No answer: the server resets the connection (TCP RST), as a failing
    /// load balancer does.
    pub fn reset() -> Self {
        Response { status: RESET, headers: Vec::new(), body: Vec::new() }
    }

    pub fn json(status: u16, body: String) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: body.into_bytes(),
        }
    }
}

/// A running server: its port, and the tasks of its open connections (so a
/// test can drop them all, as a server closing idle keep-alive connections).
pub struct Server {
    pub port: u16,
    #[allow(dead_code)] // stop() is for tests/api/faults_under_load.rs, which compiles this file
    listener: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
    /// TLS only: handshakes completed, and the errors of those that failed (a client
    /// rejecting the certificate shows here as its alert, e.g. `UnknownCA`).
    pub handshakes: Arc<std::sync::atomic::AtomicUsize>,
    #[allow(dead_code)] // read by tests/api/tls_roots.rs, which compiles this file
    pub handshake_errors: Arc<std::sync::Mutex<Vec<String>>>,
    tls: bool,
}

impl Server {
    /// Stops listening and drops every connection: from now on connecting to
    /// the port is refused. (Used by tests/api/faults_under_load.rs.)
    #[allow(dead_code)]
    pub async fn stop(&self) {
        self.listener.abort();
        self.drop_connections().await;
    }

    pub async fn drop_connections(&self) {
        for task in self.connections.lock().await.drain(..) {
            task.abort();
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn handshakes(&self) -> usize {
        self.handshakes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `https://127.0.0.1:<port>` for a TLS server, `http://…` for a plain one.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

/// A connection the server speaks HTTP on: TCP, or TLS over TCP.
trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    fn tcp(&self) -> &TcpStream;
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

pub async fn serve<H, F>(handler: H) -> Server
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    serve_on(None, handler).await
}

/// [`serve`], over TLS with `tls` when given (`tls::server_config`).
pub async fn serve_on<H, F>(tls: Option<Arc<rustls::ServerConfig>>, handler: H) -> Server
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let is_tls = tls.is_some();
    let tls = tls.map(TlsAcceptor::from);
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handshake_errors: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let (done, failed) = (handshakes.clone(), handshake_errors.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    let handler = Arc::new(handler);
    let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (conns, count) = (connections.clone(), accepted.clone());
    let listener = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let handler = handler.clone();
            let (tls, done, failed) = (tls.clone(), done.clone(), failed.clone());
            let task = tokio::spawn(async move {
                let Some(tls) = tls else {
                    let _ = connection(stream, handler).await;
                    return;
                };
                match tls.accept(stream).await {
                    Ok(stream) => {
                        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let _ = connection(stream, handler).await;
                    }
                    Err(e) => failed.lock().unwrap().push(e.to_string()),
                }
            });
            conns.lock().await.push(task);
        }
    });
    Server { port, listener, connections, accepted, handshakes, handshake_errors, tls: is_tls }
}

async fn connection<S, H, F>(mut stream: S, handler: Arc<H>) -> std::io::Result<()>
where
    S: Transport,
    H: Fn(Request) -> F,
    F: Future<Output = Response>,
{
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let head_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut start = lines.next().unwrap_or("").split(' ');
        let method = start.next().unwrap_or("").to_owned();
        let path = start.next().unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + length {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[body_start..body_start + length].to_vec();
        buf.drain(..body_start + length);
        let close = headers.iter().any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"));
        let response = handler(Request { method, path, headers, body }).await;
        if response.status == RESET {
            let _ = stream.tcp().set_zero_linger();
            return Ok(()); // dropped with a zero linger: RST, not FIN
        }
        let mut out =
            format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\n", response.status, response.body.len());
        for (k, v) in &response.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&response.body);
        stream.write_all(&bytes).await?;
        stream.flush().await?;
        if close {
            return Ok(());
        }
    }
}
