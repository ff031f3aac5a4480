//! The worker roles and the identities derived from an order: the dedup key
//! of an applied event, the content fingerprint, the tracking number.

use serde::Serialize;
use uuid::Uuid;

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

/// The attribute counting the events `role` applied to an order (N), added to
/// in the same conditional write as each effect: tests and operators read
/// "applied once" as this counter, not as the dedup set.
pub fn application_counter(role: WorkerRole) -> &'static str {
    match role {
        WorkerRole::Procesamiento => super::attr::APLICACIONES_PROCESAMIENTO,
        WorkerRole::Logistica => super::attr::APLICACIONES_LOGISTICA,
    }
}

/// How many events `role` applied to an order item (0 when none).
pub fn applications(item: &super::Item, role: WorkerRole) -> u64 {
    match item.get(application_counter(role)) {
        Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
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
        // Left out when ESTANDAR, so an order's fingerprint is the one it had
        // before priorities (a retry across the upgrade is no conflict).
        #[serde(skip_serializing_if = "crate::contract::Prioridad::is_estandar")]
        prioridad: crate::contract::Prioridad,
        items: &'a [crate::contract::LineItem],
        direccion: &'a crate::contract::DireccionEnvio,
    }
    let content = Content {
        cliente: order.cliente_id(),
        total: order.total().to_string(),
        moneda: order.moneda(),
        prioridad: order.prioridad(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Event, EventPayload, Prioridad};

    fn order() -> crate::contract::PedidoCreado {
        let sample = include_str!("../../tests/fixtures/pedido_creado_v1_before_prioridad.json");
        match Event::parse_message_body(sample).expect("sample").payload {
            EventPayload::PedidoCreado(order) => order,
            EventPayload::PedidoCancelado(_) => panic!("a PedidoCreado"),
        }
    }

    #[test]
    fn the_fingerprint_tells_priorities_apart_and_estandar_keeps_the_old_one() {
        let estandar = order();
        // The fingerprint of this order as builds before priorities computed it
        // (checked independently: UUIDv5 of the old JSON layout).
        assert_eq!(content_hash(&estandar), "b2a228e2b87d5ce780003fbc3c6529d9");
        let express = estandar.clone().with_prioridad(Prioridad::Express);
        assert_ne!(content_hash(&estandar), content_hash(&express));
    }
}
