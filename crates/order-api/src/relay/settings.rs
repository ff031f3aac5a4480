//! The relay's settings, read once from the environment.

use std::net::IpAddr;
use std::time::Duration;

use shared::aws::AwsSettings;
use shared::config::{ConfigError, ConfigReader, EnvSource};
use shared::telemetry::TracingSettings;

/// The deadline of the lease call that starts each pass.
pub const LEASE_CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// The deadline of the write that marks an order's events published by the relay.
pub const MARK_TIMEOUT: Duration = Duration::from_secs(3);

/// How long past [`RelaySettings::drain_budget`] a pass waits for its
/// publishes before it cuts them short (they end within their budgets, so
/// only a publisher that overruns its budget meets it).
pub const DRAIN_BACKSTOP: Duration = Duration::from_secs(1);

/// Everything `order-api relay` needs to start.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Address of the health and metrics endpoints (`HOST`, default `0.0.0.0`).
    pub host: IpAddr,
    /// Their port (`PORT`, default 8080; 0 = any).
    pub port: u16,
    /// The topic events are published to (`SNS_TOPIC_ARN`).
    pub sns_topic_arn: String,
    /// On a standard topic, publish each event with its customer as the SNS
    /// `MessageGroupId` (SQS fair queues; `SNS_FAIR_GROUP_IDS`, default true),
    /// as the API does.
    pub sns_fair_group_ids: bool,
    /// The orders table (`ORDERS_TABLE`).
    pub orders_table: String,
    /// SDK settings (`AWS_REGION`).
    pub aws: AwsSettings,
    /// An event still stored this long after it was recorded is published by
    /// the relay (`RELAY_STALE_SECS`, default 10): long enough for the API's
    /// own publish and the workers' receipt, short enough that an order is
    /// never held for long.
    pub stale: Duration,
    /// How far behind now the sweep (the second look at every entry, for
    /// entries that became visible after the main pass) runs
    /// (`RELAY_SWEEP_LAG_SECS`, default 300).
    pub sweep_lag: Duration,
    /// Pause between passes (`RELAY_POLL_SECS`, default 2).
    pub poll: Duration,
    /// Index entries read per page (`RELAY_BATCH`, default 100).
    pub batch: i32,
    /// Publishes in flight at once, over all shards (`RELAY_CONCURRENCY`,
    /// default 64).
    pub concurrency: usize,
    /// After SIGTERM (no more publishes start), how long those in flight may
    /// still run (`SHUTDOWN_GRACE_SECS`, default 15: above
    /// [`RelaySettings::drain_budget`] and its backstop).
    pub shutdown_grace: Duration,
    /// Liveness fails once DynamoDB or SNS has refused the table or topic for
    /// this long (`CONFIG_FAULT_LIMIT_SECS`, default 60).
    pub config_fault_limit: Duration,
    /// Span export (the `OTEL_*` variables).
    pub tracing: Option<TracingSettings>,
}

impl RelaySettings {
    /// Reads and validates the environment, naming every missing or invalid variable.
    pub fn from_env(env: &EnvSource) -> Result<Self, ConfigError> {
        let mut r = ConfigReader::new(env);
        let crate::config::Common {
            host,
            port,
            sns_topic_arn,
            sns_fair_group_ids,
            orders_table,
            aws,
            config_fault_limit,
            tracing,
        } = crate::config::Common::read(&mut r, "outbox-relay");
        let stale = r.seconds("RELAY_STALE_SECS", Duration::from_secs(10), 1..=120);
        let poll = r.seconds("RELAY_POLL_SECS", Duration::from_secs(2), 1..=60);
        let sweep_lag = r.seconds("RELAY_SWEEP_LAG_SECS", Duration::from_secs(300), 2..=86_400);
        if sweep_lag <= stale {
            r.problem(format!(
                "RELAY_SWEEP_LAG_SECS ({}) must be above RELAY_STALE_SECS ({})",
                sweep_lag.as_secs(),
                stale.as_secs()
            ));
        }
        let batch = r.number_in("RELAY_BATCH", 100_i32, 1..=1000);
        let concurrency = r.number_in("RELAY_CONCURRENCY", 64_usize, 1..=256);
        // The default lets the publishes in flight at SIGTERM end
        // (drain_budget and its backstop: 14 s).
        let shutdown_grace = r.seconds("SHUTDOWN_GRACE_SECS", Duration::from_secs(15), 0..=120);
        r.finish()?;
        Ok(Self {
            host,
            port,
            sns_topic_arn,
            sns_fair_group_ids,
            orders_table,
            aws,
            stale,
            sweep_lag,
            poll,
            batch,
            concurrency,
            shutdown_grace,
            config_fault_limit,
            tracing,
        })
    }

    /// How long a pass starts publishes: a publish started by then runs to
    /// its end ([`RelaySettings::drain_budget`]), one not started waits for
    /// the next pass, which goes on from the checkpoint reached.
    pub fn pass_budget(&self) -> Duration {
        Duration::from_secs(10)
    }

    /// How long the publishes started within [`RelaySettings::pass_budget`]
    /// may still run after it: an order holds at most two events (created,
    /// cancelled), each published within its budget, then one mark. A
    /// publish cut short would be one SNS may have taken and the relay not
    /// counted nor marked: the next pass would publish it again.
    pub fn drain_budget(&self) -> Duration {
        self.publish_budget().total * 2 + MARK_TIMEOUT
    }

    /// The longest one pass takes: the lease call, the publishes started
    /// and their drain.
    pub fn pass_max(&self) -> Duration {
        LEASE_CALL_TIMEOUT + self.pass_budget() + self.drain_budget() + DRAIN_BACKSTOP
    }

    /// How long a relay holds the lease without renewing it: the longest
    /// pass, two pauses and a margin. Another relay takes over a dead one
    /// after this.
    pub fn lease(&self) -> Duration {
        self.pass_max() + self.poll * 2 + Duration::from_secs(5)
    }

    /// The budget of one publish (retries included); the relay's publisher
    /// must keep it, or a pass outlasts [`RelaySettings::pass_max`].
    pub fn publish_budget(&self) -> crate::publisher::PublishBudget {
        crate::publisher::PublishBudget {
            total: Duration::from_secs(5),
            attempt: Duration::from_secs(2),
            max_attempts: 3,
            retry_unknown: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_problem_at_once() {
        let env = EnvSource::from_pairs([
            (
                "SNS_TOPIC_ARN",
                "arn:aws:sns:us-east-1:000000000000:pedidos",
            ),
            ("ORDERS_TABLE", "pedidos"),
        ]);
        let s = RelaySettings::from_env(&env).expect("valid");
        assert_eq!(s.stale, Duration::from_secs(10));
        assert!(s.stale + s.poll <= Duration::from_secs(30));
        // The next lease call answers before the lease runs out.
        assert!(s.lease() > s.pass_max() + s.poll + LEASE_CALL_TIMEOUT);
        assert_eq!(s.lease(), Duration::from_secs(36), "the README's figure");
        assert!(s.shutdown_grace >= s.drain_budget() + DRAIN_BACKSTOP);
        let env = EnvSource::from_pairs([
            ("SNS_TOPIC_ARN", "nope"),
            ("RELAY_STALE_SECS", "0"),
            ("RELAY_POLL_SECS", "61"),
            ("RELAY_BATCH", "x"),
        ]);
        let err = RelaySettings::from_env(&env).expect_err("invalid");
        assert_eq!(err.problems.len(), 5, "{err}");
    }
}
