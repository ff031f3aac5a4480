output "scalable_target_resource_id" {
  description = "Resource id of the scalable target (service/<cluster>/<service>)."
  value       = aws_appautoscaling_target.this.resource_id
}

output "target_tracking_policy_name" {
  description = "Name of the backlog-per-task target tracking policy."
  value       = aws_appautoscaling_policy.backlog_per_task.name
}

output "backlog_per_task_expression" {
  description = "Metric math expression tracked by the target tracking policy (m1 = visible messages of the standard queue, m3 = of the express queue when set, m2 = running tasks)."
  value       = local.backlog_per_task_expression
}

output "scale_from_zero_alarm_name" {
  description = "Name of the scale-from-zero alarm, or null when min_capacity > 0."
  value       = local.scale_from_zero ? aws_cloudwatch_metric_alarm.scale_from_zero[0].alarm_name : null
}

output "settings" {
  description = "Effective autoscaling settings: capacity bounds, target value and the metric queries of the target tracking policy."
  value = {
    min_capacity    = aws_appautoscaling_target.this.min_capacity
    max_capacity    = aws_appautoscaling_target.this.max_capacity
    target_value    = aws_appautoscaling_policy.backlog_per_task.target_tracking_scaling_policy_configuration[0].target_value
    scale_from_zero = local.scale_from_zero
    metrics = {
      for m in aws_appautoscaling_policy.backlog_per_task.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m.id => {
        expression  = m.expression
        return_data = m.return_data
        namespace   = try(m.metric_stat[0].metric[0].namespace, null)
        metric_name = try(m.metric_stat[0].metric[0].metric_name, null)
        stat        = try(m.metric_stat[0].stat, null)
        dimensions  = try({ for d in m.metric_stat[0].metric[0].dimensions : d.name => d.value }, {})
      }
    }
    scale_from_zero_alarm = local.scale_from_zero ? {
      expression  = local.scale_from_zero_expression
      threshold   = aws_cloudwatch_metric_alarm.scale_from_zero[0].threshold
      comparison  = aws_cloudwatch_metric_alarm.scale_from_zero[0].comparison_operator
      metrics     = { for q in aws_cloudwatch_metric_alarm.scale_from_zero[0].metric_query : q.id => try(q.metric[0].metric_name, q.expression) }
      queues      = { for q in aws_cloudwatch_metric_alarm.scale_from_zero[0].metric_query : q.id => q.metric[0].dimensions.QueueName if length(q.metric) > 0 && try(q.metric[0].namespace, "") == "AWS/SQS" }
      policy_type = aws_appautoscaling_policy.scale_from_zero[0].policy_type
      adjustment  = aws_appautoscaling_policy.scale_from_zero[0].step_scaling_policy_configuration[0].adjustment_type
    } : null
  }
}
