//! The [`QuotaStore`] backed by DynamoDB: one conditional `UpdateItem` per request, on a table
//! with a string partition key `pk` and TTL on the number attribute `expires_at`. The item
//! holds the counter (`sessions`) and `expires_at`, nothing else.

use aws_sdk_dynamodb::error::SdkError;
use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use crate::quotas::{QuotaKey, QuotaStore, StoreError, Take};

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
    async fn take(&self, key: &QuotaKey, limit: u32, expires_at: u64) -> Result<Take, StoreError> {
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
                None => Err(StoreError::from_dynamodb(&e)),
            },
        }
    }

    async fn give_back(&self, key: &QuotaKey) -> Result<(), StoreError> {
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
            Err(e) => Err(StoreError::from_dynamodb(&e)),
        }
    }
}

/// The `sessions` counter of an item, when it is there.
fn sessions(item: Option<&HashMap<String, AttributeValue>>) -> Option<u32> {
    item?.get("sessions")?.as_n().ok()?.parse().ok()
}
