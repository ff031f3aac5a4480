//! The API's side of the orders table: reading an order's state, the intake
//! record written before publishing, and idempotency keys.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use shared::contract::PedidoCreado;
use shared::orders_table::{Intake, KeyState, OrderRecord, OrdersTable, Reservation, TableError};
use uuid::Uuid;

/// Where the API keeps and reads orders. A trait so router tests can use a fake.
pub trait OrderStore: Send + Sync + 'static {
    /// The order's recorded state, `None` while nothing is recorded.
    fn get(&self, pedido_id: Uuid) -> BoxFuture<'_, Result<Option<OrderRecord>, TableError>>;
    /// Checks that the store answers.
    fn probe(&self) -> BoxFuture<'_, Result<(), TableError>>;
    /// Records a new order as received (see [`OrdersTable::record_intake`]).
    fn record_intake<'a>(
        &'a self,
        order: &'a PedidoCreado,
        idempotency_key: Option<&'a str>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Intake, TableError>>;
    /// Removes the intake record of an order certainly not published.
    fn discard_intake<'a>(
        &'a self,
        order: &'a PedidoCreado,
    ) -> BoxFuture<'a, Result<(), TableError>>;
    /// Reserves an idempotency key (see [`OrdersTable::reserve_key`]).
    fn reserve_key<'a>(
        &'a self,
        key: &'a str,
        fingerprint: &'a str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Reservation, TableError>>;
    /// Records the outcome of a key's request.
    fn finish_key<'a>(
        &'a self,
        key: &'a str,
        state: KeyState,
    ) -> BoxFuture<'a, Result<(), TableError>>;
    /// Forgets a key whose request certainly did nothing.
    fn release_key<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), TableError>>;
}

impl OrderStore for OrdersTable {
    fn get(&self, pedido_id: Uuid) -> BoxFuture<'_, Result<Option<OrderRecord>, TableError>> {
        Box::pin(OrdersTable::get(self, pedido_id))
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), TableError>> {
        Box::pin(OrdersTable::probe(self))
    }

    fn record_intake<'a>(
        &'a self,
        order: &'a PedidoCreado,
        idempotency_key: Option<&'a str>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Intake, TableError>> {
        Box::pin(OrdersTable::record_intake(
            self,
            order,
            idempotency_key,
            now,
        ))
    }

    fn discard_intake<'a>(
        &'a self,
        order: &'a PedidoCreado,
    ) -> BoxFuture<'a, Result<(), TableError>> {
        Box::pin(OrdersTable::discard_intake(self, order))
    }

    fn reserve_key<'a>(
        &'a self,
        key: &'a str,
        fingerprint: &'a str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Reservation, TableError>> {
        Box::pin(OrdersTable::reserve_key(self, key, fingerprint, now, lease))
    }

    fn finish_key<'a>(
        &'a self,
        key: &'a str,
        state: KeyState,
    ) -> BoxFuture<'a, Result<(), TableError>> {
        Box::pin(OrdersTable::finish_key(self, key, state))
    }

    fn release_key<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), TableError>> {
        Box::pin(OrdersTable::release_key(self, key))
    }
}
