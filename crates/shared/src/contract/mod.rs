//! The event contract: one versioned JSON envelope for every event.
//!
//! ```json
//! { "eventId": "…uuid…", "eventType": "PedidoCreado", "eventVersion": 1,
//!   "occurredAt": "2026-11-23T10:00:00Z", "correlationId": "…", "data": { … } }
//! ```
//!
//! The contract may only grow backwards-compatibly: readers ignore unknown
//! fields, and a newer `eventVersion` is rejected with a typed error.

pub mod asyncapi;
pub mod pedido;
pub mod schema;
pub mod values;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use pedido::{DireccionEnvio, LineItem, Motivo, PedidoCancelado, PedidoCreado};
pub use values::Prioridad;

/// The newest envelope version this build writes and understands.
pub const CURRENT_EVENT_VERSION: u32 = 1;

/// SNS/SQS message attribute carrying the event type (String).
pub const ATTR_EVENT_TYPE: &str = "eventType";
/// SNS/SQS message attribute carrying the envelope version (Number).
pub const ATTR_EVENT_VERSION: &str = "eventVersion";
/// SNS/SQS message attribute carrying the order total (Number, `PedidoCreado` only).
pub const ATTR_TOTAL: &str = "total";
/// SNS/SQS message attribute carrying the order's priority (String,
/// `EXPRESS` or `ESTANDAR`, on every event): the express subscriptions
/// filter on it.
pub const ATTR_PRIORIDAD: &str = "prioridad";
/// SNS/SQS message attribute carrying the correlation id (String).
pub const ATTR_CORRELATION_ID: &str = "correlationId";
/// SNS/SQS message attribute carrying the W3C trace context (String, when tracing is on).
pub const ATTR_TRACEPARENT: &str = "traceparent";
/// SNS/SQS message attribute carrying W3C vendor trace state (String, only when non-empty).
pub const ATTR_TRACESTATE: &str = "tracestate";

/// The kinds of event on the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// An order was accepted.
    PedidoCreado,
    /// An order was cancelled.
    PedidoCancelado,
}

impl EventType {
    /// Every event type, for filter policies and tests.
    pub const ALL: [EventType; 2] = [EventType::PedidoCreado, EventType::PedidoCancelado];

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PedidoCreado => "PedidoCreado",
            EventType::PedidoCancelado => "PedidoCancelado",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The typed payload of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPayload {
    /// See [`PedidoCreado`].
    PedidoCreado(PedidoCreado),
    /// See [`PedidoCancelado`].
    PedidoCancelado(PedidoCancelado),
}

/// One event with its envelope metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique id of this event (not of the order).
    pub event_id: Uuid,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
    /// Request id of the HTTP call that caused the event, for tracing across services.
    pub correlation_id: String,
    /// The payload.
    pub payload: EventPayload,
}

/// Why a message body is not an event this build can apply. Every variant is
/// permanent: retrying the same body can never succeed (a poison message).
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The body is not JSON at all.
    #[error("body is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// An SNS notification whose `Message` is missing or not a JSON event.
    #[error("SNS notification envelope is malformed: {0}")]
    InvalidSnsEnvelope(String),
    /// JSON, but not our envelope (missing or mistyped envelope fields).
    #[error("not an E-ComExpress event envelope: {0}")]
    InvalidEnvelope(#[source] serde_json::Error),
    /// An `eventType` this build does not know.
    #[error("unknown eventType {0:?}")]
    UnknownEventType(String),
    /// An `eventVersion` newer than [`CURRENT_EVENT_VERSION`] (or 0).
    #[error(
        "unsupported eventVersion {version} for {event_type} (this build reads 1..={supported})"
    )]
    UnsupportedVersion {
        /// The event's type.
        event_type: EventType,
        /// The version found.
        version: u64,
        /// The newest version understood.
        supported: u32,
    },
    /// The `data` does not satisfy the payload's schema or rules.
    #[error("invalid {event_type} data: {source}")]
    InvalidData {
        /// The event's type.
        event_type: EventType,
        /// What was wrong.
        #[source]
        source: serde_json::Error,
    },
}

