//! API cost: `POST /api/pedidos` of each build beside the writes it stands
//! on, done directly with a bare SDK client, interleaved request by request
//! in the same run:
//! - a direct conditional `PutItem` (`attribute_not_exists(pedidoId)`) of a
//!   copy of the newest build's intake record (same size, same index keys):
//!   what a POST that answers once its record is durable cannot beat;
//! - the same `PutItem` then the SNS publish: what a POST that publishes
//!   before answering cannot beat;
//! - `GET /health/live` of each build: the HTTP hop alone.
//!
//! Each task sends its share of every kind in one shuffled sequence, so
//! each kind (the POST itself included) follows the newest build's POST,
//! whose publish runs on after its answer, equally often. The run is
//! repeated in blocks; the added p99 is the median of the blocks'.
//! Each build's CPU per POST (with its liveness GET) and peak RSS come from
//! `/proc`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sns::types::MessageAttributeValue;
use loadgen::stats::Percentiles;
use serde_json::json;
use shared::orders_table::attr;
use testkit::{Stack, creado, free_port};
use uuid::Uuid;

use crate::builds::Build;
use crate::intake::Intake;
use crate::process::{Proc, wait_ok};
use crate::report::{Report, checked, info, median};
use crate::{api_env, delete_topic, topic};

/// Target: the newest build's POST p99 over the direct conditional write's.
const MAX_ADDED_P99_MS: f64 = 2.0;

/// What one request of an iteration is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A POST to build `i`.
    Post(usize),
    /// The direct conditional `PutItem`.
    Put,
    /// The direct `PutItem`, then the publish.
    PutPublish,
    /// `GET /health/live` of build `i`: the HTTP hop alone (what a POST
    /// adds to its write before any of its own work). Every build gets as
    /// many, so their CPU per request stays comparable.
    Live(usize),
}

