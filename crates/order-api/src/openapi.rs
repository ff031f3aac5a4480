//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::problem::{FieldError, Problem};
use crate::readiness::ReadinessReport;
use crate::routes::{ops, pedidos};

/// The API description served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "E-ComExpress order API", description = "Accepts orders and cancellations, publishes them as events, and serves each order's state. The events are described by the AsyncAPI document at `/asyncapi.json`; this document is browsable at `/docs`."),
    paths(
        pedidos::create_order, pedidos::cancel_order, pedidos::get_order,
        ops::live, ops::ready, ops::metrics, ops::openapi, ops::asyncapi,
    ),
    components(schemas(
        pedidos::CreateOrderRequest, pedidos::ItemRequest, pedidos::AddressRequest,
        pedidos::CancelOrderRequest, pedidos::Accepted, Problem, FieldError, ReadinessReport,
        shared::orders_table::OrderRecord, shared::orders_table::Shipment,
        shared::orders_table::OrderStatus, shared::orders_table::ShipmentStatus,
    )),
    tags((name = "pedidos", description = "Orders"), (name = "ops", description = "Operations"))
)]
pub struct ApiDoc;
