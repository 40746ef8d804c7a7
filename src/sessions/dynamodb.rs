//! The [`SessionStore`] backed by DynamoDB (`SESSION_STORE_TABLE`: string partition key `pk`,
//! TTL on the number attribute `expires_at`; it may be the quota's table). One item per user
//! and device, holding only: `pk` (a keyed hash), `ct` (the sealed session), `kid` (the seal
//! secret's version), `session_expires_at`, `expires_at`, and while a request mints, `owner`
//! (a random id) and `lease_until` (epoch ms).
//!
//! Reads are strongly consistent (an eventually consistent one may miss a session completed
//! a moment ago and mint a second). The lease is one conditional `UpdateItem`; completing
//! and releasing are conditioned on still holding it. Only `GetItem` and `UpdateItem`.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use crate::sessions::{
    Claim, ItemKey, Lease, LeaseRequest, Replace, Sealed, SessionStore, StoreError, StoredItem,
};

pub struct DynamoSessionStore {
    client: Client,
    table: String,
}

impl DynamoSessionStore {
    pub fn new(client: Client, table: String) -> Self {
        DynamoSessionStore { client, table }
    }
}

const LEASE_FREE: &str = "(attribute_not_exists(lease_until) OR lease_until < :now)";

impl SessionStore for DynamoSessionStore {
    async fn read(&self, key: &ItemKey) -> Result<Option<StoredItem>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.0.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_dynamodb(&e))?;
        Ok(output.item().map(item))
    }

    async fn lease(&self, key: &ItemKey, request: &LeaseRequest) -> Result<Claim, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.0.clone()))
            .update_expression("SET #owner = :owner, lease_until = :until, expires_at = :expires_at")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(request.lease.owner.clone()))
            .expression_attribute_values(":until", number(request.lease.until_ms))
            .expression_attribute_values(":now", number(request.now_ms))
            .expression_attribute_values(":expires_at", number(request.expires_at))
            // The item as it was, at no read cost (a local store may ignore it; then `None`).
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match request.replace {
            Replace::Any => update.condition_expression(LEASE_FREE),
            Replace::ExpiringBefore(before) => update
                .condition_expression(format!(
                    "{LEASE_FREE} AND (attribute_not_exists(session_expires_at) OR session_expires_at < :before)"
                ))
                .expression_attribute_values(":before", AttributeValue::N(before.to_string())),
        };
        match update.send().await {
            Ok(_) => Ok(Claim::Taken),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let item = match e.err() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                        refused,
                    ) => refused.item().map(item),
                    _ => None,
                };
                Ok(Claim::Refused(item))
            }
            Err(e) => Err(StoreError::from_dynamodb(&e)),
        }
    }

    async fn complete(
        &self,
        key: &ItemKey,
        owner: &str,
        sealed: &Sealed,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.0.clone()))
            .update_expression(
                "SET ct = :ct, kid = :kid, session_expires_at = :session_expires_at, expires_at = :expires_at \
                 REMOVE #owner, lease_until",
            )
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":ct", AttributeValue::B(Blob::new(sealed.ct.clone())))
            .expression_attribute_values(":kid", AttributeValue::S(sealed.kid.clone()))
            .expression_attribute_values(":session_expires_at", AttributeValue::N(sealed.session_expires_at.to_string()))
            .expression_attribute_values(":expires_at", number(expires_at))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(StoreError::from_dynamodb(&e)),
        }
    }

    async fn release(&self, key: &ItemKey, owner: &str) -> Result<(), StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.0.clone()))
            .update_expression("REMOVE #owner, lease_until")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .send()
            .await;
        match sent {
            // Lost already (it expired and another request took it): nothing to release.
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            Err(e) => Err(StoreError::from_dynamodb(&e)),
        }
    }
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The item's parts this store wrote; anything else in it (a quota counter's attributes,
/// should a key ever collide, cannot: the prefixes differ) is ignored.
fn item(attributes: &HashMap<String, AttributeValue>) -> StoredItem {
    let text = |name: &str| attributes.get(name).and_then(|v| v.as_s().ok()).cloned();
    let int =
        |name: &str| attributes.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
    let sealed =
        match (attributes.get("ct").and_then(|v| v.as_b().ok()), text("kid"), int("session_expires_at")) {
            (Some(ct), Some(kid), Some(session_expires_at)) => {
                Some(Sealed { ct: ct.as_ref().to_vec(), kid, session_expires_at })
            }
            _ => None,
        };
    let lease = match (text("owner"), int("lease_until")) {
        (Some(owner), Some(until)) => Some(Lease { owner, until_ms: u64::try_from(until).unwrap_or(0) }),
        _ => None,
    };
    StoredItem { sealed, lease }
}
