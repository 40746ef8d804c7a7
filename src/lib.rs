//! A Lambda function that brokers Parsec Enterprise sessions: it checks who is
//! calling from the API Gateway authorizer context, decides which Parsec user
//! the session is for, and asks Parsec for it with an API key that never
//! leaves the function. `docs/contract.md` is the behaviour it implements.
//!
//! The tree says what role each part plays:
//! - [`domain`]: the rules, with no AWS or HTTP types in them;
//! - [`entrypoints`]: the Lambda event in, the response out, and the one path between;
//! - [`secrets`], [`parsec`], [`quotas`], [`sessions`] (one session per device), [`tokens`] (the issuer's keys): one folder per outside dependency, each with its
//!   trait, its live implementation and the cache or double beside it;
//! - [`observability`]: logs, the audit line, metrics;
//! - [`store_error`]: how both DynamoDB-backed stores (quota, device sessions) fail;
//! - [`config`], [`startup`], [`broker`]: what is read at start, what is built
//!   from it, and the flow that ties the dependencies together;
//! - `testing` (tests and fuzz targets only): the doubles as `Deps`, configurations, sample events.

pub mod broker;
pub mod config;
pub mod domain;
pub mod entrypoints;
pub mod observability;
pub mod parsec;
pub mod quotas;
pub mod secrets;
pub mod sessions;
pub mod startup;
pub mod store_error;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tokens;
