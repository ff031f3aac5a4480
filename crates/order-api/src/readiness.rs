//! `/health/ready`: SNS and DynamoDB both answer. Results are cached for a few
//! seconds so frequent probes (ALB, ECS, Beanstalk) do not hammer AWS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Mutex;

use crate::orders::OrderReader;
use crate::publisher::EventPublisher;

/// The outcome of one readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReadinessReport {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// `ok` or `unavailable` for SNS.
    pub sns: &'static str,
    /// `ok` or `unavailable` for DynamoDB.
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
    orders: Arc<dyn OrderReader>,
    ttl: Duration,
    cached: Mutex<Option<(Instant, ReadinessReport)>>,
}

fn word(ok: bool) -> &'static str {
    if ok { "ok" } else { "unavailable" }
}

impl Readiness {
    /// Checks `publisher` and `orders`, reusing a result for `ttl`.
    pub fn new(
        publisher: Arc<dyn EventPublisher>,
        orders: Arc<dyn OrderReader>,
        ttl: Duration,
    ) -> Self {
        Self {
            publisher,
            orders,
            ttl,
            cached: Mutex::new(None),
        }
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
        if let Err(e) = &sns {
            tracing::warn!(error = %e, "readiness: SNS check failed");
        }
        if let Err(e) = &dynamodb {
            tracing::warn!(error = %e, "readiness: DynamoDB check failed");
        }
        let report = ReadinessReport {
            status: if sns.is_ok() && dynamodb.is_ok() {
                "ready"
            } else {
                "unavailable"
            },
            sns: word(sns.is_ok()),
            dynamodb: word(dynamodb.is_ok()),
        };
        *cached = Some((Instant::now(), report.clone()));
        report
    }
}
