//! End to end: orders posted to the API at a fixed rate below the emulators'
//! capacity, until both workers processed each one; each build in turn
//! (`--e2e-rounds` rounds, the builds' order reversed every other round), each
//! run on a fresh table, queues and topic.
//!
//! Every process of a run talks to the emulators through a meter of its own
//! ([`crate::meter`]: DynamoDB capacity units by operation; SNS messages),
//! and the workers' SQS requests go through a counting proxy, so a build's
//! cost per order is counted from what its processes asked, not modelled:
//! - SNS publishes: the API's and the relay's (`Publish`, `PublishBatch` entries);
//! - DynamoDB writes: every write of the API, the relay and both workers
//!   (table and index units, by DynamoDB's size rules);
//! - DynamoDB reads: the relay's and the workers'; the API's reads per POST
//!   come from [`crate::intake`] (here the API also serves the load
//!   generator's GETs, which are not an order's cost);
//! - SQS: SNS's delivery to each queue, plus the workers' requests, per
//!   message as drained at saturation by the drain figure (the README's
//!   basis; at 20 orders/s a long poll returns with one message or two, so
//!   the rate measured here, shown beside it, is an upper bound).
//!
//! A build whose API has the outbox relay runs `order-api relay` beside it
//! (`RELAY_SWEEP_LAG_SECS` shortened to `--relay-sweep-lag-secs`, 20 s: the
//! same two looks at each order as production's 300 s, sooner); the run
//! waits for the sweep + 2 polls + 2 s after the last order, so the relay's
//! looks at each order are counted too.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use loadgen::item_size::item_bytes;
use loadgen::{LoadConfig, Pace};
use serde_json::json;
use shared::orders_table::{OrdersTable, is_order_id};
use testkit::fault_proxy::FaultProxy;
use testkit::{QueuePair, Stack, endpoint, free_port};

use crate::builds::Build;
use crate::cost::{DYNAMODB_RRU, DYNAMODB_WRU, PerOrder, QUEUES};
use crate::drain::{SqsPerMessage, round_order};
use crate::intake::Intake;
use crate::meter::{Meter, Service, Usage};
use crate::options::Options;
use crate::process::{Proc, metric, wait_ok};
use crate::report::{Report, checked, info, median, table};
use crate::{api_env, delete_topic, topic, worker_env};

/// Targets.
const MAX_ADDED_P50_MS: f64 = 10.0;
const MAX_COST_PER_MILLION: f64 = 4.50;
/// Worker SQS requests per message at saturation when the drain did not run
/// (its figure in the README, 2026-11-30).
const README_SQS_PER_MESSAGE: f64 = 0.20;

/// The processes of a run with a DynamoDB meter each.
const ROLES: [&str; 4] = ["api", "relay", "procesamiento", "logistica"];

/// One run of one build, measured.
#[derive(Debug)]
struct Run {
    index: usize,
    round: usize,
    build: usize,
    load: loadgen::Report,
    /// SNS usage of the API and of the relay.
    sns: BTreeMap<&'static str, Usage>,
    /// DynamoDB usage by role.
    dynamodb: BTreeMap<&'static str, Usage>,
    /// The workers' SQS requests from the first POST until both queues were empty.
    sqs_worker_requests: u64,
    /// The relay's `outbox_relay_published_total`, when it runs.
    relay_published: Option<f64>,
    /// Sizes of the orders processed by both workers.
    final_bytes: Vec<usize>,
    /// Seconds from the first snapshot to the last (the counted window).
    window_secs: f64,
    /// The relay's DynamoDB usage with no orders, and over how many seconds
    /// (its passes: lease writes, index queries), measured before the load.
    relay_idle: Option<(Usage, f64)>,
}

impl Run {
    fn orders(&self) -> f64 {
        self.load.accepted.max(1) as f64
    }

    fn publishes(&self, role: &str) -> f64 {
        self.sns.get(role).map_or(0.0, |u| u.messages() as f64) / self.orders()
    }

    fn ddb(&self, role: &str) -> Usage {
        self.dynamodb.get(role).cloned().unwrap_or_default()
    }

