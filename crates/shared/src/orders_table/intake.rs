//! The API's intake record: written before the event is published, with one
//! conditional write, so `GET` shows `RECIBIDO` at once and a `pedidoId`
//! already used for other content is refused before anything is published.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::OrdersTable;
use super::error::{TableError, classify};
use super::layout::{attr, s};
use super::record::OrderStatus;
use super::roles::content_hash;

/// How long an intake record lives if no worker ever records its order.
pub const PENDING_TTL: chrono::Duration = chrono::Duration::days(1);

/// What the intake write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// The order is new: this write created its record.
    Created,
    /// The same order was already recorded (a retried POST, or the workers
    /// got there first): nothing changed, publishing again is safe.
    Existing,
    /// The `pedidoId` is recorded with different content: refused.
    Conflict,
}

impl OrdersTable {
    /// Records `order` as received (`estado = RECIBIDO` unless a later state
    /// is already recorded, its content fingerprint, the idempotency key) in
    /// one conditional `UpdateItem`: refused when the `pedidoId` holds other
    /// content.
    pub async fn record_intake(
        &self,
        order: &crate::contract::PedidoCreado,
        idempotency_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Intake, TableError> {
        let now_text = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut update = vec![
            "#estado = if_not_exists(#estado, :recibido)",
            "#hash = if_not_exists(#hash, :hash)",
            "#recibidoEn = if_not_exists(#recibidoEn, :now)",
            "#creadoEn = if_not_exists(#creadoEn, :now)",
            "#actualizadoEn = if_not_exists(#actualizadoEn, :now)",
            // Provisional: procesamiento sets the order's real lifetime when it
            // records it. Only a record whose publish never happened (the
            // client was told NOT accepted, but the write's answer was lost)
            // keeps it and is removed by the table's TTL.
            "#expires = if_not_exists(#expires, :expires)",
        ];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, s(order.pedido_id().to_string()))
            .condition_expression("attribute_not_exists(#hash) OR #hash = :hash")
            .expression_attribute_names("#estado", attr::ESTADO)
            .expression_attribute_names("#hash", attr::CONTENT_HASH)
            .expression_attribute_names("#recibidoEn", attr::RECIBIDO_EN)
            .expression_attribute_names("#creadoEn", attr::CREADO_EN)
            .expression_attribute_names("#actualizadoEn", attr::ACTUALIZADO_EN)
            .expression_attribute_values(":recibido", s(OrderStatus::Recibido.as_str()))
            .expression_attribute_values(":hash", s(content_hash(order)))
            .expression_attribute_values(":now", s(now_text))
            .expression_attribute_names("#expires", attr::EXPIRES_AT)
            .expression_attribute_values(
                ":expires",
                AttributeValue::N((now + PENDING_TTL).timestamp().to_string()),
            )
            // The old item tells a new order from a retried one.
            .return_values(ReturnValue::AllOld);
        if let Some(key) = idempotency_key {
            update.push("#key = if_not_exists(#key, :key)");
            request = request
                .expression_attribute_names("#key", attr::IDEMPOTENCY_KEY)
                .expression_attribute_values(":key", s(key));
        }
        let result = request
            .update_expression(format!("SET {}", update.join(", ")))
            .send()
            .await;
        match result {
            Ok(out) if out.attributes().is_none_or(|a| a.is_empty()) => Ok(Intake::Created),
            Ok(_) => Ok(Intake::Existing),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Intake::Conflict)
            }
            Err(err) => Err(classify(&err)),
        }
    }

    /// Removes an intake record this request created when its event was
    /// certainly NOT published, so `GET` does not show an order that does
    /// not exist. Kept if any worker has written to it since.
    pub async fn discard_intake(
        &self,
        order: &crate::contract::PedidoCreado,
    ) -> Result<(), TableError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, s(order.pedido_id().to_string()))
            .condition_expression("#hash = :hash AND attribute_not_exists(#applied)")
            .expression_attribute_names("#hash", attr::CONTENT_HASH)
            .expression_attribute_names("#applied", attr::APPLIED_EVENTS)
            .expression_attribute_values(":hash", AttributeValue::S(content_hash(order)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(classify(&err)),
        }
    }
}