/// `blocks` blocks of `requests` of each kind, `concurrency` tasks at a time.
pub async fn measure(
    st: &Stack,
    builds: &[Build],
    intakes: &[Intake],
    requests: usize,
    concurrency: usize,
    blocks: usize,
    report: &mut Report,
) {
    eprintln!(
        "bench: API, {blocks} block(s) of {requests} requests of each kind at concurrency {concurrency}: {} and the direct writes",
        builds
            .iter()
            .map(|b| b.label.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let queue = st.queue("bench-api", 5, false).await;
    let topic = topic(st, "bench-api", &[&queue]).await;
    let http = reqwest::Client::new();
    let mut apis = Vec::new();
    for b in builds {
        let port = free_port();
        let api = Proc::spawn(&b.order_api, &api_env(st.table.name(), &topic, port));
        let base = format!("http://127.0.0.1:{port}");
        wait_ok(&format!("{base}/health/ready"), Duration::from_secs(10)).await;
        for _ in 0..50 {
            let _ = http
                .post(format!("{base}/api/pedidos"))
                .json(&loadgen::sample_order(Uuid::new_v4()))
                .send()
                .await;
        }
        apis.push((api, base));
    }
    let template = intakes
        .last()
        .expect("the newest build's intake")
        .item
        .clone();
    let mut kinds: Vec<Kind> = (0..builds.len()).map(Kind::Post).collect();
    kinds.extend([Kind::Put, Kind::PutPublish]);
    kinds.extend((0..builds.len()).map(Kind::Live));
    let cpu_before: Vec<Duration> = apis.iter().map(|(api, _)| api.cpu()).collect();
    let per_task = requests.div_ceil(concurrency.max(1));
    // Every block's samples, per kind: a p99 over one block is the 20th
    // largest of 2,000, and one slow stretch of the machine moves it; the
    // figure is the median of the blocks' own.
    let mut by_block: Vec<Vec<Vec<Duration>>> = Vec::new();
    for block in 0..blocks.max(1) {
        let tasks: Vec<_> = (0..concurrency.max(1))
            .map(|task| {
                let (http, sns, dynamodb, topic, table) = (
                    http.clone(),
                    st.clients.sns.clone(),
                    st.clients.dynamodb.clone(),
                    topic.clone(),
                    st.table.name().to_owned(),
                );
                let (bases, kinds, template): (Vec<String>, _, _) = (
                    apis.iter().map(|(_, base)| base.clone()).collect(),
                    kinds.clone(),
                    template.clone(),
                );
                tokio::spawn(async move {
                    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); kinds.len()];
                    // Every request of the block in one shuffled sequence:
                    // whatever a request leaves running (the newest build
                    // publishes after its answer) falls on each kind alike,
                    // the POST itself included (per-iteration shuffles never
                    // put a kind right after itself within an iteration).
                    let mut rng = fastrand::Rng::with_seed((block * 1000 + task) as u64);
                    let mut order: Vec<usize> = (0..kinds.len())
                        .flat_map(|k| std::iter::repeat_n(k, per_task))
                        .collect();
                    rng.shuffle(&mut order);
                    for &slot in &order {
                        let t = Instant::now();
                        one(
                            kinds[slot],
                            &http,
                            &bases,
                            &dynamodb,
                            &sns,
                            &table,
                            &topic,
                            &template,
                        )
                        .await;
                        samples[slot].push(t.elapsed());
                    }
                    samples
                })
            })
            .collect();
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); kinds.len()];
        for t in tasks {
            pool(&mut samples, t.await.expect("task"));
        }
        by_block.push(samples);
    }
    let n = builds.len();
    // Per block: the newest build's POST p99 over the direct write's.
    let added_by_block: Vec<f64> = by_block
        .iter()
        .map(|block| {
            let p99 = |k: usize| Percentiles::of(&mut block[k].clone()).p99_ms;
            p99(n - 1) - p99(n)
        })
        .collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); kinds.len()];
    for block in by_block {
        pool(&mut samples, block);
    }
    let mut per_build = Vec::new();
    for (i, (api, _)) in apis.iter().enumerate() {
        let n = samples[i].len().max(1) as f64;
        let cpu_us = api.cpu().saturating_sub(cpu_before[i]).as_secs_f64() * 1e6 / n;
        let rss = api.peak_rss() as f64 / (1024.0 * 1024.0);
        per_build.push((cpu_us, rss, Percentiles::of(&mut samples[i])));
    }
    drop(apis);
    delete_topic(st, &topic).await;
    let put_p = Percentiles::of(&mut samples[n]);
    let put_publish_p = Percentiles::of(&mut samples[n + 1]);
    let live_p: Vec<Percentiles> = (0..n)
        .map(|b| Percentiles::of(&mut samples[n + 2 + b]))
        .collect();
    let blocks_text = added_by_block
        .iter()
        .map(|a| format!("{a:+.2}"))
        .collect::<Vec<_>>()
        .join(", ");
    let added_median = median(&added_by_block);
    let newest_p99 = per_build.last().expect("a build").2.p99_ms;
    rows(builds, intakes, &per_build, &put_p, &put_publish_p, report);
    report.rows.push(checked(
        format!(
            "POST p99 ({}) over the direct conditional PutItem's, median of {} block(s) of {} requests",
            builds.last().expect("a build").label,
            added_by_block.len(),
            put_p.count / added_by_block.len().max(1),
        ),
        format!(
            "{added_median:+.2} ms (blocks: {blocks_text} ms; all blocks pooled: {:+.2} ms)",
            newest_p99 - put_p.p99_ms
        ),
        "≤ +2 ms (publish after answering)",
        added_median <= MAX_ADDED_P99_MS,
    ));
    report.rows.push(info(
        "HTTP hop alone (GET /health/live, same client as the POSTs)",
        builds
            .iter()
            .zip(&live_p)
            .map(|(b, p)| format!("{} p50 {:.2} ms, p99 {:.2} ms", b.label, p.p50_ms, p.p99_ms))
            .collect::<Vec<_>>()
            .join("; "),
    ));
    report.json.insert(
        "api".into(),
        json!({
            "blocks": added_by_block.len(),
            "requestsPerKindPerBlock": put_p.count / added_by_block.len().max(1),
            "requestsPerKind": put_p.count,
            "builds": builds.iter().zip(&per_build).zip(intakes).map(|((b, (cpu, rss, p)), intake)| json!({
                "label": b.label, "cpuMicrosPerPostWithLivenessGet": cpu, "peakRssMiB": rss, "post": p,
                "intakeRecordBytes": intake.bytes, "intakeRecordSource": intake.source,
            })).collect::<Vec<_>>(),
            "directConditionalPut": put_p,
            "directConditionalPutAndPublish": put_publish_p,
            "liveness": builds.iter().zip(&live_p).map(|(b, p)| json!({"label": b.label, "get": p})).collect::<Vec<_>>(),
            "addedP99MsByBlock": added_by_block,
            "addedP99MsMedianOfBlocks": added_median,
            "directPutItemBytes": intakes.last().map(|i| i.bytes),
        }),
    );
}

/// Adds each kind's `some` samples to its `all`.
fn pool(all: &mut [Vec<Duration>], some: Vec<Vec<Duration>>) {
    for (all, some) in all.iter_mut().zip(some) {
        all.extend(some);
    }
}

