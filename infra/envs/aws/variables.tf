################################################################################
# Account, naming, tags
################################################################################

variable "aws_region" {
  description = "AWS Region to deploy into (e.g. us-east-1). The ACM certificate, subnets and VPC must be in this Region."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.aws_region))
    error_message = "aws_region must be an AWS Region name such as us-east-1 or eu-west-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (topic, queues, table, cluster, services, roles, repositories, ALB). 1-24 lowercase letters, digits and hyphens, starting with a letter and ending with a letter or digit (the ALB and IAM role names derived from it have length limits)."
  type        = string
  default     = "ecomexpress"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix must be 1-24 lowercase letters, digits or hyphens, starting with a letter and ending with a letter or digit (e.g. \"ecomexpress\" or \"ecomexpress-prod\")."
  }
}

variable "environment" {
  description = "Environment name, added as the Environment tag of every resource (e.g. prod, staging)."
  type        = string
  default     = "prod"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.environment))
    error_message = "environment must be 1-20 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource through the provider's default_tags (e.g. CostCenter, Owner)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")])
    error_message = "tags keys must be 1-128 characters and not start with \"aws:\"; values at most 256 characters."
  }
}

################################################################################
# Network (existing VPC: nothing here creates one)
################################################################################

variable "vpc_id" {
  description = "Existing VPC for the ALB and the tasks."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets for the ECS tasks (no public IPs are assigned). They need a route to the AWS APIs: a NAT gateway, or VPC endpoints for ecr.api, ecr.dkr, S3 (gateway, image layers), logs, sqs, sns, kms and DynamoDB (gateway). Use two or more Availability Zones."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.private_subnet_ids) >= 1 && length(distinct(var.private_subnet_ids)) == length(var.private_subnet_ids) && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "private_subnet_ids needs at least one distinct subnet id (subnet-0123456789abcdef0)."
  }
}

variable "alb_subnet_ids" {
  description = "Subnets of the ALB: at least two, in different Availability Zones. Private subnets for the default internal ALB; public subnets only if alb_internet_facing = true."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.alb_subnet_ids) >= 2 && length(distinct(var.alb_subnet_ids)) == length(var.alb_subnet_ids) && alltrue([for s in var.alb_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "alb_subnet_ids needs at least two distinct subnet ids (subnet-0123456789abcdef0) in different Availability Zones."
  }
}

variable "task_egress_cidr_blocks" {
  description = "Where the tasks may open TCP 443 connections (their only egress). 0.0.0.0/0 when the AWS APIs are reached through a NAT gateway; the VPC CIDR when only interface VPC endpoints are used (then also set task_egress_prefix_list_ids for the S3/DynamoDB gateway endpoints)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false

  validation {
    condition     = alltrue([for c in var.task_egress_cidr_blocks : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "task_egress_cidr_blocks must contain valid IPv4 CIDR blocks (e.g. 0.0.0.0/0 or 10.0.0.0/16)."
  }
}

variable "task_egress_prefix_list_ids" {
  description = "Managed prefix lists (pl-...) the tasks may reach on TCP 443, e.g. the S3 and DynamoDB gateway endpoints' prefix lists when there is no NAT gateway."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.task_egress_prefix_list_ids : can(regex("^pl-[0-9a-f]{8,17}$", p))])
    error_message = "task_egress_prefix_list_ids must contain prefix list ids such as pl-63a5400a."
  }

  validation {
    condition     = length(var.task_egress_cidr_blocks) + length(var.task_egress_prefix_list_ids) > 0
    error_message = "The tasks need at least one egress destination: set task_egress_cidr_blocks and/or task_egress_prefix_list_ids."
  }
}

################################################################################
# Load balancer
################################################################################

