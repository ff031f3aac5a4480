//! Turning a request body into a valid order, with one error per invalid
//! field. The rules themselves live in `shared::contract` (the value types'
//! constructors); this module only locates each failure with a JSON pointer.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use shared::contract::pedido::{MAX_ITEMS, MIN_ITEMS, check_total};
use shared::contract::values::{Amount, BoundedText, Currency, Quantity, Sku, ValueError};
use shared::contract::{DireccionEnvio, LineItem, PedidoCancelado, PedidoCreado};
use uuid::Uuid;

use crate::problem::FieldError;

/// Accumulates field errors while walking a JSON document.
#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

/// Escapes a key for use in a JSON pointer (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

type Parse<'v, T> = fn(&'v Value) -> Result<T, String>;

impl Checker {
    fn error(&mut self, pointer: impl Into<String>, detail: impl Into<String>) {
        self.errors.push(FieldError::new(pointer, detail));
    }

    /// `value` as an object with only `allowed` keys.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        pointer: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(object) = value.as_object() else {
            self.error(pointer, "must be a JSON object");
            return None;
        };
        for key in object.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.error(format!("{pointer}/{}", escape(key)), "unknown field");
        }
        Some(object)
    }

    /// A required member; `null` counts as missing.
    fn required<'v, T>(
        &mut self,
        object: &'v Map<String, Value>,
        pointer: &str,
        key: &str,
        parse: Parse<'v, T>,
    ) -> Option<T> {
        match object.get(key) {
            None | Some(Value::Null) => {
                self.error(format!("{pointer}/{key}"), "is required");
                None
            }
            Some(value) => self.parse(value, &format!("{pointer}/{key}"), parse),
        }
    }

    /// An optional member: `Some(None)` when absent or `null`, `None` when invalid.
    fn optional<'v, T>(
        &mut self,
        object: &'v Map<String, Value>,
        pointer: &str,
        key: &str,
        parse: Parse<'v, T>,
    ) -> Option<Option<T>> {
        match object.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(value) => self
                .parse(value, &format!("{pointer}/{key}"), parse)
                .map(Some),
        }
    }

    fn parse<'v, T>(&mut self, value: &'v Value, pointer: &str, parse: Parse<'v, T>) -> Option<T> {
        parse(value)
            .map_err(|detail| self.error(pointer, detail))
            .ok()
    }
}

fn string(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "must be a string".to_owned())
}

fn uuid(value: &Value) -> Result<Uuid, String> {
    let text = value.as_str().ok_or("must be a UUID string")?;
    match Uuid::try_parse(text) {
        Ok(id) if !id.is_nil() && text.len() == 36 => Ok(id),
        _ => Err("must be a UUID such as \"6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11\"".into()),
    }
}

/// Money travels as a decimal string ("10.50"), never as a JSON number: a
/// number would pass through a float in most clients and parsers.
fn amount(value: &Value) -> Result<Amount, String> {
    match value {
        Value::String(text) => Amount::parse(text).map_err(|ValueError(e)| e),
        Value::Number(_) => {
            Err("must be a decimal string such as \"10.50\", not a JSON number".into())
        }
        _ => Err("must be a decimal string such as \"10.50\"".into()),
    }
}

fn quantity(value: &Value) -> Result<Quantity, String> {
    let n = value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            format!(
                "must be an integer from {} to {}",
                Quantity::MIN,
                Quantity::MAX
            )
        })?;
    Quantity::new(n).map_err(|ValueError(e)| e)
}

fn sku(value: &Value) -> Result<Sku, String> {
    Sku::parse(string(value)?).map_err(|ValueError(e)| e)
}

fn currency(value: &Value) -> Result<Currency, String> {
    Currency::parse(string(value)?).map_err(|ValueError(e)| e)
}

/// Bounded, trimmed text (`Street`, `PlaceName`, `PostalCode`, `Motivo`): the
/// rules live in `BoundedText`.
fn text<const MAX: usize>(value: &Value) -> Result<BoundedText<MAX>, String> {
    BoundedText::parse(string(value)?).map_err(|ValueError(e)| e)
}

