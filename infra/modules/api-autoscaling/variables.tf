variable "cluster_name" {
  description = "Name of the ECS cluster of the API service."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.cluster_name))
    error_message = "cluster_name must be 1-255 letters, digits, hyphens or underscores."
  }
}

variable "service_name" {
  description = "Name of the ECS service to scale (registered in the target group below)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.service_name))
    error_message = "service_name must be 1-255 letters, digits, hyphens or underscores."
  }
}

variable "load_balancer_arn_suffix" {
  description = "ARN suffix of the application load balancer in front of the service (app/<name>/<id>)."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.load_balancer_arn_suffix) > 0
    error_message = "load_balancer_arn_suffix must be the load balancer's ARN suffix: app/<name>/<id>."
  }
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the service's target group (targetgroup/<name>/<id>)."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.target_group_arn_suffix) > 0
    error_message = "target_group_arn_suffix must be the target group's ARN suffix: targetgroup/<name>/<id>."
  }
}

variable "min_capacity" {
  description = "Minimum number of tasks (at least 1: target tracking on requests cannot start from zero tasks behind a load balancer)."
  type        = number
  nullable    = false

  validation {
    condition     = var.min_capacity >= 1 && var.min_capacity <= 1000 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number between 1 and 1000."
  }
}

variable "max_capacity" {
  description = "Maximum number of tasks (at least min_capacity)."
  type        = number
  nullable    = false

  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 1000 && floor(var.max_capacity) == var.max_capacity
    error_message = "max_capacity must be a whole number between 1 and 1000."
  }

  validation {
    condition     = var.max_capacity >= var.min_capacity
    error_message = "max_capacity must be greater than or equal to min_capacity."
  }
}

variable "target_requests_per_task" {
  description = "Target of ALBRequestCountPerTarget: requests per task per minute."
  type        = number
  nullable    = false

  validation {
    condition     = var.target_requests_per_task >= 1 && var.target_requests_per_task <= 1000000
    error_message = "target_requests_per_task must be between 1 and 1000000 requests per minute."
  }
}

variable "scale_in_cooldown_seconds" {
  description = "Seconds after a scale-in before another scale-in may start."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.scale_in_cooldown_seconds >= 0 && var.scale_in_cooldown_seconds <= 3600 && floor(var.scale_in_cooldown_seconds) == var.scale_in_cooldown_seconds
    error_message = "scale_in_cooldown_seconds must be a whole number between 0 and 3600."
  }
}

variable "scale_out_cooldown_seconds" {
  description = "Seconds after a scale-out before another scale-out may start."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.scale_out_cooldown_seconds >= 0 && var.scale_out_cooldown_seconds <= 3600 && floor(var.scale_out_cooldown_seconds) == var.scale_out_cooldown_seconds
    error_message = "scale_out_cooldown_seconds must be a whole number between 0 and 3600."
  }
}

variable "tags" {
  description = "Tags for the scalable target."
  type        = map(string)
  default     = {}
  nullable    = false
}
