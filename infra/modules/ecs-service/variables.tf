variable "name" {
  description = "Name of the ECS service, task definition family, container, IAM roles (<name>-task, <name>-execution) and security group. 1-48 characters: lowercase letters, digits and hyphens."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$", var.name))
    error_message = "name must be 1-48 lowercase letters, digits or hyphens, starting and ending with a letter or digit (it prefixes IAM role names limited to 64 characters)."
  }
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster that runs the service."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/.+$", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN (arn:aws:ecs:<region>:<account>:cluster/<name>)."
  }
}

variable "region" {
  description = "AWS Region of the service (awslogs-region, log-group ARNs, role trust conditions)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS Region name such as us-east-1."
  }
}

variable "account_id" {
  description = "12-digit id of the account (role trust conditions and ARNs)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"
  nullable    = false

  validation {
    condition     = can(regex("^aws(-[a-z-]+)?$", var.partition))
    error_message = "partition must be aws, aws-cn, aws-us-gov or another aws-* partition."
  }
}

variable "image" {
  description = "Container image reference: <ECR repository URL>:<immutable tag> or <repository URL>@sha256:<digest>."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[^\\s:@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", var.image)) && !endswith(var.image, ":latest")
    error_message = "image must be <repository>:<tag> or <repository>@sha256:<digest>, with a tag other than \"latest\"."
  }
}

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository holding the image: the execution role may pull from this repository only."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", var.ecr_repository_arn))
    error_message = "ecr_repository_arn must be an ECR repository ARN (arn:aws:ecr:<region>:<account>:repository/<name>)."
  }
}

variable "cpu" {
  description = "Task CPU units (Fargate: 256, 512, 1024, 2048, 4096, 8192, 16384)."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "memory" {
  description = "Task memory in MiB; must be a valid Fargate combination with cpu (256: 512-2048; 512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384; 4096: 8192-30720, in 1024 steps; 8192: 16384-61440 in 4096 steps; 16384: 32768-122880 in 8192 steps)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition = (
      var.cpu == 256 ? contains([512, 1024, 2048], var.memory) :
      var.cpu == 512 ? var.memory >= 1024 && var.memory <= 4096 && var.memory % 1024 == 0 :
      var.cpu == 1024 ? var.memory >= 2048 && var.memory <= 8192 && var.memory % 1024 == 0 :
      var.cpu == 2048 ? var.memory >= 4096 && var.memory <= 16384 && var.memory % 1024 == 0 :
      var.cpu == 4096 ? var.memory >= 8192 && var.memory <= 30720 && var.memory % 1024 == 0 :
      var.cpu == 8192 ? var.memory >= 16384 && var.memory <= 61440 && var.memory % 4096 == 0 :
      var.memory >= 32768 && var.memory <= 122880 && var.memory % 8192 == 0
    )
    error_message = "memory is not a valid Fargate size for the chosen cpu (see the variable description for the allowed combinations)."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64 or ARM64 (Graviton)."
  type        = string
  default     = "X86_64"
  nullable    = false

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "environment" {
  description = "Plain (non-secret) environment variables of the container."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "environment keys must be valid variable names ([A-Za-z_][A-Za-z0-9_]*)."
  }
}

variable "command" {
  description = "Arguments of the application container after the image's ENTRYPOINT (the image's CMD when null), e.g. [\"relay\"] to run the order-api image's outbox relay."
  type        = list(string)
  default     = null

  validation {
    condition     = var.command == null || try(length(var.command) > 0 && alltrue([for a in var.command : length(a) > 0]), false)
    error_message = "command must be null or a non-empty list of non-empty arguments."
  }
}

variable "container_port" {
  description = "TCP port the container listens on for traffic from the load balancer; null for services without inbound traffic (workers)."
  type        = number
  default     = null

  validation {
    condition     = var.container_port == null || try(var.container_port >= 1024 && var.container_port <= 65535 && floor(var.container_port) == var.container_port, false)
    error_message = "container_port must be null or a whole number between 1024 and 65535 (the container runs as a non-root user and cannot bind privileged ports)."
  }
}

