//! The AsyncAPI 3.0 document of the order events: the topic, the two
//! messages with their payload schemas (generated from the contract types,
//! see `schema.rs`) and their message attributes, order-api's `send` and the
//! workers' `receive` operations. order-api serves it at `/asyncapi.json`.

use serde_json::{Map, Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

use crate::orders_table::WorkerRole;

use super::{
    ATTR_CORRELATION_ID, ATTR_EVENT_TYPE, ATTR_EVENT_VERSION, ATTR_PRIORIDAD, ATTR_TOTAL,
    ATTR_TRACEPARENT, ATTR_TRACESTATE, CURRENT_EVENT_VERSION, Event, EventPayload, EventType,
    Prioridad,
};

/// The AsyncAPI version the document follows.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// Id of the topic's channel in the document.
pub const CHANNEL: &str = "pedidosEventos";

/// Most message attributes SQS accepts on one message.
pub const SQS_MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// `maxReceiveCount` of the queues' redrive policy (`max_receive_count` in
/// `infra/modules/messaging`): receives before SQS moves a message to the DLQ.
pub const MAX_RECEIVE_COUNT: u32 = 5;

/// Prefix of the resource names when the document is built without a topic
/// (`name_prefix` in `infra/modules/messaging`).
pub const DEFAULT_NAME_PREFIX: &str = "ecomexpress";

/// The name of the topic after the prefix (`<prefix>-pedidos-eventos[.fifo]`).
const TOPIC_NAME_SUFFIX: &str = "-pedidos-eventos";

/// The checked-in sample events, used as the messages' examples.
const SAMPLE_CREADO: &str = include_str!("../../tests/fixtures/pedido_creado_v1.json");
const SAMPLE_CANCELADO: &str = include_str!("../../tests/fixtures/pedido_cancelado_v1.json");

/// A worker role: its queue is subscribed to the topic and receives the
/// event types its filter policy lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    /// The role (`sqs-worker --role`), also its queue's name after the prefix.
    pub role: WorkerRole,
    /// What the role does with the events.
    pub summary: &'static str,
    /// The event types of the subscription's filter policy on `eventType`
    /// (`event_types_by_queue` in `infra/modules/messaging`).
    pub event_types: &'static [EventType],
}

/// The topic's queue subscribers, one per worker role.
pub const SUBSCRIBERS: [Subscriber; 2] = [
    Subscriber {
        role: WorkerRole::Procesamiento,
        summary: "Records the order and its state (estado PROCESADO or CANCELADO) in the orders table.",
        event_types: &EventType::ALL,
    },
    Subscriber {
        role: WorkerRole::Logistica,
        summary: "Schedules the shipment (envío PROGRAMADO with a tracking number) or cancels it.",
        event_types: &EventType::ALL,
    },
];

/// The names of the topic and the queues, as `infra/modules/messaging` makes them.
struct Names {
    topic: String,
    prefix: String,
    fifo: bool,
}

impl Names {
    fn new(topic_arn: Option<&str>) -> Self {
        let Some(arn) = topic_arn else {
            return Self {
                topic: format!("{DEFAULT_NAME_PREFIX}{TOPIC_NAME_SUFFIX}"),
                prefix: DEFAULT_NAME_PREFIX.to_owned(),
                fifo: false,
            };
        };
        let topic = arn.rsplit(':').next().unwrap_or(arn).to_owned();
        let fifo = topic.ends_with(".fifo");
        let prefix = topic
            .trim_end_matches(".fifo")
            .strip_suffix(TOPIC_NAME_SUFFIX)
            .unwrap_or("<name_prefix>")
            .to_owned();
        Self {
            topic,
            prefix,
            fifo,
        }
    }

