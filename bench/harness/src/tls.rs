//! TLS for the stand-ins of the TLS rows: the server side of `bench/fixtures/tls/` (an
//! RSA-2048 leaf for 127.0.0.1 under an intermediate under a test root, the shape of an AWS
//! endpoint's chain), a client that trusts that root as `bench/broker` does, and the cost
//! of one handshake and of one chain verification on their own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

const CHAIN_PEM: &[u8] = include_bytes!("../../fixtures/tls/server-chain.pem");
const KEY_PEM: &[u8] = include_bytes!("../../fixtures/tls/server-key.pem");
pub const ROOT_CA_DER: &[u8] = include_bytes!("../../fixtures/tls/root-ca.der");

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn chain() -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(CHAIN_PEM).collect::<Result<_, _>>().expect("bench/fixtures/tls chain")
}

/// A stand-in's TLS: the leaf and the intermediate, rustls's defaults (TLS 1.3 and 1.2).
/// One per stand-in, so no session is resumed across them, as across two real hosts.
pub fn server_config() -> Arc<rustls::ServerConfig> {
    let key = PrivateKeyDer::from_pem_slice(KEY_PEM).expect("bench/fixtures/tls key");
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain(), key)
        .expect("the bench certificate and its key");
    Arc::new(config)
}

/// The roots `bench/broker` trusts: the public ones compiled in, and the test root.
fn roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    roots.add(CertificateDer::from(ROOT_CA_DER)).expect("the test root");
    roots
}

/// The broker's client configuration (`src/startup/http_client.rs`), trusting the test root.
pub fn client_config() -> Arc<rustls::ClientConfig> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots())
        .with_no_client_auth();
    Arc::new(config)
}

/// Nanoseconds the calling thread has spent on a CPU, up to now (`CLOCK_THREAD_CPUTIME_ID`;
/// `/proc/thread-self/schedstat` lags until the thread is next descheduled).
fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the one timespec it is given.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return 0;
    }
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// [`client_config`] that never resumes a session: every handshake is a full one.
pub fn full_handshakes_config() -> Arc<rustls::ClientConfig> {
    let mut config = (*client_config()).clone();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// One full handshake with `config` ([`full_handshakes_config`]) to `127.0.0.1:port` and
/// one request answered: the client's CPU and wall time.
pub fn one_handshake(config: &Arc<rustls::ClientConfig>, port: u16) -> std::io::Result<(Duration, Duration)> {
    let name = ServerName::try_from("127.0.0.1").expect("an IP address");
    let (cpu, wall) = (thread_cpu_ns(), Instant::now());
    let connection = rustls::ClientConnection::new(config.clone(), name).map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_nodelay(true)?;
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer); // the stand-in closes without close_notify
    if !answer.starts_with(b"HTTP/1.1 ") {
        return Err(std::io::Error::other("no HTTP answer over TLS"));
    }
    Ok((Duration::from_nanos(thread_cpu_ns() - cpu), wall.elapsed()))
}

/// Verifying the stand-ins' chain against the roots (two RSA-2048 signatures, the name,
/// the dates), as each full handshake does, `count` times: the time of each (pure
/// computation on one thread, so its wall time is its CPU time).
pub fn verifications(count: usize) -> Vec<Duration> {
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots()), provider())
        .build()
        .expect("a verifier");
    let chain = chain();
    let name = ServerName::try_from("127.0.0.1").expect("an IP address");
    (0..count)
        .map(|_| {
            let started = Instant::now();
            verifier
                .verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now())
                .expect("the chain verifies");
            started.elapsed()
        })
        .collect()
}
