//! The bench's command line.

use std::path::PathBuf;
use std::time::Duration;

/// Usage, shown with `--help` and on a bad argument.
pub const USAGE: &str =
    "usage: bench [--messages 4000] [--rounds 2] [--sqs-latency-ms 20] [--dynamodb-latency-ms 8]
             [--pollers N] [--compare-worker PATH] [--requests 2000] [--concurrency 2] [--api-blocks 3]
             [--e2e-orders 600] [--e2e-rate 20] [--e2e-rounds 2] [--idle-secs 60]
             [--baseline DIR] [--baseline-label TEXT] [--label TEXT]
             [--relay-stale-secs 10] [--relay-poll-secs 2] [--relay-sweep-lag-secs 20]
             [--only startup,drain,api,e2e,idle] [--out bench/results]

  --baseline DIR   the previous build's order-api and sqs-worker (scripts/bench.sh builds them
                   in a git worktree): measured beside this build in the API and end-to-end
                   figures, and as the older worker of the drain unless --compare-worker is given";

/// One figure of the bench (`--only` picks some).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// Process start to ready, API and worker.
    Startup,
    /// The worker against the floor, at 0/0 and at the added latencies.
    Drain,
    /// The API's CPU, memory and added latency.
    Api,
    /// End-to-end latency through both workers.
    EndToEnd,
    /// An idle worker's SQS requests per minute.
    Idle,
}

impl Figure {
    /// Every figure, in the order the bench measures them.
    pub const ALL: [Figure; 5] = [
        Figure::Startup,
        Figure::Drain,
        Figure::Api,
        Figure::EndToEnd,
        Figure::Idle,
    ];

    fn parse(name: &str) -> Result<Self, String> {
        match name {
            "startup" => Ok(Self::Startup),
            "drain" => Ok(Self::Drain),
            "api" => Ok(Self::Api),
            "e2e" => Ok(Self::EndToEnd),
            "idle" => Ok(Self::Idle),
            other => Err(format!(
                "unknown figure {other:?} (startup, drain, api, e2e, idle)"
            )),
        }
    }
}

/// What to measure and where to write it.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Messages prefilled for each drain run (`--messages`).
    pub messages: usize,
    /// Rounds of drain runs at each latency (`--rounds`); medians are reported.
    pub rounds: usize,
    /// Added to every SQS answer in the second drain setting (`--sqs-latency-ms`).
    pub sqs_latency: Duration,
    /// Added to every DynamoDB answer in the second drain setting (`--dynamodb-latency-ms`).
    pub dynamodb_latency: Duration,
    /// `WORKER_POLLERS` for the worker and the floor (`--pollers`; unset: their default).
    pub pollers: Option<usize>,
    /// An older `sqs-worker` binary measured beside the current one (`--compare-worker`).
    pub compare_worker: Option<PathBuf>,
    /// API requests (`--requests`).
    pub requests: usize,
    /// API requests in flight (`--concurrency`).
    pub concurrency: usize,
    /// API blocks of `requests` each (`--api-blocks`): the added p99 is the
    /// median of the blocks' own.
    pub api_blocks: usize,
    /// End-to-end orders (`--e2e-orders`).
    pub e2e_orders: usize,
    /// End-to-end orders per second (`--e2e-rate`).
    pub e2e_rate: f64,
    /// End-to-end runs per build (`--e2e-rounds`), alternating builds (ABBA).
    pub e2e_rounds: usize,
    /// A directory with the previous build's `order-api` and `sqs-worker` (`--baseline`).
    pub baseline: Option<PathBuf>,
    /// How the report names the previous build (`--baseline-label`).
    pub baseline_label: String,
    /// How the report names this build (`--label`).
    pub label: String,
    /// `RELAY_STALE_SECS` of a relay the bench runs (`--relay-stale-secs`).
    pub relay_stale_secs: u64,
    /// `RELAY_POLL_SECS` of a relay the bench runs (`--relay-poll-secs`).
    pub relay_poll_secs: u64,
    /// `RELAY_SWEEP_LAG_SECS` of a relay the bench runs (`--relay-sweep-lag-secs`;
    /// production's 300 s would hold each run 5 minutes for the same reads).
    pub relay_sweep_lag_secs: u64,
    /// Seconds an idle worker is watched (`--idle-secs`).
    pub idle_secs: u64,
    /// The figures to measure (`--only`; default all).
    pub figures: Vec<Figure>,
    /// Output path without extension (`--out`): `<out>.md` and `<out>.json`.
    pub out: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            messages: 4000,
            rounds: 2,
            sqs_latency: Duration::from_millis(20),
            dynamodb_latency: Duration::from_millis(8),
            pollers: None,
            compare_worker: None,
            requests: 2000,
            concurrency: 2,
            api_blocks: 3,
            e2e_orders: 600,
            e2e_rate: 20.0,
            e2e_rounds: 2,
            baseline: None,
            baseline_label: "previous".into(),
            label: "new".into(),
            relay_stale_secs: 10,
            relay_poll_secs: 2,
            relay_sweep_lag_secs: 20,
            idle_secs: 60,
            figures: Figure::ALL.to_vec(),
            out: "bench/results".into(),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run the bench.
    Run(Box<Options>),
    /// Print the usage.
    Help,
}

