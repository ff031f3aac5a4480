//! API cost: `POST /api/pedidos` beside what it does done directly (the same
//! conditional intake write, then the same publish), interleaved, in the
//! same run; the API's CPU per request and peak RSS.

use std::time::{Duration, Instant};

use aws_sdk_sns::types::MessageAttributeValue;
use loadgen::stats::Percentiles;
use serde_json::json;
use testkit::{Stack, binary, creado, free_port};
use uuid::Uuid;

use crate::api_env;
use crate::process::{Proc, wait_ok};
use crate::report::{Report, checked, info};

/// `requests` POSTs, `concurrency` at a time, each followed by its direct equivalent.
pub async fn measure(st: &Stack, requests: usize, concurrency: usize, report: &mut Report) {
    eprintln!("bench: API, {requests} requests at concurrency {concurrency}");
    let queue = st.queue("bench-api", 5, false).await;
    let topic = st.topic(&[&queue], false).await;
    let port = free_port();
    let api = Proc::spawn(&binary("order-api"), &api_env(st, &topic, port));
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{base}/health/ready"), Duration::from_secs(10)).await;
    let http = reqwest::Client::new();
    for _ in 0..50 {
        let _ = http
            .post(format!("{base}/api/pedidos"))
            .json(&loadgen::sample_order(Uuid::new_v4()))
            .send()
            .await;
    }
    let cpu_before = api.cpu();
    let per_task = requests / concurrency.max(1);
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (http, base, sns, topic, table) = (
                http.clone(),
                base.clone(),
                st.clients.sns.clone(),
                topic.clone(),
                st.table.clone(),
            );
            tokio::spawn(async move {
                let (mut via_api, mut direct) = (Vec::new(), Vec::new());
                for _ in 0..per_task {
                    let t = Instant::now();
                    let r = http
                        .post(format!("{base}/api/pedidos"))
                        .json(&loadgen::sample_order(Uuid::new_v4()))
                        .send()
                        .await;
                    assert!(r.is_ok_and(|r| r.status() == 202), "API request failed");
                    via_api.push(t.elapsed());
                    let body = creado(Uuid::new_v4());
                    let event = shared::contract::Event::parse_message_body(&body).expect("event");
                    let shared::contract::EventPayload::PedidoCreado(order) = &event.payload else {
                        unreachable!("creado() is a PedidoCreado")
                    };
                    let attribute = |t: &str, v: &str| {
                        MessageAttributeValue::builder()
                            .data_type(t)
                            .string_value(v)
                            .build()
                            .expect("attribute")
                    };
                    let t = Instant::now();
                    table
                        .record_intake(order, None, chrono::Utc::now())
                        .await
                        .expect("direct intake write");
                    sns.publish()
                        .topic_arn(&topic)
                        .message(body)
                        .message_attributes("eventType", attribute("String", "PedidoCreado"))
                        .message_attributes("eventVersion", attribute("Number", "1"))
                        .message_attributes("correlationId", attribute("String", "bench"))
                        .message_attributes("total", attribute("Number", "20001"))
                        .send()
                        .await
                        .expect("direct publish");
                    direct.push(t.elapsed());
                }
                (via_api, direct)
            })
        })
        .collect();
    let (mut via_api, mut direct) = (Vec::new(), Vec::new());
    for t in tasks {
        let (a, d) = t.await.expect("task");
        via_api.extend(a);
        direct.extend(d);
    }
    let cpu_us = (api.cpu().saturating_sub(cpu_before)).as_secs_f64() * 1e6 / via_api.len() as f64;
    let rss = api.peak_rss() as f64 / (1024.0 * 1024.0);
    drop(api);
    let (pa, pd) = (Percentiles::of(&mut via_api), Percentiles::of(&mut direct));
    let (added_p50, added_p99) = (pa.p50_ms - pd.p50_ms, pa.p99_ms - pd.p99_ms);
    report
        .rows
        .push(info("API CPU per request", format!("{cpu_us:.0} µs")));
    report
        .rows
        .push(info("API peak RSS", format!("{rss:.1} MiB")));
    report.rows.push(info(
        "POST latency vs direct intake write + publish (p50)",
        format!(
            "{:.2} ms vs {:.2} ms: +{added_p50:.2} ms",
            pa.p50_ms, pd.p50_ms
        ),
    ));
    report.rows.push(checked(
        "POST latency vs direct intake write + publish (p99)",
        format!(
            "{:.2} ms vs {:.2} ms: +{added_p99:.2} ms",
            pa.p99_ms, pd.p99_ms
        ),
        "≤ +2 ms",
        added_p99 <= 2.0,
    ));
    report.json.insert(
        "api".into(),
        json!({"requests": via_api.len(), "cpuMicrosPerRequest": cpu_us, "peakRssMiB": rss,
               "post": pa, "directIntakeAndPublish": pd, "addedP50Ms": added_p50, "addedP99Ms": added_p99}),
    );
}