variable "user" {
  description = "uid:gid the container runs as (non-root)."
  type        = string
  default     = "65532:65532"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+(:[0-9]+)?$", var.user)) && try(tonumber(split(":", var.user)[0]) != 0, false)
    error_message = "user must be a numeric uid or uid:gid other than 0 (root)."
  }
}

variable "health_check" {
  description = "Container health check: `command` in ECS form ([\"CMD\", \"/path/to/binary\", \"healthcheck\"]), interval/timeout/start_period in seconds, retries."
  type = object({
    command      = list(string)
    interval     = optional(number, 30)
    timeout      = optional(number, 5)
    retries      = optional(number, 3)
    start_period = optional(number, 30)
  })
  nullable = false

  validation {
    condition     = length(var.health_check.command) >= 2 && contains(["CMD", "CMD-SHELL"], var.health_check.command[0])
    error_message = "health_check.command must start with \"CMD\" (exec form, no shell in the image) or \"CMD-SHELL\" followed by the command."
  }

  validation {
    condition = (
      var.health_check.interval >= 5 && var.health_check.interval <= 300 &&
      var.health_check.timeout >= 2 && var.health_check.timeout <= 60 &&
      var.health_check.timeout < var.health_check.interval &&
      var.health_check.retries >= 1 && var.health_check.retries <= 10 &&
      var.health_check.start_period >= 0 && var.health_check.start_period <= 300
    )
    error_message = "health_check: interval 5-300 s, timeout 2-60 s and below interval, retries 1-10, start_period 0-300 s."
  }
}

variable "stop_timeout_seconds" {
  description = "Seconds ECS waits after SIGTERM before SIGKILL (Fargate maximum 120). Must exceed the application's own shutdown grace period."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 120 && floor(var.stop_timeout_seconds) == var.stop_timeout_seconds
    error_message = "stop_timeout_seconds must be a whole number between 2 and 120 (Fargate limit)."
  }
}

variable "desired_count" {
  description = "Number of tasks. When autoscaled = true this is only the initial count: Application Auto Scaling owns it afterwards."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.desired_count >= 0 && var.desired_count <= 1000 && floor(var.desired_count) == var.desired_count
    error_message = "desired_count must be a whole number between 0 and 1000."
  }
}

variable "autoscaled" {
  description = "true when Application Auto Scaling manages desired_count: Terraform then ignores drift of desired_count instead of resetting it on every apply."
  type        = bool
  default     = false
  nullable    = false
}

variable "vpc_id" {
  description = "VPC of the tasks' security group."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the tasks (no public IPs are assigned; outbound access goes through a NAT gateway or VPC endpoints)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 1 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids needs at least one subnet id (subnet-0123456789abcdef0)."
  }
}

variable "egress_cidr_blocks" {
  description = "IPv4 CIDR blocks the tasks may reach on TCP 443 (AWS APIs through a NAT gateway: 0.0.0.0/0; through interface VPC endpoints only: the VPC CIDR)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false

  validation {
    condition     = alltrue([for c in var.egress_cidr_blocks : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "egress_cidr_blocks must contain valid IPv4 CIDR blocks."
  }
}

variable "egress_prefix_list_ids" {
  description = "Managed prefix lists the tasks may reach on TCP 443 (e.g. the S3 gateway endpoint prefix list, which ECR image layers come from)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.egress_prefix_list_ids : can(regex("^pl-[0-9a-f]{8,17}$", p))])
    error_message = "egress_prefix_list_ids must contain prefix list ids (pl-...)."
  }
}

variable "load_balancer" {
  description = "Target group and ALB security group when the service receives traffic from a load balancer (requires container_port); null otherwise."
  type = object({
    target_group_arn  = string
    security_group_id = string
  })
  default = null
}

variable "health_check_grace_period_seconds" {
  description = "Seconds ECS ignores failing load balancer health checks after a task starts (only with load_balancer)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.health_check_grace_period_seconds >= 0 && var.health_check_grace_period_seconds <= 2147483647 && floor(var.health_check_grace_period_seconds) == var.health_check_grace_period_seconds
    error_message = "health_check_grace_period_seconds must be a non-negative whole number."
  }
}

variable "deployment_minimum_healthy_percent" {
  description = "Lower bound of running tasks during a deployment, in percent of desired_count."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.deployment_minimum_healthy_percent >= 0 && var.deployment_minimum_healthy_percent <= 100
    error_message = "deployment_minimum_healthy_percent must be between 0 and 100."
  }
}

