locals {
  resource_id = "service/${var.cluster_name}/${var.service_name}"

  # ALBRequestCountPerTarget names its target group by the load balancer's
  # and the target group's ARN suffixes: app/<lb>/<id>/targetgroup/<tg>/<id>.
  resource_label = "${var.load_balancer_arn_suffix}/${var.target_group_arn_suffix}"
}

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = local.resource_id
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity

  tags = var.tags
}

# Keeps the requests each API task receives per minute (the ALB's
# RequestCountPerTarget, Sum over 1 minute) at the target: more traffic adds
# tasks, less removes them, never below min_capacity.
resource "aws_appautoscaling_policy" "requests_per_task" {
  name               = "${var.service_name}-requests-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension
  resource_id        = aws_appautoscaling_target.this.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.target_requests_per_task
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = var.scale_out_cooldown_seconds
    disable_scale_in   = false

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = local.resource_label
    }
  }
}