    /// The relay's (write, read) units per second with no orders.
    fn relay_idle_rate(&self) -> (f64, f64) {
        self.relay_idle.as_ref().map_or((0.0, 0.0), |(u, secs)| {
            (u.write_units() / secs, u.read_units() / secs)
        })
    }

    /// The relay's (write, read) units in the window beyond its idle passes:
    /// what the orders made it do.
    fn relay_for_orders(&self) -> (f64, f64) {
        let relay = self.ddb("relay");
        let (w, r) = self.relay_idle_rate();
        (
            (relay.write_units() - w * self.window_secs).max(0.0),
            (relay.read_units() - r * self.window_secs).max(0.0),
        )
    }

    /// What an order cost in this run; `sqs_worker_per_message` per queue,
    /// or as measured here when `None`. The relay's idle passes are a cost
    /// per hour, not per order ([`Run::relay_idle_rate`]), and left out.
    fn per_order(&self, intake: &Intake, sqs_worker_per_message: Option<f64>) -> PerOrder {
        let n = self.orders();
        let others = Usage::sum(
            ["api", "procesamiento", "logistica"]
                .iter()
                .filter_map(|r| self.dynamodb.get(r)),
        );
        let workers = Usage::sum(
            ["procesamiento", "logistica"]
                .iter()
                .filter_map(|r| self.dynamodb.get(r)),
        );
        let (relay_writes, relay_reads) = self.relay_for_orders();
        let sns_publishes = self.publishes("api") + self.publishes("relay");
        PerOrder {
            sns_publishes,
            sqs_deliveries: sns_publishes * QUEUES,
            sqs_worker_requests: sqs_worker_per_message
                .map_or(self.sqs_worker_requests as f64 / n, |m| m * QUEUES),
            write_units: (others.write_units() + relay_writes) / n,
            index_write_units: Usage::sum(self.dynamodb.values()).index_write_units() / n,
            read_units: intake.read_units_per_post() + (workers.read_units() + relay_reads) / n,
        }
    }
}

/// Every run, then the rows, the sections and the JSON.
pub async fn measure(
    st: &Stack,
    o: &Options,
    builds: &[Build],
    intakes: &[Intake],
    drain: Option<SqsPerMessage>,
    report: &mut Report,
) {
    let order: Vec<usize> = (0..builds.len()).collect();
    let mut runs = Vec::new();
    for round in 0..o.e2e_rounds {
        for b in round_order(&order, round) {
            let index = runs.len() + 1;
            eprintln!(
                "bench: end to end {index}: {}, round {}, {} orders at {}/s",
                builds[b].describe(),
                round + 1,
                o.e2e_orders,
                o.e2e_rate
            );
            let run = run(st, o, &builds[b], b, index, round + 1).await;
            eprintln!(
                "bench: end to end {index}: p50 {:.0} ms, {:.2} publishes/order, {:.2} WRU/order",
                run.load.end_to_end.p50_ms,
                run.publishes("api") + run.publishes("relay"),
                Usage::sum(run.dynamodb.values()).write_units() / run.orders()
            );
            runs.push(run);
        }
    }
    // The workers' SQS requests per message at saturation, per build.
    let saturated: Vec<Option<f64>> = (0..builds.len())
        .map(|b| {
            let newest = b + 1 == builds.len();
            match drain {
                Some(d) if newest => Some(d.worker),
                Some(d) if o.compare_worker.is_none() => d.older,
                _ => None,
            }
        })
        .collect();
    let summaries: Vec<Summary> = (0..builds.len())
        .map(|b| {
            let mine: Vec<&Run> = runs.iter().filter(|r| r.build == b).collect();
            Summary::of(&mine, &intakes[b], saturated[b])
        })
        .collect();
    rows(o, builds, &summaries, report);
    report
        .sections
        .push(cost_section(builds, &summaries, drain.is_some()));
    report.sections.push(runs_section(builds, &runs, intakes));
    report.json.insert(
        "endToEnd".into(),
        json!({
            "rate": o.e2e_rate,
            "ordersPerRun": o.e2e_orders,
            "rounds": o.e2e_rounds,
            "relayStaleSecs": o.relay_stale_secs,
            "relayPollSecs": o.relay_poll_secs,
            "relaySweepLagSecs": o.relay_sweep_lag_secs,
            "builds": builds.iter().zip(&summaries).map(|(b, s)| json!({
                "label": b.label, "relay": b.relay, "runs": s.runs,
                "endToEnd": {"p50Ms": s.p50, "p90Ms": s.p90, "p99Ms": s.p99, "maxMs": s.max},
                "lost": s.lost,
                "publishesPerOrder": s.publishes, "publishesExactlyOneEveryRun": s.exactly_one,
                "perOrder": s.per_order, "perOrderAtRate": s.per_order_at_rate,
                "sqsWorkerBasis": s.sqs_basis,
                "perMillion": s.per_order.per_million(), "perMillionAtRate": s.per_order_at_rate.per_million(),
                "finalItemBytes": {"median": s.final_median, "largest": s.final_largest},
                "relayIdleUnitsPerHour": s.relay_per_hour.map(|(w, r)| json!({"write": w, "read": r})),
            })).collect::<Vec<_>>(),
            "runs": runs.iter().map(|r| json!({
                "index": r.index, "round": r.round, "build": builds[r.build].label,
                "load": r.load, "sns": r.sns, "dynamodb": r.dynamodb,
                "sqsWorkerRequests": r.sqs_worker_requests, "relayPublished": r.relay_published,
                "windowSecs": r.window_secs, "relayIdle": r.relay_idle.as_ref().map(|(u, secs)| json!({"usage": u, "secs": secs})),
            })).collect::<Vec<_>>(),
        }),
    );
}

