//! What one `POST` came to, as a shop backend following the API's contract
//! sees it (README "The API"), and what it does next: accepted, final, or
//! post again with the same body and `Idempotency-Key`.
//!
//! Retried: 503 (`not-accepted`, `outcome-unknown`, `overloaded`), 408 (the
//! body not read in time), 409 `idempotency-key-in-progress`, and an attempt
//! that got no answer at all: the connection refused (nothing was sent),
//! reset or closed before the answer (the request may have been processed),
//! or no answer within the client's timeout (the API's command goes on
//! without it). Any other 5xx is outside the contract (a bug): final, and
//! the soak's checker reports it.

use std::time::Duration;

/// Longest wait between two POSTs of one order.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// The problem type (`/problems/<slug>`) of a request the API will finish
/// without us: retry after `Retry-After`.
const IN_PROGRESS: &str = "idempotency-key-in-progress";
/// The problem type of a certain refusal: nothing was recorded.
const NOT_ACCEPTED: &str = "not-accepted";
/// The 503s the API's contract says to retry (README "The API"): the order
/// certainly not recorded, its outcome unknown, or the API shedding load.
/// Any other 5xx is not in the contract: a bug, never retried, so a
/// retry's 202 cannot hide it.
const RETRIED_503: [&str; 3] = [NOT_ACCEPTED, "outcome-unknown", "overloaded"];

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer.
    Status {
        /// The HTTP status.
        code: u16,
        /// The slug of its problem type (`not-accepted` for
        /// `/problems/not-accepted`), when the body is a problem.
        problem: Option<String>,
        /// Its `Retry-After`, when it has one in seconds.
        retry_after: Option<Duration>,
    },
    /// The connection was refused (or could not be made): nothing was sent.
    Refused,
    /// The connection was reset or closed before the answer: the request may
    /// have been processed.
    Reset,
    /// No answer within the client's timeout: the request may have been processed.
    Timeout,
}

/// What the client does after an [`Answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 202: the order is recorded.
    Accepted,
    /// Post again (same body and key) after [`Answer::wait`].
    Retry,
    /// A definitive answer other than 202 (a 4xx): do not retry.
    Final,
}

impl Answer {
    /// The answer to a request that failed without an HTTP answer.
    pub fn from_error(error: &reqwest::Error) -> Self {
        if error.is_connect() {
            // Refused, or the connect itself timed out: nothing was sent.
            Self::Refused
        } else if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Reset
        }
    }

    /// The answer of `response`; its body is read for the problem type
    /// unless it is a success. A body cut short is a [`Answer::Reset`].
    pub async fn from_response(response: reqwest::Response) -> Self {
        let code = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let problem = if response.status().is_success() {
            None
        } else {
            match response.bytes().await {
                Ok(body) => problem_slug(&body),
                Err(e) => return Self::from_error(&e),
            }
        };
        Self::Status {
            code,
            problem,
            retry_after,
        }
    }

    /// The answer of a request's result.
    pub async fn of(result: Result<reqwest::Response, reqwest::Error>) -> Self {
        match result {
            Ok(response) => Self::from_response(response).await,
            Err(e) => Self::from_error(&e),
        }
    }

    /// "202", "503", "refused", "reset", "timeout".
    pub fn label(&self) -> String {
        match self {
            Self::Status { code, .. } => code.to_string(),
            Self::Refused => "refused".into(),
            Self::Reset => "reset".into(),
            Self::Timeout => "timeout".into(),
        }
    }

    /// What the contract says to do next.
    pub fn verdict(&self) -> Verdict {
        match self {
            Self::Status { code: 202, .. } => Verdict::Accepted,
            Self::Status { code, problem, .. } => {
                let problem = problem.as_deref().unwrap_or_default();
                let in_progress = *code == 409 && problem == IN_PROGRESS;
                let named_503 = *code == 503 && RETRIED_503.contains(&problem);
                // 408: the API timed out reading the body; nothing was recorded.
                if in_progress || named_503 || *code == 408 {
                    Verdict::Retry
                } else {
                    Verdict::Final
                }
            }
            Self::Refused | Self::Reset | Self::Timeout => Verdict::Retry,
        }
    }

    /// Whether this attempt certainly recorded nothing: refused before
    /// sending, 503 `not-accepted`, 408, or a final 4xx other than 409 (a
    /// `pedido-conflict` says the id IS recorded). Not `overloaded`: the
    /// API also answers it when its outer timeout cut a request short.
    pub fn recorded_nothing(&self) -> bool {
        match self {
            Self::Refused => true,
            Self::Status { code, problem, .. } => {
                let problem = problem.as_deref().unwrap_or_default();
                (*code == 503 && problem == NOT_ACCEPTED)
                    || *code == 408
                    || ((400..500).contains(code) && *code != 409)
            }
            Self::Reset | Self::Timeout => false,
        }
    }

    /// Whether the API's contract defines this answer to a valid order:
    /// 202, a retried 503 or 409, 408, or no answer at all (the network).
    pub fn in_contract_for_a_valid_order(&self) -> bool {
        match self {
            Self::Status { code: 202, .. } => true,
            Self::Status { .. } => self.verdict() == Verdict::Retry,
            Self::Refused | Self::Reset | Self::Timeout => true,
        }
    }

    /// How long to wait before retry number `retry` (1 for the first):
    /// the answer's `Retry-After`, else an exponential backoff from 250 ms
    /// with equal jitter; never more than [`MAX_RETRY_WAIT`].
    pub fn wait(&self, retry: u32) -> Duration {
        if let Self::Status {
            retry_after: Some(after),
            ..
        } = self
        {
            return (*after).min(MAX_RETRY_WAIT);
        }
        let ceiling = Duration::from_millis(250)
            .saturating_mul(1 << retry.saturating_sub(1).min(8))
            .min(MAX_RETRY_WAIT);
        ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0)
    }
}

