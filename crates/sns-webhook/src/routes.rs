//! The HTTP surface: `POST /sns` (verify, confirm, keep), `GET /recibidos`
//! (behind the optional bearer token), `GET /health` (and `/health/live`
//! for the `healthcheck` subcommand).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::access::BearerToken;
use crate::fetch::{CertCache, HttpGet, get_within};
use crate::inbox::{Inbox, Recibido};
use crate::message::{MessageType, SnsMessage};
use crate::origin::Origins;

/// Largest body accepted: an SNS message is at most 256 KiB, and JSON
/// escaping in the envelope can double it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share.
pub struct AppState {
    /// Allowed SigningCertURL/SubscribeURL origins.
    pub origins: Origins,
    /// Signing certificates by URL.
    pub certs: CertCache,
    /// GETs of SubscribeURL.
    pub http: Arc<dyn HttpGet>,
    /// Deadline of a SubscribeURL GET.
    pub fetch_timeout: Duration,
    /// The only topics accepted (an empty list accepts none).
    pub topic_allowlist: Vec<String>,
    /// When set, what `GET /recibidos` needs as `Authorization: Bearer`.
    pub recibidos_token: Option<BearerToken>,
    /// Kept notifications and seen MessageIds.
    pub inbox: Inbox,
}

/// The router over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/sns", post(receive))
        .route("/recibidos", get(recibidos))
        .route("/health", get(health))
        .route("/health/live", get(health))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn recibidos(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.recibidos_token
        && !token.allows(&headers)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "GET /recibidos needs Authorization: Bearer <RECIBIDOS_TOKEN>"})),
        )
            .into_response();
    }
    Json(json!({"notificaciones": state.inbox.list()})).into_response()
}

fn answer(status: StatusCode, key: &str, text: impl Into<String>) -> Response {
    (status, Json(json!({ key: text.into() }))).into_response()
}

fn refuse(status: StatusCode, reason: impl Into<String>) -> Response {
    let reason = reason.into();
    tracing::warn!(status = status.as_u16(), %reason, "message refused");
    answer(status, "error", reason)
}

async fn receive(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let (raw, message) = match SnsMessage::parse(&body) {
        Ok(parsed) => parsed,
        Err(e) if e.is_malformed() => return refuse(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => return refuse(StatusCode::FORBIDDEN, e.to_string()),
    };
    // Before anything is fetched: the topic (a valid signature proves the
    // message came from SNS, not from an expected topic; AWS: "Reject any
    // message with an unexpected TopicArn", sns-verify-signature-of-message),
    // then the shape of every URL this message would make us GET.
    if !state.topic_allowlist.contains(&message.topic_arn) {
        return refuse(
            StatusCode::FORBIDDEN,
            format!("topic {} is not allowed", message.topic_arn),
        );
    }
    let cert_url = match state.origins.signing_cert_url(&message.signing_cert_url) {
        Ok(url) => url,
        Err(e) => return refuse(StatusCode::FORBIDDEN, e.to_string()),
    };
    let subscribe_url = if message.kind == MessageType::SubscriptionConfirmation {
        let raw = message.subscribe_url.as_deref().unwrap_or_default();
        match state.origins.subscribe_url(raw, &message.topic_arn) {
            Ok(url) => Some(url),
            Err(e) => return refuse(StatusCode::FORBIDDEN, e.to_string()),
        }
    } else {
        None
    };
    let cert = match state.certs.get(&cert_url).await {
        Ok(cert) => cert,
        // Not the sender's fault as far as we know: SNS retries on 5xx.
        Err(e) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("signing certificate unavailable: {e}"),
            );
        }
    };
    if let Err(e) = cert.verify(
        message.signature_version,
        message.canonical_string().as_bytes(),
        &message.signature,
    ) {
        return refuse(StatusCode::FORBIDDEN, e.to_string());
    }
    match message.kind {
        MessageType::Notification => {
            let stored = state.inbox.record(Recibido {
                raw,
                message_id: message.message_id.clone(),
                topic_arn: message.topic_arn.clone(),
                recibido_en: chrono::Utc::now(),
            });
            tracing::info!(
                message_id = %message.message_id,
                topic_arn = %message.topic_arn,
                repeated = !stored,
                "notification verified"
            );
            answer(
                StatusCode::OK,
                "status",
                if stored { "stored" } else { "duplicate" },
            )
        }
        MessageType::SubscriptionConfirmation => match subscribe_url {
            Some(url) => confirm(&state, &message, url).await,
            None => refuse(StatusCode::FORBIDDEN, "no SubscribeURL"),
        },
        MessageType::UnsubscribeConfirmation => {
            tracing::info!(topic_arn = %message.topic_arn, "unsubscribe confirmation verified; not resubscribing");
            answer(StatusCode::OK, "status", "unsubscribed")
        }
    }
}

