//! loadgen: posts orders to a running order-api and waits until every
//! accepted order reads back as processed (`PROCESADO`) and scheduled
//! (`envio.estado = PROGRAMADO`), measuring what was lost and how long it took.

pub mod answer;
pub mod item_size;
pub mod progress;
pub mod stats;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::answer::{Answer, Verdict};
use crate::progress::Progress;
use crate::stats::Percentiles;

/// How orders are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// This many orders per second, whatever the latency (open model).
    Rate(f64),
    /// This many requests outstanding at any time (closed model).
    Concurrency(usize),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Base URL of order-api, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Orders to post.
    pub orders: usize,
    /// Pacing.
    pub pace: Pace,
    /// How long to wait, after the last POST, for every order to be processed.
    pub deadline: Duration,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// How many more times an order is posted after a retryable answer, as a
    /// client following the API's contract does ([`answer::Verdict::Retry`]):
    /// 503 (not accepted, outcome unknown, overloaded), 429 and other 5xx,
    /// 409 `idempotency-key-in-progress` (a refused attempt may hold its key
    /// until the lease runs out), and no answer at all (connection refused,
    /// reset, or the client's timeout). Each retry sends the same body and
    /// `Idempotency-Key` (the order id) after the answer's `Retry-After`, or
    /// a backoff when it has none ([`answer::Answer::wait`], at most 5 s).
    /// 0: the first answer counts, and no `Idempotency-Key` is sent.
    pub retries: u32,
}

/// Why a run could not be carried out at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// Invalid configuration.
    #[error("{0}")]
    Config(String),
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Orders posted.
    pub posted: usize,
    /// Answered 202 (after retries, when [`LoadConfig::retries`] allows them).
    pub accepted: usize,
    /// Accepted orders that were posted more than once (after a retryable answer).
    pub retried: usize,
    /// Not accepted, by HTTP status (`refused`, `reset` or `timeout` when no answer came).
    pub rejected: BTreeMap<String, usize>,
    /// Accepted but not processed by both workers within the deadline.
    pub lost: Vec<Uuid>,
    /// POST to both effects recorded, from the workers' own timestamps.
    pub end_to_end: Percentiles,
    /// Latency of the POST itself.
    pub api: Percentiles,
    /// Accepted orders per second while posting.
    pub post_throughput: f64,
    /// Orders fully processed per second, from the first POST to the last completion.
    pub end_to_end_throughput: f64,
    /// Wall time of the whole run, seconds.
    pub elapsed_secs: f64,
}

impl Report {
    /// Orders not accepted.
    pub fn rejected_total(&self) -> usize {
        self.rejected.values().sum()
    }

    /// A human-readable summary.
    pub fn summary(&self) -> String {
        let rejected: Vec<String> = self
            .rejected
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!(
            "posted      {posted}\naccepted    {accepted}{retried}\nrejected    {rej} {detail}\nlost        {lost}\n\
             end-to-end  p50 {e50:.1} ms  p90 {e90:.1} ms  p99 {e99:.1} ms  max {emax:.1} ms\n\
             api         p50 {a50:.2} ms  p99 {a99:.2} ms\n\
             throughput  {pt:.1} orders/s posted, {et:.1} orders/s end to end ({secs:.1} s in all)",
            posted = self.posted,
            accepted = self.accepted,
            retried = if self.retried > 0 {
                format!(" ({} after a retry)", self.retried)
            } else {
                String::new()
            },
            rej = self.rejected_total(),
            detail = if rejected.is_empty() {
                String::new()
            } else {
                format!("({})", rejected.join(", "))
            },
            lost = self.lost.len(),
            e50 = self.end_to_end.p50_ms,
            e90 = self.end_to_end.p90_ms,
            e99 = self.end_to_end.p99_ms,
            emax = self.end_to_end.max_ms,
            a50 = self.api.p50_ms,
            a99 = self.api.p99_ms,
            pt = self.post_throughput,
            et = self.end_to_end_throughput,
            secs = self.elapsed_secs,
        )
    }
}

