//! An empty lambda_http function, as cargo lambda's template makes it: the
//! floor the session broker's Init, latency and footprint are compared with.

use lambda_http::{run, service_fn, tracing, Body, Error, Request, Response};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    run(service_fn(|_event: Request| async {
        let mut response = Response::new(Body::Text(r#"{"ok":true}"#.to_owned()));
        *response.status_mut() = lambda_http::http::StatusCode::CREATED;
        Ok::<_, Error>(response)
    }))
    .await
}
