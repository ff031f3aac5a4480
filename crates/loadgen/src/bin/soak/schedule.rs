//! The fault plan, drawn from the seed alone (and the soak's length): the
//! same seed and `SOAK_SECONDS` give the same plan, printed before the run.
//!
//! Faults are dealt from a shuffled deck holding every kind once (a new
//! deck added when it runs out), so a run of a few minutes meets each kind. A fault is placed
//! only where it is safe for the invariants: at most [`MAX_AT_ONCE`] at a
//! time (a visibility hang riding on a DynamoDB pause aside), never two on
//! the same resource (a process, DynamoDB, SNS, SQS; the
//! LocalStack restart holds SNS and SQS), each resource resting
//! [`RECOVERY_SECS`] between two faults, an SQS fault never beside one that
//! stops the messages reaching the workers (it would meet no traffic), and
//! nothing in the quiet head and tail of the run. Hanging visibility changes starts only with a
//! DynamoDB pause, when the workers' heartbeats make many of them.

use std::fmt::Write as _;

/// Seconds without faults at the start (the processes warm up).
pub const HEAD_SECS: u64 = 10;
/// Faults running at once, at most.
pub const MAX_AT_ONCE: usize = 2;
/// Seconds a resource rests after a fault before the next one on it.
pub const RECOVERY_SECS: u64 = 5;

/// One of the pipeline's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// `order-api`.
    Api,
    /// `order-api relay`.
    Relay,
    /// `sqs-worker --role procesamiento`.
    Procesamiento,
    /// `sqs-worker --role logistica`.
    Logistica,
}

impl Process {
    /// Every process, in start order.
    pub const ALL: [Process; 4] = [
        Process::Api,
        Process::Relay,
        Process::Procesamiento,
        Process::Logistica,
    ];
    /// The two workers.
    pub const WORKERS: [Process; 2] = [Process::Procesamiento, Process::Logistica];

    /// Its name in the plan and the report.
    pub fn name(self) -> &'static str {
        match self {
            Process::Api => "order-api",
            Process::Relay => "outbox-relay",
            Process::Procesamiento => "worker-procesamiento",
            Process::Logistica => "worker-logistica",
        }
    }

    /// The worker role, for a worker.
    pub fn role(self) -> Option<&'static str> {
        match self {
            Process::Procesamiento => Some("procesamiento"),
            Process::Logistica => Some("logistica"),
            Process::Api | Process::Relay => None,
        }
    }
}

/// What a fault holds while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Proc(Process),
    Dynamo,
    Sns,
    Sqs,
}

/// One kind of fault, with the parameters drawn for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SIGKILL, restarted after the fault's duration.
    Kill(Process),
    /// A burst of orders, SIGTERM in the middle of it, restarted the
    /// fault's duration after it exited.
    TermMidBurst(Process),
    /// DynamoDB acts but holds every answer until the fault ends.
    DynamoPaused,
    /// DynamoDB unreachable: connections refused, open ones cut.
    DynamoCut,
    /// Every DynamoDB answer this many milliseconds late.
    DynamoSlow(u64),
    /// Every SNS answer this many milliseconds late.
    SnsSlow(u64),
    /// SNS answers this 5xx status without acting.
    SnsStatus(u16),
    /// SNS acts, then the connection is closed without its answer.
    SnsLosesAnswers,
    /// SQS answers every call with its throttling error.
    SqsThrottled,
    /// `DeleteMessageBatch` (and `DeleteMessage`) refused with `AccessDenied`.
    SqsDeletesDenied,
    /// `ChangeMessageVisibility(Batch)` answers held until the fault ends.
    SqsVisibilityHangs,
    /// Every SQS answer held until the fault ends.
    SqsBlackHole,
    /// LocalStack "restarted": both LocalStack proxies cut every connection
    /// and refuse new ones (see the legend).
    LocalStackRestart,
}