/// A valid order for a random customer, with a client-chosen `pedidoId`.
pub fn sample_order(pedido_id: Uuid) -> serde_json::Value {
    let units = 1 + (pedido_id.as_u128() % 5) as u64;
    // Money in integer cents: 2 decimals exactly, never a float.
    let total_cents = 1_000_050 * units + 500_000;
    serde_json::json!({
        "pedidoId": pedido_id,
        "clienteId": Uuid::new_v4(),
        "moneda": "CLP",
        "items": [
            {"sku": "SKU-001", "cantidad": units, "precioUnitario": "10000.50"},
            {"sku": "SKU-002", "cantidad": 1, "precioUnitario": "5000"}
        ],
        "total": format!("{}.{:02}", total_cents / 100, total_cents % 100),
        "direccionEnvio": {"calle": "Av. Providencia 1234", "ciudad": "Santiago", "region": "RM", "pais": "CL"}
    })
}

struct Accepted {
    sent_at: SystemTime,
}

enum PostResult {
    /// The order, when it was first posted, the last POST's latency, and
    /// whether it took more than one POST.
    Accepted(Uuid, SystemTime, Duration, bool),
    Rejected(String, Duration),
}

async fn post_one(client: &reqwest::Client, url: &str, retries: u32) -> PostResult {
    let id = Uuid::new_v4();
    let body = sample_order(id);
    let key = id.to_string();
    let sent_at = SystemTime::now();
    let mut attempt = 0;
    loop {
        let mut request = client.post(url).json(&body);
        if retries > 0 {
            request = request.header("Idempotency-Key", &key);
        }
        let started = Instant::now();
        let answer = Answer::of(request.send().await).await;
        let latency = started.elapsed();
        match answer.verdict() {
            Verdict::Accepted => return PostResult::Accepted(id, sent_at, latency, attempt > 0),
            Verdict::Retry if attempt < retries => {
                attempt += 1;
                tokio::time::sleep(answer.wait(attempt)).await;
            }
            Verdict::Retry | Verdict::Final => {
                return PostResult::Rejected(answer.label(), latency);
            }
        }
    }
}

/// When both effects were recorded, if they were.
fn completed_at(order: &serde_json::Value) -> Option<DateTime<Utc>> {
    if order["estado"] != "PROCESADO" || order["envio"]["estado"] != "PROGRAMADO" {
        return None;
    }
    let at = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok());
    Some(at(&order["procesadoEn"])?.max(at(&order["envio"]["actualizadoEn"])?))
}

