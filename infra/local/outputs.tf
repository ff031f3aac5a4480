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

output "delivery_dlq_urls" {
  description = "Map of queue role => SNS subscription dead-letter queue URL (deliveries SNS could not make to that role's queue)."
  value       = module.messaging.delivery_dlq_urls
}

output "table_name" {
  description = "Name of the orders table in DynamoDB Local."
  value       = module.messaging.table_name
}