/// The slug of a problem+json body's `type` (`/problems/<slug>`).
fn problem_slug(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let kind = value.get("type")?.as_str()?;
    Some(kind.rsplit('/').next().unwrap_or(kind).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn status(code: u16, problem: Option<&str>) -> Answer {
        Answer::Status {
            code,
            problem: problem.map(str::to_owned),
            retry_after: None,
        }
    }

    /// A server on a free port that hands its first connection to `serve`.
    fn serve_once(serve: impl FnOnce(std::net::TcpStream) + Send + 'static) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                serve(stream);
            }
        });
        port
    }

    async fn post(client: &reqwest::Client, port: u16) -> Answer {
        Answer::of(
            client
                .post(format!("http://127.0.0.1:{port}/api/pedidos"))
                .body("{}")
                .send()
                .await,
        )
        .await
    }

    #[tokio::test]
    async fn a_refused_connection_is_refused_and_retried() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let answer = post(&reqwest::Client::new(), port).await;
        assert_eq!(answer, Answer::Refused);
        assert_eq!(answer.verdict(), Verdict::Retry);
        assert!(answer.recorded_nothing());
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_answer_is_reset_and_retried() {
        let port = serve_once(|mut stream| {
            // Read the request, then close without answering.
            let mut buf = [0_u8; 1024];
            let _ = stream.read(&mut buf);
        });
        let answer = post(&reqwest::Client::new(), port).await;
        assert_eq!(answer, Answer::Reset);
        assert_eq!(answer.verdict(), Verdict::Retry);
        assert!(!answer.recorded_nothing(), "it may have been processed");
    }

    #[tokio::test]
    async fn no_answer_within_the_timeout_is_a_timeout_and_retried() {
        let port = serve_once(|stream| {
            std::thread::sleep(Duration::from_secs(2));
            drop(stream);
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .expect("client");
        let answer = post(&client, port).await;
        assert_eq!(answer, Answer::Timeout);
        assert_eq!(answer.verdict(), Verdict::Retry);
        assert!(!answer.recorded_nothing(), "it may have been processed");
    }

    #[tokio::test]
    async fn a_problem_answer_carries_its_type_and_retry_after() {
        let port = serve_once(|mut stream| {
            let mut buf = [0_u8; 1024];
            let _ = stream.read(&mut buf);
            let body = r#"{"type":"/problems/not-accepted","status":503}"#;
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 2\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        });
        let answer = post(&reqwest::Client::new(), port).await;
        assert_eq!(
            answer,
            Answer::Status {
                code: 503,
                problem: Some("not-accepted".into()),
                retry_after: Some(Duration::from_secs(2)),
            }
        );
        assert_eq!(answer.wait(1), Duration::from_secs(2));
        assert!(answer.recorded_nothing());
    }

    #[test]
    fn verdicts_follow_the_contract() {
        assert_eq!(status(202, None).verdict(), Verdict::Accepted);
        for retried in [
            status(503, Some("outcome-unknown")),
            status(503, Some("not-accepted")),
            status(503, Some("overloaded")),
            status(408, None),
            status(409, Some("idempotency-key-in-progress")),
            Answer::Refused,
            Answer::Reset,
            Answer::Timeout,
        ] {
            assert_eq!(retried.verdict(), Verdict::Retry, "{retried:?}");
        }
        for final_answer in [
            status(409, Some("pedido-conflict")),
            status(422, Some("validation")),
            status(422, Some("idempotency-key-mismatch")),
            status(400, Some("malformed-json")),
            status(404, None),
        ] {
            assert_eq!(final_answer.verdict(), Verdict::Final, "{final_answer:?}");
        }
        // Outside the contract: never retried (a 202 after them would hide a bug).
        for bug in [
            status(500, None),
            status(502, None),
            status(503, None),
            status(429, None),
        ] {
            assert_eq!(bug.verdict(), Verdict::Final, "{bug:?}");
            assert!(!bug.in_contract_for_a_valid_order(), "{bug:?}");
        }
        assert!(status(503, Some("outcome-unknown")).in_contract_for_a_valid_order());
        assert!(Answer::Reset.in_contract_for_a_valid_order());
        assert!(!status(422, Some("validation")).in_contract_for_a_valid_order());
        assert!(!status(409, Some("pedido-conflict")).recorded_nothing());
    }

    #[test]
    fn only_certain_refusals_recorded_nothing() {
        assert!(status(503, Some("not-accepted")).recorded_nothing());
        assert!(!status(503, Some("outcome-unknown")).recorded_nothing());
        assert!(!status(503, Some("overloaded")).recorded_nothing());
        assert!(!status(500, None).recorded_nothing());
        assert!(!status(409, Some("idempotency-key-in-progress")).recorded_nothing());
        assert!(!status(202, None).recorded_nothing());
    }

    #[test]
    fn labels_and_waits() {
        assert_eq!(status(503, None).label(), "503");
        assert_eq!(Answer::Refused.label(), "refused");
        assert_eq!(Answer::Reset.label(), "reset");
        assert_eq!(Answer::Timeout.label(), "timeout");
        for retry in 1..20 {
            let wait = Answer::Reset.wait(retry);
            assert!(wait <= MAX_RETRY_WAIT, "{wait:?}");
            assert!(wait >= Duration::from_millis(125), "{wait:?}");
        }
        let long = Answer::Status {
            code: 503,
            problem: None,
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(long.wait(1), MAX_RETRY_WAIT);
    }
}
