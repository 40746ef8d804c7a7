//! The Lambda entry point: only wiring. See `lib.rs` for what it does.

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;

use lambda_http::{service_fn, LambdaEvent};
use serde_json::value::RawValue;
use session_broker::entrypoints::lambda;
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
        let broker = Arc::new(startup::build(&config).await?);
        lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
            let broker = Arc::clone(&broker);
            async move {
                Ok::<_, Infallible>(lambda::handle_raw(&broker, &event.payload, event.context).await)
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
