//! Turning a request body into a valid order or cancellation, with one error
//! per invalid field. Serde reads the body into the request types
//! ([`schema`]), whose members keep what is wrong with them ([`field`]); this
//! module judges each leaf with the domain's value types (`shared::contract`,
//! where the rules live), locates every failure with a JSON pointer and
//! builds the event payload.

pub mod field;
pub mod schema;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use serde_json::error::Category;
use shared::contract::pedido::{MAX_ITEMS, MIN_ITEMS, check_total};
use shared::contract::values::{
    Amount, BoundedText, Currency, Prioridad, Quantity, Sku, ValueError,
};
use shared::contract::{DireccionEnvio, LineItem, PedidoCancelado, PedidoCreado};
use uuid::Uuid;

use self::field::{Checked, Field, FromJson, Object, Scalar};
use self::schema::{AddressRequest, CancelOrderRequest, CreateOrderRequest, ItemRequest};
use crate::error::ApiError;
use crate::problem::FieldError;

/// Checks that the body is declared as JSON and reads it.
pub fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::UnreadableBody(rejection.body_text())
        }
    })
}

/// Validates a `POST /api/pedidos` body. `pedidoId` is the client's when
/// given (making retries idempotent), otherwise a new one. Malformed JSON is
/// [`ApiError::MalformedJson`]; invalid values are [`ApiError::Validation`]
/// with one entry per field.
pub fn parse_create_order(body: &[u8], now: DateTime<Utc>) -> Result<PedidoCreado, ApiError> {
    parse_create_order_with_id(body, now, Uuid::new_v4())
}

/// [`parse_create_order`], with `default_id` as the order id when the client
/// sent none (the API derives it from an `Idempotency-Key`).
pub fn parse_create_order_with_id(
    body: &[u8],
    now: DateTime<Utc>,
    default_id: Uuid,
) -> Result<PedidoCreado, ApiError> {
    let body = read::<Object<CreateOrderRequest>>(body)?;
    let mut e = Errors::default();
    let Some(request) = e.object(body, "") else {
        return Err(e.into());
    };
    let pedido_id = e.optional(request.pedido_id, "/pedidoId");
    let cliente_id = e.required(request.cliente_id, "/clienteId");
    let moneda = e.optional(request.moneda, "/moneda");
    let prioridad = e.optional(request.prioridad, "/prioridad");
    let total = e.required(request.total, "/total");
    let items = match e.required(request.items, "/items") {
        Some(field::List(list)) if (MIN_ITEMS..=MAX_ITEMS).contains(&list.len()) => {
            let parsed: Vec<Option<LineItem>> = list
                .into_iter()
                .enumerate()
                .map(|(i, item)| line_item(&mut e, item, &format!("/items/{i}")))
                .collect();
            parsed.into_iter().collect::<Option<Vec<_>>>()
        }
        Some(_) => {
            e.push(
                "/items",
                format!("must have from {MIN_ITEMS} to {MAX_ITEMS} items"),
            );
            None
        }
        None => None,
    };
    let direccion = e
        .required(request.direccion_envio, "/direccionEnvio")
        .and_then(|object| address(&mut e, Ok(object), "/direccionEnvio"));
    if let (Some(total), Some(items)) = (total, &items)
        && let Err(error) = check_total(total, items)
    {
        e.push("/total", error.to_string());
    }
    match (
        pedido_id, cliente_id, moneda, prioridad, total, items, direccion,
    ) {
        (
            Some(pedido_id),
            Some(cliente_id),
            Some(moneda),
            Some(prioridad),
            Some(total),
            Some(items),
            Some(direccion),
        ) if e.0.is_empty() => PedidoCreado::new(
            pedido_id.unwrap_or(default_id),
            cliente_id,
            now,
            total,
            moneda.unwrap_or_default(),
            items,
            direccion,
        )
        .map(|order| order.with_prioridad(prioridad.unwrap_or_default()))
        .map_err(|error| ApiError::Validation(vec![FieldError::new("/total", error.to_string())])),
        _ => Err(e.into()),
    }
}

