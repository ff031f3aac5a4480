//! The SNS subscription DLQ (`--subscription`): what SNS could not deliver to
//! the role's queue, in either shape SNS stores it (raw, or inside the SNS
//! notification JSON), recovered as the queue should have received it; peeked,
//! and redriven by sending each event to the queue (move tasks do not take
//! messages that came from SNS).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use serde::Serialize;
use serde_json::Value;
use shared::contract::Event;

use super::manual::{Outgoing, drain};
use super::messages::{attribute, attributes_but, browse, system_attribute};
use super::{DlqError, RedriveReport};

/// Attributes a dead-letter queue may carry about the failure rather than the
/// event (documented for Lambda's DLQs; SNS adds none on LocalStack): shown
/// as the reason, never delivered.
pub const FAILURE_ATTRIBUTES: [&str; 3] = ["ErrorCode", "ErrorMessage", "RequestID"];

/// How SNS put an undelivered event in the subscription DLQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// The event as published, its message attributes as SQS message
    /// attributes (a subscription with raw message delivery, as ours are).
    Raw,
    /// The SNS notification JSON around it (`Type`, `Message`,
    /// `MessageAttributes` of `{Type, Value}`), as without raw delivery.
    SnsEnvelope,
}

/// An undelivered event as the queue should have received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// How the DLQ message held it.
    pub shape: Shape,
    /// The event, as published.
    pub body: String,
    /// Its message attributes, as the subscription (raw message delivery)
    /// sets them on the queue's message.
    pub attributes: HashMap<String, MessageAttributeValue>,
    /// The SNS envelope's `MessageId`, `TopicArn` and `Timestamp`.
    pub notification: Option<(String, String, String)>,
    /// Why delivery failed, when the DLQ message says.
    pub reason: Option<String>,
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A message attribute from an SNS envelope's `{"Type": .., "Value": ..}`
/// (binary values are base64 there).
fn envelope_attribute(name: &str, value: &Value) -> Result<MessageAttributeValue, String> {
    let (Some(data_type), Some(raw)) = (
        value.get("Type").and_then(Value::as_str),
        value.get("Value").and_then(Value::as_str),
    ) else {
        return Err(format!("message attribute {name} has no Type and Value"));
    };
    let builder = MessageAttributeValue::builder().data_type(data_type);
    let builder = if data_type.starts_with("Binary") {
        let bytes = aws_smithy_types::base64::decode(raw)
            .map_err(|e| format!("message attribute {name} is not base64: {e}"))?;
        builder.binary_value(Blob::new(bytes))
    } else {
        builder.string_value(raw)
    };
    builder
        .build()
        .map_err(|e| format!("message attribute {name}: {e}"))
}

/// A message attribute of `data_type` with a text value.
pub(super) fn text_attribute(data_type: &str, value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .ok()
}

/// Recovers what SNS would have delivered from a subscription DLQ message, in
/// either shape. Attributes the event's publisher sets and the DLQ message
/// lacks are filled in from the event itself, so the queue's message carries
/// `eventType`, `eventVersion`, `correlationId` (and `total`) either way.
pub fn recover(message: &Message) -> Result<Delivery, String> {
    let body = message.body().unwrap_or_default();
    let reason = match (
        attribute(message, "ErrorCode"),
        attribute(message, "ErrorMessage"),
    ) {
        (None, None) => None,
        (code, text) => Some(
            [code, text]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": "),
        ),
    };
    let envelope = serde_json::from_str::<Value>(body)
        .ok()
        .filter(|v| v.get("Type").and_then(Value::as_str) == Some("Notification"));
    let mut delivery = match envelope {
        Some(envelope) => {
            let event =
                text(&envelope, "Message").ok_or("an SNS notification without a string Message")?;
            let mut attributes = HashMap::new();
            if let Some(map) = envelope.get("MessageAttributes").and_then(Value::as_object) {
                for (name, value) in map {
                    attributes.insert(name.clone(), envelope_attribute(name, value)?);
                }
            }
            let notification = ["MessageId", "TopicArn", "Timestamp"]
                .map(|k| text(&envelope, k).unwrap_or_default());
            let [id, topic, at] = notification;
            Delivery {
                shape: Shape::SnsEnvelope,
                body: event,
                attributes,
                notification: Some((id, topic, at)),
                reason,
            }
        }
        None => Delivery {
            shape: Shape::Raw,
            body: body.to_owned(),
            attributes: attributes_but(message, &FAILURE_ATTRIBUTES),
            notification: None,
            reason,
        },
    };
    if let Ok(event) = Event::parse_message_body(&delivery.body) {
        for (name, data_type, value) in event.message_attributes() {
            if !delivery.attributes.contains_key(name)
                && let Some(value) = text_attribute(data_type, &value)
            {
                delivery.attributes.insert(name.to_owned(), value);
            }
        }
    }
    Ok(delivery)
}

