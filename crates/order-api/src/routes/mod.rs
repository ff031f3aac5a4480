//! HTTP handlers.

pub mod ops;
pub mod pedidos;