/// Validates a `POST /api/pedidos/{pedidoId}/cancelacion` body.
pub fn parse_cancel_order(pedido_id: Uuid, body: &[u8]) -> Result<PedidoCancelado, ApiError> {
    let body = read::<Object<CancelOrderRequest>>(body)?;
    let mut e = Errors::default();
    let motivo = e
        .object(body, "")
        .and_then(|request| e.required(request.motivo, "/motivo"));
    match motivo {
        // The order's priority and customer come from its record (see `intake`).
        Some(motivo) if e.0.is_empty() => Ok(PedidoCancelado::new(pedido_id, motivo)),
        _ => Err(e.into()),
    }
}

fn line_item(
    e: &mut Errors,
    item: Result<Object<ItemRequest>, String>,
    pointer: &str,
) -> Option<LineItem> {
    let ItemRequest {
        sku,
        cantidad,
        precio_unitario,
    } = e.object(item, pointer)?;
    let sku = e.required(sku, &format!("{pointer}/sku"));
    let cantidad = e.required(cantidad, &format!("{pointer}/cantidad"));
    let precio_unitario = e.required(precio_unitario, &format!("{pointer}/precioUnitario"));
    Some(LineItem {
        sku: sku?,
        cantidad: cantidad?,
        precio_unitario: precio_unitario?,
    })
}

fn address(
    e: &mut Errors,
    object: Result<Object<AddressRequest>, String>,
    pointer: &str,
) -> Option<DireccionEnvio> {
    let AddressRequest {
        calle,
        ciudad,
        region,
        codigo_postal,
        pais,
    } = e.object(object, pointer)?;
    let calle = e.required(calle, &format!("{pointer}/calle"));
    let ciudad = e.required(ciudad, &format!("{pointer}/ciudad"));
    let region = e.required(region, &format!("{pointer}/region"));
    let codigo_postal = e.optional(codigo_postal, &format!("{pointer}/codigoPostal"));
    let pais = e.required(pais, &format!("{pointer}/pais"));
    Some(DireccionEnvio {
        calle: calle?,
        ciudad: ciudad?,
        region: region?,
        codigo_postal: codigo_postal?,
        pais: pais?,
    })
}

/// Reads a whole body as `T`. Text that is not JSON is malformed; a
/// structural failure that serde reports (a repeated member) is located with
/// the JSON pointer `serde_path_to_error` tracked. `Ok(Err(detail))`: the
/// document is not the kind of JSON value `T` reads.
fn read<T: for<'de> FromJson<'de>>(body: &[u8]) -> Result<Result<T, String>, ApiError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let Checked(value) = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let pointer = pointer(e.path());
        let error = e.into_inner();
        if error.classify() == Category::Data {
            ApiError::Validation(vec![FieldError::new(pointer, without_position(&error))])
        } else {
            ApiError::MalformedJson(error.to_string())
        }
    })?;
    json.end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

/// The JSON pointer (RFC 6901) of a serde path.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .map(|segment| match segment {
            Segment::Seq { index } => format!("/{index}"),
            Segment::Map { key } => format!("/{}", escape(key)),
            Segment::Enum { variant } => format!("/{}", escape(variant)),
            Segment::Unknown => "/?".to_owned(),
        })
        .collect()
}

/// A serde_json error's message without its " at line L column C" suffix
/// (the pointer says where).
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// Escapes a key for use in a JSON pointer (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The field errors found so far, in the order the fields are checked.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, pointer: impl Into<String>, detail: impl Into<String>) {
        self.0.push(FieldError::new(pointer, detail));
    }

    /// A required member; absent and `null` are "is required".
    fn required<T>(&mut self, field: Field<T>, pointer: &str) -> Option<T> {
        match field {
            Field::Valid(value) => Some(value),
            Field::Missing => {
                self.push(pointer, "is required");
                None
            }
            Field::Invalid(detail) => {
                self.push(pointer, detail);
                None
            }
        }
    }

    /// An optional member: `Some(None)` when absent or `null`, `None` when invalid.
    fn optional<T>(&mut self, field: Field<T>, pointer: &str) -> Option<Option<T>> {
        match field {
            Field::Missing => Some(None),
            other => self.required(other, pointer).map(Some),
        }
    }

    /// An object's known members; each unknown one is reported first.
    fn object<T>(&mut self, object: Result<Object<T>, String>, pointer: &str) -> Option<T> {
        match object {
            Ok(Object { value, unknown }) => {
                for key in unknown {
                    self.push(format!("{pointer}/{}", escape(&key)), "unknown field");
                }
                Some(value)
            }
            Err(detail) => {
                self.push(pointer, detail);
                None
            }
        }
    }
}

