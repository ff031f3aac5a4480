//! The intake record of each build, and what its POST asks of DynamoDB and
//! SNS, measured through [`crate::meter`] with nothing else running: a
//! build's API alone receives `POSTS` orders (no GET in between, unlike the
//! end-to-end runs, where the load generator polls every order through the
//! API), then one second for a publish made after answering.
//!
//! The intake record is the first `PutItem` item the API sent, as sent (the
//! new layout writes the whole record with one conditional `PutItem`); a
//! build that writes it otherwise (the previous layout's `UpdateItem`) has
//! its record read back after the POST. The API figure's direct conditional
//! `PutItem` writes a copy of the newest build's record.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use loadgen::item_size::{item_bytes, item_from_json};
use serde::Serialize;
use shared::orders_table::attr;
use testkit::{Stack, endpoint, free_port};
use uuid::Uuid;

use crate::builds::Build;
use crate::meter::{Meter, Service, Usage};
use crate::process::{Proc, wait_ok};
use crate::{api_env, delete_topic, topic};

/// POSTs per build.
const POSTS: usize = 20;

/// A build's intake record and its POST's requests.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Intake {
    /// The record, as written or as read back.
    #[serde(skip)]
    pub item: HashMap<String, AttributeValue>,
    /// Its size by DynamoDB's rules.
    pub bytes: usize,
    /// "PutItem" (as sent) or "read back".
    pub source: String,
    /// POSTs measured.
    pub posts: usize,
    /// DynamoDB requests and units of those POSTs.
    pub dynamodb: Usage,
    /// SNS requests of those POSTs.
    pub sns: Usage,
}

impl Intake {
    /// DynamoDB read units per POST (the end-to-end runs cannot tell the
    /// API's own reads from those serving the load generator's GETs).
    pub fn read_units_per_post(&self) -> f64 {
        self.dynamodb.read_units() / self.posts as f64
    }

    /// DynamoDB write units per POST.
    pub fn write_units_per_post(&self) -> f64 {
        self.dynamodb.write_units() / self.posts as f64
    }
}

/// Measures `build`'s intake against the stack's table.
pub async fn capture(st: &Stack, build: &Build, index: usize) -> Intake {
    eprintln!("bench: intake record of {}", build.label);
    let dynamodb = Meter::start(&endpoint("DYNAMODB"), Service::DynamoDb).await;
    let sns = Meter::start(&endpoint("SNS"), Service::Sns).await;
    let topic = topic(st, &format!("bench-intake-{index}"), &[]).await;
    let port = free_port();
    let mut env = api_env(st.table.name(), &topic, port);
    env.push(("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.url()));
    env.push(("AWS_ENDPOINT_URL_SNS", sns.url()));
    let api = Proc::spawn(&build.order_api, &env);
    let base = format!("http://127.0.0.1:{port}");
    wait_ok(&format!("{base}/health/ready"), Duration::from_secs(10)).await;
    let (ddb_before, sns_before) = (dynamodb.usage(), sns.usage());
    let puts_before = dynamodb.puts().len();
    let http = reqwest::Client::new();
    let ids: Vec<Uuid> = (0..POSTS).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        let r = http
            .post(format!("{base}/api/pedidos"))
            .json(&loadgen::sample_order(*id))
            .send()
            .await;
        assert!(
            r.is_ok_and(|r| r.status() == 202),
            "{}: intake POST failed",
            build.label
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (ddb_usage, sns_usage) = (
        dynamodb.usage().since(&ddb_before),
        sns.usage().since(&sns_before),
    );
    drop(api);
    delete_topic(st, &topic).await;
    let first = ids[0].to_string();
    let sent = dynamodb
        .puts()
        .into_iter()
        .skip(puts_before)
        .find_map(|put| {
            let item = item_from_json(&put["Item"])?;
            let is_first =
                matches!(item.get(attr::PEDIDO_ID), Some(AttributeValue::S(id)) if *id == first);
            (put["TableName"] == st.table.name() && is_first).then_some(item)
        });
    let (item, source) = match sent {
        Some(item) => (item, "PutItem"),
        None => (
            st.item(ids[0]).await.expect("the intake record"),
            "read back",
        ),
    };
    Intake {
        bytes: item_bytes(&item),
        item,
        source: source.into(),
        posts: POSTS,
        dynamodb: ddb_usage,
        sns: sns_usage,
    }
}
