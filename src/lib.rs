//! A Lambda function that brokers Parsec Enterprise sessions: it checks who is
//! calling from the API Gateway authorizer context, decides which Parsec user
//! the session is for, and asks Parsec for it with an API key that never
//! leaves the function. See `README.md` and the contract it implements.

pub mod audit;
pub mod body;
pub mod broker;
pub mod caller;
pub mod config;
pub mod error;
pub mod external_id;
pub mod http;
pub mod http_client;
pub mod key_cache;
pub mod lambda_adapter;
pub mod metrics;
pub mod panic_guard;
pub mod parsec;
pub mod parsec_client;
pub mod policy;
pub mod response;
pub mod secret;
pub mod secrets_manager;
pub mod startup;
pub mod telemetry;
