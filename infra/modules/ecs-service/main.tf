locals {
  container_name = var.name

  log_group_arn = "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:${aws_cloudwatch_log_group.this.name}"

  # Both roles can only be assumed by ECS tasks of this account (confused-deputy guard).
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EcsTasksOfThisAccount"
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        ArnLike      = { "aws:SourceArn" = "arn:${var.partition}:ecs:${var.region}:${var.account_id}:*" }
        StringEquals = { "aws:SourceAccount" = var.account_id }
      }
    }]
  })

  execution_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # ecr:GetAuthorizationToken has no resource-level permissions: AWS
        # requires Resource "*" (the token alone grants nothing; pulls are
        # authorized per repository by the next statement).
        Sid      = "EcrAuthorizationToken"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
      {
        Sid    = "PullOwnRepositoryOnly"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
        ]
        Resource = var.ecr_repository_arn
      },
      {
        Sid      = "WriteOwnLogGroupOnly"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${local.log_group_arn}:log-stream:*"
      },
    ]
  })

  # The application reads the standard OpenTelemetry variables; without
  # OTEL_EXPORTER_OTLP_ENDPOINT it exports nothing, so they are set only with
  # the collector sidecar.
  app_environment = merge(var.environment, local.otel_enabled ? {
    OTEL_EXPORTER_OTLP_ENDPOINT = "http://localhost:${local.otel_otlp_port}"
    OTEL_SERVICE_NAME           = local.otel_service_name
    OTEL_TRACES_SAMPLER         = "parentbased_traceidratio"
    OTEL_TRACES_SAMPLER_ARG     = tostring(var.otel_sidecar.traces_sampler_ratio)
  } : {})
  environment = [for k in sort(keys(local.app_environment)) : { name = k, value = local.app_environment[k] }]

  app_container = {
    name      = local.container_name
    image     = var.image
    essential = true

    # Hardening: non-root, no writable root filesystem, no privileges, no
    # Linux capabilities, an init process (PID 1 reaps zombies, forwards signals).
    user                   = var.user
    readonlyRootFilesystem = true
    privileged             = false
    linuxParameters = {
      initProcessEnabled = true
      capabilities = {
        add  = []
        drop = ["ALL"]
      }
    }

    portMappings = var.container_port == null ? [] : [{
      containerPort = var.container_port
      hostPort      = var.container_port
      protocol      = "tcp"
    }]

    environment    = local.environment
    mountPoints    = []
    volumesFrom    = []
    systemControls = []

    healthCheck = {
      command     = var.health_check.command
      interval    = var.health_check.interval
      timeout     = var.health_check.timeout
      retries     = var.health_check.retries
      startPeriod = var.health_check.start_period
    }

    stopTimeout = var.stop_timeout_seconds

    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.this.name
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "ecs"
        # Never block the application on a slow log pipeline.
        "mode"            = "non-blocking"
        "max-buffer-size" = "25m"
      }
    }
  }

  # The collector starts first and, at shutdown, stops after the application
  # (ECS stops containers in reverse dependency order), so the last spans are
  # flushed. START only: the application never waits for the collector to be
  # healthy; if the collector dies, spans are dropped and serving goes on.
  app_depends_on = local.otel_enabled ? [{ containerName = local.otel_container_name, condition = "START" }] : []

  container_definitions = jsonencode(concat(
    [merge(
      local.app_container,
      var.command == null ? {} : { command = var.command },
      length(local.app_depends_on) > 0 ? { dependsOn = local.app_depends_on } : {},
    )],
    local.otel_enabled ? [local.otel_container] : [],
  ))
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  name              = var.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