fn line_item(c: &mut Checker, value: &Value, pointer: &str) -> Option<LineItem> {
    let object = c.object(value, pointer, &["sku", "cantidad", "precioUnitario"])?;
    let sku = c.required(object, pointer, "sku", sku);
    let cantidad = c.required(object, pointer, "cantidad", quantity);
    let precio_unitario = c.required(object, pointer, "precioUnitario", amount);
    Some(LineItem {
        sku: sku?,
        cantidad: cantidad?,
        precio_unitario: precio_unitario?,
    })
}

fn address(c: &mut Checker, value: &Value, pointer: &str) -> Option<DireccionEnvio> {
    let object = c.object(
        value,
        pointer,
        &["calle", "ciudad", "region", "codigoPostal", "pais"],
    )?;
    let calle = c.required(object, pointer, "calle", text);
    let ciudad = c.required(object, pointer, "ciudad", text);
    let region = c.required(object, pointer, "region", text);
    let codigo_postal = c.optional(object, pointer, "codigoPostal", text);
    let pais = c.required(object, pointer, "pais", text);
    Some(DireccionEnvio {
        calle: calle?,
        ciudad: ciudad?,
        region: region?,
        codigo_postal: codigo_postal?,
        pais: pais?,
    })
}

/// Validates a `POST /api/pedidos` body. `pedidoId` is the client's when
/// given (making retries idempotent), otherwise a new one.
pub fn parse_create_order(
    body: &Value,
    now: DateTime<Utc>,
) -> Result<PedidoCreado, Vec<FieldError>> {
    let mut c = Checker::default();
    let Some(object) = c.object(
        body,
        "",
        &[
            "pedidoId",
            "clienteId",
            "moneda",
            "items",
            "total",
            "direccionEnvio",
        ],
    ) else {
        return Err(c.errors);
    };
    let pedido_id = c.optional(object, "", "pedidoId", uuid);
    let cliente_id = c.required(object, "", "clienteId", uuid);
    let moneda = c.optional(object, "", "moneda", currency);
    let total = c.required(object, "", "total", amount);
    let items = match object.get("items") {
        None | Some(Value::Null) => {
            c.error("/items", "is required");
            None
        }
        Some(Value::Array(list)) if (MIN_ITEMS..=MAX_ITEMS).contains(&list.len()) => {
            let parsed: Vec<Option<LineItem>> = list
                .iter()
                .enumerate()
                .map(|(i, item)| line_item(&mut c, item, &format!("/items/{i}")))
                .collect();
            parsed.into_iter().collect::<Option<Vec<_>>>()
        }
        Some(Value::Array(_)) => {
            c.error(
                "/items",
                format!("must have from {MIN_ITEMS} to {MAX_ITEMS} items"),
            );
            None
        }
        Some(_) => {
            c.error("/items", "must be an array of items");
            None
        }
    };
    let direccion = match object.get("direccionEnvio") {
        None | Some(Value::Null) => {
            c.error("/direccionEnvio", "is required");
            None
        }
        Some(value) => address(&mut c, value, "/direccionEnvio"),
    };
    if let (Some(total), Some(items)) = (total, &items)
        && let Err(e) = check_total(total, items)
    {
        c.error("/total", e.to_string());
    }
    match (pedido_id, cliente_id, moneda, total, items, direccion) {
        (
            Some(pedido_id),
            Some(cliente_id),
            Some(moneda),
            Some(total),
            Some(items),
            Some(direccion),
        ) if c.errors.is_empty() => PedidoCreado::new(
            pedido_id.unwrap_or_else(Uuid::new_v4),
            cliente_id,
            now,
            total,
            moneda.unwrap_or_default(),
            items,
            direccion,
        )
        .map_err(|e| vec![FieldError::new("/total", e.to_string())]),
        _ => Err(c.errors),
    }
}

/// Validates a `POST /api/pedidos/{pedidoId}/cancelacion` body.
pub fn parse_cancel_order(
    pedido_id: Uuid,
    body: &Value,
) -> Result<PedidoCancelado, Vec<FieldError>> {
    let mut c = Checker::default();
    let motivo = c
        .object(body, "", &["motivo"])
        .and_then(|object| c.required(object, "", "motivo", text));
    match motivo {
        Some(motivo) if c.errors.is_empty() => Ok(PedidoCancelado { pedido_id, motivo }),
        _ => Err(c.errors),
    }
}

#[cfg(test)]
mod tests;
