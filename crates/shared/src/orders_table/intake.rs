//! The API's intake records, which are the outbox: a new order's item is
//! created with its whole `PedidoCreado` event in one conditional `PutItem`,
//! and a cancellation adds its `PedidoCancelado` to the order's item in one
//! conditional `UpdateItem`. Once either write is durable the command is
//! accepted; publishing the event is the system's job from then on (the API
//! right after answering, the relay for whatever is left: [`super::outbox`]).
//!
//! Every write carries the request's ownership token, so a request whose
//! earlier attempt landed (its answer lost to a timeout) recognises its own
//! write and goes on. A write that meets someone else's record never changes
//! it: the stored fingerprint is compared, nothing is written.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::OrdersTable;
use super::error::{TableError, classify};
use super::layout::{Item, attr, n, outbox_shard, s, text};
use super::record::OrderStatus;
use super::roles::content_hash;
use crate::contract::{Event, EventPayload, Prioridad};

/// What the intake write of a new order found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// This request's write created the record (now, or in an earlier attempt
    /// whose answer was lost).
    Created,
    /// The same order was already recorded by another request: nothing
    /// written. `event_id` is the first request's event (absent on records
    /// older than the outbox).
    Existing {
        /// The recorded `PedidoCreado`'s id.
        event_id: Option<Uuid>,
    },
    /// The `pedidoId` is recorded with different content: refused, nothing written.
    Conflict,
}

/// What recording a cancellation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancellation {
    /// This request recorded the cancellation.
    Created,
    /// The same cancellation (same reason) was already recorded: nothing written.
    Existing {
        /// The recorded `PedidoCancelado`'s id.
        event_id: Option<Uuid>,
    },
    /// A cancellation with another reason is recorded: nothing written.
    Conflict,
    /// The table has never seen the order (or its lifetime ended): nothing written.
    NotFound,
}

/// What a cancellation of an order carries from the order's intake record:
/// its lane (the priority) and its customer (the fair-queue group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLane {
    /// The order's priority (ESTANDAR on records written before priorities).
    pub prioridad: Prioridad,
    /// The order's customer, when the record names it (records written
    /// before priorities name it once procesamiento applied the order).
    pub cliente_id: Option<Uuid>,
}

impl OrderLane {
    /// Reads the lane of an order item.
    pub fn from_item(item: &Item) -> Self {
        Self {
            prioridad: text(item, attr::PRIORIDAD)
                .and_then(|p| Prioridad::parse(p).ok())
                .unwrap_or_default(),
            cliente_id: uuid_attr(item, attr::CLIENTE_ID),
        }
    }
}

/// A failed intake-path write: why, and whether it may have been written anyway.
#[derive(Debug, thiserror::Error)]
#[error("{error} (may have been written: {maybe_written})")]
pub struct WriteFailure {
    /// The last attempt's error.
    pub error: TableError,
    /// Whether any attempt may have been carried out by DynamoDB.
    pub maybe_written: bool,
}

/// How the conditional writes of the intake path are tried: this module's own
/// retries (the SDK's are switched off per call), so it knows whether any
/// attempt may have landed.
#[derive(Debug, Clone, Copy)]
pub struct WriteBudget {
    /// Everything, backoff included.
    pub total: Duration,
    /// Most attempts.
    pub max_attempts: u32,
}

impl Default for WriteBudget {
    fn default() -> Self {
        Self {
            total: Duration::from_secs(1),
            max_attempts: 3,
        }
    }
}

