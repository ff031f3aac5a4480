//! Carries out the plan: each fault at its time, through the fault proxies
//! (testkit's `FaultProxy` between each process and its AWS endpoint) or a
//! signal to a process; and the poison messages, sent straight to the queues.

use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::fault_proxy::{FaultProxy, Mode};
use tokio::sync::{Mutex, mpsc};

use crate::processes::{Fleet, Termination};
use crate::schedule::{Fault, Kind, Poison, Process};

/// The three proxies.
pub struct Proxies {
    /// In front of DynamoDB Local, for all four processes.
    pub dynamodb: Mutex<FaultProxy>,
    /// In front of LocalStack's SNS, for the API and the relay.
    pub sns: Mutex<FaultProxy>,
    /// In front of LocalStack's SQS, for the workers.
    pub sqs: Mutex<FaultProxy>,
}

/// A fault as it was carried out.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The planned fault.
    pub fault: Fault,
    /// Seconds after the start when it began and ended.
    pub began: f64,
    /// See `began`.
    pub ended: f64,
    /// What happened (an exit status, how long a SIGTERM took).
    pub note: String,
}

/// What the faults need.
pub struct Injector {
    /// The processes.
    pub fleet: Arc<Fleet>,
    /// The proxies.
    pub proxies: Arc<Proxies>,
    /// Asks the client for a burst of this many orders.
    pub bursts: mpsc::Sender<u64>,
    /// Orders in a burst.
    pub burst_size: u64,
    /// The start of the run.
    pub t0: Instant,
}

/// The AWS error of a denied SQS call.
fn access_denied() -> Mode {
    Mode::Error {
        status: 400,
        code: "AccessDenied".into(),
        message: "soak: deletes denied".into(),
    }
}

impl Injector {
    fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    /// Runs every fault at its time; returns them as carried out, in plan order.
    pub async fn run(self: Arc<Self>, faults: Vec<Fault>) -> Vec<Applied> {
        let tasks: Vec<_> = faults
            .into_iter()
            .map(|fault| {
                let me = Arc::clone(&self);
                tokio::spawn(async move {
                    tokio::time::sleep_until((me.t0 + Duration::from_secs(fault.at)).into()).await;
                    let began = me.now();
                    eprintln!(
                        "soak: t+{began:.0}s {} on {} for {} s",
                        fault.kind.describe(),
                        fault.kind.target(),
                        fault.duration
                    );
                    let note = me
                        .apply(&fault.kind, Duration::from_secs(fault.duration))
                        .await;
                    Applied {
                        fault,
                        began,
                        ended: me.now(),
                        note,
                    }
                })
            })
            .collect();
        let mut applied = Vec::new();
        for task in tasks {
            match task.await {
                Ok(a) => applied.push(a),
                Err(e) => eprintln!("soak: a fault task failed: {e}"),
            }
        }
        applied
    }

    /// Applies one fault for `length`, then undoes it; what happened.
    pub async fn apply(&self, kind: &Kind, length: Duration) -> String {
        let p = &self.proxies;
        match kind {
            Kind::Kill(process) => {
                let m = self.fleet.get(*process);
                let status = m.kill().await;
                tokio::time::sleep(length).await;
                m.start();
                status.map_or_else(|| "was not running".into(), |s| format!("{s}"))
            }
            Kind::TermMidBurst(process) => {
                let _ = self.bursts.send(self.burst_size).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                let m = self.fleet.get(*process);
                let ending = m.terminate().await;
                tokio::time::sleep(length).await;
                m.start();
                match ending {
                    Termination::Exited(status, took) => {
                        format!(
                            "{} orders burst; {status} {:.1} s after SIGTERM",
                            self.burst_size,
                            took.as_secs_f64()
                        )
                    }
                    Termination::Killed => format!(
                        "{} orders burst; still running {} s after SIGTERM: SIGKILLed",
                        self.burst_size,
                        crate::processes::EXIT_LIMIT.as_secs()
                    ),
                    Termination::NotRunning => "was not running".into(),
                }
            }
            Kind::DynamoPaused => held_until_end(&p.dynamodb, None, length).await,
            Kind::DynamoCut => cut(&[&p.dynamodb], length).await,
            Kind::DynamoSlow(ms) => {
                during(&p.dynamodb, Mode::Hold(Duration::from_millis(*ms)), length).await
            }
            Kind::SnsSlow(ms) => {
                during(&p.sns, Mode::Hold(Duration::from_millis(*ms)), length).await
            }
            Kind::SnsStatus(status) => during(&p.sns, Mode::Status(*status), length).await,
            Kind::SnsLosesAnswers => during(&p.sns, Mode::CloseAfterForward, length).await,
            Kind::SqsThrottled => during(&p.sqs, Mode::Throttle, length).await,
            Kind::SqsDeletesDenied => {
                {
                    let sqs = p.sqs.lock().await;
                    sqs.set_for("DeleteMessageBatch", access_denied());
                    sqs.set_for("DeleteMessage", access_denied());
                }
                let before = seen(&p.sqs, &["DeleteMessageBatch", "DeleteMessage"]).await;
                tokio::time::sleep(length).await;
                let denied = seen(&p.sqs, &["DeleteMessageBatch", "DeleteMessage"]).await - before;
                p.sqs.lock().await.reset();
                format!("{denied} delete calls denied")
            }
            Kind::SqsVisibilityHangs => {
                held_until_end(
                    &p.sqs,
                    Some(&["ChangeMessageVisibilityBatch", "ChangeMessageVisibility"]),
                    length,
                )
                .await
            }
            Kind::SqsBlackHole => held_until_end(&p.sqs, None, length).await,
            Kind::LocalStackRestart => cut(&[&p.sns, &p.sqs], length).await,
        }
    }
}

