//! The broker `make bench` measures over TLS: the same Init and runtime loop as the
//! release binary, trusting one more root, the test CA of `bench/fixtures/tls/`, whose
//! stand-ins the harness serves on 127.0.0.1. The release binary (`src/main.rs`) trusts
//! the public roots only; `tests/api/tls_roots.rs` proves it rejects this CA.

use std::process::ExitCode;

use session_broker::startup::{self, ExtraRoots};

const BENCH_ROOT_CA: &[u8] = include_bytes!("../../fixtures/tls/root-ca.der");

fn main() -> ExitCode {
    startup::run(ExtraRoots(&[BENCH_ROOT_CA]))
}
