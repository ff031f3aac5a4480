//! Which IAM action authorizes an API operation, as AWS maps them, and which
//! KMS actions the service performs with the caller's permissions when the
//! operation touches data of a resource under a customer-managed key.

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

/// The KMS actions that `operation` of `service` needs on the key of a
/// resource encrypted under a customer-managed key, used by the service on
/// the caller's behalf (so authorized with `kms:ViaService =
/// <service>.<region>.amazonaws.com`); empty when the operation touches no
/// data; `None` when this table does not know the operation (the contract
/// then fails rather than guess). Documented rules:
/// - SQS ("Amazon SQS Key management", configuring AWS KMS permissions): a
///   producer (SendMessage) needs kms:GenerateDataKey and kms:Decrypt, a
///   consumer (ReceiveMessage) kms:Decrypt; queue attributes, deletes and
///   visibility changes handle no message body;
/// - SNS ("Amazon SNS Key management"): a publisher to an encrypted topic
///   needs kms:GenerateDataKey* and kms:Decrypt;
/// - DynamoDB ("How Amazon DynamoDB uses AWS KMS"): DynamoDB calls Decrypt on
///   the caller's behalf to decrypt the table key when the encrypted table is
///   accessed, for reads and writes alike (AWS's key policy for DynamoDB
///   grants the rest of the statement's actions for its own key management,
///   not attributable to one call); DescribeTable reads metadata only.
pub fn kms_actions(service: &str, operation: &str) -> Option<&'static [&'static str]> {
    const NONE: &[&str] = &[];
    const PRODUCE: &[&str] = &["kms:GenerateDataKey", "kms:Decrypt"];
    const CONSUME: &[&str] = &["kms:Decrypt"];
    Some(match (service, operation) {
        ("sqs", "SendMessage" | "SendMessageBatch") => PRODUCE,
        ("sqs", "ReceiveMessage") => CONSUME,
        (
            "sqs",
            "GetQueueAttributes"
            | "GetQueueUrl"
            | "DeleteMessage"
            | "DeleteMessageBatch"
            | "ChangeMessageVisibility"
            | "ChangeMessageVisibilityBatch",
        ) => NONE,
        ("sns", "Publish" | "PublishBatch") => PRODUCE,
        ("sns", "GetTopicAttributes") => NONE,
        (
            "dynamodb",
            "GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" | "Query" | "Scan" | "BatchGetItem"
            | "BatchWriteItem" | "TransactGetItems" | "TransactWriteItems",
        ) => CONSUME,
        ("dynamodb", "DescribeTable") => NONE,
        _ => return None,
    })
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

    #[test]
    fn data_operations_need_the_key_and_metadata_ones_do_not() {
        assert_eq!(
            kms_actions("sqs", "SendMessage"),
            Some(&["kms:GenerateDataKey", "kms:Decrypt"][..])
        );
        assert_eq!(
            kms_actions("sqs", "ReceiveMessage"),
            Some(&["kms:Decrypt"][..])
        );
        assert_eq!(kms_actions("sqs", "DeleteMessageBatch"), Some(&[][..]));
        assert_eq!(
            kms_actions("dynamodb", "UpdateItem"),
            Some(&["kms:Decrypt"][..])
        );
        assert_eq!(kms_actions("dynamodb", "DescribeTable"), Some(&[][..]));
        assert_eq!(kms_actions("sns", "GetTopicAttributes"), Some(&[][..]));
        assert_eq!(kms_actions("dynamodb", "ExecuteStatement"), None);
    }
}
