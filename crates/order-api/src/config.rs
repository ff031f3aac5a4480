//! order-api settings, read once from the environment.

use std::net::IpAddr;
use std::time::Duration;

use shared::aws::AwsSettings;
use shared::config::{ConfigError, ConfigReader, EnvSource, parse_arn, parse_resource_name};

/// Everything order-api needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to bind (`HOST`, default `0.0.0.0`).
    pub host: IpAddr,
    /// Port to bind (`PORT`, default 8080 as ECS and Elastic Beanstalk expect; 0 = any).
    pub port: u16,
    /// Topic the order events are published to (`SNS_TOPIC_ARN`).
    pub sns_topic_arn: String,
    /// DynamoDB table the workers record orders in (`ORDERS_TABLE`).
    pub orders_table: String,
    /// SDK settings (`AWS_REGION`, default `us-east-1`).
    pub aws: AwsSettings,
    /// Longest time one API request may take (`REQUEST_TIMEOUT_SECS`, default 10).
    pub request_timeout: Duration,
    /// Most API requests handled at once; more are shed with 503 (`MAX_CONCURRENT_REQUESTS`, default 512).
    pub max_concurrent_requests: usize,
    /// How long a readiness result is reused (`READINESS_CACHE_SECS`, default 5).
    pub readiness_cache: Duration,
    /// Liveness fails once SNS or DynamoDB has refused the topic or table
    /// (access denied, missing, key disabled) for this long
    /// (`CONFIG_FAULT_LIMIT_SECS`, default 60); transient failures never fail it.
    pub config_fault_limit: Duration,
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

impl Settings {
    /// Reads and validates the environment, naming every missing or invalid variable.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        let mut r = ConfigReader::new(env);
        let sns_topic_arn = r.required(
            "SNS_TOPIC_ARN",
            "the ARN of the SNS topic order events are published to",
            parse_arn("sns"),
        );
        let orders_table = r.required(
            "ORDERS_TABLE",
            "the name of the DynamoDB table the workers record orders in",
            parse_resource_name,
        );
        let region = r.or_default("AWS_REGION", String::from("us-east-1"));
        let host = r.or_default("HOST", IpAddr::from([0, 0, 0, 0]));
        let port = r.or_default("PORT", 8080_u16);
        let request_timeout = r.seconds("REQUEST_TIMEOUT_SECS", Duration::from_secs(10), 1..=120);
        let max_concurrent_requests =
            r.number_in("MAX_CONCURRENT_REQUESTS", 512_usize, 1..=100_000);
        let readiness_cache = r.seconds("READINESS_CACHE_SECS", Duration::from_secs(5), 0..=300);
        let config_fault_limit =
            r.seconds("CONFIG_FAULT_LIMIT_SECS", Duration::from_secs(60), 1..=3600);
        let mut aws = AwsSettings::new(region);
        aws.read_call_record_dir(&mut r);
        r.finish()?;
        Ok(Self {
            host,
            port,
            sns_topic_arn,
            orders_table,
            aws,
            request_timeout,
            max_concurrent_requests,
            readiness_cache,
            config_fault_limit,
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
