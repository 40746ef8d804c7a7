//! `make bench`: measures the session broker against an empty lambda_http
//! function, both started the way Lambda starts them, and prints the figures
//! of BENCHMARKS.md with the targets, writing them as JSON and an SVG chart.
//!
//! usage: bench-harness FUNCTION BASELINE EVENT OUT_DIR [ARM64_BOOTSTRAP ARM64_ZIP]
//!
//! The TLS rows run `bench-broker` and `tls-baseline` from FUNCTION's and BASELINE's
//! folders (the same code trusting the bench's test CA), and, when `BENCH_JITTER_DIR` names
//! a build of both with aws-lc's jitter entropy left on (`AWS_LC_SYS_NO_JITTER_ENTROPY=0`,
//! aws-lc's default, which `.cargo/config.toml` turns off), those too: the before and after.

mod chart;
mod cpu_share;
mod http;
mod local_dynamodb;
mod report;
mod runtime_api;
mod stubs;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpu_share::{CpuLimit, DutyCycle};
use runtime_api::{current_rss, peak_rss, Emulator};
use serde_json::json;

const COLD_STARTS: usize = 25;
/// The memory size whose CPU share the limited cold starts get (the template's).
const MEMORY_MB: u32 = 128;
/// Cold starts per variant at that CPU share (each takes ~14x longer).
const LIMITED_COLD_STARTS: usize = 11;
const HANDSHAKES: usize = 200;
const WARM_INVOCATIONS: usize = 2000;
const CONCURRENCY: usize = 32;
const SLOW_PARSEC_MS: u64 = 20;

pub struct Setup {
    emulator: Arc<Emulator>,
    parsec: stubs::Parsec,
    secrets: stubs::SecretsManager,
    event: Arc<String>,
    jwks: stubs::Jwks,
    /// `bench/fixtures/http-api-jwt-verified.json`: a token the bench issuer signed.
    verified_event: Arc<String>,
    /// The same two stand-ins over TLS (`bench/fixtures/tls/`), for the TLS rows.
    parsec_tls: stubs::Parsec,
    secrets_tls: stubs::SecretsManager,
}

/// Re-verification on (`JWT_ISSUER`), against the bench issuer of `bench/fixtures/`.
const BENCH_ISSUER: &str = "https://bench-issuer.parsec-session-broker.invalid";

/// How a measurement runs the function: its extra configuration and the event it sends.
#[derive(Clone, Copy)]
enum Mode {
    Plain,
    Verified,
    /// Secrets Manager and Parsec over TLS; the TLS baseline's one Init request to Parsec.
    Tls,
}

