//! The release binary trusts the compiled-in public roots (webpki-roots) and nothing else:
//! the real `bootstrap`, under the bench's Runtime API emulator, against the bench's
//! Secrets Manager and Parsec stand-ins speaking TLS with a certificate of the bench's
//! test CA (`bench/fixtures/tls/`), refuses both handshakes, so no request carrying a
//! credential or the key ever reaches them. Only `bench/broker` trusts that CA.

use std::path::Path;
use std::sync::Arc;

use crate::runtime_api::Emulator;
use crate::stubs;
use crate::tls;

fn env(secrets: &stubs::SecretsManager, parsec: &stubs::Parsec) -> Vec<(String, String)> {
    crate::helpers::binary_env("tls-roots")
        .into_iter()
        .chain([
            ("PARSEC_WARM_UP".into(), "true".into()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), secrets.server.url()),
            ("PARSEC_API_URL".into(), parsec.server.url()),
        ])
        .collect()
}

#[tokio::test]
async fn the_release_binary_refuses_the_bench_test_ca_and_sends_nothing_to_its_servers() {
    let secrets = stubs::secrets_manager_on(Some(tls::server_config())).await;
    let parsec = stubs::parsec_on(Some(tls::server_config())).await;
    assert!(secrets.server.url().starts_with("https://127.0.0.1:"));
    let emulator = Arc::new(Emulator::start().await);
    let (mut function, _, _) =
        emulator.spawn(Path::new(env!("CARGO_BIN_EXE_bootstrap")), &env(&secrets, &parsec)).await;
    let event = Arc::new(crate::helpers::event_text("http-api-jwt.json"));
    let outcome = emulator.invoke(event).await;
    let _ = function.kill().await;

    // No key: the contract's answer for a secret that cannot be fetched.
    assert_eq!(outcome.status, Some(503), "{:?}", outcome.body);
    assert!(outcome.body.as_deref().unwrap_or("").contains("secret_unavailable"), "{:?}", outcome.body);
    // Both servers saw the client abort each handshake over the issuer (Init's fetch, Init's
    // Parsec warm-up, the request's retries) and never one request.
    for (name, server) in [("Secrets Manager", &secrets.server), ("Parsec", &parsec.server)] {
        let errors = server.handshake_errors.lock().unwrap().clone();
        assert_eq!(server.handshakes(), 0, "{name}: a handshake completed");
        assert!(!errors.is_empty(), "{name}: no handshake was attempted");
        assert!(errors.iter().all(|e| e.contains("UnknownCA")), "{name}: {errors:?}");
    }
    assert_eq!(secrets.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(parsec.take_service_times().is_empty());
}

#[tokio::test]
async fn the_bench_stand_ins_chain_verifies_against_the_test_ca_with_the_brokers_client_settings() {
    // The other half of the test above: the stand-in's chain is sound, so what the release
    // binary refuses is the issuer alone.
    let parsec = stubs::parsec_on(Some(tls::server_config())).await;
    let port = parsec.server.port;
    let answered =
        tokio::task::spawn_blocking(move || tls::one_handshake(&tls::full_handshakes_config(), port))
            .await
            .unwrap();
    assert!(answered.is_ok(), "{answered:?}");
    assert_eq!(parsec.server.handshakes(), 1);
    assert!(parsec.server.handshake_errors.lock().unwrap().is_empty());
}

/// The test CA's RSA modulus, as any embedding of it (a DER certificate, a trust anchor)
/// carries it: the 256 bytes after `INTEGER, 257 bytes, 0x00` in the certificate.
fn test_ca_modulus() -> &'static [u8] {
    let der = tls::ROOT_CA_DER;
    let at = der.windows(5).position(|w| w == [0x02, 0x82, 0x01, 0x01, 0x00]).expect("an RSA-2048 modulus");
    &der[at + 5..at + 5 + 256]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_bootstrap_binary_does_not_carry_the_bench_test_ca_while_the_bench_code_does() {
    let modulus = test_ca_modulus();
    let bootstrap = std::fs::read(env!("CARGO_BIN_EXE_bootstrap")).unwrap();
    assert!(!contains(&bootstrap, modulus), "bootstrap carries the bench test CA");
    // This test binary compiles bench/harness/src/tls.rs, which embeds the CA: the search finds it.
    let this = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(contains(&this, modulus));
}
