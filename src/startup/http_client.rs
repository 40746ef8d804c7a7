//! The one HTTP client of the process, shared by the Parsec adapter and the
//! AWS SDK: one TLS configuration, one connection pool.
//!
//! TLS roots are the Mozilla set compiled in (`webpki-roots`), so Init reads
//! and parses no certificate files; that, and not building a second client
//! for the SDK, is most of what keeps Init close to an empty function's.
//! The release binary trusts those roots and nothing else: [`build_trusting`]'s
//! extra roots are for `bench/broker` alone (the bench's test CA, BENCHMARKS.md).

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use reqwest::{redirect, Client, Method};

use crate::observability::xray;

/// The process's client: no redirects (the key must never follow one), no
/// proxy, keep-alive connections dropped after 30 s idle so a connection the
/// server has since closed is not reused after a long freeze.
pub fn build() -> Result<Client, reqwest::Error> {
    build_trusting(ExtraRoots::NONE)
}

/// Certificates (DER) trusted beside the compiled-in public roots. `src/main.rs` passes
/// [`ExtraRoots::NONE`]; only the bench's build of the broker (`bench/broker`) names one,
/// its test CA, so `make bench` can measure TLS against stand-ins on 127.0.0.1.
#[derive(Debug, Clone, Copy)]
pub struct ExtraRoots(pub &'static [&'static [u8]]);

impl ExtraRoots {
    pub const NONE: ExtraRoots = ExtraRoots(&[]);
}

/// [`build`], also trusting `extra` (see [`ExtraRoots`]).
pub fn build_trusting(extra: ExtraRoots) -> Result<Client, reqwest::Error> {
    Client::builder()
        .tls_backend_preconfigured(tls_config(extra))
        .redirect(redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("parsec-session-broker/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_keepalive(Duration::from_secs(15))
        .build()
}

fn tls_config(extra: ExtraRoots) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if !extra.0.is_empty() {
        let der = extra.0.iter().map(|der| rustls::pki_types::CertificateDer::from(*der));
        let (_, ignored) = roots.add_parsable_certificates(der);
        if ignored > 0 {
            tracing::error!(ignored, "extra trust roots that are not certificates were ignored");
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The shared client, as the AWS SDK's HTTP client.
pub fn for_sdk(client: Client) -> SharedHttpClient {
    SharedHttpClient::new(SdkClient(client))
}

#[derive(Debug, Clone)]
struct SdkClient(Client);

impl HttpClient for SdkClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(SdkConnector {
            client: self.0.clone(),
            read_timeout: settings.read_timeout(),
        })
    }
}

#[derive(Debug)]
struct SdkConnector {
    client: Client,
    read_timeout: Option<Duration>,
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let method = Method::from_bytes(request.method().as_bytes())
                .map_err(|e| ConnectorError::user(e.into()))?;
            let mut builder = client.request(method, request.uri());
            for (name, value) in request.headers() {
                builder = builder.header(name, value);
            }
            // Under run_concurrent the SDK finds no `_X_AMZN_TRACE_ID`: the invocation's
            // trace id comes from the request being served instead.
            if !request.headers().contains_key(xray::HEADER) {
                if let Some(trace_id) = xray::current() {
                    builder = builder.header(xray::HEADER, trace_id);
                }
            }
            if let Some(timeout) = read_timeout {
                builder = builder.timeout(timeout);
            }
            // Secrets Manager requests are small, in-memory JSON bodies.
            let body = request.body().bytes().map(<[u8]>::to_vec).unwrap_or_default();
            let response = builder.body(body).send().await.map_err(connector_error)?;
            let status = StatusCode::try_from(response.status().as_u16())
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let headers = response.headers().clone();
            let bytes = response.bytes().await.map_err(connector_error)?;
            let mut out = HttpResponse::new(status, SdkBody::from(bytes));
            for (name, value) in &headers {
                if let Ok(value) = value.to_str() {
                    out.headers_mut().append(name.as_str().to_owned(), value.to_owned());
                }
            }
            Ok(out)
        })
    }
}

fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else {
        ConnectorError::io(e.into())
    }
}