/// The deck: every kind once, its parameters still to be drawn.
impl Kind {
    fn deck() -> Vec<Kind> {
        let mut deck: Vec<Kind> = Process::ALL.into_iter().map(Kind::Kill).collect();
        deck.extend([
            Kind::TermMidBurst(Process::Api),
            Kind::DynamoPaused,
            Kind::DynamoCut,
            Kind::DynamoSlow(0),
            Kind::SnsSlow(0),
            Kind::SnsStatus(500),
            Kind::SnsLosesAnswers,
            Kind::SqsThrottled,
            Kind::SqsDeletesDenied,
            Kind::SqsVisibilityHangs,
            Kind::SqsBlackHole,
            Kind::LocalStackRestart,
        ]);
        deck
    }

    /// Seconds the fault may last (for a process: how long it stays down).
    fn durations(self) -> std::ops::RangeInclusive<u64> {
        match self {
            Kind::Kill(_) | Kind::TermMidBurst(_) => 1..=5,
            Kind::LocalStackRestart => 3..=8,
            // Held SQS calls still act (receives take messages in flight):
            // a black hole no longer than the soak's visibility timeout
            // (10 s) adds at most one receive to a message.
            Kind::SqsBlackHole => 5..=10,
            Kind::DynamoPaused | Kind::DynamoCut | Kind::SqsThrottled => 5..=15,
            // Longer than the workers' watchdog + the checker's slack
            // (15 + 10 s), so every plan has a stall check 5 must see
            // reported; shorter than their configuration-fault limit.
            Kind::SqsDeletesDenied => 27..=29,
            Kind::DynamoSlow(_)
            | Kind::SnsSlow(_)
            | Kind::SnsStatus(_)
            | Kind::SnsLosesAnswers
            | Kind::SqsVisibilityHangs => 5..=20,
        }
    }

    /// This kind with its parameters drawn.
    fn draw(self, rng: &mut fastrand::Rng) -> Kind {
        match self {
            Kind::TermMidBurst(_) => {
                Kind::TermMidBurst(Process::ALL[rng.usize(..Process::ALL.len())])
            }
            Kind::DynamoSlow(_) => Kind::DynamoSlow(rng.u64(2..=8) * 100),
            Kind::SnsSlow(_) => Kind::SnsSlow(rng.u64(5..=30) * 100),
            Kind::SnsStatus(_) => Kind::SnsStatus(if rng.bool() { 500 } else { 503 }),
            other => other,
        }
    }

    /// What the fault holds. A `TermMidBurst` may hit any process: it
    /// holds all of them.
    fn resources(self) -> Vec<Resource> {
        match self {
            Kind::Kill(p) => vec![Resource::Proc(p)],
            Kind::TermMidBurst(_) => Process::ALL.into_iter().map(Resource::Proc).collect(),
            Kind::DynamoPaused | Kind::DynamoCut | Kind::DynamoSlow(_) => vec![Resource::Dynamo],
            Kind::SnsSlow(_) | Kind::SnsStatus(_) | Kind::SnsLosesAnswers => vec![Resource::Sns],
            Kind::SqsThrottled
            | Kind::SqsDeletesDenied
            | Kind::SqsVisibilityHangs
            | Kind::SqsBlackHole => vec![Resource::Sqs],
            Kind::LocalStackRestart => vec![Resource::Sns, Resource::Sqs],
        }
    }

    /// Visibility changes are made only for messages held long (the
    /// heartbeat, past half the visibility timeout) or handed back: hanging
    /// them bites only while DynamoDB holds the workers' writes, so this
    /// fault starts with a DynamoDB pause.
    fn rides_on_pause(self) -> bool {
        self == Kind::SqsVisibilityHangs
    }