/// Requests of `operations` seen so far by `proxy`.
async fn seen(proxy: &Mutex<FaultProxy>, operations: &[&str]) -> u64 {
    let proxy = proxy.lock().await;
    operations.iter().map(|op| proxy.seen(op)).sum()
}

/// `mode` for every request for `length`, then back to passing everything.
async fn during(proxy: &Mutex<FaultProxy>, mode: Mode, length: Duration) -> String {
    let before = proxy.lock().await.seen_total();
    proxy.lock().await.set(mode);
    tokio::time::sleep(length).await;
    let proxy = proxy.lock().await;
    proxy.reset();
    format!("{} requests met it", proxy.seen_total() - before)
}

/// Every answer (of `operations`, or all) arriving in the next `length`
/// held until its end: the service acts at once, nobody hears back until
/// the fault is over (or gives up first).
async fn held_until_end(
    proxy: &Mutex<FaultProxy>,
    operations: Option<&[&str]>,
    length: Duration,
) -> String {
    let end = Instant::now() + length;
    let count = |proxy: &FaultProxy| match operations {
        Some(ops) => ops.iter().map(|op| proxy.seen(op)).sum(),
        None => proxy.seen_total(),
    };
    let before = count(&*proxy.lock().await);
    while Instant::now() < end {
        let hold = Mode::Hold(end.saturating_duration_since(Instant::now()));
        {
            let proxy = proxy.lock().await;
            match operations {
                Some(ops) => ops.iter().for_each(|op| proxy.set_for(op, hold.clone())),
                None => proxy.set(hold),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let proxy = proxy.lock().await;
    proxy.reset();
    format!("{} requests held", count(&proxy) - before)
}

/// The proxies down (connections refused, open ones cut) for `length`.
async fn cut(proxies: &[&Mutex<FaultProxy>], length: Duration) -> String {
    for proxy in proxies {
        proxy.lock().await.down().await;
    }
    tokio::time::sleep(length).await;
    for proxy in proxies {
        proxy.lock().await.up().await;
    }
    "connections refused and cut".into()
}

/// The marker of poison message `n` of run `run` (in its body, so it
/// survives dead-lettering by the worker or by the redrive policy).
pub fn poison_marker(run: &str, n: usize) -> String {
    format!("soak-poison:{run}:{n}")
}

/// The body of a poison message: not JSON, or an event of an unknown type
/// (its `correlationId` carries the marker).
pub fn poison_body(run: &str, poison: &Poison) -> String {
    let marker = poison_marker(run, poison.n);
    if poison.not_json {
        format!("{marker} this is not JSON")
    } else {
        let id = uuid::Uuid::new_v4();
        let mut event: serde_json::Value =
            serde_json::from_str(&testkit::creado(id)).unwrap_or_default();
        event["eventType"] = "PedidoPerdido".into();
        event["correlationId"] = marker.into();
        event.to_string()
    }
}

/// Sends each poison message to its worker's queue at its time, straight
/// to SQS; returns the ones sent.
pub async fn inject_poison(
    sqs: aws_sdk_sqs::Client,
    queues: [(Process, String); 2],
    run: String,
    poison: Vec<Poison>,
    t0: Instant,
) -> Vec<Poison> {
    let mut sent = Vec::new();
    for p in poison {
        tokio::time::sleep_until((t0 + Duration::from_secs(p.at)).into()).await;
        let Some((_, url)) = queues.iter().find(|(w, _)| *w == p.worker) else {
            continue;
        };
        match sqs
            .send_message()
            .queue_url(url)
            .message_body(poison_body(&run, &p))
            .send()
            .await
        {
            Ok(_) => sent.push(p),
            Err(e) => eprintln!("soak: could not send poison {}: {e}", p.n),
        }
    }
    sent
}
