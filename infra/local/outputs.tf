output "topic_arn" {
  description = "ARN of the order-events topic in LocalStack (SNS_TOPIC_ARN for order-api)."
  value       = module.messaging.topic_arn
}

output "queue_urls" {
  description = "Map of queue role => path-style LocalStack queue URL (for each sqs-worker role)."
  value       = module.messaging.queue_urls
}

output "dlq_urls" {
  description = "Map of queue role => dead-letter queue URL."
  value       = module.messaging.dlq_urls
}

output "queue_arns" {
  description = "Map of queue role => main queue ARN."
  value       = module.messaging.queue_arns
}

output "dlq_arns" {
  description = "Map of queue role => dead-letter queue ARN."
  value       = module.messaging.dlq_arns
}

output "express_queue_urls" {
  description = "Map of queue role => express-lane queue URL (SQS_EXPRESS_QUEUE_URL of each sqs-worker role)."
  value       = module.messaging.express_queue_urls
}

output "express_dlq_urls" {
  description = "Map of queue role => express-lane dead-letter queue URL (SQS_EXPRESS_DLQ_URL)."
  value       = module.messaging.express_dlq_urls
}

output "express_queue_arns" {
  description = "Map of queue role => express-lane queue ARN."
  value       = module.messaging.express_queue_arns
}

output "express_dlq_arns" {
  description = "Map of queue role => express-lane dead-letter queue ARN."
  value       = module.messaging.express_dlq_arns
}

output "high_value_alert_sms" {
  description = "The phone number of the high-value SMS subscription (LocalStack records the SMS it would send)."
  value       = local.high_value_alert_sms
}

output "delivery_dlq_urls" {
  description = "Map of queue role => SNS subscription dead-letter queue URL (deliveries SNS could not make to that role's queue)."
  value       = module.messaging.delivery_dlq_urls
}

output "table_name" {
  description = "Name of the orders table in DynamoDB Local."
  value       = module.messaging.table_name
}
