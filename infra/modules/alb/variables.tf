variable "name" {
  description = "Name of the load balancer and its target group (1-32 characters: letters, digits and hyphens, not starting or ending with a hyphen, not starting with \"internal-\")."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$", var.name)) && !startswith(var.name, "internal-")
    error_message = "name must be 1-32 letters, digits or hyphens, must not start or end with a hyphen and must not start with \"internal-\" (ELB naming rules)."
  }
}

variable "account_id" {
  description = "12-digit id of the account that owns the load balancer (log objects land under AWSLogs/<account_id>/)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov) used to build S3 ARNs."
  type        = string
  default     = "aws"
  nullable    = false

  validation {
    condition     = can(regex("^aws(-[a-z-]+)?$", var.partition))
    error_message = "partition must be aws, aws-cn, aws-us-gov or another aws-* partition."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer, its security group and its target group."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Subnets of the load balancer: at least two, in different Availability Zones (private subnets for an internal ALB, public ones for an internet-facing ALB)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids needs at least two subnet ids (subnet-0123456789abcdef0) in different Availability Zones."
  }
}

variable "internal" {
  description = "true: internal ALB reachable only inside the VPC (and connected networks). false: internet-facing; the caller must then restrict ingress_cidr_blocks and/or put a WAF web ACL in front (waf_web_acl_arn)."
  type        = bool
  default     = true
  nullable    = false
}

variable "ingress_cidr_blocks" {
  description = "IPv4 CIDR blocks allowed to reach the HTTPS listener (port 443 only)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.ingress_cidr_blocks) > 0 && alltrue([for c in var.ingress_cidr_blocks : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "ingress_cidr_blocks needs at least one valid IPv4 CIDR block (e.g. 10.0.0.0/16)."
  }
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate served by the HTTPS listener."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)."
  }
}

variable "ssl_policy" {
  description = "TLS security policy of the HTTPS listener. Only TLS 1.3-capable policies (ELBSecurityPolicy-TLS13-*) are accepted."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false

  validation {
    condition     = startswith(var.ssl_policy, "ELBSecurityPolicy-TLS13-")
    error_message = "ssl_policy must be an ELBSecurityPolicy-TLS13-* policy (e.g. ELBSecurityPolicy-TLS13-1-2-2021-06): older policies allow TLS 1.0/1.1."
  }
}

variable "target_port" {
  description = "Port the targets (ECS tasks, target type ip) listen on."
  type        = number
  default     = 8080
  nullable    = false

  validation {
    condition     = var.target_port >= 1 && var.target_port <= 65535 && floor(var.target_port) == var.target_port
    error_message = "target_port must be a whole number between 1 and 65535."
  }
}

variable "target_security_group_id" {
  description = "Security group of the targets: the ALB's only egress rule allows target_port to this group."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^sg-[0-9a-f]{8,17}$", var.target_security_group_id))
    error_message = "target_security_group_id must be a security group id (sg-0123456789abcdef0)."
  }
}

variable "health_check_path" {
  description = "HTTP path of the target group health check. Default: the API's shallow liveness probe, so that a short outage of a dependency (SNS, DynamoDB) does not take every target out of service at once."
  type        = string
  default     = "/health/live"
  nullable    = false

  validation {
    condition     = startswith(var.health_check_path, "/") && length(var.health_check_path) <= 1024
    error_message = "health_check_path must start with '/' and be at most 1024 characters."
  }
}

variable "blocked_path_patterns" {
  description = "Path patterns (ALB syntax: case-sensitive, * and ? wildcards, query string not included) the HTTPS listener answers with a fixed 404 instead of forwarding: endpoints of the targets that must stay internal, e.g. [\"/metrics\", \"/metrics/*\"]. At most 5 (one listener rule); empty = none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.blocked_path_patterns) <= 5 && alltrue([for p in var.blocked_path_patterns : startswith(p, "/") && length(p) <= 128])
    error_message = "blocked_path_patterns: at most 5 patterns, each starting with '/' and at most 128 characters."
  }
}

variable "health_check_interval_seconds" {
  description = "Seconds between target health checks (5-300)."
  type        = number
  default     = 15
  nullable    = false

  validation {
    condition     = var.health_check_interval_seconds >= 5 && var.health_check_interval_seconds <= 300 && floor(var.health_check_interval_seconds) == var.health_check_interval_seconds
    error_message = "health_check_interval_seconds must be a whole number between 5 and 300."
  }
}

variable "deregistration_delay_seconds" {
  description = "Seconds the ALB keeps draining in-flight requests of a deregistering target (0-3600). Keep it below the container stop timeout."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600 && floor(var.deregistration_delay_seconds) == var.deregistration_delay_seconds
    error_message = "deregistration_delay_seconds must be a whole number between 0 and 3600."
  }
}

variable "idle_timeout_seconds" {
  description = "Connection idle timeout of the ALB in seconds (1-4000)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.idle_timeout_seconds >= 1 && var.idle_timeout_seconds <= 4000 && floor(var.idle_timeout_seconds) == var.idle_timeout_seconds
    error_message = "idle_timeout_seconds must be a whole number between 1 and 4000."
  }
}

variable "deletion_protection" {
  description = "Enable deletion protection on the load balancer (disable it first to destroy the stack)."
  type        = bool
  default     = true
  nullable    = false
}

variable "waf_web_acl_arn" {
  description = "Optional regional WAFv2 web ACL ARN to associate with the ALB (recommended, and required by the caller's policy, when the ALB is internet-facing)."
  type        = string
  default     = null

  validation {
    condition     = var.waf_web_acl_arn == null || can(regex("^arn:aws[a-zA-Z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/.+$", var.waf_web_acl_arn))
    error_message = "waf_web_acl_arn must be null or a regional WAFv2 web ACL ARN (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>)."
  }
}

variable "access_logs_bucket_name" {
  description = "Name of the S3 bucket created for the ALB access logs (globally unique, 3-63 lowercase characters)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.access_logs_bucket_name)) && !can(regex("\\.\\.", var.access_logs_bucket_name))
    error_message = "access_logs_bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit."
  }
}

variable "access_logs_prefix" {
  description = "Key prefix of the access logs inside the bucket (no leading/trailing '/', must not contain \"AWSLogs\")."
  type        = string
  default     = "alb"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", var.access_logs_prefix)) && !strcontains(var.access_logs_prefix, "AWSLogs")
    error_message = "access_logs_prefix must be a non-empty S3 key prefix without leading or trailing '/' and must not contain \"AWSLogs\"."
  }
}

variable "access_logs_retention_days" {
  description = "Days after which access log objects (and noncurrent versions) are deleted."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.access_logs_retention_days >= 1 && var.access_logs_retention_days <= 3650 && floor(var.access_logs_retention_days) == var.access_logs_retention_days
    error_message = "access_logs_retention_days must be a whole number between 1 and 3650."
  }
}

variable "access_logs_force_destroy" {
  description = "Let `terraform destroy` delete the access-log bucket while it still holds logs. Keep false in production."
  type        = bool
  default     = false
  nullable    = false
}

variable "grant_legacy_elb_account" {
  description = "Also grant s3:PutObject to the regional Elastic Load Balancing account (aws_elb_service_account). Needed in Regions available before August 2022, where log delivery still uses that account; set false in newer Regions, which only use the logdelivery.elasticloadbalancing.amazonaws.com service principal (always granted)."
  type        = bool
  default     = true
  nullable    = false
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
  nullable    = false
}
