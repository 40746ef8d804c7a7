//! Every way a request can end other than with a session, and the contract's
//! code and message for each. `entrypoints/response.rs` is the one place that
//! gives them an HTTP status and turns them into responses.

use std::fmt;

/// Everything that can stop a request. Client mistakes carry a message that
/// helps the caller; server-side failures say nothing internal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerError {
    MethodNotAllowed,
    Unauthenticated,
    /// With `JWT_ISSUER`: the token is missing or did not verify, or the context
    /// does not agree with it. The reason goes to the audit line only.
    TokenRejected,
    /// With `JWT_ISSUER`: the issuer's keys could not be had; retry after that many seconds.
    JwksUnavailable {
        retry_after: String,
    },
    Forbidden(&'static str),
    PayloadTooLarge,
    UnsupportedMediaType,
    InvalidRequest(&'static str),
    InvalidExternalId(&'static str),
    InvalidDeviceId(&'static str),
    SecretUnavailable,
    Misconfigured,
    UpstreamAuthFailed,
    UpstreamThrottled {
        retry_after: String,
    },
    UpstreamError,
    UpstreamInvalidResponse,
    UpstreamTimeout,
    UpstreamUnreachable,
    /// The user had their `SESSION_QUOTA` in this window; retry after that many seconds.
    QuotaExceeded {
        retry_after: String,
    },
    /// Another request is minting this device's session and did not finish within the wait.
    RequestInProgress,
    /// A bug: the request path panicked. Never expected.
    Internal,
}

/// How long a caller should wait before retrying after `503 secret_unavailable`.
pub const SECRET_RETRY_AFTER_SECONDS: &str = "2";
/// … and after `409 request_in_progress`.
pub const IN_PROGRESS_RETRY_AFTER_SECONDS: &str = "1";

impl BrokerError {
    pub fn code(&self) -> &'static str {
        use BrokerError::*;
        match self {
            MethodNotAllowed => "method_not_allowed",
            Unauthenticated | TokenRejected => "unauthenticated",
            JwksUnavailable { .. } => "jwks_unavailable",
            Forbidden(_) => "forbidden",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            InvalidRequest(_) => "invalid_request",
            InvalidExternalId(_) => "invalid_external_id",
            InvalidDeviceId(_) => "invalid_device_id",
            SecretUnavailable => "secret_unavailable",
            Misconfigured => "misconfigured",
            UpstreamAuthFailed => "upstream_auth_failed",
            UpstreamThrottled { .. } => "upstream_throttled",
            UpstreamError => "upstream_error",
            UpstreamInvalidResponse => "upstream_invalid_response",
            UpstreamTimeout => "upstream_timeout",
            UpstreamUnreachable => "upstream_unreachable",
            QuotaExceeded { .. } => "quota_exceeded",
            RequestInProgress => "request_in_progress",
            Internal => "internal_error",
        }
    }

    /// One sentence for a person. Never echoes Parsec's body, the secret or internals.
    pub fn message(&self) -> &'static str {
        use BrokerError::*;
        match self {
            MethodNotAllowed => "Only POST is allowed on this resource.",
            Unauthenticated => "The request carries no authenticated caller identity.",
            TokenRejected => "The caller's token is missing or could not be verified.",
            JwksUnavailable { .. } => "The service cannot check tokens right now; retry shortly.",
            Forbidden(why) | InvalidRequest(why) | InvalidExternalId(why) | InvalidDeviceId(why) => why,
            PayloadTooLarge => "The request body is larger than 4096 bytes.",
            UnsupportedMediaType => "A request body must be sent as application/json.",
            SecretUnavailable => "The service cannot reach its credentials right now; retry shortly.",
            Misconfigured => "The service is misconfigured; its operators have been told.",
            UpstreamAuthFailed => "The session provider rejected the service's credentials.",
            UpstreamThrottled { .. } => "The session provider is throttling requests; retry shortly.",
            UpstreamError => "The session provider answered with an error.",
            UpstreamInvalidResponse => "The session provider sent an answer that could not be used.",
            UpstreamTimeout => "The session provider did not answer in time.",
            UpstreamUnreachable => "The session provider could not be reached.",
            QuotaExceeded { .. } => "This user has had as many sessions as allowed for now; retry later.",
            RequestInProgress => "Another request is creating this device's session; retry shortly.",
            Internal => "The service failed unexpectedly; retry later.",
        }
    }

    /// The `Retry-After` value to send, for the answers that have one.
    pub fn retry_after(&self) -> Option<&str> {
        match self {
            BrokerError::SecretUnavailable => Some(SECRET_RETRY_AFTER_SECONDS),
            BrokerError::RequestInProgress => Some(IN_PROGRESS_RETRY_AFTER_SECONDS),
            BrokerError::UpstreamThrottled { retry_after }
            | BrokerError::QuotaExceeded { retry_after }
            | BrokerError::JwksUnavailable { retry_after } => Some(retry_after),
            _ => None,
        }
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for BrokerError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailability_answers_carry_retry_after() {
        assert_eq!(BrokerError::SecretUnavailable.retry_after(), Some("2"));
        let throttled = BrokerError::UpstreamThrottled { retry_after: "7".into() };
        assert_eq!(throttled.retry_after(), Some("7"));
        assert_eq!(BrokerError::UpstreamError.retry_after(), None);
    }
}
