//! The checker: independent of the services, it reads only the ledger (from
//! its file), the table (a consistent scan) and the queues and DLQs (with
//! the soak's own SDK clients, not through the proxies), and the monitor's
//! readings. It waits for the system to settle (polling, bounded), then
//! checks:
//!
//! 1. every order answered 202 is complete: processed and scheduled, each
//!    role's application counter exactly 1, its event gone from the outbox;
//! 2. no order refused for certain (every attempt refused before sending,
//!    503 `not-accepted`, or a final 4xx) is in the table; and every order
//!    the table holds is one the client sent, complete as in 1 (an order
//!    whose outcome the client never learnt may exist, but then completely);
//! 3. the DLQs hold the poison the soak injected, each at least once, and
//!    nothing else;
//! 4. the queues are empty (visible and in flight);
//! 5. a worker that made no progress past its watchdog threshold (+10 s)
//!    while its process ran and its queue had messages said so: at least
//!    one `/health/ready` sample in that stretch was not 200.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use loadgen::answer::Verdict;
use shared::orders_table::{OrderStatus, ShipmentStatus, WorkerRole, applications, attr};
use testkit::Stack;
use uuid::Uuid;

use crate::faults::poison_marker;
use crate::ledger::Entry;
use crate::monitor::Sample;
use crate::schedule::{Poison, Process};

/// Seconds beyond the watchdog threshold a stall may last before the
/// readiness samples must show it.
pub const STALL_SLACK_SECS: u64 = 10;
/// Orders named per failed check, at most.
const SHOWN: usize = 5;

/// What the client learnt about one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered 202.
    Accepted,
    /// Certainly not recorded: every attempt was refused before it was
    /// sent, answered 503 `not-accepted`, or a final 4xx.
    Refused,
    /// The client gave up without knowing (an attempt may have landed).
    Unknown,
}

/// The outcome of an order from its attempts.
pub fn outcome(attempts: &[Entry]) -> Outcome {
    let answers: Vec<_> = attempts.iter().map(Entry::answer).collect();
    if answers.iter().any(|a| a.verdict() == Verdict::Accepted) {
        Outcome::Accepted
    } else if !answers.is_empty() && answers.iter().all(|a| a.recorded_nothing()) {
        Outcome::Refused
    } else {
        Outcome::Unknown
    }
}

/// The ledger, summed up.
#[derive(Debug, Default)]
pub struct ClientFigures {
    /// Each order's outcome.
    pub outcomes: BTreeMap<Uuid, Outcome>,
    /// Attempts in all.
    pub attempts: usize,
    /// Orders posted more than once.
    pub retried_orders: usize,
    /// Attempts by answer ("202", "503 outcome-unknown", "refused", ...).
    pub answers: BTreeMap<String, usize>,
}

impl ClientFigures {
    /// From the ledger's orders.
    pub fn of(orders: &BTreeMap<Uuid, Vec<Entry>>) -> Self {
        let mut figures = Self::default();
        for (id, attempts) in orders {
            figures.outcomes.insert(*id, outcome(attempts));
            figures.attempts += attempts.len();
            figures.retried_orders += usize::from(attempts.len() > 1);
            for entry in attempts {
                let answer = entry.answer();
                let label = match &entry.problem {
                    Some(problem) => format!("{} {problem}", answer.label()),
                    None => answer.label(),
                };
                *figures.answers.entry(label).or_default() += 1;
            }
        }
        figures
    }

    /// Orders with this outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.outcomes.values().filter(|o| **o == outcome).count()
    }
}

