//! JSON Schemas (utoipa `ToSchema`) of the contract types exactly as they
//! travel: the value types, whose serde form is a checked string or integer,
//! and the event envelope, which `Event::to_json` writes by hand. The payloads'
//! schemas are derived next to their types (`pedido.rs`) and refer to these;
//! the AsyncAPI document (`asyncapi.rs`) collects them all.

use std::borrow::Cow;

use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::values::{Amount, BoundedText, Currency, MAX_AMOUNT, Prioridad, Quantity, Sku};
use super::{CURRENT_EVENT_VERSION, Event, EventPayload, EventType, PedidoCancelado, PedidoCreado};

/// An [`Amount`] as written: a decimal string with exactly
/// [`Amount::MAX_DECIMALS`] decimals, greater than 0, of at most
/// [`Amount::MAX_INTEGER_DIGITS`] digits before the point, without sign,
/// exponent or leading zeros.
pub fn amount_pattern() -> String {
    let decimals = Amount::MAX_DECIMALS;
    let zero = "0".repeat(decimals as usize);
    let more_digits = Amount::MAX_INTEGER_DIGITS - 1;
    format!(r"^(?!0\.{zero}$)(0|[1-9][0-9]{{0,{more_digits}}})\.[0-9]{{{decimals}}}$")
}

/// An [`Amount`] as a client may send it: up to [`Amount::MAX_INTEGER_DIGITS`]
/// digits, then optionally a point and 1 to [`Amount::MAX_DECIMALS`] decimals.
pub fn amount_input_pattern() -> String {
    format!(
        r"^[0-9]{{1,{}}}(\.[0-9]{{1,{}}})?$",
        Amount::MAX_INTEGER_DIGITS,
        Amount::MAX_DECIMALS
    )
}

/// A [`Currency`]: an ISO 4217 code of [`Currency::LEN`] upper-case letters.
pub fn currency_pattern() -> String {
    format!("^[A-Z]{{{}}}$", Currency::LEN)
}

/// A [`Sku`]: printable ASCII without spaces (its length is `minLength`/`maxLength`).
pub const SKU_PATTERN: &str = "^[!-~]+$";

/// A [`BoundedText`] as written: trimmed, so it starts and ends with a
/// non-space character (and `.` matches no line break).
pub const TEXT_PATTERN: &str = r"^\S(.*\S)?$";

/// A bound of a property that a `#[schema]` attribute cannot read from the
/// constant that defines it (utoipa's attributes take literals only): the
/// schema is derived without it and [`Bounded`] writes it in.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// `minLength` and `maxLength`, in characters.
    Length(usize, usize),
    /// `minimum` and `maximum`.
    Range(u32, u32),
    /// `minItems` and `maxItems`.
    Items(usize, usize),
    /// `pattern`.
    Pattern(String),
    /// `enum` (the values, plus `null` when the property may be null) and
    /// `default`: a string property with a closed set of values.
    Enum(Vec<&'static str>, Option<&'static str>),
}

impl Bound {
    /// Writes the bound into a property's schema; false when the property is
    /// not of a type the bound applies to.
    fn write(&self, schema: &mut Schema) -> bool {
        fn is(o: &utoipa::openapi::schema::Object, wanted: &[Type]) -> bool {
            match &o.schema_type {
                SchemaType::Type(t) => wanted.contains(t),
                SchemaType::Array(types) => types.iter().any(|t| wanted.contains(t)),
                SchemaType::AnyValue => false,
            }
        }
        match (self, schema) {
            (Bound::Length(min, max), Schema::Object(o)) if is(o, &[Type::String]) => {
                o.min_length = Some(*min);
                o.max_length = Some(*max);
            }
            (Bound::Range(min, max), Schema::Object(o))
                if is(o, &[Type::Integer, Type::Number]) =>
            {
                o.minimum = Some((*min).into());
                o.maximum = Some((*max).into());
            }
            (Bound::Pattern(pattern), Schema::Object(o)) if is(o, &[Type::String]) => {
                o.pattern = Some(pattern.clone());
            }
            (Bound::Enum(values, default), Schema::Object(o)) if is(o, &[Type::String]) => {
                let mut listed: Vec<serde_json::Value> =
                    values.iter().map(|v| (*v).into()).collect();
                if is(o, &[Type::Null]) {
                    listed.push(serde_json::Value::Null);
                }
                o.enum_values = Some(listed);
                o.default = default.map(Into::into);
            }
            (Bound::Items(min, max), Schema::Array(a)) => {
                a.min_items = Some(*min);
                a.max_items = Some(*max);
            }
            _ => return false,
        }
        true
    }
}

