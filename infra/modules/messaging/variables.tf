variable "name_prefix" {
  description = "Prefix for every resource name (topic, queues, DLQs, table). Lowercase letters, digits and hyphens; 1 to 40 characters; must start and end with a letter or digit."
  type        = string
  default     = "ecomexpress"
  nullable    = false

  validation {
    condition     = length(var.name_prefix) >= 1 && length(var.name_prefix) <= 40 && can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix must be 1-40 characters of lowercase letters, digits and hyphens, starting and ending with a letter or digit (e.g. \"ecomexpress\" or \"ecomexpress-prod\")."
  }
}

variable "fifo" {
  description = "Create a FIFO topic (name ends in .fifo, content-based deduplication OFF because the publisher sets MessageDeduplicationId) with FIFO queues and FIFO DLQs."
  type        = bool
  default     = false
  nullable    = false
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the main queues, in seconds (0-43200). Must exceed the worst-case processing time of one message."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200 && floor(var.visibility_timeout_seconds) == var.visibility_timeout_seconds
    error_message = "visibility_timeout_seconds must be a whole number between 0 and 43200 (12 hours)."
  }
}

variable "message_retention_seconds" {
  description = "Message retention of the main queues, in seconds (60-1209600). Default 345600 = 4 days."
  type        = number
  default     = 345600
  nullable    = false

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600 && floor(var.message_retention_seconds) == var.message_retention_seconds
    error_message = "message_retention_seconds must be a whole number between 60 (1 minute) and 1209600 (14 days)."
  }
}

variable "dlq_message_retention_seconds" {
  description = "Message retention of the dead-letter queues and of the subscription dead-letter queues, in seconds (60-1209600). Must be longer than message_retention_seconds: a message's age is kept when it is moved to the DLQ, so a shorter retention would silently drop it. Default 1209600 = 14 days."
  type        = number
  default     = 1209600
  nullable    = false

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600 && floor(var.dlq_message_retention_seconds) == var.dlq_message_retention_seconds
    error_message = "dlq_message_retention_seconds must be a whole number between 60 (1 minute) and 1209600 (14 days)."
  }

  validation {
    condition     = var.dlq_message_retention_seconds > var.message_retention_seconds
    error_message = "dlq_message_retention_seconds must be longer than message_retention_seconds, otherwise messages expire in the DLQ before anyone can inspect them (the original enqueue timestamp is kept on redrive)."
  }
}

variable "max_receive_count" {
  description = "How many times a message may be received from a main queue before SQS moves it to the DLQ (1-1000)."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number between 1 and 1000."
  }
}

variable "receive_wait_time_seconds" {
  description = "Long-polling wait time of every queue, in seconds (0-20). Keep 20 (maximum long polling) unless there is a reason not to."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.receive_wait_time_seconds >= 0 && var.receive_wait_time_seconds <= 20 && floor(var.receive_wait_time_seconds) == var.receive_wait_time_seconds
    error_message = "receive_wait_time_seconds must be a whole number between 0 and 20."
  }
}

variable "kms_key_arn" {
  description = "ARN of a customer-managed KMS key for the topic, every queue (subscription DLQs included) and the table. When null, queues use SSE-SQS, the topic uses the AWS managed key alias/aws/sns and the table the AWS owned key. The key policy (allowing sns.amazonaws.com and the workers to use the key) is the caller's responsibility."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN like arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab (aliases are not accepted: DynamoDB needs the key ARN)."
  }
}

variable "kms_data_key_reuse_period_seconds" {
  description = "How long SQS may reuse a data key before calling KMS again, in seconds (60-86400). Only used when kms_key_arn is set."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.kms_data_key_reuse_period_seconds >= 60 && var.kms_data_key_reuse_period_seconds <= 86400 && floor(var.kms_data_key_reuse_period_seconds) == var.kms_data_key_reuse_period_seconds
    error_message = "kms_data_key_reuse_period_seconds must be a whole number between 60 (1 minute) and 86400 (24 hours)."
  }
}

variable "topic_publisher_arns" {
  description = "IAM principal ARNs (roles or users) allowed to sns:Publish to the topic. When non-empty, only these principals may publish (an explicit Deny covers everyone else) and the account keeps the owner management actions. When empty, the account-only default policy applies (the account's IAM policies decide who publishes). Publishes without TLS are always denied."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.topic_publisher_arns : can(regex("^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:(root|(role|user)/.+)$", arn))])
    error_message = "Every element of topic_publisher_arns must be an IAM principal ARN: arn:aws:iam::<12-digit account>:role/<name>, :user/<name> or :root."
  }
}

