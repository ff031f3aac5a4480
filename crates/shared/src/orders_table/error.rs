//! How a table operation failed, classified once for every caller.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use super::record::MalformedItem;

/// Why a table operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Transient: throttling, timeouts, network, 5xx. Retrying later may succeed.
    #[error("DynamoDB is unavailable ({code}): {message}")]
    Unavailable {
        /// Error code or kind.
        code: String,
        /// Details, for logs only.
        message: String,
    },
    /// The deployment is wrong: table missing, access denied, key disabled,
    /// bad credentials. No retry helps until an operator fixes it.
    #[error("DynamoDB refused access to the table ({code}): {message}")]
    Misconfigured {
        /// Error code.
        code: String,
        /// Details, for logs only.
        message: String,
    },
    /// Permanent for this request: validation errors, item too large.
    #[error("DynamoDB rejected the request ({code}): {message}")]
    Rejected {
        /// Error code.
        code: String,
        /// Details, for logs only.
        message: String,
    },
    /// The stored item does not match the layout.
    #[error(transparent)]
    Malformed(#[from] MalformedItem),
}

impl TableError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, TableError::Unavailable { .. })
    }

    /// Whether the deployment itself is wrong (see [`TableError::Misconfigured`]).
    pub fn is_configuration(&self) -> bool {
        matches!(self, TableError::Misconfigured { .. })
    }

    /// The failure in the terms every service's errors are classified in.
    pub fn to_failure(&self) -> crate::aws::SdkFailure {
        crate::aws::SdkFailure {
            transient: self.is_transient(),
            configuration: self.is_configuration(),
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }

    /// The AWS error code (or failure kind), when there is one.
    pub fn code(&self) -> &str {
        match self {
            TableError::Unavailable { code, .. }
            | TableError::Misconfigured { code, .. }
            | TableError::Rejected { code, .. } => code,
            TableError::Malformed(_) => "malformed_item",
        }
    }
}

/// Service error codes that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "LimitExceededException",
];

/// Classifies any SDK error of a DynamoDB operation.
pub fn classify<E>(err: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = crate::aws::classify_sdk_error(err, TRANSIENT_CODES);
    let (code, message) = (failure.code, failure.message);
    if failure.transient {
        TableError::Unavailable { code, message }
    } else if failure.configuration {
        TableError::Misconfigured { code, message }
    } else {
        TableError::Rejected { code, message }
    }
}
