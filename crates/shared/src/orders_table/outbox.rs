//! The relay's side of the outbox: the time-ordered index of order items
//! (`outbox-pendientes`: hash [`attr::OUTBOX_SHARD`], range
//! [`attr::OUTBOX_DESDE`], keys only), the events still stored on them, and
//! the relay's lease and per-shard checkpoints (one item, so two relays never
//! work at once and a restarted one goes on where the last stopped).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use uuid::Uuid;

use super::OrdersTable;
use super::error::{TableError, classify};
use super::layout::{Item, OUTBOX_INDEX, OUTBOX_SHARDS, RELAY_CHECKPOINT_KEY, attr, n, s, text};

/// One entry of the outbox index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The order.
    pub pedido_id: Uuid,
    /// When its last event was recorded (epoch ms).
    pub desde_ms: i64,
}

/// A page of one shard's window, and where the next page starts.
#[derive(Debug, Default)]
pub struct OutboxPage {
    /// The entries, oldest first.
    pub entries: Vec<OutboxEntry>,
    /// The key to continue from, `None` on the last page.
    pub next: Option<Item>,
}

/// The relay's progress, per shard (epoch ms of `outboxDesde`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoints {
    /// The main pass: every entry below this was checked once.
    pub done: [i64; OUTBOX_SHARDS as usize],
    /// The sweep, trailing the main pass: every entry below this was checked
    /// a second time (for entries that became visible after the main pass).
    pub swept: [i64; OUTBOX_SHARDS as usize],
}

/// The events still stored on one order, and those the relay already published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredEvents {
    /// The events, as their published JSON.
    pub events: Vec<String>,
    /// Event types (`PedidoCreado`, `PedidoCancelado`) the relay published.
    pub relayed: Vec<String>,
}

fn done_attr(shard: usize) -> String {
    format!("{}{shard}", attr::RELAY_DONE_PREFIX)
}

fn swept_attr(shard: usize) -> String {
    format!("{}{shard}", attr::RELAY_SWEPT_PREFIX)
}

/// Adds every shard's checkpoints to an update's `SET` list.
fn set_checkpoints(
    mut request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    sets: &mut Vec<String>,
    checkpoints: &Checkpoints,
) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
    for (shard, (done, swept)) in checkpoints
        .done
        .iter()
        .zip(checkpoints.swept.iter())
        .enumerate()
    {
        sets.push(format!("#d{shard} = :d{shard}, #s{shard} = :s{shard}"));
        request = request
            .expression_attribute_names(format!("#d{shard}"), done_attr(shard))
            .expression_attribute_values(format!(":d{shard}"), n(done))
            .expression_attribute_names(format!("#s{shard}"), swept_attr(shard))
            .expression_attribute_values(format!(":s{shard}"), n(swept));
    }
    request
}

fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

impl OrdersTable {
    /// The entries of `shard` recorded between `from_ms` and `upto_ms`
    /// (inclusive), oldest first, at most `limit`, from `start`.
    pub async fn outbox_window(
        &self,
        shard: u8,
        from_ms: i64,
        upto_ms: i64,
        limit: i32,
        start: Option<Item>,
    ) -> Result<OutboxPage, TableError> {
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .index_name(OUTBOX_INDEX)
            .key_condition_expression("#shard = :shard AND #desde BETWEEN :from AND :upto")
            .expression_attribute_names("#shard", attr::OUTBOX_SHARD)
            .expression_attribute_names("#desde", attr::OUTBOX_DESDE)
            .expression_attribute_values(":shard", s(shard.to_string()))
            .expression_attribute_values(":from", n(from_ms))
            .expression_attribute_values(":upto", n(upto_ms))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let entries = out
            .items()
            .iter()
            .filter_map(|item| {
                Some(OutboxEntry {
                    pedido_id: Uuid::try_parse(text(item, attr::PEDIDO_ID)?).ok()?,
                    desde_ms: number(item, attr::OUTBOX_DESDE)?,
                })
            })
            .collect();
        Ok(OutboxPage {
            entries,
            next: out.last_evaluated_key,
        })
    }

