//! Reading order state for `GET /api/pedidos/{pedidoId}`.

use futures::future::BoxFuture;
use shared::orders_table::{OrderRecord, OrdersTable, TableError};
use uuid::Uuid;

/// Where the API reads orders from. A trait so router tests can use a fake.
pub trait OrderReader: Send + Sync + 'static {
    /// The order's recorded state, `None` while nothing is recorded.
    fn get(&self, pedido_id: Uuid) -> BoxFuture<'_, Result<Option<OrderRecord>, TableError>>;
    /// Checks that the store answers.
    fn probe(&self) -> BoxFuture<'_, Result<(), TableError>>;
}

impl OrderReader for OrdersTable {
    fn get(&self, pedido_id: Uuid) -> BoxFuture<'_, Result<Option<OrderRecord>, TableError>> {
        Box::pin(OrdersTable::get(self, pedido_id))
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), TableError>> {
        Box::pin(OrdersTable::probe(self))
    }
}
