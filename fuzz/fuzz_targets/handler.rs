//! The whole Lambda entry over arbitrary JSON events: every one is answered
//! with a session or a documented 4xx, never a 5xx, never a panic that escapes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use session_broker::broker::Broker;
use session_broker::entrypoints::lambda::handle_raw;
use session_broker::entrypoints::Service;
use session_broker::observability::metrics::MetricsSink;
use session_broker::testing::{self, versioned, Doubles, MemorySecrets};

fn broker(mode: &str) -> Service<Doubles> {
    let mut vars = vec![("EXTERNAL_ID_SOURCE", mode)];
    if mode == "body" {
        vars.push(("REQUIRED_SCOPE", "parsec/sessions"));
        vars.push(("TRUSTED_CALLERS", "scope:parsec/backend,client_id:backend"));
    }
    let config = testing::config(&vars).unwrap();
    let broker = Broker::new(&config, MemorySecrets::new(versioned("k", "v")), Default::default(), None, None, None);
    Service::new(broker, MetricsSink::Off)
}

fuzz_target!(|data: &[u8]| {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    static BROKERS: OnceLock<[Service<Doubles>; 2]> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        // Panics the adapter catches (inside lambda_http) are part of the
        // behaviour under test; one that escapes still fails the run.
        std::panic::set_hook(Box::new(|_| {}));
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    });
    let brokers = BROKERS.get_or_init(|| [broker("claim"), broker("body")]);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(event) = serde_json::value::RawValue::from_string(text.to_owned()) else { return };
    let broker = &brokers[data.len() % 2];
    let wire = runtime.block_on(handle_raw(broker, &event, lambda_http::Context::default()));
    let status = wire["statusCode"].as_u64().unwrap_or(0);
    assert!([201, 400, 401, 403, 405, 413, 415].contains(&status), "status {status}");
});