impl Options {
    /// Parses the arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
        let mut o = Options::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if matches!(flag.as_str(), "--help" | "-h") {
                return Ok(Command::Help);
            }
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let bad = || format!("invalid value for {flag}: {value}");
            let count = |min: usize| -> Result<usize, String> {
                value.parse().ok().filter(|n| *n >= min).ok_or_else(bad)
            };
            let millis = || -> Result<Duration, String> {
                value.parse().map(Duration::from_millis).map_err(|_| bad())
            };
            match flag.as_str() {
                "--messages" => o.messages = count(1)?,
                "--rounds" => o.rounds = count(1)?,
                "--sqs-latency-ms" => o.sqs_latency = millis()?,
                "--dynamodb-latency-ms" => o.dynamodb_latency = millis()?,
                "--pollers" => o.pollers = Some(count(1)?),
                "--compare-worker" => o.compare_worker = Some(PathBuf::from(&value)),
                "--requests" => o.requests = count(1)?,
                "--concurrency" => o.concurrency = count(1)?,
                "--api-blocks" => o.api_blocks = count(1)?,
                "--e2e-orders" => o.e2e_orders = count(1)?,
                "--e2e-rounds" => o.e2e_rounds = count(1)?,
                "--baseline" => o.baseline = Some(PathBuf::from(&value)),
                "--baseline-label" => o.baseline_label = value.clone(),
                "--label" => o.label = value.clone(),
                "--relay-stale-secs" => {
                    o.relay_stale_secs = value
                        .parse()
                        .ok()
                        .filter(|s| (1..=300).contains(s))
                        .ok_or_else(bad)?;
                }
                "--relay-sweep-lag-secs" => {
                    o.relay_sweep_lag_secs = value
                        .parse()
                        .ok()
                        .filter(|s| (2..=86_400).contains(s))
                        .ok_or_else(bad)?;
                }
                "--relay-poll-secs" => {
                    o.relay_poll_secs = value
                        .parse()
                        .ok()
                        .filter(|s| (1..=60).contains(s))
                        .ok_or_else(bad)?;
                }
                "--e2e-rate" => {
                    o.e2e_rate = value
                        .parse()
                        .ok()
                        .filter(|r: &f64| r.is_finite() && *r > 0.0)
                        .ok_or_else(bad)?;
                }
                "--idle-secs" => {
                    o.idle_secs = value.parse().ok().filter(|s| *s > 0).ok_or_else(bad)?
                }
                "--only" => {
                    o.figures = value
                        .split(',')
                        .map(|name| Figure::parse(name.trim()))
                        .collect::<Result<_, _>>()?;
                }
                "--out" => o.out = value.clone(),
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if o.relay_sweep_lag_secs <= o.relay_stale_secs {
            return Err(format!(
                "--relay-sweep-lag-secs ({}) must be above --relay-stale-secs ({})",
                o.relay_sweep_lag_secs, o.relay_stale_secs
            ));
        }
        Ok(Command::Run(Box::new(o)))
    }

    /// Whether `figure` is to be measured.
    pub fn measures(&self, figure: Figure) -> bool {
        self.figures.contains(&figure)
    }