/// An order item with both effects, each applied exactly once, and no
/// event left in its outbox; else what is wrong with it.
fn incomplete(item: &HashMap<String, AttributeValue>) -> Option<String> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => s.as_str(),
        _ => "-",
    };
    let counts: Vec<u64> = WorkerRole::ALL
        .iter()
        .map(|role| applications(item, *role))
        .collect();
    let outbox = [attr::EVENTO_CREADO, attr::EVENTO_CANCELADO]
        .iter()
        .any(|e| item.contains_key(*e));
    let complete = counts == [1, 1]
        && text(attr::ESTADO) == OrderStatus::Procesado.as_str()
        && text(attr::ENVIO_ESTADO) == ShipmentStatus::Programado.as_str()
        && !outbox;
    (!complete).then(|| {
        format!(
            "estado {}, envio {}, applied procesamiento {}x logistica {}x{}",
            text(attr::ESTADO),
            text(attr::ENVIO_ESTADO),
            counts[0],
            counts[1],
            if outbox {
                ", event still in the outbox"
            } else {
                ""
            }
        )
    })
}

/// Every order item of the table, by id.
async fn orders_in_table(st: &Stack) -> BTreeMap<Uuid, HashMap<String, AttributeValue>> {
    st.all_orders()
        .await
        .into_iter()
        .filter_map(|item| match item.get(attr::PEDIDO_ID) {
            Some(AttributeValue::S(id)) => Uuid::try_parse(id).ok().map(|id| (id, item)),
            _ => None,
        })
        .collect()
}

/// A worker's queue and DLQ, and the poison sent to it.
pub struct WorkerQueues {
    /// The worker.
    pub worker: Process,
    /// Its queue.
    pub url: String,
    /// Its DLQ.
    pub dlq_url: String,
    /// The poison sent to its queue.
    pub poison: Vec<Poison>,
}

