//! The DynamoDB orders table: its layout, read model, and the operations the
//! API (intake records, which are the outbox; idempotency keys; reads), the
//! outbox relay and the workers (conditional writes) perform.

mod apply;
mod error;
mod idempotency;
mod intake;
mod layout;
mod outbox;
mod record;
mod roles;

pub use apply::ApplyOutcome;
pub use error::{TableError, classify};
pub use idempotency::{KEY_PREFIX, KEY_TTL, KeyState, Reservation};
pub use intake::{Cancellation, Intake, OrderLane, WriteBudget, WriteFailure, is_expired};
pub use layout::{
    Item, OUTBOX_INDEX, OUTBOX_SHARDS, RELAY_CHECKPOINT_KEY, attr, is_order_id, outbox_shard,
};
pub use outbox::{Checkpoints, OutboxEntry, OutboxPage, StoredEvents};
pub use record::{MalformedItem, OrderRecord, OrderStatus, Publication, Shipment, ShipmentStatus};
pub use roles::{
    WorkerRole, application_counter, applications, applied_key, content_hash, tracking_number,
};

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

/// The reserved key the probes address; no order ever has it (order ids are UUIDs).
pub const PROBE_KEY: &str = "__probe__";

/// Handle on one orders table.
#[derive(Debug, Clone)]
pub struct OrdersTable {
    client: aws_sdk_dynamodb::Client,
    name: String,
}

impl OrdersTable {
    /// A handle on table `name`.
    pub fn new(client: aws_sdk_dynamodb::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying client.
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// Reads an order (strongly consistent). `None` while the table has no
    /// record of it, or once its lifetime (TTL) has passed.
    pub async fn get(&self, pedido_id: Uuid) -> Result<Option<OrderRecord>, TableError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, AttributeValue::S(pedido_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        out.item()
            .filter(|item| !is_expired(item, chrono::Utc::now()))
            .map(OrderRecord::from_item)
            .transpose()
            .map_err(TableError::from)
    }

    /// Checks that the table exists and answers.
    pub async fn probe(&self) -> Result<(), TableError> {
        self.client
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    /// Checks that the table answers a `GetItem` (what the workers are allowed
    /// to do; `DescribeTable` is not in their IAM policy).
    pub async fn probe_item(&self) -> Result<(), TableError> {
        self.client
            .get_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, AttributeValue::S(PROBE_KEY.to_owned()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    /// Checks that the table accepts this caller's writes, without writing:
    /// a conditional `UpdateItem` on the reserved key [`PROBE_KEY`] whose
    /// condition can never hold. `ConditionalCheckFailedException` means the
    /// request was authorized, the key (if any) usable and the item evaluated:
    /// `Ok`. Access denied, a missing table or a refused KMS key come back as
    /// [`TableError::Misconfigured`], so a role that may read but not write is
    /// caught before it takes a message.
    ///
    /// The request is fixed and valid, so a table that rejects it (e.g. a key
    /// schema that is not ours) is misconfigured too, never "this message".
    pub async fn probe_write(&self) -> Result<(), TableError> {
        let key = "#k";
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, AttributeValue::S(PROBE_KEY.to_owned()))
            .condition_expression(format!(
                "attribute_exists({key}) AND attribute_not_exists({key})"
            ))
            .expression_attribute_names(key, attr::PEDIDO_ID)
            .send()
            .await;
        match result {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            // The condition cannot hold; an emulator that ignored it wrote nothing but the key.
            Ok(_) => Ok(()),
            Err(e) => match classify(&e) {
                TableError::Rejected { code, message } => Err(TableError::Misconfigured {
                    code,
                    message: format!(
                        "the table rejects a key-only write, so its layout is not ours: {message}"
                    ),
                }),
                other => Err(other),
            },
        }
    }

    /// Creates the table with the production key schema (hash key `pedidoId`,
    /// on demand) and the outbox index, for tests and local tooling.
    /// Terraform owns it elsewhere.
    pub async fn create(&self) -> Result<(), TableError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
            Projection, ProjectionType, ScalarAttributeType,
        };
        let built = |e: aws_sdk_dynamodb::error::BuildError| TableError::Rejected {
            code: "build".into(),
            message: e.to_string(),
        };
        let definition = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .map_err(built)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(built)
        };
        let outbox = GlobalSecondaryIndex::builder()
            .index_name(OUTBOX_INDEX)
            .key_schema(key(attr::OUTBOX_SHARD, KeyType::Hash)?)
            .key_schema(key(attr::OUTBOX_DESDE, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(built)?;
        self.client
            .create_table()
            .table_name(&self.name)
            .attribute_definitions(definition(attr::PEDIDO_ID, ScalarAttributeType::S)?)
            .attribute_definitions(definition(attr::OUTBOX_SHARD, ScalarAttributeType::S)?)
            .attribute_definitions(definition(attr::OUTBOX_DESDE, ScalarAttributeType::N)?)
            .key_schema(key(attr::PEDIDO_ID, KeyType::Hash)?)
            .global_secondary_indexes(outbox)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}