variable "deployment_maximum_percent" {
  description = "Upper bound of running tasks during a deployment, in percent of desired_count."
  type        = number
  default     = 200
  nullable    = false

  validation {
    condition     = var.deployment_maximum_percent >= 100 && var.deployment_maximum_percent <= 400
    error_message = "deployment_maximum_percent must be between 100 and 400."
  }
}

variable "wait_for_steady_state" {
  description = "Make `terraform apply` wait until the service is stable (and fail when the circuit breaker rolls the deployment back)."
  type        = bool
  default     = false
  nullable    = false
}

variable "log_group_name" {
  description = "Name of the CloudWatch log group created for the container logs (awslogs driver)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_./#-]{1,512}$", var.log_group_name))
    error_message = "log_group_name must be 1-512 characters of letters, digits and _ - / . #."
  }
}

variable "log_retention_days" {
  description = "Retention of the container logs in days (a CloudWatch Logs retention value)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the CloudWatch Logs retention values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the log group (its policy must allow logs.<region>.amazonaws.com for this log group)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "task_policy_json" {
  description = "IAM policy document (JSON) attached inline to the task role: exactly what the application may call."
  type        = string
  nullable    = false

  validation {
    condition     = can(jsondecode(var.task_policy_json).Statement)
    error_message = "task_policy_json must be an IAM policy JSON document with a Statement list."
  }
}

