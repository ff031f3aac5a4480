//! order-api settings, read once from the environment.

use std::net::IpAddr;
use std::time::Duration;

use shared::aws::AwsSettings;
use shared::config::{
    ConfigError, ConfigReader, EnvSource, parse_arn, parse_bool, parse_resource_name,
};
use shared::telemetry::TracingSettings;

/// Everything order-api needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to bind (`HOST`, default `0.0.0.0`).
    pub host: IpAddr,
    /// Port to bind (`PORT`, default 8080 as ECS and Elastic Beanstalk expect; 0 = any).
    pub port: u16,
    /// Topic the order events are published to (`SNS_TOPIC_ARN`).
    pub sns_topic_arn: String,
    /// On a standard topic, publish each event with its customer
    /// (`clienteId`) as the SNS `MessageGroupId`, so the standard queues run
    /// as SQS fair queues (`SNS_FAIR_GROUP_IDS`, default true). A FIFO topic
    /// always groups by order.
    pub sns_fair_group_ids: bool,
    /// DynamoDB table the workers record orders in (`ORDERS_TABLE`).
    pub orders_table: String,
    /// SDK settings (`AWS_REGION`, default `us-east-1`).
    pub aws: AwsSettings,
    /// Longest time one API request may take (`REQUEST_TIMEOUT_SECS`, default 10).
    pub request_timeout: Duration,
    /// Most API requests handled at once; more are shed with 503 (`MAX_CONCURRENT_REQUESTS`, default 512).
    pub max_concurrent_requests: usize,
    /// Longest a client may take to send a request's headers, counted from
    /// the accept or from a request's first byte; then the connection is
    /// closed (`HEADER_READ_TIMEOUT_SECS`, default 5).
    pub header_read_timeout: Duration,
    /// Longest a kept-alive connection may wait for its next request; must
    /// exceed the idle timeout of a load balancer in front (the ALB's is 60 s)
    /// (`KEEP_ALIVE_TIMEOUT_SECS`, default 75).
    pub keep_alive_timeout: Duration,
    /// Longest wait for the next piece of a request body; then 400
    /// (`BODY_READ_TIMEOUT_SECS`, default 5).
    pub body_read_timeout: Duration,
    /// Most connections open at once; further ones wait in the kernel's
    /// backlog until one closes (`MAX_CONNECTIONS`, default 4096).
    pub max_connections: usize,
    /// How long a readiness result is reused (`READINESS_CACHE_SECS`, default 5).
    pub readiness_cache: Duration,
    /// Liveness fails once SNS or DynamoDB has refused the topic or table
    /// (access denied, missing, key disabled) for this long
    /// (`CONFIG_FAULT_LIMIT_SECS`, default 60); transient failures never fail it.
    pub config_fault_limit: Duration,
    /// Span export (the standard `OTEL_*` variables); `None` when tracing is off.
    pub tracing: Option<TracingSettings>,
}

/// Time budgets of the AWS calls of one request (see [`Settings::budgets`]).
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// One DynamoDB operation, retries included.
    pub store_total: Duration,
    /// One DynamoDB attempt.
    pub store_attempt: Duration,
    /// The publish.
    pub publish: crate::publisher::PublishBudget,
}

/// The variables the API and the relay both read: where they listen, the
/// topic, the table, the SDK settings, the configuration-fault limit and
/// tracing.
pub(crate) struct Common {
    pub host: IpAddr,
    pub port: u16,
    pub sns_topic_arn: String,
    pub sns_fair_group_ids: bool,
    pub orders_table: String,
    pub aws: AwsSettings,
    pub config_fault_limit: Duration,
    pub tracing: Option<TracingSettings>,
}

