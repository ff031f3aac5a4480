################################################################################
# CloudWatch dashboard: the pipeline on one page
#
# Custom metrics come from the collector sidecars (namespace EComExpress,
# dimensions Role and Service, names as in local.api_metrics,
# local.relay_metrics and local.worker_metrics); the rest are the AWS metrics of the ALB, SQS and
# DynamoDB. Every graph is per minute.
################################################################################

locals {
  dashboard_name = "${var.name_prefix}-pipeline"
  console_domain = lookup({ aws-cn = "console.amazonaws.cn", aws-us-gov = "console.amazonaws-us-gov.com" }, local.partition, "console.aws.amazon.com")

  lb_dimensions = ["LoadBalancer", module.alb.lb_arn_suffix]
  tg_dimensions = concat(local.lb_dimensions, ["TargetGroup", module.alb.target_group_arn_suffix])

  # [namespace, metric, dimension name, value, ...] of a custom metric.
  api_metric   = ["Role", "api", "Service", local.otel_service_names["api"]]
  relay_metric = ["Role", "relay", "Service", local.otel_service_names["relay"]]

  # The orders endpoint by status, whatever statuses occur (202 accepted,
  # 4xx refused, 503 not accepted or outcome unknown): one line each.
  orders_by_status_search = "SEARCH('{${local.metrics_namespace},Role,Service,method,route,status} MetricName=\"order_api_http_requests_total\" Role=\"api\" method=\"POST\" route=\"/api/pedidos\"', 'Sum', 60)"

  table_throttled_requests_search = "SEARCH('{AWS/DynamoDB,Operation,TableName} MetricName=\"ThrottledRequests\" TableName=\"${module.messaging.table_name}\"', 'Sum', 60)"

  worker_event_metrics = {
    sqs_worker_messages_processed_total     = "applied"
    sqs_worker_messages_duplicate_total     = "duplicate"
    sqs_worker_messages_retried_total       = "retried"
    sqs_worker_messages_dead_lettered_total = "dead-lettered"
  }

  sorted_roles = sort(tolist(local.worker_roles))

  dashboard_widgets = concat(
    [
      {
        type   = "text"
        x      = 0
        y      = 0
        width  = 24
        height = 2
        properties = {
          markdown = "**${var.name_prefix} order pipeline** (per minute). Custom metrics: namespace `${local.metrics_namespace}`, from the collector sidecar of each task (Role, Service dimensions). Traces: X-Ray, service map. Alarms: `${var.name_prefix}-*` in CloudWatch alarms."
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 2
        width  = 8
        height = 6
        properties = {
          title   = "Orders: POST /api/pedidos by status"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          stat    = "Sum"
          metrics = [[{ expression = local.orders_by_status_search, id = "orders", label = "", period = 60 }]]
          yAxis   = { left = { min = 0, label = "requests" } }
        }
      },
      {
        type   = "metric"
        x      = 8
        y      = 2
        width  = 8
        height = 6
        properties = {
          title   = "SNS publish latency (mean) and publishes"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          metrics = [
            concat([local.metrics_namespace, "order_api_sns_publish_duration_seconds"], local.api_metric, [{ stat = "Average", label = "mean publish latency (s)" }]),
            concat([local.metrics_namespace, "order_api_sns_publish_duration_seconds"], local.api_metric, [{ stat = "SampleCount", label = "publishes", yAxis = "right" }]),
            concat([local.metrics_namespace, "order_api_sns_publish_failures_total"], local.api_metric, [{ stat = "Sum", label = "publish failures", yAxis = "right" }]),
          ]
          yAxis = { left = { min = 0, label = "seconds" }, right = { min = 0, label = "count" } }
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 2
        width  = 8
        height = 6
        properties = {
          title   = "API response time (ALB TargetResponseTime)"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          metrics = [
            concat(["AWS/ApplicationELB", "TargetResponseTime"], local.tg_dimensions, [{ stat = "p99", label = "p99" }]),
            concat(["AWS/ApplicationELB", "TargetResponseTime"], local.tg_dimensions, [{ stat = "p50", label = "p50" }]),
          ]
          annotations = { horizontal = [{ label = "p99 alarm", value = var.api_p99_latency_alarm_seconds }] }
          yAxis       = { left = { min = 0, label = "seconds" } }
        }
      },
      {
        type   = "metric"
        x      = 0
        y      = 8
        width  = 8
        height = 6
        properties = {
          title   = "ALB 5xx"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          stat    = "Sum"
          metrics = [
            concat(["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"], local.lb_dimensions, [{ label = "generated by the ALB (502/503/504)" }]),
            concat(["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"], local.tg_dimensions, [{ label = "answered by the API tasks" }]),
          ]
          yAxis = { left = { min = 0, label = "responses" } }
        }
      },
      {
        type   = "metric"
        x      = 8
        y      = 8
        width  = 8
        height = 6
        properties = {
          title   = "API requests per task and running tasks"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          metrics = [
            concat(["AWS/ApplicationELB", "RequestCountPerTarget"], local.tg_dimensions, [{ stat = "Sum", label = "requests per task" }]),
            ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", aws_ecs_cluster.this.name, "ServiceName", module.api.service_name, { stat = "Average", label = "running API tasks", yAxis = "right" }],
          ]
          annotations = { horizontal = var.enable_api_autoscaling ? [{ label = "autoscaling target", value = var.api_target_requests_per_task }] : [] }
          yAxis       = { left = { min = 0, label = "requests/min" }, right = { min = 0, label = "tasks" } }
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 8
        width  = 8
        height = 6
        properties = {
          title   = "DynamoDB throttles: ${module.messaging.table_name}"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          stat    = "Sum"
          metrics = [
            [{ expression = local.table_throttled_requests_search, id = "throttled", label = "ThrottledRequests", period = 60 }],
            ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", module.messaging.table_name, { label = "read throttle events" }],
            ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", module.messaging.table_name, { label = "write throttle events" }],
          ]
          yAxis = { left = { min = 0, label = "requests" } }
        }
      },
    ],
    # One graph per worker role: what its worker did with the messages.
    [for i, role in local.sorted_roles : {
      type   = "metric"
      x      = 12 * i
      y      = 14
      width  = 12
      height = 6
      properties = {
        title   = "Worker ${role}: messages"
        region  = local.region
        view    = "timeSeries"
        stacked = false
        period  = 60
        stat    = "Sum"
        metrics = [
          for name, label in local.worker_event_metrics :
          [local.metrics_namespace, name, "Role", role, "Service", local.otel_service_names[role], { label = label }]
        ]
        yAxis = { left = { min = 0, label = "messages" } }
      }
    }],
    [
      {
        type   = "metric"
        x      = 0
        y      = 20
        width  = 8
        height = 6
        properties = {
          title   = "Queue age: oldest message"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          stat    = "Maximum"
          metrics = concat(
            [for role in local.sorted_roles : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", module.messaging.queue_names[role], { label = role }]],
            [for role in local.sorted_roles : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", module.messaging.express_queue_names[role], { label = "${role} express" }]],
          )
          annotations = { horizontal = [
            { label = "alarm", value = var.queue_oldest_message_age_alarm_seconds },
            { label = "express alarm", value = var.express_queue_oldest_message_age_alarm_seconds },
          ] }
          yAxis = { left = { min = 0, label = "seconds" } }
        }
      },
      {
        type   = "metric"
        x      = 8
        y      = 20
        width  = 8
        height = 6
        properties = {
          title   = "Queue depth: visible messages"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          stat    = "Maximum"
          metrics = concat(
            [for role in local.sorted_roles : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", module.messaging.queue_names[role], { label = role }]],
            [for role in local.sorted_roles : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", module.messaging.express_queue_names[role], { label = "${role} express" }]],
          )
          yAxis = { left = { min = 0, label = "messages" } }
        }
      },
      {
        type   = "metric"
        x      = 16
        y      = 20
        width  = 8
        height = 6
        properties = {
          title   = "DLQ depth: visible messages"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          stat    = "Maximum"
          metrics = concat(
            [for role in local.sorted_roles : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", module.messaging.dlq_names[role], { label = "${role} DLQ" }]],
            [for role in local.sorted_roles : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", module.messaging.express_dlq_names[role], { label = "${role} express DLQ" }]],
            [for role in local.sorted_roles : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", module.messaging.delivery_dlq_names[role], { label = "${role} subscription DLQ" }]],
          )
          yAxis = { left = { min = 0, label = "messages" } }
        }
      },
      {
        # The outbox: how long the oldest accepted event has waited to be
        # published (0 = nothing pending), what the relay published (events
        # the API did not publish within relay_stale_seconds), its failures
        # and the stored events it could not read (skipped: never published).
        type   = "metric"
        x      = 0
        y      = 26
        width  = 24
        height = 6
        properties = {
          title   = "Outbox: oldest unpublished event and relay publishes"
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          metrics = [
            concat([local.metrics_namespace, "outbox_oldest_pending_age_seconds"], local.relay_metric, [{ stat = "Maximum", label = "oldest unpublished event (s)" }]),
            concat([local.metrics_namespace, "outbox_relay_published_total"], local.relay_metric, [{ stat = "Sum", label = "published by the relay", yAxis = "right" }]),
            concat([local.metrics_namespace, "outbox_relay_publish_failures_total"], local.relay_metric, [{ stat = "Sum", label = "relay publish failures", yAxis = "right" }]),
            concat([local.metrics_namespace, "outbox_relay_unreadable_events_total"], local.relay_metric, [{ stat = "Sum", label = "stored events unreadable (skipped)", yAxis = "right" }]),
          ]
          annotations = { horizontal = [{ label = "alarm", value = var.outbox_oldest_pending_age_alarm_seconds }] }
          yAxis       = { left = { min = 0, label = "seconds" }, right = { min = 0, label = "events" } }
        }
      },
    ],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