variable "alb_internet_facing" {
  description = "false (default): internal ALB, reachable only from inside the VPC (the shop backend calls the API from there). true: internet-facing ALB in public alb_subnet_ids. The API has no authentication of its own, so an internet-facing ALB MUST be guarded: allow-list the callers in alb_ingress_cidr_blocks and/or attach a WAF web ACL (alb_waf_web_acl_arn) with rate limiting and the rules or authentication your callers need. 0.0.0.0/0 is only accepted together with a WAF web ACL."
  type        = bool
  default     = false
  nullable    = false
}

variable "alb_ingress_cidr_blocks" {
  description = "IPv4 CIDR blocks allowed to reach the ALB on 443 (the only open port). Empty (default) = the VPC's own CIDR block. Required when alb_internet_facing = true."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for c in var.alb_ingress_cidr_blocks : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "alb_ingress_cidr_blocks must contain valid IPv4 CIDR blocks such as 10.20.0.0/16."
  }

  validation {
    condition     = !var.alb_internet_facing || length(var.alb_ingress_cidr_blocks) > 0
    error_message = "An internet-facing ALB needs an explicit alb_ingress_cidr_blocks allow-list (the VPC CIDR default makes no sense on the internet)."
  }

  validation {
    condition     = !contains(var.alb_ingress_cidr_blocks, "0.0.0.0/0") || var.alb_waf_web_acl_arn != null
    error_message = "0.0.0.0/0 in alb_ingress_cidr_blocks is only allowed with a WAF web ACL (alb_waf_web_acl_arn): the API has no authentication of its own."
  }
}

variable "alb_waf_web_acl_arn" {
  description = "Optional regional WAFv2 web ACL associated with the ALB. Strongly recommended when alb_internet_facing = true; required if alb_ingress_cidr_blocks contains 0.0.0.0/0."
  type        = string
  default     = null

  validation {
    condition     = var.alb_waf_web_acl_arn == null || can(regex("^arn:aws[a-zA-Z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/.+$", var.alb_waf_web_acl_arn))
    error_message = "alb_waf_web_acl_arn must be null or a regional WAFv2 web ACL ARN (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>)."
  }
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate (in aws_region) served by the HTTPS listener, for the name the shop backend uses to call the API."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN: arn:aws:acm:<region>:<12-digit account>:certificate/<id>."
  }
}

variable "alb_ssl_policy" {
  description = "TLS policy of the HTTPS listener; only ELBSecurityPolicy-TLS13-* policies (TLS 1.2 minimum, TLS 1.3 enabled) are accepted."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false

  validation {
    condition     = startswith(var.alb_ssl_policy, "ELBSecurityPolicy-TLS13-")
    error_message = "alb_ssl_policy must be an ELBSecurityPolicy-TLS13-* policy such as ELBSecurityPolicy-TLS13-1-2-2021-06."
  }
}

variable "alb_deletion_protection" {
  description = "Deletion protection of the ALB. Set false (and apply) before `terraform destroy`."
  type        = bool
  default     = true
  nullable    = false
}

variable "alb_access_logs_retention_days" {
  description = "Days the ALB access logs are kept in their S3 bucket."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.alb_access_logs_retention_days >= 1 && var.alb_access_logs_retention_days <= 3650 && floor(var.alb_access_logs_retention_days) == var.alb_access_logs_retention_days
    error_message = "alb_access_logs_retention_days must be a whole number between 1 and 3650."
  }
}

variable "alb_legacy_elb_log_account" {
  description = "Also grant the Region's Elastic Load Balancing account write access to the access-log bucket. Keep true in Regions available before August 2022 (us-east-1, eu-west-1, ...); set false in newer Regions, which only use the logdelivery.elasticloadbalancing.amazonaws.com service principal."
  type        = bool
  default     = true
  nullable    = false
}

################################################################################
# Images and tasks
################################################################################

