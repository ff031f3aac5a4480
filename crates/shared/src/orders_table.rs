//! The DynamoDB orders table: its item layout, defined once here, and the
//! operations the API (reads) and the workers (conditional writes) perform.
//!
//! One item per order, keyed by `pedidoId` (String). Both worker roles write
//! to the same item; each event applied is recorded in the string set
//! `appliedEvents` as `role#eventType#pedidoId` in the same `UpdateItem` as
//! its effect, so a crash can never leave one without the other.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// Attribute names of an order item.
pub mod attr {
    /// Partition key (S): the order id.
    pub const PEDIDO_ID: &str = "pedidoId";
    /// (S) `PROCESADO` or `CANCELADO`; absent until procesamiento applied an event.
    pub const ESTADO: &str = "estado";
    /// (S) customer id.
    pub const CLIENTE_ID: &str = "clienteId";
    /// (N) order total, exact decimal.
    pub const TOTAL: &str = "total";
    /// (S) ISO 4217 currency.
    pub const MONEDA: &str = "moneda";
    /// (S, RFC 3339) when the order was placed.
    pub const FECHA: &str = "fecha";
    /// (L of M {sku S, cantidad N, precioUnitario N}) line items.
    pub const ITEMS: &str = "items";
    /// (M) shipping address, as in the event.
    pub const DIRECCION_ENVIO: &str = "direccionEnvio";
    /// (S) fingerprint of the order's business content, to tell a duplicate from a conflict.
    pub const CONTENT_HASH: &str = "contenidoHash";
    /// (S) cancellation reason.
    pub const MOTIVO_CANCELACION: &str = "motivoCancelacion";
    /// (S) shipment state: `PROGRAMADO` or `CANCELADO`; absent until logistica applied an event.
    pub const ENVIO_ESTADO: &str = "envioEstado";
    /// (S) shipment tracking number, derived from the order id.
    pub const ENVIO_TRACKING: &str = "envioTracking";
    /// (S, RFC 3339) last change of the shipment.
    pub const ENVIO_ACTUALIZADO_EN: &str = "envioActualizadoEn";
    /// (S, RFC 3339) first write of any role.
    pub const CREADO_EN: &str = "creadoEn";
    /// (S, RFC 3339) last write of any role.
    pub const ACTUALIZADO_EN: &str = "actualizadoEn";
    /// (S, RFC 3339) when procesamiento recorded the order.
    pub const PROCESADO_EN: &str = "procesadoEn";
    /// (S, RFC 3339) when procesamiento recorded the cancellation.
    pub const CANCELADO_EN: &str = "canceladoEn";
    /// (SS) `role#eventType#pedidoId` of every event applied to this item.
    pub const APPLIED_EVENTS: &str = "appliedEvents";
    /// (N, epoch seconds) optional expiry, the table's TTL attribute.
    pub const EXPIRES_AT: &str = "expiresAt";
}

/// The order's processing state as shown to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Accepted by the API; procesamiento has not recorded it yet.
    Recibido,
    /// Recorded by procesamiento.
    Procesado,
    /// Cancelled.
    Cancelado,
}

impl OrderStatus {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recibido => "RECIBIDO",
            Self::Procesado => "PROCESADO",
            Self::Cancelado => "CANCELADO",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Recibido, Self::Procesado, Self::Cancelado]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The shipment's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipmentStatus {
    /// Scheduled by logistica.
    Programado,
    /// Cancelled with the order.
    Cancelado,
}

impl ShipmentStatus {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Programado => "PROGRAMADO",
            Self::Cancelado => "CANCELADO",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Programado, Self::Cancelado]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The shipment part of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    /// Shipment state.
    pub estado: ShipmentStatus,
    /// Tracking number, once scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking: Option<String>,
    /// Last change of the shipment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actualizado_en: Option<DateTime<Utc>>,
}