/// Posts the orders, then waits for all of them to be processed.
pub async fn run(config: &LoadConfig) -> Result<Report, LoadError> {
    if config.orders == 0 {
        return Err(LoadError::Config("--orders must be at least 1".into()));
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .pool_max_idle_per_host(256)
        .build()?;
    let post_url = format!("{}/api/pedidos", config.base_url.trim_end_matches('/'));
    let progress = Progress::new(config.progress, "posting", config.orders);
    let started = Instant::now();
    let results: Vec<PostResult> = match config.pace {
        Pace::Concurrency(n) => {
            let n = n.max(1);
            futures::stream::iter(0..config.orders)
                .map(|_| {
                    let (client, url, progress) = (&client, &post_url, &progress);
                    async move {
                        let r = post_one(client, url, config.retries).await;
                        progress.tick(matches!(r, PostResult::Accepted(..)));
                        r
                    }
                })
                .buffer_unordered(n)
                .collect()
                .await
        }
        Pace::Rate(rate) => {
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(LoadError::Config("--rate must be a positive number".into()));
            }
            let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let limit = Arc::new(Semaphore::new(4096));
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..config.orders {
                ticker.tick().await;
                let permit = limit
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| LoadError::Config(e.to_string()))?;
                let (client, url, progress) = (client.clone(), post_url.clone(), progress.clone());
                let retries = config.retries;
                tasks.spawn(async move {
                    let r = post_one(&client, &url, retries).await;
                    progress.tick(matches!(r, PostResult::Accepted(..)));
                    drop(permit);
                    r
                });
            }
            let mut out = Vec::with_capacity(config.orders);
            while let Some(r) = tasks.join_next().await {
                out.push(r.unwrap_or(PostResult::Rejected("error".into(), Duration::ZERO)));
            }
            out
        }
    };
    let post_elapsed = started.elapsed();
    progress.finish();

    let mut accepted: HashMap<Uuid, Accepted> = HashMap::new();
    let mut rejected: BTreeMap<String, usize> = BTreeMap::new();
    let mut retried = 0;
    let mut api_latencies = Vec::with_capacity(results.len());
    for r in results {
        match r {
            PostResult::Accepted(id, sent_at, latency, was_retried) => {
                api_latencies.push(latency);
                retried += usize::from(was_retried);
                accepted.insert(id, Accepted { sent_at });
            }
            PostResult::Rejected(status, latency) => {
                api_latencies.push(latency);
                *rejected.entry(status).or_default() += 1;
            }
        }
    }
    let accepted_count = accepted.len();

    // Wait for both workers' effects.
    let waiting = Progress::new(config.progress, "processed", accepted_count);
    let deadline = Instant::now() + config.deadline;
    let mut e2e = Vec::with_capacity(accepted_count);
    let mut last_completion = started;
    while !accepted.is_empty() && Instant::now() < deadline {
        let ids: Vec<Uuid> = accepted.keys().copied().collect();
        let done: Vec<(Uuid, Option<DateTime<Utc>>)> = futures::stream::iter(ids)
            .map(|id| {
                let client = &client;
                let url = format!("{}/api/pedidos/{id}", config.base_url.trim_end_matches('/'));
                async move {
                    let state = match client.get(url).send().await {
                        Ok(r) if r.status().is_success() => {
                            r.json::<serde_json::Value>().await.ok()
                        }
                        _ => None,
                    };
                    (id, state.as_ref().and_then(completed_at))
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for (id, at) in done {
            if let Some(at) = at
                && let Some(order) = accepted.remove(&id)
            {
                let sent: DateTime<Utc> = order.sent_at.into();
                e2e.push((at - sent).to_std().unwrap_or_default());
                last_completion = Instant::now();
                waiting.tick(true);
            }
        }
        if !accepted.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    waiting.finish();
    let mut lost: Vec<Uuid> = accepted.into_keys().collect();
    lost.sort();
    let completed = e2e.len();
    let e2e_window = last_completion
        .duration_since(started)
        .as_secs_f64()
        .max(1e-9);
    Ok(Report {
        posted: config.orders,
        accepted: accepted_count,
        retried,
        rejected,
        lost,
        end_to_end: Percentiles::of(&mut e2e),
        api: Percentiles::of(&mut api_latencies),
        post_throughput: accepted_count as f64 / post_elapsed.as_secs_f64().max(1e-9),
        end_to_end_throughput: completed as f64 / e2e_window,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_orders_are_consistent() {
        for _ in 0..20 {
            let id = Uuid::new_v4();
            let order = sample_order(id);
            let units = order["items"][0]["cantidad"].as_u64().expect("units");
            let expected = format!(
                "{}.{:02}",
                (1_000_050 * units + 500_000) / 100,
                (1_000_050 * units + 500_000) % 100
            );
            assert_eq!(order["total"], expected);
            assert!(expected.ends_with(".50") || expected.ends_with(".00"));
            assert_eq!(order["pedidoId"], id.to_string());
        }
    }

    #[test]
    fn completion_needs_both_effects() {
        let mut order = serde_json::json!({
            "estado": "PROCESADO", "procesadoEn": "2026-11-23T10:00:01Z",
            "envio": {"estado": "PROGRAMADO", "actualizadoEn": "2026-11-23T10:00:02Z"}
        });
        assert_eq!(
            completed_at(&order).map(|t| t.to_rfc3339()),
            Some("2026-11-23T10:00:02+00:00".into())
        );
        order["envio"]["estado"] = "CANCELADO".into();
        assert_eq!(completed_at(&order), None);
        assert_eq!(
            completed_at(&serde_json::json!({"estado": "RECIBIDO"})),
            None
        );
    }
}