    /// Whether `other` would meet no traffic while this runs: SQS faults
    /// need messages published (SNS answering) and received (the workers
    /// stop receiving while their table does not answer); hanging
    /// visibility changes needs the first only (it rides on a DynamoDB pause).
    fn starves(self, other: Kind) -> bool {
        let stops_publishing = matches!(self, Kind::SnsStatus(_) | Kind::LocalStackRestart);
        let stops_receiving = matches!(self, Kind::DynamoPaused | Kind::DynamoCut);
        match other {
            Kind::SqsThrottled | Kind::SqsDeletesDenied | Kind::SqsBlackHole => {
                stops_publishing || stops_receiving
            }
            Kind::SqsVisibilityHangs => stops_publishing,
            _ => false,
        }
    }

    /// Seconds a process fault takes beyond its downtime: waiting for the
    /// exit (SIGTERM: the grace period), then the restart.
    fn overhead(self) -> u64 {
        match self {
            Kind::Kill(_) => 3,
            Kind::TermMidBurst(_) => 12,
            _ => 0,
        }
    }
}

impl Kind {
    /// What the fault does, for the plan.
    pub fn describe(&self) -> String {
        match self {
            Kind::Kill(_) => "SIGKILL, then restart".into(),
            Kind::TermMidBurst(_) => "burst of orders, SIGTERM mid-burst, then restart".into(),
            Kind::DynamoPaused => "DynamoDB paused (answers held until the end)".into(),
            Kind::DynamoCut => "DynamoDB cut (connections refused and cut)".into(),
            Kind::DynamoSlow(ms) => format!("DynamoDB slow (+{ms} ms per answer)"),
            Kind::SnsSlow(ms) => format!("SNS slow (+{ms} ms per answer)"),
            Kind::SnsStatus(status) => format!("SNS answers {status}"),
            Kind::SnsLosesAnswers => "SNS loses answers (acts, connection closed)".into(),
            Kind::SqsThrottled => "SQS throttling every call".into(),
            Kind::SqsDeletesDenied => "SQS deletes denied (AccessDenied)".into(),
            Kind::SqsVisibilityHangs => "SQS visibility changes hang".into(),
            Kind::SqsBlackHole => "SQS a black hole (every answer held)".into(),
            Kind::LocalStackRestart => "LocalStack restarted (modelled)".into(),
        }
    }

    /// Whom it hits.
    pub fn target(&self) -> String {
        match self {
            Kind::Kill(p) | Kind::TermMidBurst(p) => p.name().into(),
            Kind::DynamoPaused | Kind::DynamoCut | Kind::DynamoSlow(_) => {
                "DynamoDB proxy (all four processes)".into()
            }
            Kind::SnsSlow(_) | Kind::SnsStatus(_) | Kind::SnsLosesAnswers => {
                "SNS proxy (order-api, outbox-relay)".into()
            }
            Kind::SqsThrottled
            | Kind::SqsDeletesDenied
            | Kind::SqsVisibilityHangs
            | Kind::SqsBlackHole => "SQS proxy (both workers)".into(),
            Kind::LocalStackRestart => "SNS + SQS proxies".into(),
        }
    }
}

/// One fault of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Seconds after the start of the run.
    pub at: u64,
    /// Seconds it lasts (a process: how long it stays down).
    pub duration: u64,
    /// What it does.
    pub kind: Kind,
    /// Seconds it holds its resources (duration + a process's exit and restart).
    span: u64,
}

/// A poison message of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poison {
    /// Seconds after the start of the run.
    pub at: u64,
    /// The worker whose queue it is sent to.
    pub worker: Process,
    /// A body that is not JSON (else: an event of an unknown type).
    pub not_json: bool,
    /// Its number, unique in the run.
    pub n: usize,
}

/// The whole plan of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The seed it was drawn from.
    pub seed: u64,
    /// The run's length.
    pub seconds: u64,
    /// The faults, by start time.
    pub faults: Vec<Fault>,
    /// The poison messages, by time.
    pub poison: Vec<Poison>,
}

/// Seconds without faults at the end, so the system settles: a fifth of
/// the run, 20 to 60 s.
pub fn quiet_tail(seconds: u64) -> u64 {
    (seconds / 5).clamp(20, 60)
}

