//! Verifies a caller's token against the issuer's JWKS, which it caches: fetched
//! during Init, refetched only when a token names a `kid` the cached set does not
//! have, and then at most once per [`MIN_REFETCH_INTERVAL`] (the Init fetch
//! counts), so unknown `kid`s cannot make the function hammer the issuer.
//!
//! | state | a token with a known `kid` | an unknown `kid` |
//! | --- | --- | --- |
//! | keys cached | verified at once, no fetch | one refetch (waited for within the deadline) if the last fetch is 10 s old, else `401` |
//! | nothing cached, or the last fetch failed | (nothing is known) | a refetch if allowed, else `503 jwks_unavailable`, `Retry-After` until the next one |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tokio::time::{timeout_at, Instant};

use crate::domain::caller::{claim_text, Caller, CallerKind};
use crate::tokens::key_set::{KeySet, ACCEPTED};
use crate::tokens::{BearerToken, KeySetSource};

/// The JWKS is fetched at most once in this long.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 60;
/// The longest one JWKS fetch may take (and never past the request's deadline).
const FETCH_BUDGET: Duration = Duration::from_secs(2);

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// `401`: missing, malformed, unverifiable, expired, another issuer or audience.
    /// The text names the reason for the audit line, never the token.
    Rejected(&'static str),
    /// `503 jwks_unavailable`: the keys could not be had; retry after this long.
    KeysUnavailable { retry_after: Duration },
}

/// The claims of a token whose signature, issuer, audience and times verified.
#[derive(Debug)]
pub struct VerifiedToken {
    claims: Map<String, Value>,
}

impl VerifiedToken {
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// The token's scopes: its space-separated `scope` claim, and `scp` as text or an array.
    pub fn scopes(&self) -> Vec<String> {
        let mut scopes = Vec::new();
        for name in ["scope", "scp"] {
            match self.claims.get(name) {
                Some(Value::String(text)) => scopes.extend(text.split_whitespace().map(str::to_owned)),
                Some(Value::Array(items)) => {
                    scopes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
                }
                _ => {}
            }
        }
        scopes
    }

    /// The caller as the token describes it: its text, number and boolean claims, its scopes.
    pub fn caller(&self, kind: CallerKind) -> Option<Caller> {
        let claims =
            self.claims.iter().filter_map(|(name, value)| Some((name.clone(), claim_text(value)?))).collect();
        Caller::new(kind, claims, self.scopes())
    }
}

pub struct TokenVerifier<S> {
    source: S,
    issuer: String,
    audiences: Vec<String>,
    keys: StdMutex<Arc<KeySet>>,
    fetching: Mutex<FetchState>,
    fetches: AtomicU64,
}

#[derive(Default)]
struct FetchState {
    last: Option<Instant>,
    failed: bool,
}

impl<S: KeySetSource> TokenVerifier<S> {
    pub fn new(source: S, issuer: String, audiences: Vec<String>) -> Self {
        TokenVerifier {
            source,
            issuer,
            audiences,
            keys: StdMutex::new(Arc::new(KeySet::default())),
            fetching: Mutex::new(FetchState::default()),
            fetches: AtomicU64::new(0),
        }
    }

    /// The Init fetch. A failure is logged; requests then answer `503` until a refetch works.
    pub async fn prime(&self) {
        let mut state = self.fetching.lock().await;
        let _ = self.fetch(&mut state, Instant::now() + FETCH_BUDGET).await;
    }

