//! Payloads (`data`) of the order events.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::schema::{Bound, Bounded};
use super::values::{Amount, Currency, Prioridad, Quantity, Sku, ValueError};
pub use super::values::{MAX_ITEMS, MIN_ITEMS, Motivo, PlaceName, PostalCode, Street};

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    /// Product identifier.
    pub sku: Sku,
    /// Units ordered.
    pub cantidad: Quantity,
    /// Price of one unit.
    pub precio_unitario: Amount,
}

/// Where logistics ships the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DireccionEnvio {
    /// Street and number.
    #[schema(inline)]
    pub calle: Street,
    /// City.
    #[schema(inline)]
    pub ciudad: PlaceName,
    /// Region or state.
    #[schema(inline)]
    pub region: PlaceName,
    /// Postal code, when the country uses one (absent, never null, when it does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(inline, nullable = false)]
    pub codigo_postal: Option<PostalCode>,
    /// Country (ISO 3166 code or name).
    #[schema(inline)]
    pub pais: PlaceName,
}

/// `PedidoCreado.data`: an accepted order. Can only exist with as many items
/// as `minItems` and `maxItems` allow, whose subtotals add up exactly to `total`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", try_from = "PedidoCreadoWire")]
pub struct PedidoCreado {
    /// The order's id (the key every consumer deduplicates on, with the event type).
    pedido_id: Uuid,
    /// The customer's id.
    cliente_id: Uuid,
    /// When the order was placed (RFC 3339, UTC).
    fecha: DateTime<Utc>,
    /// The order total: exactly the sum of `cantidad × precioUnitario` over the items.
    total: Amount,
    /// The currency of every amount in the order (readers take CLP when it is absent).
    moneda: Currency,
    /// How urgently the order is handled (always written; readers take
    /// ESTANDAR when it is absent: events written before priorities).
    #[schema(required = false)]
    prioridad: Prioridad,
    /// The line items.
    // `minItems`/`maxItems`: `Bounded` below (`#[schema]` takes only literals).
    items: Vec<LineItem>,
    /// Where logistics ships the order.
    direccion_envio: DireccionEnvio,
}

impl Bounded for PedidoCreado {
    fn bounds() -> Vec<(&'static str, Bound)> {
        vec![("items", Bound::Items(MIN_ITEMS, MAX_ITEMS))]
    }
}

/// The unchecked shape of [`PedidoCreado`] as it travels.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PedidoCreadoWire {
    pedido_id: Uuid,
    cliente_id: Uuid,
    fecha: DateTime<Utc>,
    total: Amount,
    #[serde(default)]
    moneda: Currency,
    #[serde(default)]
    prioridad: Prioridad,
    items: Vec<LineItem>,
    direccion_envio: DireccionEnvio,
}

impl TryFrom<PedidoCreadoWire> for PedidoCreado {
    type Error = ValueError;
    fn try_from(w: PedidoCreadoWire) -> Result<Self, Self::Error> {
        Self::new(
            w.pedido_id,
            w.cliente_id,
            w.fecha,
            w.total,
            w.moneda,
            w.items,
            w.direccion_envio,
        )
        .map(|order| order.with_prioridad(w.prioridad))
        .map_err(|e| ValueError(e.to_string()))
    }
}

/// Why a set of valid values does not make a valid order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderRuleError {
    /// Too few or too many items.
    #[error("an order must have from {MIN_ITEMS} to {MAX_ITEMS} items, it has {0}")]
    ItemCount(usize),
    /// `total` is not the sum of the items' subtotals.
    #[error("total {declared} does not equal the sum of the items ({computed})")]
    TotalMismatch {
        /// The total the client sent.
        declared: String,
        /// The sum of `cantidad × precioUnitario`.
        computed: String,
    },
}

impl PedidoCreado {
    /// Builds an order of priority ESTANDAR (see [`PedidoCreado::with_prioridad`]),
    /// checking the rules that span several fields.
    pub fn new(
        pedido_id: Uuid,
        cliente_id: Uuid,
        fecha: DateTime<Utc>,
        total: Amount,
        moneda: Currency,
        items: Vec<LineItem>,
        direccion_envio: DireccionEnvio,
    ) -> Result<Self, OrderRuleError> {
        if !(MIN_ITEMS..=MAX_ITEMS).contains(&items.len()) {
            return Err(OrderRuleError::ItemCount(items.len()));
        }
        check_total(total, &items)?;
        Ok(Self {
            pedido_id,
            cliente_id,
            fecha,
            total,
            moneda,
            prioridad: Prioridad::default(),
            items,
            direccion_envio,
        })
    }

