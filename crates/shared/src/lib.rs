//! Shared building blocks of the E-ComExpress order pipeline: the event
//! contract, the orders-table layout, configuration helpers and AWS client setup.

pub mod aws;
pub mod config;
pub mod contract;
pub mod orders_table;
pub mod process;
pub mod telemetry;
