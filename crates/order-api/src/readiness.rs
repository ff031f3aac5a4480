//! `/health/ready`: SNS and DynamoDB both answer. Results are cached for a few
//! seconds so frequent probes do not hammer AWS.
//!
//! Readiness is deep and for alarms; liveness (what the load balancer and the
//! container health check use) stays shallow and fails only when a
//! *configuration* fault (access denied, topic or table missing, key
//! disabled) has lasted `CONFIG_FAULT_LIMIT_SECS`: then no retry helps, and the
//! task must be replaced (and a bad release rolled back). Liveness probes
//! refresh the checks in the background, never waiting on AWS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Mutex;

use crate::orders::OrderStore;
use crate::publisher::EventPublisher;

/// The outcome of one readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReadinessReport {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// `ok`, `unavailable` (transient) or `misconfigured` for SNS.
    pub sns: &'static str,
    /// `ok`, `unavailable` (transient) or `misconfigured` for DynamoDB.
    pub dynamodb: &'static str,
}

impl ReadinessReport {
    /// Whether every dependency answered.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

/// Runs and caches readiness checks.
pub struct Readiness {
    publisher: Arc<dyn EventPublisher>,
    orders: Arc<dyn OrderStore>,
    ttl: Duration,
    fault_limit: Duration,
    cached: Mutex<Option<(Instant, ReadinessReport)>>,
    /// Since when every check found a configuration fault.
    fault_since: std::sync::Mutex<Option<Instant>>,
}

fn word(ok: bool, configuration: bool) -> &'static str {
    match (ok, configuration) {
        (true, _) => "ok",
        (false, true) => "misconfigured",
        (false, false) => "unavailable",
    }
}

impl Readiness {
    /// Checks `publisher` and `orders`, reusing a result for `ttl`.
    pub fn new(
        publisher: Arc<dyn EventPublisher>,
        orders: Arc<dyn OrderStore>,
        ttl: Duration,
        fault_limit: Duration,
    ) -> Self {
        Self {
            publisher,
            orders,
            ttl,
            fault_limit,
            cached: Mutex::new(None),
            fault_since: std::sync::Mutex::new(None),
        }
    }

    /// Whether a configuration fault has lasted the limit (liveness fails).
    /// Starts a check in the background when the last one is stale, so
    /// faults are found even when nothing probes readiness; never waits.
    pub fn fault_expired(self: &Arc<Self>) -> bool {
        let stale = match self.cached.try_lock() {
            Ok(cached) => cached
                .as_ref()
                .is_none_or(|(at, _)| at.elapsed() >= self.ttl),
            Err(_) => false, // a check is running
        };
        if stale {
            let this = self.clone();
            tokio::spawn(async move {
                this.check().await;
            });
        }
        self.fault_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|since| since.elapsed() >= self.fault_limit)
    }

    /// The current report; concurrent callers share one check.
    pub async fn check(&self) -> ReadinessReport {
        let mut cached = self.cached.lock().await;
        if let Some((at, report)) = cached.as_ref()
            && at.elapsed() < self.ttl
        {
            return report.clone();
        }
        let (sns, dynamodb) = tokio::join!(self.publisher.probe(), self.orders.probe());
        let sns_fault = sns.as_ref().is_err_and(|e| e.is_configuration());
        let table_fault = dynamodb.as_ref().is_err_and(|e| e.is_configuration());
        {
            let mut since = self
                .fault_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *since = if sns_fault || table_fault {
                Some(since.unwrap_or_else(Instant::now))
            } else {
                None
            };
        }
        if let Err(e) = &sns {
            if sns_fault {
                tracing::error!(error = %e, limit_secs = self.fault_limit.as_secs(), "readiness: SNS refuses the topic; liveness fails if this lasts");
            } else {
                tracing::warn!(error = %e, "readiness: SNS check failed");
            }
        }
        if let Err(e) = &dynamodb {
            if table_fault {
                tracing::error!(code = e.code(), error = %e, limit_secs = self.fault_limit.as_secs(), "readiness: DynamoDB refuses the table; liveness fails if this lasts");
            } else {
                tracing::warn!(error = %e, "readiness: DynamoDB check failed");
            }
        }
        let report = ReadinessReport {
            status: if sns.is_ok() && dynamodb.is_ok() {
                "ready"
            } else {
                "unavailable"
            },
            sns: word(sns.is_ok(), sns_fault),
            dynamodb: word(dynamodb.is_ok(), table_fault),
        };
        *cached = Some((Instant::now(), report.clone()));
        report
    }
}
