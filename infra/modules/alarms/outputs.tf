output "topic_arn" {
  description = "ARN of the encrypted ops SNS topic that receives every alarm."
  value       = aws_sns_topic.ops.arn
}

output "topic_policy" {
  description = "The ops topic policy JSON."
  value       = local.topic_policy
}

output "alarm_names" {
  description = "Names of every alarm, grouped by kind."
  value = {
    dlq_not_empty              = { for k, a in aws_cloudwatch_metric_alarm.dlq_not_empty : k => a.alarm_name }
    delivery_dlq_not_empty     = { for k, a in aws_cloudwatch_metric_alarm.delivery_dlq_not_empty : k => a.alarm_name }
    sns_notifications_failed   = aws_cloudwatch_metric_alarm.sns_notifications_failed.alarm_name
    queue_oldest_message_age   = { for k, a in aws_cloudwatch_metric_alarm.queue_oldest_message_age : k => a.alarm_name }
    express_dlq_not_empty      = { for k, a in aws_cloudwatch_metric_alarm.express_dlq_not_empty : k => a.alarm_name }
    express_oldest_message_age = { for k, a in aws_cloudwatch_metric_alarm.express_queue_oldest_message_age : k => a.alarm_name }
    partner_dlq_not_empty      = { for k, a in aws_cloudwatch_metric_alarm.partner_dlq_not_empty : k => a.alarm_name }
    api_5xx_rate               = aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name
    api_unhealthy_targets      = aws_cloudwatch_metric_alarm.api_unhealthy_targets.alarm_name
    api_elb_5xx                = aws_cloudwatch_metric_alarm.api_elb_5xx.alarm_name
    api_p99_latency            = aws_cloudwatch_metric_alarm.api_p99_latency.alarm_name
    table_throttles            = aws_cloudwatch_metric_alarm.table_throttles.alarm_name
    outbox_oldest_pending_age  = one(aws_cloudwatch_metric_alarm.outbox_oldest_pending_age[*].alarm_name)
    tasks_below_desired        = { for k, a in aws_cloudwatch_metric_alarm.tasks_below_desired : k => a.alarm_name }
  }
}

output "alarms" {
  description = "Every alarm by name: metric or metric-math definition, threshold and actions (for reviews and tests)."
  value = {
    for a in concat(
      values(aws_cloudwatch_metric_alarm.dlq_not_empty),
      values(aws_cloudwatch_metric_alarm.delivery_dlq_not_empty),
      values(aws_cloudwatch_metric_alarm.queue_oldest_message_age),
      values(aws_cloudwatch_metric_alarm.express_dlq_not_empty),
      values(aws_cloudwatch_metric_alarm.express_queue_oldest_message_age),
      values(aws_cloudwatch_metric_alarm.partner_dlq_not_empty),
      [aws_cloudwatch_metric_alarm.sns_notifications_failed],
      [aws_cloudwatch_metric_alarm.api_5xx_rate, aws_cloudwatch_metric_alarm.api_unhealthy_targets],
      [aws_cloudwatch_metric_alarm.api_elb_5xx, aws_cloudwatch_metric_alarm.api_p99_latency],
      [aws_cloudwatch_metric_alarm.table_throttles],
      aws_cloudwatch_metric_alarm.outbox_oldest_pending_age,
      values(aws_cloudwatch_metric_alarm.tasks_below_desired),
      ) : a.alarm_name => {
      namespace           = a.namespace
      metric_name         = a.metric_name
      dimensions          = a.dimensions
      statistic           = a.statistic
      extended_statistic  = a.extended_statistic
      period              = a.period
      evaluation_periods  = a.evaluation_periods
      datapoints_to_alarm = a.datapoints_to_alarm
      treat_missing_data  = a.treat_missing_data
      comparison_operator = a.comparison_operator
      threshold           = a.threshold
      alarm_actions       = a.alarm_actions
      ok_actions          = a.ok_actions
      expressions         = [for q in a.metric_query : q.expression if q.expression != null && q.expression != ""]
      metrics = { for q in a.metric_query : q.id => {
        namespace   = q.metric[0].namespace
        metric_name = q.metric[0].metric_name
        stat        = q.metric[0].stat
        dimensions  = q.metric[0].dimensions
      } if length(q.metric) > 0 }
    }
  }
}

output "topic_kms_key_id" {
  description = "KMS key of the ops topic."
  value       = aws_sns_topic.ops.kms_master_key_id
}

output "event_rules" {
  description = "EventBridge rules sending to the ops topic: name => event pattern (JSON)."
  value = merge(
    { (aws_cloudwatch_event_rule.ecs_deployment_failed.name) = aws_cloudwatch_event_rule.ecs_deployment_failed.event_pattern },
    { for k, r in aws_cloudwatch_event_rule.data_key_state : r.name => r.event_pattern },
  )
}

output "event_targets" {
  description = "Target ARN of each EventBridge rule (name => ARN): all the ops topic."
  value = merge(
    { (aws_cloudwatch_event_rule.ecs_deployment_failed.name) = aws_cloudwatch_event_target.ecs_deployment_failed.arn },
    { for k, t in aws_cloudwatch_event_target.data_key_state : aws_cloudwatch_event_rule.data_key_state[k].name => t.arn },
  )
}
