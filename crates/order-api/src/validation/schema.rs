//! The request bodies of `/api/pedidos`: one set of types that serde reads
//! the body into and utoipa describes in `/openapi.json`. Every member is a
//! [`Field`] (it always deserializes and keeps what is wrong with it), so the
//! schema attributes name the JSON type the client sends (`value_type`).

use serde::Deserialize;
use shared::contract::pedido::{Motivo, PlaceName, PostalCode, Street};
use shared::contract::values::{Amount, Currency, Quantity, Sku};
use uuid::Uuid;

use super::field::{Field, List, Object};

/// One line of a new order (request schema).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ItemRequest {
    /// Product id: 1 to 64 printable ASCII characters without spaces.
    #[schema(
        value_type = String,
        min_length = 1,
        max_length = 64,
        pattern = "^[!-~]{1,64}$",
        example = "SKU-001"
    )]
    pub sku: Field<Sku>,
    /// Units: 1 to 1000.
    #[schema(value_type = u32, minimum = 1, maximum = 1000, example = 2)]
    pub cantidad: Field<Quantity>,
    /// Unit price: a decimal string > 0 with at most 2 decimals.
    #[schema(
        value_type = String,
        pattern = r"^[0-9]{1,13}(\.[0-9]{1,2})?$",
        example = "10000.50"
    )]
    pub precio_unitario: Field<Amount>,
}

/// Shipping address (request schema).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddressRequest {
    /// Street and number.
    #[schema(
        value_type = String,
        min_length = 1,
        max_length = 200,
        example = "Av. Providencia 1234"
    )]
    pub calle: Field<Street>,
    /// City.
    #[schema(value_type = String, min_length = 1, max_length = 100, example = "Santiago")]
    pub ciudad: Field<PlaceName>,
    /// Region.
    #[schema(value_type = String, min_length = 1, max_length = 100, example = "RM")]
    pub region: Field<PlaceName>,
    /// Postal code.
    #[schema(
        value_type = Option<String>,
        min_length = 1,
        max_length = 20,
        example = "7500000"
    )]
    pub codigo_postal: Field<PostalCode>,
    /// Country.
    #[schema(value_type = String, min_length = 1, max_length = 100, example = "CL")]
    pub pais: Field<PlaceName>,
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
    #[schema(value_type = Option<String>, pattern = "^[A-Z]{3}$", example = "CLP")]
    pub moneda: Field<Currency>,
    /// 1 to 100 items.
    #[schema(value_type = Vec<ItemRequest>, min_items = 1, max_items = 100)]
    pub items: Field<List<Object<ItemRequest>>>,
    /// Order total as a decimal string.
    #[schema(
        value_type = String,
        pattern = r"^[0-9]{1,13}(\.[0-9]{1,2})?$",
        example = "25001.00"
    )]
    pub total: Field<Amount>,
    /// Where to ship.
    #[schema(value_type = AddressRequest)]
    pub direccion_envio: Field<Object<AddressRequest>>,
}

/// A cancellation (request schema).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelOrderRequest {
    /// Why the order is cancelled.
    #[schema(value_type = String, min_length = 1, max_length = 500)]
    pub motivo: Field<Motivo>,
}
