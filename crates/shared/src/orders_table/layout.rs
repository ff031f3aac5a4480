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
    /// (S) customer id (written at intake, and again by procesamiento).
    pub const CLIENTE_ID: &str = "clienteId";
    /// (S) the order's priority, `EXPRESS` or `ESTANDAR`, written at intake
    /// (absent on orders recorded before priorities: ESTANDAR).
    pub const PRIORIDAD: &str = "prioridad";
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
    /// Idempotency key records: (S) the event id the completed request answered with.
    pub const KEY_EVENT_ID: &str = "keyEventId";
    /// Idempotency key records: (S) the ownership token of the request holding the key.
    pub const KEY_TOKEN: &str = "keyToken";
    /// Outbox: (S) the `PedidoCreado` event as published (JSON); present until a
    /// worker applies it (each worker removes it in its conditional write).
    pub const EVENTO_CREADO: &str = "eventoCreado";
    /// Outbox: (S) the `PedidoCreado`'s eventId, kept after the event is removed.
    pub const EVENTO_CREADO_ID: &str = "eventoCreadoId";
    /// Outbox: (S) the `PedidoCancelado` event as published (JSON); present until a worker applies it.
    pub const EVENTO_CANCELADO: &str = "eventoCancelado";
    /// Outbox: (S) the `PedidoCancelado`'s eventId.
    pub const EVENTO_CANCELADO_ID: &str = "eventoCanceladoId";
    /// (S) the ownership token of the request that wrote the intake record.
    pub const INTAKE_TOKEN: &str = "intakeToken";
    /// (S) the ownership token of the request that recorded the cancellation.
    pub const CANCELACION_TOKEN: &str = "cancelacionToken";
    /// (S) the reason of the requested cancellation (the request's; procesamiento
    /// records [`MOTIVO_CANCELACION`] when it applies it).
    pub const CANCELACION_MOTIVO_SOLICITADO: &str = "cancelacionMotivoSolicitado";
    /// (S, RFC 3339) when the API recorded the cancellation request.
    pub const CANCELACION_SOLICITADA_EN: &str = "cancelacionSolicitadaEn";
    /// Outbox index hash key (S): `"0"`..`"7"`, spreading the index's writes
    /// over [`super::OUTBOX_SHARDS`] partitions.
    pub const OUTBOX_SHARD: &str = "outboxShard";
    /// Outbox index range key (N, epoch ms): when the item's last event was recorded.
    pub const OUTBOX_DESDE: &str = "outboxDesde";
    /// The relay's checkpoint item: (S) the relay holding the lease.
    pub const RELAY_OWNER: &str = "relayOwner";
    /// The relay's checkpoint item: (N, epoch ms) until when the lease holds.
    pub const RELAY_LEASE_UNTIL: &str = "relayLeaseUntil";
    /// The relay's checkpoint item: (N, epoch ms) per shard, `relayDone<shard>`:
    /// every item of the shard whose `outboxDesde` is below it has been checked.
    pub const RELAY_DONE_PREFIX: &str = "relayDone";
    /// The relay's checkpoint item: (N, epoch ms) per shard, `relaySwept<shard>`:
    /// every entry below it was checked a second time by the sweep.
    pub const RELAY_SWEPT_PREFIX: &str = "relaySwept";
    /// (SS) event types of this order the relay published (the sweep skips them).
    pub const RELAY_PUBLICADOS: &str = "relayPublicados";
}

/// The outbox index: hash key [`attr::OUTBOX_SHARD`], range key
/// [`attr::OUTBOX_DESDE`], keys only.
pub const OUTBOX_INDEX: &str = "outbox-pendientes";

/// How many partitions the outbox index's hash key spreads its writes over.
pub const OUTBOX_SHARDS: u8 = 8;

/// The partition key of the relay's lease and checkpoints (never a UUID).
pub const RELAY_CHECKPOINT_KEY: &str = "outbox-relay#checkpoint";

/// The outbox shard of an order: stable, from a hash of the whole id (FNV-1a),
/// so ids chosen by clients with a constant part still spread evenly.
pub fn outbox_shard(pedido_id: uuid::Uuid) -> u8 {
    let hash = pedido_id
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    u8::try_from(hash % u64::from(OUTBOX_SHARDS)).unwrap_or(0)
}

/// A number attribute value.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A string attribute of an item.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_differ_in_one_place_spread_over_every_shard() {
        let mut seen = [0_u32; OUTBOX_SHARDS as usize];
        for i in 0..800_u32 {
            // A client's ids that share their last bytes.
            let mut bytes = [7_u8; 16];
            bytes[..4].copy_from_slice(&i.to_be_bytes());
            seen[usize::from(outbox_shard(uuid::Uuid::from_bytes(bytes)))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }
}