    /// The older worker of the drain: `--compare-worker`, else the baseline's `sqs-worker`.
    pub fn older_worker(&self) -> Option<PathBuf> {
        self.compare_worker
            .clone()
            .or_else(|| Some(self.baseline.as_ref()?.join("sqs-worker")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        Options::parse(args.iter().map(|a| (*a).to_owned()))
    }

    fn run(args: &[&str]) -> Options {
        match parse(args).expect("valid arguments") {
            Command::Run(o) => *o,
            Command::Help => panic!("not a help request"),
        }
    }

    #[test]
    fn defaults_measure_everything_at_20_and_8_ms() {
        let o = run(&[]);
        assert_eq!(o, Options::default());
        assert_eq!(o.messages, 4000);
        assert_eq!(o.rounds, 2);
        assert_eq!(o.sqs_latency, Duration::from_millis(20));
        assert_eq!(o.dynamodb_latency, Duration::from_millis(8));
        assert_eq!(o.pollers, None);
        assert!(Figure::ALL.iter().all(|f| o.measures(*f)));
    }

    #[test]
    fn every_flag_sets_its_option() {
        let o = run(&[
            "--messages",
            "500",
            "--rounds",
            "3",
            "--sqs-latency-ms",
            "0",
            "--dynamodb-latency-ms",
            "12",
            "--pollers",
            "2",
            "--compare-worker",
            "/tmp/old-worker",
            "--requests",
            "10",
            "--concurrency",
            "4",
            "--api-blocks",
            "5",
            "--e2e-orders",
            "100",
            "--e2e-rate",
            "7.5",
            "--e2e-rounds",
            "3",
            "--baseline",
            "/tmp/base",
            "--baseline-label",
            "abc1234",
            "--label",
            "working tree",
            "--relay-stale-secs",
            "5",
            "--relay-poll-secs",
            "1",
            "--relay-sweep-lag-secs",
            "9",
            "--idle-secs",
            "10",
            "--only",
            "drain, idle",
            "--out",
            "/tmp/x/results",
        ]);
        assert_eq!(
            o,
            Options {
                messages: 500,
                rounds: 3,
                sqs_latency: Duration::ZERO,
                dynamodb_latency: Duration::from_millis(12),
                pollers: Some(2),
                compare_worker: Some(PathBuf::from("/tmp/old-worker")),
                requests: 10,
                concurrency: 4,
                api_blocks: 5,
                e2e_orders: 100,
                e2e_rate: 7.5,
                e2e_rounds: 3,
                baseline: Some(PathBuf::from("/tmp/base")),
                baseline_label: "abc1234".into(),
                label: "working tree".into(),
                relay_stale_secs: 5,
                relay_poll_secs: 1,
                relay_sweep_lag_secs: 9,
                idle_secs: 10,
                figures: vec![Figure::Drain, Figure::Idle],
                out: "/tmp/x/results".into(),
            }
        );
        assert!(!o.measures(Figure::Api));
        assert_eq!(o.older_worker(), Some(PathBuf::from("/tmp/old-worker")));
        let o = run(&["--baseline", "/tmp/base"]);
        assert_eq!(
            o.older_worker(),
            Some(PathBuf::from("/tmp/base/sqs-worker"))
        );
        assert_eq!(run(&[]).older_worker(), None);
    }

    #[test]
    fn bad_arguments_are_named() {
        for (args, needle) in [
            (&["--messages"][..], "--messages needs a value"),
            (&["--messages", "0"], "invalid value for --messages: 0"),
            (&["--pollers", "many"], "invalid value for --pollers"),
            (
                &["--sqs-latency-ms", "-1"],
                "invalid value for --sqs-latency-ms",
            ),
            (&["--e2e-rate", "0"], "invalid value for --e2e-rate"),
            (&["--idle-secs", "0"], "invalid value for --idle-secs"),
            (&["--e2e-rounds", "0"], "invalid value for --e2e-rounds"),
            (
                &["--relay-stale-secs", "301"],
                "invalid value for --relay-stale-secs",
            ),
            (&["--only", "drain,bogus"], "unknown figure \"bogus\""),
            (&["--bogus", "1"], "unknown argument --bogus"),
        ] {
            let err = parse(args).expect_err("invalid");
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        assert_eq!(parse(&["--messages", "10", "--help"]), Ok(Command::Help));
    }
}
