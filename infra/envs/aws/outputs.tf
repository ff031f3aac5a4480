output "alb_url" {
  description = "Base URL of the order API (https://<ALB DNS name>). Point a DNS name covered by the certificate at the ALB (alias record with alb_zone_id) and call that name."
  value       = "https://${module.alb.dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of the ALB."
  value       = module.alb.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone id of the ALB, for a Route 53 alias record."
  value       = module.alb.zone_id
}

output "ecr_repository_urls" {
  description = "ECR repository URL per image (order-api, sqs-worker): push <url>:<tag>, then apply with api_image_tag / worker_image_tag = <tag>."
  value       = { for k, m in module.ecr : k => m.repository_url }
}

output "topic_arn" {
  description = "ARN of the order-events SNS topic."
  value       = module.messaging.topic_arn
}

output "queue_urls" {
  description = "Main SQS queue URL per worker role (SQS_QUEUE_URL)."
  value       = module.messaging.queue_urls
}

output "dlq_urls" {
  description = "Dead-letter queue URL per worker role (SQS_DLQ_URL)."
  value       = module.messaging.dlq_urls
}

output "express_queue_urls" {
  description = "Express-lane SQS queue URL per worker role (SQS_EXPRESS_QUEUE_URL)."
  value       = module.messaging.express_queue_urls
}

output "express_dlq_urls" {
  description = "Express-lane dead-letter queue URL per worker role (SQS_EXPRESS_DLQ_URL)."
  value       = module.messaging.express_dlq_urls
}

output "partner_subscriptions" {
  description = "Per partner: its HTTPS subscription ARN (pending until the partner confirms) and its subscription DLQ URL."
  value = {
    for name, arn in module.messaging.partner_subscription_arns : name => {
      subscription_arn = arn
      dlq_url          = module.messaging.partner_dlq_urls[name]
    }
  }
}

output "table_name" {
  description = "Name of the DynamoDB orders table (ORDERS_TABLE)."
  value       = module.messaging.table_name
}

output "outbox_index_name" {
  description = "Sparse index of the orders table holding the order events not yet published (the outbox relay queries it)."
  value       = module.messaging.outbox_index_name
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_names" {
  description = "ECS service names: api, relay (the outbox relay) and one per worker role."
  value = merge(
    { api = module.api.service_name, relay = module.relay.service_name },
    { for role, m in module.worker : role => m.service_name },
  )
}

output "log_group_names" {
  description = "CloudWatch log group per service."
  value = merge(
    { api = module.api.log_group_name, relay = module.relay.log_group_name },
    { for role, m in module.worker : role => m.log_group_name },
  )
}

output "ops_alarm_topic_arn" {
  description = "SNS topic receiving every alarm (subscribe chat/paging integrations here)."
  value       = module.alarms.topic_arn
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms, by kind."
  value       = module.alarms.alarm_names
}

output "kms_key_arns" {
  description = "Customer-managed KMS keys: data (topic, queues, table) and platform (logs, ECR, ops topic)."
  value = {
    data     = module.kms_data.key_arn
    platform = module.kms_platform.key_arn
  }
}

output "dlq_tool_env" {
  description = "Environment for the operator DLQ tools per worker role (<role>) and per express lane (<role>-express): `env SQS_QUEUE_URL=... SQS_DLQ_URL=... AWS_REGION=... sqs-worker dlq peek|redrive`. Only the <role> entry carries SQS_SUBSCRIPTION_DLQ_URL (the role's SNS subscription DLQ, shared by both lanes) and SQS_EXPRESS_QUEUE_URL: `dlq redrive --subscription` sends each kept event back to its own lane's queue."
  value = merge(
    {
      for role in keys(module.messaging.queue_urls) : role => {
        SQS_QUEUE_URL            = module.messaging.queue_urls[role]
        SQS_DLQ_URL              = module.messaging.dlq_urls[role]
        SQS_SUBSCRIPTION_DLQ_URL = module.messaging.delivery_dlq_urls[role]
        SQS_EXPRESS_QUEUE_URL    = module.messaging.express_queue_urls[role]
        AWS_REGION               = var.aws_region
      }
    },
    {
      for role in keys(module.messaging.express_queue_urls) : "${role}-express" => {
        SQS_QUEUE_URL = module.messaging.express_queue_urls[role]
        SQS_DLQ_URL   = module.messaging.express_dlq_urls[role]
        AWS_REGION    = var.aws_region
      }
    },
  )
}

output "delivery_dlq_urls" {
  description = "SNS subscription dead-letter queue URL per worker role: order events SNS could not deliver to that role's queue (alarm <prefix>-<role>-delivery-dlq-not-empty)."
  value       = module.messaging.delivery_dlq_urls
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard of the pipeline: orders by status, SNS publish latency, API p99 and 5xx, requests per task, worker outcomes per role, queue age and depth, DLQ depth, DynamoDB throttles."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_url" {
  description = "Console URL of the CloudWatch dashboard."
  value       = "https://${local.region}.${local.console_domain}/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the services' own metrics (collector sidecar, dimensions Role and Service)."
  value       = local.metrics_namespace
}

output "metrics_log_group_names" {
  description = "Log group per service receiving the collector's metrics in embedded metric format (empty without the sidecar)."
  value = {
    for k, name in merge(
      { api = module.api.metrics_log_group_name, relay = module.relay.metrics_log_group_name },
      { for role, m in module.worker : role => m.metrics_log_group_name },
    ) : k => name if name != null
  }
}

################################################################################
# For the Elastic Beanstalk root (infra/envs/beanstalk), which reads these
# through terraform_remote_state: the same documents and values the ECS
# services use, never a copy.
################################################################################

output "ecr_repositories" {
  description = "ECR repository per image (order-api, sqs-worker): name, url and arn."
  value = {
    for k, m in module.ecr : k => {
      name = m.repository_name
      url  = m.repository_url
      arn  = m.repository_arn
    }
  }
}

output "task_policy_json" {
  description = "IAM policy document (JSON) of each service's task role: api, relay and one per worker role. The Beanstalk instance roles attach the same documents (KMS statements included)."
  value = merge(
    { api = local.api_task_policy, relay = local.relay_task_policy },
    local.worker_task_policies,
  )
}

output "service_environment" {
  description = "Environment of each service's application container as its ECS task definition sets it (api, relay and one per worker role), without the collector sidecar's OTEL_* variables."
  value = {
    for k, m in merge({ api = module.api, relay = module.relay }, module.worker) : k => {
      for e in jsondecode(m.container_definitions)[0].environment : e.name => e.value if !startswith(e.name, "OTEL_")
    }
  }
}

output "service_command" {
  description = "Arguments after the image's entrypoint, per service (the relay runs `order-api relay`; the others the image's default)."
  value = merge(
    { api = [], relay = ["relay"] },
    { for role in local.worker_roles : role => [] },
  )
}

output "topic_policy" {
  description = "Resource policy (JSON) of the order-events topic: who may publish (the Beanstalk root checks its publishers are allowed)."
  value       = module.messaging.topic_policy
}

output "aws_region" {
  description = "Region of the production resources."
  value       = local.region
}