/// The plan of a run of `seconds` from `seed`.
pub fn plan(seed: u64, seconds: u64) -> Plan {
    let mut rng = fastrand::Rng::with_seed(seed);
    let end = seconds.saturating_sub(quiet_tail(seconds));
    let mut faults: Vec<Fault> = Vec::new();
    let mut deck: Vec<Kind> = Vec::new();
    let mut t = HEAD_SECS;
    while t < end {
        // A new deck once only cards waiting for a DynamoDB pause are left
        // (they stay, and ride on one of the new deck's pauses).
        if deck.iter().all(|c| c.rides_on_pause()) {
            let mut fresh = Kind::deck();
            rng.shuffle(&mut fresh);
            deck.extend(fresh);
        }
        for i in 0..deck.len() {
            let card = deck[i];
            if card.rides_on_pause() {
                continue;
            }
            let duration = rng.u64(card.durations());
            let span = duration + card.overhead();
            if t + span > end || !fits(&faults, t, span, card) {
                continue;
            }
            faults.push(Fault {
                at: t,
                duration,
                kind: card.draw(&mut rng),
                span,
            });
            deck.remove(i);
            // A pause takes a waiting visibility hang along, from its start.
            if card == Kind::DynamoPaused
                && let Some(j) = deck.iter().position(|c| c.rides_on_pause())
            {
                let rider = deck[j];
                let length = rng.u64(rider.durations()).min(duration);
                if fits(&faults, t, length, rider) {
                    faults.push(Fault {
                        at: t,
                        duration: length,
                        kind: rider.draw(&mut rng),
                        span: length,
                    });
                    deck.remove(j);
                }
            }
            break;
        }
        t += rng.u64(2..=6);
    }
    let per_worker = usize::try_from((seconds / 50).clamp(2, 20)).unwrap_or(2);
    let mut poison: Vec<Poison> = (0..2 * per_worker)
        .map(|n| Poison {
            at: rng.u64(HEAD_SECS..end.max(HEAD_SECS + 1)),
            worker: Process::WORKERS[n % 2],
            not_json: (n / 2) % 2 == 0,
            n,
        })
        .collect();
    poison.sort_by_key(|p| (p.at, p.n));
    Plan {
        seed,
        seconds,
        faults,
        poison,
    }
}

/// Whether a fault of `kind` over `[at, at + span)` may join `faults`: at
/// most [`MAX_AT_ONCE`] at a time (a fault riding on a DynamoDB pause is not
/// counted beside it), none sharing a resource with it (each resting
/// [`RECOVERY_SECS`] after a fault), and none that starves it of messages.
fn fits(faults: &[Fault], at: u64, span: u64, kind: Kind) -> bool {
    let overlaps = |f: &Fault, slack: u64| at < f.at + f.span + slack && f.at < at + span + slack;
    let resources = kind.resources();
    let running = faults
        .iter()
        .filter(|f| {
            let rides_on = kind.rides_on_pause() && f.kind == Kind::DynamoPaused;
            overlaps(f, 0) && !rides_on
        })
        .count();
    let clash = faults.iter().any(|f| {
        overlaps(f, RECOVERY_SECS)
            && (f.kind.resources().iter().any(|r| resources.contains(r))
                || f.kind.starves(kind)
                || kind.starves(f.kind))
    });
    running < MAX_AT_ONCE && !clash
}

impl Plan {
    /// Poison messages sent to `worker`'s queue.
    pub fn poison_for(&self, worker: Process) -> usize {
        self.poison.iter().filter(|p| p.worker == worker).count()
    }