variable "api_image_tag" {
  description = "Immutable tag of the order-api image in its ECR repository (e.g. a release version or git SHA). Changing it and applying rolls out a new deployment."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.api_image_tag)) && var.api_image_tag != "latest" && !startswith(var.api_image_tag, var.ecr_dev_tag_prefix)
    error_message = "api_image_tag must be a valid image tag (letters, digits, _ . -, at most 128 characters, not starting with . or -), must not be \"latest\" (tags are immutable and name one build) and must not start with ecr_dev_tag_prefix (dev-: development images expire under the ECR lifecycle policy)."
  }
}

variable "worker_image_tag" {
  description = "Immutable tag of the sqs-worker image (shared by the procesamiento and logistica services)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.worker_image_tag)) && var.worker_image_tag != "latest" && !startswith(var.worker_image_tag, var.ecr_dev_tag_prefix)
    error_message = "worker_image_tag must be a valid image tag (letters, digits, _ . -, at most 128 characters, not starting with . or -), must not be \"latest\" and must not start with ecr_dev_tag_prefix (dev-: development images expire under the ECR lifecycle policy)."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture the images were built for: X86_64 or ARM64 (Graviton)."
  type        = string
  default     = "X86_64"
  nullable    = false

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "api_cpu" {
  description = "CPU units of an API task (256, 512, 1024, 2048, 4096)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.api_cpu)
    error_message = "api_cpu must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "api_memory" {
  description = "Memory (MiB) of an API task; a valid Fargate size for api_cpu (256: 512/1024/2048; 512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384; 4096: 8192-30720; in 1024 MiB steps above 256 CPU)."
  type        = number
  default     = 1024
  nullable    = false

  validation {
    condition = (
      var.api_cpu == 256 ? contains([512, 1024, 2048], var.api_memory) :
      var.api_memory % 1024 == 0 && var.api_memory >= var.api_cpu * 2 && var.api_memory <= (var.api_cpu == 4096 ? 30720 : var.api_cpu * 8)
    )
    error_message = "api_memory is not a valid Fargate memory size for api_cpu (see the variable description)."
  }
}

variable "api_desired_count" {
  description = "Initial number of API tasks (2 or more spreads them over Availability Zones). Application Auto Scaling owns the count afterwards (between api_min_capacity and api_max_capacity), so Terraform ignores its drift; with enable_api_autoscaling = false it stays at this initial value."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.api_desired_count >= 1 && var.api_desired_count <= 100 && floor(var.api_desired_count) == var.api_desired_count
    error_message = "api_desired_count must be a whole number between 1 and 100."
  }

  validation {
    condition     = var.api_desired_count >= var.api_min_capacity && var.api_desired_count <= var.api_max_capacity
    error_message = "api_desired_count must lie between api_min_capacity and api_max_capacity."
  }
}

variable "worker_cpu" {
  description = "CPU units of a worker task (256, 512, 1024, 2048, 4096)."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.worker_cpu)
    error_message = "worker_cpu must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "worker_memory" {
  description = "Memory (MiB) of a worker task; a valid Fargate size for worker_cpu (same table as api_memory)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition = (
      var.worker_cpu == 256 ? contains([512, 1024, 2048], var.worker_memory) :
      var.worker_memory % 1024 == 0 && var.worker_memory >= var.worker_cpu * 2 && var.worker_memory <= (var.worker_cpu == 4096 ? 30720 : var.worker_cpu * 8)
    )
    error_message = "worker_memory is not a valid Fargate memory size for worker_cpu (see the api_memory description)."
  }
}

variable "worker_shutdown_grace_seconds" {
  description = "SHUTDOWN_GRACE_SECS of the workers: after SIGTERM they stop receiving and finish in-flight messages for up to this long."
  type        = number
  default     = 25
  nullable    = false

  validation {
    condition     = var.worker_shutdown_grace_seconds >= 1 && var.worker_shutdown_grace_seconds <= 115 && floor(var.worker_shutdown_grace_seconds) == var.worker_shutdown_grace_seconds
    error_message = "worker_shutdown_grace_seconds must be a whole number between 1 and 115 (it must fit below the 120 s Fargate stop timeout)."
  }
}

