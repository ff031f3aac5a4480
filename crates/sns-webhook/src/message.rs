//! The JSON document SNS POSTs to an HTTP/S endpoint (enveloped delivery):
//! parsing it and building the canonical string its signature covers.
//!
//! Canonical string (AWS, "Verifying the signatures of Amazon SNS messages",
//! https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html):
//! each field as `Name\nvalue\n`, in byte order of the names —
//! Notification: Message, MessageId, Subject (only if present), Timestamp,
//! TopicArn, Type; SubscriptionConfirmation and UnsubscribeConfirmation:
//! Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type. The
//! values are the JSON strings decoded (escapes turned back into characters).

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The three documents SNS sends to an HTTP/S endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// A message published to the topic.
    Notification,
    /// Sent once after Subscribe: visit SubscribeURL to confirm.
    SubscriptionConfirmation,
    /// Sent after Unsubscribe.
    UnsubscribeConfirmation,
}

/// How the signature was computed (the topic attribute `SignatureVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// SHA1withRSA (the default of a topic).
    V1,
    /// SHA256withRSA.
    V2,
}

/// A signed SNS message, its fields typed (the signature decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsMessage {
    /// `Type`.
    pub kind: MessageType,
    /// `MessageId`.
    pub message_id: String,
    /// `TopicArn`.
    pub topic_arn: String,
    /// `Message`.
    pub message: String,
    /// `Timestamp`, as sent.
    pub timestamp: String,
    /// `Subject` (Notification only, when the publisher gave one).
    pub subject: Option<String>,
    /// `Token` (confirmations).
    pub token: Option<String>,
    /// `SubscribeURL` (confirmations).
    pub subscribe_url: Option<String>,
    /// `SignatureVersion`.
    pub signature_version: SignatureVersion,
    /// `Signature`, base64-decoded.
    pub signature: Vec<u8>,
    /// `SigningCertURL`.
    pub signing_cert_url: String,
}

/// Why a body is not a verifiable SNS message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but a required field is missing or not a string.
    #[error("malformed SNS message: {0}")]
    Malformed(String),
    /// No `Signature`: e.g. raw message delivery, which carries no signature.
    #[error("unsigned message (raw message delivery carries no signature and cannot be verified)")]
    Unsigned,
    /// A `Type` this endpoint does not handle.
    #[error("unsupported message Type {0:?}")]
    UnsupportedType(String),
    /// A `SignatureVersion` other than 1 or 2.
    #[error("unsupported SignatureVersion {0:?}")]
    UnsupportedSignatureVersion(String),
    /// `Signature` is not base64.
    #[error("Signature is not base64")]
    SignatureEncoding,
}

impl ParseError {
    /// A body that is not a well-formed request (400), as opposed to a
    /// message refused as unverifiable (403).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::NotJson(_) | Self::Malformed(_))
    }
}

/// The envelope's fields as SNS spells them; `null` counts as absent.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(rename = "Type")]
    kind: Option<String>,
    message_id: Option<String>,
    topic_arn: Option<String>,
    message: Option<String>,
    timestamp: Option<String>,
    subject: Option<String>,
    token: Option<String>,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    signature_version: Option<String>,
    signature: Option<String>,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: Option<String>,
}

impl SnsMessage {
    /// Parses a POSTed body, keeping it byte for byte as the returned raw value.
    pub fn parse(body: &[u8]) -> Result<(Box<RawValue>, Self), ParseError> {
        let text = std::str::from_utf8(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
        let raw: Box<RawValue> =
            serde_json::from_str(text).map_err(|e| ParseError::NotJson(e.to_string()))?;
        let envelope: Envelope = serde_json::from_str(raw.get()).map_err(|e| {
            if raw.get().trim_start().starts_with('{') {
                ParseError::Malformed(e.to_string())
            } else {
                ParseError::Malformed("the body is not a JSON object".into())
            }
        })?;
        let message = Self::from_envelope(envelope)?;
        Ok((raw, message))
    }

    fn from_envelope(e: Envelope) -> Result<Self, ParseError> {
        let signature = e.signature.ok_or(ParseError::Unsigned)?;
        let required = |value: Option<String>, name: &str| {
            value.ok_or_else(|| ParseError::Malformed(format!("{name} is missing")))
        };
        let kind = match required(e.kind, "Type")?.as_str() {
            "Notification" => MessageType::Notification,
            "SubscriptionConfirmation" => MessageType::SubscriptionConfirmation,
            "UnsubscribeConfirmation" => MessageType::UnsubscribeConfirmation,
            other => return Err(ParseError::UnsupportedType(other.to_owned())),
        };
        let signature_version = match required(e.signature_version, "SignatureVersion")?.as_str() {
            "1" => SignatureVersion::V1,
            "2" => SignatureVersion::V2,
            other => return Err(ParseError::UnsupportedSignatureVersion(other.to_owned())),
        };
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|_| ParseError::SignatureEncoding)?;
        let confirmation = kind != MessageType::Notification;
        let (token, subscribe_url) = if confirmation {
            (
                Some(required(e.token, "Token")?),
                Some(required(e.subscribe_url, "SubscribeURL")?),
            )
        } else {
            (e.token, e.subscribe_url)
        };
        Ok(Self {
            kind,
            message_id: required(e.message_id, "MessageId")?,
            topic_arn: required(e.topic_arn, "TopicArn")?,
            message: required(e.message, "Message")?,
            timestamp: required(e.timestamp, "Timestamp")?,
            // Only a Notification's Subject is signed.
            subject: if confirmation { None } else { e.subject },
            token,
            subscribe_url,
            signature_version,
            signature,
            signing_cert_url: required(e.signing_cert_url, "SigningCertURL")?,
        })
    }

