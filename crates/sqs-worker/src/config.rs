//! sqs-worker settings, read once from the environment (and `--role`).

use std::time::Duration;

use shared::aws::AwsSettings;
use shared::config::{ConfigError, ConfigReader, EnvSource, parse_http_url, parse_resource_name};
use shared::orders_table::WorkerRole;
use shared::telemetry::TracingSettings;

/// What the default progress watchdog allows beyond two long-poll waits.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(10);

/// Everything a worker needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which part of the order this worker owns (`WORKER_ROLE` or `--role`).
    pub role: WorkerRole,
    /// The queue consumed (`SQS_QUEUE_URL`).
    pub queue_url: String,
    /// The queue's dead-letter queue (`SQS_DLQ_URL`).
    pub dlq_url: String,
    /// The role's express queue and its DLQ (`SQS_EXPRESS_QUEUE_URL`,
    /// `SQS_EXPRESS_DLQ_URL`: both or neither), drained before `queue_url`.
    pub express: Option<ExpressLane>,
    /// While the express queue is busy, at least one receive in this many
    /// goes to the standard queue (`STANDARD_LANE_EVERY`, default 4, 2 to 100).
    pub standard_every: usize,
    /// The orders table (`ORDERS_TABLE`).
    pub orders_table: String,
    /// SDK settings (`AWS_REGION`, default `us-east-1`).
    pub aws: AwsSettings,
    /// Most messages processed at once (`WORKER_CONCURRENCY`, default 32).
    pub concurrency: usize,
    /// Most long polls in flight at once (`WORKER_POLLERS`, default 4): one
    /// always, the others only while receives come back full.
    pub pollers: usize,
    /// Long-poll wait (`SQS_WAIT_TIME_SECS`, default 20).
    pub wait_time: Duration,
    /// Visibility timeout requested on receive (`SQS_VISIBILITY_TIMEOUT_SECS`, default 60).
    pub visibility_timeout: Duration,
    /// Time in-flight messages get to finish on shutdown (`SHUTDOWN_GRACE_SECS`, default 25).
    pub shutdown_grace: Duration,
    /// Port of the health and metrics server (`HEALTH_PORT`, else `PORT`, default 8080; 0 = any).
    pub health_port: u16,
    /// First retry delay of a failed message (`RETRY_BASE_SECS`, default 2).
    pub retry_base: Duration,
    /// Longest retry delay (`RETRY_MAX_SECS`, default 300).
    pub retry_max: Duration,
    /// How long successes wait to be deleted together (`DELETE_BATCH_WINDOW_MS`, default 25).
    pub delete_window: Duration,
    /// Readiness fails after this long without a successful SQS call
    /// (`PROGRESS_WATCHDOG_SECS`, default twice the long-poll wait + 10 s:
    /// 50 s at the defaults).
    pub progress_watchdog: Duration,
    /// Liveness fails when the poll loop made no progress for this long (`LIVENESS_STALL_SECS`, default 120).
    pub liveness_stall: Duration,
    /// How long the worker keeps retrying when its queue, DLQ or table refuse
    /// access or are missing before it exits non-zero so the task is
    /// replaced (`CONFIG_FAULT_LIMIT_SECS`, default 60; readiness fails at once).
    pub config_fault_limit: Duration,
    /// An idle worker re-checks that its table accepts its reads and writes
    /// after an empty receive once this long has passed without a successful
    /// write or probe (`STORE_CHECK_SECS`, default 30), so a table that
    /// disappears or starts refusing the worker makes it not ready even
    /// without traffic.
    pub store_check: Duration,
    /// Optional expiry of order items (`ORDER_TTL_DAYS`; unset = keep forever).
    pub order_ttl: Option<chrono::Duration>,
    /// Runtime threads (`WORKER_THREADS`, default 1): the work is I/O-bound, and one
    /// thread driving every in-flight message costs least CPU and memory.
    pub runtime_threads: usize,
    /// Span export (the standard `OTEL_*` variables; service name
    /// `sqs-worker-<role>` by default); `None` when tracing is off.
    pub tracing: Option<TracingSettings>,
}