variable "relay_cpu" {
  description = "CPU units of the outbox relay's task (256, 512, 1024, 2048, 4096). One 0.25 vCPU task publishes well above the API's intake."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.relay_cpu)
    error_message = "relay_cpu must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "relay_memory" {
  description = "Memory (MiB) of the outbox relay's task; a valid Fargate size for relay_cpu (same table as api_memory)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition = (
      var.relay_cpu == 256 ? contains([512, 1024, 2048], var.relay_memory) :
      var.relay_memory % 1024 == 0 && var.relay_memory >= var.relay_cpu * 2 && var.relay_memory <= (var.relay_cpu == 4096 ? 30720 : var.relay_cpu * 8)
    )
    error_message = "relay_memory is not a valid Fargate memory size for relay_cpu (see the api_memory description)."
  }
}

variable "relay_stale_seconds" {
  description = "RELAY_STALE_SECS of the outbox relay: an accepted order event still unpublished after this many seconds is published by the relay (the API normally publishes it at once)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.relay_stale_seconds >= 1 && var.relay_stale_seconds <= 120 && floor(var.relay_stale_seconds) == var.relay_stale_seconds
    error_message = "relay_stale_seconds must be a whole number between 1 and 120 (the relay's sweep runs RELAY_SWEEP_LAG_SECS = 300 s behind now, above it)."
  }

  validation {
    condition     = var.relay_stale_seconds < var.outbox_oldest_pending_age_alarm_seconds
    error_message = "relay_stale_seconds must be below outbox_oldest_pending_age_alarm_seconds, otherwise every event the relay publishes on time trips the alarm."
  }
}

variable "relay_poll_seconds" {
  description = "RELAY_POLL_SECS of the outbox relay: how often it queries the outbox index for stale events."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.relay_poll_seconds >= 1 && var.relay_poll_seconds <= 60 && floor(var.relay_poll_seconds) == var.relay_poll_seconds
    error_message = "relay_poll_seconds must be a whole number between 1 and 60."
  }
}

variable "relay_shutdown_grace_seconds" {
  description = "SHUTDOWN_GRACE_SECS of the outbox relay: after SIGTERM it starts no more publishes and lets those in flight end for up to this long (each ends within 14 s: the default leaves them room)."
  type        = number
  default     = 15
  nullable    = false

  validation {
    condition     = var.relay_shutdown_grace_seconds >= 1 && var.relay_shutdown_grace_seconds <= 115 && floor(var.relay_shutdown_grace_seconds) == var.relay_shutdown_grace_seconds
    error_message = "relay_shutdown_grace_seconds must be a whole number between 1 and 115 (it must fit below the 120 s Fargate stop timeout)."
  }
}

variable "container_stop_timeout_seconds" {
  description = "ECS stopTimeout of every container: time between SIGTERM and SIGKILL (Fargate maximum 120). Must be above worker_shutdown_grace_seconds so a worker can drain before being killed."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.container_stop_timeout_seconds >= 2 && var.container_stop_timeout_seconds <= 120 && floor(var.container_stop_timeout_seconds) == var.container_stop_timeout_seconds
    error_message = "container_stop_timeout_seconds must be a whole number between 2 and 120 (Fargate limit)."
  }

  validation {
    condition     = var.container_stop_timeout_seconds > var.worker_shutdown_grace_seconds
    error_message = "container_stop_timeout_seconds must be greater than worker_shutdown_grace_seconds, otherwise ECS kills workers in the middle of their graceful shutdown."
  }

  validation {
    condition     = var.container_stop_timeout_seconds > var.relay_shutdown_grace_seconds + 4
    error_message = "container_stop_timeout_seconds must be more than relay_shutdown_grace_seconds + 4 (the lease release and the health server get 2 s each after the grace), otherwise ECS kills the relay in the middle of its graceful shutdown."
  }
}