impl Common {
    /// Reads `HOST`, `PORT`, `SNS_TOPIC_ARN`, `SNS_FAIR_GROUP_IDS`, `ORDERS_TABLE`, `AWS_REGION`,
    /// `AWS_CALL_RECORD_DIR`, `CONFIG_FAULT_LIMIT_SECS` and the tracing
    /// variables (default service name `service`).
    pub(crate) fn read(r: &mut ConfigReader<'_>, service: &str) -> Self {
        let sns_topic_arn = r.required(
            "SNS_TOPIC_ARN",
            "the ARN of the SNS topic order events are published to",
            parse_arn("sns"),
        );
        let sns_fair_group_ids = r.optional("SNS_FAIR_GROUP_IDS", parse_bool).unwrap_or(true);
        let orders_table = r.required(
            "ORDERS_TABLE",
            "the name of the DynamoDB table holding the orders and their events",
            parse_resource_name,
        );
        let region = r.or_default("AWS_REGION", String::from("us-east-1"));
        let host = r.or_default("HOST", IpAddr::from([0, 0, 0, 0]));
        let port = r.or_default("PORT", 8080_u16);
        let config_fault_limit =
            r.seconds("CONFIG_FAULT_LIMIT_SECS", Duration::from_secs(60), 1..=3600);
        let mut aws = AwsSettings::new(region);
        aws.read_call_record_dir(r);
        let tracing = TracingSettings::read(r, service);
        Self {
            host,
            port,
            sns_topic_arn,
            sns_fair_group_ids,
            orders_table,
            aws,
            config_fault_limit,
            tracing,
        }
    }
}