    /// The plan as a table, with its legend.
    pub fn table(&self) -> String {
        let mut out = format!(
            "fault plan (seed {}, {} s; quiet head {HEAD_SECS} s, quiet tail {} s):\n  {:>5}  {:>4}  {:<52} {}\n",
            self.seed,
            self.seconds,
            quiet_tail(self.seconds),
            "at",
            "for",
            "fault",
            "target"
        );
        for f in &self.faults {
            let _ = writeln!(
                out,
                "  {:>4}s  {:>3}s  {:<52} {}",
                f.at,
                f.duration,
                f.kind.describe(),
                f.kind.target()
            );
        }
        let _ = writeln!(
            out,
            "poison: {} messages ({} per worker queue), at {}",
            self.poison.len(),
            self.poison_for(Process::Procesamiento),
            self.poison
                .iter()
                .map(|p| format!(
                    "{}s {} {}",
                    p.at,
                    p.worker.role().unwrap_or("?"),
                    if p.not_json {
                        "not-json"
                    } else {
                        "unknown-type"
                    }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out.push_str(LEGEND);
        out
    }
}

/// How each fault is made (printed under the plan).
const LEGEND: &str = "legend: each process reaches its AWS endpoint through testkit's FaultProxy
  (DynamoDB: all four; SNS: order-api and outbox-relay; SQS: both workers). 'for' is the
  fault's length; for a process, how long it stays down before it is started again.
  'LocalStack restarted' is modelled: the stack's LocalStack runs with PERSISTENCE=0
  (scripts/stack.sh), so a real restart would lose every queue and topic (and the stack is
  shared); instead both LocalStack proxies cut every open connection and refuse new ones.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        assert_eq!(plan(42, 600), plan(42, 600));
        assert_eq!(plan(7, 150).table(), plan(7, 150).table());
        assert_ne!(plan(42, 600).faults, plan(43, 600).faults);
    }

    #[test]
    fn faults_stay_inside_the_run_and_never_share_a_resource() {
        for seed in 0..200 {
            for seconds in [60, 150, 600, 3600] {
                let p = plan(seed, seconds);
                let end = seconds - quiet_tail(seconds);
                for (i, f) in p.faults.iter().enumerate() {
                    assert!(f.at >= HEAD_SECS && f.at + f.span <= end, "{f:?}");
                    let before = &p.faults[..i];
                    assert!(fits(before, f.at, f.span, f.kind), "{f:?} in {before:?}");
                }
                assert!(p.poison.iter().all(|x| x.at >= HEAD_SECS && x.at < end));
            }
        }
    }

    #[test]
    fn a_run_of_a_few_minutes_meets_most_kinds_and_a_long_one_all() {
        let kinds = |p: &Plan| {
            let mut names: Vec<String> = p
                .faults
                .iter()
                .map(|f| {
                    format!("{:?}", f.kind)
                        .split('(')
                        .next()
                        .unwrap_or("")
                        .to_owned()
                })
                .collect();
            names.sort();
            names.dedup();
            names.len()
        };
        // Kill, TermMidBurst, 3 DynamoDB, 3 SNS, 4 SQS, LocalStack: 13 kinds.
        for seed in 0..50 {
            assert_eq!(kinds(&plan(seed, 600)), 13, "seed {seed}");
            assert!(
                kinds(&plan(seed, 150)) >= 8,
                "seed {seed}: {:?}",
                plan(seed, 150).faults
            );
        }
    }

    #[test]
    fn visibility_changes_hang_only_during_a_dynamodb_pause() {
        for seed in 0..100 {
            let p = plan(seed, 600);
            for f in p
                .faults
                .iter()
                .filter(|f| f.kind == Kind::SqsVisibilityHangs)
            {
                assert!(
                    p.faults.iter().any(|d| d.kind == Kind::DynamoPaused
                        && d.at <= f.at
                        && f.at < d.at + d.span),
                    "seed {seed}: {f:?}"
                );
            }
        }
    }

    #[test]
    fn poison_is_split_evenly_between_the_workers() {
        let p = plan(1, 150);
        assert_eq!(p.poison.len(), 6);
        assert_eq!(p.poison_for(Process::Procesamiento), 3);
        assert_eq!(p.poison_for(Process::Logistica), 3);
        assert!(p.poison.iter().any(|x| x.not_json));
        assert!(p.poison.iter().any(|x| !x.not_json));
    }
}