variable "wait_for_steady_state" {
  description = "Make `terraform apply` wait for every service to reach a steady state (and fail if the circuit breaker rolls a deployment back)."
  type        = bool
  default     = true
  nullable    = false
}

################################################################################
# Worker autoscaling (backlog per task)
################################################################################

variable "enable_worker_autoscaling" {
  description = "Scale the worker services on backlog per task with Application Auto Scaling (production: keep true; false leaves each worker service at its initial desired count). Exists for `make rehearsal` (scripts/rehearsal.sh), which applies this root to moto: there Application Auto Scaling targets never finish creating, so the rehearsal sets it false."
  type        = bool
  default     = true
  nullable    = false
}

variable "worker_min_capacity" {
  description = "Minimum tasks per worker service. 0 allows scale-to-zero when the queue is idle (a CloudWatch alarm brings the service back to 1 task when messages arrive, with up to ~2-3 minutes of extra latency)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.worker_min_capacity >= 0 && var.worker_min_capacity <= 100 && floor(var.worker_min_capacity) == var.worker_min_capacity
    error_message = "worker_min_capacity must be a whole number between 0 and 100."
  }
}

variable "worker_max_capacity" {
  description = "Maximum tasks per worker service (>= worker_min_capacity, >= 1)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.worker_max_capacity >= 1 && var.worker_max_capacity <= 100 && floor(var.worker_max_capacity) == var.worker_max_capacity
    error_message = "worker_max_capacity must be a whole number between 1 and 100."
  }

  validation {
    condition     = var.worker_max_capacity >= var.worker_min_capacity
    error_message = "worker_max_capacity must be greater than or equal to worker_min_capacity."
  }
}

variable "worker_acceptable_latency_seconds" {
  description = "How long a message may wait in the queue before being processed, in seconds. With worker_avg_processing_seconds it sets the backlog-per-task target: acceptable latency / processing time."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.worker_acceptable_latency_seconds >= 1 && var.worker_acceptable_latency_seconds <= 43200
    error_message = "worker_acceptable_latency_seconds must be between 1 and 43200 (12 hours)."
  }
}

variable "worker_avg_processing_seconds" {
  description = "Average time one worker task needs per message, in seconds: 1 / the task's throughput. The default, 0.002 (500 messages/s per task), is the worker's measured throughput at AWS-like round trips (+20 ms SQS, +8 ms DynamoDB; `make bench`, README \"Capacity and cost\"), which a 0.25 vCPU task sustains at about 60 % CPU."
  type        = number
  default     = 0.002
  nullable    = false

  validation {
    condition     = var.worker_avg_processing_seconds > 0 && var.worker_avg_processing_seconds <= 3600
    error_message = "worker_avg_processing_seconds must be greater than 0 and at most 3600."
  }

  validation {
    condition     = var.worker_avg_processing_seconds <= var.worker_acceptable_latency_seconds
    error_message = "worker_avg_processing_seconds cannot exceed worker_acceptable_latency_seconds (the backlog-per-task target would be below 1 message)."
  }
}

variable "worker_scale_in_cooldown_seconds" {
  description = "Cooldown after a worker scale-in, in seconds."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.worker_scale_in_cooldown_seconds >= 0 && var.worker_scale_in_cooldown_seconds <= 3600 && floor(var.worker_scale_in_cooldown_seconds) == var.worker_scale_in_cooldown_seconds
    error_message = "worker_scale_in_cooldown_seconds must be a whole number between 0 and 3600."
  }
}

variable "worker_scale_out_cooldown_seconds" {
  description = "Cooldown after a worker scale-out, in seconds."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.worker_scale_out_cooldown_seconds >= 0 && var.worker_scale_out_cooldown_seconds <= 3600 && floor(var.worker_scale_out_cooldown_seconds) == var.worker_scale_out_cooldown_seconds
    error_message = "worker_scale_out_cooldown_seconds must be a whole number between 0 and 3600."
  }
}