impl Settings {
    /// Reads and validates the environment, naming every missing or invalid variable.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        let mut r = ConfigReader::new(env);
        let Common {
            host,
            port,
            sns_topic_arn,
            sns_fair_group_ids,
            orders_table,
            aws,
            config_fault_limit,
            tracing,
        } = Common::read(&mut r, "order-api");
        let request_timeout = r.seconds("REQUEST_TIMEOUT_SECS", Duration::from_secs(10), 1..=120);
        let max_concurrent_requests =
            r.number_in("MAX_CONCURRENT_REQUESTS", 512_usize, 1..=100_000);
        let header_read_timeout =
            r.seconds("HEADER_READ_TIMEOUT_SECS", Duration::from_secs(5), 1..=300);
        let keep_alive_timeout =
            r.seconds("KEEP_ALIVE_TIMEOUT_SECS", Duration::from_secs(75), 1..=3600);
        let body_read_timeout =
            r.seconds("BODY_READ_TIMEOUT_SECS", Duration::from_secs(5), 1..=120);
        let max_connections = r.number_in("MAX_CONNECTIONS", 4096_usize, 1..=1_000_000);
        let readiness_cache = r.seconds("READINESS_CACHE_SECS", Duration::from_secs(5), 0..=300);
        r.finish()?;
        Ok(Self {
            host,
            port,
            sns_topic_arn,
            sns_fair_group_ids,
            orders_table,
            aws,
            request_timeout,
            max_concurrent_requests,
            header_read_timeout,
            keep_alive_timeout,
            body_read_timeout,
            max_connections,
            readiness_cache,
            config_fault_limit,
            tracing,
        })
    }

    /// Time budgets of the AWS calls of one request, all derived from the
    /// request timeout `T` so that the API, never the outer timeout, decides
    /// the answer: each DynamoDB operation (idempotency key, intake record,
    /// key outcome) gets `T/10`, the publish `4T/10`, retries included:
    /// `4 × T/10 + 4T/10 = 0.8 T`.
    pub fn budgets(&self) -> Budgets {
        let t = self.request_timeout;
        let store_total = t / 10;
        Budgets {
            store_total,
            store_attempt: store_total / 2,
            publish: crate::publisher::PublishBudget {
                total: t * 4 / 10,
                attempt: (t * 2 / 10).min(Duration::from_secs(5)),
                max_attempts: 3,
                retry_unknown: false,
            },
        }
    }

    /// Whether the topic is FIFO (its ARN ends in `.fifo`).
    pub fn fifo_topic(&self) -> bool {
        self.sns_topic_arn.ends_with(".fifo")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_missing_variable() {
        let err = Settings::from_env(&EnvSource::default()).expect_err("missing");
        let text = err.to_string();
        assert!(text.contains("SNS_TOPIC_ARN is required"), "{text}");
        assert!(text.contains("ORDERS_TABLE is required"), "{text}");
    }

    #[test]
    fn defaults() {
        let env = EnvSource::from_pairs([
            (
                "SNS_TOPIC_ARN",
                "arn:aws:sns:us-east-1:000000000000:ecomexpress-pedidos.fifo",
            ),
            ("ORDERS_TABLE", "ecomexpress-pedidos"),
        ]);
        let s = Settings::from_env(&env).expect("valid");
        assert_eq!(s.port, 8080);
        assert_eq!(s.aws.region, "us-east-1");
        assert!(s.fifo_topic());
        assert_eq!(s.header_read_timeout, Duration::from_secs(5));
        assert_eq!(s.keep_alive_timeout, Duration::from_secs(75));
        assert_eq!(s.body_read_timeout, Duration::from_secs(5));
        assert_eq!(s.max_connections, 4096);
        assert!(s.sns_fair_group_ids, "fair group ids are on by default");
    }

    #[test]
    fn reads_the_fair_group_ids_flag() {
        let with = |value: &str| {
            Settings::from_env(&EnvSource::from_pairs([
                ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:t"),
                ("ORDERS_TABLE", "orders"),
                ("SNS_FAIR_GROUP_IDS", value),
            ]))
        };
        assert!(!with("false").expect("valid").sns_fair_group_ids);
        assert!(with("TRUE").expect("valid").sns_fair_group_ids);
        let err = with("yes").expect_err("invalid");
        assert!(err.to_string().contains("SNS_FAIR_GROUP_IDS"), "{err}");
    }

    #[test]
    fn reads_the_connection_limits() {
        let env = EnvSource::from_pairs([
            (
                "SNS_TOPIC_ARN",
                "arn:aws:sns:us-east-1:000000000000:pedidos",
            ),
            ("ORDERS_TABLE", "pedidos"),
            ("HEADER_READ_TIMEOUT_SECS", "2"),
            ("KEEP_ALIVE_TIMEOUT_SECS", "90"),
            ("BODY_READ_TIMEOUT_SECS", "3"),
            ("MAX_CONNECTIONS", "2"),
        ]);
        let s = Settings::from_env(&env).expect("valid");
        assert_eq!(s.header_read_timeout, Duration::from_secs(2));
        assert_eq!(s.keep_alive_timeout, Duration::from_secs(90));
        assert_eq!(s.body_read_timeout, Duration::from_secs(3));
        assert_eq!(s.max_connections, 2);
    }

    #[test]
    fn reports_every_bad_connection_limit_at_once() {
        let env = EnvSource::from_pairs([
            (
                "SNS_TOPIC_ARN",
                "arn:aws:sns:us-east-1:000000000000:pedidos",
            ),
            ("ORDERS_TABLE", "pedidos"),
            ("HEADER_READ_TIMEOUT_SECS", "0"),
            ("KEEP_ALIVE_TIMEOUT_SECS", "3601"),
            ("BODY_READ_TIMEOUT_SECS", "121"),
            ("MAX_CONNECTIONS", "0"),
        ]);
        let err = Settings::from_env(&env).expect_err("invalid");
        let text = err.to_string();
        assert_eq!(err.problems.len(), 4, "{text}");
        for name in [
            "HEADER_READ_TIMEOUT_SECS",
            "KEEP_ALIVE_TIMEOUT_SECS",
            "BODY_READ_TIMEOUT_SECS",
            "MAX_CONNECTIONS",
        ] {
            assert!(text.contains(name), "{text}");
        }
        let env = EnvSource::from_pairs([
            (
                "SNS_TOPIC_ARN",
                "arn:aws:sns:us-east-1:000000000000:pedidos",
            ),
            ("ORDERS_TABLE", "pedidos"),
            ("HEADER_READ_TIMEOUT_SECS", "301"),
            ("MAX_CONNECTIONS", "lots"),
        ]);
        let err = Settings::from_env(&env).expect_err("invalid");
        assert_eq!(err.problems.len(), 2, "{err}");
    }

    #[test]
    fn aws_budgets_stay_below_the_request_timeout() {
        for secs in ["1", "10", "120"] {
            let env = EnvSource::from_pairs([
                ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:t"),
                ("ORDERS_TABLE", "orders"),
                ("REQUEST_TIMEOUT_SECS", secs),
            ]);
            let s = Settings::from_env(&env).expect("valid");
            let b = s.budgets();
            // Worst case: key reservation, intake write, publish, key outcome.
            let worst = b.store_total * 3 + b.publish.total;
            assert!(worst < s.request_timeout, "{secs}: {worst:?}");
            assert!(b.publish.attempt <= b.publish.total);
            assert!(b.store_attempt <= b.store_total);
        }
    }

    #[test]
    fn rejects_bad_values() {
        let env = EnvSource::from_pairs([
            ("SNS_TOPIC_ARN", "not-an-arn"),
            ("ORDERS_TABLE", "t t"),
            ("PORT", "70000"),
            ("REQUEST_TIMEOUT_SECS", "0"),
        ]);
        let err = Settings::from_env(&env).expect_err("invalid");
        assert_eq!(err.problems.len(), 4, "{err}");
    }
}