impl From<Errors> for ApiError {
    fn from(errors: Errors) -> Self {
        ApiError::Validation(errors.0)
    }
}

fn detail(ValueError(message): ValueError) -> String {
    message
}

fn string(scalar: Scalar) -> Result<String, String> {
    match scalar {
        Scalar::String(text) => Ok(text),
        _ => Err("must be a string".to_owned()),
    }
}

impl FromJson<'_> for Uuid {
    fn expected() -> String {
        "must be a UUID string".to_owned()
    }

    fn from_scalar(scalar: Scalar) -> Result<Self, String> {
        let Scalar::String(text) = scalar else {
            return Err(Self::expected());
        };
        match Uuid::try_parse(&text) {
            Ok(id) if !id.is_nil() && text.len() == 36 => Ok(id),
            _ => Err("must be a UUID such as \"6f1c2a52-4a43-4c49-9d1c-0a0c5b1e8b11\"".into()),
        }
    }
}

/// Money travels as a decimal string ("10.50"), never as a JSON number: a
/// number would pass through a float in most clients and parsers.
impl FromJson<'_> for Amount {
    fn expected() -> String {
        "must be a decimal string such as \"10.50\"".to_owned()
    }

    fn from_scalar(scalar: Scalar) -> Result<Self, String> {
        match scalar {
            Scalar::String(text) => Amount::parse(&text).map_err(detail),
            Scalar::Unsigned(_) | Scalar::Negative(_) | Scalar::Float(_) => {
                Err("must be a decimal string such as \"10.50\", not a JSON number".into())
            }
            Scalar::Bool(_) | Scalar::Null => Err(Self::expected()),
        }
    }
}

impl FromJson<'_> for Quantity {
    fn expected() -> String {
        format!(
            "must be an integer from {} to {}",
            Quantity::MIN,
            Quantity::MAX
        )
    }

    fn from_scalar(scalar: Scalar) -> Result<Self, String> {
        match scalar {
            Scalar::Unsigned(n) => {
                let n = u32::try_from(n).map_err(|_| Self::expected())?;
                Quantity::new(n).map_err(detail)
            }
            _ => Err(Self::expected()),
        }
    }
}

impl FromJson<'_> for Sku {
    fn expected() -> String {
        "must be a string".to_owned()
    }

    fn from_scalar(scalar: Scalar) -> Result<Self, String> {
        Sku::parse(&string(scalar)?).map_err(detail)
    }
}

impl FromJson<'_> for Currency {
    fn expected() -> String {
        "must be a string".to_owned()
    }

    fn from_scalar(scalar: Scalar) -> Result<Self, String> {
        Currency::parse(&string(scalar)?).map_err(detail)
    }
}

/// The order's priority: one of [`Prioridad::ALL`]'s wire values, exactly.
impl FromJson<'_> for Prioridad {
    fn expected() -> String {
        "must be a string".to_owned()
    }

    fn from_scalar(scalar: Scalar) -> Result<Self, String> {
        Prioridad::parse(&string(scalar)?).map_err(detail)
    }
}

/// Bounded, trimmed text (`Street`, `PlaceName`, `PostalCode`, `Motivo`): the
/// rules live in `BoundedText`.
impl<const MAX: usize> FromJson<'_> for BoundedText<MAX> {
    fn expected() -> String {
        "must be a string".to_owned()
    }

    fn from_scalar(scalar: Scalar) -> Result<Self, String> {
        BoundedText::parse(&string(scalar)?).map_err(detail)
    }
}

#[cfg(test)]
mod tests;
