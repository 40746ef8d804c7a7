//! A Lambda Runtime API emulator: it spawns the function binary, notes when
//! Init ends (the first `GET /next`) and what CPU it took, hands out events,
//! and times each invocation from the event's delivery to its response.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, Mutex as AsyncMutex};

use crate::http::{serve, Response, Server};

#[derive(Debug, Clone)]
pub struct Outcome {
    pub latency: Duration,
    pub status: Option<u16>,
    /// The response document's `body` and `Retry-After` (for the tests that read answers).
    #[allow(dead_code)]
    pub body: Option<String>,
    #[allow(dead_code)]
    pub retry_after: Option<String>,
}

struct Pending {
    id: String,
    body: Arc<String>,
    done: oneshot::Sender<Outcome>,
}

type Queue = Arc<AsyncMutex<mpsc::UnboundedReceiver<Pending>>>;

/// One event queue per spawned process: a killed process's pending `GET /next`
/// holds the old queue, whose sender is gone, so it can never swallow an event.
#[derive(Default)]
struct State {
    queue: Mutex<Option<mpsc::UnboundedSender<Pending>>>,
    receiver: Mutex<Option<Queue>>,
    inflight: Mutex<HashMap<String, (Instant, oneshot::Sender<Outcome>)>>,
    init_done: Mutex<Option<oneshot::Sender<(Instant, u64)>>>,
    pid: AtomicU32,
    next_id: AtomicU64,
    /// The function timeout each invocation gets (`Lambda-Runtime-Deadline-Ms`).
    timeout_ms: AtomicU64,
}

pub struct Emulator {
    server: Server,
    state: Arc<State>,
    /// What the function wrote to stdout (its logs), up to [`STDOUT_KEPT`], once
    /// [`Emulator::keep_stdout`] asked for it; otherwise drained unread, as in a measurement.
    stdout: Arc<Mutex<Option<Vec<u8>>>>,
}

/// How much of the function's stdout is kept for tests to read.
const STDOUT_KEPT: usize = 4 << 20;

/// The X-Ray trace id the emulator gives invocation `id`, as Lambda's Runtime API does
/// (`Lambda-Runtime-Trace-Id`).
pub fn trace_id(id: &str) -> String {
    let n: u64 = id.trim_start_matches("req-").parse().unwrap_or(0);
    format!("Root=1-5f000000-{n:024x};Parent=53995c3f42cd8ad8;Sampled=1")
}

/// Nanoseconds the process has spent on a CPU, summed over its threads.
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Peak resident set size in bytes (`VmHWM`).
pub fn peak_rss(pid: u32) -> u64 {
    status_bytes(pid, "VmHWM:")
}

/// Resident set size now, in bytes (`VmRSS`).
pub fn current_rss(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS:")
}

/// A kB field of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