    /// The string the signature covers (see the module's header for AWS's rule).
    pub fn canonical_string(&self) -> String {
        let type_name = match self.kind {
            MessageType::Notification => "Notification",
            MessageType::SubscriptionConfirmation => "SubscriptionConfirmation",
            MessageType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        };
        let fields: Vec<(&str, Option<&str>)> = match self.kind {
            MessageType::Notification => vec![
                ("Message", Some(&self.message)),
                ("MessageId", Some(&self.message_id)),
                ("Subject", self.subject.as_deref()),
                ("Timestamp", Some(&self.timestamp)),
                ("TopicArn", Some(&self.topic_arn)),
                ("Type", Some(type_name)),
            ],
            MessageType::SubscriptionConfirmation | MessageType::UnsubscribeConfirmation => vec![
                ("Message", Some(&self.message)),
                ("MessageId", Some(&self.message_id)),
                ("SubscribeURL", self.subscribe_url.as_deref()),
                ("Timestamp", Some(&self.timestamp)),
                ("Token", self.token.as_deref()),
                ("TopicArn", Some(&self.topic_arn)),
                ("Type", Some(type_name)),
            ],
        };
        let mut out = String::new();
        for (name, value) in fields {
            if let Some(value) = value {
                out.push_str(name);
                out.push('\n');
                out.push_str(value);
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<SnsMessage, ParseError> {
        SnsMessage::parse(json.to_string().as_bytes()).map(|(_, m)| m)
    }

    fn notification() -> serde_json::Value {
        serde_json::json!({
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Subject": "asunto",
            "Message": "línea 1\nlínea 2",
            "Timestamp": "2026-11-23T10:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "AAAA",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/c.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {"prioridad": {"Type": "String", "Value": "EXPRESS"}}
        })
    }

    #[test]
    fn notification_canonical_string_orders_fields_and_includes_subject() {
        let m = parse(notification()).expect("valid");
        assert_eq!(
            m.canonical_string(),
            "Message\nlínea 1\nlínea 2\nMessageId\nm-1\nSubject\nasunto\n\
             Timestamp\n2026-11-23T10:00:00.000Z\nTopicArn\narn:aws:sns:us-east-1:123456789012:t\n\
             Type\nNotification\n"
        );
    }

    #[test]
    fn notification_without_subject_leaves_it_out() {
        for subject in [None, Some(serde_json::Value::Null)] {
            let mut json = notification();
            let obj = json.as_object_mut().expect("object");
            obj.remove("Subject");
            if let Some(v) = subject {
                obj.insert("Subject".into(), v);
            }
            let m = parse(json).expect("valid");
            assert!(!m.canonical_string().contains("Subject"), "{m:?}");
            assert!(
                m.canonical_string()
                    .starts_with("Message\nlínea 1\nlínea 2\nMessageId\nm-1\nTimestamp\n")
            );
        }
    }

    #[test]
    fn confirmation_canonical_strings() {
        for kind in ["SubscriptionConfirmation", "UnsubscribeConfirmation"] {
            let m = parse(serde_json::json!({
                "Type": kind,
                "MessageId": "m-2",
                "Token": "tok",
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                "Subject": "ignored: not signed in confirmations",
                "Message": "confirm",
                "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
                "Timestamp": "2026-11-23T10:00:00.000Z",
                "SignatureVersion": "2",
                "Signature": "AAAA",
                "SigningCertURL": "https://sns.us-east-1.amazonaws.com/c.pem"
            }))
            .expect("valid");
            assert_eq!(m.signature_version, SignatureVersion::V2);
            assert_eq!(
                m.canonical_string(),
                format!(
                    "Message\nconfirm\nMessageId\nm-2\n\
                     SubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription\n\
                     Timestamp\n2026-11-23T10:00:00.000Z\nToken\ntok\n\
                     TopicArn\narn:aws:sns:us-east-1:123456789012:t\nType\n{kind}\n"
                )
            );
        }
    }

    #[test]
    fn refusals_and_malformed_bodies() {
        let with = |key: &str, value: serde_json::Value| {
            let mut json = notification();
            json[key] = value;
            parse(json)
        };
        let without = |key: &str| {
            let mut json = notification();
            json.as_object_mut().expect("object").remove(key);
            parse(json)
        };
        assert_eq!(without("Signature"), Err(ParseError::Unsigned));
        assert_eq!(
            with("SignatureVersion", "3".into()),
            Err(ParseError::UnsupportedSignatureVersion("3".into()))
        );
        assert_eq!(
            with("Type", "Other".into()),
            Err(ParseError::UnsupportedType("Other".into()))
        );
        assert_eq!(
            with("Signature", "not base64!".into()),
            Err(ParseError::SignatureEncoding)
        );
        assert!(without("MessageId").expect_err("missing").is_malformed());
        assert!(
            with("Message", 5.into())
                .expect_err("number")
                .is_malformed()
        );
        // A raw-delivered body: JSON, but no SNS envelope.
        assert_eq!(
            parse(serde_json::json!({"eventType": "PedidoCreado"})),
            Err(ParseError::Unsigned)
        );
        let not_json = SnsMessage::parse(b"{not json").expect_err("not json");
        assert!(not_json.is_malformed(), "{not_json}");
        assert!(SnsMessage::parse(b"[1]").expect_err("array").is_malformed());
    }

    #[test]
    fn raw_value_keeps_the_body_byte_for_byte() {
        let body = r#"{ "Type" : "Notification", "Signature":"AAAA", "MessageId":"m", "TopicArn":"t", "Message":"x", "Timestamp":"t", "SignatureVersion":"1", "SigningCertURL":"u" }"#;
        let (raw, _) = SnsMessage::parse(body.as_bytes()).expect("valid");
        assert_eq!(raw.get(), body);
    }
}
