//! Faults under load, the way Lambda Managed Instances run the function: the
//! real `bootstrap` binary under a Runtime API emulator with
//! `AWS_LAMBDA_MAX_CONCURRENCY=16` (so `run_concurrent` serves 16 invocations
//! at once in one process), a 3 s function timeout, a 1 s key TTL that has
//! just expired, and a Secrets Manager stand-in that misbehaves while Parsec
//! is healthy. See `docs/contract.md`, "Secrets Manager".

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::runtime_api::{Emulator, Outcome};
use crate::stubs::{self, SecretsMode};

const IN_FLIGHT: usize = 16;
const REQUESTS: usize = 64;
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(3);
/// Far above what a healthy answer takes (milliseconds), far below the
/// function timeout a request waiting on Secrets Manager would run into.
const ANSWER_BOUND: Duration = Duration::from_millis(1500);

struct Stack {
    emulator: Arc<Emulator>,
    secrets: stubs::SecretsManager,
    parsec: stubs::Parsec,
    _function: tokio::process::Child,
}

impl Stack {
    async fn start() -> Stack {
        Stack::start_with(&[]).await
    }

    /// With `extra` added to (or replacing) the function's environment.
    async fn start_with(extra: &[(&str, &str)]) -> Stack {
        let secrets = stubs::secrets_manager().await;
        let parsec = stubs::parsec().await;
        let emulator = Arc::new(Emulator::start().await);
        emulator.set_timeout(FUNCTION_TIMEOUT);
        emulator.keep_stdout();
        let env: Vec<(String, String)> = crate::helpers::binary_env("faults")
            .into_iter()
            .chain([
                ("SECRET_CACHE_TTL_SECONDS".into(), "1".into()),
                ("AWS_LAMBDA_MAX_CONCURRENCY".into(), IN_FLIGHT.to_string()),
                ("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), secrets.server.url()),
                ("PARSEC_API_URL".into(), parsec.server.url()),
            ])
            .filter(|(k, _)| !extra.iter().any(|(name, _)| name == k))
            .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        let binary = Path::new(env!("CARGO_BIN_EXE_bootstrap"));
        let (function, _, _) = emulator.spawn(binary, &env).await;
        Stack { emulator, secrets, parsec, _function: function }
    }

    /// `REQUESTS` invocations, `IN_FLIGHT` at a time (the function polls for
    /// that many at once), each answered or given up on within 10 s.
    async fn burst(&self) -> Vec<Outcome> {
        let event = Arc::new(crate::helpers::event_text("http-api-jwt.json"));
        let invocations: Vec<_> = (0..REQUESTS)
            .map(|_| {
                let (emulator, event) = (self.emulator.clone(), event.clone());
                tokio::spawn(async move { emulator.invoke(event).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for invocation in invocations {
            outcomes.push(invocation.await.expect("the invocation task"));
        }
        outcomes
    }

    /// One healthy request, then the fault, then the TTL runs out.
    async fn warm_then_expire(&self, fault: impl std::future::Future<Output = ()>) {
        let first = self.emulator.invoke(Arc::new(crate::helpers::event_text("http-api-jwt.json"))).await;
        assert_eq!(first.status, Some(201), "the warm-up request");
        fault.await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}

fn assert_all_created_in_time(outcomes: &[Outcome], fault: &str) {
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort();
    let statuses: Vec<Option<u16>> = outcomes.iter().map(|o| o.status).collect();
    assert!(statuses.iter().all(|s| *s == Some(201)), "{fault}: {statuses:?}");
    let slowest = *latencies.last().unwrap();
    assert!(slowest < ANSWER_BOUND, "{fault}: slowest answer took {slowest:?}");
    let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
    eprintln!("{fault}: {} requests, all 201, p99 {p99:?}, slowest {slowest:?}", outcomes.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secrets_manager_brownout_is_invisible_while_a_key_is_cached() {
    for (name, mode) in [
        ("500 InternalServiceError", SecretsMode::Failing),
        ("no answer", SecretsMode::Silent),
        ("connection reset", SecretsMode::Resetting),
    ] {
        let stack = Stack::start().await;
        stack.warm_then_expire(async { stack.secrets.set_mode(mode) }).await;
        assert_all_created_in_time(&stack.burst().await, name);
        let fetches = stack.secrets.requests.load(std::sync::atomic::Ordering::SeqCst);
        assert!(fetches <= 8, "{name}: {fetches} GetSecretValue calls: refreshes are not backing off");
    }
    let stack = Stack::start().await;
    stack.warm_then_expire(stack.secrets.server.stop()).await;
    assert_all_created_in_time(&stack.burst().await, "connection refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_key_does_not_turn_into_a_secrets_manager_storm() {
    let stack = Stack::start().await;
    stack.parsec.reject_all.store(true, std::sync::atomic::Ordering::SeqCst);
    let outcomes = stack.burst().await;
    let statuses: Vec<Option<u16>> = outcomes.iter().map(|o| o.status).collect();
    assert!(statuses.iter().all(|s| *s == Some(502)), "{statuses:?}");
    let fetches = stack.secrets.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(fetches <= 3, "{fetches} GetSecretValue calls for {REQUESTS} rejected requests");
    assert!(fetches >= 2, "the rejection still triggers a refetch (Init + 1), saw {fetches}");
}

/// Under `run_concurrent` the runtime sets no `_X_AMZN_TRACE_ID`: the key refetch a
/// rejection triggers must still carry the invocation's trace header, and the warning it
/// logs (JSON) must still name the invocation's request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_run_concurrent_a_requests_warning_names_it_and_its_sdk_calls_carry_its_trace() {
    let stack =
        Stack::start_with(&[("AWS_LAMBDA_MAX_CONCURRENCY", "4"), ("AWS_LAMBDA_LOG_FORMAT", "JSON")]).await;
    // Room for the SDK's retries against the failing stand-in within the Parsec budget (5 s),
    // on a loaded machine too: the warning is logged once the refetch has failed, not on a timeout.
    stack.emulator.set_timeout(Duration::from_secs(15));
    stack.parsec.reject_all.store(true, std::sync::atomic::Ordering::SeqCst);
    stack.secrets.set_mode(SecretsMode::Failing);
    let outcome = stack.emulator.invoke(Arc::new(crate::helpers::event_text("http-api-jwt.json"))).await;
    assert_eq!(outcome.status, Some(502), "a rejected key whose refetch failed");
    let expected_trace = crate::runtime_api::trace_id("req-0");
    let traces = stack.secrets.trace_headers.lock().unwrap().clone();
    assert_eq!(traces.first(), Some(&None), "Init's fetch belongs to no invocation: {traces:?}");
    assert!(traces.len() >= 2, "the rejection refetched the key: {traces:?}");
    assert!(traces[1..].iter().all(|t| t.as_deref() == Some(expected_trace.as_str())), "{traces:?}");
    let mut warning = None;
    for _ in 0..50 {
        warning = stack.emulator.stdout_text().lines().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            (v["level"] == "WARN" && v["message"].as_str()?.contains("after Parsec rejected the key"))
                .then_some(v)
        });
        if warning.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let warning = warning.unwrap_or_else(|| panic!("no warning in:\n{}", stack.emulator.stdout_text()));
    assert_eq!(warning["span"]["requestId"], "req-0", "{warning}");
    assert_eq!(warning["span"]["xrayTraceId"], expected_trace.as_str(), "{warning}");
}
