//! End to end: orders posted to the API at a fixed rate below the emulators'
//! capacity, until both workers processed each one.

use std::time::Duration;

use loadgen::{LoadConfig, Pace};
use testkit::{Stack, binary, free_port};

use loadgen::item_size::{item_bytes, write_units};

use crate::process::{Proc, wait_ok};
use crate::report::{Report, checked, info};
use crate::{api_env, worker_env};

/// Posts `orders` at `rate` per second through the whole pipeline.
pub async fn measure(st: &Stack, orders: usize, rate: f64, report: &mut Report) {
    eprintln!("bench: end to end, {orders} orders at {rate}/s");
    let p = st.queue("bench-proc", 5, false).await;
    let l = st.queue("bench-log", 5, false).await;
    let topic = st.topic(&[&p, &l], false).await;
    let port = free_port();
    let _api = Proc::spawn(&binary("order-api"), &api_env(st, &topic, port));
    let _wp = Proc::spawn(
        &binary("sqs-worker"),
        &worker_env(st, "procesamiento", &p, free_port()),
    );
    let _wl = Proc::spawn(
        &binary("sqs-worker"),
        &worker_env(st, "logistica", &l, free_port()),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{base}/health/ready"), Duration::from_secs(10)).await;
    let load = loadgen::run(&LoadConfig {
        base_url: base,
        orders,
        pace: Pace::Rate(rate),
        deadline: Duration::from_secs(120),
        progress: false,
        retries: 0,
    })
    .await
    .expect("loadgen");
    let e = load.end_to_end;
    report.rows.push(info(
        format!("End to end at {rate}/s ({orders} orders)"),
        format!(
            "p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            e.p50_ms, e.p90_ms, e.p99_ms, e.max_ms
        ),
    ));
    report.rows.push(checked(
        "Lost orders",
        load.lost.len().to_string(),
        "0",
        load.lost.is_empty(),
    ));
    report.json.insert(
        "endToEnd".into(),
        serde_json::to_value(&load).unwrap_or_default(),
    );
    item_sizes(st, report).await;
}

/// What DynamoDB bills an order's three writes at: the intake record's size,
/// and the size of the orders above once both workers recorded their effects
/// (each worker's write is billed at the larger of the item before and after
/// it, at most the final size).
async fn item_sizes(st: &Stack, report: &mut Report) {
    let id = uuid::Uuid::new_v4();
    let event = shared::contract::Event::parse_message_body(&testkit::creado(id)).expect("event");
    let shared::contract::EventPayload::PedidoCreado(order) = &event.payload else {
        unreachable!("creado() is a PedidoCreado")
    };
    st.table
        .record_intake(order, None, chrono::Utc::now())
        .await
        .expect("intake write");
    let intake = st.item(id).await.map_or(0, |item| item_bytes(&item));
    let mut finals: Vec<usize> = st
        .all_orders()
        .await
        .iter()
        .filter(|item| {
            item.get("envioEstado").is_some()
                && item
                    .get("estado")
                    .and_then(|e| e.as_s().ok())
                    .map(String::as_str)
                    == Some("PROCESADO")
        })
        .map(item_bytes)
        .collect();
    finals.sort_unstable();
    let (median, largest) = (
        finals.get(finals.len() / 2).copied().unwrap_or(0),
        finals.last().copied().unwrap_or(0),
    );
    let units = write_units(intake) + 2 * write_units(largest);
    report.rows.push(info(
        "DynamoDB item size (by DynamoDB's size rules)",
        format!(
            "intake record {intake} B; after both effects median {median} B, largest {largest} B ({} orders)",
            finals.len()
        ),
    ));
    report.rows.push(info(
        "DynamoDB write units per order",
        format!("{units} (intake, procesamiento, logística; 1 KB each)"),
    ));
    report.json.insert(
        "itemSizes".into(),
        serde_json::json!({"intakeBytes": intake, "finalMedianBytes": median, "finalLargestBytes": largest,
                           "orders": finals.len(), "writeUnitsPerOrder": units}),
    );
}