variable "event_types_by_queue" {
  description = "Queue roles to create (keys) and the order event types each one receives (values), applied as an SNS filter policy on the eventType message attribute. Allowed keys: procesamiento, logistica. Allowed event types: PedidoCreado, PedidoCancelado."
  type        = map(list(string))
  default = {
    procesamiento = ["PedidoCreado", "PedidoCancelado"]
    logistica     = ["PedidoCreado", "PedidoCancelado"]
  }
  nullable = false

  validation {
    condition     = length(var.event_types_by_queue) > 0 && alltrue([for role in keys(var.event_types_by_queue) : contains(["procesamiento", "logistica"], role)])
    error_message = "event_types_by_queue must have at least one key and its keys (queue roles) must be among: procesamiento, logistica."
  }

  validation {
    condition     = alltrue([for role, types in var.event_types_by_queue : types != null && length(types) > 0 && length(distinct(types)) == length(types)])
    error_message = "Every queue role in event_types_by_queue needs a non-empty list of distinct event types (an empty SNS filter list matches nothing and is rejected by SNS)."
  }

  validation {
    condition     = alltrue(flatten([for role, types in var.event_types_by_queue : [for t in(types == null ? [] : types) : contains(["PedidoCreado", "PedidoCancelado"], t)]]))
    error_message = "Unknown event type in event_types_by_queue: every value must be one of PedidoCreado, PedidoCancelado (case-sensitive)."
  }
}

variable "high_value_alert_email" {
  description = "When set, an email subscription on the topic receives PedidoCreado events whose numeric message attribute \"total\" is >= high_value_threshold. The address must confirm the subscription. Not supported with fifo = true (SNS FIFO topics only deliver to SQS)."
  type        = string
  default     = null

  validation {
    condition     = var.high_value_alert_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.high_value_alert_email))
    error_message = "high_value_alert_email must be null or a valid e-mail address (name@domain.tld)."
  }

  validation {
    condition     = var.high_value_alert_email == null || !var.fifo
    error_message = "high_value_alert_email cannot be used with fifo = true: SNS FIFO topics only support SQS subscriptions."
  }
}

variable "high_value_alert_sms" {
  description = "When set (E.164 phone number, e.g. +15555550123), an sms subscription on the topic receives the same high-value PedidoCreado events as high_value_alert_email (the same filter policy). SMS needs the account's SNS SMS sandbox or production access for the number. Not supported with fifo = true."
  type        = string
  default     = null

  validation {
    condition     = var.high_value_alert_sms == null || can(regex("^\\+[1-9][0-9]{1,14}$", var.high_value_alert_sms))
    error_message = "high_value_alert_sms must be null or an E.164 phone number: a + then the country code and number, digits only, 2 to 15 digits, no spaces or dashes (e.g. +15555550123)."
  }

  validation {
    condition     = var.high_value_alert_sms == null || !var.fifo
    error_message = "high_value_alert_sms cannot be used with fifo = true: SNS FIFO topics only support SQS subscriptions."
  }
}