    /// The events still stored on these orders (none once a worker applied
    /// them), as their published JSON, by order, with the types the relay
    /// already published. One `BatchGetItem` per 100 orders, strongly
    /// consistent (an eventually consistent read could miss a cancellation
    /// just recorded).
    pub async fn outbox_events(
        &self,
        pedido_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, StoredEvents>, TableError> {
        let mut found = HashMap::new();
        for chunk in pedido_ids.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| HashMap::from([(attr::PEDIDO_ID.to_owned(), s(id.to_string()))]))
                .collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .projection_expression("#pk, #created, #cancelled, #relayed")
                    .consistent_read(true)
                    .expression_attribute_names("#relayed", attr::RELAY_PUBLICADOS)
                    .expression_attribute_names("#pk", attr::PEDIDO_ID)
                    .expression_attribute_names("#created", attr::EVENTO_CREADO)
                    .expression_attribute_names("#cancelled", attr::EVENTO_CANCELADO)
                    .build()
                    .map_err(|e| TableError::Rejected {
                        code: "build".into(),
                        message: e.to_string(),
                    })?,
            );
            let mut round = 0;
            while let Some(request) = pending.take() {
                round += 1;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.name, request)
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.name)
                    .unwrap_or_default()
                {
                    let Some(id) =
                        text(&item, attr::PEDIDO_ID).and_then(|v| Uuid::try_parse(v).ok())
                    else {
                        continue;
                    };
                    let events: Vec<String> = [attr::EVENTO_CREADO, attr::EVENTO_CANCELADO]
                        .into_iter()
                        .filter_map(|name| text(&item, name).map(str::to_owned))
                        .collect();
                    if !events.is_empty() {
                        let relayed = match item.get(attr::RELAY_PUBLICADOS) {
                            Some(AttributeValue::Ss(types)) => types.clone(),
                            _ => Vec::new(),
                        };
                        found.insert(id, StoredEvents { events, relayed });
                    }
                }
                // Throttled keys come back unprocessed: asked again, with backoff.
                pending = out
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&self.name))
                    .filter(|left| !left.keys().is_empty());
                if pending.is_some() {
                    if round >= 8 {
                        return Err(TableError::Unavailable {
                            code: "UnprocessedKeys".into(),
                            message: "BatchGetItem kept returning unprocessed keys".into(),
                        });
                    }
                    tokio::time::sleep(crate::aws::jittered_backoff(
                        round,
                        Duration::from_millis(50),
                        Duration::from_secs(1),
                    ))
                    .await;
                }
            }
        }
        Ok(found)
    }

    /// Takes or renews the relay's lease for `owner` until `now_ms + lease`,
    /// saving `done` (the checkpoints of its last pass) in the same write.
    /// `Ok(Some(checkpoints))` while `owner` holds the lease, `Ok(None)` while
    /// another relay does. Every checkpoint is in the update (kept as it is
    /// when `done` is `None`), so `UPDATED_NEW` returns them all: the relay's
    /// role may be limited to its own attributes (`dynamodb:Attributes`,
    /// which requires `ReturnValues` to be NONE or UPDATED_*).
    pub async fn relay_lease(
        &self,
        owner: &str,
        done: Option<&Checkpoints>,
        now_ms: i64,
        lease: Duration,
    ) -> Result<Option<Checkpoints>, TableError> {
        let until = now_ms.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let mut sets = vec!["#owner = :owner".to_owned(), "#until = :until".to_owned()];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, s(RELAY_CHECKPOINT_KEY))
            .condition_expression(
                "attribute_not_exists(#owner) OR #owner = :owner OR #until < :now",
            )
            .expression_attribute_names("#owner", attr::RELAY_OWNER)
            .expression_attribute_names("#until", attr::RELAY_LEASE_UNTIL)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::UpdatedNew);
        match done {
            Some(done) => request = set_checkpoints(request, &mut sets, done),
            None => {
                request = request.expression_attribute_values(":zero", n(0));
                for shard in 0..usize::from(OUTBOX_SHARDS) {
                    sets.push(format!(
                        "#d{shard} = if_not_exists(#d{shard}, :zero), #s{shard} = if_not_exists(#s{shard}, :zero)"
                    ));
                    request = request
                        .expression_attribute_names(format!("#d{shard}"), done_attr(shard))
                        .expression_attribute_names(format!("#s{shard}"), swept_attr(shard));
                }
            }
        }
        match request
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let mut checkpoints = Checkpoints::default();
                for shard in 0..usize::from(OUTBOX_SHARDS) {
                    checkpoints.done[shard] = number(&item, &done_attr(shard)).unwrap_or(0);
                    checkpoints.swept[shard] = number(&item, &swept_attr(shard)).unwrap_or(0);
                }
                Ok(Some(checkpoints))
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(classify(&err)),
        }
    }

    /// Records on an order that the relay published events of these types
    /// (`ADD` to a string set; never creates an item): the sweep then leaves
    /// them alone, so the relay publishes an event at most once.
    pub async fn mark_relayed(&self, pedido_id: Uuid, types: &[String]) -> Result<(), TableError> {
        if types.is_empty() {
            return Ok(());
        }
        match self
            .client
            .update_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, s(pedido_id.to_string()))
            .update_expression("ADD #relayed :types")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#relayed", attr::RELAY_PUBLICADOS)
            .expression_attribute_names("#pk", attr::PEDIDO_ID)
            .expression_attribute_values(":types", AttributeValue::Ss(types.to_vec()))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Deleted meanwhile (its lifetime ended): nothing to mark.
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

    /// Gives the lease up (at shutdown), saving `done`; only while `owner` holds it.
    pub async fn relay_release(&self, owner: &str, done: &Checkpoints) -> Result<(), TableError> {
        let mut sets = vec!["#until = :zero".to_owned()];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, s(RELAY_CHECKPOINT_KEY))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", attr::RELAY_OWNER)
            .expression_attribute_names("#until", attr::RELAY_LEASE_UNTIL)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":zero", n(0));
        request = set_checkpoints(request, &mut sets, done);
        match request
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
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