    fn suffix(&self) -> &'static str {
        if self.fifo { ".fifo" } else { "" }
    }

    fn queue(&self, role: WorkerRole) -> String {
        format!("{}-{role}{}", self.prefix, self.suffix())
    }

    fn dlq(&self, role: WorkerRole) -> String {
        format!("{}-{role}-dlq{}", self.prefix, self.suffix())
    }

    fn express_queue(&self, role: WorkerRole) -> String {
        format!("{}-{role}-express{}", self.prefix, self.suffix())
    }

    fn express_dlq(&self, role: WorkerRole) -> String {
        format!("{}-{role}-express-dlq{}", self.prefix, self.suffix())
    }

    fn delivery_dlq(&self, role: WorkerRole) -> String {
        format!("{}-{role}-delivery-dlq{}", self.prefix, self.suffix())
    }
}

/// The AsyncAPI 3.0 document. `topic_arn` is the topic the events are
/// published to (order-api's `SNS_TOPIC_ARN`): the channel's address and the
/// queue names follow from it. Without it the address is the `{topicArn}`
/// parameter and the names are the default ones.
pub fn document(topic_arn: Option<&str>) -> Value {
    let names = Names::new(topic_arn);
    json!({
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:ecomexpress:pedidos-eventos",
        "info": {
            "title": "E-ComExpress order events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": INFO_DESCRIPTION,
            "tags": [{"name": "pedidos", "description": "Order events"}],
        },
        "defaultContentType": "application/json",
        "channels": { CHANNEL: channel(topic_arn, &names) },
        "operations": operations(&names),
        "components": {
            "messages": Value::Object(EventType::ALL.into_iter().map(|t| (t.as_str().to_owned(), message(t))).collect()),
            "schemas": schemas(),
        },
    })
}

const INFO_DESCRIPTION: &str = "\
Every change of an order is published as one JSON event on an SNS topic: \
order-api records the event with the order in DynamoDB (the outbox), answers, \
and publishes it; the outbox relay publishes whatever is still unpublished \
some seconds later. The topic fans it out to two SQS queues per worker role, \
the standard and the express lane (raw message delivery: the SQS message body \
is the event itself, and the SNS message attributes become SQS message \
attributes).

* **Priority**: every event carries its order's `prioridad` (`EXPRESS` or \
`ESTANDAR`, default `ESTANDAR`) in `data` and as the `prioridad` message \
attribute; a `PedidoCancelado` carries its order's, so both events of an \
order travel in the same lane. The express queues take `EXPRESS` events and \
the workers drain them first; the standard queues take the rest.

* **Envelope**: `eventId`, `eventType`, `eventVersion`, `occurredAt`, \
`correlationId` and the type's `data`. Money is a decimal string, never a JSON \
number; ids are UUID strings.
* **Compatibility**: the contract only grows backwards-compatibly. Readers \
ignore unknown members and reject an unknown `eventType` or an `eventVersion` \
newer than they know (the worker dead-letters such a message with its reason).
* **Delivery** is at least once and, on a standard topic, in no particular \
order: consumers apply each event once per order (`pedidoId` and \
`eventType`), whatever its `eventId`, and a `PedidoCancelado` may arrive \
before its `PedidoCreado`.";

fn channel(topic_arn: Option<&str>, names: &Names) -> Value {
    let messages: Map<String, Value> = EventType::ALL
        .into_iter()
        .map(|t| {
            (
                t.as_str().to_owned(),
                reference(&format!("#/components/messages/{t}")),
            )
        })
        .collect();
    let mut channel = json!({
        "title": "Order events topic",
        "description": format!(
            "The SNS topic `{}` ({}). Subscribed by two SQS queues per worker role (the \
             standard and the express lane), each with a filter policy on the `eventType` \
             and `prioridad` message attributes; optionally by an e-mail address and an \
             SMS number for high-value orders (filter on `total`), and by partners' HTTPS \
             endpoints.",
            names.topic,
            if names.fifo {
                "FIFO: `MessageGroupId` = `pedidoId`, deduplication id `pedidoId:eventType`"
            } else {
                "standard: `MessageGroupId` = the order's `clienteId` unless order-api's \
                 SNS_FAIR_GROUP_IDS is false, so the standard queues run as SQS fair queues \
                 and one customer's flood does not hold back the others"
            },
        ),
        "messages": messages,
        "bindings": {
            "sns": {
                "name": names.topic,
                "ordering": {"type": if names.fifo { "FIFO" } else { "standard" }},
                "bindingVersion": "0.1.0",
            },
        },
    });
    match topic_arn {
        Some(arn) => channel["address"] = json!(arn),
        None => {
            channel["address"] = json!("{topicArn}");
            channel["parameters"] = json!({
                "topicArn": {
                    "description": "ARN of the topic (order-api's SNS_TOPIC_ARN).",
                    "examples": [format!("arn:aws:sns:us-east-1:123456789012:{}", names.topic)],
                },
            });
        }
    }
    channel
}

