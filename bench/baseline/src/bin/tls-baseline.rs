//! The empty function of `src/main.rs`, plus what any function that calls an HTTPS API
//! pays in Init: one rustls client (aws-lc-rs, the compiled-in public roots and the bench's
//! test CA, as `bench/broker` trusts) and one request over TLS to `BASELINE_TLS_URL`
//! before the first `GET /next`. `make bench`'s TLS rows compare the broker with this.

use std::sync::Arc;

use lambda_http::{run, service_fn, tracing, Body, Error, Request, Response};

const BENCH_ROOT_CA: &[u8] = include_bytes!("../../../fixtures/tls/root-ca.der");

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    roots.add(rustls::pki_types::CertificateDer::from(BENCH_ROOT_CA))?;
    let tls =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    let client = reqwest::Client::builder().tls_backend_preconfigured(tls).no_proxy().build()?;
    if let Ok(url) = std::env::var("BASELINE_TLS_URL") {
        // One handshake and one answer, drained, like the broker's Init fetch.
        client.get(url).send().await?.bytes().await?;
    }
    run(service_fn(|_event: Request| async {
        let mut response = Response::new(Body::Text(r#"{"ok":true}"#.to_owned()));
        *response.status_mut() = lambda_http::http::StatusCode::CREATED;
        Ok::<_, Error>(response)
    }))
    .await
}