/// Waits (at most `limit`, polling) until the queues are empty, each DLQ
/// holds at least its poison, and every order of the table and every
/// accepted order is complete; how long it took, or `None` if it never did.
pub async fn settle(
    st: &Stack,
    queues: &[WorkerQueues],
    accepted: &BTreeSet<Uuid>,
    limit: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if settled(st, queues, accepted).await {
            return Some(started.elapsed());
        }
        if started.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn settled(st: &Stack, queues: &[WorkerQueues], accepted: &BTreeSet<Uuid>) -> bool {
    for q in queues {
        let Ok((visible, in_flight)) = testkit::try_depth(&st.clients.sqs, &q.url).await else {
            return false;
        };
        let Ok((dead, _)) = testkit::try_depth(&st.clients.sqs, &q.dlq_url).await else {
            return false;
        };
        if visible + in_flight > 0 || dead < q.poison.len() as u64 {
            return false;
        }
    }
    let table = orders_in_table(st).await;
    accepted.iter().all(|id| table.contains_key(id))
        && table.values().all(|item| incomplete(item).is_none())
}

/// One check's result.
#[derive(Debug)]
pub struct Check {
    /// What it checks.
    pub name: String,
    /// What is wrong (empty: it passed).
    pub problems: Vec<String>,
}

impl Check {
    fn new(name: impl Into<String>, problems: Vec<String>) -> Self {
        Self {
            name: name.into(),
            problems,
        }
    }

    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// "N orders: a, b, c, ... (and M more)".
fn listed(what: &str, items: &[String]) -> Vec<String> {
    if items.is_empty() {
        return Vec::new();
    }
    let mut out = vec![format!("{} {what}:", items.len())];
    out.extend(items.iter().take(SHOWN).map(|i| format!("  {i}")));
    if items.len() > SHOWN {
        out.push(format!("  ... and {} more", items.len() - SHOWN));
    }
    out
}

/// What the checker found.
pub struct Findings {
    /// The ledger summed up.
    pub client: ClientFigures,
    /// Orders in the table.
    pub orders_in_table: usize,
    /// Poison dead-lettered more than once (a DLQ send retried after a
    /// failed delete: at least once is the contract).
    pub poison_repeated: usize,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Findings {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }
}

/// No process exited unless a fault stopped it, and each stopped on
/// SIGTERM at the end exited 0 within its grace period + the cleanup
/// budget (`SHUTDOWN_GRACE_SECS` 5 s + 3 s).
pub fn processes_check(
    exits: &[String],
    stopped: &[(Process, crate::processes::Termination)],
) -> Check {
    use crate::processes::Termination;
    let mut problems: Vec<String> = exits.to_vec();
    for (process, ending) in stopped {
        match ending {
            Termination::Exited(status, took)
                if status.success() && *took <= Duration::from_secs(8) => {}
            Termination::NotRunning => {}
            other => problems.push(format!("{}: {other:?} at the end", process.name())),
        }
    }
    Check::new(
        "no process exited by itself; each exited 0 within 8 s of SIGTERM at the end",
        problems,
    )
}

/// Runs the checks (the system is assumed settled, or given up on).
pub async fn check(
    st: &Stack,
    ledger: &Path,
    run: &str,
    queues: &[WorkerQueues],
    samples: &BTreeMap<Process, Vec<Sample>>,
) -> std::io::Result<Findings> {
    let orders = crate::ledger::read(ledger)?;
    let client = ClientFigures::of(&orders);
    let table = orders_in_table(st).await;
    let mut checks = Vec::new();

    // The soak posts valid orders only, and no fault outlasts the client's
    // patience: each must end 202, every answer being one the contract
    // defines (a 500, an unnamed 503 or a 4xx is a bug, even if a retry
    // was then accepted).
    let mut not_accepted = Vec::new();
    for (id, attempts) in &orders {
        let outside: Vec<String> = attempts
            .iter()
            .filter(|e| !e.answer().in_contract_for_a_valid_order())
            .map(|e| match &e.problem {
                Some(p) => format!("{} {p}", e.answer().label()),
                None => e.answer().label(),
            })
            .collect();
        let outcome = client.outcomes.get(id).copied();
        if outcome != Some(Outcome::Accepted) || !outside.is_empty() {
            not_accepted.push(format!(
                "{id}: {outcome:?}, answers outside the contract {outside:?}"
            ));
        }
    }
    checks.push(Check::new(
        format!(
            "every order posted ended 202, every answer one the contract defines ({} orders)",
            client.outcomes.len()
        ),
        listed("orders", &not_accepted),
    ));

    let mut not_complete = Vec::new();
    for (id, outcome) in &client.outcomes {
        if *outcome == Outcome::Accepted {
            match table.get(id) {
                None => not_complete.push(format!("{id}: not in the table")),
                Some(item) => {
                    if let Some(wrong) = incomplete(item) {
                        not_complete.push(format!("{id}: {wrong}"));
                    }
                }
            }
        }
    }
    checks.push(Check::new(
        format!(
            "every order answered 202 is complete, each role applied once ({} orders)",
            client.count(Outcome::Accepted)
        ),
        listed("accepted orders not complete", &not_complete),
    ));

    let mut refused_present = Vec::new();
    let mut strangers = Vec::new();
    for (id, item) in &table {
        match client.outcomes.get(id) {
            Some(Outcome::Refused) => refused_present.push(format!(
                "{id}: {:?}",
                orders[id]
                    .iter()
                    .map(|e| e.answer().label())
                    .collect::<Vec<_>>()
            )),
            None => strangers.push(format!("{id}: not in the ledger")),
            Some(Outcome::Unknown) => {
                if let Some(wrong) = incomplete(item) {
                    strangers.push(format!("{id} (outcome unknown to the client): {wrong}"));
                }
            }
            Some(Outcome::Accepted) => {}
        }
    }
    let mut problems = listed(
        "orders refused for certain are in the table",
        &refused_present,
    );
    problems.extend(listed(
        "other orders in the table not explained or not complete",
        &strangers,
    ));
    checks.push(Check::new(
        format!(
            "no order refused for certain is in the table ({} refused), and every order there is complete ({} in the table)",
            client.count(Outcome::Refused),
            table.len()
        ),
        problems,
    ));

    let (dlq_problems, poison_repeated) = check_dlqs(st, run, queues).await;
    let injected: usize = queues.iter().map(|q| q.poison.len()).sum();
    checks.push(Check::new(
        format!("the DLQs hold exactly the {injected} poison messages injected"),
        dlq_problems,
    ));

    let mut depth_problems = Vec::new();
    for q in queues {
        match testkit::try_depth(&st.clients.sqs, &q.url).await {
            Ok((0, 0)) => {}
            Ok((visible, in_flight)) => depth_problems.push(format!(
                "{}: {visible} visible, {in_flight} in flight",
                q.worker.name()
            )),
            Err(e) => depth_problems.push(format!("{}: {e}", q.worker.name())),
        }
    }
    checks.push(Check::new(
        "the queues are empty (visible and in flight)",
        depth_problems,
    ));

    let mut stall_problems = Vec::new();
    for (worker, series) in samples {
        for stall in unreported_stalls(series, crate::processes::WATCHDOG_SECS + STALL_SLACK_SECS) {
            stall_problems.push(format!("{}: {stall}", worker.name()));
        }
    }
    checks.push(Check::new(
        format!(
            "a worker without progress for over {} + {STALL_SLACK_SECS} s with work pending was reported not ready",
            crate::processes::WATCHDOG_SECS
        ),
        stall_problems,
    ));

    Ok(Findings {
        client,
        orders_in_table: table.len(),
        poison_repeated,
        checks,
    })
}

/// What is wrong with the DLQs, and how many poison messages are there
/// more than once. The messages are read and made visible again.
async fn check_dlqs(st: &Stack, run: &str, queues: &[WorkerQueues]) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut repeated = 0;
    for q in queues {
        let messages = st.receive_all(&q.dlq_url, q.poison.len()).await;
        let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
        let mut strays = Vec::new();
        for m in &messages {
            let body = m.body().unwrap_or_default();
            match q
                .poison
                .iter()
                .find(|p| body.contains(&poison_marker(run, p.n)))
            {
                Some(p) => *seen.entry(p.n).or_default() += 1,
                None => strays.push(format!(
                    "{} (dlqReason {}): {}",
                    m.message_id().unwrap_or("?"),
                    m.message_attributes()
                        .and_then(|a| a.get("dlqReason"))
                        .and_then(|v| v.string_value())
                        .unwrap_or("none"),
                    body.chars().take(120).collect::<String>()
                )),
            }
        }
        release(st, &q.dlq_url, &messages).await;
        let missing: Vec<String> = q
            .poison
            .iter()
            .filter(|p| !seen.contains_key(&p.n))
            .map(|p| poison_marker(run, p.n))
            .collect();
        repeated += seen.values().filter(|n| **n > 1).count();
        let name = q.worker.role().unwrap_or("?");
        problems.extend(listed(
            &format!("messages in the {name} DLQ that are not poison"),
            &strays,
        ));
        problems.extend(listed(
            &format!("poison messages missing from the {name} DLQ"),
            &missing,
        ));
    }
    (problems, repeated)
}

/// Makes received messages visible again.
async fn release(st: &Stack, url: &str, messages: &[aws_sdk_sqs::types::Message]) {
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        let _ = st
            .clients
            .sqs
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await;
    }
}

