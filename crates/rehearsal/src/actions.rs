//! Which IAM action authorizes an API operation, as AWS maps them.

/// The IAM action (`sqs:DeleteMessage`) that authorizes `operation` of
/// `service` (the lowercase IAM prefix). AWS authorizes the SQS and SNS batch
/// operations under the single action; there is no `sqs:DeleteMessageBatch`
/// action, so a policy naming one grants nothing on AWS.
pub fn iam_action(service: &str, operation: &str) -> String {
    let action = match (service, operation) {
        ("sqs", "DeleteMessageBatch") => "DeleteMessage",
        ("sqs", "SendMessageBatch") => "SendMessage",
        ("sqs", "ChangeMessageVisibilityBatch") => "ChangeMessageVisibility",
        ("sns", "PublishBatch") => "Publish",
        (_, other) => other,
    };
    format!("{service}:{action}")
}

/// Whether `action` is a batch name that AWS does not know as an action
/// (moto authorizes these; production policies must never need them).
pub fn is_emulator_only_action(action: &str) -> bool {
    matches!(
        action.to_ascii_lowercase().as_str(),
        "sqs:deletemessagebatch"
            | "sqs:sendmessagebatch"
            | "sqs:changemessagevisibilitybatch"
            | "sns:publishbatch"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_map_to_the_single_action() {
        assert_eq!(iam_action("sqs", "DeleteMessageBatch"), "sqs:DeleteMessage");
        assert_eq!(
            iam_action("sqs", "ChangeMessageVisibilityBatch"),
            "sqs:ChangeMessageVisibility"
        );
        assert_eq!(iam_action("sqs", "SendMessageBatch"), "sqs:SendMessage");
        assert_eq!(iam_action("sns", "PublishBatch"), "sns:Publish");
        assert_eq!(iam_action("dynamodb", "UpdateItem"), "dynamodb:UpdateItem");
        // DynamoDB's batch operations are actions of their own.
        assert_eq!(
            iam_action("dynamodb", "BatchWriteItem"),
            "dynamodb:BatchWriteItem"
        );
        assert!(is_emulator_only_action("sqs:DeleteMessageBatch"));
        assert!(!is_emulator_only_action("sqs:DeleteMessage"));
    }
}
