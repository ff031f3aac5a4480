variable "cluster_name" {
  description = "Name of the ECS cluster of the worker service."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.cluster_name))
    error_message = "cluster_name must be 1-255 letters, digits, hyphens or underscores."
  }
}

variable "service_name" {
  description = "Name of the ECS service to scale."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.service_name))
    error_message = "service_name must be 1-255 letters, digits, hyphens or underscores."
  }
}

variable "queue_name" {
  description = "Name of the SQS queue the service consumes (QueueName dimension of the AWS/SQS metrics)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,80}(\\.fifo)?$", var.queue_name))
    error_message = "queue_name must be an SQS queue name (1-80 letters, digits, hyphens or underscores, optional .fifo suffix)."
  }
}

variable "express_queue_name" {
  description = "Name of the express-lane SQS queue the same service drains first (issue 23), or null. When set, the backlog tracked is the sum of both queues' visible messages."
  type        = string
  default     = null

  validation {
    condition     = var.express_queue_name == null || can(regex("^[A-Za-z0-9_-]{1,80}(\\.fifo)?$", var.express_queue_name))
    error_message = "express_queue_name must be null or an SQS queue name (1-80 letters, digits, hyphens or underscores, optional .fifo suffix)."
  }

  validation {
    condition     = var.express_queue_name != var.queue_name
    error_message = "express_queue_name must differ from queue_name: the backlog would count the same queue twice."
  }
}

variable "min_capacity" {
  description = "Minimum number of tasks. 0 lets the service scale to zero when the queue is empty; a step policy then brings it back to 1 task as soon as messages are visible."
  type        = number
  nullable    = false

  validation {
    condition     = var.min_capacity >= 0 && var.min_capacity <= 1000 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number between 0 and 1000."
  }
}

variable "max_capacity" {
  description = "Maximum number of tasks (at least 1 and at least min_capacity)."
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

variable "target_backlog_per_task" {
  description = "Target of the backlog-per-task metric (visible messages / running tasks): acceptable latency in seconds divided by the average processing time of one message per task in seconds."
  type        = number
  nullable    = false

  validation {
    condition     = var.target_backlog_per_task > 0 && var.target_backlog_per_task <= 1000000
    error_message = "target_backlog_per_task must be greater than 0 and at most 1000000."
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
  description = "Tags for the scalable target and the scale-from-zero alarm."
  type        = map(string)
  default     = {}
  nullable    = false
}