/// A type whose derived schema gets the bounds of its properties from the
/// contract's constants (see [`Bound`]).
pub trait Bounded: ToSchema {
    /// Each property's bounds, by the property's name as serialized.
    fn bounds() -> Vec<(&'static str, Bound)>;

    /// Writes [`Bounded::bounds`] into `schema` (this type's schema, as
    /// derived). A bound whose property is missing, or of a type the bound
    /// does not apply to, is a mistake in `bounds`: debug builds, and so the
    /// tests, panic on it.
    fn write_bounds(schema: &mut RefOr<Schema>) {
        let mut unwritten = Vec::new();
        for (name, bound) in Self::bounds() {
            let property = match schema {
                RefOr::T(Schema::Object(object)) => object.properties.get_mut(name),
                _ => None,
            };
            let written = match property {
                Some(RefOr::T(property)) => bound.write(property),
                _ => false,
            };
            if !written {
                unwritten.push((name, bound));
            }
        }
        debug_assert!(
            unwritten.is_empty(),
            "{}: bounds with no property of their type: {unwritten:?}",
            Self::name()
        );
    }
}

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
            .description(Some(format!(
                "An amount of money greater than 0 and at most {MAX_AMOUNT}, in the order's \
                     currency: a decimal string, never a JSON number, so no consumer rounds it. \
                     Written with exactly {decimals} decimals (\"25001.00\"); readers also accept \
                     0 to {decimals} decimals.",
                decimals = Amount::MAX_DECIMALS
            )))
            .pattern(Some(amount_pattern()))
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
            .pattern(Some(currency_pattern()))
            .examples([Currency::CLP.as_str()])
            .into()
    }
}

impl ToSchema for Currency {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Currency")
    }
}

impl PartialSchema for Prioridad {
    fn schema() -> RefOr<Schema> {
        string()
            .description(Some(format!(
                "How urgently the order is handled: {} orders travel in the express lane \
                 (their own queues, drained first). Default {}.",
                Prioridad::Express,
                Prioridad::default()
            )))
            .enum_values(Some(Prioridad::ALL.map(Prioridad::as_str)))
            .default(Some(Prioridad::default().as_str().into()))
            .examples([Prioridad::Express.as_str()])
            .into()
    }
}

impl ToSchema for Prioridad {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Prioridad")
    }
}

impl PartialSchema for Sku {
    fn schema() -> RefOr<Schema> {
        string()
            .description(Some(
                "Stock-keeping unit: printable ASCII characters without spaces.",
            ))
            .min_length(Some(Sku::MIN_LEN))
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
                "Text of {} to {} characters, trimmed, without control, \
                 bidirectional-override or byte-order-mark characters.",
                Self::MIN_LEN,
                Self::MAX_LEN
            )))
            .min_length(Some(Self::MIN_LEN))
            .max_length(Some(Self::MAX_LEN))
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

/// [`push`] for a type whose bounds are written in afterwards.
fn push_bounded<T: Bounded>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    let mut schema = T::schema();
    T::write_bounds(&mut schema);
    schemas.push((T::name().into_owned(), schema));
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
        push_bounded::<PedidoCreado>(schemas);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A `#[schema]` derive without the bounds, as the contract's types have.
    #[derive(ToSchema)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        count: u32,
        list: Vec<String>,
        choice: Option<String>,
    }

    fn property(schema: &RefOr<Schema>, name: &str) -> serde_json::Value {
        serde_json::to_value(schema).expect("JSON")["properties"][name].clone()
    }

    impl Bounded for Sample {
        fn bounds() -> Vec<(&'static str, Bound)> {
            vec![
                ("name", Bound::Length(2, 3)),
                ("name", Bound::Pattern("^a".into())),
                ("count", Bound::Range(4, 5)),
                ("list", Bound::Items(6, 7)),
                ("choice", Bound::Enum(vec!["A", "B"], Some("B"))),
            ]
        }
    }

    #[test]
    fn bounds_are_written_into_the_derived_schema() {
        let mut schema = Sample::schema();
        Sample::write_bounds(&mut schema);
        let name = property(&schema, "name");
        assert_eq!(
            (name["minLength"].as_u64(), name["maxLength"].as_u64()),
            (Some(2), Some(3))
        );
        assert_eq!(name["pattern"], "^a");
        let count = property(&schema, "count");
        assert_eq!(
            (count["minimum"].as_u64(), count["maximum"].as_u64()),
            (Some(4), Some(5))
        );
        let choice = property(&schema, "choice");
        assert_eq!(
            choice["enum"],
            serde_json::json!(["A", "B", null]),
            "an optional property may be null"
        );
        assert_eq!(choice["default"], "B");
        let list = property(&schema, "list");
        assert_eq!(
            (list["minItems"].as_u64(), list["maxItems"].as_u64()),
            (Some(6), Some(7))
        );
    }

    #[test]
    #[should_panic(expected = "bounds with no property of their type")]
    fn a_misspelt_property_is_a_mistake() {
        struct Misspelt;
        impl ToSchema for Misspelt {}
        impl PartialSchema for Misspelt {
            fn schema() -> RefOr<Schema> {
                Sample::schema()
            }
        }
        impl Bounded for Misspelt {
            fn bounds() -> Vec<(&'static str, Bound)> {
                vec![("nmae", Bound::Length(1, 2))]
            }
        }
        Misspelt::write_bounds(&mut Misspelt::schema());
    }

    #[test]
    #[should_panic(expected = "bounds with no property of their type")]
    fn a_bound_of_another_type_is_a_mistake() {
        struct Misnamed;
        impl ToSchema for Misnamed {}
        impl PartialSchema for Misnamed {
            fn schema() -> RefOr<Schema> {
                Sample::schema()
            }
        }
        impl Bounded for Misnamed {
            fn bounds() -> Vec<(&'static str, Bound)> {
                // `count` is an integer: a length does not apply to it.
                vec![
                    ("name", Bound::Length(1, 2)),
                    ("count", Bound::Length(1, 2)),
                ]
            }
        }
        Misnamed::write_bounds(&mut Misnamed::schema());
    }
}
