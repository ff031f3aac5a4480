variable "name_prefix" {
  description = "Prefix of the ops topic and alarm names."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix must be 1-40 lowercase letters, digits or hyphens, starting and ending with a letter or digit."
  }
}

variable "account_id" {
  description = "12-digit id of the account (topic policy conditions)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "AWS Region of the alarms (topic policy conditions)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must be an AWS Region name such as us-east-1."
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

variable "kms_key_arn" {
  description = "Customer-managed KMS key of the ops topic; its policy must let cloudwatch.amazonaws.com (alarms) and events.amazonaws.com (the EventBridge rules) use kms:GenerateDataKey* and kms:Decrypt, with aws:SourceAccount this account."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "data_key_arn" {
  description = "The customer-managed key of the order data (topic, queues, table). EventBridge rules tell the ops topic when it is disabled, scheduled for deletion (CloudTrail management events: a trail must log them in this region) or deleted. Not the ops topic's own key: a topic cannot report that its key is gone."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.data_key_arn))
    error_message = "data_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }

  validation {
    condition     = var.data_key_arn != var.kms_key_arn
    error_message = "data_key_arn must not be the ops topic's own key (kms_key_arn): a topic cannot report that its own key is disabled."
  }
}

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the ops topic (the recipient must confirm the subscription)."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be null or a valid e-mail address."
  }
}

variable "queues" {
  description = "Map of queue role => names of its main queue, its dead-letter queue, its SNS subscription dead-letter queue and, when the role has an express lane, its express queue and express DLQ (QueueName dimensions)."
  type = map(object({
    queue_name         = string
    dlq_name           = string
    delivery_dlq_name  = string
    express_queue_name = optional(string)
    express_dlq_name   = optional(string)
  }))
  nullable = false

  validation {
    condition     = length(var.queues) > 0
    error_message = "queues must contain at least one queue role."
  }
}

variable "topic_name" {
  description = "Name of the order-events SNS topic (TopicName dimension of NumberOfNotificationsFailed)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,256}(\\.fifo)?$", var.topic_name))
    error_message = "topic_name must be an SNS topic name (letters, digits, hyphens, underscores; optional .fifo suffix), not an ARN."
  }
}

variable "queue_oldest_message_age_threshold_seconds" {
  description = "Alarm when the oldest message of a main queue has waited longer than this (ApproximateAgeOfOldestMessage)."
  type        = number
  default     = 600
  nullable    = false

  validation {
    condition     = var.queue_oldest_message_age_threshold_seconds >= 60 && var.queue_oldest_message_age_threshold_seconds <= 1209600
    error_message = "queue_oldest_message_age_threshold_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "express_queue_oldest_message_age_threshold_seconds" {
  description = "Alarm when the oldest message of an express queue has waited longer than this (ApproximateAgeOfOldestMessage). Tighter than queue_oldest_message_age_threshold_seconds: express orders are the ones that must not wait."
  type        = number
  default     = 120
  nullable    = false

  validation {
    condition     = var.express_queue_oldest_message_age_threshold_seconds >= 60 && var.express_queue_oldest_message_age_threshold_seconds <= 1209600
    error_message = "express_queue_oldest_message_age_threshold_seconds must be between 60 and 1209600 (14 days)."
  }

  validation {
    condition     = var.express_queue_oldest_message_age_threshold_seconds < var.queue_oldest_message_age_threshold_seconds
    error_message = "express_queue_oldest_message_age_threshold_seconds must be lower than queue_oldest_message_age_threshold_seconds: the express lane is the one that may not wait."
  }
}

variable "partner_delivery_dlqs" {
  description = "Map of partner name => name of its HTTPS subscription's dead-letter queue: an alarm when it holds any message (SNS gave up delivering to that partner)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "load_balancer_arn_suffix" {
  description = "ARN suffix of the API load balancer (LoadBalancer dimension, app/<name>/<id>)."
  type        = string
  nullable    = false
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the API target group (TargetGroup dimension, targetgroup/<name>/<id>)."
  type        = string
  nullable    = false
}

variable "api_5xx_rate_threshold_percent" {
  description = "Alarm when target 5xx responses exceed this percentage of requests (HTTPCode_Target_5XX_Count / RequestCount)."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.api_5xx_rate_threshold_percent > 0 && var.api_5xx_rate_threshold_percent <= 100
    error_message = "api_5xx_rate_threshold_percent must be greater than 0 and at most 100."
  }
}

variable "api_p99_latency_threshold_seconds" {
  description = "Alarm when the p99 of the API's response time (ALB TargetResponseTime, per minute) is above this many seconds."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.api_p99_latency_threshold_seconds > 0 && var.api_p99_latency_threshold_seconds <= 60
    error_message = "api_p99_latency_threshold_seconds must be greater than 0 and at most 60."
  }
}

variable "table_name" {
  description = "Name of the DynamoDB orders table (TableName dimension of the throttle alarm)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be a DynamoDB table name (3-255 letters, digits, _ . -), not an ARN."
  }
}

variable "cluster_name" {
  description = "ECS cluster name (ClusterName dimension of Container Insights)."
  type        = string
  nullable    = false
}

variable "running_below_desired_services" {
  description = "Map of label => ECS service name whose RunningTaskCount is compared with DesiredTaskCount (Container Insights)."
  type        = map(string)
  nullable    = false
}

variable "outbox_oldest_pending_age" {
  description = "The outbox relay's gauge of the age (seconds) of the oldest order event not yet published (`outbox_oldest_pending_age_seconds`, exported by its collector sidecar as a custom metric with these dimensions), and the age above which to alarm. Missing data is breaching: no datapoint means no relay (or no collector) is reporting, so nothing vouches that events get published. null = no such alarm (the metric is not exported)."
  type = object({
    namespace         = string
    metric_name       = string
    dimensions        = map(string)
    threshold_seconds = number
  })
  default = null

  validation {
    condition     = var.outbox_oldest_pending_age == null || try(var.outbox_oldest_pending_age.threshold_seconds >= 10 && var.outbox_oldest_pending_age.threshold_seconds <= 86400, false)
    error_message = "outbox_oldest_pending_age.threshold_seconds must be between 10 and 86400."
  }
}

variable "evaluation_periods" {
  description = "Number of 1-minute periods a condition must hold before an alarm fires (DLQ alarms fire on the first datapoint)."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.evaluation_periods >= 1 && var.evaluation_periods <= 60 && floor(var.evaluation_periods) == var.evaluation_periods
    error_message = "evaluation_periods must be a whole number between 1 and 60."
  }
}

variable "tags" {
  description = "Tags for the topic and the alarms."
  type        = map(string)
  default     = {}
  nullable    = false
}
