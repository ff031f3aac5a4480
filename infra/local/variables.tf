variable "localstack_endpoint" {
  description = "LocalStack edge URL used for SNS, SQS, STS and IAM."
  type        = string
  default     = "http://127.0.0.1:4566"
  nullable    = false

  validation {
    condition     = can(regex("^https?://[^/\\s]+(/.*)?$", var.localstack_endpoint))
    error_message = "localstack_endpoint must be an http:// or https:// URL, e.g. http://127.0.0.1:4566."
  }
}

variable "dynamodb_endpoint" {
  description = "DynamoDB Local URL."
  type        = string
  default     = "http://127.0.0.1:8000"
  nullable    = false

  validation {
    condition     = can(regex("^https?://[^/\\s]+(/.*)?$", var.dynamodb_endpoint))
    error_message = "dynamodb_endpoint must be an http:// or https:// URL, e.g. http://127.0.0.1:8000."
  }
}

variable "name_prefix" {
  description = "Prefix for every local resource name (see the messaging module)."
  type        = string
  default     = "ecomexpress"
  nullable    = false
}

variable "fifo" {
  description = "Create the FIFO variant (topic and queues end in .fifo)."
  type        = bool
  default     = false
  nullable    = false
}