variable "tags" {
  description = "Tags for every resource of the module (also propagated to tasks)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "otel_sidecar" {
  description = <<-EOT
    OpenTelemetry collector sidecar (AWS Distro for OpenTelemetry) in the task: traces the application sends over OTLP/HTTP to localhost:4318 go to X-Ray; the application's Prometheus metrics, scraped on localhost, go to CloudWatch (EMF) in `metrics_namespace`, through a log group this module creates (`metrics_log_group_name`, default `<log_group_name>/metrics`, same KMS key and retention as the container logs). With `enabled`, the application container also gets OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME (`service_name`, default `name`), OTEL_TRACES_SAMPLER = parentbased_traceidratio and OTEL_TRACES_SAMPLER_ARG (`traces_sampler_ratio`), and the task role a second inline policy for the collector (X-Ray, and writing that log group).
    `metrics` maps each exported metric, named as the collector's Prometheus receiver names it (counters keep `_total`, a histogram is its family name), to the label sets it is exported with, each added to the Role (`role`, default `service_name`) and Service dimensions: `[[]]` = Role and Service only. Only these metrics are scraped and exported; empty = no metrics pipeline.
    Sizing (`cpu` units, `memory` hard limit and `memory_reservation` in MiB) comes out of the task's cpu/memory; the collector is not essential: if it stops, the application keeps serving.
  EOT
  type = object({
    enabled                 = optional(bool, true)
    image                   = optional(string)
    cpu                     = optional(number, 64)
    memory                  = optional(number, 256)
    memory_reservation      = optional(number, 128)
    service_name            = optional(string)
    role                    = optional(string)
    traces_sampler_ratio    = optional(number, 0.05)
    metrics_port            = optional(number)
    metrics_path            = optional(string, "/metrics")
    scrape_interval_seconds = optional(number, 60)
    metrics_namespace       = optional(string, "EComExpress")
    metrics_log_group_name  = optional(string)
    metrics                 = optional(map(list(list(string))), {})
  })
  default  = {}
  nullable = false

  validation {
    # A tag can be moved to another image; a digest cannot. The sidecar runs
    # in every task next to the order data, so it is pinned by digest (the
    # tag, if given, is for the reader).
    condition     = !var.otel_sidecar.enabled || can(regex("^[^\\s:@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[a-f0-9]{64}$", var.otel_sidecar.image))
    error_message = "otel_sidecar.image must be pinned by digest: <repository>[:<tag>]@sha256:<64 hex digits>."
  }

  validation {
    condition     = var.otel_sidecar.traces_sampler_ratio >= 0 && var.otel_sidecar.traces_sampler_ratio <= 1
    error_message = "otel_sidecar.traces_sampler_ratio is the fraction of new traces sampled: between 0 and 1."
  }

  validation {
    condition = (
      var.otel_sidecar.cpu >= 0 && floor(var.otel_sidecar.cpu) == var.otel_sidecar.cpu &&
      var.otel_sidecar.memory >= 128 && var.otel_sidecar.memory_reservation >= 32 && var.otel_sidecar.memory >= var.otel_sidecar.memory_reservation &&
      floor(var.otel_sidecar.memory) == var.otel_sidecar.memory && floor(var.otel_sidecar.memory_reservation) == var.otel_sidecar.memory_reservation
    )
    error_message = "otel_sidecar: cpu a whole number of CPU units >= 0; memory (hard limit) >= 128 MiB and >= memory_reservation >= 32 MiB, whole MiB."
  }

  validation {
    condition     = var.otel_sidecar.scrape_interval_seconds >= 10 && var.otel_sidecar.scrape_interval_seconds <= 300 && floor(var.otel_sidecar.scrape_interval_seconds) == var.otel_sidecar.scrape_interval_seconds
    error_message = "otel_sidecar.scrape_interval_seconds must be a whole number between 10 and 300."
  }

  validation {
    condition     = var.otel_sidecar.metrics_port == null || try(var.otel_sidecar.metrics_port >= 1024 && var.otel_sidecar.metrics_port <= 65535 && floor(var.otel_sidecar.metrics_port) == var.otel_sidecar.metrics_port, false)
    error_message = "otel_sidecar.metrics_port must be null (container_port) or a whole number between 1024 and 65535."
  }

  validation {
    condition     = startswith(var.otel_sidecar.metrics_path, "/") && can(regex("^[A-Za-z0-9/_.-]+$", var.otel_sidecar.metrics_path))
    error_message = "otel_sidecar.metrics_path must be an absolute path such as /metrics."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9_./#-]{1,255}$", var.otel_sidecar.metrics_namespace)) && !startswith(var.otel_sidecar.metrics_namespace, "AWS/")
    error_message = "otel_sidecar.metrics_namespace must be a custom CloudWatch namespace (1-255 letters, digits, _ . / # -, not starting with AWS/)."
  }

  validation {
    condition     = var.otel_sidecar.metrics_log_group_name == null || can(regex("^[A-Za-z0-9_./#-]{1,512}$", coalesce(var.otel_sidecar.metrics_log_group_name, "x")))
    error_message = "otel_sidecar.metrics_log_group_name must be null or 1-512 characters of letters, digits and _ - / . #."
  }

  validation {
    condition = alltrue([
      for m, sets in var.otel_sidecar.metrics :
      can(regex("^[a-zA-Z_][a-zA-Z0-9_]*$", m)) && length(sets) > 0 &&
      alltrue([for s in sets : length(s) <= 28 && alltrue([for l in s : can(regex("^[a-zA-Z_][a-zA-Z0-9_]*$", l)) && !contains(["Role", "Service"], l)])])
    ])
    error_message = "otel_sidecar.metrics: keys are Prometheus metric names ([a-zA-Z_][a-zA-Z0-9_]*), each with at least one label set ([] for none) of label names other than Role and Service (at most 28 labels, CloudWatch allows 30 dimensions)."
  }

  validation {
    condition     = var.otel_sidecar.service_name == null || can(regex("^[A-Za-z0-9_.-]{1,64}$", coalesce(var.otel_sidecar.service_name, "x")))
    error_message = "otel_sidecar.service_name must be null or 1-64 letters, digits, _ . -."
  }

  validation {
    condition     = var.otel_sidecar.role == null || can(regex("^[A-Za-z0-9_.-]{1,64}$", coalesce(var.otel_sidecar.role, "x")))
    error_message = "otel_sidecar.role must be null or 1-64 letters, digits, _ . -."
  }
}

variable "role_permissions_boundary_arn" {
  description = "Permissions boundary put on every IAM role this root creates: infra/bootstrap's workload_boundary_arn output when the GitHub deployer applies (it may only create roles carrying it). null: no boundary."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/[A-Za-z0-9+=,.@_/-]+$", coalesce(var.role_permissions_boundary_arn, "x")))
    error_message = "role_permissions_boundary_arn must be null or an IAM policy ARN (arn:aws:iam::123456789012:policy/...)."
  }
}
