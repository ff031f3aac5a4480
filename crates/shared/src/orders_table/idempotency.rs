//! `Idempotency-Key` records (IETF draft "The Idempotency-Key HTTP Header
//! Field"), kept in the orders table under `idempotency#<key>` and expired by
//! the table's TTL ([`KEY_TTL`] after first use).
//!
//! A key is reserved before anything is published, in one conditional write
//! that also takes over a key whose earlier request ended with an unknown
//! outcome or died holding it (its lease ran out). The record keeps the
//! request's fingerprint, so the same key with another body is refused, and
//! the holding request's ownership token: a request that meets its own
//! reservation (an attempt that landed but whose answer was lost) goes on,
//! and only the holder may finish or release the key.

use std::time::Duration;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::OrdersTable;
use super::error::{TableError, classify};
use super::layout::{Item, attr, s};

/// How long a key is remembered (the table's TTL removes it afterwards).
pub const KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Prefix of the partition key of a key record.
pub const KEY_PREFIX: &str = "idempotency#";

/// The state of a key's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// A request holds the key until its lease ends.
    InProgress,
    /// The event was published: replays answer as the first request did.
    Completed,
    /// The publish's outcome is unknown: the next request with the key publishes again.
    Unknown,
}

impl KeyState {
    fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "EN_CURSO",
            Self::Completed => "COMPLETADO",
            Self::Unknown => "DESCONOCIDO",
        }
    }
}

/// What reserving a key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// This request holds the key now (new, or taken over): go on.
    Reserved,
    /// The key's request completed: answer as it did (with its event id,
    /// when recorded), write and publish nothing.
    Completed {
        /// The event id the first request answered with.
        event_id: Option<uuid::Uuid>,
    },
    /// Another request with this key is in progress.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

fn key_id(key: &str) -> AttributeValue {
    s(format!("{KEY_PREFIX}{key}"))
}

fn millis(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp_millis().to_string())
}

impl OrdersTable {
    /// Reserves `key` for a request with `fingerprint` and ownership `token`,
    /// holding it until `now + lease` (the longest the request can take).
    pub async fn reserve_key(
        &self,
        key: &str,
        fingerprint: &str,
        token: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Reservation, TableError> {
        let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let expires = now + chrono::Duration::from_std(KEY_TTL).unwrap_or_default();
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, key_id(key))
            .update_expression(
                "SET #state = :inProgress, #fp = :fp, #lease = :lease, #token = :token, \
                 #created = if_not_exists(#created, :now), #expires = :expires \
                 REMOVE #answer",
            )
            // New; this request's own reservation (an earlier attempt landed);
            // or the same request whose earlier outcome is unknown or whose holder died.
            .condition_expression(
                "attribute_not_exists(#pk) OR #expires <= :nowSecs \
                 OR (#token = :token AND #state = :inProgress) \
                 OR (#fp = :fp AND (#state = :unknown OR (#state = :inProgress AND #lease < :nowMs)))",
            )
            .expression_attribute_values(":nowSecs", AttributeValue::N(now.timestamp().to_string()))
            .expression_attribute_names("#token", attr::KEY_TOKEN)
            .expression_attribute_values(":token", s(token))
            .expression_attribute_names("#answer", attr::KEY_EVENT_ID)
            .expression_attribute_names("#pk", attr::PEDIDO_ID)
            .expression_attribute_names("#state", attr::KEY_STATE)
            .expression_attribute_names("#fp", attr::KEY_FINGERPRINT)
            .expression_attribute_names("#lease", attr::KEY_LEASE_UNTIL)
            .expression_attribute_names("#created", attr::CREADO_EN)
            .expression_attribute_names("#expires", attr::EXPIRES_AT)
            .expression_attribute_values(":inProgress", s(KeyState::InProgress.as_str()))
            .expression_attribute_values(":unknown", s(KeyState::Unknown.as_str()))
            .expression_attribute_values(":fp", s(fingerprint))
            .expression_attribute_values(":lease", millis(lease_until))
            .expression_attribute_values(":nowMs", millis(now))
            .expression_attribute_values(
                ":now",
                s(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            )
            .expression_attribute_values(":expires", AttributeValue::N(expires.timestamp().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Reservation::Reserved),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(old) => Ok(explain(old, fingerprint, token)),
                        // Emulators without ReturnValuesOnConditionCheckFailure: read it.
                        None => self.read_key(key, fingerprint, token).await,
                    }
                }
                _ => Err(classify(&err)),
            },
        }
    }

    async fn read_key(
        &self,
        key: &str,
        fingerprint: &str,
        token: &str,
    ) -> Result<Reservation, TableError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, key_id(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?
            .item;
        match item {
            Some(item) => Ok(explain(&item, fingerprint, token)),
            // Expired or released in between: the caller may try again.
            None => Err(TableError::Unavailable {
                code: "ConditionRace".into(),
                message: "the idempotency key changed during its reservation".into(),
            }),
        }
    }

    /// Records the outcome of the key's request: `Completed` (replays answer
    /// as it did) or `Unknown` (the next request with the key tries again).
    /// Only while `token` holds the key: a holder whose lease ran out and was
    /// taken over changes nothing.
    pub async fn finish_key(
        &self,
        key: &str,
        token: &str,
        state: KeyState,
        event_id: Option<uuid::Uuid>,
    ) -> Result<(), TableError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, key_id(key))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", attr::KEY_TOKEN)
            .expression_attribute_names("#state", attr::KEY_STATE)
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":state", s(state.as_str()));
        request = match event_id {
            // Replays answer with the event id this request answered with.
            Some(id) => request
                .update_expression("SET #state = :state, #answer = :answer")
                .expression_attribute_names("#answer", attr::KEY_EVENT_ID)
                .expression_attribute_values(":answer", s(id.to_string())),
            None => request.update_expression("SET #state = :state"),
        };
        request
            .return_values(ReturnValue::None)
            .send()
            .await
            .map(|_| ())
            .or_else(|err| match err.as_service_error() {
                // Taken over, released or expired meanwhile: not ours to record.
                Some(e) if e.is_conditional_check_failed_exception() => Ok(()),
                _ => Err(classify(&err)),
            })
    }

    /// Forgets the key: its request certainly did nothing (refused, or
    /// nothing recorded), so the client may reuse it. Only while `token`
    /// holds the key.
    pub async fn release_key(&self, key: &str, token: &str) -> Result<(), TableError> {
        self.client
            .delete_item()
            .table_name(&self.name)
            .key(attr::PEDIDO_ID, key_id(key))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", attr::KEY_TOKEN)
            .expression_attribute_values(":token", s(token))
            .send()
            .await
            .map(|_| ())
            .or_else(|err| match err.as_service_error() {
                Some(e) if e.is_conditional_check_failed_exception() => Ok(()),
                _ => Err(classify(&err)),
            })
    }
}

fn explain(item: &Item, fingerprint: &str, token: &str) -> Reservation {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    };
    if text(attr::KEY_TOKEN) == Some(token)
        && text(attr::KEY_STATE) == Some(KeyState::InProgress.as_str())
    {
        // This request's own reservation, landed by an earlier attempt.
        Reservation::Reserved
    } else if text(attr::KEY_FINGERPRINT) != Some(fingerprint) {
        Reservation::Mismatch
    } else if text(attr::KEY_STATE) == Some(KeyState::Completed.as_str()) {
        Reservation::Completed {
            event_id: text(attr::KEY_EVENT_ID).and_then(|v| uuid::Uuid::try_parse(v).ok()),
        }
    } else {
        Reservation::InProgress
    }
}
