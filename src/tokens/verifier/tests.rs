//! The verifier against a JWKS double and tokens the test issuer signs.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::testing::issuer::{Signing, TestIssuer, AUDIENCE, EC_KID, ISSUER, RSA_KID};
use crate::testing::MemoryKeySet;

fn verifier(issuer: &TestIssuer) -> (TokenVerifier<Arc<MemoryKeySet>>, Arc<MemoryKeySet>) {
    let source = Arc::new(MemoryKeySet::serving(&issuer.jwks()));
    (TokenVerifier::new(source.clone(), ISSUER.into(), vec!["other".into(), AUDIENCE.into()]), source)
}

/// An RS256 token of `issuer` for `u`, its claims edited.
fn signed_with(issuer: &TestIssuer, edit: &dyn Fn(&mut Value)) -> String {
    let mut claims = TestIssuer::claims("u");
    edit(&mut claims);
    issuer.sign(Signing::Rs256, RSA_KID, &claims)
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

async fn check(
    verifier: &TokenVerifier<Arc<MemoryKeySet>>,
    token: &str,
) -> Result<VerifiedToken, TokenError> {
    verifier.verify(BearerToken::from_header(token).unwrap(), soon()).await
}

#[tokio::test]
async fn rs256_rs512_and_es256_tokens_of_the_issuer_verify_and_carry_their_claims() {
    let issuer = TestIssuer::new();
    let (verifier, _) = verifier(&issuer);
    verifier.prime().await;
    let claims = TestIssuer::claims("user-42");
    for (signing, kid) in [(Signing::Rs256, RSA_KID), (Signing::Rs512, RSA_KID), (Signing::Es256, EC_KID)] {
        let verified = check(&verifier, &issuer.sign(signing, kid, &claims)).await.expect("verifies");
        assert_eq!(verified.claim("sub"), Some(&json!("user-42")), "{signing:?}");
        assert_eq!(verified.scopes(), vec!["parsec/sessions".to_owned()]);
    }
}

#[tokio::test]
async fn none_hmac_with_the_public_key_and_a_foreign_signature_are_refused() {
    let issuer = TestIssuer::new();
    let (verifier, _) = verifier(&issuer);
    verifier.prime().await;
    let claims = TestIssuer::claims("user-42");
    let forged = [
        issuer.sign(Signing::None, RSA_KID, &claims),
        issuer.sign(Signing::Hs256WithPublicKey, RSA_KID, &claims),
        TestIssuer::new().sign(Signing::Rs256, RSA_KID, &claims), // same kid, another key
        issuer.sign(Signing::Es256, RSA_KID, &claims),            // an RSA key named for ES256
        "not.a.jwt".to_owned(),
    ];
    for token in forged {
        assert!(matches!(check(&verifier, &token).await, Err(TokenError::Rejected(_))), "{token}");
    }
}

#[tokio::test]
async fn expiry_and_nbf_allow_sixty_seconds_of_leeway_and_no_more() {
    let issuer = TestIssuer::new();
    let (verifier, _) = verifier(&issuer);
    verifier.prime().await;
    let now = crate::testing::issuer::now();
    let with = |edit: &dyn Fn(&mut Value)| signed_with(&issuer, edit);
    assert!(check(&verifier, &with(&|c| c["exp"] = json!(now - 30))).await.is_ok());
    assert_eq!(
        check(&verifier, &with(&|c| c["exp"] = json!(now - 120))).await.err(),
        Some(TokenError::Rejected("the token has expired"))
    );
    assert!(check(&verifier, &with(&|c| c["nbf"] = json!(now + 30))).await.is_ok());
    assert!(check(&verifier, &with(&|c| c["nbf"] = json!(now + 120))).await.is_err());
    let no_exp = with(&|c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    assert!(check(&verifier, &no_exp).await.is_err());
    assert!(check(&verifier, &with(&|c| c["iss"] = json!("https://elsewhere.invalid"))).await.is_err());
}

#[tokio::test]
async fn the_audience_is_aud_when_present_else_client_id() {
    let issuer = TestIssuer::new();
    let (verifier, _) = verifier(&issuer);
    verifier.prime().await;
    let with = |edit: &dyn Fn(&mut Value)| signed_with(&issuer, edit);
    assert!(check(&verifier, &with(&|_| {})).await.is_ok()); // client_id, no aud
    assert!(check(&verifier, &with(&|c| c["aud"] = json!(["x", "other"]))).await.is_ok());
    assert!(check(&verifier, &with(&|c| c["aud"] = json!("someone-else"))).await.is_err());
    assert!(check(&verifier, &with(&|c| c["client_id"] = json!("someone-else"))).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_unknown_kids_costs_at_most_one_fetch_per_ten_seconds() {
    let issuer = TestIssuer::new();
    let (verifier, source) = verifier(&issuer);
    verifier.prime().await;
    let claims = TestIssuer::claims("u");
    for i in 0..100 {
        let token = issuer.sign(Signing::Rs256, &format!("unknown-{i}"), &claims);
        assert!(matches!(check(&verifier, &token).await, Err(TokenError::Rejected(_))));
    }
    assert_eq!(source.fetches(), 1, "the Init fetch counts: no refetch within 10 s of it");
    tokio::time::advance(MIN_REFETCH_INTERVAL).await;
    for i in 0..100 {
        let token = issuer.sign(Signing::Rs256, &format!("again-{i}"), &claims);
        assert!(check(&verifier, &token).await.is_err());
    }
    assert_eq!(source.fetches(), 2);
    assert!(check(&verifier, &issuer.token("u")).await.is_ok(), "known keys still verify");
}

#[tokio::test(start_paused = true)]
async fn a_jwks_down_at_start_is_503_with_retry_after_until_a_refetch_works() {
    let issuer = TestIssuer::new();
    let (verifier, source) = verifier(&issuer);
    source.serve(None);
    verifier.prime().await;
    tokio::time::advance(Duration::from_millis(3500)).await;
    match check(&verifier, &issuer.token("u")).await {
        Err(TokenError::KeysUnavailable { retry_after }) => {
            assert_eq!(retry_after, Duration::from_millis(6500))
        }
        other => panic!("{other:?}"),
    }
    source.serve(Some(&issuer.jwks()));
    tokio::time::advance(Duration::from_secs(7)).await;
    assert!(check(&verifier, &issuer.token("u")).await.is_ok());
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_key_rotated_in_at_the_issuer_is_fetched_for_the_first_token_that_names_it() {
    let old = TestIssuer::new();
    let new = TestIssuer::new();
    let (verifier, source) = verifier(&old);
    verifier.prime().await;
    tokio::time::advance(Duration::from_secs(60)).await;
    let rotated = new.jwks().replace(RSA_KID, "rsa-2");
    source.serve(Some(&rotated));
    let token = new.sign(Signing::Rs256, "rsa-2", &TestIssuer::claims("u"));
    assert!(check(&verifier, &token).await.is_ok());
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_kid_whose_refetch_fails_is_503_not_a_pass() {
    let issuer = TestIssuer::new();
    let (verifier, source) = verifier(&issuer);
    verifier.prime().await;
    tokio::time::advance(Duration::from_secs(30)).await;
    source.serve(None);
    let token = issuer.sign(Signing::Rs256, "new-kid", &TestIssuer::claims("u"));
    assert!(matches!(check(&verifier, &token).await, Err(TokenError::KeysUnavailable { .. })));
    assert!(check(&verifier, &issuer.token("u")).await.is_ok(), "the cached keys still serve");
}
