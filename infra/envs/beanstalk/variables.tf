################################################################################
# Where the production root's state is (read through terraform_remote_state)
################################################################################

variable "state_bucket" {
  description = "S3 bucket holding the production root's state (infra/envs/aws): the same bucket given to its `terraform init -backend-config`."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket))
    error_message = "state_bucket must be an S3 bucket name (3-63 lowercase letters, digits, dots or hyphens)."
  }
}

variable "state_key" {
  description = "Key of the production root's state object in state_bucket (the same key as its backend configuration)."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.state_key) > 0 && !startswith(var.state_key, "/")
    error_message = "state_key must be a non-empty object key not starting with /."
  }
}

variable "state_region" {
  description = "Region of state_bucket."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.state_region))
    error_message = "state_region must be an AWS Region name such as us-east-1."
  }
}

################################################################################
# Naming and tags
################################################################################

variable "name_prefix" {
  description = "Prefix of the application, environment, role and bucket names. 1-24 lowercase letters, digits and hyphens (the longest environment name, <prefix>-procesamiento, must fit Beanstalk's 40 characters)."
  type        = string
  default     = "ecomexpress"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix must be 1-24 lowercase letters, digits or hyphens, starting with a letter and ending with a letter or digit."
  }
}

variable "environment" {
  description = "Environment name, added as the Environment tag of every resource (e.g. prod, staging)."
  type        = string
  default     = "prod"
  nullable    = false
}

variable "tags" {
  description = "Extra tags applied to every resource through the provider's default_tags."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Images
################################################################################

variable "api_image_tag" {
  description = "Immutable tag of the order-api image (the API and the outbox relay run it). Changing it and applying deploys a new application version."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.api_image_tag)) && var.api_image_tag != "latest"
    error_message = "api_image_tag must be a valid image tag (letters, digits, _ . -, at most 128 characters) and must not be \"latest\"."
  }
}

variable "worker_image_tag" {
  description = "Immutable tag of the sqs-worker image (both worker environments)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.worker_image_tag)) && var.worker_image_tag != "latest"
    error_message = "worker_image_tag must be a valid image tag (letters, digits, _ . -, at most 128 characters) and must not be \"latest\"."
  }
}

################################################################################
# Network
################################################################################

variable "vpc_id" {
  description = "VPC of the environments."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...)."
  }
}

variable "instance_subnet_ids" {
  description = "Private subnets of the instances (no public IP is assigned; they reach AWS through a NAT gateway or VPC endpoints)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.instance_subnet_ids) > 0 && alltrue([for s in var.instance_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "instance_subnet_ids must be one or more subnet ids (subnet-...)."
  }
}

variable "lb_subnet_ids" {
  description = "Subnets of the order-api load balancer, in at least two Availability Zones (private ones for the default internal scheme)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.lb_subnet_ids) >= 2 && alltrue([for s in var.lb_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "lb_subnet_ids must be at least two subnet ids (an application load balancer spans two Availability Zones or more)."
  }
}

variable "lb_internet_facing" {
  description = "Make the order-api load balancer internet-facing (aws:ec2:vpc ELBScheme public). Default false: internal, reachable from the VPC only."
  type        = bool
  default     = false
  nullable    = false
}

variable "certificate_arn" {
  description = "ACM certificate of the order-api load balancer's HTTPS listener (port 443; the HTTP listener is disabled). Same Region as the environments."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false
}

################################################################################
# Capacity
################################################################################

variable "instance_type" {
  description = "EC2 instance type of every environment. Its architecture must match the images' (x86_64 for the default linux/amd64 builds; a Graviton type such as t4g.small needs linux/arm64 images)."
  type        = string
  default     = "t3.small"
  nullable    = false
}

variable "api_min_instances" {
  description = "Fewest order-api instances (Auto Scaling group MinSize)."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.api_min_instances >= 1 && floor(var.api_min_instances) == var.api_min_instances
    error_message = "api_min_instances must be a whole number of at least 1."
  }
}

variable "api_max_instances" {
  description = "Most order-api instances (Auto Scaling group MaxSize)."
  type        = number
  default     = 4
  nullable    = false

  validation {
    condition     = var.api_max_instances >= var.api_min_instances && floor(var.api_max_instances) == var.api_max_instances
    error_message = "api_max_instances must be a whole number not below api_min_instances."
  }
}

################################################################################
# Shutdown: the Docker platform stops a container with `docker stop`, whose
# default timeout (10 s, not configurable in a v1 Dockerrun.aws.json) is the
# time between SIGTERM and SIGKILL. Each service's whole exit must fit in it.
################################################################################

variable "worker_shutdown_grace_seconds" {
  description = "SHUTDOWN_GRACE_SECS of the workers: after SIGTERM, how long in-flight messages may finish. The worker exits within grace + 3 s (its cleanup budget), which must stay below docker stop's 10 s: at most 6. A message cut short is delivered again after its visibility timeout."
  type        = number
  default     = 6
  nullable    = false

  validation {
    condition     = var.worker_shutdown_grace_seconds >= 1 && floor(var.worker_shutdown_grace_seconds) == var.worker_shutdown_grace_seconds
    error_message = "worker_shutdown_grace_seconds must be a whole number of at least 1."
  }

  validation {
    # 10 = docker stop's default timeout; 3 = CLEANUP_BUDGET in
    # crates/sqs-worker/src/consumer/mod.rs (README: "the worker exits within grace + 3 s").
    condition     = var.worker_shutdown_grace_seconds + 3 < 10
    error_message = "worker_shutdown_grace_seconds must be at most 6: the worker exits within SHUTDOWN_GRACE_SECS + 3 s, and docker stop kills the container 10 s after SIGTERM."
  }
}

variable "relay_shutdown_grace_seconds" {
  description = "SHUTDOWN_GRACE_SECS of the outbox relay: after SIGTERM, how long its publishes in flight may run. The relay then saves its checkpoints and gives up its lease (2 s each at most), so grace + 4 s must stay below docker stop's 10 s: at most 5. A publish cut short is published again by the next pass (consumers apply events idempotently)."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.relay_shutdown_grace_seconds >= 1 && floor(var.relay_shutdown_grace_seconds) == var.relay_shutdown_grace_seconds
    error_message = "relay_shutdown_grace_seconds must be a whole number of at least 1."
  }

  validation {
    # 10 = docker stop's default timeout; 4 = the lease release and the health
    # server's stop after the grace (README, outbox relay settings).
    condition     = var.relay_shutdown_grace_seconds + 4 < 10
    error_message = "relay_shutdown_grace_seconds must be at most 5: the relay exits within SHUTDOWN_GRACE_SECS + 4 s, and docker stop kills the container 10 s after SIGTERM."
  }
}

################################################################################
# Logs
################################################################################

variable "log_retention_days" {
  description = "Retention of the instance logs Beanstalk streams to CloudWatch Logs (container stdout included)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
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
