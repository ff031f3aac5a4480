//! The price of a million orders from counted requests and capacity units,
//! at AWS list prices (us-east-1, on-demand DynamoDB after its November 2024
//! reduction; check the pricing pages before quoting them: this machine has
//! no internet access). Free tiers, data transfer, CloudWatch, KMS and the
//! tasks themselves are left out, as in the README's table.

use serde::Serialize;

/// Dollars per million SNS publishes (each 64 KB chunk of a request).
pub const SNS_PUBLISH: f64 = 0.50;
/// Dollars per million SQS requests (standard queues).
pub const SQS_REQUEST: f64 = 0.40;
/// Dollars per million DynamoDB write request units (on-demand).
pub const DYNAMODB_WRU: f64 = 0.625;
/// Dollars per million DynamoDB read request units (on-demand).
pub const DYNAMODB_RRU: f64 = 0.125;
/// Queues every `PedidoCreado` is delivered to (procesamiento, logística).
pub const QUEUES: f64 = 2.0;

/// What one order costs in billed requests and units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerOrder {
    /// SNS messages published (API and relay).
    pub sns_publishes: f64,
    /// SQS `SendMessage` of SNS's deliveries: one per publish per queue.
    pub sqs_deliveries: f64,
    /// The workers' SQS requests (receives, deletes, heartbeats), both queues.
    pub sqs_worker_requests: f64,
    /// DynamoDB write request units, table and indexes.
    pub write_units: f64,
    /// Of which the indexes'.
    pub index_write_units: f64,
    /// DynamoDB read request units (the API's intake path, the relay, the workers).
    pub read_units: f64,
}

/// The dollars of each line of [`PerOrder`], per million orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerMillion {
    /// SNS publishes.
    pub sns: f64,
    /// SQS requests, deliveries and workers'.
    pub sqs: f64,
    /// DynamoDB writes.
    pub dynamodb_writes: f64,
    /// DynamoDB reads.
    pub dynamodb_reads: f64,
    /// The sum.
    pub total: f64,
}

impl PerOrder {
    /// Dollars per million orders.
    pub fn per_million(&self) -> PerMillion {
        let sns = self.sns_publishes * SNS_PUBLISH;
        let sqs = (self.sqs_deliveries + self.sqs_worker_requests) * SQS_REQUEST;
        let dynamodb_writes = self.write_units * DYNAMODB_WRU;
        let dynamodb_reads = self.read_units * DYNAMODB_RRU;
        PerMillion {
            sns,
            sqs,
            dynamodb_writes,
            dynamodb_reads,
            total: sns + sqs + dynamodb_writes + dynamodb_reads,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readmes_figure_is_reproduced() {
        // One publish, 2 deliveries + 0.2 worker requests per queue, 3 WRU.
        let today = PerOrder {
            sns_publishes: 1.0,
            sqs_deliveries: 2.0,
            sqs_worker_requests: 0.4,
            write_units: 3.0,
            index_write_units: 0.0,
            read_units: 0.0,
        };
        let m = today.per_million();
        assert!((m.total - 3.335).abs() < 1e-9, "{m:?}");
        assert!((m.sqs - 0.96).abs() < 1e-9);
        // One index put and a relay read of half a unit more.
        let outbox = PerOrder {
            write_units: 4.0,
            index_write_units: 1.0,
            read_units: 0.5,
            ..today
        };
        assert!((outbox.per_million().total - (3.335 + 0.625 + 0.0625)).abs() < 1e-9);
    }
}