    /// The token's claims, when it verifies.
    pub async fn verify(
        &self,
        token: BearerToken<'_>,
        deadline: Instant,
    ) -> Result<VerifiedToken, TokenError> {
        let header =
            decode_header(token.as_str()).map_err(|_| TokenError::Rejected("the token is not a JWT"))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(TokenError::Rejected("the token's algorithm is not accepted"));
        }
        let kid = header.kid.as_deref().ok_or(TokenError::Rejected("the token names no key (kid)"))?;
        let mut keys = self.current();
        if !keys.has(kid) {
            keys = self.refetch_for(kid, deadline).await?;
        }
        let key = keys
            .key_for(kid, header.alg)
            .ok_or(TokenError::Rejected("the token's key does not sign with its algorithm"))?;
        let claims = self.checked_claims(token, key, header.alg)?;
        Ok(VerifiedToken { claims })
    }

    /// JWKS fetches since the last call (the Init fetch included).
    pub fn take_fetch_count(&self) -> u64 {
        self.fetches.swap(0, Ordering::Relaxed)
    }

    fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    async fn refetch_for(&self, kid: &str, deadline: Instant) -> Result<Arc<KeySet>, TokenError> {
        let busy = TokenError::KeysUnavailable { retry_after: Duration::from_secs(1) };
        let mut state = timeout_at(deadline, self.fetching.lock()).await.map_err(|_| busy)?;
        let keys = self.current();
        if keys.has(kid) {
            return Ok(keys); // another request's refetch brought it
        }
        let now = Instant::now();
        if let Some(next) = state.last.map(|last| last + MIN_REFETCH_INTERVAL).filter(|next| now < *next) {
            return Err(if state.failed || keys.is_empty() {
                TokenError::KeysUnavailable { retry_after: next - now }
            } else {
                TokenError::Rejected("no key of the issuer's JWKS has the token's kid")
            });
        }
        let keys = self
            .fetch(&mut state, deadline.min(now + FETCH_BUDGET))
            .await
            .map_err(|()| TokenError::KeysUnavailable { retry_after: MIN_REFETCH_INTERVAL })?;
        if keys.has(kid) {
            Ok(keys)
        } else {
            Err(TokenError::Rejected("no key of the issuer's JWKS has the token's kid"))
        }
    }

    /// One fetch, holding the fetch lock: replaces the cached set when it works.
    async fn fetch(&self, state: &mut FetchState, until: Instant) -> Result<Arc<KeySet>, ()> {
        state.last = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = match timeout_at(until, self.source.fetch()).await {
            Ok(Ok(document)) => KeySet::parse(&document).map_err(str::to_owned),
            Ok(Err(why)) => Err(why),
            Err(_) => Err("the JWKS did not arrive in time".to_owned()),
        };
        state.failed = fetched.is_err();
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::clone(&keys);
                tracing::debug!("fetched the issuer's JWKS");
                Ok(keys)
            }
            Err(why) => {
                tracing::warn!(reason = %why, "could not fetch the issuer's JWKS; tokens with a new kid get 503 until it works");
                Err(())
            }
        }
    }

    fn checked_claims(
        &self,
        token: BearerToken<'_>,
        key: &DecodingKey,
        algorithm: Algorithm,
    ) -> Result<Map<String, Value>, TokenError> {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false; // `aud`, or `client_id` without one: below
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let data = decode::<Map<String, Value>>(token.as_str(), key, &validation).map_err(|e| {
            TokenError::Rejected(match e.kind() {
                ErrorKind::InvalidSignature => "the token's signature does not verify",
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
                ErrorKind::InvalidIssuer => "the token is from another issuer",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks exp or iss",
                _ => "the token could not be verified",
            })
        })?;
        if !self.audience_matches(&data.claims) {
            return Err(TokenError::Rejected("the token is for another audience"));
        }
        Ok(data.claims)
    }

    /// `aud` (text or an array) names an accepted audience; a token without
    /// `aud` matches on `client_id`, as Cognito access tokens do.
    fn audience_matches(&self, claims: &Map<String, Value>) -> bool {
        let accepted = |v: &Value| v.as_str().is_some_and(|a| self.audiences.iter().any(|x| x == a));
        match claims.get("aud") {
            Some(Value::Array(items)) => items.iter().any(accepted),
            Some(Value::Null) | None => claims.get("client_id").is_some_and(accepted),
            Some(one) => accepted(one),
        }
    }
}

#[cfg(test)]
mod tests;