/// An order as the workers recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderRecord {
    /// The order id.
    pub pedido_id: Uuid,
    /// Processing state.
    pub estado: OrderStatus,
    /// Customer id, once procesamiento recorded the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cliente_id: Option<Uuid>,
    /// Total as a decimal string, once recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// Currency, once recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moneda: Option<String>,
    /// When the order was placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fecha: Option<DateTime<Utc>>,
    /// First time any worker wrote the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creado_en: Option<DateTime<Utc>>,
    /// Last time any worker wrote the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actualizado_en: Option<DateTime<Utc>>,
    /// When procesamiento recorded the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procesado_en: Option<DateTime<Utc>>,
    /// When the cancellation was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelado_en: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motivo_cancelacion: Option<String>,
    /// The shipment, once logistica acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envio: Option<Shipment>,
}

/// A stored item that does not match the layout (written by something else).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order item attribute `{attribute}` is malformed")]
pub struct MalformedItem {
    /// The offending attribute.
    pub attribute: &'static str,
}

type Item = HashMap<String, AttributeValue>;

fn text<'a>(item: &'a Item, name: &'static str) -> Result<Option<&'a str>, MalformedItem> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(s)) => Ok(Some(s)),
        Some(AttributeValue::N(n)) => Ok(Some(n)),
        Some(_) => Err(MalformedItem { attribute: name }),
    }
}

fn parsed<T>(
    item: &Item,
    name: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, MalformedItem> {
    text(item, name)?
        .map(|s| parse(s).ok_or(MalformedItem { attribute: name }))
        .transpose()
}

fn timestamp(item: &Item, name: &'static str) -> Result<Option<DateTime<Utc>>, MalformedItem> {
    parsed(item, name, |s| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

impl OrderRecord {
    /// Reads an item in the layout of this module.
    pub fn from_item(item: &Item) -> Result<Self, MalformedItem> {
        let pedido_id =
            parsed(item, attr::PEDIDO_ID, |s| Uuid::parse_str(s).ok())?.ok_or(MalformedItem {
                attribute: attr::PEDIDO_ID,
            })?;
        let estado =
            parsed(item, attr::ESTADO, OrderStatus::parse)?.unwrap_or(OrderStatus::Recibido);
        let envio = parsed(item, attr::ENVIO_ESTADO, ShipmentStatus::parse)?
            .map(|estado| -> Result<Shipment, MalformedItem> {
                Ok(Shipment {
                    estado,
                    tracking: text(item, attr::ENVIO_TRACKING)?.map(str::to_owned),
                    actualizado_en: timestamp(item, attr::ENVIO_ACTUALIZADO_EN)?,
                })
            })
            .transpose()?;
        Ok(Self {
            pedido_id,
            estado,
            cliente_id: parsed(item, attr::CLIENTE_ID, |s| Uuid::parse_str(s).ok())?,
            total: parsed(item, attr::TOTAL, |s| {
                s.parse::<rust_decimal::Decimal>()
                    .ok()
                    .map(|d| format!("{d:.2}"))
            })?,
            moneda: text(item, attr::MONEDA)?.map(str::to_owned),
            fecha: timestamp(item, attr::FECHA)?,
            creado_en: timestamp(item, attr::CREADO_EN)?,
            actualizado_en: timestamp(item, attr::ACTUALIZADO_EN)?,
            procesado_en: timestamp(item, attr::PROCESADO_EN)?,
            cancelado_en: timestamp(item, attr::CANCELADO_EN)?,
            motivo_cancelacion: text(item, attr::MOTIVO_CANCELACION)?.map(str::to_owned),
            envio,
        })
    }
}

/// Why a table operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Transient: throttling, timeouts, network, 5xx. Retrying later may succeed.
    #[error("DynamoDB is unavailable ({code}): {message}")]
    Unavailable {
        /// Error code or kind.
        code: String,
        /// Details, for logs only.
        message: String,
    },
    /// The deployment is wrong: table missing, access denied, key disabled,
    /// bad credentials. No retry helps until an operator fixes it.
    #[error("DynamoDB refused access to the table ({code}): {message}")]
    Misconfigured {
        /// Error code.
        code: String,
        /// Details, for logs only.
        message: String,
    },
    /// Permanent for this request: validation errors, item too large.
    #[error("DynamoDB rejected the request ({code}): {message}")]
    Rejected {
        /// Error code.
        code: String,
        /// Details, for logs only.
        message: String,
    },
    /// The stored item does not match the layout.
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
}

impl TableError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, TableError::Unavailable { .. })
    }

    /// Whether the deployment itself is wrong (see [`TableError::Misconfigured`]).
    pub fn is_configuration(&self) -> bool {
        matches!(self, TableError::Misconfigured { .. })
    }

    /// The failure in the terms every service's errors are classified in.
    pub fn to_failure(&self) -> crate::aws::SdkFailure {
        crate::aws::SdkFailure {
            transient: self.is_transient(),
            configuration: self.is_configuration(),
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }

    /// The AWS error code (or failure kind), when there is one.
    pub fn code(&self) -> &str {
        match self {
            TableError::Unavailable { code, .. }
            | TableError::Misconfigured { code, .. }
            | TableError::Rejected { code, .. } => code,
            TableError::Malformed(_) => "malformed_item",
        }
    }
}