# Metrics of the collector sidecar in CloudWatch embedded metric format: the
# EMF log events land here and CloudWatch extracts the metrics from them.
# Created here, so the collector never needs logs:CreateLogGroup.
resource "aws_cloudwatch_log_group" "metrics" {
  count = local.otel_exports_metrics ? 1 : 0

  name              = local.metrics_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

################################################################################
# IAM: execution role (ECS agent: pull + logs) and task role (the application)
################################################################################

resource "aws_iam_role" "execution" {
  name                 = "${var.name}-execution"
  permissions_boundary = var.role_permissions_boundary_arn
  description          = "ECS execution role of ${var.name}: pull its own image, write its own log group"
  assume_role_policy   = local.assume_role_policy
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-image-write-logs"
  role   = aws_iam_role.execution.id
  policy = local.execution_policy
}

resource "aws_iam_role" "task" {
  name                 = "${var.name}-task"
  permissions_boundary = var.role_permissions_boundary_arn
  description          = "ECS task role of ${var.name}: only the AWS calls the application makes"
  assume_role_policy   = local.assume_role_policy
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "task" {
  name   = "application"
  role   = aws_iam_role.task.id
  policy = var.task_policy_json
}

# What the collector sidecar calls, on the same task role (a task has one).
# Kept apart from the application's policy so each reads on its own.
resource "aws_iam_role_policy" "otel_collector" {
  count = local.otel_enabled ? 1 : 0

  name   = "otel-collector-sidecar"
  role   = aws_iam_role.task.id
  policy = local.otel_task_policy
}

################################################################################
# Network: HTTPS egress only; ingress only from the load balancer, if any
################################################################################

resource "aws_security_group" "this" {
  # name_prefix: create_before_destroy needs a new name for the replacement.
  name_prefix = "${var.name}-tasks-"
  description = "ECS tasks of ${var.name}: HTTPS egress to AWS APIs${var.load_balancer == null ? ", no ingress" : ", container port from the ALB only"}"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-tasks" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "https_cidr" {
  for_each = toset(var.egress_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "HTTPS to AWS APIs (ECR, SNS, SQS, DynamoDB, Logs, KMS) via ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https_prefix_list" {
  for_each = toset(var.egress_prefix_list_ids)

  security_group_id = aws_security_group.this.id
  description       = "HTTPS to the gateway endpoint prefix list ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.value

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "from_load_balancer" {
  count = var.load_balancer == null ? 0 : 1

  security_group_id            = aws_security_group.this.id
  description                  = "Container port ${var.container_port} from the load balancer security group only"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = var.load_balancer.security_group_id

  tags = var.tags
}

################################################################################
# Task definition and service
################################################################################

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = local.container_definitions

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.load_balancer == null || var.container_port != null
      error_message = "load_balancer requires container_port."
    }

    precondition {
      condition     = !local.otel_enabled || !local.otel_exports_metrics || local.otel_metrics_port != null
      error_message = "otel_sidecar.metrics needs otel_sidecar.metrics_port (or container_port): the port the application serves its Prometheus metrics on."
    }

    # The sidecar's share comes out of the task size: its hard memory limit
    # and CPU units must leave the application most of the task.
    precondition {
      condition     = !local.otel_enabled || (var.otel_sidecar.memory * 2 <= var.memory && var.otel_sidecar.cpu * 2 <= var.cpu)
      error_message = "otel_sidecar.memory and otel_sidecar.cpu may take at most half of the task's memory and cpu."
    }
  }
}

resource "aws_ecs_service" "this" {
  count = var.autoscaled ? 0 : 1

  name                   = var.name
  cluster                = var.cluster_arn
  task_definition        = aws_ecs_task_definition.this.arn
  desired_count          = var.desired_count
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  scheduling_strategy    = "REPLICA"
  enable_execute_command = false
  propagate_tags         = "SERVICE"

  enable_ecs_managed_tags            = true
  health_check_grace_period_seconds  = var.load_balancer == null ? null : var.health_check_grace_period_seconds
  deployment_minimum_healthy_percent = var.deployment_minimum_healthy_percent
  deployment_maximum_percent         = var.deployment_maximum_percent
  wait_for_steady_state              = var.wait_for_steady_state

  deployment_controller {
    type = "ECS"
  }

  # A deployment whose tasks never become healthy is stopped and the previous
  # task definition is restored automatically.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false # tasks stay private; egress via NAT or VPC endpoints
  }

  dynamic "load_balancer" {
    for_each = var.load_balancer == null ? [] : [var.load_balancer]
    content {
      target_group_arn = load_balancer.value.target_group_arn
      container_name   = local.container_name
      container_port   = var.container_port
    }
  }

  tags = var.tags

  # The metrics log group and the collector's policy exist before any task runs.
  depends_on = [aws_iam_role_policy.execution, aws_iam_role_policy.task, aws_iam_role_policy.otel_collector, aws_cloudwatch_log_group.metrics]
}

# Same service, but Application Auto Scaling owns desired_count. Terraform's
# lifecycle.ignore_changes cannot be conditional, hence a second resource.
resource "aws_ecs_service" "autoscaled" {
  count = var.autoscaled ? 1 : 0

  name                   = var.name
  cluster                = var.cluster_arn
  task_definition        = aws_ecs_task_definition.this.arn
  desired_count          = var.desired_count
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  scheduling_strategy    = "REPLICA"
  enable_execute_command = false
  propagate_tags         = "SERVICE"

  enable_ecs_managed_tags            = true
  health_check_grace_period_seconds  = var.load_balancer == null ? null : var.health_check_grace_period_seconds
  deployment_minimum_healthy_percent = var.deployment_minimum_healthy_percent
  deployment_maximum_percent         = var.deployment_maximum_percent
  wait_for_steady_state              = var.wait_for_steady_state

  deployment_controller {
    type = "ECS"
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false # tasks stay private; egress via NAT or VPC endpoints
  }

  dynamic "load_balancer" {
    for_each = var.load_balancer == null ? [] : [var.load_balancer]
    content {
      target_group_arn = load_balancer.value.target_group_arn
      container_name   = local.container_name
      container_port   = var.container_port
    }
  }

  tags = var.tags

  lifecycle {
    ignore_changes = [desired_count]
  }

  # The metrics log group and the collector's policy exist before any task runs.
  depends_on = [aws_iam_role_policy.execution, aws_iam_role_policy.task, aws_iam_role_policy.otel_collector, aws_cloudwatch_log_group.metrics]
}
