data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Only read when the ALB allow-list defaults to the VPC's CIDR block.
data "aws_vpc" "this" {
  count = length(var.alb_ingress_cidr_blocks) == 0 ? 1 : 0
  id    = var.vpc_id
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.aws_region

  worker_roles = toset(["procesamiento", "logistica"])

  # Same naming as infra/modules/messaging (checked against its output below).
  # Built from strings so the data key's policy can name the topic without a
  # dependency cycle (the topic itself is encrypted with that key).
  topic_arn = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${var.name_prefix}-pedidos-eventos"

  log_group_prefix = "/ecs/${var.name_prefix}"
  log_group_names = merge(
    { api = "${local.log_group_prefix}/order-api", relay = "${local.log_group_prefix}/relay" },
    { for role in local.worker_roles : role => "${local.log_group_prefix}/worker-${role}" },
  )

  alb_ingress_cidr_blocks = length(var.alb_ingress_cidr_blocks) > 0 ? var.alb_ingress_cidr_blocks : [data.aws_vpc.this[0].cidr_block]

  target_backlog_per_task = var.worker_acceptable_latency_seconds / var.worker_avg_processing_seconds

  repositories = {
    order-api  = "${var.name_prefix}/order-api"
    sqs-worker = "${var.name_prefix}/sqs-worker"
  }

  # The Elastic Beanstalk root (infra/envs/beanstalk) runs the API and the
  # relay under instance roles of these names; the topic's publisher pinning
  # (DenyOtherPublishers) must list them, or each of their publishes is
  # refused. That root's plan fails while they are missing.
  beanstalk_publisher_arns = var.beanstalk_topic_publishers ? [
    for service in ["api", "relay"] : "arn:${local.partition}:iam::${local.account_id}:role/${var.name_prefix}-eb-${service}"
  ] : []

  sns_via_service = "sns.${local.region}.amazonaws.com"
  sqs_via_service = "sqs.${local.region}.amazonaws.com"

  # Observability: the collector sidecar of every task (modules/ecs-service,
  # otel.tf) sends traces to X-Ray and the metrics below to CloudWatch, in
  # this namespace, each with the Role and Service dimensions. The dashboard
  # (dashboard.tf) reads them back by the same names.
  metrics_namespace    = "EComExpress"
  otel_collector_image = var.otel_collector_image
  otel_service_names = merge(
    { api = "order-api", relay = "outbox-relay" },
    { for role in local.worker_roles : role => "sqs-worker-${role}" },
  )

  # Metric name (as the collector's Prometheus receiver names it: counters
  # keep `_total`) => label sets exported as extra dimensions ([] = Role and
  # Service only). Names and labels: crates/order-api/src/metrics.rs and
  # crates/sqs-worker/src/metrics.rs.
  api_metrics = {
    order_api_http_requests_total          = [["method", "route", "status"]]
    order_api_sns_publish_duration_seconds = [[]]
    order_api_sns_publish_failures_total   = [[], ["kind"]]
  }
  # The outbox relay (`order-api relay`, same names in its metrics module).
  relay_metrics = {
    outbox_oldest_pending_age_seconds    = [[]]
    outbox_relay_published_total         = [[]]
    outbox_relay_publish_failures_total  = [[]]
    outbox_relay_unreadable_events_total = [[]]
  }
  worker_metrics = {
    sqs_worker_messages_processed_total     = [[]]
    sqs_worker_messages_duplicate_total     = [[]]
    sqs_worker_messages_retried_total       = [[]]
    sqs_worker_messages_dead_lettered_total = [[], ["name"]]
  }
}

################################################################################
# KMS: one key for the order data (topic, queues, table), one for the
# platform (container logs, ECR images, ops alarm topic).
################################################################################

module "kms_data" {
  source = "../../modules/kms"

  alias_name              = "${var.name_prefix}-data"
  description             = "${var.name_prefix}: order events topic, SQS queues and DLQs, DynamoDB orders table"
  account_id              = local.account_id
  partition               = local.partition
  deletion_window_in_days = var.kms_deletion_window_days

