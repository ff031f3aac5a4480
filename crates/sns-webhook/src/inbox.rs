//! The verified notifications kept for `GET /recibidos` (the last N, oldest
//! first) and the window of MessageIds already seen (bounded: the oldest ids
//! are forgotten first).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

/// One verified notification.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recibido {
    /// The SNS JSON exactly as received.
    pub raw: Box<RawValue>,
    /// `MessageId`.
    pub message_id: String,
    /// `TopicArn`.
    pub topic_arn: String,
    /// When it was accepted (RFC 3339, UTC, milliseconds).
    #[serde(serialize_with = "rfc3339_millis")]
    pub recibido_en: DateTime<Utc>,
}

fn rfc3339_millis<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The kept notifications and the dedup window.
#[derive(Debug)]
pub struct Inbox {
    keep: usize,
    window: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    recibidos: VecDeque<Recibido>,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
}

impl Inbox {
    /// Keeps the last `keep` notifications and remembers the last `window` MessageIds.
    pub fn new(keep: usize, window: usize) -> Self {
        Self {
            keep: keep.max(1),
            window: window.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records `recibido` unless its MessageId was seen; `false` for a repeat.
    pub fn record(&self, recibido: Recibido) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !inner.seen.insert(recibido.message_id.clone()) {
            return false;
        }
        inner.seen_order.push_back(recibido.message_id.clone());
        while inner.seen_order.len() > self.window {
            if let Some(oldest) = inner.seen_order.pop_front() {
                inner.seen.remove(&oldest);
            }
        }
        inner.recibidos.push_back(recibido);
        while inner.recibidos.len() > self.keep {
            inner.recibidos.pop_front();
        }
        true
    }

    /// The kept notifications, oldest first (newest last).
    pub fn list(&self) -> Vec<Recibido> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.recibidos.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recibido(id: &str) -> Recibido {
        Recibido {
            raw: RawValue::from_string(format!(r#"{{"MessageId": "{id}"}}"#)).expect("raw"),
            message_id: id.to_owned(),
            topic_arn: "arn:aws:sns:us-east-1:123456789012:t".into(),
            recibido_en: Utc::now(),
        }
    }

    #[test]
    fn repeats_are_not_kept_twice_and_the_list_is_bounded() {
        let inbox = Inbox::new(2, 10);
        assert!(inbox.record(recibido("a")));
        assert!(!inbox.record(recibido("a")), "a repeat");
        assert!(inbox.record(recibido("b")));
        assert!(inbox.record(recibido("c")));
        let ids: Vec<String> = inbox.list().into_iter().map(|r| r.message_id).collect();
        assert_eq!(ids, ["b", "c"], "the last two, newest last");
        assert!(!inbox.record(recibido("a")), "still in the dedup window");
    }

    #[test]
    fn the_dedup_window_forgets_the_oldest_ids() {
        let inbox = Inbox::new(10, 2);
        for id in ["a", "b", "c"] {
            assert!(inbox.record(recibido(id)));
        }
        assert!(inbox.record(recibido("a")), "forgotten: out of the window");
        assert!(!inbox.record(recibido("c")));
    }

    #[test]
    fn serializes_raw_verbatim_and_camel_case() {
        let json = serde_json::to_string(&recibido("a")).expect("json");
        assert!(
            json.starts_with(r#"{"raw":{"MessageId": "a"},"messageId":"a","topicArn":"#),
            "{json}"
        );
        assert!(json.contains(r#""recibidoEn":""#), "{json}");
    }
}