impl Emulator {
    pub async fn start() -> Emulator {
        let state = Arc::new(State::default());
        let s = state.clone();
        let server = serve(move |req| {
            let state = s.clone();
            let rx = state.receiver.lock().unwrap().clone();
            async move {
                if req.method == "GET" && req.path.ends_with("/runtime/invocation/next") {
                    if let Some(done) = state.init_done.lock().unwrap().take() {
                        let cpu = cpu_ns(state.pid.load(Ordering::SeqCst));
                        let _ = done.send((Instant::now(), cpu));
                    }
                    let Some(rx) = rx else { return Response::json(500, "{}".into()) };
                    let Some(pending) = rx.lock().await.recv().await else {
                        return Response::json(500, "{}".into());
                    };
                    let timeout = match state.timeout_ms.load(Ordering::SeqCst) {
                        0 => 30_000,
                        set => set,
                    };
                    let deadline =
                        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 + timeout;
                    let body = pending.body.as_bytes().to_vec();
                    let trace = trace_id(&pending.id);
                    state.inflight.lock().unwrap().insert(pending.id.clone(), (Instant::now(), pending.done));
                    return Response {
                        status: 200,
                        headers: vec![
                            ("Content-Type", "application/json".into()),
                            ("Lambda-Runtime-Aws-Request-Id", pending.id.clone()),
                            ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                            (
                                "Lambda-Runtime-Invoked-Function-Arn",
                                "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
                            ),
                            ("Lambda-Runtime-Trace-Id", trace),
                        ],
                        body,
                    };
                }
                let parts: Vec<&str> = req.path.split('/').collect();
                if req.method == "POST" && parts.len() >= 6 && parts[3] == "invocation" {
                    let finished = Instant::now();
                    let id = parts[4].to_owned();
                    let document = (parts[5] == "response")
                        .then(|| serde_json::from_slice::<serde_json::Value>(&req.body).ok())
                        .flatten();
                    let document = document.as_ref();
                    let status = document.and_then(|v| v["statusCode"].as_u64()).map(|s| s as u16);
                    let body = document.and_then(|v| v["body"].as_str()).map(str::to_owned);
                    let retry_after = document
                        .and_then(|v| v["headers"].as_object())
                        .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case("retry-after")))
                        .and_then(|(_, v)| v.as_str())
                        .map(str::to_owned);
                    if let Some((started, done)) = state.inflight.lock().unwrap().remove(&id) {
                        let _ = done.send(Outcome { latency: finished - started, status, body, retry_after });
                    }
                    return Response::json(202, r#"{"status":"OK"}"#.into());
                }
                eprintln!("runtime API: unexpected {} {}", req.method, req.path);
                Response::json(202, "{}".into())
            }
        })
        .await;
        Emulator { server, state, stdout: Arc::default() }
    }

    /// The function timeout of the invocations that follow (30 s unless set).
    pub fn set_timeout(&self, timeout: Duration) {
        self.state.timeout_ms.store(timeout.as_millis() as u64, Ordering::SeqCst);
    }

    /// Sends one event and waits for the function's answer.
    pub async fn invoke(&self, body: Arc<String>) -> Outcome {
        let (done, answer) = oneshot::channel();
        let id = format!("req-{}", self.state.next_id.fetch_add(1, Ordering::SeqCst));
        let queue = self.state.queue.lock().unwrap().clone().expect("queue open");
        let _ = queue.send(Pending { id, body, done });
        tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .expect("the function answered in time")
            .expect("answer")
    }

    /// Starts `binary` with `env`; returns the child, Init's wall time and CPU time.
    pub async fn spawn(&self, binary: &Path, env: &[(String, String)]) -> (Child, Duration, Duration) {
        let (child, wall, cpu, ()) = self.spawn_in(binary, env, None, |_| ()).await;
        (child, wall, cpu)
    }

    /// [`Emulator::spawn`], the process moving itself into the cgroup whose `cgroup.procs`
    /// is `cgroup` (a CPU share, `cpu_share.rs`) between fork and exec, when given, and
    /// `spawned` called with its pid as soon as it runs (what it returns is returned).
    pub async fn spawn_in<T>(
        &self,
        binary: &Path,
        env: &[(String, String)],
        cgroup: Option<std::fs::File>,
        spawned: impl FnOnce(u32) -> T,
    ) -> (Child, Duration, Duration, T) {
        let (init_tx, init_rx) = oneshot::channel();
        *self.state.init_done.lock().unwrap() = Some(init_tx);
        let (tx, rx) = mpsc::unbounded_channel::<Pending>();
        *self.state.queue.lock().unwrap() = Some(tx);
        *self.state.receiver.lock().unwrap() = Some(Arc::new(AsyncMutex::new(rx)));
        let mut command = Command::new(binary);
        command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        command.env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", self.server.port));
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        }
        if let Some(procs) = cgroup {
            // SAFETY: between fork and exec the closure makes one write(2) on a file already
            // open (no allocation, no lock): async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    use std::io::Write;
                    (&procs).write_all(b"0")
                });
            }
        }
        let started = Instant::now();
        let mut child = command.spawn().expect("spawn the function");
        self.state.pid.store(child.id().unwrap_or(0), Ordering::SeqCst);
        let watching = spawned(child.id().unwrap_or(0));
        // Drain its output as Lambda's log pipe would.
        if let Some(mut out) = child.stdout.take() {
            let kept = self.stdout.clone();
            tokio::spawn(async move {
                let mut sink = vec![0u8; 65536];
                while let Ok(n @ 1..) = out.read(&mut sink).await {
                    if let Some(kept) = kept.lock().unwrap().as_mut() {
                        let room = STDOUT_KEPT.saturating_sub(kept.len()).min(n);
                        kept.extend_from_slice(&sink[..room]);
                    }
                }
            });
        }
        if let Some(mut err) = child.stderr.take() {
            tokio::spawn(async move {
                let mut sink = vec![0u8; 65536];
                while matches!(err.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
        let (ready, cpu) = tokio::time::timeout(Duration::from_secs(20), init_rx)
            .await
            .expect("Init finished within 20 s")
            .expect("init signal");
        (child, ready - started, Duration::from_nanos(cpu), watching)
    }

    /// Keeps the function's stdout from now on, for [`Emulator::stdout_text`].
    #[allow(dead_code)] // for tests/api/faults_under_load.rs, which compiles this file
    pub fn keep_stdout(&self) {
        self.stdout.lock().unwrap().get_or_insert_with(Vec::new);
    }

    /// The function's stdout kept so far (its log lines and metric documents).
    #[allow(dead_code)] // read by tests/api/faults_under_load.rs, which compiles this file
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(self.stdout.lock().unwrap().as_deref().unwrap_or_default()).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.state.pid.load(Ordering::SeqCst)
    }
}
