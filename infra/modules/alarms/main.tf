locals {
  topic_name = "${var.name_prefix}-ops-alarms"
  topic_arn  = aws_sns_topic.ops.arn
  actions    = [local.topic_arn]

  alarm_arn_pattern = "arn:${var.partition}:cloudwatch:${var.region}:${var.account_id}:alarm:${var.name_prefix}-*"

  # Conditions that must hold in this many of the last evaluation_periods
  # minutes (errors that come and go, not a single bad minute).
  sustained_datapoints = min(3, var.evaluation_periods)

  topic_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "OwnerAccountManagement"
        Effect    = "Allow"
        Principal = { AWS = "arn:${var.partition}:iam::${var.account_id}:root" }
        Action = [
          "SNS:GetTopicAttributes",
          "SNS:SetTopicAttributes",
          "SNS:Subscribe",
          "SNS:ListSubscriptionsByTopic",
          "SNS:AddPermission",
          "SNS:RemovePermission",
          "SNS:DeleteTopic",
        ]
        Resource = local.topic_arn
      },
      {
        Sid       = "CloudWatchAlarmsOfThisAccount"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "SNS:Publish"
        Resource  = local.topic_arn
        Condition = {
          ArnLike      = { "aws:SourceArn" = local.alarm_arn_pattern }
          StringEquals = { "aws:SourceAccount" = var.account_id }
        }
      },
      {
        # The EventBridge rules of events.tf (deployment failures, data key state).
        Sid       = "EventBridgeRulesOfThisAccount"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "SNS:Publish"
        Resource  = local.topic_arn
        Condition = {
          ArnLike      = { "aws:SourceArn" = local.event_rule_arn_pattern }
          StringEquals = { "aws:SourceAccount" = var.account_id }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "SNS:Publish"
        Resource  = local.topic_arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

resource "aws_sns_topic" "ops" {
  name              = local.topic_name
  kms_master_key_id = var.kms_key_arn

  tags = var.tags
}

resource "aws_sns_topic_policy" "ops" {
  arn    = aws_sns_topic.ops.arn
  policy = local.topic_policy
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.ops.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

################################################################################
# Queues
################################################################################

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = var.queues

  alarm_name          = "${var.name_prefix}-${each.key}-dlq-not-empty"
  alarm_description   = "Messages are waiting in the ${each.key} dead-letter queue ${each.value.dlq_name}: inspect them with `sqs-worker dlq peek`, fix the cause, then `sqs-worker dlq redrive`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.dlq_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

# Subscription DLQs: SNS could not deliver an event to a role's queue (its
# queue policy refused it, queue missing). The event is kept, not processed.
resource "aws_cloudwatch_metric_alarm" "delivery_dlq_not_empty" {
  for_each = var.queues

  alarm_name          = "${var.name_prefix}-${each.key}-delivery-dlq-not-empty"
  alarm_description   = "SNS could not deliver order events to ${each.value.queue_name}; they wait in its subscription DLQ ${each.value.delivery_dlq_name}. Check that the queue exists and that its policy lets sns.amazonaws.com send for the topic, then deliver them to ${each.value.queue_name}: `sqs-worker dlq peek --subscription`, `sqs-worker dlq redrive --subscription`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.delivery_dlq_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "queue_oldest_message_age" {
  for_each = var.queues

  alarm_name          = "${var.name_prefix}-${each.key}-oldest-message-age"
  alarm_description   = "The oldest message of ${each.value.queue_name} is older than ${var.queue_oldest_message_age_threshold_seconds} s: the ${each.key} workers are stuck, failing or too few."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value.queue_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.queue_oldest_message_age_threshold_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

# The express lane (issue 23): its DLQ like the standard one, and the age of
# its oldest message against a tighter threshold.
locals {
  express_queues = { for role, q in var.queues : role => q if q.express_queue_name != null && q.express_dlq_name != null }
}

resource "aws_cloudwatch_metric_alarm" "express_dlq_not_empty" {
  for_each = local.express_queues

  alarm_name          = "${var.name_prefix}-${each.key}-express-dlq-not-empty"
  alarm_description   = "Messages are waiting in the ${each.key} express dead-letter queue ${each.value.express_dlq_name}: inspect them with `sqs-worker dlq peek`, fix the cause, then `sqs-worker dlq redrive` (SQS_QUEUE_URL / SQS_DLQ_URL of the express lane, output dlq_tools)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.express_dlq_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "express_queue_oldest_message_age" {
  for_each = local.express_queues

  alarm_name          = "${var.name_prefix}-${each.key}-express-oldest-message-age"
  alarm_description   = "The oldest EXPRESS message of ${each.value.express_queue_name} is older than ${var.express_queue_oldest_message_age_threshold_seconds} s: the ${each.key} workers are stuck, failing or too few (they drain the express queue first)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value.express_queue_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.express_queue_oldest_message_age_threshold_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

# Partner HTTPS subscriptions: SNS gave up delivering to a partner (its
# endpoint answered 5xx or nothing through the whole delivery policy, or
# refused with 4xx) and kept the event in that partner's subscription DLQ.
resource "aws_cloudwatch_metric_alarm" "partner_dlq_not_empty" {
  for_each = var.partner_delivery_dlqs

  alarm_name          = "${var.name_prefix}-partner-${each.key}-dlq-not-empty"
  alarm_description   = "SNS could not deliver order events to partner ${each.key}'s HTTPS endpoint; they wait in ${each.value}. Check the endpoint (reachable over HTTPS, answering 2xx, subscription confirmed), then hand the kept events to the partner or republish them."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

################################################################################
# Order-events topic
################################################################################

# Any notification SNS gave up delivering (counted once per message and
# subscription when SNS stops retrying), whether or not its subscription DLQ
# then kept it. No datapoint means nothing failed.
resource "aws_cloudwatch_metric_alarm" "sns_notifications_failed" {
  alarm_name          = "${var.name_prefix}-sns-notifications-failed"
  alarm_description   = "SNS failed to deliver notifications of ${var.topic_name}. Look in the subscription DLQs (<prefix>-<role>-delivery-dlq, <prefix>-partner-<name>-dlq); if they are empty, SNS could not dead-letter either: check the delivery DLQs exist and their policies let sns.amazonaws.com send for the topic."
  namespace           = "AWS/SNS"
  metric_name         = "NumberOfNotificationsFailed"
  dimensions          = { TopicName = var.topic_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

################################################################################
# API behind the ALB
################################################################################

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${var.name_prefix}-api-5xx-rate"
  alarm_description   = "More than ${var.api_5xx_rate_threshold_percent}% of API requests answered 5xx by the tasks."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_rate_threshold_percent
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "m1"
    return_data = false

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      period      = 60
      stat        = "Sum"
      dimensions = {
        LoadBalancer = var.load_balancer_arn_suffix
        TargetGroup  = var.target_group_arn_suffix
      }
    }
  }

  metric_query {
    id          = "m2"
    return_data = false

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      period      = 60
      stat        = "Sum"
      dimensions = {
        LoadBalancer = var.load_balancer_arn_suffix
        TargetGroup  = var.target_group_arn_suffix
      }
    }
  }

  metric_query {
    id = "e1"
    # No 5xx datapoint means 0 errors; no request means no rate (missing -> OK).
    expression  = "IF(m2 > 0, 100 * FILL(m1, 0) / m2, 0)"
    label       = "API 5xx rate (%)"
    return_data = true
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_unhealthy_targets" {
  alarm_name          = "${var.name_prefix}-api-unhealthy-targets"
  alarm_description   = "At least one API task fails the load balancer's health check (liveness: the process does not answer, or SNS / DynamoDB have refused the topic or table for CONFIG_FAULT_LIMIT_SECS; /health/ready names which)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = var.load_balancer_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

# 5xx the load balancer generates itself (502/503/504: no healthy target,
# connection refused or reset by a task, target timeout), which the tasks'
# own 5xx rate never counts. The ALB publishes the count only when it is
# above 0: no datapoint means no such error. An isolated 502 (a connection
# closing as it is reused) is noise; errors in 3 of 5 minutes are not.
resource "aws_cloudwatch_metric_alarm" "api_elb_5xx" {
  alarm_name          = "${var.name_prefix}-api-elb-5xx"
  alarm_description   = "The API load balancer answered 5xx itself (502/503/504) in ${local.sustained_datapoints} of the last ${var.evaluation_periods} minutes: no healthy API task, tasks refusing or resetting connections, or requests timing out. Check unhealthy targets, the API tasks' logs and stopped-task reasons."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_ELB_5XX_Count"
  dimensions          = { LoadBalancer = var.load_balancer_arn_suffix }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = local.sustained_datapoints
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

# p99 of the time from the request leaving the ALB to the task's answer
# starting. No request in a minute means no datapoint: not breaching (an idle
# API is not slow).
resource "aws_cloudwatch_metric_alarm" "api_p99_latency" {
  alarm_name          = "${var.name_prefix}-api-p99-latency"
  alarm_description   = "p99 of the API's response time (ALB TargetResponseTime) above ${var.api_p99_latency_threshold_seconds} s in ${local.sustained_datapoints} of the last ${var.evaluation_periods} minutes: SNS publishes or DynamoDB calls slow (see the dashboard's publish latency and throttles), or the API tasks saturated (requests per task, CPU)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = { LoadBalancer = var.load_balancer_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = local.sustained_datapoints
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_p99_latency_threshold_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

################################################################################
# Orders table
################################################################################

# Requests DynamoDB throttled on the orders table (reads and writes, table and
# indexes). DynamoDB publishes these only when something was throttled: no
# datapoint means none. The SDKs retry throttled calls, so a stray one is
# absorbed; throttling in 3 of 5 minutes makes the API refuse orders (503)
# and the workers retry.
resource "aws_cloudwatch_metric_alarm" "table_throttles" {
  alarm_name          = "${var.name_prefix}-orders-table-throttles"
  alarm_description   = "DynamoDB throttled requests on ${var.table_name} in ${local.sustained_datapoints} of the last ${var.evaluation_periods} minutes: the API refuses orders (503) and the workers retry. On-demand tables throttle above twice their previous peak or on a hot partition: set warm throughput or ramp up (README, Capacity and cost)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = local.sustained_datapoints
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "m1"
    return_data = false

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ReadThrottleEvents"
      period      = 60
      stat        = "Sum"
      dimensions  = { TableName = var.table_name }
    }
  }

  metric_query {
    id          = "m2"
    return_data = false

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "WriteThrottleEvents"
      period      = 60
      stat        = "Sum"
      dimensions  = { TableName = var.table_name }
    }
  }

  metric_query {
    id          = "e1"
    expression  = "FILL(m1, 0) + FILL(m2, 0)"
    label       = "Throttled read and write events"
    return_data = true
  }

  tags = var.tags
}

################################################################################
# Outbox: order events accepted but not yet published
################################################################################

# The relay reports the age of the oldest unpublished event of the orders
# table (0 when nothing is pending; it publishes what is older than
# RELAY_STALE_SECS). Above the threshold, events are stuck: SNS refuses or is
# unreachable, or the relay fails. No datapoint is breaching: then no relay
# reports at all (service down, crash loop, collector stopped), and nobody
# publishes what the API could not. Two consecutive minutes, so a single
# late scrape does not page.
resource "aws_cloudwatch_metric_alarm" "outbox_oldest_pending_age" {
  count = var.outbox_oldest_pending_age == null ? 0 : 1

  alarm_name          = "${var.name_prefix}-outbox-oldest-pending-age"
  alarm_description   = "An accepted order event has been waiting to be published to ${var.topic_name} for more than ${var.outbox_oldest_pending_age.threshold_seconds} s, or no relay reports ${var.outbox_oldest_pending_age.metric_name} (missing data is breaching). Orders are still accepted (202) but reach no worker. Check the relay's /health/ready and logs (publish failures by kind), the SNS topic and the relay service's running tasks."
  namespace           = var.outbox_oldest_pending_age.namespace
  metric_name         = var.outbox_oldest_pending_age.metric_name
  dimensions          = var.outbox_oldest_pending_age.dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.outbox_oldest_pending_age.threshold_seconds
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

################################################################################
# ECS services running fewer tasks than desired
################################################################################

resource "aws_cloudwatch_metric_alarm" "tasks_below_desired" {
  for_each = var.running_below_desired_services

  alarm_name          = "${var.name_prefix}-${each.key}-tasks-below-desired"
  alarm_description   = "ECS service ${each.value} runs fewer tasks than desired (crash loop, failed image pull, or no capacity)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "m1"
    return_data = false

    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "RunningTaskCount"
      period      = 60
      stat        = "Average"
      dimensions  = { ClusterName = var.cluster_name, ServiceName = each.value }
    }
  }

  metric_query {
    id          = "m2"
    return_data = false

    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      period      = 60
      stat        = "Average"
      dimensions  = { ClusterName = var.cluster_name, ServiceName = each.value }
    }
  }

  metric_query {
    id          = "e1"
    expression  = "m2 - FILL(m1, 0)"
    label       = "Desired minus running tasks"
    return_data = true
  }

  tags = var.tags
}
