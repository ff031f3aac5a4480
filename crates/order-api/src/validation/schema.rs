//! The request bodies of `/api/pedidos`: one set of types that serde reads
//! the body into and utoipa describes in `/openapi.json`. Every member is a
//! [`Field`] (it always deserializes and keeps what is wrong with it), so the
//! schema attributes name the JSON type the client sends (`value_type`).
//!
//! The lengths, ranges, counts and patterns are not in the attributes: those
//! take literals only, and the limits are the contract's constants
//! (`shared::contract::values`). Each type's [`Bounded`] impl names them, and
//! `openapi.rs` writes them into the document. The doc comments, which become
//! the descriptions, leave the numbers to those keywords.

use serde::Deserialize;
use shared::contract::schema::{
    Bound, Bounded, SKU_PATTERN, amount_input_pattern, currency_pattern,
};
use shared::contract::values::{
    Amount, Currency, MAX_ITEMS, MIN_ITEMS, Motivo, PlaceName, PostalCode, Prioridad, Quantity,
    Sku, Street,
};
use uuid::Uuid;

use super::field::{Field, List, Object};

/// One line of a new order (request schema).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ItemRequest {
    /// Product id: printable ASCII characters without spaces.
    #[schema(value_type = String, example = "SKU-001")]
    pub sku: Field<Sku>,
    /// Units ordered.
    #[schema(value_type = u32, example = 2)]
    pub cantidad: Field<Quantity>,
    /// Unit price: a decimal string greater than zero.
    #[schema(value_type = String, example = "10000.50")]
    pub precio_unitario: Field<Amount>,
}

impl Bounded for ItemRequest {
    fn bounds() -> Vec<(&'static str, Bound)> {
        vec![
            ("sku", Bound::Length(Sku::MIN_LEN, Sku::MAX_LEN)),
            ("sku", Bound::Pattern(SKU_PATTERN.to_owned())),
            ("cantidad", Bound::Range(Quantity::MIN, Quantity::MAX)),
            ("precioUnitario", Bound::Pattern(amount_input_pattern())),
        ]
    }
}

/// Shipping address (request schema).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddressRequest {
    /// Street and number.
    #[schema(value_type = String, example = "Av. Providencia 1234")]
    pub calle: Field<Street>,
    /// City.
    #[schema(value_type = String, example = "Santiago")]
    pub ciudad: Field<PlaceName>,
    /// Region.
    #[schema(value_type = String, example = "RM")]
    pub region: Field<PlaceName>,
    /// Postal code.
    #[schema(value_type = Option<String>, example = "7500000")]
    pub codigo_postal: Field<PostalCode>,
    /// Country.
    #[schema(value_type = String, example = "CL")]
    pub pais: Field<PlaceName>,
}

impl Bounded for AddressRequest {
    fn bounds() -> Vec<(&'static str, Bound)> {
        vec![
            ("calle", Bound::Length(Street::MIN_LEN, Street::MAX_LEN)),
            (
                "ciudad",
                Bound::Length(PlaceName::MIN_LEN, PlaceName::MAX_LEN),
            ),
            (
                "region",
                Bound::Length(PlaceName::MIN_LEN, PlaceName::MAX_LEN),
            ),
            (
                "codigoPostal",
                Bound::Length(PostalCode::MIN_LEN, PostalCode::MAX_LEN),
            ),
            (
                "pais",
                Bound::Length(PlaceName::MIN_LEN, PlaceName::MAX_LEN),
            ),
        ]
    }
}

/// A new order (request schema). `total` must equal the sum of `cantidad × precioUnitario`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateOrderRequest {
    /// Optional client-chosen order id: retrying a POST with the same id is applied once.
    #[schema(value_type = Option<Uuid>)]
    pub pedido_id: Field<Uuid>,
    /// Customer id.
    #[schema(value_type = Uuid)]
    pub cliente_id: Field<Uuid>,
    /// ISO 4217 currency, default CLP.
    #[schema(value_type = Option<String>, example = "CLP")]
    pub moneda: Field<Currency>,
    /// Priority: EXPRESS orders travel in the express lane (their own queues, drained first); absent or null means the default.
    #[schema(value_type = Option<String>, example = "EXPRESS")]
    pub prioridad: Field<Prioridad>,
    /// The line items.
    #[schema(value_type = Vec<ItemRequest>)]
    pub items: Field<List<Object<ItemRequest>>>,
    /// Order total as a decimal string.
    #[schema(value_type = String, example = "25001.00")]
    pub total: Field<Amount>,
    /// Where to ship.
    #[schema(value_type = AddressRequest)]
    pub direccion_envio: Field<Object<AddressRequest>>,
}

impl Bounded for CreateOrderRequest {
    fn bounds() -> Vec<(&'static str, Bound)> {
        vec![
            ("moneda", Bound::Pattern(currency_pattern())),
            (
                "prioridad",
                Bound::Enum(
                    Prioridad::ALL.map(Prioridad::as_str).to_vec(),
                    Some(Prioridad::default().as_str()),
                ),
            ),
            ("items", Bound::Items(MIN_ITEMS, MAX_ITEMS)),
            ("total", Bound::Pattern(amount_input_pattern())),
        ]
    }
}

/// A cancellation (request schema).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelOrderRequest {
    /// Why the order is cancelled.
    #[schema(value_type = String)]
    pub motivo: Field<Motivo>,
}

impl Bounded for CancelOrderRequest {
    fn bounds() -> Vec<(&'static str, Bound)> {
        vec![("motivo", Bound::Length(Motivo::MIN_LEN, Motivo::MAX_LEN))]
    }
}