################################################################################
# API autoscaling (requests per task)
################################################################################

variable "enable_api_autoscaling" {
  description = "Scale the API service with Application Auto Scaling, target tracking on the ALB's requests per task (production: keep true; false leaves the service at api_desired_count). Exists for `make rehearsal` (scripts/rehearsal.sh), which applies this root to moto: there Application Auto Scaling targets never finish creating, so the rehearsal sets it false."
  type        = bool
  default     = true
  nullable    = false
}

variable "api_min_capacity" {
  description = "Minimum number of API tasks (2 or more keeps one per Availability Zone through a zone failure)."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.api_min_capacity >= 1 && var.api_min_capacity <= 100 && floor(var.api_min_capacity) == var.api_min_capacity
    error_message = "api_min_capacity must be a whole number between 1 and 100."
  }
}

variable "api_max_capacity" {
  description = "Maximum number of API tasks (>= api_min_capacity)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.api_max_capacity >= 1 && var.api_max_capacity <= 100 && floor(var.api_max_capacity) == var.api_max_capacity
    error_message = "api_max_capacity must be a whole number between 1 and 100."
  }

  validation {
    condition     = var.api_max_capacity >= var.api_min_capacity
    error_message = "api_max_capacity must be greater than or equal to api_min_capacity."
  }
}

variable "api_target_requests_per_task" {
  description = "Target of the API's target tracking: requests per task per minute (ALBRequestCountPerTarget, the ALB's RequestCountPerTarget summed over a minute). The default, 9000 (150 requests/s), is 60 % of what one 0.5 vCPU task is planned to serve (250 orders/s at 70 % CPU, README \"Capacity and cost\"), leaving room for a burst while target tracking adds tasks (a few minutes)."
  type        = number
  default     = 9000
  nullable    = false

  validation {
    condition     = var.api_target_requests_per_task >= 60 && var.api_target_requests_per_task <= 1000000
    error_message = "api_target_requests_per_task must be between 60 and 1000000 requests per task per minute."
  }
}

################################################################################
# Observability: collector sidecar (traces to X-Ray, metrics to CloudWatch)
################################################################################

variable "enable_otel_sidecar" {
  description = "Run an AWS Distro for OpenTelemetry collector next to every service (not essential: if it stops, the service keeps serving): the services then export their traces to it (OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318) and it sends them to X-Ray; it scrapes each service's Prometheus /metrics on localhost every 60 s into the CloudWatch namespace EComExpress (embedded metric format, through a KMS-encrypted log group per service, /ecs/<prefix>/<service>/metrics) that the dashboard shows. It needs outbound access to public.ecr.aws (NAT) to pull its image, and to X-Ray and CloudWatch Logs (NAT or the xray and logs interface endpoints). false: no sidecar, no OTEL_* variables, no tracing and no custom metrics (the AWS metrics on the dashboard remain)."
  type        = bool
  default     = true
  nullable    = false
}

variable "otel_collector_image" {
  description = "The collector sidecar's image (AWS Distro for OpenTelemetry), pinned by digest: <repository>[:<tag>]@sha256:<digest>. A tag can be moved to another image; a digest cannot, and a digest that does not exist fails the pull (the deployment circuit breaker rolls back and the ops topic is told), it never yields another image. The default pairs the v0.48.0 tag with the digest a public deployment pins for it; it could not be pulled from the machine this was written on: check it with `docker buildx imagetools inspect` (or mirror the image into a private repository and pin that digest) before the first apply."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.48.0@sha256:9b28046359054b414f4ba76056ba4e8cffda2d53fbcee06171d7eeecd71326c3"
  nullable    = false

  validation {
    condition     = can(regex("^[^\\s:@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[a-f0-9]{64}$", var.otel_collector_image))
    error_message = "otel_collector_image must be pinned by digest: <repository>[:<tag>]@sha256:<64 hex digits> (a tag alone, e.g. :latest or :v0.48.0, is refused)."
  }
}