impl ContractError {
    /// A short stable code for the failure, used as the DLQ reason attribute and as a metric label.
    pub fn code(&self) -> &'static str {
        match self {
            ContractError::NotJson(_) => "not_json",
            ContractError::InvalidSnsEnvelope(_) => "invalid_sns_envelope",
            ContractError::InvalidEnvelope(_) => "invalid_envelope",
            ContractError::UnknownEventType(_) => "unknown_event_type",
            ContractError::UnsupportedVersion { .. } => "unsupported_event_version",
            ContractError::InvalidData { .. } => "invalid_data",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireOut<'a, D: Serialize> {
    event_id: Uuid,
    event_type: EventType,
    event_version: u32,
    occurred_at: DateTime<Utc>,
    correlation_id: &'a str,
    data: &'a D,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireIn {
    event_id: Uuid,
    event_type: String,
    event_version: u64,
    occurred_at: DateTime<Utc>,
    correlation_id: String,
    data: serde_json::Value,
}

impl Event {
    /// A new event with a fresh id, stamped now.
    pub fn new(correlation_id: impl Into<String>, payload: EventPayload) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            occurred_at: Utc::now(),
            correlation_id: correlation_id.into(),
            payload,
        }
    }

    /// The event's type.
    pub fn event_type(&self) -> EventType {
        match self.payload {
            EventPayload::PedidoCreado(_) => EventType::PedidoCreado,
            EventPayload::PedidoCancelado(_) => EventType::PedidoCancelado,
        }
    }

    /// The order the event is about.
    pub fn pedido_id(&self) -> Uuid {
        match &self.payload {
            EventPayload::PedidoCreado(p) => p.pedido_id(),
            EventPayload::PedidoCancelado(p) => p.pedido_id,
        }
    }

    /// The order's priority: the lane both events of an order travel in.
    pub fn prioridad(&self) -> Prioridad {
        match &self.payload {
            EventPayload::PedidoCreado(p) => p.prioridad(),
            EventPayload::PedidoCancelado(p) => p.prioridad,
        }
    }

    /// The order's customer, when the event names it (a `PedidoCancelado`
    /// written before it carried one does not).
    pub fn cliente_id(&self) -> Option<Uuid> {
        match &self.payload {
            EventPayload::PedidoCreado(p) => Some(p.cliente_id()),
            EventPayload::PedidoCancelado(p) => p.cliente_id,
        }
    }

    /// The message attributes the event is published with, as (name, SNS/SQS
    /// data type, value): subscriptions filter on the first two. The trace
    /// context ones ([`ATTR_TRACEPARENT`], [`ATTR_TRACESTATE`]) are the
    /// publisher's to add.
    pub fn message_attributes(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut attributes = vec![
            (
                ATTR_EVENT_TYPE,
                "String",
                self.event_type().as_str().to_owned(),
            ),
            (
                ATTR_EVENT_VERSION,
                "Number",
                CURRENT_EVENT_VERSION.to_string(),
            ),
            (ATTR_CORRELATION_ID, "String", self.correlation_id.clone()),
            (
                ATTR_PRIORIDAD,
                "String",
                self.prioridad().as_str().to_owned(),
            ),
        ];
        if let EventPayload::PedidoCreado(order) = &self.payload {
            attributes.push((ATTR_TOTAL, "Number", order.total().value().to_string()));
        }
        attributes
    }

    /// Serializes the envelope to JSON (version [`CURRENT_EVENT_VERSION`]).
    pub fn to_json(&self) -> String {
        fn wire<D: Serialize>(event: &Event, data: &D) -> String {
            let out = WireOut {
                event_id: event.event_id,
                event_type: event.event_type(),
                event_version: CURRENT_EVENT_VERSION,
                occurred_at: event.occurred_at,
                correlation_id: &event.correlation_id,
                data,
            };
            // Serializing plain structs of strings and numbers cannot fail.
            serde_json::to_string(&out).unwrap_or_default()
        }
        match &self.payload {
            EventPayload::PedidoCreado(d) => wire(self, d),
            EventPayload::PedidoCancelado(d) => wire(self, d),
        }
    }

    /// Parses an SQS message body: either the raw event (raw message delivery)
    /// or an SNS notification (`{"Type":"Notification","Message":"…"}`) around it.
    pub fn parse_message_body(body: &str) -> Result<Self, ContractError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(ContractError::NotJson)?;
        let value = match unwrap_sns_notification(&value)? {
            Some(inner) => inner,
            None => value,
        };
        Self::from_value(value)
    }

    fn from_value(value: serde_json::Value) -> Result<Self, ContractError> {
        let wire: WireIn = serde_json::from_value(value).map_err(ContractError::InvalidEnvelope)?;
        let event_type = EventType::parse(&wire.event_type)
            .ok_or_else(|| ContractError::UnknownEventType(wire.event_type.clone()))?;
        if wire.event_version == 0 || wire.event_version > u64::from(CURRENT_EVENT_VERSION) {
            return Err(ContractError::UnsupportedVersion {
                event_type,
                version: wire.event_version,
                supported: CURRENT_EVENT_VERSION,
            });
        }
        let invalid = |source| ContractError::InvalidData { event_type, source };
        let payload = match event_type {
            EventType::PedidoCreado => {
                EventPayload::PedidoCreado(serde_json::from_value(wire.data).map_err(invalid)?)
            }
            EventType::PedidoCancelado => {
                EventPayload::PedidoCancelado(serde_json::from_value(wire.data).map_err(invalid)?)
            }
        };
        Ok(Self {
            event_id: wire.event_id,
            occurred_at: wire.occurred_at,
            correlation_id: wire.correlation_id,
            payload,
        })
    }
}

/// Returns the inner event when `value` is an SNS notification envelope.
fn unwrap_sns_notification(
    value: &serde_json::Value,
) -> Result<Option<serde_json::Value>, ContractError> {
    let Some(object) = value.as_object() else {
        return Ok(None);
    };
    if object.get("Type").and_then(|t| t.as_str()) != Some("Notification") {
        return Ok(None);
    }
    let message = object
        .get("Message")
        .and_then(|m| m.as_str())
        .ok_or_else(|| {
            ContractError::InvalidSnsEnvelope("`Message` is missing or not a string".into())
        })?;
    serde_json::from_str(message)
        .map(Some)
        .map_err(|e| ContractError::InvalidSnsEnvelope(format!("`Message` is not JSON: {e}")))
}

#[cfg(test)]
mod tests;