fn rows(
    builds: &[Build],
    intakes: &[Intake],
    per_build: &[(f64, f64, Percentiles)],
    put: &Percentiles,
    put_publish: &Percentiles,
    report: &mut Report,
) {
    let each = |f: &dyn Fn(&(f64, f64, Percentiles)) -> String| {
        builds
            .iter()
            .zip(per_build)
            .map(|(b, v)| format!("{} {}", b.label, f(v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    report.rows.push(info(
        "API CPU per POST (a GET /health/live beside each)",
        each(&|(cpu, _, _)| format!("{cpu:.0} µs")),
    ));
    report.rows.push(info(
        "API peak RSS",
        each(&|(_, rss, _)| format!("{rss:.1} MiB")),
    ));
    report.rows.push(info(
        "Intake record (by DynamoDB's size rules)",
        builds
            .iter()
            .zip(intakes)
            .map(|(b, i)| {
                format!(
                    "{} {} B ({}; {:.2} WRU, {:.2} RRU per POST)",
                    b.label,
                    i.bytes,
                    i.source,
                    i.write_units_per_post(),
                    i.read_units_per_post()
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    ));
    report.rows.push(info(
        "POST p50",
        format!(
            "{}; direct conditional PutItem {:.2} ms, PutItem + publish {:.2} ms",
            each(&|(_, _, p)| format!("{:.2} ms", p.p50_ms)),
            put.p50_ms,
            put_publish.p50_ms
        ),
    ));
    let (newest, (_, _, new_p)) = (
        builds.last().expect("a build"),
        per_build.last().expect("a build"),
    );
    report.rows.push(info(
        format!(
            "POST p99 ({}) vs a direct conditional PutItem of its intake record, all blocks pooled",
            newest.label
        ),
        format!(
            "{:.2} ms vs {:.2} ms: {:+.2} ms",
            new_p.p99_ms,
            put.p99_ms,
            new_p.p99_ms - put.p99_ms
        ),
    ));
    if let [(previous, (_, _, old_p)), ..] = &builds.iter().zip(per_build).collect::<Vec<_>>()[..]
        && builds.len() > 1
    {
        report.rows.push(info(
            format!("POST p99, {} vs {}", newest.label, previous.label),
            format!(
                "{:.2} ms vs {:.2} ms: {:+.2} ms (target ≤ +1 ms only if the publish stays on the request path)",
                new_p.p99_ms,
                old_p.p99_ms,
                new_p.p99_ms - old_p.p99_ms
            ),
        ));
        report.rows.push(info(
            format!("POST p99 ({}) vs direct PutItem + publish", previous.label),
            format!(
                "{:.2} ms vs {:.2} ms: {:+.2} ms",
                old_p.p99_ms,
                put_publish.p99_ms,
                old_p.p99_ms - put_publish.p99_ms
            ),
        ));
    } else {
        report.rows.push(info(
            format!("POST p99 ({}) vs direct PutItem + publish", newest.label),
            format!(
                "{:.2} ms vs {:.2} ms: {:+.2} ms",
                new_p.p99_ms,
                put_publish.p99_ms,
                new_p.p99_ms - put_publish.p99_ms
            ),
        ));
    }
}

/// One request of kind `kind`.
#[allow(clippy::too_many_arguments)]
async fn one(
    kind: Kind,
    http: &reqwest::Client,
    bases: &[String],
    dynamodb: &aws_sdk_dynamodb::Client,
    sns: &aws_sdk_sns::Client,
    table: &str,
    topic: &str,
    template: &HashMap<String, AttributeValue>,
) {
    match kind {
        Kind::Post(b) => {
            let r = http
                .post(format!("{}/api/pedidos", bases[b]))
                .json(&loadgen::sample_order(Uuid::new_v4()))
                .send()
                .await;
            assert!(r.is_ok_and(|r| r.status() == 202), "API request failed");
        }
        Kind::Put => put(dynamodb, table, template).await,
        Kind::PutPublish => {
            put(dynamodb, table, template).await;
            publish(sns, topic).await;
        }
        Kind::Live(b) => {
            let r = http.get(format!("{}/health/live", bases[b])).send().await;
            assert!(r.is_ok_and(|r| r.status() == 200), "liveness failed");
        }
    }
}

/// A conditional create of a copy of `template` under a fresh `pedidoId`.
async fn put(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    template: &HashMap<String, AttributeValue>,
) {
    let mut item = template.clone();
    item.insert(
        attr::PEDIDO_ID.to_owned(),
        AttributeValue::S(Uuid::new_v4().to_string()),
    );
    dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#k)")
        .expression_attribute_names("#k", attr::PEDIDO_ID)
        .send()
        .await
        .expect("direct conditional PutItem");
}

/// The publish the API makes for an order, made directly.
async fn publish(sns: &aws_sdk_sns::Client, topic: &str) {
    let attribute = |t: &str, v: &str| {
        MessageAttributeValue::builder()
            .data_type(t)
            .string_value(v)
            .build()
            .expect("attribute")
    };
    sns.publish()
        .topic_arn(topic)
        .message(creado(Uuid::new_v4()))
        .message_attributes("eventType", attribute("String", "PedidoCreado"))
        .message_attributes("eventVersion", attribute("Number", "1"))
        .message_attributes("correlationId", attribute("String", "bench"))
        .message_attributes("total", attribute("Number", "20001"))
        .send()
        .await
        .expect("direct publish");
}
