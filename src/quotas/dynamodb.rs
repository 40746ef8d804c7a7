//! The [`QuotaStore`] backed by DynamoDB: one conditional `UpdateItem` per request, on a table
//! with a string partition key `pk` and TTL on the number attribute `expires_at`. The item
//! holds the counter (`sessions`) and `expires_at`, nothing else.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use crate::quotas::{QuotaKey, QuotaStore, QuotaStoreError, Take};

pub struct DynamoQuotaStore {
    client: Client,
    table: String,
}

impl DynamoQuotaStore {
    pub fn new(client: Client, table: String) -> Self {
        DynamoQuotaStore { client, table }
    }
}

impl QuotaStore for DynamoQuotaStore {
    async fn take(&self, key: &QuotaKey, limit: u32, expires_at: u64) -> Result<Take, QuotaStoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.partition_key()))
            .update_expression("ADD #sessions :one SET expires_at = :expires_at")
            .condition_expression("attribute_not_exists(#sessions) OR #sessions < :limit")
            .expression_attribute_names("#sessions", "sessions")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":expires_at", AttributeValue::N(expires_at.to_string()))
            // Both answers carry the counter, so neither needs a second read.
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let refused = |e: &SdkError<UpdateItemError, _>| match e {
            SdkError::ServiceError(service) => match service.err() {
                UpdateItemError::ConditionalCheckFailedException(refused) => Some(sessions(refused.item())),
                _ => None,
            },
            _ => None,
        };
        match sent {
            Ok(output) => Ok(Take::Granted { count: sessions(output.attributes()).unwrap_or(1) }),
            Err(e) => match refused(&e) {
                Some(count) => Ok(Take::Exhausted { count: count.unwrap_or(limit) }),
                None => Err(failure(&e)),
            },
        }
    }

    async fn give_back(&self, key: &QuotaKey) -> Result<(), QuotaStoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.partition_key()))
            .update_expression("ADD #sessions :minus_one")
            .condition_expression("#sessions > :zero")
            .expression_attribute_names("#sessions", "sessions")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // Nothing to give back (the item expired, or was never written): fine.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            Err(e) => Err(failure(&e)),
        }
    }
}

/// The `sessions` counter of an item, when it is there.
fn sessions(item: Option<&HashMap<String, AttributeValue>>) -> Option<u32> {
    item?.get("sessions")?.as_n().ok()?.parse().ok()
}

/// Error codes that no retry or fallback fixes: the table or the permission is missing, or the
/// table refuses the request's shape (a key schema other than the contract's string `pk`).
const PERMANENT: [&str; 4] = [
    "ResourceNotFoundException",
    "AccessDeniedException",
    "ValidationException",
    "UnrecognizedClientException",
];

/// Only the kind or the error code: never a request or a response body.
fn failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> QuotaStoreError {
    let (reason, permanent) = classify(err);
    QuotaStoreError { reason, permanent }
}

/// A DynamoDB failure as its kind or error code, and whether it is permanent (no retry or
/// fallback fixes it). Shared with the session store (`sessions/dynamodb.rs`).
pub(crate) fn classify<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> (String, bool) {
    if let SdkError::ServiceError(e) = err {
        if let Some(code) = e.err().code().filter(|code| PERMANENT.contains(code)) {
            return (code.to_owned(), true);
        }
    }
    let reason = match err {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("service error").to_owned(),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(_) => "dispatch failure".into(),
        SdkError::ResponseError(_) => "unreadable response".into(),
        SdkError::ConstructionFailure(_) => "construction failure".into(),
        _ => "unknown".into(),
    };
    (reason, false)
}