/// Service error codes that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "LimitExceededException",
];

/// Classifies any SDK error of a DynamoDB operation.
pub fn classify<E>(err: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = crate::aws::classify_sdk_error(err, TRANSIENT_CODES);
    let (code, message) = (failure.code, failure.message);
    if failure.transient {
        TableError::Unavailable { code, message }
    } else if failure.configuration {
        TableError::Misconfigured { code, message }
    } else {
        TableError::Rejected { code, message }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    #[test]
    fn reads_a_full_item() {
        let id = Uuid::new_v4();
        let item: Item = [
            (attr::PEDIDO_ID, s(&id.to_string())),
            (attr::ESTADO, s("PROCESADO")),
            (attr::TOTAL, AttributeValue::N("25001".into())),
            (attr::MONEDA, s("CLP")),
            (attr::ENVIO_ESTADO, s("PROGRAMADO")),
            (attr::ENVIO_TRACKING, s("EX123")),
            (attr::CREADO_EN, s("2026-11-23T10:00:00Z")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let record = OrderRecord::from_item(&item).expect("valid item");
        assert_eq!(record.pedido_id, id);
        assert_eq!(record.estado, OrderStatus::Procesado);
        assert_eq!(record.total.as_deref(), Some("25001.00"));
        let envio = record.envio.expect("envio");
        assert_eq!(envio.estado, ShipmentStatus::Programado);
        assert_eq!(envio.tracking.as_deref(), Some("EX123"));
        let json =
            serde_json::to_value(OrderRecord::from_item(&item).expect("valid")).expect("json");
        assert_eq!(json["estado"], "PROCESADO");
        assert_eq!(json["envio"]["estado"], "PROGRAMADO");
    }

    #[test]
    fn missing_estado_means_recibido_and_bad_values_are_reported() {
        let id = Uuid::new_v4().to_string();
        let item: Item = [(attr::PEDIDO_ID.to_owned(), s(&id))].into_iter().collect();
        assert_eq!(
            OrderRecord::from_item(&item).expect("ok").estado,
            OrderStatus::Recibido
        );
        let mut bad = item.clone();
        bad.insert(attr::ESTADO.into(), s("PERDIDO"));
        assert_eq!(
            OrderRecord::from_item(&bad),
            Err(MalformedItem {
                attribute: attr::ESTADO
            })
        );
    }
}

/// The two consumers of the topic, each owning part of the order item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerRole {
    /// Records orders and their cancellation (`estado`).
    Procesamiento,
    /// Schedules and cancels shipments (`envio*`).
    Logistica,
}

impl WorkerRole {
    /// Both roles.
    pub const ALL: [WorkerRole; 2] = [WorkerRole::Procesamiento, WorkerRole::Logistica];

    /// The role's name (`procesamiento`, `logistica`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerRole::Procesamiento => "procesamiento",
            WorkerRole::Logistica => "logistica",
        }
    }

    /// Parses a role name.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| "must be `procesamiento` or `logistica`".to_owned())
    }
}

impl std::fmt::Display for WorkerRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The effect was written now.
    Applied,
    /// This role had already applied this event: nothing changed.
    Duplicate,
    /// A different `PedidoCreado` was already recorded for this order.
    Conflict(String),
}

/// The dedup record of an event for a role: `role#eventType#pedidoId`.
/// Business-level, so a retried POST (new eventId, same pedidoId) is applied once.
pub fn applied_key(role: WorkerRole, event: &crate::contract::Event) -> String {
    format!("{}#{}#{}", role, event.event_type(), event.pedido_id())
}