/// Stretches of `samples` longer than `limit` seconds in which the process
/// ran (the same start), its queue held messages and neither progress
/// counter moved, without a `/health/ready` answer of 503 within `limit`
/// seconds of the stretch's start.
pub fn unreported_stalls(samples: &[Sample], limit: u64) -> Vec<String> {
    let stuck = |s: &Sample| s.running && s.depth.is_some_and(|d| d > 0);
    let mut found = Vec::new();
    let mut i = 0;
    while i < samples.len() {
        let first = &samples[i];
        if !stuck(first) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < samples.len() {
            let next = &samples[j + 1];
            let same = next.incarnation == first.incarnation
                && moved(first.received, next.received) == Some(false)
                && moved(first.deleted, next.deleted) == Some(false);
            let unread = next.received.is_none() || first.received.is_none();
            if !stuck(next) || !(same || unread) {
                break;
            }
            j += 1;
        }
        let stretch = &samples[i..=j];
        let length = stretch[stretch.len() - 1].t - first.t;
        // Reported: an explicit 503 by the time the threshold (+ slack)
        // had passed; a probe that did not answer is no report.
        let reported = stretch
            .iter()
            .any(|s| s.ready == Some(503) && s.t <= first.t + limit as f64);
        if length > limit as f64 && !reported {
            let mut text = String::new();
            let _ = write!(
                text,
                "no progress from t+{:.0}s to t+{:.0}s ({length:.0} s; received {}, deleted {}, queue depth {}..{}), not reported not ready within {limit} s",
                first.t,
                stretch[stretch.len() - 1].t,
                first.received.unwrap_or(f64::NAN),
                first.deleted.unwrap_or(f64::NAN),
                stretch.iter().filter_map(|s| s.depth).min().unwrap_or(0),
                stretch.iter().filter_map(|s| s.depth).max().unwrap_or(0),
            );
            found.push(text);
        }
        i = j + 1;
    }
    found
}

