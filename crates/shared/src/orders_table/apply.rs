//! The workers' conditional writes: each event applied for a role in one
//! `UpdateItem` with its dedup record, order-insensitive.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::OrdersTable;
use super::error::{TableError, classify};
use super::layout::{attr, s};
use super::record::{OrderStatus, ShipmentStatus};
use super::roles::{WorkerRole, application_counter, applied_key, content_hash, tracking_number};

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

/// The result of one conditional write.
enum Written {
    /// Applied, or explained as a duplicate or conflict.
    Done(ApplyOutcome),
    /// procesamiento's `PedidoCreado` met a recorded cancellation.
    AlreadyCancelled,
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
    /// Applies `event` for `role` in one conditional `UpdateItem`: the effect,
    /// the dedup record and the role's application counter are written
    /// together or not at all.
    ///
    /// The item may already exist: the API's intake record (`RECIBIDO` with
    /// the content fingerprint), or the other role's or a cancellation's
    /// writes. Order-insensitive: a cancellation recorded first stays
    /// `CANCELADO`, and a late `PedidoCreado` keeps the cancellation's
    /// timestamps (it takes a second write, only in that rare order).
    pub async fn apply(
        &self,
        role: WorkerRole,
        event: &crate::contract::Event,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ApplyOutcome, TableError> {
        match self.write(role, event, now, expires_at, false).await? {
            Written::Done(outcome) => Ok(outcome),
            Written::AlreadyCancelled => {
                match self.write(role, event, now, expires_at, true).await? {
                    Written::Done(outcome) => Ok(outcome),
                    Written::AlreadyCancelled => Err(TableError::Unavailable {
                        code: "ConditionRace".into(),
                        message: "the order's cancellation state changed during the write".into(),
                    }),
                }
            }
        }
    }

    /// One conditional write of `event`. `late`: procesamiento records a
    /// `PedidoCreado` that arrives after the cancellation, leaving `estado`
    /// alone (and requiring it to be `CANCELADO`).
    async fn write(
        &self,
        role: WorkerRole,
        event: &crate::contract::Event,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        late: bool,
    ) -> Result<Written, TableError> {
        use crate::contract::EventPayload;
        let key = applied_key(role, event);
        let now_text = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut u = Update::new();
        u.set(attr::ACTUALIZADO_EN, s(&now_text));
        u.set_if_absent(attr::CREADO_EN, s(&now_text));
        let recorded_by_procesamiento = matches!(
            (&event.payload, role),
            (EventPayload::PedidoCreado(_), WorkerRole::Procesamiento)
        );
        let mut removes = Vec::new();
        match expires_at {
            // procesamiento recording the order decides its lifetime: the
            // intake record's provisional expiry (see `record_intake`) goes.
            Some(at) if recorded_by_procesamiento => {
                u.set(
                    attr::EXPIRES_AT,
                    AttributeValue::N(at.timestamp().to_string()),
                );
            }
            None if recorded_by_procesamiento => removes.push(u.name(attr::EXPIRES_AT)),
            Some(at) => u.set_if_absent(
                attr::EXPIRES_AT,
                AttributeValue::N(at.timestamp().to_string()),
            ),
            None => {}
        }
        // The outbox: an event a worker applies has reached the topic, so its
        // copy in the item goes (the relay publishes only what is still there;
        // the item also stays small, one write unit).
        removes.push(u.name(match event.payload {
            EventPayload::PedidoCreado(_) => attr::EVENTO_CREADO,
            EventPayload::PedidoCancelado(_) => attr::EVENTO_CANCELADO,
        }));
        let mut hash = None;
        let mut conditions = Vec::new();
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
                u.set(attr::PROCESADO_EN, s(&now_text));
                let estado = u.name(attr::ESTADO);
                let cancelado = u.value("cancelado", s(OrderStatus::Cancelado.as_str()));
                if late {
                    conditions.push(format!("{estado} = {cancelado}"));
                } else {
                    // `RECIBIDO` (the intake record) or nothing yet becomes
                    // `PROCESADO`; a recorded cancellation is never undone.
                    u.set(attr::ESTADO, s(OrderStatus::Procesado.as_str()));
                    conditions.push(format!(
                        "(attribute_not_exists({estado}) OR {estado} <> {cancelado})"
                    ));
                }
                hash = Some(content_hash(order));
            }
            (EventPayload::PedidoCreado(order), WorkerRole::Logistica) => {
                u.set(attr::ENVIO_TRACKING, s(tracking_number(order.pedido_id())));
                u.set_if_absent(attr::ENVIO_ESTADO, s(ShipmentStatus::Programado.as_str()));
                // A cancellation recorded first keeps its timestamp.
                u.set_if_absent(attr::ENVIO_ACTUALIZADO_EN, s(&now_text));
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
        let counter = u.name(application_counter(role));
        let one = u.value("one", AttributeValue::N("1".into()));
        conditions.push(format!(
            "(attribute_not_exists({applied}) OR NOT contains({applied}, {key_value}))"
        ));
        if let Some(hash) = &hash {
            u.set_if_absent(attr::CONTENT_HASH, s(hash));
            let hash_name = u.name(attr::CONTENT_HASH);
            let hash_value = format!(":{}", attr::CONTENT_HASH);
            conditions.push(format!(
                "(attribute_not_exists({hash_name}) OR {hash_name} = {hash_value})"
            ));
        }
        let remove = if removes.is_empty() {
            String::new()
        } else {
            format!(" REMOVE {}", removes.join(", "))
        };
        let expression = format!(
            "SET {}{remove} ADD {applied} {key_set}, {counter} {one}",
            u.sets.join(", ")
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, s(event.pedido_id().to_string()))
            .update_expression(expression)
            .condition_expression(conditions.join(" AND "))
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Done(ApplyOutcome::Applied)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // Only procesamiento's first write of a PedidoCreado is
                // conditioned on the order not being cancelled.
                let guards_cancellation = recorded_by_procesamiento && !late;
                self.explain_condition_failure(
                    event.pedido_id(),
                    &key,
                    hash.as_deref(),
                    guards_cancellation,
                )
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
        guards_cancellation: bool,
    ) -> Result<Written, TableError> {
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
            return Ok(Written::Done(ApplyOutcome::Conflict(format!(
                "a different PedidoCreado was already recorded for pedidoId {pedido_id}"
            ))));
        }
        match item.get(attr::APPLIED_EVENTS) {
            Some(AttributeValue::Ss(keys)) if keys.iter().any(|k| k == key) => {
                return Ok(Written::Done(ApplyOutcome::Duplicate));
            }
            _ => {}
        }
        let cancelled = matches!(item.get(attr::ESTADO), Some(AttributeValue::S(estado)) if estado == OrderStatus::Cancelado.as_str());
        if guards_cancellation && cancelled {
            // A PedidoCreado for an order already cancelled: written again, late.
            Ok(Written::AlreadyCancelled)
        } else {
            // The item changed between the write and this read; the caller retries.
            Err(TableError::Unavailable {
                code: "ConditionRace".into(),
                message: "condition failed but the item shows neither duplicate nor conflict"
                    .into(),
            })
        }
    }
}
