output "topic_arn" {
  description = "ARN of the order-events SNS topic (the API publishes PedidoCreado / PedidoCancelado here)."
  value       = aws_sns_topic.this.arn
}

output "topic_policy" {
  description = "The order-events topic's resource policy JSON (who may publish)."
  value       = aws_sns_topic_policy.this.policy
}

output "topic_name" {
  description = "Name of the order-events SNS topic (ends in .fifo when fifo = true)."
  value       = aws_sns_topic.this.name
}

output "queue_urls" {
  description = "Map of queue role (procesamiento, logistica) => main SQS queue URL, for the sqs-worker of that role."
  value       = { for role, q in aws_sqs_queue.this : role => q.url }
}

output "queue_arns" {
  description = "Map of queue role => main SQS queue ARN."
  value       = { for role, q in aws_sqs_queue.this : role => q.arn }
}

output "queue_names" {
  description = "Map of queue role => main SQS queue name."
  value       = { for role, q in aws_sqs_queue.this : role => q.name }
}

output "dlq_urls" {
  description = "Map of queue role => dead-letter queue URL."
  value       = { for role, q in aws_sqs_queue.dlq : role => q.url }
}

output "dlq_arns" {
  description = "Map of queue role => dead-letter queue ARN."
  value       = { for role, q in aws_sqs_queue.dlq : role => q.arn }
}

output "dlq_names" {
  description = "Map of queue role => dead-letter queue name."
  value       = { for role, q in aws_sqs_queue.dlq : role => q.name }
}

output "express_queue_urls" {
  description = "Map of queue role => express-lane SQS queue URL (SQS_EXPRESS_QUEUE_URL of that role's sqs-worker)."
  value       = { for role, q in aws_sqs_queue.express : role => q.url }
}

output "express_queue_arns" {
  description = "Map of queue role => express-lane SQS queue ARN."
  value       = { for role, q in aws_sqs_queue.express : role => q.arn }
}

output "express_queue_names" {
  description = "Map of queue role => express-lane SQS queue name (<prefix>-<role>-express[.fifo])."
  value       = { for role, q in aws_sqs_queue.express : role => q.name }
}

output "express_dlq_urls" {
  description = "Map of queue role => express-lane dead-letter queue URL (SQS_EXPRESS_DLQ_URL)."
  value       = { for role, q in aws_sqs_queue.express_dlq : role => q.url }
}

output "express_dlq_arns" {
  description = "Map of queue role => express-lane dead-letter queue ARN."
  value       = { for role, q in aws_sqs_queue.express_dlq : role => q.arn }
}

output "express_dlq_names" {
  description = "Map of queue role => express-lane dead-letter queue name (<prefix>-<role>-express-dlq[.fifo])."
  value       = { for role, q in aws_sqs_queue.express_dlq : role => q.name }
}

output "subscription_filter_policies" {
  description = "Map of queue role => the filter policies (JSON) of its standard and express subscriptions."
  value = {
    for role in local.roles : role => {
      standard = aws_sns_topic_subscription.queue[role].filter_policy
      express  = aws_sns_topic_subscription.express[role].filter_policy
    }
  }
}

output "high_value_filter_policy" {
  description = "The filter policy (JSON) of the high-value e-mail and SMS subscriptions."
  value       = local.high_value_filter_policy
}

output "partner_dlq_names" {
  description = "Map of partner name => its HTTPS subscription's dead-letter queue name (<prefix>-partner-<name>-dlq)."
  value       = { for name, q in aws_sqs_queue.partner_dlq : name => q.name }
}

output "partner_dlq_urls" {
  description = "Map of partner name => its HTTPS subscription's dead-letter queue URL."
  value       = { for name, q in aws_sqs_queue.partner_dlq : name => q.url }
}

output "partner_subscription_arns" {
  description = "Map of partner name => its HTTPS subscription ARN (\"pending confirmation\" until the partner confirms)."
  value       = { for name, s in aws_sns_topic_subscription.partner : name => s.arn }
}

output "table_name" {
  description = "Name of the DynamoDB orders table (hash key pedidoId, TTL attribute expiresAt, sparse index outbox-pendientes)."
  value       = local.table.name
}

output "table_arn" {
  description = "ARN of the DynamoDB orders table."
  value       = local.table.arn
}

output "outbox_index_name" {
  description = "Name of the orders table's sparse outbox index (hash key outboxShard S, range key outboxDesde N, keys only): the items with an event not yet published."
  value       = local.outbox_index_name
}

output "outbox_index_arn" {
  description = "ARN of the outbox index (<table ARN>/index/outbox-pendientes): the only resource the relay may Query."
  value       = "${local.table.arn}/index/${local.outbox_index_name}"
}

output "delivery_dlq_urls" {
  description = "Map of queue role => URL of the subscription dead-letter queue (what SNS could not deliver to that role's queue)."
  value       = { for role, q in aws_sqs_queue.delivery_dlq : role => q.url }
}

output "delivery_dlq_arns" {
  description = "Map of queue role => ARN of the subscription dead-letter queue."
  value       = { for role, q in aws_sqs_queue.delivery_dlq : role => q.arn }
}

output "delivery_dlq_names" {
  description = "Map of queue role => name of the subscription dead-letter queue (<prefix>-<role>-delivery-dlq[.fifo])."
  value       = { for role, q in aws_sqs_queue.delivery_dlq : role => q.name }
}

output "queue_encryption" {
  description = "Map of queue name (main and express queues, their DLQs, subscription DLQs, partner DLQs) => its encryption: kms_master_key_id (customer-managed key or null) and sqs_managed_sse_enabled."
  value = {
    for q in concat(
      values(aws_sqs_queue.this), values(aws_sqs_queue.dlq), values(aws_sqs_queue.delivery_dlq),
      values(aws_sqs_queue.express), values(aws_sqs_queue.express_dlq), values(aws_sqs_queue.partner_dlq),
      ) : q.name => {
      kms_master_key_id       = q.kms_master_key_id
      sqs_managed_sse_enabled = q.sqs_managed_sse_enabled
    }
  }
}
