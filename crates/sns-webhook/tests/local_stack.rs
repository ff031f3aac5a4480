//! sns-webhook end to end with LocalStack delivering to it: subscription
//! confirmed by the webhook, notifications signed with SignatureVersion 1 and
//! 2 verified and listed, a copy with Message changed refused, a repeat not
//! listed twice. Requires the stack's endpoints in the environment (`make
//! stack-up` writes them to `.local/stack.env`; `make test` sources it).
//! Never skipped.

use std::time::Duration;

use shared::aws::{AwsClients, AwsSettings};
use shared::config::EnvSource;
use sns_webhook::{Application, Settings};

/// LocalStack signs with its own certificate, served at
/// `<its external URL>/_aws/sns/SimpleNotificationService-….pem` over http:
/// the allow-listed emulator host is the SNS endpoint's `host:port`.
fn emulator_host() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SNS").expect("AWS_ENDPOINT_URL_SNS");
    let url = reqwest::Url::parse(&endpoint).expect("AWS_ENDPOINT_URL_SNS is a URL");
    format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port_or_known_default().expect("port")
    )
}

async fn start_webhook(region: &str) -> String {
    let settings = Settings::from_env(&EnvSource::from_pairs([
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("AWS_REGION", region),
        ("SNS_CERT_HOST_ALLOWLIST", emulator_host().as_str()),
    ]))
    .expect("settings");
    let app = Application::build(settings).await.expect("build");
    let addr = app.local_addr().expect("addr");
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    format!("http://{addr}")
}

async fn recibidos(http: &reqwest::Client, base: &str) -> Vec<serde_json::Value> {
    let body: serde_json::Value = http
        .get(format!("{base}/recibidos"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("GET /recibidos")
        .json()
        .await
        .expect("json");
    body["notificaciones"].as_array().expect("array").clone()
}

#[tokio::test]
async fn localstack_delivers_signed_messages_that_the_webhook_verifies() {
    testkit::require_stack();
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let clients = AwsClients::load(&AwsSettings::new(region.clone())).await;
    let base = start_webhook(&region).await;
    let http = reqwest::Client::new();
    let suffix = uuid::Uuid::new_v4().simple().to_string();

    // LocalStack honours the topic attribute SignatureVersion (1 is the default).
    for version in ["1", "2"] {
        let topic = clients
            .sns
            .create_topic()
            .name(format!("it-webhook-v{version}-{}", &suffix[..12]))
            .attributes("SignatureVersion", version)
            .send()
            .await
            .expect("create topic (is LocalStack up?)")
            .topic_arn
            .expect("arn");
        let subscription = clients
            .sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("http")
            .endpoint(format!("{base}/sns"))
            .return_subscription_arn(true)
            .send()
            .await
            .expect("subscribe")
            .subscription_arn
            .expect("subscription arn");

        // The webhook verified the SubscriptionConfirmation and visited SubscribeURL.
        testkit::eventually(
            Duration::from_secs(20),
            "the webhook confirms the subscription",
            || async {
                let attributes = clients
                    .sns
                    .get_subscription_attributes()
                    .subscription_arn(&subscription)
                    .send()
                    .await
                    .expect("subscription attributes")
                    .attributes
                    .unwrap_or_default();
                (attributes.get("PendingConfirmation").map(String::as_str) == Some("false"))
                    .then_some(())
            },
        )
        .await;

        let text = format!("pedido de prueba v{version} {suffix}\ncon ñ");
        let message_id = clients
            .sns
            .publish()
            .topic_arn(&topic)
            .subject("PedidoCreado")
            .message(&text)
            .send()
            .await
            .expect("publish")
            .message_id
            .expect("message id");

        let listed = testkit::eventually(
            Duration::from_secs(20),
            "the notification is listed at /recibidos",
            || async {
                recibidos(&http, &base)
                    .await
                    .into_iter()
                    .find(|n| n["messageId"] == message_id.as_str())
            },
        )
        .await;
        let raw = listed["raw"].clone();
        assert_eq!(raw["Message"], text.as_str());
        assert_eq!(raw["SignatureVersion"], version, "{raw}");
        assert_eq!(listed["topicArn"], topic.as_str());
        assert!(
            raw["SigningCertURL"]
                .as_str()
                .is_some_and(|u| u.contains(&emulator_host())),
            "{raw}"
        );

        // A copy whose Message was changed: refused, not listed.
        let mut tampered = raw.clone();
        tampered["Message"] = format!("{text} (cambiado)").into();
        let response = http
            .post(format!("{base}/sns"))
            .timeout(Duration::from_secs(10))
            .body(tampered.to_string())
            .send()
            .await
            .expect("POST tampered");
        assert_eq!(response.status(), 403);
        let answer: serde_json::Value = response.json().await.expect("json");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.contains("signature")),
            "{answer}"
        );

        // The same verified message again: accepted, listed once.
        let response = http
            .post(format!("{base}/sns"))
            .timeout(Duration::from_secs(10))
            .body(raw.to_string())
            .send()
            .await
            .expect("POST repeat");
        assert_eq!(response.status(), 200);
        let all = recibidos(&http, &base).await;
        let copies = all
            .iter()
            .filter(|n| n["messageId"] == message_id.as_str())
            .count();
        assert_eq!(copies, 1, "a repeated MessageId is listed once");
        assert!(
            !all.iter().any(|n| n["raw"]["Message"]
                .as_str()
                .is_some_and(|m| m.contains("(cambiado)"))),
            "the tampered copy is not listed"
        );
    }
}
