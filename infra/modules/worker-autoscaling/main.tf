locals {
  resource_id = "service/${var.cluster_name}/${var.service_name}"

  # The queues the service drains: the standard lane's (m1) and, when set,
  # the express lane's (m3). The backlog is their sum: one task serves both.
  queues = merge(
    { m1 = var.queue_name },
    var.express_queue_name == null ? {} : { m3 = var.express_queue_name },
  )

  # Visible messages of every queue. SQS stops publishing the metrics of a
  # queue left inactive for six hours, so each one counts 0 when missing: an
  # idle express queue must not leave the sum without datapoints.
  express_lane       = var.express_queue_name != null
  backlog_expression = local.express_lane ? "(FILL(m1, 0) + FILL(m3, 0))" : "m1"

  # Backlog per task. Container Insights publishes RunningTaskCount; with no
  # task running it is 0 or missing, so the divisor falls back to 1 (no
  # division by zero: the metric is then simply the backlog).
  backlog_per_task_expression = "${local.backlog_expression} / IF(FILL(m2, 0) > 0, FILL(m2, 0), 1)"

  # 1 while messages wait (in either queue) and no task is desired, else 0.
  scale_from_zero_expression = "IF(${local.express_lane ? local.backlog_expression : "FILL(m1, 0)"} > 0 AND FILL(m2, 0) == 0, 1, 0)"

  scale_from_zero = var.min_capacity == 0
}

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = local.resource_id
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity

  tags = var.tags
}

resource "aws_appautoscaling_policy" "backlog_per_task" {
  name               = "${var.service_name}-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension
  resource_id        = aws_appautoscaling_target.this.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.target_backlog_per_task
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = var.scale_out_cooldown_seconds
    disable_scale_in   = false

    # Metric math in target tracking (customized_metric_specification with
    # metrics blocks, AWS provider aws_appautoscaling_policy): m1 (+ m3) the
    # visible messages of each queue, m2 the running tasks, e1 the one
    # expression returned (return_data) and tracked.
    customized_metric_specification {
      dynamic "metrics" {
        for_each = local.queues
        content {
          id          = metrics.key
          label       = "Visible messages in ${metrics.value}"
          return_data = false

          metric_stat {
            stat = "Sum"

            metric {
              namespace   = "AWS/SQS"
              metric_name = "ApproximateNumberOfMessagesVisible"

              dimensions {
                name  = "QueueName"
                value = metrics.value
              }
            }
          }
        }
      }

      metrics {
        id          = "m2"
        label       = "Running tasks of ${var.service_name}"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"

            dimensions {
              name  = "ClusterName"
              value = var.cluster_name
            }

            dimensions {
              name  = "ServiceName"
              value = var.service_name
            }
          }
        }
      }

      metrics {
        id          = "e1"
        label       = "Backlog per task"
        expression  = local.backlog_per_task_expression
        return_data = true
      }
    }
  }
}

################################################################################
# Scale from zero: target tracking cannot scale out a service with 0 tasks
# (it multiplies the current capacity), so a step policy sets 1 task when
# messages are visible while no task is desired.
################################################################################

resource "aws_appautoscaling_policy" "scale_from_zero" {
  count = local.scale_from_zero ? 1 : 0

  name               = "${var.service_name}-scale-from-zero"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension
  resource_id        = aws_appautoscaling_target.this.resource_id

  step_scaling_policy_configuration {
    adjustment_type         = "ExactCapacity"
    cooldown                = var.scale_out_cooldown_seconds
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = 1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "scale_from_zero" {
  count = local.scale_from_zero ? 1 : 0

  alarm_name          = "${var.service_name}-scale-from-zero"
  alarm_description   = "Messages are visible in ${join(" or ", values(local.queues))} while ${var.service_name} has no desired task: sets the desired count to 1."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.scale_from_zero[0].arn]

  dynamic "metric_query" {
    for_each = local.queues
    content {
      id          = metric_query.key
      return_data = false

      metric {
        namespace   = "AWS/SQS"
        metric_name = "ApproximateNumberOfMessagesVisible"
        period      = 60
        stat        = "Maximum"
        dimensions = {
          QueueName = metric_query.value
        }
      }
    }
  }

  metric_query {
    id          = "m2"
    return_data = false

    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      period      = 60
      stat        = "Maximum"
      dimensions = {
        ClusterName = var.cluster_name
        ServiceName = var.service_name
      }
    }
  }

  metric_query {
    id          = "e1"
    label       = "Backlog waiting with zero desired tasks"
    expression  = local.scale_from_zero_expression
    return_data = true
  }

  tags = var.tags
}
