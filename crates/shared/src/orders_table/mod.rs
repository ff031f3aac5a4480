//! The DynamoDB orders table: its layout, read model, and the operations the
//! API (intake record, idempotency keys, reads) and the workers (conditional
//! writes) perform.

mod apply;
mod error;
mod idempotency;
mod intake;
mod layout;
mod record;
mod roles;

pub use apply::ApplyOutcome;
pub use error::{TableError, classify};
pub use idempotency::{KEY_PREFIX, KEY_TTL, KeyState, Reservation};
pub use intake::Intake;
pub use layout::{Item, attr};
pub use record::{MalformedItem, OrderRecord, OrderStatus, Shipment, ShipmentStatus};
pub use roles::{WorkerRole, application_counter, applied_key, content_hash, tracking_number};

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

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

    /// Reads an order (strongly consistent). `None` while no worker wrote it.
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
            .key(attr::PEDIDO_ID, AttributeValue::S("__probe__".to_owned()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    /// Creates the table with the production key schema (hash key `pedidoId`,
    /// on demand), for tests and local tooling. Terraform owns it elsewhere.
    pub async fn create(&self) -> Result<(), TableError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let definition = AttributeDefinition::builder()
            .attribute_name(attr::PEDIDO_ID)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| TableError::Rejected {
                code: "build".into(),
                message: e.to_string(),
            })?;
        let key = KeySchemaElement::builder()
            .attribute_name(attr::PEDIDO_ID)
            .key_type(KeyType::Hash)
            .build()
            .map_err(|e| TableError::Rejected {
                code: "build".into(),
                message: e.to_string(),
            })?;
        self.client
            .create_table()
            .table_name(&self.name)
            .attribute_definitions(definition)
            .key_schema(key)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}