/// Whether an item's TTL has passed (DynamoDB deletes such items within days,
/// and until then they are not there for anyone).
pub fn is_expired(item: &Item, now: DateTime<Utc>) -> bool {
    match item.get(attr::EXPIRES_AT) {
        Some(AttributeValue::N(at)) => at.parse::<i64>().is_ok_and(|at| at <= now.timestamp()),
        _ => false,
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn uuid_attr(item: &Item, name: &str) -> Option<Uuid> {
    text(item, name).and_then(|v| Uuid::try_parse(v).ok())
}

fn condition_failed<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    matches!(err, SdkError::ServiceError(e) if e.err().code() == Some("ConditionalCheckFailedException"))
}

impl OrdersTable {
    /// Records a new order and its `PedidoCreado` (`event`) as received, in one
    /// conditional `PutItem` that creates the item or leaves any other record
    /// alone: no TTL, no field of a processed order is ever rewritten.
    pub async fn record_intake(
        &self,
        event: &Event,
        token: &str,
        idempotency_key: Option<&str>,
        now: DateTime<Utc>,
        budget: WriteBudget,
    ) -> Result<Intake, WriteFailure> {
        let EventPayload::PedidoCreado(order) = &event.payload else {
            return Err(WriteFailure {
                error: TableError::Rejected {
                    code: "wrong_event".into(),
                    message: "record_intake takes a PedidoCreado".into(),
                },
                maybe_written: false,
            });
        };
        let pedido_id = order.pedido_id();
        let hash = content_hash(order);
        let now_text = rfc3339(now);
        let mut item: Item = [
            (attr::PEDIDO_ID, s(pedido_id.to_string())),
            (attr::ESTADO, s(OrderStatus::Recibido.as_str())),
            (attr::CONTENT_HASH, s(&hash)),
            // What a cancellation of the order carries (see `order_lane`).
            (attr::PRIORIDAD, s(order.prioridad().as_str())),
            (attr::CLIENTE_ID, s(order.cliente_id().to_string())),
            // `creadoEn` / `actualizadoEn` are the workers' (kept out to keep
            // the item within one write unit).
            (attr::RECIBIDO_EN, s(&now_text)),
            (attr::EVENTO_CREADO, s(event.to_json())),
            (attr::EVENTO_CREADO_ID, s(event.event_id.to_string())),
            (attr::INTAKE_TOKEN, s(token)),
            (attr::OUTBOX_SHARD, s(outbox_shard(pedido_id).to_string())),
            (attr::OUTBOX_DESDE, n(now.timestamp_millis())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(key) = idempotency_key {
            item.insert(attr::IDEMPOTENCY_KEY.to_owned(), s(key));
        }
        let item = &item;
        self.conditional(budget, pedido_id, move || {
            self.client
                .put_item()
                .table_name(&self.name)
                .set_item(Some(item.clone()))
                // New, or an item whose lifetime ended (gone for everyone).
                .condition_expression("attribute_not_exists(#pk) OR #exp <= :nowSecs")
                .expression_attribute_names("#pk", attr::PEDIDO_ID)
                .expression_attribute_names("#exp", attr::EXPIRES_AT)
                .expression_attribute_values(":nowSecs", n(now.timestamp()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .customize()
                .config_override(no_retries())
                .send()
        })
        .await
        .map(|found| match found {
            None => Intake::Created,
            Some(old) if text(&old, attr::INTAKE_TOKEN) == Some(token) => Intake::Created,
            Some(old) if text(&old, attr::CONTENT_HASH) == Some(hash.as_str()) => {
                Intake::Existing {
                    event_id: uuid_attr(&old, attr::EVENTO_CREADO_ID),
                }
            }
            Some(_) => Intake::Conflict,
        })
    }

    /// The lane and customer of a recorded order (a strongly consistent
    /// `GetItem` of three attributes), `None` when the table has no intake
    /// record of it (never seen, or its lifetime ended).
    pub async fn order_lane(
        &self,
        pedido_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<OrderLane>, TableError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, s(pedido_id.to_string()))
            .consistent_read(true)
            .projection_expression("#hash, #prio, #cliente, #exp")
            .expression_attribute_names("#hash", attr::CONTENT_HASH)
            .expression_attribute_names("#prio", attr::PRIORIDAD)
            .expression_attribute_names("#cliente", attr::CLIENTE_ID)
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out
            .item
            .filter(|item| item.contains_key(attr::CONTENT_HASH) && !is_expired(item, now))
            .map(|item| OrderLane::from_item(&item)))
    }

    /// Records the cancellation `event` (a `PedidoCancelado`) on its order's
    /// item, in one conditional `UpdateItem`: only when the table holds the
    /// order and no cancellation yet. Nothing is written otherwise.
    pub async fn record_cancellation(
        &self,
        event: &Event,
        token: &str,
        now: DateTime<Utc>,
        budget: WriteBudget,
    ) -> Result<Cancellation, WriteFailure> {
        let EventPayload::PedidoCancelado(cancel) = &event.payload else {
            return Err(WriteFailure {
                error: TableError::Rejected {
                    code: "wrong_event".into(),
                    message: "record_cancellation takes a PedidoCancelado".into(),
                },
                maybe_written: false,
            });
        };
        let pedido_id = cancel.pedido_id;
        let motivo = cancel.motivo.as_str();
        let json = event.to_json();
        let event_id = event.event_id.to_string();
        let (json, event_id) = (&json, &event_id);
        self.conditional(budget, pedido_id, move || {
            self.client
                .update_item()
                .table_name(&self.name)
                .key(attr::PEDIDO_ID, s(pedido_id.to_string()))
                .update_expression(
                    "SET #ev = :ev, #evId = :evId, #tok = :tok, #motivo = :motivo, #at = :at, \
                     #shard = :shard, #desde = :desde",
                )
                .condition_expression(
                    "attribute_exists(#hash) AND attribute_not_exists(#tok) \
                     AND (attribute_not_exists(#exp) OR #exp > :nowSecs)",
                )
                .expression_attribute_names("#ev", attr::EVENTO_CANCELADO)
                .expression_attribute_names("#evId", attr::EVENTO_CANCELADO_ID)
                .expression_attribute_names("#tok", attr::CANCELACION_TOKEN)
                .expression_attribute_names("#motivo", attr::CANCELACION_MOTIVO_SOLICITADO)
                .expression_attribute_names("#at", attr::CANCELACION_SOLICITADA_EN)
                .expression_attribute_names("#shard", attr::OUTBOX_SHARD)
                .expression_attribute_names("#desde", attr::OUTBOX_DESDE)
                .expression_attribute_names("#hash", attr::CONTENT_HASH)
                .expression_attribute_names("#exp", attr::EXPIRES_AT)
                .expression_attribute_values(":ev", s(json))
                .expression_attribute_values(":evId", s(event_id))
                .expression_attribute_values(":tok", s(token))
                .expression_attribute_values(":motivo", s(motivo))
                .expression_attribute_values(":at", s(rfc3339(now)))
                .expression_attribute_values(":shard", s(outbox_shard(pedido_id).to_string()))
                .expression_attribute_values(":desde", n(now.timestamp_millis()))
                .expression_attribute_values(":nowSecs", n(now.timestamp()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .customize()
                .config_override(no_retries())
                .send()
        })
        .await
        .map(|found| match found {
            None => Cancellation::Created,
            Some(old) if old.is_empty() || is_expired(&old, now) => Cancellation::NotFound,
            Some(old) if text(&old, attr::CONTENT_HASH).is_none() => Cancellation::NotFound,
            Some(old) if text(&old, attr::CANCELACION_TOKEN) == Some(token) => {
                Cancellation::Created
            }
            Some(old) if text(&old, attr::CANCELACION_MOTIVO_SOLICITADO) == Some(motivo) => {
                Cancellation::Existing {
                    event_id: uuid_attr(&old, attr::EVENTO_CANCELADO_ID),
                }
            }
            Some(_) => Cancellation::Conflict,
        })
    }

    /// Runs one conditional write with this module's retries: `Ok(None)` when
    /// it was carried out, `Ok(Some(item))` when its condition failed (the
    /// item as stored, empty when there is none), or the last failure with
    /// whether any attempt may have landed.
    async fn conditional<F, Fut, O, E>(
        &self,
        budget: WriteBudget,
        pedido_id: Uuid,
        send: F,
    ) -> Result<Option<Item>, WriteFailure>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<
                Output = Result<O, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
            >,
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata
            + std::error::Error
            + ConditionFailureItem
            + 'static,
    {
        let deadline = Instant::now() + budget.total;
        let mut maybe_written = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let error = match tokio::time::timeout(remaining, send()).await {
                Ok(Ok(_)) => return Ok(None),
                Ok(Err(err)) if condition_failed(&err) => {
                    let stored = match &err {
                        SdkError::ServiceError(e) => e.err().stored_item(),
                        _ => None,
                    };
                    return match stored {
                        Some(item) => Ok(Some(item)),
                        // Emulators without ReturnValuesOnConditionCheckFailure: read it.
                        // A failed read leaves open whose record it is:
                        // unknown, never "not written".
                        None => self
                            .read_consistent(pedido_id)
                            .await
                            .map(|item| Some(item.unwrap_or_default()))
                            .map_err(|error| WriteFailure {
                                error,
                                maybe_written: true,
                            }),
                    };
                }
                Ok(Err(err)) => {
                    maybe_written |= crate::aws::may_have_landed(&err);
                    classify(&err)
                }
                Err(_) => {
                    maybe_written = true;
                    TableError::Unavailable {
                        code: "budget".into(),
                        message: format!("write budget of {:?} spent", budget.total),
                    }
                }
            };
            let delay = crate::aws::jittered_backoff(
                attempt,
                Duration::from_millis(25),
                Duration::from_millis(250),
            );
            if !error.is_transient()
                || attempt >= budget.max_attempts
                || Instant::now() + delay >= deadline
            {
                return Err(WriteFailure {
                    error,
                    maybe_written,
                });
            }
            tracing::warn!(attempt, error = %error, "intake write attempt failed; retrying with the same token");
            tokio::time::sleep(delay).await;
        }
    }

    async fn read_consistent(&self, pedido_id: Uuid) -> Result<Option<Item>, TableError> {
        self.client
            .get_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, s(pedido_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| classify(&e))
    }
}

/// The item a failed condition returned (`ReturnValuesOnConditionCheckFailure`).
pub trait ConditionFailureItem {
    /// The stored item, when the service sent it.
    fn stored_item(&self) -> Option<Item>;
}

impl ConditionFailureItem for aws_sdk_dynamodb::operation::put_item::PutItemError {
    fn stored_item(&self) -> Option<Item> {
        match self {
            Self::ConditionalCheckFailedException(e) => e.item().cloned(),
            _ => None,
        }
    }
}

impl ConditionFailureItem for aws_sdk_dynamodb::operation::update_item::UpdateItemError {
    fn stored_item(&self) -> Option<Item> {
        match self {
            Self::ConditionalCheckFailedException(e) => e.item().cloned(),
            _ => None,
        }
    }
}

/// One attempt per call: the intake path retries itself (see [`WriteBudget`]).
fn no_retries() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default()
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lane_of_a_record_before_priorities_is_estandar() {
        let mut item = Item::new();
        assert_eq!(
            OrderLane::from_item(&item),
            OrderLane {
                prioridad: Prioridad::Estandar,
                cliente_id: None
            }
        );
        let cliente = Uuid::new_v4();
        item.insert(attr::PRIORIDAD.into(), s("EXPRESS"));
        item.insert(attr::CLIENTE_ID.into(), s(cliente.to_string()));
        assert_eq!(
            OrderLane::from_item(&item),
            OrderLane {
                prioridad: Prioridad::Express,
                cliente_id: Some(cliente)
            }
        );
    }

    #[test]
    fn an_item_past_its_ttl_is_expired() {
        let now = Utc::now();
        let mut item = Item::new();
        assert!(!is_expired(&item, now));
        item.insert(attr::EXPIRES_AT.into(), n(now.timestamp() + 10));
        assert!(!is_expired(&item, now));
        item.insert(attr::EXPIRES_AT.into(), n(now.timestamp()));
        assert!(is_expired(&item, now));
    }
}
