//! The Lambda entry point: only wiring. See `lib.rs` for what it does, and
//! [`startup::run`] for Init and the runtime loop.
//!
//! The release binary trusts the compiled-in public TLS roots and nothing else
//! (`tests/api/tls_roots.rs` proves it rejects the bench's test CA).

use std::process::ExitCode;

use session_broker::startup::{self, ExtraRoots};

fn main() -> ExitCode {
    startup::run(ExtraRoots::NONE)
}
