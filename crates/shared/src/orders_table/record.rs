//! The read model: an order item as clients see it (`GET /api/pedidos/{id}`).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::layout::{Item, attr};
use crate::contract::Prioridad;

/// The order's processing state as shown to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Accepted by the API; procesamiento has not recorded it yet.
    Recibido,
    /// Recorded by procesamiento.
    Procesado,
    /// Cancelled.
    Cancelado,
}

impl OrderStatus {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recibido => "RECIBIDO",
            Self::Procesado => "PROCESADO",
            Self::Cancelado => "CANCELADO",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Recibido, Self::Procesado, Self::Cancelado]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The shipment's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipmentStatus {
    /// Scheduled by logistica.
    Programado,
    /// Cancelled with the order.
    Cancelado,
}

impl ShipmentStatus {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Programado => "PROGRAMADO",
            Self::Cancelado => "CANCELADO",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Programado, Self::Cancelado]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Where the publication of an order's events stands (the outbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Publication {
    /// An event of the order (its creation or its cancellation) is recorded
    /// and no worker has received it yet: the API publishes it right after
    /// answering, the relay if that did not happen within its deadline.
    Pendiente,
    /// Every event recorded for the order has reached the workers.
    Completada,
}

/// The shipment part of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    /// Shipment state.
    pub estado: ShipmentStatus,
    /// Tracking number, once scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking: Option<String>,
    /// Last change of the shipment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actualizado_en: Option<DateTime<Utc>>,
}

/// An order as the workers recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderRecord {
    /// The order id.
    pub pedido_id: Uuid,
    /// Processing state.
    pub estado: OrderStatus,
    /// Customer id (recorded at intake; on orders recorded before
    /// priorities, once procesamiento recorded the order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cliente_id: Option<Uuid>,
    /// The order's priority (ESTANDAR for orders recorded before priorities).
    pub prioridad: Prioridad,
    /// Total as a decimal string, once recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// Currency, once recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moneda: Option<String>,
    /// When the order was placed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fecha: Option<DateTime<Utc>>,
    /// First time any worker wrote the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creado_en: Option<DateTime<Utc>>,
    /// Last time any worker wrote the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actualizado_en: Option<DateTime<Utc>>,
    /// When procesamiento recorded the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procesado_en: Option<DateTime<Utc>>,
    /// When the cancellation was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelado_en: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motivo_cancelacion: Option<String>,
    /// The shipment, once logistica acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envio: Option<Shipment>,
    /// Where the publication of the order's events stands (absent on orders
    /// recorded before the outbox).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publicacion: Option<Publication>,
    /// When the API accepted a cancellation of the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelacion_solicitada_en: Option<DateTime<Utc>>,
}

/// A stored item that does not match the layout (written by something else).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order item attribute `{attribute}` is malformed")]
pub struct MalformedItem {
    /// The offending attribute.
    pub attribute: &'static str,
}

fn text<'a>(item: &'a Item, name: &'static str) -> Result<Option<&'a str>, MalformedItem> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(s)) => Ok(Some(s)),
        Some(AttributeValue::N(n)) => Ok(Some(n)),
        Some(_) => Err(MalformedItem { attribute: name }),
    }
}