/// An event in the subscription DLQ as `peek --subscription` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndeliveredEvent {
    /// Message id in the subscription DLQ.
    pub message_id: String,
    /// How SNS stored it (`raw` or `sns-envelope`; `null` when it cannot be read).
    pub shape: Option<Shape>,
    /// Why SNS could not deliver it, when the message says (SNS usually does
    /// not: see the topic's delivery status logs and NumberOfNotificationsFailed).
    pub reason: Option<String>,
    /// The event's `eventId`, `eventType` and `data.pedidoId`.
    pub event_id: Option<String>,
    /// See `event_id`.
    pub event_type: Option<String>,
    /// See `event_id`.
    pub pedido_id: Option<String>,
    /// The SNS message id and publish time (envelope only).
    pub sns_message_id: Option<String>,
    /// See `sns_message_id`.
    pub published_at: Option<String>,
    /// When SNS put it in the DLQ.
    pub dead_lettered_at: Option<String>,
    /// Times received from the DLQ so far.
    pub receive_count: Option<String>,
    /// The message attributes it would be delivered with (binary ones as `<binary>`).
    pub attributes: BTreeMap<String, String>,
    /// The event, as it would be delivered.
    pub event: String,
    /// Why `redrive --subscription` would leave it in the DLQ, if it would.
    pub problem: Option<String>,
}