/// The express lane of a worker: its queue and that queue's DLQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressLane {
    /// The express queue (`SQS_EXPRESS_QUEUE_URL`).
    pub queue_url: String,
    /// Its dead-letter queue (`SQS_EXPRESS_DLQ_URL`).
    pub dlq_url: String,
}

impl Settings {
    /// Reads and validates the environment; `role_flag` (from `--role`) wins over `WORKER_ROLE`.
    pub fn from_env(env: &EnvSource, role_flag: Option<&str>) -> Result<Self, ConfigError> {
        let mut r = ConfigReader::new(env);
        let role = match role_flag {
            Some(flag) => WorkerRole::parse(flag)
                .map_err(|e| r.problem(format!("--role {flag:?} is invalid: {e}")))
                .ok(),
            None => r.required(
                "WORKER_ROLE",
                "`procesamiento` or `logistica` (or pass --role)",
                |s| WorkerRole::parse(s).map(Some),
            ),
        };
        let queue_url = r.required(
            "SQS_QUEUE_URL",
            "the URL of the queue to consume",
            parse_http_url,
        );
        let dlq_url = r.required(
            "SQS_DLQ_URL",
            "the URL of that queue's dead-letter queue",
            parse_http_url,
        );
        let express_queue = r.optional("SQS_EXPRESS_QUEUE_URL", parse_http_url);
        let express_dlq = r.optional("SQS_EXPRESS_DLQ_URL", parse_http_url);
        let express = match (express_queue, express_dlq) {
            (Some(queue_url), Some(dlq_url)) => Some(ExpressLane { queue_url, dlq_url }),
            (None, None) => None,
            (Some(_), None) => {
                r.problem("SQS_EXPRESS_DLQ_URL is required with SQS_EXPRESS_QUEUE_URL (the express queue's dead-letter queue)");
                None
            }
            (None, Some(_)) => {
                r.problem("SQS_EXPRESS_QUEUE_URL is required with SQS_EXPRESS_DLQ_URL");
                None
            }
        };
        let standard_every = r.number_in("STANDARD_LANE_EVERY", 4_usize, 2..=100);
        let orders_table = r.required(
            "ORDERS_TABLE",
            "the name of the DynamoDB orders table",
            parse_resource_name,
        );
        let region = r.or_default("AWS_REGION", String::from("us-east-1"));
        let concurrency = r.number_in("WORKER_CONCURRENCY", 32_usize, 1..=1000);
        let pollers = r.number_in("WORKER_POLLERS", 4_usize, 1..=16);
        let wait_time = r.seconds("SQS_WAIT_TIME_SECS", Duration::from_secs(20), 0..=20);
        let visibility_timeout = r.seconds(
            "SQS_VISIBILITY_TIMEOUT_SECS",
            Duration::from_secs(60),
            5..=43_200,
        );
        let shutdown_grace = r.seconds("SHUTDOWN_GRACE_SECS", Duration::from_secs(25), 0..=3600);
        let default_port = env
            .get("PORT")
            .and_then(|p| p.parse().ok())
            .unwrap_or(8080_u16);
        let health_port = r.or_default("HEALTH_PORT", default_port);
        let retry_base = r.seconds("RETRY_BASE_SECS", Duration::from_secs(2), 0..=3600);
        let retry_max = r.seconds("RETRY_MAX_SECS", Duration::from_secs(300), 1..=43_200);
        let delete_window =
            Duration::from_millis(r.number_in("DELETE_BATCH_WINDOW_MS", 25_u64, 0..=1000));
        let runtime_threads = r.number_in("WORKER_THREADS", 1_usize, 1..=64);
        let liveness_stall = r.seconds("LIVENESS_STALL_SECS", Duration::from_secs(120), 30..=3600);
        let config_fault_limit =
            r.seconds("CONFIG_FAULT_LIMIT_SECS", Duration::from_secs(60), 1..=3600);
        let store_check = r.seconds("STORE_CHECK_SECS", Duration::from_secs(30), 1..=3600);
        let progress_watchdog = r.seconds(
            "PROGRESS_WATCHDOG_SECS",
            wait_time * 2 + WATCHDOG_MARGIN,
            1..=3600,
        );
        if progress_watchdog < wait_time + WATCHDOG_MARGIN / 2 {
            r.problem(
                "PROGRESS_WATCHDOG_SECS must exceed SQS_WAIT_TIME_SECS by at least 5 (an idle long poll succeeds once per wait)",
            );
        }
        let order_ttl = r.optional("ORDER_TTL_DAYS", |s| match s.parse::<i64>() {
            Ok(days @ 1..=36_500) => Ok(chrono::Duration::days(days)),
            _ => Err("must be a whole number of days from 1 to 36500".into()),
        });
        if queue_url == dlq_url && !queue_url.is_empty() {
            r.problem("SQS_DLQ_URL must differ from SQS_QUEUE_URL");
        }
        if queue_url.ends_with(".fifo") != dlq_url.ends_with(".fifo") && !dlq_url.is_empty() {
            r.problem("SQS_QUEUE_URL and SQS_DLQ_URL must both be FIFO (.fifo) or both standard");
        }
        if let Some(lane) = &express {
            if concurrency < 2 * crate::consumer::poller::MAX_RECEIVE {
                r.problem(format!(
                    "WORKER_CONCURRENCY must be at least {} with an express lane (an idle standard long poll holds {} slots; an express batch needs as many more)",
                    2 * crate::consumer::poller::MAX_RECEIVE,
                    crate::consumer::poller::MAX_RECEIVE
                ));
            }
            let all = [&queue_url, &dlq_url, &lane.queue_url, &lane.dlq_url];
            let distinct: std::collections::HashSet<_> = all.iter().collect();
            if distinct.len() < all.len() {
                r.problem("SQS_EXPRESS_QUEUE_URL, SQS_EXPRESS_DLQ_URL, SQS_QUEUE_URL and SQS_DLQ_URL must be four different queues");
            }
            if all.iter().any(|u| u.ends_with(".fifo")) && !all.iter().all(|u| u.ends_with(".fifo"))
            {
                r.problem("the express queue and its DLQ must be FIFO (.fifo) exactly when SQS_QUEUE_URL is");
            }
        }
        if retry_base > retry_max {
            r.problem("RETRY_BASE_SECS must not exceed RETRY_MAX_SECS");
        }
        let mut aws = AwsSettings::new(region);
        aws.sqs_long_poll = wait_time;
        aws.read_call_record_dir(&mut r);
        let service_name = format!("sqs-worker-{}", role.unwrap_or(WorkerRole::Procesamiento));
        let tracing = TracingSettings::read(&mut r, &service_name);
        r.finish()?;
        Ok(Self {
            role: role.unwrap_or(WorkerRole::Procesamiento),
            queue_url,
            dlq_url,
            express,
            standard_every,
            orders_table,
            aws,
            concurrency,
            pollers,
            wait_time,
            visibility_timeout,
            shutdown_grace,
            health_port,
            retry_base,
            retry_max,
            delete_window,
            progress_watchdog,
            liveness_stall,
            config_fault_limit,
            store_check,
            order_ttl,
            runtime_threads,
            tracing,
        })
    }