fn parsed<T>(
    item: &Item,
    name: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, MalformedItem> {
    text(item, name)?
        .map(|s| parse(s).ok_or(MalformedItem { attribute: name }))
        .transpose()
}

fn timestamp(item: &Item, name: &'static str) -> Result<Option<DateTime<Utc>>, MalformedItem> {
    parsed(item, name, |s| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

impl OrderRecord {
    /// Reads an item in the layout of this module.
    pub fn from_item(item: &Item) -> Result<Self, MalformedItem> {
        let pedido_id =
            parsed(item, attr::PEDIDO_ID, |s| Uuid::parse_str(s).ok())?.ok_or(MalformedItem {
                attribute: attr::PEDIDO_ID,
            })?;
        let estado =
            parsed(item, attr::ESTADO, OrderStatus::parse)?.unwrap_or(OrderStatus::Recibido);
        let envio = parsed(item, attr::ENVIO_ESTADO, ShipmentStatus::parse)?
            .map(|estado| -> Result<Shipment, MalformedItem> {
                Ok(Shipment {
                    estado,
                    tracking: text(item, attr::ENVIO_TRACKING)?.map(str::to_owned),
                    actualizado_en: timestamp(item, attr::ENVIO_ACTUALIZADO_EN)?,
                })
            })
            .transpose()?;
        Ok(Self {
            pedido_id,
            estado,
            cliente_id: parsed(item, attr::CLIENTE_ID, |s| Uuid::parse_str(s).ok())?,
            prioridad: parsed(item, attr::PRIORIDAD, |s| Prioridad::parse(s).ok())?
                .unwrap_or_default(),
            total: parsed(item, attr::TOTAL, |s| {
                s.parse::<rust_decimal::Decimal>()
                    .ok()
                    .map(|d| format!("{d:.2}"))
            })?,
            moneda: text(item, attr::MONEDA)?.map(str::to_owned),
            fecha: timestamp(item, attr::FECHA)?,
            // The intake record carries only `recibidoEn` until a worker writes.
            creado_en: timestamp(item, attr::CREADO_EN)?.or(timestamp(item, attr::RECIBIDO_EN)?),
            actualizado_en: timestamp(item, attr::ACTUALIZADO_EN)?
                .or(timestamp(item, attr::RECIBIDO_EN)?),
            procesado_en: timestamp(item, attr::PROCESADO_EN)?,
            cancelado_en: timestamp(item, attr::CANCELADO_EN)?,
            motivo_cancelacion: text(item, attr::MOTIVO_CANCELACION)?
                .or(text(item, attr::CANCELACION_MOTIVO_SOLICITADO)?)
                .map(str::to_owned),
            envio,
            publicacion: if item.contains_key(attr::EVENTO_CREADO)
                || item.contains_key(attr::EVENTO_CANCELADO)
            {
                Some(Publication::Pendiente)
            } else if item.contains_key(attr::OUTBOX_DESDE) {
                Some(Publication::Completada)
            } else {
                None
            },
            cancelacion_solicitada_en: timestamp(item, attr::CANCELACION_SOLICITADA_EN)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    #[test]
    fn reads_a_full_item() {
        let id = Uuid::new_v4();
        let item: Item = [
            (attr::PEDIDO_ID, s(&id.to_string())),
            (attr::ESTADO, s("PROCESADO")),
            (attr::TOTAL, AttributeValue::N("25001".into())),
            (attr::MONEDA, s("CLP")),
            (attr::ENVIO_ESTADO, s("PROGRAMADO")),
            (attr::ENVIO_TRACKING, s("EX123")),
            (attr::CREADO_EN, s("2026-11-23T10:00:00Z")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let record = OrderRecord::from_item(&item).expect("valid item");
        assert_eq!(record.pedido_id, id);
        assert_eq!(record.estado, OrderStatus::Procesado);
        assert_eq!(record.total.as_deref(), Some("25001.00"));
        let envio = record.envio.expect("envio");
        assert_eq!(envio.estado, ShipmentStatus::Programado);
        assert_eq!(envio.tracking.as_deref(), Some("EX123"));
        let json =
            serde_json::to_value(OrderRecord::from_item(&item).expect("valid")).expect("json");
        assert_eq!(json["estado"], "PROCESADO");
        assert_eq!(json["envio"]["estado"], "PROGRAMADO");
        assert_eq!(
            json["prioridad"], "ESTANDAR",
            "absent: recorded before priorities"
        );
        let mut express = item.clone();
        express.insert(attr::PRIORIDAD.into(), s("EXPRESS"));
        assert_eq!(
            OrderRecord::from_item(&express).expect("valid").prioridad,
            Prioridad::Express
        );
        express.insert(attr::PRIORIDAD.into(), s("URGENTE"));
        assert_eq!(
            OrderRecord::from_item(&express),
            Err(MalformedItem {
                attribute: attr::PRIORIDAD
            })
        );
    }

    #[test]
    fn missing_estado_means_recibido_and_bad_values_are_reported() {
        let id = Uuid::new_v4().to_string();
        let item: Item = [(attr::PEDIDO_ID.to_owned(), s(&id))].into_iter().collect();
        assert_eq!(
            OrderRecord::from_item(&item).expect("ok").estado,
            OrderStatus::Recibido
        );
        let mut bad = item.clone();
        bad.insert(attr::ESTADO.into(), s("PERDIDO"));
        assert_eq!(
            OrderRecord::from_item(&bad),
            Err(MalformedItem {
                attribute: attr::ESTADO
            })
        );
    }
}