impl Setup {
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        self.env_over(&self.secrets, &self.parsec, extra)
    }

    fn env_over(
        &self,
        secrets: &stubs::SecretsManager,
        parsec: &stubs::Parsec,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("PARSEC_SECRET_ID", "bench/key"),
            ("PARSEC_WARM_UP", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.push(("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), secrets.server.url()));
        env.push(("PARSEC_API_URL".into(), parsec.server.url()));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    fn mode_env(&self, mode: Mode) -> Vec<(String, String)> {
        match mode {
            Mode::Plain => self.env(&[]),
            Mode::Verified => {
                let url = format!("http://127.0.0.1:{}/.well-known/jwks.json", self.jwks.server.port);
                self.env(&[
                    ("JWT_ISSUER", BENCH_ISSUER),
                    ("JWT_AUDIENCE", "bench-client"),
                    ("JWT_JWKS_URL", &url),
                ])
            }
            Mode::Tls => {
                let url = self.parsec_tls.server.url();
                self.env_over(&self.secrets_tls, &self.parsec_tls, &[("BASELINE_TLS_URL", &url)])
            }
        }
    }

    fn mode_event(&self, mode: Mode) -> Arc<String> {
        match mode {
            Mode::Plain | Mode::Tls => self.event.clone(),
            Mode::Verified => self.verified_event.clone(),
        }
    }

    /// The Parsec and Secrets Manager stand-ins a mode talks to.
    fn standins(&self, mode: Mode) -> (&stubs::Parsec, &stubs::SecretsManager) {
        match mode {
            Mode::Plain | Mode::Verified => (&self.parsec, &self.secrets),
            Mode::Tls => (&self.parsec_tls, &self.secrets_tls),
        }
    }

    /// TLS handshakes both TLS stand-ins have completed so far.
    fn tls_handshakes(&self) -> usize {
        self.parsec_tls.server.handshakes() + self.secrets_tls.server.handshakes()
    }
}

/// How a cold start's process is held to a 128 MB function's CPU share, if it is.
#[derive(Clone, Copy, PartialEq)]
enum Share {
    Whole,
    /// A fresh cgroup with a CPU quota for each process.
    Cgroup,
    /// No cgroup allowed here: stopped and continued by the harness ([`DutyCycle`]).
    DutyCycle,
}

/// Cold starts: Init wall and CPU time, the TLS handshakes Init made, and the first
/// invocation against the median of the next ten; each process held to a 128 MB
/// function's CPU share unless `share` is `Whole`.
async fn cold_starts(setup: &Setup, binary: &Path, mode: Mode, share: Share) -> serde_json::Value {
    let (mut walls, mut cpus, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut firsts, mut warms, mut handshakes) = (Vec::new(), Vec::new(), Vec::new());
    let mut throttled = Vec::new(); // by the cgroup's quota during Init
    let event = setup.mode_event(mode);
    let count = if share == Share::Whole { COLD_STARTS } else { LIMITED_COLD_STARTS };
    let mut all_201 = true;
    for _ in 0..count {
        let limit = (share == Share::Cgroup)
            .then(|| CpuLimit::create(MEMORY_MB).expect("a cgroup, as for the first"));
        let cgroup = limit.as_ref().map(|l| l.procs().expect("the cgroup's cgroup.procs"));
        let before = setup.tls_handshakes();
        let duty = |pid| (share == Share::DutyCycle).then(|| DutyCycle::start(pid, MEMORY_MB));
        let (mut child, wall, cpu, duty) =
            setup.emulator.spawn_in(binary, &setup.mode_env(mode), cgroup, duty).await;
        handshakes.push(setup.tls_handshakes() - before);
        if let Some(limit) = &limit {
            throttled.push(limit.throttled());
        }
        let first = setup.emulator.invoke(event.clone()).await;
        all_201 &= first.status == Some(201);
        let mut warm = Vec::new();
        for _ in 0..10 {
            warm.push(setup.emulator.invoke(event.clone()).await.latency);
        }
        let warm = report::percentile(&mut warm, 50.0);
        ratios.push(first.latency.as_secs_f64() / warm.as_secs_f64());
        firsts.push(first.latency);
        warms.push(warm);
        walls.push(wall);
        cpus.push(cpu);
        drop(duty);
        let _ = child.kill().await;
        drop(limit); // the process is reaped: the cgroup can go
    }
    ratios.sort_by(f64::total_cmp);
    handshakes.sort_unstable();
    json!({
        "init_wall_ms": report::ms(report::percentile(&mut walls, 50.0)),
        "init_wall_p90_ms": report::ms(report::percentile(&mut walls, 90.0)),
        "init_cpu_ms": report::ms(report::percentile(&mut cpus, 50.0)),
        "first_to_warm_ratio": ratios[ratios.len() / 2],
        "first_ms": report::ms(report::percentile(&mut firsts, 50.0)),
        "warm_ms": report::ms(report::percentile(&mut warms, 50.0)),
        "init_tls_handshakes": handshakes[handshakes.len() / 2],
        "init_throttled_ms": (share == Share::Cgroup).then(|| report::ms(report::percentile(&mut throttled, 50.0))),
        "first_all_201": all_201,
        "cold_starts": count,
    })
}

/// One TLS handshake on its own, client side, in a warm process (the harness's): `HANDSHAKES`
/// full handshakes (no resumption) to the TLS Parsec stand-in with the broker's client
/// configuration, and `HANDSHAKES` verifications of the stand-ins' chain alone.
async fn handshake_cost(setup: &Setup) -> serde_json::Value {
    let port = setup.parsec_tls.server.port;
    let (mut cpu, mut wall, mut verify) = tokio::task::spawn_blocking(move || {
        let config = tls::full_handshakes_config();
        let (mut cpu, mut wall) = (Vec::new(), Vec::new());
        for _ in 0..HANDSHAKES {
            let (c, w) = tls::one_handshake(&config, port).expect("a handshake with the TLS stand-in");
            cpu.push(c);
            wall.push(w);
        }
        (cpu, wall, tls::verifications(HANDSHAKES))
    })
    .await
    .expect("the handshake thread");
    json!({
        "handshakes": HANDSHAKES,
        "client_cpu_ms": report::percentiles(&mut cpu),
        "wall_ms": report::percentiles(&mut wall),
        "chain_verification_cpu_ms": report::percentiles(&mut verify),
    })
}

/// The cold starts of `variants` at a 128 MB function's CPU share, or why it cannot be set.
async fn limited_cold_starts(setup: &Setup, variants: &[(&str, &Path, Mode)]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    // BENCH_CPU_SHARE=duty-cycle measures with the substitute even where a cgroup is allowed.
    let forced = std::env::var("BENCH_CPU_SHARE").is_ok_and(|v| v == "duty-cycle");
    let cgroup =
        if forced { Err("BENCH_CPU_SHARE=duty-cycle".to_owned()) } else { CpuLimit::create(MEMORY_MB) };
    let share = match cgroup {
        Ok(probe) => {
            out.insert("cpu_percent".into(), json!(probe.percent));
            out.insert("how".into(), json!(probe.how));
            Share::Cgroup
        }
        Err(why) => {
            eprintln!(
                "no cgroup CPU quota on this machine ({why}): stopping and continuing the process instead"
            );
            out.insert("cpu_percent".into(), json!(f64::from(MEMORY_MB) / cpu_share::ONE_VCPU_MB * 100.0));
            out.insert("how".into(), json!(format!("SIGSTOP/SIGCONT duty cycle; no cgroup: {why}")));
            Share::DutyCycle
        }
    };
    for (name, binary, mode) in variants {
        out.insert((*name).into(), cold_starts(setup, binary, *mode, share).await);
    }
    serde_json::Value::Object(out)
}

/// 50 invocations that are not measured.
async fn warm_up(setup: &Setup, event: &Arc<String>) {
    for _ in 0..50 {
        setup.emulator.invoke(event.clone()).await;
    }
}

/// `count` invocations one after another: their latencies, and whether all were 201.
async fn sequential(setup: &Setup, count: usize, event: &Arc<String>) -> (Vec<Duration>, bool) {
    let mut latencies = Vec::with_capacity(count);
    let mut all_created = true;
    for _ in 0..count {
        let outcome = setup.emulator.invoke(event.clone()).await;
        all_created &= outcome.status == Some(201);
        latencies.push(outcome.latency);
    }
    (latencies, all_created)
}

/// 2,000 sequential warm invocations, then peak RSS and a stale-connection check.
async fn warm(setup: &Setup, binary: &Path, is_function: bool, mode: Mode) -> serde_json::Value {
    let (parsec, secrets) = setup.standins(mode);
    let connections_before = parsec.server.accepted();
    let handshakes_before = setup.tls_handshakes();
    let jwks_before = setup.jwks.fetches.load(Ordering::SeqCst); // Init's fetch counts
    let (mut child, _, _) = setup.emulator.spawn(binary, &setup.mode_env(mode)).await;
    let pid = setup.emulator.pid();
    let secrets_before = secrets.requests.load(Ordering::SeqCst);
    let event = setup.mode_event(mode);
    warm_up(setup, &event).await;
    parsec.take_service_times();
    let (mut latencies, statuses_ok) = sequential(setup, WARM_INVOCATIONS, &event).await;
    let service = parsec.take_service_times();
    let rss = peak_rss(pid);
    let mut net: Vec<Duration> = if is_function && service.len() == latencies.len() {
        latencies.iter().zip(&service).map(|(l, s)| l.saturating_sub(*s)).collect()
    } else {
        latencies.clone()
    };
    // Opened since the process started: Init's warm-up connection, reused after.
    let connections = parsec.server.accepted() - connections_before;
    let handshakes = setup.tls_handshakes() - handshakes_before;
    // A server that closes idle keep-alive connections: the next request must still work.
    parsec.server.drop_connections().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_stale = setup.emulator.invoke(event.clone()).await.status;
    let _ = child.kill().await;
    json!({
        "all_201": statuses_ok,
        "latency_ms": report::percentiles(&mut latencies),
        "net_of_standin_ms": report::percentiles(&mut net),
        "standin_service_p50_ms": if service.is_empty() { 0.0 } else { report::ms(report::percentile(&mut service.clone(), 50.0)) },
        "peak_rss_bytes": rss,
        "secret_fetches_during_warm": secrets.requests.load(Ordering::SeqCst) - secrets_before,
        "tls_handshakes": handshakes,
        "jwks_fetches": setup.jwks.fetches.load(Ordering::SeqCst) - jwks_before,
        "upstream_connections": connections,
        "after_stale_connection_status": after_stale,
    })
}

/// Throughput with a 20 ms Parsec, one at a time and 32 at once in one process.
async fn concurrency(setup: &Setup, binary: &Path) -> serde_json::Value {
    setup.parsec.delay_ms.store(SLOW_PARSEC_MS, Ordering::SeqCst);
    let (mut child, _, _) = setup.emulator.spawn(binary, &setup.env(&[])).await;
    let started = Instant::now();
    for _ in 0..60 {
        setup.emulator.invoke(setup.event.clone()).await;
    }
    let sequential = 60.0 / started.elapsed().as_secs_f64();
    let _ = child.kill().await;

    let secrets_before = setup.secrets.requests.load(Ordering::SeqCst);
    let connections_before = setup.parsec.server.accepted();
    let concurrency = CONCURRENCY.to_string();
    let env = setup.env(&[("AWS_LAMBDA_MAX_CONCURRENCY", &concurrency)]);
    let (mut child, _, _) = setup.emulator.spawn(binary, &env).await;
    let total = CONCURRENCY * 40;
    let started = Instant::now();
    let mut ok = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    let invoke = |emulator: Arc<Emulator>, event: Arc<String>| async move { emulator.invoke(event).await };
    // Keep CONCURRENCY invocations in flight until `total` are done.
    for _ in 0..CONCURRENCY {
        tasks.spawn(invoke(setup.emulator.clone(), setup.event.clone()));
    }
    let mut sent = CONCURRENCY;
    while let Some(result) = tasks.join_next().await {
        ok += usize::from(result.map(|o| o.status == Some(201)).unwrap_or(false));
        if sent < total {
            tasks.spawn(invoke(setup.emulator.clone(), setup.event.clone()));
            sent += 1;
        }
    }
    let concurrent = total as f64 / started.elapsed().as_secs_f64();
    let _ = child.kill().await;
    setup.parsec.delay_ms.store(0, Ordering::SeqCst);
    json!({
        "standin_delay_ms": SLOW_PARSEC_MS,
        "sequential_per_s": sequential,
        "concurrent_per_s": concurrent,
        "concurrency": CONCURRENCY,
        "ratio": concurrent / sequential,
        "all_201": ok == total,
        "secret_fetches": setup.secrets.requests.load(Ordering::SeqCst) - secrets_before,
        "upstream_connections": setup.parsec.server.accepted() - connections_before,
    })
}

const QUOTA_INVOCATIONS: usize = 500;
const SOAK_INVOCATIONS: usize = 20_000;

/// 20,000 invocations with a zero TTL (every request starts a background key refresh):
/// resident memory and open descriptors after 2,000 and after 20,000. Each invocation has
/// its own trace id, as on Lambda; lambda_runtime's sequential loop puts it in the
/// environment (`_X_AMZN_TRACE_ID`), and glibc's `setenv` keeps every value it was ever
/// given, so the empty function grows too: `main` soaks both and the row compares them.
async fn soak(setup: &Setup, binary: &Path) -> serde_json::Value {
    let env = setup.env(&[("SECRET_CACHE_TTL_SECONDS", "0")]);
    let (mut child, _, _) = setup.emulator.spawn(binary, &env).await;
    let pid = setup.emulator.pid();
    let mut ok = 0usize;
    let mut at_2000 = (0, 0);
    for n in 1..=SOAK_INVOCATIONS {
        ok += usize::from(setup.emulator.invoke(setup.event.clone()).await.status == Some(201));
        if n == 2_000 {
            at_2000 = (current_rss(pid), open_fds(pid));
        }
    }
    let at_end = (current_rss(pid), open_fds(pid));
    let _ = child.kill().await;
    json!({"invocations": SOAK_INVOCATIONS, "created": ok,
           "rss_bytes": [at_2000.0, at_end.0], "open_fds": [at_2000.1, at_end.1]})
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The warm path with `SESSION_QUOTA` on, counters in moto's DynamoDB: its latency, and the
/// cost of the one `UpdateItem` net of moto's own answer time (timed directly).
async fn quota(setup: &Setup, binary: &Path) -> serde_json::Value {
    let moto = local_dynamodb::moto().await;
    let mut moto_answers = Vec::new();
    for n in 0..(50 + QUOTA_INVOCATIONS as u64) {
        let took = moto.update_item(n).await;
        if n >= 50 {
            moto_answers.push(took);
        }
    }
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let env = setup.env(&[
        ("SESSION_QUOTA", "1000000/3600"),
        ("QUOTA_TABLE", local_dynamodb::TABLE),
        ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
    ]);
    let (mut child, _, _) = setup.emulator.spawn(binary, &env).await;
    warm_up(setup, &setup.event).await;
    let (mut latencies, ok) = sequential(setup, QUOTA_INVOCATIONS, &setup.event).await;
    let _ = child.kill().await;
    json!({
        "all_201": ok,
        "latency_ms": report::percentiles(&mut latencies),
        "moto_update_item_ms": report::percentiles(&mut moto_answers),
    })
}

const DEVICE_INVOCATIONS: usize = 500;

/// One session per device against dynalite: reuse hits (a device asking again: one
/// consistent read, no Parsec call) and mints with the store on (`renew: true`: read, lease,
/// Parsec, completing write), one after another on a warm function.
async fn devices(setup: &Setup, binary: &Path) -> serde_json::Value {
    let store = local_dynamodb::dynalite().await;
    let mut get_item = Vec::new();
    for n in 0..(50 + DEVICE_INVOCATIONS as u64) {
        let took = store.get_item(n).await;
        if n >= 50 {
            get_item.push(took);
        }
    }
    let endpoint = format!("http://127.0.0.1:{}", store.port);
    let env = setup.env(&[
        ("SESSION_STORE_TABLE", local_dynamodb::SESSION_TABLE),
        ("SESSION_SEAL_SECRET_ID", "bench/seal"),
        ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
        ("SESSION_STORE_WAIT_MS", "2000"),
    ]);
    let events = format!("{}/../../events", env!("CARGO_MANIFEST_DIR"));
    let read =
        |name: &str| Arc::new(std::fs::read_to_string(format!("{events}/{name}")).expect("sample event"));
    let (again, renew) = (read("http-api-jwt-device.json"), read("http-api-jwt-device-renew.json"));
    let (mut child, _, _) = setup.emulator.spawn(binary, &env).await;
    warm_up(setup, &renew).await;
    let run = |event: Arc<String>, expected: u16| async move {
        let (mut latencies, mut ok) = (Vec::with_capacity(DEVICE_INVOCATIONS), true);
        setup.parsec.take_service_times();
        for _ in 0..DEVICE_INVOCATIONS {
            let outcome = setup.emulator.invoke(event.clone()).await;
            ok &= outcome.status == Some(expected);
            latencies.push(outcome.latency);
        }
        (latencies, ok, setup.parsec.take_service_times().len())
    };
    let (mut reused, reused_ok, reuse_parsec_calls) = run(again, 200).await;
    let (mut minted, minted_ok, mint_parsec_calls) = run(renew, 201).await;
    let _ = child.kill().await;
    json!({
        "reuse": {"all_200": reused_ok, "latency_ms": report::percentiles(&mut reused), "parsec_calls": reuse_parsec_calls},
        "mint": {"all_201": minted_ok, "latency_ms": report::percentiles(&mut minted), "parsec_calls": mint_parsec_calls},
        "dynalite_get_item_ms": report::percentiles(&mut get_item),
        "invocations": DEVICE_INVOCATIONS,
    })
}

/// Secrets Manager answering 500, not answering, or resetting connections right after the
/// 1 s TTL expired, 16 invocations in flight in one process with a 3 s timeout: every
/// request must still get its session, quickly. (Refused connections are in the test suite.)
async fn brownout(setup: &Setup, binary: &Path) -> serde_json::Value {
    let env = setup.env(&[("AWS_LAMBDA_MAX_CONCURRENCY", "16"), ("SECRET_CACHE_TTL_SECONDS", "1")]);
    setup.emulator.set_timeout(Duration::from_secs(3));
    let (mut latencies, mut ok, mut total) = (Vec::new(), 0usize, 0usize);
    for mode in [stubs::SecretsMode::Failing, stubs::SecretsMode::Silent, stubs::SecretsMode::Resetting] {
        let (mut child, _, _) = setup.emulator.spawn(binary, &env).await;
        setup.emulator.invoke(setup.event.clone()).await;
        setup.secrets.set_mode(mode);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let (emulator, event) = (setup.emulator.clone(), setup.event.clone());
            tasks.spawn(async move { emulator.invoke(event).await });
        }
        while let Some(Ok(outcome)) = tasks.join_next().await {
            ok += usize::from(outcome.status == Some(201));
            total += 1;
            latencies.push(outcome.latency);
        }
        let _ = child.kill().await;
        setup.secrets.set_mode(stubs::SecretsMode::Healthy);
    }
    setup.emulator.set_timeout(Duration::from_secs(30));
    json!({"requests": total, "created": ok, "latency_ms": report::percentiles(&mut latencies)})
}

fn fixture(name: &str) -> String {
    let path = format!("{}/../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn file_size(path: Option<&PathBuf>) -> Option<u64> {
    path.and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [function, baseline, event, out, rest @ ..] = args.as_slice() else {
        eprintln!("usage: bench-harness FUNCTION BASELINE EVENT OUT_DIR [ARM64_BOOTSTRAP ARM64_ZIP]");
        std::process::exit(2);
    };
    let setup = Setup {
        emulator: Arc::new(Emulator::start().await),
        parsec: stubs::parsec().await,
        secrets: stubs::secrets_manager().await,
        event: Arc::new(std::fs::read_to_string(event).expect("event file")),
        jwks: stubs::jwks(fixture("jwks.json")).await,
        verified_event: Arc::new(fixture("http-api-jwt-verified.json")),
        parsec_tls: stubs::parsec_on(Some(tls::server_config())).await,
        secrets_tls: stubs::secrets_manager_on(Some(tls::server_config())).await,
    };
    let (tls_function, tls_baseline) =
        (function.with_file_name("bench-broker"), baseline.with_file_name("tls-baseline"));
    // (bench-broker, tls-baseline) built with aws-lc's jitter entropy, when make bench built them.
    let jitter = std::env::var_os("BENCH_JITTER_DIR")
        .map(PathBuf::from)
        .map(|dir| (dir.join("bench-broker"), dir.join("tls-baseline")));
    eprintln!("cold starts ({COLD_STARTS} each)…");
    let baseline_cold = cold_starts(&setup, baseline, Mode::Plain, Share::Whole).await;
    let function_cold = cold_starts(&setup, function, Mode::Plain, Share::Whole).await;
    eprintln!("cold starts over TLS to both stand-ins ({COLD_STARTS} each)…");
    let tls_baseline_cold = cold_starts(&setup, &tls_baseline, Mode::Tls, Share::Whole).await;
    let tls_function_cold = cold_starts(&setup, &tls_function, Mode::Tls, Share::Whole).await;
    let jitter_cold = match &jitter {
        Some((function, baseline)) => {
            eprintln!("cold starts over TLS, aws-lc built with its jitter entropy (its default)…");
            json!({
                "baseline": cold_starts(&setup, baseline, Mode::Tls, Share::Whole).await,
                "function": cold_starts(&setup, function, Mode::Tls, Share::Whole).await,
            })
        }
        None => json!(null),
    };
    eprintln!("one TLS handshake on its own ({HANDSHAKES} full handshakes)…");
    let handshake = handshake_cost(&setup).await;
    eprintln!("cold starts at a 128 MB function's CPU share ({LIMITED_COLD_STARTS} each)…");
    let mut variants: Vec<(&str, &Path, Mode)> = vec![
        ("baseline", baseline, Mode::Plain),
        ("function", function, Mode::Plain),
        ("tls_baseline", &tls_baseline, Mode::Tls),
        ("tls_function", &tls_function, Mode::Tls),
    ];
    if let Some((function, baseline)) = &jitter {
        variants.push(("tls_function_jitter", function, Mode::Tls));
        variants.push(("tls_baseline_jitter", baseline, Mode::Tls));
    }
    let limited = limited_cold_starts(&setup, &variants).await;
    eprintln!("cold starts with token re-verification (JWKS served locally)…");
    let verified_cold = cold_starts(&setup, function, Mode::Verified, Share::Whole).await;
    eprintln!("warm path ({WARM_INVOCATIONS} invocations each)…");
    let baseline_warm = warm(&setup, baseline, false, Mode::Plain).await;
    let function_warm = warm(&setup, function, true, Mode::Plain).await;
    eprintln!("warm path over TLS (kept-alive connections)…");
    let tls_function_warm = warm(&setup, &tls_function, true, Mode::Tls).await;
    eprintln!("warm path with token re-verification…");
    let verified_warm = warm(&setup, function, true, Mode::Verified).await;
    eprintln!("concurrency ({CONCURRENCY} at once, Parsec taking {SLOW_PARSEC_MS} ms)…");
    let concurrent = concurrency(&setup, function).await;
    eprintln!("Secrets Manager brownout (16 in flight, TTL just expired)…");
    let brownout = brownout(&setup, function).await;
    eprintln!("soak ({SOAK_INVOCATIONS} invocations, zero TTL; the empty function the same)…");
    let soak = json!({"function": soak(&setup, function).await, "baseline": soak(&setup, baseline).await});
    eprintln!("warm path with SESSION_QUOTA (moto's DynamoDB, {QUOTA_INVOCATIONS} invocations)…");
    let quota = quota(&setup, function).await;
    eprintln!(
        "one session per device (dynalite, {DEVICE_INVOCATIONS} reuse hits and {DEVICE_INVOCATIONS} mints)…"
    );
    let devices = devices(&setup, function).await;
    let results = json!({
        "devices": devices,
        "brownout": brownout,
        "soak": soak,
        "quota": quota,
        "machine": {"cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)},
        "baseline": {"cold": baseline_cold, "warm": baseline_warm, "bootstrap_bytes": file_size(Some(baseline))},
        "function": {"cold": function_cold, "warm": function_warm, "bootstrap_bytes": file_size(Some(function)),
                     "arm64_bootstrap_bytes": file_size(rest.first()), "arm64_zip_bytes": file_size(rest.get(1))},
        "concurrency": concurrent,
        "verified": {"cold": verified_cold, "warm": verified_warm},
        "tls": {"baseline": {"cold": tls_baseline_cold}, "function": {"cold": tls_function_cold, "warm": tls_function_warm},
                "jitter": jitter_cold, "handshake": handshake},
        "cpu_share_128mb": limited,
    });
    std::fs::create_dir_all(out).expect("output folder");
    let table = report::table(&results);
    println!("{table}");
    std::fs::write(out.join("bench.json"), serde_json::to_string_pretty(&results).unwrap()).unwrap();
    std::fs::write(out.join("bench.md"), &table).unwrap();
    std::fs::write(out.join("warm-latency.svg"), chart::latency_svg(&results)).unwrap();
    println!("wrote {0}/bench.json, {0}/bench.md and {0}/warm-latency.svg", out.display());
}