/// Fingerprint of an order's business content (everything but the server-set
/// `fecha`): equal for a retried POST, different for a conflicting order.
pub fn content_hash(order: &crate::contract::PedidoCreado) -> String {
    #[derive(Serialize)]
    struct Content<'a> {
        cliente: Uuid,
        total: String,
        moneda: crate::contract::values::Currency,
        items: &'a [crate::contract::LineItem],
        direccion: &'a crate::contract::DireccionEnvio,
    }
    let content = Content {
        cliente: order.cliente_id(),
        total: order.total().to_string(),
        moneda: order.moneda(),
        items: order.items(),
        direccion: order.direccion_envio(),
    };
    let bytes = serde_json::to_vec(&content).unwrap_or_default();
    Uuid::new_v5(&HASH_NAMESPACE, &bytes).simple().to_string()
}

const HASH_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_0c7e_8a44_4b1e_9a57_3c2e_0f41_d2a1);
const TRACKING_NAMESPACE: Uuid = Uuid::from_u128(0x2b7c_91d0_5e3a_4f66_8c1d_7a90_e4b3_5f08);

/// The shipment tracking number of an order: derived from `pedidoId` only,
/// so a replay yields the same number.
pub fn tracking_number(pedido_id: Uuid) -> String {
    let hex = Uuid::new_v5(&TRACKING_NAMESPACE, pedido_id.as_bytes())
        .simple()
        .to_string();
    format!("EX{}", hex[..14].to_ascii_uppercase())
}

