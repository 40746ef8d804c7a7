//! Integration tests: the real handler, a Parsec stub on 127.0.0.1 and a fake
//! Secrets Manager, driven with the same `events/*.json` users invoke.
//! All compile into one binary (see zero-to-production's `tests/api`).

mod adapter;
mod configuration_list;
mod device_sessions;
mod device_store;
mod faults_under_load;
mod helpers;
mod identity;
mod identity_rules;
mod local_dynamodb;
mod logs;
mod properties;
mod quotas;
mod requests;
mod secrets;
mod tls_roots;
mod token_verification;
mod upstream;

// The Runtime API emulator and the Secrets Manager and Parsec stand-ins of
// `make bench`, shared so the fault-under-load tests run the real binary the
// same way the benchmark does.
#[allow(dead_code)]
#[path = "../../bench/harness/src/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../../bench/harness/src/runtime_api.rs"]
mod runtime_api;
#[allow(dead_code)]
#[path = "../../bench/harness/src/stubs.rs"]
mod stubs;
#[allow(dead_code)]
#[path = "../../bench/harness/src/tls.rs"]
mod tls;
