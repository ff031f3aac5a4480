//! Every way an API request can fail, and how each is shown to the client.
//! Bodies of 5xx answers never carry internal details; those go to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::problem::{FieldError, Problem};

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u32 = 5;

/// Failure of an API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not declared as JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The body exceeds the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body could not be read (client went away, broken chunking).
    #[error("unreadable body: {0}")]
    UnreadableBody(String),
    /// The body is not well-formed JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// Well-formed JSON with invalid values.
    #[error("invalid request: {0:?}")]
    Validation(Vec<FieldError>),
    /// A path parameter is not a valid order id.
    #[error("invalid pedidoId in path")]
    InvalidPedidoId,
    /// Nothing recorded for this order (yet).
    #[error("order not found")]
    OrderNotFound,
    /// No such route.
    #[error("no such route")]
    RouteNotFound,
    /// Route exists, method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The command was certainly not recorded: NOT accepted.
    #[error("command not recorded")]
    NotAccepted {
        /// The order concerned.
        pedido_id: uuid::Uuid,
    },
    /// The record's write may or may not have landed (or no decision came
    /// before the request's deadline): retry with the same `Idempotency-Key`
    /// or `pedidoId`, which is answered as the first request, never applied twice.
    #[error("outcome unknown")]
    OutcomeUnknown {
        /// The order concerned.
        pedido_id: uuid::Uuid,
    },
    /// The `pedidoId` is already recorded with different content.
    #[error("pedidoId already used for another order")]
    PedidoConflict {
        /// The order concerned.
        pedido_id: uuid::Uuid,
    },
    /// A cancellation of an order the table has never seen.
    #[error("cancellation of an unknown order")]
    UnknownOrder {
        /// The order concerned.
        pedido_id: uuid::Uuid,
    },
    /// A cancellation with another reason is already recorded.
    #[error("order already cancelled for another reason")]
    CancellationConflict {
        /// The order concerned.
        pedido_id: uuid::Uuid,
    },
    /// The `Idempotency-Key` header is malformed.
    #[error("invalid Idempotency-Key: {0}")]
    InvalidIdempotencyKey(&'static str),
    /// The `Idempotency-Key` was used with a different request.
    #[error("Idempotency-Key reused with a different request")]
    IdempotencyKeyMismatch,
    /// A request with this `Idempotency-Key` is still in progress.
    #[error("Idempotency-Key in use by a request in progress")]
    IdempotencyKeyInProgress,
    /// The order store could not be read.
    #[error("order store unavailable")]
    StoreUnavailable,
    /// Too many requests in flight, or a request took too long.
    #[error("overloaded")]
    Overloaded,
    /// Anything else; details are logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The problem document for this error.
    pub fn to_problem(&self) -> Problem {
        match self {
            ApiError::UnsupportedMediaType => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as JSON with `Content-Type: application/json`",
            ),
            ApiError::PayloadTooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                format!("the body must be at most {} bytes", crate::startup::BODY_LIMIT_BYTES),
            ),
            ApiError::UnreadableBody(reason) => Problem::new(
                StatusCode::BAD_REQUEST,
                "unreadable-body",
                "Unreadable body",
                format!("the request body could not be read: {reason}"),
            ),
            ApiError::MalformedJson(reason) => Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                format!("the body is not valid JSON: {reason}"),
            ),
            ApiError::Validation(errors) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid order",
                format!("{} field(s) are invalid; nothing was published", errors.len()),
            )
            .with_errors(errors.clone()),
            ApiError::InvalidPedidoId => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-pedido-id",
                "Invalid pedidoId",
                "the pedidoId in the path must be a UUID",
            )
            .with_errors(vec![FieldError::new("#/path/pedidoId", "must be a UUID")]),
            ApiError::OrderNotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "order-not-found",
                "Order not found",
                "no order is recorded under this pedidoId",
            ),
            ApiError::RouteNotFound => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", "no such resource")
            }
            ApiError::MethodNotAllowed => Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this resource does not support that method",
            ),
            ApiError::NotAccepted { pedido_id } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-accepted",
                "NOT accepted",
                "the request could not be recorded and was NOT accepted; retry later (with the same Idempotency-Key or pedidoId to stay idempotent)",
            )
            .with_pedido_id(*pedido_id)
            .retry_after(RETRY_AFTER_SECS),
            ApiError::OutcomeUnknown { pedido_id } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "outcome-unknown",
                "Outcome unknown",
                "the request may or may not have been accepted; retry with the same Idempotency-Key or pedidoId: it is applied at most once",
            )
            .with_pedido_id(*pedido_id)
            .retry_after(RETRY_AFTER_SECS),
            ApiError::PedidoConflict { pedido_id } => Problem::new(
                StatusCode::CONFLICT,
                "pedido-conflict",
                "pedidoId already used",
                "this pedidoId is already recorded with different content; nothing was written or published",
            )
            .with_pedido_id(*pedido_id),
            ApiError::UnknownOrder { pedido_id } => Problem::new(
                StatusCode::NOT_FOUND,
                "order-not-found",
                "Order not found",
                "no order is recorded under this pedidoId, so there is nothing to cancel; nothing was written or published",
            )
            .with_pedido_id(*pedido_id),
            ApiError::CancellationConflict { pedido_id } => Problem::new(
                StatusCode::CONFLICT,
                "cancellation-conflict",
                "Already cancelled",
                "a cancellation of this order with another motivo is already recorded; nothing was written",
            )
            .with_pedido_id(*pedido_id),
            ApiError::InvalidIdempotencyKey(reason) => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
                format!("the Idempotency-Key header {reason}"),
            )
            .with_errors(vec![FieldError::new("#/header/Idempotency-Key", *reason)]),
            ApiError::IdempotencyKeyMismatch => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-mismatch",
                "Idempotency-Key reused",
                "this Idempotency-Key was already used with a different request; use a new key for a new request",
            ),
            ApiError::IdempotencyKeyInProgress => Problem::new(
                StatusCode::CONFLICT,
                "idempotency-key-in-progress",
                "Request in progress",
                "a request with this Idempotency-Key is still being processed; retry after Retry-After",
            )
            .retry_after(1),
            ApiError::StoreUnavailable => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "Order state unavailable",
                "the order state cannot be read right now; retry later",
            )
            .retry_after(RETRY_AFTER_SECS),
            ApiError::Overloaded => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "Service overloaded",
                "the request was not processed (too busy or timed out); orders sent without a pedidoId may or may not have been accepted, so retry with the same pedidoId",
            )
            .retry_after(RETRY_AFTER_SECS),
            ApiError::Internal(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "an unexpected error occurred; it has been logged",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.to_problem();
        if problem.status >= 500 {
            tracing::error!(error = %self, status = problem.status, "request failed");
        } else {
            tracing::info!(error = %self, status = problem.status, "request rejected");
        }
        problem.into_response()
    }
}
