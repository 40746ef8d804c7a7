//! Integration tests: the real handler, a Parsec stub on 127.0.0.1 and a fake
//! Secrets Manager, driven with the same `events/*.json` users invoke.
//! All compile into one binary (see zero-to-production's `tests/api`).

mod adapter;
mod helpers;
mod identity;
mod logs;
mod properties;
mod requests;
mod secrets;
mod upstream;
