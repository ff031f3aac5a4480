locals {
  # A fictitious number (NANP 555-01xx, reserved for fiction).
  high_value_alert_sms = "+15555550123"
}

module "messaging" {
  source = "../modules/messaging"

  name_prefix = var.name_prefix
  fifo        = var.fifo

  # LocalStack hangs when destroying aws_sqs_queue_redrive_allow_policy.
  enable_redrive_allow_policy = false

  # DynamoDB Local has no continuous backups: UpdateContinuousBackups fails
  # with UnknownOperationException, so point-in-time recovery stays off here.
  table_point_in_time_recovery = false

  # DynamoDB Local: the provider reads the outbox index back without its
  # name and would try to delete it on every re-apply (variables.tf).
  table_ignore_index_drift = true

  # Issue 23: the local stack always has a high-value SMS subscription;
  # LocalStack records what it "sends" (GET /_aws/sns/sms-messages).
  high_value_alert_sms = local.high_value_alert_sms
}

# The table of a stack applied before table_ignore_index_drift existed.
moved {
  from = module.messaging.aws_dynamodb_table.pedidos
  to   = module.messaging.aws_dynamodb_table.pedidos_emulator[0]
}
