//! JSON Schemas (utoipa `ToSchema`) of the contract types exactly as they
//! travel: the value types, whose serde form is a checked string or integer,
//! and the event envelope, which `Event::to_json` writes by hand. The payloads'
//! schemas are derived next to their types (`pedido.rs`) and refer to these;
//! the AsyncAPI document (`asyncapi.rs`) collects them all.

use std::borrow::Cow;

use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::values::{Amount, BoundedText, Currency, Quantity, Sku};
use super::{CURRENT_EVENT_VERSION, Event, EventPayload, EventType, PedidoCancelado, PedidoCreado};

/// An [`Amount`] as written: a decimal string with exactly two decimals,
/// greater than 0, without sign, exponent or leading zeros.
pub const AMOUNT_PATTERN: &str = r"^(?!0\.00$)(0|[1-9][0-9]{0,12})\.[0-9]{2}$";

/// A [`Currency`]: an ISO 4217 code.
pub const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";

/// A [`Sku`]: printable ASCII without spaces.
pub const SKU_PATTERN: &str = "^[!-~]+$";

/// A [`BoundedText`] as written: trimmed, so it starts and ends with a
/// non-space character (and `.` matches no line break).
pub const TEXT_PATTERN: &str = r"^\S(.*\S)?$";

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn uuid(description: &str) -> ObjectBuilder {
    string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .description(Some(description))
}

impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        string()
            .description(Some(
                "An amount of money greater than 0 and at most 10^12, in the order's currency: \
                 a decimal string, never a JSON number, so no consumer rounds it. Written with \
                 exactly two decimals (\"25001.00\"); readers also accept 0 to 2 decimals.",
            ))
            .pattern(Some(AMOUNT_PATTERN))
            .examples(["10000.50"])
            .into()
    }
}

impl ToSchema for Amount {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Amount")
    }
}

impl PartialSchema for Quantity {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .description(Some("Units of one line item."))
            .minimum(Some(Quantity::MIN))
            .maximum(Some(Quantity::MAX))
            .examples([2])
            .into()
    }
}

impl ToSchema for Quantity {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Quantity")
    }
}

impl PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        string()
            .description(Some("ISO 4217 currency code: three upper-case letters."))
            .pattern(Some(CURRENCY_PATTERN))
            .examples([Currency::CLP.as_str()])
            .into()
    }
}

impl ToSchema for Currency {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Currency")
    }
}

impl PartialSchema for Sku {
    fn schema() -> RefOr<Schema> {
        string()
            .description(Some(
                "Stock-keeping unit: printable ASCII characters without spaces.",
            ))
            .min_length(Some(1))
            .max_length(Some(Sku::MAX_LEN))
            .pattern(Some(SKU_PATTERN))
            .examples(["SKU-001"])
            .into()
    }
}

impl ToSchema for Sku {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Sku")
    }
}

impl<const MAX: usize> PartialSchema for BoundedText<MAX> {
    fn schema() -> RefOr<Schema> {
        string()
            .description(Some(format!(
                "Text of 1 to {MAX} characters, trimmed, without control, \
                 bidirectional-override or byte-order-mark characters."
            )))
            .min_length(Some(1))
            .max_length(Some(MAX))
            .pattern(Some(TEXT_PATTERN))
            .into()
    }
}

impl<const MAX: usize> ToSchema for BoundedText<MAX> {
    /// One name per bound; the payloads inline these schemas anyway.
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Text{MAX}"))
    }
}

impl EventType {
    /// Name of the schema of this event type's envelope, e.g. `PedidoCreadoEvent`.
    pub fn envelope_schema_name(self) -> &'static str {
        match self {
            EventType::PedidoCreado => "PedidoCreadoEvent",
            EventType::PedidoCancelado => "PedidoCanceladoEvent",
        }
    }

    /// Name of the schema of this event type's `data`, e.g. `PedidoCreado`.
    pub fn payload_schema_name(self) -> Cow<'static, str> {
        match self {
            EventType::PedidoCreado => <PedidoCreado as ToSchema>::name(),
            EventType::PedidoCancelado => <PedidoCancelado as ToSchema>::name(),
        }
    }

    /// The envelope of this event type exactly as [`Event::to_json`] writes
    /// it, its `data` a reference to the type's payload schema. Unknown
    /// members are allowed: readers ignore them, so the contract can grow.
    pub fn envelope_schema(self) -> Schema {
        let required = [
            "eventId",
            "eventType",
            "eventVersion",
            "occurredAt",
            "correlationId",
            "data",
        ];
        let object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some(format!("{self} event")))
            .description(Some(format!(
                "The `{self}` event as published on the topic (the SNS message body, and \
                 the SQS message body with raw message delivery)."
            )))
            .property(
                "eventId",
                uuid("Unique id of this event (not of the order): a new one for every publish."),
            )
            .property(
                "eventType",
                string()
                    .description(Some(
                        "The event type; also the `eventType` message attribute.",
                    ))
                    .enum_values(Some([self.as_str()])),
            )
            .property(
                "eventVersion",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some(format!(
                        "Version of the envelope and its data: readers reject a version newer \
                         than the one they know ({CURRENT_EVENT_VERSION} in this build)."
                    )))
                    .minimum(Some(1))
                    .maximum(Some(CURRENT_EVENT_VERSION)),
            )
            .property(
                "occurredAt",
                string()
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    .description(Some("When the event happened (RFC 3339, UTC).")),
            )
            .property(
                "correlationId",
                string().description(Some(
                    "The `x-request-id` of the HTTP request that caused the event; also the \
                     `correlationId` message attribute and on every log line of the request.",
                )),
            )
            .property("data", Ref::from_schema_name(self.payload_schema_name()));
        required
            .into_iter()
            .fold(object, ObjectBuilder::required)
            .build()
            .into()
    }
}

/// Pushes `T`'s schema and every schema it refers to.
fn push<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

fn one_of(names: impl IntoIterator<Item = String>, description: &str) -> RefOr<Schema> {
    names
        .into_iter()
        .fold(
            OneOfBuilder::new().description(Some(description)),
            |one_of, name| one_of.item(Ref::from_schema_name(name)),
        )
        .into()
}

impl PartialSchema for EventPayload {
    fn schema() -> RefOr<Schema> {
        one_of(
            EventType::ALL.map(|t| t.payload_schema_name().into_owned()),
            "The `data` of an event: the payload of its `eventType`.",
        )
    }
}

impl ToSchema for EventPayload {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EventPayload")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        push::<PedidoCreado>(schemas);
        push::<PedidoCancelado>(schemas);
    }
}

impl PartialSchema for Event {
    fn schema() -> RefOr<Schema> {
        one_of(
            EventType::ALL.map(|t| t.envelope_schema_name().to_owned()),
            "Any event on the topic, told apart by `eventType`.",
        )
    }
}

impl ToSchema for Event {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Event")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for event_type in EventType::ALL {
            schemas.push((
                event_type.envelope_schema_name().to_owned(),
                event_type.envelope_schema().into(),
            ));
        }
        push::<EventPayload>(schemas);
    }
}
