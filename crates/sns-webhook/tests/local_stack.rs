//! sns-webhook end to end with LocalStack delivering to it: the topics
//! created first and the webhook started with them allow-listed; subscription
//! confirmed by the webhook, notifications signed with SignatureVersion 1 and
//! 2 verified and listed (behind the bearer token), a copy with Message
//! changed refused, a repeat not listed twice, and a real confirmation of
//! a topic not on the allow-list refused (403) and left unconfirmed. Requires the stack's endpoints in the environment (`make
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

/// What `GET /recibidos` needs (RECIBIDOS_TOKEN).
const TOKEN: &str = "it-recibidos-token-0123456789";

async fn start_webhook(region: &str, topics: &[String]) -> String {
    let settings = Settings::from_env(&EnvSource::from_pairs([
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("AWS_REGION", region),
        ("SNS_CERT_HOST_ALLOWLIST", emulator_host().as_str()),
        ("SNS_TOPIC_ARN_ALLOWLIST", topics.join(",").as_str()),
        ("RECIBIDOS_TOKEN", TOKEN),
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
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("GET /recibidos")
        .json()
        .await
        .expect("json");
    body["notificaciones"].as_array().expect("array").clone()
}

async fn create_topic(clients: &AwsClients, name: String, version: &str) -> String {
    clients
        .sns
        .create_topic()
        .name(name)
        .attributes("SignatureVersion", version)
        .send()
        .await
        .expect("create topic (is LocalStack up?)")
        .topic_arn
        .expect("arn")
}

async fn subscribe(clients: &AwsClients, topic: &str, endpoint: String) -> String {
    clients
        .sns
        .subscribe()
        .topic_arn(topic)
        .protocol("http")
        .endpoint(endpoint)
        .return_subscription_arn(true)
        .send()
        .await
        .expect("subscribe")
        .subscription_arn
        .expect("subscription arn")
}

/// An endpoint that only records what SNS POSTs to it.
async fn start_capture() -> (String, tokio::sync::mpsc::Receiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(8);
    let router = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body).await;
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/"), rx)
}

async fn pending_confirmation(clients: &AwsClients, subscription: &str) -> Option<String> {
    clients
        .sns
        .get_subscription_attributes()
        .subscription_arn(subscription)
        .send()
        .await
        .expect("subscription attributes")
        .attributes
        .unwrap_or_default()
        .remove("PendingConfirmation")
}

#[tokio::test]
async fn localstack_delivers_signed_messages_that_the_webhook_verifies() {
    testkit::require_stack();
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let clients = AwsClients::load(&AwsSettings::new(region.clone())).await;
    let http = reqwest::Client::new();
    let suffix = uuid::Uuid::new_v4().simple().to_string();

    // The topics first (LocalStack honours the topic attribute
    // SignatureVersion; 1 is the default), then the webhook with them
    // allow-listed; a third topic is not on the list.
    let mut topics = Vec::new();
    for version in ["1", "2"] {
        let name = format!("it-webhook-v{version}-{}", &suffix[..12]);
        topics.push((version, create_topic(&clients, name, version).await));
    }
    let otro = create_topic(&clients, format!("it-webhook-otro-{}", &suffix[..12]), "2").await;
    let allowed: Vec<String> = topics.iter().map(|(_, t)| t.clone()).collect();
    let base = start_webhook(&region, &allowed).await;

    // Anyone can subscribe the URL to a topic of their own. A real, signed
    // SubscriptionConfirmation of such a topic (captured on the way) is
    // refused with 403, and its SubscribeURL is never visited.
    let (capture, mut captured) = start_capture().await;
    let otro_subscription = subscribe(&clients, &otro, capture).await;
    let confirmation = tokio::time::timeout(Duration::from_secs(20), captured.recv())
        .await
        .expect("LocalStack sends the other topic's confirmation")
        .expect("captured");
    let parsed: serde_json::Value = serde_json::from_str(&confirmation).expect("json");
    assert_eq!(parsed["Type"], "SubscriptionConfirmation", "{parsed}");
    assert_eq!(parsed["TopicArn"], otro.as_str());
    let response = http
        .post(format!("{base}/sns"))
        .timeout(Duration::from_secs(10))
        .body(confirmation)
        .send()
        .await
        .expect("POST the other topic's confirmation");
    assert_eq!(response.status(), 403);
    let answer: serde_json::Value = response.json().await.expect("json");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("is not allowed")),
        "{answer}"
    );

    let response = http
        .get(format!("{base}/recibidos"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("GET /recibidos without the token");
    assert_eq!(response.status(), 401, "the listing needs RECIBIDOS_TOKEN");

    for (version, topic) in &topics {
        let version = *version;
        let subscription = subscribe(&clients, topic, format!("{base}/sns")).await;

        // The webhook verified the SubscriptionConfirmation and visited SubscribeURL.
        testkit::eventually(
            Duration::from_secs(20),
            "the webhook confirms the subscription",
            || async {
                (pending_confirmation(&clients, &subscription)
                    .await
                    .as_deref()
                    == Some("false"))
                .then_some(())
            },
        )
        .await;

        let text = format!("pedido de prueba v{version} {suffix}\ncon ñ");
        let message_id = clients
            .sns
            .publish()
            .topic_arn(topic)
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

    assert_eq!(
        pending_confirmation(&clients, &otro_subscription)
            .await
            .as_deref(),
        Some("true"),
        "the SubscribeURL of a topic not on SNS_TOPIC_ARN_ALLOWLIST is never visited"
    );
}
