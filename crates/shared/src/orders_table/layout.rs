//! The item layout of the orders table: attribute names, defined once here.
//!
//! One item per order, keyed by `pedidoId` (String). The API writes the
//! intake record (`estado = RECIBIDO`, fingerprint) before publishing; both
//! worker roles then write to the same item. Idempotency keys live in the same
//! table under `idempotency#<key>` (see [`super::idempotency`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

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
    /// (N) how many events procesamiento applied to this order.
    pub const APLICACIONES_PROCESAMIENTO: &str = "aplicacionesProcesamiento";
    /// (N) how many events logistica applied to this order.
    pub const APLICACIONES_LOGISTICA: &str = "aplicacionesLogistica";
    /// (S, RFC 3339) when the API recorded the order at intake.
    pub const RECIBIDO_EN: &str = "recibidoEn";
    /// (S) the `Idempotency-Key` the order was created with, if any.
    pub const IDEMPOTENCY_KEY: &str = "idempotencyKey";
    /// Idempotency key records: (S) `EN_CURSO`, `COMPLETADO` or `DESCONOCIDO`.
    pub const KEY_STATE: &str = "keyState";
    /// Idempotency key records: (S) fingerprint of the request that used the key.
    pub const KEY_FINGERPRINT: &str = "requestFingerprint";
    /// Idempotency key records: (N, epoch ms) until when the holding request owns the key.
    pub const KEY_LEASE_UNTIL: &str = "leaseUntil";
    /// (N, epoch seconds) optional expiry, the table's TTL attribute.
    pub const EXPIRES_AT: &str = "expiresAt";
}

/// An item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute value.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// Whether a partition key names an order, not one of the idempotency keys
/// kept in the same table (for scans in tests and tooling).
pub fn is_order_id(pedido_id: &str) -> bool {
    uuid::Uuid::try_parse(pedido_id).is_ok()
}