variable "otel_traces_sampler_ratio" {
  description = "OTEL_TRACES_SAMPLER_ARG of the services (sampler parentbased_traceidratio): the fraction of new traces recorded; a request that arrives with a sampled trace context is always recorded. 0.05 records 1 order in 20 (X-Ray bills per trace recorded and scanned)."
  type        = number
  default     = 0.05
  nullable    = false

  validation {
    condition     = var.otel_traces_sampler_ratio >= 0 && var.otel_traces_sampler_ratio <= 1
    error_message = "otel_traces_sampler_ratio must be between 0 and 1."
  }
}

################################################################################
# Messaging and data
################################################################################

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the main queues (seconds); must exceed the worst-case processing time of one message."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 0 && var.queue_visibility_timeout_seconds <= 43200 && floor(var.queue_visibility_timeout_seconds) == var.queue_visibility_timeout_seconds
    error_message = "queue_visibility_timeout_seconds must be a whole number between 0 and 43200."
  }
}

variable "max_receive_count" {
  description = "Receives of a message before SQS moves it to its DLQ."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number between 1 and 1000."
  }
}

variable "table_deletion_protection" {
  description = "Deletion protection of the DynamoDB orders table (keep true in production)."
  type        = bool
  default     = true
  nullable    = false
}

variable "enable_redrive_allow_policy" {
  description = "Attach a redrive allow policy to each DLQ so only its own source queue may use it (production: keep true). Exists for `make rehearsal` (scripts/rehearsal.sh), which applies this root to moto: there aws_sqs_queue_redrive_allow_policy never finishes creating, so the rehearsal sets it false."
  type        = bool
  default     = true
  nullable    = false
}

################################################################################
# Encryption, logs, registry
################################################################################

variable "kms_deletion_window_days" {
  description = "Waiting period (7-30 days) before a KMS key scheduled for deletion is deleted."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30 && floor(var.kms_deletion_window_days) == var.kms_deletion_window_days
    error_message = "kms_deletion_window_days must be a whole number between 7 and 30."
  }
}

variable "log_retention_days" {
  description = "Retention of the container log groups in days (a CloudWatch Logs retention value; 365 or more keeps a year of history)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "beanstalk_topic_publishers" {
  description = "Also let the Elastic Beanstalk root's API and relay instance roles (<name_prefix>-eb-api, <name_prefix>-eb-relay; infra/envs/beanstalk) publish to the order topic. Only the listed roles may publish (DenyOtherPublishers); set it before that root's first apply."
  type        = bool
  default     = false
  nullable    = false
}

variable "ecr_dev_tag_prefix" {
  description = "Tag prefix of development images (branch builds): they expire under the ECR lifecycle policy, every other tag is a release and never expires. api_image_tag and worker_image_tag refuse it. Never add a release tag to an image pushed with this prefix: ECR expires the image with all its tags."
  type        = string
  default     = "dev-"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$", var.ecr_dev_tag_prefix))
    error_message = "ecr_dev_tag_prefix must be a non-empty tag prefix (letters, digits, _ . -, not starting with . or -): an empty prefix would expire every release."
  }
}

variable "ecr_dev_tag_expiry_days" {
  description = "ECR lifecycle policy: development images (tags starting with dev-) expire this many days after push; untagged ones after 7. Release tags (every other tag, e.g. the commit SHA the deployment workflow pushes) never expire."
  type        = number
  default     = 14
  nullable    = false

  validation {
    condition     = var.ecr_dev_tag_expiry_days >= 1 && var.ecr_dev_tag_expiry_days <= 3650 && floor(var.ecr_dev_tag_expiry_days) == var.ecr_dev_tag_expiry_days
    error_message = "ecr_dev_tag_expiry_days must be a whole number between 1 and 3650."
  }
}