    /// Whether the queue is FIFO (URL ends in `.fifo`).
    pub fn fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }

    /// The same settings consuming the express queue (into its own DLQ),
    /// when there is one.
    pub fn express_lane(&self) -> Option<Self> {
        self.express.as_ref().map(|lane| Self {
            queue_url: lane.queue_url.clone(),
            dlq_url: lane.dlq_url.clone(),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("SQS_QUEUE_URL", "http://127.0.0.1:4566/000000000000/q"),
            ("SQS_DLQ_URL", "http://127.0.0.1:4566/000000000000/q-dlq"),
            ("ORDERS_TABLE", "ecomexpress-pedidos"),
        ]
    }

    #[test]
    fn role_from_flag_or_env() {
        let env = EnvSource::from_pairs(base());
        assert_eq!(
            Settings::from_env(&env, Some("logistica"))
                .expect("valid")
                .role,
            WorkerRole::Logistica
        );
        let err = Settings::from_env(&env, None).expect_err("no role");
        assert!(err.to_string().contains("WORKER_ROLE is required"), "{err}");
        let mut pairs = base();
        pairs.push(("WORKER_ROLE", "procesamiento"));
        let s = Settings::from_env(&EnvSource::from_pairs(pairs), None).expect("valid");
        assert_eq!(s.role, WorkerRole::Procesamiento);
        assert_eq!(s.concurrency, 32);
        assert_eq!(s.wait_time, Duration::from_secs(20));
        assert_eq!(s.shutdown_grace, Duration::from_secs(25));
        assert!(!s.fifo());
    }

    #[test]
    fn names_every_problem() {
        let env = EnvSource::from_pairs([
            ("SQS_QUEUE_URL", "queue"),
            ("WORKER_CONCURRENCY", "0"),
            ("SQS_WAIT_TIME_SECS", "21"),
        ]);
        let err = Settings::from_env(&env, Some("ventas")).expect_err("invalid");
        let text = err.to_string();
        for needle in [
            "--role",
            "SQS_QUEUE_URL",
            "SQS_DLQ_URL is required",
            "ORDERS_TABLE is required",
            "WORKER_CONCURRENCY",
            "SQS_WAIT_TIME_SECS",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
    }

    #[test]
    fn express_lane_is_both_urls_or_neither() {
        let s =
            Settings::from_env(&EnvSource::from_pairs(base()), Some("logistica")).expect("valid");
        assert_eq!(s.express, None);
        assert_eq!(s.standard_every, 4);
        let mut pairs = base();
        pairs.push((
            "SQS_EXPRESS_QUEUE_URL",
            "http://127.0.0.1:4566/000000000000/q-express",
        ));
        let err = Settings::from_env(&EnvSource::from_pairs(pairs.clone()), Some("logistica"))
            .expect_err("no express DLQ");
        assert!(
            err.to_string().contains("SQS_EXPRESS_DLQ_URL is required"),
            "{err}"
        );
        pairs.push((
            "SQS_EXPRESS_DLQ_URL",
            "http://127.0.0.1:4566/000000000000/q-express-dlq",
        ));
        pairs.push(("STANDARD_LANE_EVERY", "3"));
        let s =
            Settings::from_env(&EnvSource::from_pairs(pairs), Some("logistica")).expect("valid");
        let express = s.express_lane().expect("an express lane");
        assert!(express.queue_url.ends_with("/q-express"));
        assert!(express.dlq_url.ends_with("/q-express-dlq"));
        assert_eq!(express.orders_table, s.orders_table);
        assert_eq!(s.standard_every, 3);
    }

    #[test]
    fn express_lane_must_be_other_queues_of_the_same_kind() {
        let mut pairs = base();
        pairs.push((
            "SQS_EXPRESS_QUEUE_URL",
            "http://127.0.0.1:4566/000000000000/q",
        ));
        pairs.push(("SQS_EXPRESS_DLQ_URL", "http://h/1/x-dlq.fifo"));
        pairs.push(("STANDARD_LANE_EVERY", "1"));
        pairs.push(("WORKER_CONCURRENCY", "19"));
        let err = Settings::from_env(&EnvSource::from_pairs(pairs), Some("logistica"))
            .expect_err("invalid");
        let text = err.to_string();
        for needle in [
            "four different queues",
            "must be FIFO",
            "STANDARD_LANE_EVERY",
            "WORKER_CONCURRENCY must be at least 20",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
    }

    #[test]
    fn fifo_queue_needs_fifo_dlq() {
        let env = EnvSource::from_pairs([
            ("SQS_QUEUE_URL", "http://h/1/q.fifo"),
            ("SQS_DLQ_URL", "http://h/1/q-dlq"),
            ("ORDERS_TABLE", "tbl"),
        ]);
        assert!(Settings::from_env(&env, Some("logistica")).is_err());
    }
}