variable "partner_https_subscriptions" {
  description = <<-EOT
    Partner webhooks, by partner name (1-26 lowercase letters, digits, hyphens): an HTTPS subscription on the topic each, with
      endpoint             - https:// URL the partner serves (it must confirm the subscription; crates/sns-webhook does),
      filter_policy        - optional JSON filter policy on the message attributes (eventType, prioridad, total, ...); default every PedidoCreado,
      raw_message_delivery - false (default): the signed SNS envelope; true: the bare event, which carries no signature,
      delivery_policy      - SNS's retries on 5xx / no answer: num_retries (0-100, default 10), min_delay_target and max_delay_target
                             (seconds, 1 <= min <= max <= 3600; defaults 1 and 60) and backoff_function (linear, arithmetic,
                             geometric, exponential; default exponential); num_retries * max_delay_target must stay
                             within 3600 s (SNS's hard limit on the total retry time, bounded conservatively),
      max_receives_per_second - optional throttle (whole number >= 1): SNS delivers at most this many messages per
                             second to the endpoint (throttlePolicy.maxReceivesPerSecond); default null, no throttle.
    Each partner gets a subscription DLQ <prefix>-partner-<name>-dlq (SSE-SQS) for what SNS gives up on, and (root) an alarm on it.
    Not supported with fifo = true.
  EOT
  type = map(object({
    endpoint                = string
    filter_policy           = optional(string)
    raw_message_delivery    = optional(bool, false)
    max_receives_per_second = optional(number)
    delivery_policy = optional(object({
      num_retries      = optional(number, 10)
      min_delay_target = optional(number, 1)
      max_delay_target = optional(number, 60)
      backoff_function = optional(string, "exponential")
    }), {})
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for name in keys(var.partner_https_subscriptions) : can(regex("^[a-z0-9]([a-z0-9-]{0,24}[a-z0-9])?$", name))])
    error_message = "partner_https_subscriptions: every partner name (map key) must be 1-26 lowercase letters, digits or hyphens, starting and ending with a letter or digit (it names the partner's DLQ <prefix>-partner-<name>-dlq)."
  }

  validation {
    condition     = alltrue([for name, p in var.partner_https_subscriptions : can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\\s]*)?$", p.endpoint))])
    error_message = "partner_https_subscriptions: every endpoint must be an https:// URL (https://host[:port][/path]); plain http:// is refused, partners receive order data."
  }

  validation {
    condition = alltrue([
      for name, p in var.partner_https_subscriptions :
      p.filter_policy == null || can(keys(jsondecode(p.filter_policy)))
    ])
    error_message = "partner_https_subscriptions: filter_policy must be null or a JSON object string, e.g. jsonencode({ eventType = [\"PedidoCreado\"] })."
  }

  validation {
    condition = alltrue([
      for name, p in var.partner_https_subscriptions :
      p.delivery_policy.num_retries >= 0 && p.delivery_policy.num_retries <= 100 && floor(p.delivery_policy.num_retries) == p.delivery_policy.num_retries
    ])
    error_message = "partner_https_subscriptions: delivery_policy.num_retries must be a whole number between 0 and 100 (SNS's limit)."
  }

  validation {
    condition = alltrue([
      for name, p in var.partner_https_subscriptions :
      p.delivery_policy.min_delay_target >= 1 && p.delivery_policy.min_delay_target <= p.delivery_policy.max_delay_target &&
      p.delivery_policy.max_delay_target <= 3600 &&
      floor(p.delivery_policy.min_delay_target) == p.delivery_policy.min_delay_target &&
      floor(p.delivery_policy.max_delay_target) == p.delivery_policy.max_delay_target
    ])
    error_message = "partner_https_subscriptions: delivery_policy needs whole seconds with 1 <= min_delay_target <= max_delay_target <= 3600."
  }

  # "The total policy retry time for an HTTP/S endpoint cannot be greater than
  # 3,600 seconds. This is a hard limit and cannot be increased." ("Amazon SNS
  # message delivery retries", SNS Developer Guide). The guide gives no formula
  # for the delays of the backoff phase (only that each lies between
  # minDelayTarget and maxDelayTarget), so bound it from above: every retry
  # waiting max_delay_target. So plan refuses what apply would fail on (e.g.
  # 100 retries, 1-3600 s, exponential), at the price of also refusing some
  # policies SNS might accept (e.g. 100 retries, 1-60 s).
  validation {
    condition = alltrue([
      for name, p in var.partner_https_subscriptions :
      p.delivery_policy.num_retries * p.delivery_policy.max_delay_target <= 3600
    ])
    error_message = "partner_https_subscriptions: delivery_policy.num_retries * max_delay_target must be at most 3600 s: SNS refuses an HTTP/S retry policy whose total retry time can exceed 3600 s (a hard limit), and each retry may wait up to max_delay_target. Lower num_retries or max_delay_target."
  }

  validation {
    condition = alltrue([
      for name, p in var.partner_https_subscriptions :
      p.max_receives_per_second == null ? true : (p.max_receives_per_second >= 1 && floor(p.max_receives_per_second) == p.max_receives_per_second)
    ])
    error_message = "partner_https_subscriptions: max_receives_per_second must be null (no throttle) or a whole number >= 1 (SNS's throttlePolicy.maxReceivesPerSecond, deliveries per second to the endpoint)."
  }

  validation {
    condition = alltrue([
      for name, p in var.partner_https_subscriptions :
      contains(["linear", "arithmetic", "geometric", "exponential"], p.delivery_policy.backoff_function)
    ])
    error_message = "partner_https_subscriptions: delivery_policy.backoff_function must be one of linear, arithmetic, geometric, exponential."
  }

  validation {
    condition     = length(var.partner_https_subscriptions) == 0 || !var.fifo
    error_message = "partner_https_subscriptions cannot be used with fifo = true: SNS FIFO topics only support SQS subscriptions."
  }
}

variable "high_value_threshold" {
  description = "Minimum order total (the numeric \"total\" message attribute, same currency unit the API publishes) that triggers the high-value e-mail alert. Must be > 0."
  type        = number
  default     = 1000000
  nullable    = false

  validation {
    condition     = var.high_value_threshold > 0 && var.high_value_threshold <= 1000000000
    error_message = "high_value_threshold must be greater than 0 and at most 1000000000 (the largest value an SNS numeric filter accepts)."
  }
}

variable "enable_redrive_allow_policy" {
  description = "Attach a redrive allow policy (redrivePermission = byQueue) to each DLQ so only its own source queue may use it. Set false on LocalStack, where destroying aws_sqs_queue_redrive_allow_policy hangs."
  type        = bool
  default     = true
  nullable    = false
}

variable "table_point_in_time_recovery" {
  description = "Enable point-in-time recovery (continuous backups) on the orders table."
  type        = bool
  default     = true
  nullable    = false
}

variable "table_ttl_enabled" {
  description = "Enable DynamoDB TTL on the expiresAt attribute of the orders table (epoch seconds). Keep true except on emulators that do not support UpdateTimeToLive."
  type        = bool
  default     = true
  nullable    = false
}

variable "table_ignore_index_drift" {
  description = "DynamoDB Local only: the AWS provider reads an on-demand table's GSI back from DynamoDB Local without its name and would try to delete it on every later apply (hashicorp/terraform-provider-aws#41110). true = the table is created with its outbox index and later index changes are ignored (resource aws_dynamodb_table.pedidos_emulator). Keep false on AWS."
  type        = bool
  default     = false
  nullable    = false
}

variable "table_deletion_protection" {
  description = "Enable deletion protection on the orders table (set true in production)."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags added to every taggable resource (topic, queues, DLQs, table)."
  type        = map(string)
  default     = {}
  nullable    = false
}