impl UndeliveredEvent {
    fn of(message: &Message) -> Self {
        let recovered = recover(message);
        let delivery = recovered.as_ref().ok();
        let event = delivery.map_or_else(
            || message.body().unwrap_or_default().to_owned(),
            |d| d.body.clone(),
        );
        let parsed: Value = serde_json::from_str(&event).unwrap_or(Value::Null);
        let field = |pointer: &str| {
            parsed
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let notification = delivery.and_then(|d| d.notification.clone());
        Self {
            message_id: message.message_id().unwrap_or_default().to_owned(),
            shape: delivery.map(|d| d.shape),
            reason: delivery.and_then(|d| d.reason.clone()),
            event_id: field("/eventId"),
            event_type: field("/eventType"),
            pedido_id: field("/data/pedidoId"),
            sns_message_id: notification.as_ref().map(|n| n.0.clone()),
            published_at: notification.map(|n| n.2),
            dead_lettered_at: system_attribute(message, &MessageSystemAttributeName::SentTimestamp)
                .and_then(|ms| ms.parse().ok())
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339()),
            receive_count: system_attribute(
                message,
                &MessageSystemAttributeName::ApproximateReceiveCount,
            ),
            attributes: delivery
                .map(|d| {
                    d.attributes
                        .iter()
                        .map(|(k, v)| {
                            let value = v.string_value.clone().unwrap_or_else(|| "<binary>".into());
                            (k.clone(), value)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            event,
            problem: recovered.err(),
        }
    }
}

/// Lists up to `max` events of the subscription DLQ without consuming them.
pub async fn peek_subscription(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    max: usize,
) -> Result<Vec<UndeliveredEvent>, DlqError> {
    Ok(browse(sqs, dlq_url, max)
        .await?
        .iter()
        .map(UndeliveredEvent::of)
        .collect())
}

/// Delivers every event of the subscription DLQ to the role's queue as the
/// subscription would have (raw message delivery: the event as the body, its
/// attributes as message attributes), deleting each from the DLQ only once
/// sent. The DLQ is shared by the role's two subscriptions: with
/// `express_queue_url`, an event whose `prioridad` attribute is EXPRESS goes
/// to the express queue, as its subscription would have sent it. Safe to run
/// again after any failure: an event sent twice is applied once (the
/// workers deduplicate per role, event type and order).
pub async fn redrive_subscription(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    express_queue_url: Option<&str>,
    subscription_dlq_url: &str,
) -> Result<RedriveReport, DlqError> {
    drain(sqs, subscription_dlq_url, queue_url, |m| {
        let delivery = recover(m)?;
        Ok(Outgoing {
            to: lane_queue(&delivery, express_queue_url),
            body: delivery.body,
            attributes: delivery.attributes,
            // SNS FIFO: the deduplication id the topic delivered with.
            deduplication_id: system_attribute(
                m,
                &MessageSystemAttributeName::MessageDeduplicationId,
            ),
        })
    })
    .await
}

/// The express queue for an EXPRESS event when the role has one, else
/// `None` (the role's standard queue).
fn lane_queue(delivery: &Delivery, express_queue_url: Option<&str>) -> Option<String> {
    let express = delivery
        .attributes
        .get(shared::contract::ATTR_PRIORIDAD)
        .and_then(MessageAttributeValue::string_value)
        == Some(shared::contract::Prioridad::Express.as_str());
    express_queue_url.filter(|_| express).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(data_type: &str, value: &str) -> MessageAttributeValue {
        text_attribute(data_type, value).expect("attribute")
    }

    fn sample_event() -> String {
        serde_json::json!({
            "eventId": "0b6f1c1e-8f0a-4a7e-9d55-1f0c8d8b8a01", "eventType": "PedidoCreado",
            "eventVersion": 1, "occurredAt": "2026-11-23T10:00:00Z", "correlationId": "req-1",
            "data": {
                "pedidoId": "7d1e1c52-4a43-4c49-9d1c-0a0c5b1e8b11",
                "clienteId": "6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11",
                "fecha": "2026-11-23T10:00:00Z", "total": "20001.00", "moneda": "CLP",
                "items": [{"sku": "SKU-001", "cantidad": 2, "precioUnitario": "10000.50"}],
                "direccionEnvio": {"calle": "Av. Providencia 1234", "ciudad": "Santiago", "region": "RM", "pais": "CL"}
            }
        })
        .to_string()
    }

    #[test]
    fn an_express_event_goes_back_to_the_express_queue_when_there_is_one() {
        let kept = |prioridad: &str| {
            let message = Message::builder()
                .message_id("m-1")
                .body(sample_event())
                .message_attributes("eventType", string("String", "PedidoCreado"))
                .message_attributes("prioridad", string("String", prioridad))
                .build();
            recover(&message).expect("recovered")
        };
        let express = Some("http://h/1/q-express");
        assert_eq!(
            lane_queue(&kept("EXPRESS"), express).as_deref(),
            express,
            "to the express queue"
        );
        assert_eq!(lane_queue(&kept("ESTANDAR"), express), None, "standard");
        assert_eq!(lane_queue(&kept("EXPRESS"), None), None, "no express lane");
    }

    #[test]
    fn recovers_a_raw_delivery_with_its_attributes_and_the_reason() {
        let message = Message::builder()
            .message_id("m-1")
            .body(sample_event())
            .message_attributes("eventType", string("String", "PedidoCreado"))
            .message_attributes("traceparent", string("String", "00-abc-def-01"))
            .message_attributes("ErrorCode", string("String", "403"))
            .message_attributes("ErrorMessage", string("String", "access denied"))
            .build();
        let delivery = recover(&message).expect("recovered");
        assert_eq!(delivery.shape, Shape::Raw);
        assert_eq!(delivery.body, sample_event());
        assert_eq!(delivery.reason.as_deref(), Some("403: access denied"));
        let names: std::collections::BTreeSet<&str> =
            delivery.attributes.keys().map(String::as_str).collect();
        // Its own attributes, the failure's dropped, the publisher's missing ones filled in.
        assert_eq!(
            names,
            [
                "correlationId",
                "eventType",
                "eventVersion",
                "prioridad",
                "total",
                "traceparent"
            ]
            .into()
        );
        // As the API publishes it.
        assert_eq!(delivery.attributes["total"], string("Number", "20001"));
    }

    #[test]
    fn recovers_an_sns_envelope_with_its_attributes() {
        let envelope = serde_json::json!({
            "Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Message": sample_event(), "Timestamp": "2026-12-05T11:13:40.738Z",
            "MessageAttributes": {
                "eventType": {"Type": "String", "Value": "PedidoCreado"},
                "total": {"Type": "Number", "Value": "20001.00"},
                "blob": {"Type": "Binary", "Value": "aGk="}
            }
        });
        let message = Message::builder().body(envelope.to_string()).build();
        let delivery = recover(&message).expect("recovered");
        assert_eq!(delivery.shape, Shape::SnsEnvelope);
        assert_eq!(delivery.body, sample_event());
        assert_eq!(delivery.reason, None);
        assert_eq!(
            delivery.notification,
            Some((
                "sns-1".into(),
                "arn:aws:sns:us-east-1:1:t".into(),
                "2026-12-05T11:13:40.738Z".into()
            ))
        );
        assert_eq!(
            delivery.attributes["eventType"],
            string("String", "PedidoCreado")
        );
        assert_eq!(delivery.attributes["total"], string("Number", "20001.00"));
        assert_eq!(
            delivery.attributes["blob"]
                .binary_value()
                .map(|b| b.as_ref().to_vec()),
            Some(b"hi".to_vec())
        );
        assert!(delivery.attributes.contains_key("correlationId"));

        let broken = Message::builder()
            .body(r#"{"Type":"Notification","Message":{"not":"a string"}}"#)
            .build();
        assert!(recover(&broken).is_err());
        let shown = UndeliveredEvent::of(&broken);
        assert!(
            shown.problem.is_some() && shown.shape.is_none(),
            "{shown:?}"
        );
    }
}