/// One build's runs, summarized (medians of the runs).
#[derive(Debug)]
struct Summary {
    runs: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    lost: usize,
    publishes: f64,
    publishes_api: f64,
    publishes_relay: f64,
    exactly_one: bool,
    per_order: PerOrder,
    per_order_at_rate: PerOrder,
    sqs_basis: &'static str,
    final_median: usize,
    final_largest: usize,
    /// The relay's idle (write, read) units per hour, when it runs.
    relay_per_hour: Option<(f64, f64)>,
}

impl Summary {
    fn of(runs: &[&Run], intake: &Intake, saturated: Option<f64>) -> Self {
        let m = |f: &dyn Fn(&Run) -> f64| median(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
        let (sqs_basis, per_message) = match saturated {
            Some(v) => ("drained at saturation in this run", Some(v)),
            None => (
                "README's drain figure (0.20 per queue)",
                Some(README_SQS_PER_MESSAGE),
            ),
        };
        let per_order = |per_message: Option<f64>| {
            let all: Vec<PerOrder> = runs
                .iter()
                .map(|r| r.per_order(intake, per_message))
                .collect();
            let med = |f: fn(&PerOrder) -> f64| median(&all.iter().map(f).collect::<Vec<_>>());
            PerOrder {
                sns_publishes: med(|p| p.sns_publishes),
                sqs_deliveries: med(|p| p.sqs_deliveries),
                sqs_worker_requests: med(|p| p.sqs_worker_requests),
                write_units: med(|p| p.write_units),
                index_write_units: med(|p| p.index_write_units),
                read_units: med(|p| p.read_units),
            }
        };
        let mut finals: Vec<usize> = runs
            .iter()
            .flat_map(|r| r.final_bytes.iter().copied())
            .collect();
        finals.sort_unstable();
        Self {
            runs: runs.len(),
            p50: m(&|r| r.load.end_to_end.p50_ms),
            p90: m(&|r| r.load.end_to_end.p90_ms),
            p99: m(&|r| r.load.end_to_end.p99_ms),
            max: runs
                .iter()
                .map(|r| r.load.end_to_end.max_ms)
                .fold(0.0, f64::max),
            lost: runs
                .iter()
                .map(|r| r.load.lost.len() + r.load.rejected_total())
                .sum(),
            publishes: m(&|r| r.publishes("api") + r.publishes("relay")),
            publishes_api: m(&|r| r.publishes("api")),
            publishes_relay: m(&|r| r.publishes("relay")),
            exactly_one: runs.iter().all(|r| {
                let published: u64 = r.sns.values().map(Usage::messages).sum();
                published == r.load.accepted as u64
            }),
            per_order: per_order(per_message),
            per_order_at_rate: per_order(None),
            sqs_basis,
            final_median: finals.get(finals.len() / 2).copied().unwrap_or(0),
            final_largest: finals.last().copied().unwrap_or(0),
            relay_per_hour: runs.iter().any(|r| r.relay_idle.is_some()).then(|| {
                (
                    m(&|r| r.relay_idle_rate().0) * 3600.0,
                    m(&|r| r.relay_idle_rate().1) * 3600.0,
                )
            }),
        }
    }
}

fn rows(o: &Options, builds: &[Build], s: &[Summary], report: &mut Report) {
    for (b, s) in builds.iter().zip(s) {
        report.rows.push(info(
            format!(
                "End to end at {}/s, {} (median of {} run(s) of {} orders)",
                o.e2e_rate,
                b.describe(),
                s.runs,
                o.e2e_orders
            ),
            format!(
                "p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                s.p50, s.p90, s.p99, s.max
            ),
        ));
    }
    let (newest, new) = (builds.last().expect("a build"), s.last().expect("a build"));
    if let (Some(previous), Some(old)) = (builds.first().filter(|_| builds.len() > 1), s.first()) {
        let added = new.p50 - old.p50;
        report.rows.push(checked(
            format!("End-to-end p50, {} vs {}", newest.label, previous.label),
            format!("{:.0} ms vs {:.0} ms: {added:+.0} ms", new.p50, old.p50),
            "≤ +10 ms",
            added <= MAX_ADDED_P50_MS,
        ));
    }
    let lost: usize = s.iter().map(|s| s.lost).sum();
    report.rows.push(checked(
        "Lost or refused orders (all end-to-end runs)",
        lost.to_string(),
        "0",
        lost == 0,
    ));
    let each = |f: &dyn Fn(&Summary) -> String| {
        builds
            .iter()
            .zip(s)
            .map(|(b, s)| format!("{} {}", b.label, f(s)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    report.rows.push(checked(
        "SNS publishes per order, happy path (counted at SNS)",
        each(&|s| {
            format!(
                "{:.3} (API {:.3}, relay {:.3})",
                s.publishes, s.publishes_api, s.publishes_relay
            )
        }),
        &format!("1.00 in every run ({})", newest.label),
        new.exactly_one,
    ));
    report.rows.push(info(
        "DynamoDB units per order (ConsumedCapacity, counted)",
        each(&|s| {
            format!(
                "{:.2} WRU (indexes {:.2}) + {:.2} RRU",
                s.per_order.write_units, s.per_order.index_write_units, s.per_order.read_units
            )
        }),
    ));
    report.rows.push(info(
        "DynamoDB item size after both workers (by DynamoDB's size rules)",
        each(&|s| format!("median {} B, largest {} B", s.final_median, s.final_largest)),
    ));
    let total = |s: &Summary| s.per_order.per_million().total;
    report.rows.push(checked(
        "Cost per million orders at list prices (counted; SQS workers at saturation)",
        each(&|s| {
            format!(
                "${:.3} (at {}/s as measured: ${:.3})",
                total(s),
                o.e2e_rate,
                s.per_order_at_rate.per_million().total
            )
        }),
        &format!("≤ $4.50 ({})", newest.label),
        total(new) <= MAX_COST_PER_MILLION,
    ));
}

fn cost_section(builds: &[Build], s: &[Summary], drained: bool) -> String {
    let head: Vec<String> = std::iter::once("Per order (median of runs)".to_owned())
        .chain(builds.iter().map(|b| b.label.clone()))
        .collect();
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let line = |name: &str, f: &dyn Fn(&Summary) -> String| -> Vec<String> {
        std::iter::once(name.to_owned())
            .chain(s.iter().map(f))
            .collect()
    };
    let rows = vec![
        line("SNS publishes (API + relay)", &|s| {
            format!(
                "{:.3} → ${:.2}",
                s.per_order.sns_publishes,
                s.per_order.per_million().sns
            )
        }),
        line(
            "SQS: deliveries (2 per publish) + workers' requests",
            &|s| {
                format!(
                    "{:.2} + {:.2} → ${:.2}",
                    s.per_order.sqs_deliveries,
                    s.per_order.sqs_worker_requests,
                    s.per_order.per_million().sqs
                )
            },
        ),
        line("Workers' SQS requests: basis", &|s| s.sqs_basis.to_owned()),
        line("DynamoDB write units (of which indexes)", &|s| {
            format!(
                "{:.2} ({:.2}) → ${:.2}",
                s.per_order.write_units,
                s.per_order.index_write_units,
                s.per_order.per_million().dynamodb_writes
            )
        }),
        line("DynamoDB read units (API intake, relay, workers)", &|s| {
            format!(
                "{:.3} → ${:.3}",
                s.per_order.read_units,
                s.per_order.per_million().dynamodb_reads
            )
        }),
        line("**Total per million orders**", &|s| {
            format!("**${:.3}**", s.per_order.per_million().total)
        }),
        line(
            "Relay's idle passes (lease writes, index queries), per month",
            &|s| {
                s.relay_per_hour.map_or_else(
                    || "no relay".to_owned(),
                    |(w, r)| {
                        let month = 730.0 * (w * DYNAMODB_WRU + r * DYNAMODB_RRU) / 1e6;
                        format!("{w:.0} WRU + {r:.0} RRU per hour → ${month:.2} per month")
                    },
                )
            },
        ),
        line(
            "Total with the workers' SQS requests as measured at this rate",
            &|s| {
                format!(
                    "${:.3} ({:.2} worker requests)",
                    s.per_order_at_rate.per_million().total,
                    s.per_order_at_rate.sqs_worker_requests
                )
            },
        ),
    ];
    format!(
        "### Cost per million orders\n\nCounted in the end-to-end runs: each process reached the emulators through a meter \
         (DynamoDB Local's `ConsumedCapacity` with indexes, plus AWS's minimums Local does not bill: 1 WRU per failed \
         conditional write, 0.5 RRU per missing item or empty query), priced at $0.50 per million SNS publishes, $0.40 \
         per million SQS requests, $0.625 per million WRU and $0.125 per million RRU (us-east-1 list prices). The workers' \
         SQS requests are {}. Not counted: client GETs, free tiers, data transfer, CloudWatch, KMS, the tasks.\n\n{}",
        if drained {
            "those of this run's drain at 0/0 (receives and deletes of 10 messages)"
        } else {
            "the README's drain figure, 0.20 per queue (the drain did not run)"
        },
        table(&head, &rows)
    )
}

fn runs_section(builds: &[Build], runs: &[Run], intakes: &[Intake]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let n = r.orders();
            let per = |role: &str| r.ddb(role).write_units() / n;
            let (relay_writes, relay_reads) = r.relay_for_orders();
            let p = r.per_order(&intakes[r.build], None);
            vec![
                r.index.to_string(),
                builds[r.build].label.clone(),
                r.round.to_string(),
                r.load.accepted.to_string(),
                format!(
                    "{:.0} / {:.0} ms",
                    r.load.end_to_end.p50_ms, r.load.end_to_end.p99_ms
                ),
                format!("{:.3} / {:.3}", r.publishes("api"), r.publishes("relay")),
                format!(
                    "{:.2} / {:.2} / {:.2} / {:.2}",
                    per("api"),
                    relay_writes / n,
                    per("procesamiento"),
                    per("logistica")
                ),
                format!("{:.3}", relay_reads / n),
                format!("{:.2}", r.sqs_worker_requests as f64 / n),
                r.ddb("relay").describe(),
                format!("${:.2}", p.per_million().total),
            ]
        })
        .collect();
    format!(
        "### End-to-end runs\n\nEach run: a fresh table, queues and topic; the build's API{}, both workers, the load \
         generator posting at a fixed rate and polling each order through the API until both effects are recorded \
         (the workers' timestamps). Per order: SNS messages (API / relay), WRU (API / relay / procesamiento / \
         logística), the relay's RRU, the workers' SQS requests at this rate, the relay's DynamoDB requests in the \
         whole run. The relay's units per order leave out its idle passes (lease writes, index queries: measured for \
         three polls before each run and subtracted at that rate over the run's window; a cost per hour, in the cost \
         table).\n\n{}",
        if builds.iter().any(|b| b.relay) {
            " (and `order-api relay` for a build that has it)"
        } else {
            ""
        },
        table(
            &[
                "#",
                "Build",
                "Round",
                "Orders",
                "p50 / p99",
                "Publishes",
                "WRU",
                "Relay RRU",
                "SQS worker req",
                "Relay requests",
                "$/M at this rate",
            ],
            &rows
        )
    )
}

/// One run of `build`.
async fn run(st: &Stack, o: &Options, build: &Build, b: usize, index: usize, round: usize) -> Run {
    let table_name = format!("bench-e2e-{}-{index}", st.suffix);
    let orders_table = OrdersTable::new(st.clients.dynamodb.clone(), table_name.clone());
    orders_table.create().await.expect("create the run's table");
    let p = st.queue(&format!("bench-e2e{index}-proc"), 5, false).await;
    let l = st.queue(&format!("bench-e2e{index}-log"), 5, false).await;
    let topic = topic(st, &format!("bench-e2e-{index}"), &[&p, &l]).await;

    let mut dynamodb = BTreeMap::new();
    for role in ROLES {
        dynamodb.insert(
            role,
            Meter::start(&endpoint("DYNAMODB"), Service::DynamoDb).await,
        );
    }
    let mut sns = BTreeMap::new();
    for role in ["api", "relay"] {
        sns.insert(role, Meter::start(&endpoint("SNS"), Service::Sns).await);
    }
    let sqs = FaultProxy::start(&endpoint("SQS")).await;
    let through = |role: &str| {
        vec![
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb[role].url()),
            (
                "AWS_ENDPOINT_URL_SNS",
                sns.get(role).map_or_else(|| endpoint("SNS"), Meter::url),
            ),
            ("AWS_ENDPOINT_URL_SQS", sqs.url()),
        ]
    };

    let mut ready = Vec::new();
    let port = free_port();
    let mut env = api_env(&table_name, &topic, port);
    env.extend(through("api"));
    let api = Proc::spawn(&build.order_api, &env);
    let base = format!("http://127.0.0.1:{port}");
    ready.push(base.clone());
    let relay = if build.relay {
        let port = free_port();
        let mut env = api_env(&table_name, &topic, port);
        env.extend(through("relay"));
        env.push(("RELAY_STALE_SECS", o.relay_stale_secs.to_string()));
        env.push(("RELAY_POLL_SECS", o.relay_poll_secs.to_string()));
        env.push(("RELAY_SWEEP_LAG_SECS", o.relay_sweep_lag_secs.to_string()));
        let relay = Proc::spawn_with_args(&build.order_api, &["relay"], &env);
        ready.push(format!("http://127.0.0.1:{port}"));
        Some((relay, format!("http://127.0.0.1:{port}")))
    } else {
        None
    };
    let mut workers = Vec::new();
    for (role, q) in [("procesamiento", &p), ("logistica", &l)] {
        let port = free_port();
        let mut env = worker_env(&table_name, role, q, port);
        env.extend(through(role));
        workers.push(Proc::spawn(&build.sqs_worker, &env));
        ready.push(format!("http://127.0.0.1:{port}"));
    }
    for url in &ready {
        wait_ok(&format!("{url}/health/ready"), Duration::from_secs(10)).await;
    }

    let usage = |meters: &BTreeMap<&'static str, Meter>| -> BTreeMap<&'static str, Usage> {
        meters.iter().map(|(k, m)| (*k, m.usage())).collect()
    };
    let relay_idle = if build.relay {
        // Three passes with no orders: the relay's cost per hour.
        let (before, started) = (dynamodb["relay"].usage(), Instant::now());
        tokio::time::sleep(Duration::from_secs(3 * o.relay_poll_secs + 1)).await;
        Some((
            dynamodb["relay"].usage().since(&before),
            started.elapsed().as_secs_f64(),
        ))
    } else {
        None
    };
    let window = Instant::now();
    let (ddb_before, sns_before, sqs_before) = (usage(&dynamodb), usage(&sns), sqs.seen_total());
    let load = loadgen::run(&LoadConfig {
        base_url: base,
        orders: o.e2e_orders,
        pace: Pace::Rate(o.e2e_rate),
        deadline: Duration::from_secs(120),
        progress: false,
        retries: 0,
    })
    .await
    .expect("loadgen");
    drained(st, &[&p, &l]).await;
    let sqs_worker_requests = sqs.seen_total().saturating_sub(sqs_before);
    if build.relay {
        let last_look = o.relay_stale_secs.max(o.relay_sweep_lag_secs);
        tokio::time::sleep(Duration::from_secs(last_look + 2 * o.relay_poll_secs + 2)).await;
    }
    let since = |now: BTreeMap<&'static str, Usage>, before: &BTreeMap<&'static str, Usage>| {
        now.into_iter()
            .map(|(k, u)| (k, u.since(&before[k])))
            .collect::<BTreeMap<_, _>>()
    };
    let (ddb_usage, sns_usage) = (
        since(usage(&dynamodb), &ddb_before),
        since(usage(&sns), &sns_before),
    );
    let window_secs = window.elapsed().as_secs_f64();
    let http = reqwest::Client::new();
    let relay_published = match &relay {
        Some((_, url)) => Some(metric(&http, url, "outbox_relay_published_total").await),
        None => None,
    };
    drop((api, relay, workers));
    let final_bytes = final_sizes(st, &table_name).await;
    cleanup(st, &[&p, &l], &topic, &table_name).await;
    Run {
        index,
        round,
        build: b,
        load,
        sns: sns_usage,
        dynamodb: ddb_usage,
        sqs_worker_requests,
        relay_published,
        final_bytes,
        window_secs,
        relay_idle,
    }
}

/// Waits (up to 30 s) until every queue is empty: the workers deleted what they processed.
async fn drained(st: &Stack, queues: &[&QueuePair]) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let mut empty = true;
        for q in queues {
            empty &= st.depth(&q.url).await == (0, 0);
        }
        if empty {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("bench: the queues were not empty 30 s after the run");
}

/// Sizes of the orders of `table` that both workers processed.
async fn final_sizes(st: &Stack, table: &str) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut start = None;
    loop {
        let Ok(out) = st
            .clients
            .dynamodb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
        else {
            return sizes;
        };
        for item in out.items.unwrap_or_default() {
            let text = |k: &str| match item.get(k) {
                Some(AttributeValue::S(v)) => Some(v.as_str()),
                _ => None,
            };
            if text(shared::orders_table::attr::PEDIDO_ID).is_some_and(is_order_id)
                && text("estado") == Some("PROCESADO")
                && item.contains_key("envioEstado")
            {
                sizes.push(item_bytes(&item));
            }
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return sizes;
        }
    }
}

/// Deletes a run's queues, topic and table, so the emulators do not slow down as they accumulate.
async fn cleanup(st: &Stack, queues: &[&QueuePair], topic: &str, table: &str) {
    delete_topic(st, topic).await;
    for q in queues {
        for url in [&q.url, &q.dlq_url] {
            if let Err(e) = st.clients.sqs.delete_queue().queue_url(url).send().await {
                eprintln!("bench: could not delete {url}: {e}");
            }
        }
    }
    if let Err(e) = st
        .clients
        .dynamodb
        .delete_table()
        .table_name(table)
        .send()
        .await
    {
        eprintln!("bench: could not delete table {table}: {e}");
    }
}
