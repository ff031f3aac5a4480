//! The shop's client: `SOAK_RATE` new orders a second, each with its own
//! `Idempotency-Key`, retried as the API's contract says
//! ([`loadgen::answer`]: 503, 429, 5xx, 409 in progress, a refused or reset
//! connection, a timeout) with the same body and key until a definitive
//! answer (202 or a 4xx) or [`ORDER_DEADLINE`]. Every attempt is a line of
//! the ledger. Bursts asked for by the fault injector come on top.

use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::answer::{Answer, Verdict};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::ledger::{Entry, Ledger};

/// How long one order is retried at most.
pub const ORDER_DEADLINE: Duration = Duration::from_secs(90);
/// How long the client waits for one answer (the API answers within its
/// `REQUEST_TIMEOUT_SECS`, 10 s).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// What the client sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    /// Orders at the steady rate.
    pub steady: u64,
    /// Orders of the bursts.
    pub burst: u64,
}

/// Posts `orders` orders at `rate` a second to `base`/api/pedidos, plus a
/// burst of N orders for every N received on `bursts`; returns once every
/// order has its definitive answer or ran out of time.
pub async fn run(
    base: &str,
    rate: f64,
    orders: u64,
    ledger: Arc<Ledger>,
    mut bursts: mpsc::Receiver<u64>,
) -> Sent {
    let http = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let url = format!("{base}/api/pedidos");
    let mut tasks = JoinSet::new();
    let mut sent = Sent::default();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let spawn = |tasks: &mut JoinSet<()>| {
        let (http, url, ledger) = (http.clone(), url.clone(), Arc::clone(&ledger));
        tasks.spawn(async move { order(&http, &url, &ledger).await });
    };
    while sent.steady < orders {
        tokio::select! {
            _ = ticker.tick() => {
                spawn(&mut tasks);
                sent.steady += 1;
            }
            Some(n) = bursts.recv() => {
                for _ in 0..n {
                    spawn(&mut tasks);
                }
                sent.burst += n;
            }
        }
        // Reap the finished ones as we go.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    sent
}

/// One order, from its first POST to its definitive answer or deadline.
async fn order(http: &reqwest::Client, url: &str, ledger: &Ledger) {
    let id = Uuid::new_v4();
    let body = loadgen::sample_order(id);
    let key = Uuid::new_v4().to_string();
    let deadline = Instant::now() + ORDER_DEADLINE;
    let mut attempt = 1;
    loop {
        let answer = Answer::of(
            http.post(url)
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await,
        )
        .await;
        ledger.write(&Entry::new(id, &answer, attempt));
        if answer.verdict() != Verdict::Retry {
            return;
        }
        let wait = answer.wait(attempt);
        if Instant::now() + wait >= deadline {
            return;
        }
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}