/// Whether a counter changed between two readings (`None` when either is unknown).
fn moved(before: Option<f64>, after: Option<f64>) -> Option<bool> {
    Some(before? != after?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Status;

    fn entry(attempt: u32, status: Status, problem: Option<&str>) -> Entry {
        Entry {
            pedido_id: Uuid::nil(),
            status,
            attempt,
            at: chrono::Utc::now(),
            problem: problem.map(str::to_owned),
        }
    }

    fn code(attempt: u32, code: u16, problem: Option<&str>) -> Entry {
        entry(attempt, Status::Code(code), problem)
    }

    fn none(attempt: u32, what: &str) -> Entry {
        entry(attempt, Status::NoAnswer(what.into()), None)
    }

    #[test]
    fn outcomes_follow_what_each_attempt_proves() {
        assert_eq!(outcome(&[code(1, 202, None)]), Outcome::Accepted);
        assert_eq!(
            outcome(&[
                none(1, "reset"),
                code(2, 409, Some("idempotency-key-in-progress")),
                code(3, 202, None)
            ]),
            Outcome::Accepted
        );
        assert_eq!(
            outcome(&[code(1, 422, Some("validation"))]),
            Outcome::Refused
        );
        assert_eq!(
            outcome(&[none(1, "refused"), code(2, 503, Some("not-accepted"))]),
            Outcome::Refused,
            "nothing was ever recorded"
        );
        assert_eq!(
            outcome(&[none(1, "timeout"), code(2, 503, Some("not-accepted"))]),
            Outcome::Unknown,
            "the timed-out attempt may have landed"
        );
        assert_eq!(
            outcome(&[code(1, 503, Some("outcome-unknown"))]),
            Outcome::Unknown
        );
        assert_eq!(outcome(&[none(1, "reset")]), Outcome::Unknown);
    }

    #[test]
    fn client_figures_count_answers_and_retries() {
        let mut orders = BTreeMap::new();
        orders.insert(Uuid::from_u128(1), vec![code(1, 202, None)]);
        orders.insert(
            Uuid::from_u128(2),
            vec![code(1, 503, Some("outcome-unknown")), code(2, 202, None)],
        );
        orders.insert(Uuid::from_u128(3), vec![none(1, "refused")]);
        let f = ClientFigures::of(&orders);
        assert_eq!(f.attempts, 4);
        assert_eq!(f.retried_orders, 1);
        assert_eq!(f.answers["202"], 2);
        assert_eq!(f.answers["503 outcome-unknown"], 1);
        assert_eq!(f.answers["refused"], 1);
        assert_eq!(f.count(Outcome::Accepted), 2);
        assert_eq!(f.count(Outcome::Refused), 1);
    }

    fn item(p: u64, l: u64, estado: &str, outbox: bool) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            (attr::ESTADO.to_owned(), AttributeValue::S(estado.into())),
            (
                attr::ENVIO_ESTADO.to_owned(),
                AttributeValue::S("PROGRAMADO".into()),
            ),
            (
                attr::APLICACIONES_PROCESAMIENTO.to_owned(),
                AttributeValue::N(p.to_string()),
            ),
            (
                attr::APLICACIONES_LOGISTICA.to_owned(),
                AttributeValue::N(l.to_string()),
            ),
        ]);
        if outbox {
            item.insert(
                attr::EVENTO_CREADO.to_owned(),
                AttributeValue::S("{}".into()),
            );
        }
        item
    }

    #[test]
    fn complete_means_both_effects_once_each_and_nothing_left_to_publish() {
        assert_eq!(incomplete(&item(1, 1, "PROCESADO", false)), None);
        assert!(
            incomplete(&item(1, 2, "PROCESADO", false)).is_some_and(|w| w.contains("logistica 2x"))
        );
        assert!(incomplete(&item(0, 1, "RECIBIDO", false)).is_some());
        assert!(incomplete(&item(1, 1, "PROCESADO", true)).is_some_and(|w| w.contains("outbox")));
    }

    fn sample(t: f64, received: f64, ready: u16, depth: u64) -> Sample {
        Sample {
            t,
            running: true,
            incarnation: 1,
            ready: Some(ready),
            received: Some(received),
            deleted: Some(received),
            depth: Some(depth),
        }
    }

    #[test]
    fn a_process_that_exits_by_itself_or_badly_on_sigterm_fails_the_run() {
        use crate::processes::Termination;
        use std::os::unix::process::ExitStatusExt;
        let clean = std::process::ExitStatus::from_raw(0);
        let failed = std::process::ExitStatus::from_raw(1 << 8);
        let fine = [
            (
                Process::Api,
                Termination::Exited(clean, Duration::from_secs(1)),
            ),
            (Process::Relay, Termination::NotRunning),
        ];
        assert!(processes_check(&[], &fine).passed());
        let exited =
            ["order-api (start 1) exited by itself (exit status: 1); started again".to_owned()];
        assert!(!processes_check(&exited, &fine).passed());
        for bad in [
            Termination::Exited(failed, Duration::from_secs(1)),
            Termination::Exited(clean, Duration::from_secs(9)),
            Termination::Killed,
        ] {
            let check = processes_check(&[], &[(Process::Api, bad)]);
            assert_eq!(check.problems.len(), 1, "{check:?}");
        }
    }

    #[test]
    fn a_long_stall_with_work_pending_must_show_in_readiness() {
        // 40 s without progress, messages waiting, always ready: reported.
        let stalled: Vec<Sample> = (0..=40)
            .map(|t| sample(f64::from(t), 5.0, 200, 3))
            .collect();
        let found = unreported_stalls(&stalled, 25);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("40 s"), "{found:?}");
        // The same with a 503 within the threshold: fine.
        let mut told = stalled.clone();
        told[20].ready = Some(503);
        assert!(unreported_stalls(&told, 25).is_empty());
        // A 503 only after the threshold is too late.
        let mut late = stalled.clone();
        late[30].ready = Some(503);
        assert_eq!(unreported_stalls(&late, 25).len(), 1, "reported too late");
        // A health endpoint that did not answer is no report.
        let mut silent = stalled.clone();
        silent[20].ready = None;
        assert_eq!(
            unreported_stalls(&silent, 25).len(),
            1,
            "silence is no report"
        );
    }

    #[test]
    fn progress_an_empty_queue_a_restart_or_a_short_stall_is_no_stall() {
        let moving: Vec<Sample> = (0..=60)
            .map(|t| sample(f64::from(t), f64::from(t / 10), 200, 3))
            .collect();
        assert!(
            unreported_stalls(&moving, 25).is_empty(),
            "moves every 10 s"
        );
        let idle: Vec<Sample> = (0..=60)
            .map(|t| sample(f64::from(t), 5.0, 200, 0))
            .collect();
        assert!(unreported_stalls(&idle, 25).is_empty(), "nothing pending");
        let mut restarted: Vec<Sample> = (0..=40)
            .map(|t| sample(f64::from(t), 5.0, 200, 3))
            .collect();
        for s in &mut restarted[20..] {
            s.incarnation = 2;
        }
        assert!(
            unreported_stalls(&restarted, 25).is_empty(),
            "two stretches of 20 s"
        );
        let mut down = restarted.clone();
        down[20].running = false;
        assert!(unreported_stalls(&down, 25).is_empty());
        let short: Vec<Sample> = (0..=20)
            .map(|t| sample(f64::from(t), 5.0, 200, 3))
            .collect();
        assert!(unreported_stalls(&short, 25).is_empty());
    }
}
