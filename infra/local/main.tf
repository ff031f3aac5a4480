module "messaging" {
  source = "../modules/messaging"

  name_prefix = var.name_prefix
  fifo        = var.fifo

  # LocalStack hangs when destroying aws_sqs_queue_redrive_allow_policy.
  enable_redrive_allow_policy = false

  # DynamoDB Local has no continuous backups: UpdateContinuousBackups fails
  # with UnknownOperationException, so point-in-time recovery stays off here.
  table_point_in_time_recovery = false
}
