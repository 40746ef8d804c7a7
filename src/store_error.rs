//! How a table-backed store fails, for both DynamoDB stores (the quota's counters and the
//! device sessions): transient (network, throttling, a timeout, an outage), which the caller
//! works around, or permanent (no such table, access denied, a request the table refuses),
//! a misconfiguration no fallback should hide (`500 misconfigured`).

use std::fmt;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// The kind or the error code only; never a request or a response body.
    pub reason: String,
    pub permanent: bool,
}

/// Error codes that no retry or fallback fixes: the table or the permission is missing, or the
/// table refuses the request's shape (a key schema other than the contract's string `pk`).
const PERMANENT: [&str; 4] = [
    "ResourceNotFoundException",
    "AccessDeniedException",
    "ValidationException",
    "UnrecognizedClientException",
];

impl StoreError {
    pub fn transient(reason: impl Into<String>) -> Self {
        StoreError { reason: reason.into(), permanent: false }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        StoreError { reason: reason.into(), permanent: true }
    }

    /// A DynamoDB call's failure, sorted.
    pub(crate) fn from_dynamodb<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Self {
        if let SdkError::ServiceError(e) = err {
            if let Some(code) = e.err().code().filter(|code| PERMANENT.contains(code)) {
                return StoreError::permanent(code);
            }
        }
        StoreError::transient(match err {
            SdkError::ServiceError(e) => e.err().code().unwrap_or("service error").to_owned(),
            SdkError::TimeoutError(_) => "timeout".into(),
            SdkError::DispatchFailure(_) => "dispatch failure".into(),
            SdkError::ResponseError(_) => "unreadable response".into(),
            SdkError::ConstructionFailure(_) => "construction failure".into(),
            _ => "unknown".into(),
        })
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store failure: {}", self.reason)
    }
}
