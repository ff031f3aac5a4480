//! The high-value SMS alert, checked through LocalStack's record of sent SMS
//! (`GET /_aws/sns/sms-messages?phoneNumber=…&region=…`). The filter policy is
//! read from the `sms` subscription that Terraform (infra/local,
//! `high_value_alert_sms`) put on the stack's topic — one source of truth —
//! and copied onto a fresh topic with a unique phone number, so parallel
//! runs never see each other's SMS. Orders go through the real API and
//! publisher. Never skipped: fails when the stack has no such subscription.

use std::time::{Duration, Instant};

use order_api::Application;
use testkit::stack;

use crate::helpers::settings;

/// The FilterPolicy (and its scope) of the `sms` subscription on the stack's topic.
async fn terraform_sms_policy(sns: &aws_sdk_sns::Client) -> (String, Option<String>) {
    let topic = std::env::var("SNS_TOPIC_ARN")
        .expect("SNS_TOPIC_ARN (the stack's topic) is set by .local/stack.env");
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .expect("list subscriptions of the stack's topic")
        .subscriptions
        .unwrap_or_default();
    let sms = subscriptions
        .iter()
        .find(|s| s.protocol() == Some("sms"))
        .unwrap_or_else(|| {
            panic!(
                "the stack's topic {topic} has no sms subscription: infra/local must set high_value_alert_sms (then `make stack-up`)"
            )
        });
    let attributes = sns
        .get_subscription_attributes()
        .subscription_arn(sms.subscription_arn().expect("subscription arn"))
        .send()
        .await
        .expect("sms subscription attributes")
        .attributes
        .unwrap_or_default();
    let policy = attributes
        .get("FilterPolicy")
        .cloned()
        .expect("the sms subscription has a FilterPolicy");
    (policy, attributes.get("FilterPolicyScope").cloned())
}

/// The threshold of the policy's `total` rule (`[{"numeric": [">=", N]}]`).
fn threshold(policy: &str) -> rust_decimal::Decimal {
    let json: serde_json::Value = serde_json::from_str(policy).expect("FilterPolicy is JSON");
    let rule = &json["total"][0]["numeric"];
    assert_eq!(rule[0], ">=", "the high-value rule is total >= N: {policy}");
    rule[1]
        .to_string()
        .parse()
        .unwrap_or_else(|e| panic!("threshold in {policy}: {e}"))
}

/// A valid order of one item whose total is `total`.
fn order(total: rust_decimal::Decimal) -> serde_json::Value {
    let mut body = testkit::order_request(None);
    let total = format!("{total:.2}");
    body["items"] = serde_json::json!([{"sku": "SKU-001", "cantidad": 1, "precioUnitario": total}]);
    body["total"] = total.into();
    body
}

/// The SMS LocalStack recorded for `phone`.
async fn sms_sent(http: &reqwest::Client, phone: &str) -> Vec<serde_json::Value> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SNS").expect("AWS_ENDPOINT_URL_SNS");
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let body: serde_json::Value = http
        .get(format!("{endpoint}/_aws/sns/sms-messages"))
        .query(&[("phoneNumber", phone), ("region", region.as_str())])
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("GET /_aws/sns/sms-messages")
        .json()
        .await
        .expect("json");
    body["sms_messages"][phone]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn only_high_value_orders_send_an_sms() {
    let st = stack().await;
    let (policy, scope) = terraform_sms_policy(&st.clients.sns).await;
    let threshold = threshold(&policy);

    // A fresh topic: a queue seeing every PedidoCreado (to know when both
    // events went out) and the Terraform policy on an sms subscription.
    let q = st.queue("sms", 5, false).await;
    let topic = st.topic(&[&q], false).await;
    let phone = format!("+1555{:07}", fastrand::u32(0..10_000_000));
    let mut subscribe = st
        .clients
        .sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sms")
        .endpoint(&phone)
        .attributes("FilterPolicy", &policy);
    if let Some(scope) = scope {
        subscribe = subscribe.attributes("FilterPolicyScope", scope);
    }
    subscribe.send().await.expect("sms subscription");

    let app = Application::build(settings(&topic, st.table.name()))
        .await
        .expect("build app");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    // Just under the threshold, then exactly at it.
    for total in [threshold - rust_decimal::Decimal::new(1, 2), threshold] {
        let response = http
            .post(format!("{base}/api/pedidos"))
            .json(&order(total))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 202, "order of {total}");
        let body: serde_json::Value = response.json().await.expect("json");
        ids.push(body["pedidoId"].as_str().expect("pedidoId").to_owned());
    }
    assert_eq!(
        st.receive_all(&q.url, 2).await.len(),
        2,
        "both orders were published"
    );

    let first = testkit::eventually(Duration::from_secs(20), "an SMS is recorded", || async {
        let sent = sms_sent(&http, &phone).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    // Both events went out before this point; give a late, wrong SMS a
    // bounded chance to show up before counting.
    let settle = Instant::now() + Duration::from_secs(2);
    let mut sent = first;
    while Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(250)).await;
        sent = sms_sent(&http, &phone).await;
    }
    assert_eq!(
        sent.len(),
        1,
        "exactly one SMS, for the high-value order: {sent:#?}"
    );
    let text = sent[0]["Message"].as_str().expect("Message");
    assert!(
        text.contains(&ids[1]),
        "the SMS is about the high-value order {}: {text}",
        ids[1]
    );
    assert!(!text.contains(&ids[0]), "{text}");
}