################################################################################
# Alarms
################################################################################

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the ops alarm topic (confirm the subscription e-mail). Other subscribers (chat, paging) can be added to the topic outside this stack."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be null or a valid e-mail address (name@domain.tld)."
  }
}

variable "queue_oldest_message_age_alarm_seconds" {
  description = "Alarm when the oldest message of a main queue is older than this many seconds."
  type        = number
  default     = 600
  nullable    = false

  validation {
    condition     = var.queue_oldest_message_age_alarm_seconds >= 60 && var.queue_oldest_message_age_alarm_seconds <= 1209600
    error_message = "queue_oldest_message_age_alarm_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "express_queue_oldest_message_age_alarm_seconds" {
  description = "Alarm when the oldest message of an express queue (issue 23) is older than this many seconds. Tighter than queue_oldest_message_age_alarm_seconds: the workers drain the express queue first, so an old express message means they are stuck or too few."
  type        = number
  default     = 120
  nullable    = false

  validation {
    condition     = var.express_queue_oldest_message_age_alarm_seconds >= 60 && var.express_queue_oldest_message_age_alarm_seconds < var.queue_oldest_message_age_alarm_seconds
    error_message = "express_queue_oldest_message_age_alarm_seconds must be at least 60 and lower than queue_oldest_message_age_alarm_seconds (the express lane is the one that may not wait)."
  }
}

variable "high_value_alert_sms" {
  description = "E.164 phone number (e.g. +15555550123) that receives an SMS for every PedidoCreado at or above the messaging module's high-value threshold (the same filter policy as its e-mail alert). null: no SMS. The account needs SNS SMS production access (or the number verified in the SMS sandbox). Validated by modules/messaging."
  type        = string
  default     = null
}

variable "partner_https_subscriptions" {
  description = "Partner webhooks by partner name: { endpoint = \"https://...\", filter_policy = optional JSON string (default every PedidoCreado), raw_message_delivery = optional bool (default false: the signed envelope), delivery_policy = optional { num_retries, min_delay_target, max_delay_target, backoff_function } (num_retries * max_delay_target <= 3600 s), max_receives_per_second = optional whole number >= 1 (SNS throttlePolicy; default none) }. Each gets an HTTPS subscription, a subscription DLQ <prefix>-partner-<name>-dlq and an alarm on it (ops topic). The type, defaults and validations are modules/messaging's variable of the same name (one definition); see infra/envs/aws/README.md."
  type        = any
  default     = {}
  nullable    = false
}

variable "outbox_oldest_pending_age_alarm_seconds" {
  description = "Alarm when the oldest accepted order event not yet published is older than this many seconds for 2 consecutive minutes (the relay's outbox_oldest_pending_age_seconds; no datapoint counts as breaching: no relay reports). Needs enable_otel_sidecar (the metric comes from the relay's collector)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.outbox_oldest_pending_age_alarm_seconds >= 10 && var.outbox_oldest_pending_age_alarm_seconds <= 86400
    error_message = "outbox_oldest_pending_age_alarm_seconds must be between 10 and 86400."
  }
}

variable "api_p99_latency_alarm_seconds" {
  description = "Alarm when the p99 of the API's response time (ALB TargetResponseTime, per minute) is above this many seconds in 3 of 5 minutes. The API answers in milliseconds when SNS and DynamoDB are healthy; its slowest answer is bounded by REQUEST_TIMEOUT_SECS (10 s)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.api_p99_latency_alarm_seconds > 0 && var.api_p99_latency_alarm_seconds <= 60
    error_message = "api_p99_latency_alarm_seconds must be greater than 0 and at most 60."
  }
}

variable "api_5xx_rate_alarm_percent" {
  description = "Alarm when more than this percentage of API requests get a 5xx from the tasks (5 consecutive minutes)."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.api_5xx_rate_alarm_percent > 0 && var.api_5xx_rate_alarm_percent <= 100
    error_message = "api_5xx_rate_alarm_percent must be greater than 0 and at most 100."
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
