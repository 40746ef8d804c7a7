//! The Lambda entry point: only wiring. See `lib.rs` for what it does.

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;

use lambda_http::{service_fn, LambdaEvent};
use serde_json::value::RawValue;
use session_broker::entrypoints::{lambda, Service};
use session_broker::observability::metrics::MetricsSink;
use session_broker::observability::telemetry;
use session_broker::{config::Config, startup};

fn main() -> ExitCode {
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
    let runtime = match startup::tokio_runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let broker = startup::build(&config).await?;
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