fn reference(target: &str) -> Value {
    json!({ "$ref": target })
}

fn message_refs<'a>(types: impl IntoIterator<Item = &'a EventType>) -> Vec<Value> {
    types
        .into_iter()
        .map(|t| reference(&format!("#/channels/{CHANNEL}/messages/{t}")))
        .collect()
}

/// The filter policy of a role's subscription in one lane
/// (`queue_filter_policies` and `express_filter_policies` in
/// `infra/modules/messaging`): the standard lane takes ESTANDAR and events
/// without the attribute (published by a build before priorities).
fn filter_policy(subscriber: &Subscriber, prioridad: Prioridad) -> Value {
    let event_types: Vec<&str> = subscriber.event_types.iter().map(|t| t.as_str()).collect();
    match prioridad {
        Prioridad::Express => json!({
            ATTR_EVENT_TYPE: event_types,
            ATTR_PRIORIDAD: [Prioridad::Express.as_str()],
        }),
        Prioridad::Estandar => json!({
            ATTR_EVENT_TYPE: event_types,
            "$or": [
                { ATTR_PRIORIDAD: [Prioridad::Estandar.as_str()] },
                { ATTR_PRIORIDAD: [{"exists": false}] },
            ],
        }),
    }
}

fn operations(names: &Names) -> Value {
    let channel = reference(&format!("#/channels/{CHANNEL}"));
    let consumers: Vec<Value> = SUBSCRIBERS
        .iter()
        .flat_map(|s| {
            [
                (names.queue(s.role), Prioridad::Estandar),
                (names.express_queue(s.role), Prioridad::Express),
            ]
            .map(|(queue, prioridad)| {
                let mut consumer = json!({
                    "protocol": "sqs",
                    "endpoint": {"name": queue},
                    "filterPolicyScope": "MessageAttributes",
                    "rawMessageDelivery": true,
                    "redrivePolicy": {"deadLetterQueue": {"name": names.delivery_dlq(s.role)}},
                });
                // The SNS binding 0.1.0 takes a key's matches as strings or one
                // object: the standard lane's `$or` (ESTANDAR, or no attribute)
                // goes in an extension, exactly as SNS gets it.
                let policy = filter_policy(s, prioridad);
                let key = if policy.get("$or").is_some() {
                    "x-filterPolicy"
                } else {
                    "filterPolicy"
                };
                consumer[key] = policy;
                consumer
            })
        })
        .collect();
    let mut operations = Map::new();
    operations.insert(
        "publishPedidoEvent".into(),
        json!({
            "action": "send",
            "channel": channel,
            "title": "order-api publishes an order event",
            "summary": "PedidoCreado when an order is accepted (POST /api/pedidos), PedidoCancelado \
                        when it is cancelled (POST /api/pedidos/{pedidoId}/cancelacion).",
            "description": "A 202 means the event is recorded durably with the order (the outbox); \
                            order-api publishes it right after answering, and `order-api relay` \
                            publishes every recorded event no worker has received within \
                            RELAY_STALE_SECS (default 10 s). Publication is at least once: on the \
                            happy path exactly once per event; the relay publishes an event at most \
                            once more however long the workers are away. A retried request is \
                            answered from the record and publishes nothing; consumers apply each \
                            order event once whatever its eventId.",
            "messages": message_refs(&EventType::ALL),
            "bindings": {"sns": {"consumers": consumers, "bindingVersion": "0.1.0"}},
        }),
    );
    for subscriber in &SUBSCRIBERS {
        let queue = names.queue(subscriber.role);
        let dlq = names.dlq(subscriber.role);
        let express = names.express_queue(subscriber.role);
        let express_dlq = names.express_dlq(subscriber.role);
        operations.insert(
            format!("receive{}", capitalized(subscriber.role.as_str())),
            json!({
                "action": "receive",
                "channel": channel,
                "title": format!("sqs-worker --role {}", subscriber.role),
                "summary": subscriber.summary,
                "description": format!(
                    "Receives from the express queue `{express}` (subscription filter policy \
                     `{}` on the message attributes) first and from the standard queue \
                     `{queue}` (`{}`), which still gets a share of the receives while the \
                     express one has messages. Each event is applied once per order \
                     with one conditional DynamoDB write; a failed message is retried with \
                     backoff and moved to its lane's DLQ (`{express_dlq}`, `{dlq}`) after \
                     {MAX_RECEIVE_COUNT} receives, a message that can never be applied (not \
                     JSON, unknown eventType, newer eventVersion, invalid data) at once, with \
                     its reason.",
                    filter_policy(subscriber, Prioridad::Express),
                    filter_policy(subscriber, Prioridad::Estandar),
                ),
                "messages": message_refs(subscriber.event_types),
                "bindings": {
                    "sqs": {
                        "queues": [
                            {
                                "name": queue,
                                "fifoQueue": names.fifo,
                                "redrivePolicy": {
                                    "deadLetterQueue": {"name": dlq},
                                    "maxReceiveCount": MAX_RECEIVE_COUNT,
                                },
                            },
                            {"name": dlq, "fifoQueue": names.fifo},
                            {
                                "name": express,
                                "fifoQueue": names.fifo,
                                "redrivePolicy": {
                                    "deadLetterQueue": {"name": express_dlq},
                                    "maxReceiveCount": MAX_RECEIVE_COUNT,
                                },
                            },
                            {"name": express_dlq, "fifoQueue": names.fifo},
                        ],
                        "bindingVersion": "0.2.0",
                    },
                },
            }),
        );
    }
    Value::Object(operations)
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn message(event_type: EventType) -> Value {
    let (summary, sample) = match event_type {
        EventType::PedidoCreado => ("An order was accepted.", SAMPLE_CREADO),
        EventType::PedidoCancelado => ("An order was cancelled.", SAMPLE_CANCELADO),
    };
    let payload: Value = serde_json::from_str(sample).unwrap_or(Value::Null);
    json!({
        "name": event_type.as_str(),
        "title": event_type.as_str(),
        "summary": summary,
        "contentType": "application/json",
        "headers": headers(event_type),
        "payload": reference(&format!("#/components/schemas/{}", event_type.envelope_schema_name())),
        "examples": [{
            "name": format!("{event_type}V1"),
            "summary": "The checked-in sample (crates/shared/tests/fixtures).",
            "headers": example_headers(sample),
            "payload": payload,
        }],
    })
}

/// One message attribute: its SNS data type, whether every event of the
/// type carries it, and the schema of its value.
struct Attribute {
    name: &'static str,
    data_type: &'static str,
    always: bool,
    schema: Value,
}

fn attributes(event_type: EventType) -> Vec<Attribute> {
    let mut attributes = vec![
        Attribute {
            name: ATTR_EVENT_TYPE,
            data_type: "String",
            always: true,
            schema: json!({
                "type": "string",
                "enum": [event_type.as_str()],
                "description": "The event type; the queues' subscriptions filter on it.",
            }),
        },
        Attribute {
            name: ATTR_EVENT_VERSION,
            data_type: "Number",
            always: true,
            schema: json!({
                "type": "integer",
                "minimum": 1,
                "maximum": CURRENT_EVENT_VERSION,
                "description": "The envelope's eventVersion.",
            }),
        },
        Attribute {
            name: ATTR_CORRELATION_ID,
            data_type: "String",
            always: true,
            schema: json!({
                "type": "string",
                "description": "The envelope's correlationId (the request's x-request-id).",
            }),
        },
        Attribute {
            name: ATTR_PRIORIDAD,
            data_type: "String",
            always: true,
            schema: json!({
                "type": "string",
                "enum": Prioridad::ALL.map(Prioridad::as_str),
                "description": format!(
                    "The order's priority (`data.prioridad`; a PedidoCancelado carries its \
                     order's): the express subscriptions take {express}, the standard ones \
                     {estandar} or no attribute at all (an event published by a build \
                     before priorities).",
                    express = Prioridad::Express,
                    estandar = Prioridad::Estandar,
                ),
            }),
        },
    ];
    if event_type == EventType::PedidoCreado {
        attributes.push(Attribute {
            name: ATTR_TOTAL,
            data_type: "Number",
            always: true,
            schema: json!({
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "The order total as an SNS Number (trailing zeros dropped: \
                                \"25001\" for \"25001.00\"), for filter policies such as the \
                                high-value e-mail subscription's `total >= threshold`.",
            }),
        });
    }
    attributes.push(Attribute {
        name: ATTR_TRACEPARENT,
        data_type: "String",
        always: false,
        schema: json!({
            "type": "string",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            "description": "W3C Trace Context `traceparent` of the publishing request's span; \
                            present only when tracing is on.",
        }),
    });
    attributes.push(Attribute {
        name: ATTR_TRACESTATE,
        data_type: "String",
        always: false,
        schema: json!({
            "type": "string",
            "description": "W3C Trace Context `tracestate` (vendor trace state); present only \
                            when tracing is on and the state is not empty.",
        }),
    });
    attributes
}

fn headers(event_type: EventType) -> Value {
    let attributes = attributes(event_type);
    let properties: Map<String, Value> = attributes
        .iter()
        .map(|a| {
            let mut schema = a.schema.clone();
            schema["x-sns-data-type"] = json!(a.data_type);
            (a.name.to_owned(), schema)
        })
        .collect();
    let required: Vec<&str> = attributes
        .iter()
        .filter(|a| a.always)
        .map(|a| a.name)
        .collect();
    json!({
        "type": "object",
        "description": format!(
            "The SNS message attributes, which raw message delivery copies to the SQS \
             message attributes; `x-sns-data-type` is each one's DataType (a Number travels \
             as its decimal string). SQS accepts at most {SQS_MAX_MESSAGE_ATTRIBUTES} \
             message attributes per message: a {event_type} carries {} to {}.",
            required.len(),
            attributes.len(),
        ),
        "required": required,
        "properties": properties,
    })
}

/// The attributes order-api sets on a sample event (tracing off).
fn example_headers(sample: &str) -> Value {
    let Ok(event) = Event::parse_message_body(sample) else {
        return json!({});
    };
    let mut headers = json!({
        ATTR_EVENT_TYPE: event.event_type().as_str(),
        ATTR_EVENT_VERSION: CURRENT_EVENT_VERSION,
        ATTR_CORRELATION_ID: event.correlation_id,
        ATTR_PRIORIDAD: event.prioridad().as_str(),
    });
    if let EventPayload::PedidoCreado(order) = &event.payload {
        let total = order.total().value().normalize().to_string();
        headers[ATTR_TOTAL] = serde_json::from_str(&total).unwrap_or(Value::Null);
    }
    headers
}

/// Every schema the messages refer to, by name, from the contract types.
fn schemas() -> Value {
    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    schemas.push((Event::name().into_owned(), Event::schema()));
    Event::schemas(&mut schemas);
    let map: Map<String, Value> = schemas
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null)))
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests;
