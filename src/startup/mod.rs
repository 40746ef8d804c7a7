//! Builds the live broker during Init: the one HTTP client, the Secrets Manager,
//! Parsec and (with a quota or a session store) DynamoDB clients on it, once, and the first fetch of
//! the key; [`run`] then rehearses the request path on it and serves. `src/main.rs` runs it
//! trusting the compiled-in public roots only; `bench/broker` runs the same with the bench's
//! test CA added.

pub mod http_client;

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;

use lambda_http::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

use crate::broker::{Broker, Deps, DeviceStore};
use crate::config::Config;
use crate::entrypoints::{lambda, Service};
use crate::observability::metrics::MetricsSink;
use crate::observability::telemetry;
use crate::parsec::client::ParsecClient;
use crate::quotas::dynamodb::DynamoQuotaStore;
use crate::secrets::secrets_manager::SecretsManagerSource;
use crate::sessions::dynamodb::DynamoSessionStore;
use crate::sessions::seal::SealMaterial;
use crate::tokens::http::HttpKeySet;
pub use http_client::ExtraRoots;

/// The whole process: configuration, Init (clients, the key, the rehearsal), then the
/// Lambda runtime loop until it stops.
pub fn run(roots: ExtraRoots) -> ExitCode {
    telemetry::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(variable = e.variable, "{e}");
            return ExitCode::FAILURE;
        }
    };
    for warning in &config.warnings {
        tracing::warn!(variable = warning.variable, "{}", warning.message);
    }
    let runtime = match tokio_runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let broker = build(&config, roots).await?;
        lambda::rehearse(&broker).await;
        let service = Arc::new(Service::new(broker, MetricsSink::Stdout));
        lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
            let service = Arc::clone(&service);
            async move {
                Ok::<_, Infallible>(lambda::handle_raw(&service, &event.payload, event.context).await)
            }
        }))
        .await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

/// The live dependencies: Secrets Manager and Parsec over HTTP.
pub struct Live;

impl Deps for Live {
    type Secrets = SecretsManagerSource;
    type Parsec = ParsecClient;
    type Quotas = DynamoQuotaStore;
    type Jwks = HttpKeySet;
    type Seal = SecretsManagerSource<SealMaterial>;
    type Sessions = DynamoSessionStore;
}

pub type LiveBroker = Broker<Live>;

/// The shared HTTP client, the SDK client on top of it, and the primed key
/// cache. Fails only if the HTTP client cannot be built; a failed secret fetch
/// is left for requests to retry.
pub async fn build(config: &Config, roots: ExtraRoots) -> Result<LiveBroker, reqwest::Error> {
    let http = http_client::build_trusting(roots)?;
    let parsec = ParsecClient::new(http.clone(), config.sessions_url.clone());
    let jwks = config.jwt.as_ref().map(|jwt| HttpKeySet::new(http.clone(), jwt.jwks_url.clone()));
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client::for_sdk(http))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(4))
                .build(),
        )
        .load()
        .await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config);
    let secrets =
        SecretsManagerSource::new(client.clone(), config.secret_id.clone(), config.secret_field.clone());
    // The DynamoDB client only with a quota or a session store (one client for both), so
    // Init without either does not change.
    let dynamodb = (config.quota.is_some() || config.devices.is_some())
        .then(|| aws_sdk_dynamodb::Client::new(&sdk_config));
    let quotas = config
        .quota
        .as_ref()
        .zip(dynamodb.clone())
        .map(|(quota, dynamodb)| DynamoQuotaStore::new(dynamodb, quota.table.clone()));
    let devices = config.devices.as_ref().zip(dynamodb).map(|(devices, dynamodb)| DeviceStore {
        seal: SecretsManagerSource::reading(client, devices.seal_secret_id.clone(), SealMaterial),
        store: DynamoSessionStore::new(dynamodb, devices.table.clone()),
    });
    let broker = Broker::new(config, secrets, parsec, quotas, jwks, devices);
    broker.prime().await;
    Ok(broker)
}

/// How many invocations one process serves at once (Lambda Managed Instances).
pub fn max_concurrency() -> usize {
    std::env::var("AWS_LAMBDA_MAX_CONCURRENCY").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(1)
}

/// A single-threaded runtime for one invocation at a time (the cheapest Init);
/// a multi-threaded one when the process serves several at once.
pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    if max_concurrency() > 1 {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    }
}