  policy_statements = [
    {
      # SNS delivers into the encrypted queues: SQS asks KMS for a data key on
      # behalf of sns.amazonaws.com. Only for deliveries of our topic. This
      # also covers the subscription DLQs (same key, same topic as
      # aws:SourceArn when SNS dead-letters a delivery).
      sid                   = "AllowOrderTopicDeliveryToQueues"
      principal_type        = "Service"
      principal_identifiers = ["sns.amazonaws.com"]
      actions               = ["kms:GenerateDataKey*", "kms:Decrypt"]
      conditions = [{
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [local.topic_arn]
      }]
    },
    {
      # DynamoDB checks the key's state for the table (it encrypts through grants
      # created with the deployer's permissions at table creation).
      sid                   = "AllowDynamoDBDescribeKey"
      principal_type        = "Service"
      principal_identifiers = ["dynamodb.amazonaws.com"]
      actions               = ["kms:DescribeKey"]
    },
  ]
}

module "kms_platform" {
  source = "../../modules/kms"

  alias_name              = "${var.name_prefix}-platform"
  description             = "${var.name_prefix}: ECS container log groups, ECR images, ops alarm topic"
  account_id              = local.account_id
  partition               = local.partition
  deletion_window_in_days = var.kms_deletion_window_days

  # ECR needs no statement of its own: it creates grants on the key when a
  # repository is created (with the deployer's IAM permissions, enabled by the
  # account-root statement), and image pulls use those grants.
  policy_statements = [
    {
      sid                   = "AllowCloudWatchLogsForOurLogGroups"
      principal_type        = "Service"
      principal_identifiers = ["logs.${local.region}.amazonaws.com"]
      actions               = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      conditions = [{
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_prefix}/*"]
      }]
    },
    {
      # CloudWatch alarms publish to the encrypted ops topic (AWS's documented
      # statement for alarm actions on an SSE topic; the topic policy limits
      # publishing to this account's alarms). aws:SourceAccount: only on
      # behalf of this account (the confused-deputy guard).
      sid                   = "AllowCloudWatchAlarmsToOpsTopic"
      principal_type        = "Service"
      principal_identifiers = ["cloudwatch.amazonaws.com"]
      actions               = ["kms:Decrypt", "kms:GenerateDataKey*"]
      conditions = [{
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }]
    },
    {
      # The EventBridge rules of modules/alarms (deployment failures, the data
      # key's state) publish to the same encrypted ops topic (AWS's documented
      # statement for an SSE topic as an EventBridge target). No aws:Source*
      # condition: EventBridge's deliveries to an encrypted topic do not carry
      # aws:SourceArn / aws:SourceAccount into KMS, so such a condition would
      # drop every event silently. The ops topic's policy admits only this
      # account's rules of this stack (aws:SourceArn, aws:SourceAccount).
      sid                   = "AllowEventBridgeRulesToOpsTopic"
      principal_type        = "Service"
      principal_identifiers = ["events.amazonaws.com"]
      actions               = ["kms:Decrypt", "kms:GenerateDataKey*"]
    },
  ]
}

################################################################################
# Messaging: topic, queues, DLQs, subscriptions, orders table (reused as is)
################################################################################

module "messaging" {
  source = "../../modules/messaging"

  name_prefix                = var.name_prefix
  kms_key_arn                = module.kms_data.key_arn
  topic_publisher_arns       = concat([module.api.task_role_arn, module.relay.task_role_arn], local.beanstalk_publisher_arns)
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  max_receive_count          = var.max_receive_count
  table_deletion_protection  = var.table_deletion_protection

  enable_redrive_allow_policy = var.enable_redrive_allow_policy

  # Issue 23: high-value orders by SMS (the e-mail alert's filter) and the
  # partners' HTTPS endpoints.
  high_value_alert_sms        = var.high_value_alert_sms
  partner_https_subscriptions = var.partner_https_subscriptions
}

check "kms_policy_names_the_real_topic" {
  assert {
    condition     = module.messaging.topic_arn == local.topic_arn
    error_message = "The topic ARN assumed by the data key policy (${local.topic_arn}) differs from the messaging module's topic (${module.messaging.topic_arn}); SNS could not deliver into the encrypted queues."
  }
}

################################################################################
# ECR
################################################################################

module "ecr" {
  source   = "../../modules/ecr"
  for_each = local.repositories

  name                = each.value
  kms_key_arn         = module.kms_platform.key_arn
  dev_tag_prefixes    = [var.ecr_dev_tag_prefix]
  dev_tag_expiry_days = var.ecr_dev_tag_expiry_days
}

################################################################################
# ECS cluster
################################################################################

resource "aws_ecs_cluster" "this" {
  name = var.name_prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

################################################################################
# Task role policies (least privilege; every Resource is one ARN)
################################################################################

locals {
  # DynamoDB uses the data key on the caller's behalf for every read and write
  # of the orders table (encrypted with it). AWS's documented key policy for a
  # customer managed key of DynamoDB ("Allow access through Amazon DynamoDB for
  # all principals in the account that are authorized to use Amazon DynamoDB")
  # grants these actions through kms:ViaService = dynamodb.<region> and
  # kms:CallerAccount; here the key policy's account-root statement delegates
  # to IAM and every role that reads or writes the table carries this
  # statement (the permission contract, crates/rehearsal, fails a table call
  # whose role lacks it). One statement, used by every task role below and by
  # the Beanstalk instance roles (outputs).
  dynamodb_data_key_statement = {
    Sid      = "UseTheDataKeyThroughDynamoDB"
    Effect   = "Allow"
    Action   = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    Resource = module.kms_data.key_arn
    Condition = {
      StringEquals = {
        "kms:CallerAccount" = local.account_id
        "kms:ViaService"    = "dynamodb.${local.region}.amazonaws.com"
      }
    }
  }

  api_task_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # GetTopicAttributes backs the /health/ready probe.
        Sid      = "PublishOrderEvents"
        Effect   = "Allow"
        Action   = ["sns:GetTopicAttributes", "sns:Publish"]
        Resource = module.messaging.topic_arn
      },
      {
        # DescribeTable backs the /health/ready probe.
        Sid      = "ReadOrders"
        Effect   = "Allow"
        Action   = ["dynamodb:DescribeTable", "dynamodb:GetItem"]
        Resource = module.messaging.table_arn
      },
      {
        # The intake record is the outbox (issue 20): a conditional PutItem
        # creates it with the event; conditional UpdateItem writes the
        # Idempotency-Key records and cancellations and marks events
        # published; DeleteItem releases a key its request holds. Never
        # BatchWrite, Query or Scan.
        Sid      = "RecordOrderIntake"
        Effect   = "Allow"
        Action   = ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
        Resource = module.messaging.table_arn
      },
      {
        Sid       = "EncryptEventsForTheTopic"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = module.kms_data.key_arn
        Condition = { StringEquals = { "kms:ViaService" = local.sns_via_service } }
      },
      local.dynamodb_data_key_statement,
    ]
  })

  # The outbox relay (crates/order-api/src/relay, binary name `outbox-relay`
  # in the call records): reads the recent entries of the sparse index only
  # (never a Scan, never a Query of the table), reads the events still
  # stored on those orders (BatchGetItem), publishes them, and keeps its lease
  # and checkpoints on one item with conditional UpdateItem. No PutItem,
  # DeleteItem, GetItem or DescribeTable: its readiness is the lease write.
  relay_task_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "PublishOrderEvents"
        Effect   = "Allow"
        Action   = "sns:Publish"
        Resource = module.messaging.topic_arn
      },
      {
        Sid      = "FindRecordedEvents"
        Effect   = "Allow"
        Action   = "dynamodb:Query"
        Resource = module.messaging.outbox_index_arn
      },
      {
        Sid      = "ReadStoredEvents"
        Effect   = "Allow"
        Action   = "dynamodb:BatchGetItem"
        Resource = module.messaging.table_arn
      },
      {
        # The lease and checkpoints item, and the one mark the relay sets on an
        # order it published (relayPublicados): only its own attributes, never
        # an order's data (IAM's fine-grained access control for DynamoDB;
        # dynamodb:Attributes needs ReturnValues NONE or UPDATED_*).
        Sid      = "LeaseCheckpointsAndMarks"
        Effect   = "Allow"
        Action   = "dynamodb:UpdateItem"
        Resource = module.messaging.table_arn
        Condition = {
          "ForAllValues:StringEquals" = {
            "dynamodb:Attributes" = concat(
              ["pedidoId", "relayPublicados", "relayOwner", "relayLeaseUntil"],
              [for shard in range(8) : "relayDone${shard}"],
              [for shard in range(8) : "relaySwept${shard}"],
            )
          }
          StringEqualsIfExists = {
            "dynamodb:ReturnValues" = ["NONE", "UPDATED_OLD", "UPDATED_NEW"]
          }
        }
      },
      {
        Sid       = "EncryptEventsForTheTopic"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = module.kms_data.key_arn
        Condition = { StringEquals = { "kms:ViaService" = local.sns_via_service } }
      },
      local.dynamodb_data_key_statement,
    ]
  })

  worker_task_policies = {
    for role in local.worker_roles : role => jsonencode({
      Version = "2012-10-17"
      Statement = [
        {
          # Batch deletes / visibility changes are authorized by the same actions.
          Sid    = "ConsumeOwnQueue"
          Effect = "Allow"
          Action = [
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
          ]
          Resource = module.messaging.queue_arns[role]
        },
        {
          # GetQueueAttributes backs the startup check that the DLQ exists and
          # is reachable: without it the worker never starts consuming.
          Sid      = "DeadLetterToOwnDlq"
          Effect   = "Allow"
          Action   = ["sqs:GetQueueAttributes", "sqs:SendMessage"]
          Resource = module.messaging.dlq_arns[role]
        },
        {
          # The express lane (issue 23): exactly the standard lane's actions,
          # on this role's express queue and express DLQ only.
          Sid    = "ConsumeOwnExpressQueue"
          Effect = "Allow"
          Action = [
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
          ]
          Resource = module.messaging.express_queue_arns[role]
        },
        {
          Sid      = "DeadLetterToOwnExpressDlq"
          Effect   = "Allow"
          Action   = ["sqs:GetQueueAttributes", "sqs:SendMessage"]
          Resource = module.messaging.express_dlq_arns[role]
        },
        {
          Sid      = "UpdateOrders"
          Effect   = "Allow"
          Action   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
          Resource = module.messaging.table_arn
        },
        {
          Sid       = "DecryptAndEncryptQueueMessages"
          Effect    = "Allow"
          Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
          Resource  = module.kms_data.key_arn
          Condition = { StringEquals = { "kms:ViaService" = local.sqs_via_service } }
        },
        local.dynamodb_data_key_statement,
      ]
    })
  }
}

################################################################################
# Services
################################################################################

module "api" {
  source = "../../modules/ecs-service"

  name        = "${var.name_prefix}-order-api"
  cluster_arn = aws_ecs_cluster.this.arn
  region      = local.region
  account_id  = local.account_id
  partition   = local.partition
  # Every role carries infra/bootstrap's boundary when given (infra/README.md).
  role_permissions_boundary_arn = var.role_permissions_boundary_arn

  image              = "${module.ecr["order-api"].repository_url}:${var.api_image_tag}"
  ecr_repository_arn = module.ecr["order-api"].repository_arn
  cpu                = var.api_cpu
  memory             = var.api_memory
  cpu_architecture   = var.cpu_architecture
  container_port     = 8080

  # Initial count: Application Auto Scaling owns it afterwards (with
  # enable_api_autoscaling = false it simply stays), so Terraform ignores its
  # drift. See the moved block below.
  desired_count = var.api_desired_count
  autoscaled    = true

  environment = {
    SNS_TOPIC_ARN = module.messaging.topic_arn
    ORDERS_TABLE  = module.messaging.table_name
    AWS_REGION    = local.region
    PORT          = "8080"
    LOG_FORMAT    = "json"
  }

  health_check = {
    command = ["CMD", "/usr/local/bin/order-api", "healthcheck"]
  }
  stop_timeout_seconds = var.container_stop_timeout_seconds

  vpc_id                 = var.vpc_id
  subnet_ids             = var.private_subnet_ids
  egress_cidr_blocks     = var.task_egress_cidr_blocks
  egress_prefix_list_ids = var.task_egress_prefix_list_ids
  load_balancer = {
    target_group_arn  = module.alb.target_group_arn
    security_group_id = module.alb.security_group_id
  }

  log_group_name     = local.log_group_names["api"]
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = module.kms_platform.key_arn

  task_policy_json      = local.api_task_policy
  wait_for_steady_state = var.wait_for_steady_state

  otel_sidecar = {
    enabled              = var.enable_otel_sidecar
    image                = local.otel_collector_image
    service_name         = local.otel_service_names["api"]
    role                 = "api"
    traces_sampler_ratio = var.otel_traces_sampler_ratio
    metrics_port         = 8080 # PORT: /metrics is served with the API
    metrics_namespace    = local.metrics_namespace
    metrics              = local.api_metrics
  }
}

# The API service became autoscaled (module.api's autoscaled = true, so that
# Application Auto Scaling owns its desired count): keep the running service
# instead of replacing it.
moved {
  from = module.api.aws_ecs_service.this[0]
  to   = module.api.aws_ecs_service.autoscaled[0]
}

# The outbox relay: the order-api image's `relay` subcommand. It publishes
# every accepted order event the API has not published within
# relay_stale_seconds (SNS down or slow, an API task killed between its write
# and its publish). One task drains far more than the API accepts, so no
# autoscaling; relays that overlap (a deployment) are safe: claims are
# conditional writes. No load balancer, no port: only its collector reads
# /metrics on localhost.
module "relay" {
  source = "../../modules/ecs-service"

  name        = "${var.name_prefix}-relay"
  cluster_arn = aws_ecs_cluster.this.arn
  region      = local.region
  account_id  = local.account_id
  partition   = local.partition
  # Every role carries infra/bootstrap's boundary when given (infra/README.md).
  role_permissions_boundary_arn = var.role_permissions_boundary_arn

  image              = "${module.ecr["order-api"].repository_url}:${var.api_image_tag}"
  ecr_repository_arn = module.ecr["order-api"].repository_arn
  command            = ["relay"]
  cpu                = var.relay_cpu
  memory             = var.relay_memory
  cpu_architecture   = var.cpu_architecture

  desired_count = 1
  # The new task starts before the old one stops (both may run for a
  # moment; claims keep that safe), so a deployment leaves no minute
  # without a relay, nor without the age metric its alarm requires.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  environment = {
    SNS_TOPIC_ARN       = module.messaging.topic_arn
    ORDERS_TABLE        = module.messaging.table_name
    AWS_REGION          = local.region
    PORT                = "8080"
    LOG_FORMAT          = "json"
    RELAY_STALE_SECS    = tostring(var.relay_stale_seconds)
    RELAY_POLL_SECS     = tostring(var.relay_poll_seconds)
    SHUTDOWN_GRACE_SECS = tostring(var.relay_shutdown_grace_seconds)
  }

  # `order-api healthcheck` probes /health/live on PORT, which the relay serves.
  health_check = {
    command = ["CMD", "/usr/local/bin/order-api", "healthcheck"]
  }
  stop_timeout_seconds = var.container_stop_timeout_seconds

  vpc_id                 = var.vpc_id
  subnet_ids             = var.private_subnet_ids
  egress_cidr_blocks     = var.task_egress_cidr_blocks
  egress_prefix_list_ids = var.task_egress_prefix_list_ids

  log_group_name     = local.log_group_names["relay"]
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = module.kms_platform.key_arn

  task_policy_json      = local.relay_task_policy
  wait_for_steady_state = var.wait_for_steady_state

  otel_sidecar = {
    enabled              = var.enable_otel_sidecar
    image                = local.otel_collector_image
    service_name         = local.otel_service_names["relay"]
    role                 = "relay"
    traces_sampler_ratio = var.otel_traces_sampler_ratio
    metrics_port         = 8080 # PORT: /health/* and /metrics
    # Two samples per alarm period: a late scrape never leaves a minute
    # without data (the age alarm treats missing data as breaching).
    scrape_interval_seconds = 30
    metrics_namespace       = local.metrics_namespace
    metrics                 = local.relay_metrics
  }
}

module "worker" {
  source   = "../../modules/ecs-service"
  for_each = local.worker_roles

  name        = "${var.name_prefix}-worker-${each.key}"
  cluster_arn = aws_ecs_cluster.this.arn
  region      = local.region
  account_id  = local.account_id
  partition   = local.partition
  # Every role carries infra/bootstrap's boundary when given (infra/README.md).
  role_permissions_boundary_arn = var.role_permissions_boundary_arn

  image              = "${module.ecr["sqs-worker"].repository_url}:${var.worker_image_tag}"
  ecr_repository_arn = module.ecr["sqs-worker"].repository_arn
  cpu                = var.worker_cpu
  memory             = var.worker_memory
  cpu_architecture   = var.cpu_architecture

  # Initial count only: Application Auto Scaling owns it afterwards.
  desired_count = max(var.worker_min_capacity, 1)
  autoscaled    = true

  environment = {
    WORKER_ROLE   = each.key
    SQS_QUEUE_URL = module.messaging.queue_urls[each.key]
    SQS_DLQ_URL   = module.messaging.dlq_urls[each.key]
    # Issue 23: the worker drains the express queue first (both or neither).
    SQS_EXPRESS_QUEUE_URL = module.messaging.express_queue_urls[each.key]
    SQS_EXPRESS_DLQ_URL   = module.messaging.express_dlq_urls[each.key]
    ORDERS_TABLE          = module.messaging.table_name
    AWS_REGION            = local.region
    HEALTH_PORT           = "8080"
    LOG_FORMAT            = "json"
    SHUTDOWN_GRACE_SECS   = tostring(var.worker_shutdown_grace_seconds)
  }

  health_check = {
    command = ["CMD", "/usr/local/bin/sqs-worker", "healthcheck"]
  }
  stop_timeout_seconds = var.container_stop_timeout_seconds

  vpc_id                 = var.vpc_id
  subnet_ids             = var.private_subnet_ids
  egress_cidr_blocks     = var.task_egress_cidr_blocks
  egress_prefix_list_ids = var.task_egress_prefix_list_ids

  log_group_name     = local.log_group_names[each.key]
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = module.kms_platform.key_arn

  task_policy_json      = local.worker_task_policies[each.key]
  wait_for_steady_state = var.wait_for_steady_state

  otel_sidecar = {
    enabled              = var.enable_otel_sidecar
    image                = local.otel_collector_image
    service_name         = local.otel_service_names[each.key]
    role                 = each.key
    traces_sampler_ratio = var.otel_traces_sampler_ratio
    metrics_port         = 8080 # HEALTH_PORT: /health/* and /metrics
    metrics_namespace    = local.metrics_namespace
    metrics              = local.worker_metrics
  }
}

################################################################################
# Load balancer
################################################################################

module "alb" {
  source = "../../modules/alb"

  name       = "${var.name_prefix}-api"
  account_id = local.account_id
  partition  = local.partition
  vpc_id     = var.vpc_id
  subnet_ids = var.alb_subnet_ids

  internal            = !var.alb_internet_facing
  ingress_cidr_blocks = local.alb_ingress_cidr_blocks
  waf_web_acl_arn     = var.alb_waf_web_acl_arn
  certificate_arn     = var.certificate_arn
  ssl_policy          = var.alb_ssl_policy
  deletion_protection = var.alb_deletion_protection

  target_port              = 8080
  target_security_group_id = module.api.security_group_id
  # Shallow liveness: a short SNS or DynamoDB hiccup must not take every API
  # task out of service at once. The deep /health/ready (SNS and DynamoDB
  # reachable) is for monitoring; such an outage shows as 503s in the
  # api-5xx-rate alarm.
  health_check_path = "/health/live"
  # The API serves its Prometheus metrics on the same port as the API; only
  # the collector sidecar reads them, on localhost. The ALB answers 404.
  blocked_path_patterns = ["/metrics", "/metrics/*"]

  access_logs_bucket_name    = "${var.name_prefix}-alb-logs-${local.account_id}-${local.region}"
  access_logs_retention_days = var.alb_access_logs_retention_days
  grant_legacy_elb_account   = var.alb_legacy_elb_log_account
}

################################################################################
# Worker autoscaling on backlog per task
################################################################################

module "worker_autoscaling" {
  source   = "../../modules/worker-autoscaling"
  for_each = var.enable_worker_autoscaling ? local.worker_roles : toset([])

  cluster_name               = aws_ecs_cluster.this.name
  service_name               = module.worker[each.key].service_name
  queue_name                 = module.messaging.queue_names[each.key]
  express_queue_name         = module.messaging.express_queue_names[each.key]
  min_capacity               = var.worker_min_capacity
  max_capacity               = var.worker_max_capacity
  target_backlog_per_task    = local.target_backlog_per_task
  scale_in_cooldown_seconds  = var.worker_scale_in_cooldown_seconds
  scale_out_cooldown_seconds = var.worker_scale_out_cooldown_seconds
}

################################################################################
# API autoscaling on requests per task
################################################################################

module "api_autoscaling" {
  source = "../../modules/api-autoscaling"
  count  = var.enable_api_autoscaling ? 1 : 0

  cluster_name             = aws_ecs_cluster.this.name
  service_name             = module.api.service_name
  load_balancer_arn_suffix = module.alb.lb_arn_suffix
  target_group_arn_suffix  = module.alb.target_group_arn_suffix
  min_capacity             = var.api_min_capacity
  max_capacity             = var.api_max_capacity
  target_requests_per_task = var.api_target_requests_per_task
}

################################################################################
# Alarms
################################################################################

module "alarms" {
  source = "../../modules/alarms"

  name_prefix = var.name_prefix
  account_id  = local.account_id
  region      = local.region
  partition   = local.partition
  kms_key_arn = module.kms_platform.key_arn
  alarm_email = var.alarm_email

  # EventBridge rules: the data key disabled, scheduled for deletion or deleted.
  data_key_arn = module.kms_data.key_arn

  topic_name = module.messaging.topic_name

  queues = {
    for role in local.worker_roles : role => {
      queue_name         = module.messaging.queue_names[role]
      dlq_name           = module.messaging.dlq_names[role]
      delivery_dlq_name  = module.messaging.delivery_dlq_names[role]
      express_queue_name = module.messaging.express_queue_names[role]
      express_dlq_name   = module.messaging.express_dlq_names[role]
    }
  }
  queue_oldest_message_age_threshold_seconds         = var.queue_oldest_message_age_alarm_seconds
  express_queue_oldest_message_age_threshold_seconds = var.express_queue_oldest_message_age_alarm_seconds
  partner_delivery_dlqs                              = module.messaging.partner_dlq_names

  load_balancer_arn_suffix       = module.alb.lb_arn_suffix
  target_group_arn_suffix        = module.alb.target_group_arn_suffix
  api_5xx_rate_threshold_percent = var.api_5xx_rate_alarm_percent

  api_p99_latency_threshold_seconds = var.api_p99_latency_alarm_seconds
  table_name                        = module.messaging.table_name

  # Only with the collector sidecars: without them the relay's age metric
  # does not exist, and a missing-data-breaching alarm would never clear.
  outbox_oldest_pending_age = var.enable_otel_sidecar ? {
    namespace         = local.metrics_namespace
    metric_name       = "outbox_oldest_pending_age_seconds"
    dimensions        = { Role = "relay", Service = local.otel_service_names["relay"] }
    threshold_seconds = var.outbox_oldest_pending_age_alarm_seconds
  } : null

  cluster_name = aws_ecs_cluster.this.name
  running_below_desired_services = merge(
    { api = module.api.service_name, relay = module.relay.service_name },
    { for role in local.worker_roles : "worker-${role}" => module.worker[role].service_name },
  )
}
