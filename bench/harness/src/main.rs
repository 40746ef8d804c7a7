//! `make bench`: measures the session broker against an empty lambda_http
//! function, both started the way Lambda starts them, and prints the figures
//! of BENCHMARKS.md with the targets, writing them as JSON and an SVG chart.
//!
//! usage: bench-harness FUNCTION BASELINE EVENT OUT_DIR [ARM64_BOOTSTRAP ARM64_ZIP]

mod chart;
mod http;
mod local_dynamodb;
mod report;
mod runtime_api;
mod stubs;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime_api::{current_rss, peak_rss, Emulator};
use serde_json::json;

const COLD_STARTS: usize = 25;
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
}

/// Re-verification on (`JWT_ISSUER`), against the bench issuer of `bench/fixtures/`.
const BENCH_ISSUER: &str = "https://bench-issuer.parsec-session-broker.invalid";

/// How a measurement runs the function: its extra configuration and the event it sends.
#[derive(Clone, Copy)]
enum Mode {
    Plain,
    Verified,
}

impl Setup {
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
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
        env.push((
            "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
            format!("http://127.0.0.1:{}", self.secrets.server.port),
        ));
        env.push(("PARSEC_API_URL".into(), format!("http://127.0.0.1:{}", self.parsec.server.port)));
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
        }
    }

    fn mode_event(&self, mode: Mode) -> Arc<String> {
        match mode {
            Mode::Plain => self.event.clone(),
            Mode::Verified => self.verified_event.clone(),
        }
    }
}

/// Cold starts: Init wall and CPU time, and the first invocation against the
/// median of the next ten.
async fn cold_starts(setup: &Setup, binary: &Path, mode: Mode) -> serde_json::Value {
    let (mut walls, mut cpus, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let event = setup.mode_event(mode);
    for _ in 0..COLD_STARTS {
        let (mut child, wall, cpu) = setup.emulator.spawn(binary, &setup.mode_env(mode)).await;
        let first = setup.emulator.invoke(event.clone()).await.latency;
        let mut warm = Vec::new();
        for _ in 0..10 {
            warm.push(setup.emulator.invoke(event.clone()).await.latency);
        }
        ratios.push(first.as_secs_f64() / report::percentile(&mut warm, 50.0).as_secs_f64());
        walls.push(wall);
        cpus.push(cpu);
        let _ = child.kill().await;
    }
    ratios.sort_by(f64::total_cmp);
    json!({
        "init_wall_ms": report::ms(report::percentile(&mut walls, 50.0)),
        "init_cpu_ms": report::ms(report::percentile(&mut cpus, 50.0)),
        "first_to_warm_ratio": ratios[ratios.len() / 2],
    })
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
    let connections_before = setup.parsec.server.accepted();
    let jwks_before = setup.jwks.fetches.load(Ordering::SeqCst); // Init's fetch counts
    let (mut child, _, _) = setup.emulator.spawn(binary, &setup.mode_env(mode)).await;
    let pid = setup.emulator.pid();
    let secrets_before = setup.secrets.requests.load(Ordering::SeqCst);
    let event = setup.mode_event(mode);
    warm_up(setup, &event).await;
    setup.parsec.take_service_times();
    let (mut latencies, statuses_ok) = sequential(setup, WARM_INVOCATIONS, &event).await;
    let service = setup.parsec.take_service_times();
    let rss = peak_rss(pid);
    let mut net: Vec<Duration> = if is_function && service.len() == latencies.len() {
        latencies.iter().zip(&service).map(|(l, s)| l.saturating_sub(*s)).collect()
    } else {
        latencies.clone()
    };
    // Opened since the process started: Init's warm-up connection, reused after.
    let connections = setup.parsec.server.accepted() - connections_before;
    // A server that closes idle keep-alive connections: the next request must still work.
    setup.parsec.server.drop_connections().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_stale = setup.emulator.invoke(setup.event.clone()).await.status;
    let _ = child.kill().await;
    json!({
        "all_201": statuses_ok,
        "latency_ms": report::percentiles(&mut latencies),
        "net_of_standin_ms": report::percentiles(&mut net),
        "standin_service_p50_ms": if service.is_empty() { 0.0 } else { report::ms(report::percentile(&mut service.clone(), 50.0)) },
        "peak_rss_bytes": rss,
        "secret_fetches_during_warm": setup.secrets.requests.load(Ordering::SeqCst) - secrets_before,
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
/// resident memory and open descriptors after 2,000 and after 20,000.
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
    };
    eprintln!("cold starts ({COLD_STARTS} each)…");
    let baseline_cold = cold_starts(&setup, baseline, Mode::Plain).await;
    let function_cold = cold_starts(&setup, function, Mode::Plain).await;
    eprintln!("cold starts with token re-verification (JWKS served locally)…");
    let verified_cold = cold_starts(&setup, function, Mode::Verified).await;
    eprintln!("warm path ({WARM_INVOCATIONS} invocations each)…");
    let baseline_warm = warm(&setup, baseline, false, Mode::Plain).await;
    let function_warm = warm(&setup, function, true, Mode::Plain).await;
    eprintln!("warm path with token re-verification…");
    let verified_warm = warm(&setup, function, true, Mode::Verified).await;
    eprintln!("concurrency ({CONCURRENCY} at once, Parsec taking {SLOW_PARSEC_MS} ms)…");
    let concurrent = concurrency(&setup, function).await;
    eprintln!("Secrets Manager brownout (16 in flight, TTL just expired)…");
    let brownout = brownout(&setup, function).await;
    eprintln!("soak ({SOAK_INVOCATIONS} invocations, zero TTL)…");
    let soak = soak(&setup, function).await;
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
    });
    std::fs::create_dir_all(out).expect("output folder");
    let table = report::table(&results);
    println!("{table}");
    std::fs::write(out.join("bench.json"), serde_json::to_string_pretty(&results).unwrap()).unwrap();
    std::fs::write(out.join("bench.md"), &table).unwrap();
    std::fs::write(out.join("warm-latency.svg"), chart::latency_svg(&results)).unwrap();
    println!("wrote {0}/bench.json, {0}/bench.md and {0}/warm-latency.svg", out.display());
}