    /// The same order with another priority.
    pub fn with_prioridad(mut self, prioridad: Prioridad) -> Self {
        self.prioridad = prioridad;
        self
    }

    /// The same order under another id (the API derives it from an
    /// `Idempotency-Key` when the client sent no `pedidoId`).
    pub fn with_pedido_id(mut self, pedido_id: Uuid) -> Self {
        self.pedido_id = pedido_id;
        self
    }

    /// The order id.
    pub fn pedido_id(&self) -> Uuid {
        self.pedido_id
    }
    /// The customer's id.
    pub fn cliente_id(&self) -> Uuid {
        self.cliente_id
    }
    /// When the order was placed.
    pub fn fecha(&self) -> DateTime<Utc> {
        self.fecha
    }
    /// The order total (sum of the items).
    pub fn total(&self) -> Amount {
        self.total
    }
    /// The currency of every amount in the order.
    pub fn moneda(&self) -> Currency {
        self.moneda
    }
    /// How urgently the order is handled.
    pub fn prioridad(&self) -> Prioridad {
        self.prioridad
    }
    /// The line items.
    pub fn items(&self) -> &[LineItem] {
        &self.items
    }
    /// The shipping address.
    pub fn direccion_envio(&self) -> &DireccionEnvio {
        &self.direccion_envio
    }
}

/// Checks that `total` is exactly the sum of `cantidad × precioUnitario`.
pub fn check_total(total: Amount, items: &[LineItem]) -> Result<(), OrderRuleError> {
    let computed = items.iter().try_fold(Decimal::ZERO, |acc, item| {
        item.precio_unitario
            .checked_mul(item.cantidad)
            .and_then(|line| acc.checked_add(line))
    });
    match computed {
        Some(sum) if sum == total.value() => Ok(()),
        Some(sum) => Err(OrderRuleError::TotalMismatch {
            declared: total.to_string(),
            computed: format!("{:.2}", sum),
        }),
        None => Err(OrderRuleError::TotalMismatch {
            declared: total.to_string(),
            computed: "overflow".into(),
        }),
    }
}

/// `PedidoCancelado.data`: the customer or the shop cancelled an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PedidoCancelado {
    /// The cancelled order.
    pub pedido_id: Uuid,
    /// Why it was cancelled.
    #[schema(inline)]
    pub motivo: Motivo,
    /// The cancelled order's priority, so the cancellation travels in the
    /// same lane as the order (readers take ESTANDAR when it is absent).
    #[serde(default)]
    #[schema(required = false)]
    pub prioridad: Prioridad,
    /// The cancelled order's customer, when its record names one (absent,
    /// never null, otherwise; also absent on events written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub cliente_id: Option<Uuid>,
}