/// Visits the checked SubscribeURL, with a deadline. A GET cannot ask for
/// AuthenticateOnUnsubscribe (that needs a signed ConfirmSubscription call
/// with the partner's own credentials; see the README).
async fn confirm(state: &AppState, message: &SnsMessage, url: url::Url) -> Response {
    match get_within(state.http.as_ref(), url, state.fetch_timeout).await {
        Ok(_) => {
            tracing::info!(topic_arn = %message.topic_arn, "subscription confirmed");
            answer(StatusCode::OK, "status", "confirmed")
        }
        Err(e) => refuse(
            StatusCode::BAD_GATEWAY,
            format!("confirming the subscription failed: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::body::Body;
    use axum::http::Request;
    use futures::future::BoxFuture;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    use url::Url;

    use super::*;
    use crate::fetch::FetchError;

    /// Serves the fixture certificate for `.pem` URLs and records the rest.
    #[derive(Default)]
    struct FakeHttp {
        visited: Mutex<Vec<String>>,
    }

    impl HttpGet for FakeHttp {
        fn get(&self, url: Url) -> BoxFuture<'_, Result<Vec<u8>, FetchError>> {
            Box::pin(async move {
                self.visited.lock().expect("lock").push(url.to_string());
                if url.path().ends_with(".pem") {
                    Ok(include_bytes!("../testdata/cert.pem").to_vec())
                } else {
                    Ok(b"<ConfirmSubscriptionResponse/>".to_vec())
                }
            })
        }
    }

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos";
    const OTRO: &str = "arn:aws:sns:us-east-1:999999999999:otro";
    const TOKEN: &str = "s3cr3t-token_0123456789";

    fn app(topics: &[&str]) -> (Router, Arc<AppState>, Arc<FakeHttp>) {
        app_with(topics, None)
    }

    fn app_with(topics: &[&str], token: Option<&str>) -> (Router, Arc<AppState>, Arc<FakeHttp>) {
        let http = Arc::new(FakeHttp::default());
        let state = Arc::new(AppState {
            origins: Origins::new("us-east-1", Vec::new()),
            certs: CertCache::new(http.clone(), Duration::from_secs(5)),
            http: http.clone(),
            fetch_timeout: Duration::from_secs(5),
            topic_allowlist: topics.iter().map(|t| (*t).to_owned()).collect(),
            recibidos_token: token.map(|t| BearerToken::parse(t).expect("token")),
            inbox: Inbox::new(100, 1000),
        });
        (router(state.clone()), state, http)
    }

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json")
    }

    /// The status and JSON body `app` answers `request` with.
    async fn answer(app: &Router, request: Request<Body>) -> (u16, serde_json::Value) {
        let response = app.clone().oneshot(request).await.expect("response");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&bytes).expect("json answer"))
    }

    async fn post(app: &Router, body: String) -> (u16, serde_json::Value) {
        let request = Request::post("/sns")
            .body(Body::from(body))
            .expect("request");
        answer(app, request).await
    }

    async fn get_recibidos(app: &Router, authorization: Option<&str>) -> (u16, serde_json::Value) {
        let mut request = Request::get("/recibidos");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        answer(app, request.body(Body::empty()).expect("request")).await
    }

    async fn listed(app: &Router) -> Vec<serde_json::Value> {
        let (status, json) = get_recibidos(app, None).await;
        assert_eq!(status, 200, "{json}");
        json["notificaciones"].as_array().expect("array").clone()
    }

    #[tokio::test]
    async fn verified_notifications_are_kept_once_verbatim() {
        let (app, _, http) = app(&[TOPIC]);
        for name in ["notification-v1.json", "notification-v2.json"] {
            let body =
                std::fs::read_to_string(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR")))
                    .expect("fixture");
            assert_eq!(
                post(&app, body.clone()).await,
                (200, json!({"status": "stored"}))
            );
            assert_eq!(
                post(&app, body).await,
                (200, json!({"status": "duplicate"})),
                "a repeated MessageId"
            );
        }
        let list = listed(&app).await;
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["raw"], fixture("notification-v1.json"));
        assert_eq!(list[0]["messageId"], "7d3c6f0e-1111-4c1e-9a39-000000000001");
        assert_eq!(
            list[1]["topicArn"],
            "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"
        );
        assert!(
            list[1]["recibidoEn"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
        assert_eq!(
            http.visited.lock().expect("lock").len(),
            1,
            "one certificate fetch for both messages"
        );
    }

    #[tokio::test]
    async fn refusals() {
        let (app, _, _) = app(&[TOPIC]);
        let tampered = {
            let mut m = fixture("notification-v2.json");
            m["Message"] = "adiós".into();
            m
        };
        let cases: Vec<(serde_json::Value, u16, &str)> = vec![
            (tampered, 403, "signature does not match"),
            (
                {
                    let mut m = fixture("notification-v2.json");
                    m["SigningCertURL"] =
                        "https://sns.us-east-1.amazonaws.com.evil.com/c.pem".into();
                    m
                },
                403,
                "SigningCertURL",
            ),
            (
                {
                    let mut m = fixture("notification-v1.json");
                    m["SignatureVersion"] = "2".into();
                    m
                },
                403,
                "signature does not match",
            ),
            (
                {
                    let mut m = fixture("notification-v1.json");
                    m["SignatureVersion"] = "3".into();
                    m
                },
                403,
                "SignatureVersion",
            ),
            (json!({"eventType": "PedidoCreado"}), 403, "unsigned"),
            (
                {
                    let mut m = fixture("notification-v2.json");
                    m.as_object_mut().expect("object").remove("MessageId");
                    m
                },
                400,
                "MessageId is missing",
            ),
        ];
        for (body, status, reason) in cases {
            let (got, answer) = post(&app, body.to_string()).await;
            assert_eq!(got, status, "{body}: {answer}");
            let error = answer["error"].as_str().expect("error");
            assert!(error.contains(reason), "{reason} in {error}");
        }
        let (got, _) = post(&app, "{not json".into()).await;
        assert_eq!(got, 400);
        assert!(listed(&app).await.is_empty(), "nothing refused is listed");
    }

    #[tokio::test]
    async fn messages_of_other_topics_are_refused_before_any_fetch() {
        for topics in [&[OTRO][..], &[]] {
            let (app, _, http) = app(topics);
            for name in ["notification-v2.json", "subscription-confirmation-v2.json"] {
                let (got, answer) = post(&app, fixture(name).to_string()).await;
                assert_eq!(got, 403, "{name}: {answer}");
                assert!(
                    answer["error"]
                        .as_str()
                        .expect("error")
                        .contains("is not allowed"),
                    "{answer}"
                );
            }
            assert!(
                http.visited.lock().expect("lock").is_empty(),
                "neither the certificate nor the SubscribeURL was fetched"
            );
            assert!(listed(&app).await.is_empty());
        }
    }

    #[tokio::test]
    async fn urls_of_the_wrong_shape_are_refused_before_any_fetch() {
        let (app, _, http) = app(&[TOPIC]);
        let with = |name: &str, field: &str, value: &str| {
            let mut m = fixture(name);
            m[field] = value.into();
            m
        };
        let cases = [
            (
                with(
                    "notification-v1.json",
                    "SigningCertURL",
                    "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
                ),
                "/SimpleNotificationService-<hex>.pem",
            ),
            (
                with(
                    "subscription-confirmation-v2.json",
                    "SubscribeURL",
                    "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
                ),
                "Action must be ConfirmSubscription",
            ),
            (
                with(
                    "subscription-confirmation-v2.json",
                    "SubscribeURL",
                    &format!(
                        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={OTRO}&Token=t"
                    ),
                ),
                "its TopicArn must be the message's",
            ),
        ];
        for (body, reason) in cases {
            let (got, answer) = post(&app, body.to_string()).await;
            assert_eq!(got, 403, "{body}: {answer}");
            let error = answer["error"].as_str().expect("error");
            assert!(error.contains(reason), "{reason} in {error}");
        }
        assert!(
            http.visited.lock().expect("lock").is_empty(),
            "nothing fetched"
        );
    }

    #[tokio::test]
    async fn recibidos_needs_the_bearer_token_when_one_is_set() {
        let (open, _, _) = app(&[TOPIC]);
        assert_eq!(get_recibidos(&open, None).await.0, 200, "no token set");
        let (app, _, _) = app_with(&[TOPIC], Some(TOKEN));
        assert_eq!(
            post(&app, fixture("notification-v2.json").to_string())
                .await
                .0,
            200
        );
        for bad in [None, Some("Bearer wrong-token-0123456789"), Some(TOKEN)] {
            let (status, answer) = get_recibidos(&app, bad).await;
            assert_eq!(status, 401, "{bad:?}: {answer}");
            assert!(answer.get("notificaciones").is_none(), "{answer}");
        }
        let (status, answer) = get_recibidos(&app, Some(&format!("Bearer {TOKEN}"))).await;
        assert_eq!(status, 200);
        assert_eq!(
            answer["notificaciones"][0]["raw"],
            fixture("notification-v2.json"),
            "raw kept as received"
        );
    }

    #[tokio::test]
    async fn subscription_confirmation_visits_subscribe_url_once_verified() {
        let (app, _, http) = app(&[TOPIC]);
        let confirmation = fixture("subscription-confirmation-v2.json");
        assert_eq!(
            post(&app, confirmation.to_string()).await,
            (200, json!({"status": "confirmed"}))
        );
        let visited = http.visited.lock().expect("lock").clone();
        assert_eq!(
            visited.last().map(String::as_str),
            confirmation["SubscribeURL"].as_str()
        );
        // A changed SubscribeURL breaks the signature: nothing is visited.
        let mut forged = confirmation;
        forged["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=Other".into();
        let (got, _) = post(&app, forged.to_string()).await;
        assert_eq!(got, 403);
        assert_eq!(http.visited.lock().expect("lock").len(), visited.len());
        assert!(
            listed(&app).await.is_empty(),
            "confirmations are not notifications"
        );
    }
}
