output "scalable_target_resource_id" {
  description = "Resource id of the scalable target (service/<cluster>/<service>)."
  value       = aws_appautoscaling_target.this.resource_id
}

output "target_tracking_policy_name" {
  description = "Name of the requests-per-task target tracking policy."
  value       = aws_appautoscaling_policy.requests_per_task.name
}

output "settings" {
  description = "Effective autoscaling settings: capacity bounds, target value, cooldowns and the tracked metric."
  value = {
    resource_id            = aws_appautoscaling_target.this.resource_id
    scalable_dimension     = aws_appautoscaling_target.this.scalable_dimension
    min_capacity           = aws_appautoscaling_target.this.min_capacity
    max_capacity           = aws_appautoscaling_target.this.max_capacity
    policy_type            = aws_appautoscaling_policy.requests_per_task.policy_type
    target_value           = aws_appautoscaling_policy.requests_per_task.target_tracking_scaling_policy_configuration[0].target_value
    scale_in_cooldown      = aws_appautoscaling_policy.requests_per_task.target_tracking_scaling_policy_configuration[0].scale_in_cooldown
    scale_out_cooldown     = aws_appautoscaling_policy.requests_per_task.target_tracking_scaling_policy_configuration[0].scale_out_cooldown
    predefined_metric_type = aws_appautoscaling_policy.requests_per_task.target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type
    resource_label         = aws_appautoscaling_policy.requests_per_task.target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].resource_label
  }
}
