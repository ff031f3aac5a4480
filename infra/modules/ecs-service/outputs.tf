locals {
  service = var.autoscaled ? aws_ecs_service.autoscaled[0] : aws_ecs_service.this[0]
}

output "service_name" {
  description = "Name of the ECS service."
  value       = local.service.name
}

output "service_id" {
  description = "ARN of the ECS service."
  value       = local.service.id
}

output "task_definition_arn" {
  description = "ARN (with revision) of the task definition."
  value       = aws_ecs_task_definition.this.arn
}

output "container_definitions" {
  description = "The container definitions JSON of the task definition."
  value       = local.container_definitions
}

output "task_role_name" {
  description = "Name of the task role (the application's AWS identity)."
  value       = aws_iam_role.task.name
}

output "task_role_arn" {
  description = "ARN of the task role, built from its name (roles live at path /), so it is known at plan time."
  value       = "arn:${var.partition}:iam::${var.account_id}:role/${aws_iam_role.task.name}"
}

output "execution_role_arn" {
  description = "ARN of the execution role, built from its name (path /)."
  value       = "arn:${var.partition}:iam::${var.account_id}:role/${aws_iam_role.execution.name}"
}

output "execution_policy" {
  description = "The inline policy JSON of the execution role."
  value       = local.execution_policy
}

output "assume_role_policy" {
  description = "The trust policy JSON shared by the task and execution roles."
  value       = local.assume_role_policy
}

output "security_group_id" {
  description = "Security group of the tasks."
  value       = aws_security_group.this.id
}

output "log_group_name" {
  description = "Name of the container log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "ARN of the container log group (without the :* suffix)."
  value       = local.log_group_arn
}

output "task_policy" {
  description = "The inline policy JSON attached to the task role."
  value       = aws_iam_role_policy.task.policy
}

output "otel_collector_policy" {
  description = "The inline policy JSON of the collector sidecar on the task role (X-Ray, the metrics log group), or null without the sidecar."
  value       = local.otel_enabled ? aws_iam_role_policy.otel_collector[0].policy : null
}

output "metrics_log_group_name" {
  description = "Log group of the collector's EMF metrics, or null when the sidecar exports no metrics."
  value       = local.otel_exports_metrics ? aws_cloudwatch_log_group.metrics[0].name : null
}

output "metrics_log_group_arn" {
  description = "ARN of the metrics log group (without the :* suffix), or null when the sidecar exports no metrics."
  value       = local.otel_exports_metrics ? local.metrics_log_group_arn : null
}

output "otel_service_name" {
  description = "OTEL_SERVICE_NAME of the application (the Service dimension of its metrics, its name in X-Ray), or null without the sidecar."
  value       = local.otel_enabled ? local.otel_service_name : null
}

output "settings" {
  description = "Effective security and deployment settings of the service, task definition, log group and security group (for reviews and tests)."
  value = {
    autoscaled                         = var.autoscaled
    launch_type                        = local.service.launch_type
    platform_version                   = local.service.platform_version
    assign_public_ip                   = local.service.network_configuration[0].assign_public_ip
    subnets                            = local.service.network_configuration[0].subnets
    circuit_breaker_enable             = local.service.deployment_circuit_breaker[0].enable
    circuit_breaker_rollback           = local.service.deployment_circuit_breaker[0].rollback
    enable_execute_command             = local.service.enable_execute_command
    desired_count                      = local.service.desired_count
    deployment_minimum_healthy_percent = local.service.deployment_minimum_healthy_percent
    deployment_maximum_percent         = local.service.deployment_maximum_percent
    load_balancers = [for lb in local.service.load_balancer : {
      target_group_arn = lb.target_group_arn
      container_name   = lb.container_name
      container_port   = lb.container_port
    }]
    requires_compatibilities = aws_ecs_task_definition.this.requires_compatibilities
    network_mode             = aws_ecs_task_definition.this.network_mode
    log_group_kms_key_id     = aws_cloudwatch_log_group.this.kms_key_id
    log_retention_days       = aws_cloudwatch_log_group.this.retention_in_days
    metrics_log_groups = [for g in aws_cloudwatch_log_group.metrics : {
      name           = g.name
      kms_key_id     = g.kms_key_id
      retention_days = g.retention_in_days
    }]
    ingress_rules = [for r in aws_vpc_security_group_ingress_rule.from_load_balancer : {
      referenced_security_group_id = r.referenced_security_group_id
      cidr_ipv4                    = r.cidr_ipv4
      ip_protocol                  = r.ip_protocol
      from_port                    = r.from_port
      to_port                      = r.to_port
      description                  = r.description
    }]
    egress_rules = concat(
      [for r in aws_vpc_security_group_egress_rule.https_cidr : {
        cidr_ipv4      = r.cidr_ipv4
        prefix_list_id = null
        ip_protocol    = r.ip_protocol
        from_port      = r.from_port
        to_port        = r.to_port
        description    = r.description
      }],
      [for r in aws_vpc_security_group_egress_rule.https_prefix_list : {
        cidr_ipv4      = null
        prefix_list_id = r.prefix_list_id
        ip_protocol    = r.ip_protocol
        from_port      = r.from_port
        to_port        = r.to_port
        description    = r.description
      }],
    )
  }
}

output "role_permissions_boundaries" {
  description = "permissions_boundary of the execution and task roles (null when none)."
  value       = { execution = aws_iam_role.execution.permissions_boundary, task = aws_iam_role.task.permissions_boundary }
}
