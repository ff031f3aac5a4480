//! HTTP handlers.

pub mod docs;
pub mod ops;
pub mod pedidos;