/// Builds one `UpdateItem` expression with `#name` placeholders for every attribute.
struct Update {
    sets: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Update {
    fn new() -> Self {
        Self {
            sets: Vec::new(),
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, placeholder: &str, value: AttributeValue) -> String {
        let key = format!(":{placeholder}");
        self.values.insert(key.clone(), value);
        key
    }

    fn set(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let value = self.value(attribute, value);
        self.sets.push(format!("{name} = {value}"));
    }

    fn set_if_absent(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let value = self.value(attribute, value);
        self.sets
            .push(format!("{name} = if_not_exists({name}, {value})"));
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn order_items(order: &crate::contract::PedidoCreado) -> AttributeValue {
    AttributeValue::L(
        order
            .items()
            .iter()
            .map(|item| {
                AttributeValue::M(HashMap::from([
                    ("sku".to_owned(), s(item.sku.as_str())),
                    (
                        "cantidad".to_owned(),
                        AttributeValue::N(item.cantidad.get().to_string()),
                    ),
                    (
                        "precioUnitario".to_owned(),
                        AttributeValue::N(item.precio_unitario.value().to_string()),
                    ),
                ]))
            })
            .collect(),
    )
}

fn address(order: &crate::contract::PedidoCreado) -> AttributeValue {
    let d = order.direccion_envio();
    let mut map = HashMap::from([
        ("calle".to_owned(), s(d.calle.as_str())),
        ("ciudad".to_owned(), s(d.ciudad.as_str())),
        ("region".to_owned(), s(d.region.as_str())),
        ("pais".to_owned(), s(d.pais.as_str())),
    ]);
    if let Some(cp) = &d.codigo_postal {
        map.insert("codigoPostal".to_owned(), s(cp.as_str()));
    }
    AttributeValue::M(map)
}

impl OrdersTable {
    /// Applies `event` for `role` in one conditional `UpdateItem`: the effect
    /// and the dedup record are written together or not at all.
    ///
    /// Order-insensitive: a cancellation recorded first stays (`if_not_exists`
    /// keeps `CANCELADO` when the creation arrives late).
    pub async fn apply(
        &self,
        role: WorkerRole,
        event: &crate::contract::Event,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ApplyOutcome, TableError> {
        use crate::contract::EventPayload;
        let key = applied_key(role, event);
        let now_text = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut u = Update::new();
        u.set(attr::ACTUALIZADO_EN, s(&now_text));
        u.set_if_absent(attr::CREADO_EN, s(&now_text));
        if let Some(at) = expires_at {
            u.set_if_absent(
                attr::EXPIRES_AT,
                AttributeValue::N(at.timestamp().to_string()),
            );
        }
        let mut hash = None;
        match (&event.payload, role) {
            (EventPayload::PedidoCreado(order), WorkerRole::Procesamiento) => {
                u.set(attr::CLIENTE_ID, s(order.cliente_id().to_string()));
                u.set(
                    attr::TOTAL,
                    AttributeValue::N(order.total().value().to_string()),
                );
                u.set(attr::MONEDA, s(order.moneda().as_str()));
                u.set(
                    attr::FECHA,
                    s(order
                        .fecha()
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                );
                u.set(attr::ITEMS, order_items(order));
                u.set(attr::DIRECCION_ENVIO, address(order));
                u.set_if_absent(attr::ESTADO, s(OrderStatus::Procesado.as_str()));
                u.set(attr::PROCESADO_EN, s(&now_text));
                hash = Some(content_hash(order));
            }
            (EventPayload::PedidoCreado(order), WorkerRole::Logistica) => {
                u.set(attr::ENVIO_TRACKING, s(tracking_number(order.pedido_id())));
                u.set_if_absent(attr::ENVIO_ESTADO, s(ShipmentStatus::Programado.as_str()));
                u.set(attr::ENVIO_ACTUALIZADO_EN, s(&now_text));
                hash = Some(content_hash(order));
            }
            (EventPayload::PedidoCancelado(cancel), WorkerRole::Procesamiento) => {
                u.set(attr::ESTADO, s(OrderStatus::Cancelado.as_str()));
                u.set(attr::CANCELADO_EN, s(&now_text));
                u.set(attr::MOTIVO_CANCELACION, s(cancel.motivo.as_str()));
            }
            (EventPayload::PedidoCancelado(_), WorkerRole::Logistica) => {
                u.set(attr::ENVIO_ESTADO, s(ShipmentStatus::Cancelado.as_str()));
                u.set(attr::ENVIO_ACTUALIZADO_EN, s(&now_text));
            }
        }
        let applied = u.name(attr::APPLIED_EVENTS);
        let key_value = u.value("key", s(&key));
        let key_set = u.value("keySet", AttributeValue::Ss(vec![key.clone()]));
        let mut condition =
            format!("(attribute_not_exists({applied}) OR NOT contains({applied}, {key_value}))");
        if let Some(hash) = &hash {
            u.set_if_absent(attr::CONTENT_HASH, s(hash));
            let hash_name = u.name(attr::CONTENT_HASH);
            let hash_value = format!(":{}", attr::CONTENT_HASH);
            condition.push_str(&format!(
                " AND (attribute_not_exists({hash_name}) OR {hash_name} = {hash_value})"
            ));
        }
        let expression = format!("SET {} ADD {applied} {key_set}", u.sets.join(", "));
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, s(event.pedido_id().to_string()))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(ApplyOutcome::Applied),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.explain_condition_failure(event.pedido_id(), &key, hash.as_deref())
                    .await
            }
            Err(err) => Err(classify(&err)),
        }
    }

    /// After a failed condition: a duplicate when this role already applied the
    /// event with the same content, a conflict when the content differs.
    async fn explain_condition_failure(
        &self,
        pedido_id: Uuid,
        key: &str,
        hash: Option<&str>,
    ) -> Result<ApplyOutcome, TableError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, s(pedido_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?
            .item
            .unwrap_or_default();
        if let (Some(expected), Some(AttributeValue::S(stored))) =
            (hash, item.get(attr::CONTENT_HASH))
            && stored != expected
        {
            return Ok(ApplyOutcome::Conflict(format!(
                "a different PedidoCreado was already recorded for pedidoId {pedido_id}"
            )));
        }
        match item.get(attr::APPLIED_EVENTS) {
            Some(AttributeValue::Ss(keys)) if keys.iter().any(|k| k == key) => {
                Ok(ApplyOutcome::Duplicate)
            }
            // The item changed between the write and this read; the caller retries.
            _ => Err(TableError::Unavailable {
                code: "ConditionRace".into(),
                message: "condition failed but the item shows neither duplicate nor conflict"
                    .into(),
            }),
        }
    }
}