impl PedidoCancelado {
    /// A cancellation of an ESTANDAR order whose customer is not known yet
    /// (the API fills both in from the order's record).
    pub fn new(pedido_id: Uuid, motivo: Motivo) -> Self {
        Self {
            pedido_id,
            motivo,
            prioridad: Prioridad::default(),
            cliente_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sku: &str, qty: u32, price: &str) -> LineItem {
        LineItem {
            sku: Sku::parse(sku).expect("sku"),
            cantidad: Quantity::new(qty).expect("qty"),
            precio_unitario: Amount::parse(price).expect("price"),
        }
    }

    fn address() -> DireccionEnvio {
        DireccionEnvio {
            calle: Street::parse("Av. Providencia 1234").expect("calle"),
            ciudad: PlaceName::parse("Santiago").expect("ciudad"),
            region: PlaceName::parse("RM").expect("region"),
            codigo_postal: None,
            pais: PlaceName::parse("CL").expect("pais"),
        }
    }

    fn order(total: &str, items: Vec<LineItem>) -> Result<PedidoCreado, OrderRuleError> {
        PedidoCreado::new(
            Uuid::new_v4(),
            Uuid::new_v4(),
            Utc::now(),
            Amount::parse(total).expect("total"),
            Currency::CLP,
            items,
            address(),
        )
    }

    #[test]
    fn total_must_equal_sum_of_items() {
        assert!(
            order(
                "25001.00",
                vec![item("A", 2, "10000.50"), item("B", 1, "5000")]
            )
            .is_ok()
        );
        let err = order(
            "25001.01",
            vec![item("A", 2, "10000.50"), item("B", 1, "5000")],
        )
        .expect_err("mismatch");
        assert_eq!(
            err,
            OrderRuleError::TotalMismatch {
                declared: "25001.01".into(),
                computed: "25001.00".into()
            }
        );
    }

    #[test]
    fn item_count_bounds() {
        assert_eq!(order("1", vec![]), Err(OrderRuleError::ItemCount(0)));
        assert!(
            order(
                "100",
                (0..100).map(|i| item(&format!("S{i}"), 1, "1")).collect()
            )
            .is_ok()
        );
        assert_eq!(
            order(
                "101",
                (0..101).map(|i| item(&format!("S{i}"), 1, "1")).collect()
            ),
            Err(OrderRuleError::ItemCount(101))
        );
    }

    #[test]
    fn deserializing_enforces_the_same_rules() {
        let json = serde_json::json!({
            "pedidoId": Uuid::new_v4(), "clienteId": Uuid::new_v4(), "fecha": "2026-11-23T10:00:00Z",
            "total": "3.00", "items": [{"sku": "A", "cantidad": 1, "precioUnitario": "2.00"}],
            "direccionEnvio": {"calle": "x", "ciudad": "y", "region": "z", "pais": "CL"}
        });
        let err = serde_json::from_value::<PedidoCreado>(json).expect_err("total mismatch");
        assert!(err.to_string().contains("does not equal"), "{err}");
    }

    #[test]
    fn prioridad_defaults_to_estandar_and_is_kept() {
        let mut json = serde_json::json!({
            "pedidoId": Uuid::new_v4(), "clienteId": Uuid::new_v4(), "fecha": "2026-11-23T10:00:00Z",
            "total": "2.00", "items": [{"sku": "A", "cantidad": 1, "precioUnitario": "2.00"}],
            "direccionEnvio": {"calle": "x", "ciudad": "y", "region": "z", "pais": "CL"}
        });
        let order: PedidoCreado = serde_json::from_value(json.clone()).expect("valid");
        assert_eq!(order.prioridad(), Prioridad::Estandar);
        assert_eq!(
            serde_json::to_value(&order).expect("json")["prioridad"],
            "ESTANDAR",
            "always written"
        );
        json["prioridad"] = "EXPRESS".into();
        let order: PedidoCreado = serde_json::from_value(json.clone()).expect("valid");
        assert_eq!(order.prioridad(), Prioridad::Express);
        json["prioridad"] = "URGENTE".into();
        assert!(serde_json::from_value::<PedidoCreado>(json).is_err());

        let cancel: PedidoCancelado =
            serde_json::from_value(serde_json::json!({"pedidoId": Uuid::new_v4(), "motivo": "no"}))
                .expect("an old cancellation");
        assert_eq!(cancel.prioridad, Prioridad::Estandar);
        assert_eq!(cancel.cliente_id, None);
        let written = serde_json::to_value(&cancel).expect("json");
        assert_eq!(written["prioridad"], "ESTANDAR");
        assert!(written.get("clienteId").is_none(), "{written}");
    }

    #[test]
    fn moneda_defaults_to_clp() {
        let json = serde_json::json!({
            "pedidoId": Uuid::new_v4(), "clienteId": Uuid::new_v4(), "fecha": "2026-11-23T10:00:00Z",
            "total": "2.00", "items": [{"sku": "A", "cantidad": 1, "precioUnitario": "2.00"}],
            "direccionEnvio": {"calle": "x", "ciudad": "y", "region": "z", "pais": "CL"}
        });
        let order: PedidoCreado = serde_json::from_value(json).expect("valid");
        assert_eq!(order.moneda(), Currency::CLP);
    }
}
