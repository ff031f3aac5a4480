locals {
  # "" for standard resources, ".fifo" for FIFO ones (SNS and SQS require the suffix).
  suffix = var.fifo ? ".fifo" : ""

  topic_name = "${var.name_prefix}-pedidos-eventos${local.suffix}"
  table_name = "${var.name_prefix}-pedidos"

  # The outbox's sparse index (issue 20): only items with an event still
  # unpublished carry its keys, so the relay reads the backlog, never the table.
  outbox_index_name = "outbox-pendientes"

  roles = toset(keys(var.event_types_by_queue))

  queue_names = { for role in local.roles : role => "${var.name_prefix}-${role}${local.suffix}" }
  dlq_names   = { for role in local.roles : role => "${var.name_prefix}-${role}-dlq${local.suffix}" }
  # Subscription dead-letter queues: what SNS could not deliver to a role's
  # queue (refused by its queue policy, queue deleted, ...) is kept here.
  delivery_dlq_names = { for role in local.roles : role => "${var.name_prefix}-${role}-delivery-dlq${local.suffix}" }
  # The express lane (issue 23): per role a second queue with its own DLQ,
  # which the role's workers drain first. SQS has no priorities; a queue per
  # priority is AWS's answer.
  express_queue_names = { for role in local.roles : role => "${var.name_prefix}-${role}-express${local.suffix}" }
  express_dlq_names   = { for role in local.roles : role => "${var.name_prefix}-${role}-express-dlq${local.suffix}" }
  # Per partner HTTPS subscription, its subscription DLQ (SSE-SQS, like the
  # roles' delivery DLQs and for the same reason).
  partner_dlq_names = { for name, p in var.partner_https_subscriptions : name => "${var.name_prefix}-partner-${name}-dlq" }

  use_cmk = var.kms_key_arn != null

  # Filter policies are applied to message attributes (filter_policy_scope =
  # MessageAttributes): the API publishes eventType (String) and total (Number).
  # The API and relay set the String attribute prioridad (EXPRESS | ESTANDAR)
  # on every event. The express subscription takes EXPRESS only; the standard
  # one takes ESTANDAR or no prioridad at all, so an event published by an
  # older build (no attribute) still reaches a queue. SNS's "$or" operator
  # ("AND/OR logic", SNS Developer Guide: an "$or" array of at least two
  # objects) with key matching ("exists": false matches a message without
  # that attribute, provided it has at least one attribute: eventType is
  # always there). The shorter ["ESTANDAR", {"exists": false}] is not used:
  # moto (the rehearsal) ignores its exists branch; LocalStack 4.13 and moto
  # 5.2.5 both apply the "$or" form.
  queue_filter_policies = {
    for role, types in var.event_types_by_queue : role => jsonencode({
      eventType = types
      "$or"     = [{ prioridad = ["ESTANDAR"] }, { prioridad = [{ exists = false }] }]
    })
  }
  express_filter_policies = {
    for role, types in var.event_types_by_queue : role => jsonencode({ eventType = types, prioridad = ["EXPRESS"] })
  }
  # A partner's filter policy: its own JSON, else every PedidoCreado.
  partner_default_filter_policy = jsonencode({ eventType = ["PedidoCreado"] })
  high_value_filter_policy = jsonencode({
    eventType = ["PedidoCreado"]
    total     = [{ numeric = [">=", var.high_value_threshold] }]
  })

  # Partition and account id are read from the topic ARN
  # (arn:<partition>:sns:<region>:<account>:<name>), so no STS call is needed.
  topic_arn_parts  = split(":", aws_sns_topic.this.arn)
  account_root_arn = "arn:${local.topic_arn_parts[1]}:iam::${local.topic_arn_parts[4]}:root"
  restrict_publish = length(var.topic_publisher_arns) > 0
  topic_owner_actions = [
    "SNS:GetTopicAttributes",
    "SNS:SetTopicAttributes",
    "SNS:AddPermission",
    "SNS:RemovePermission",
    "SNS:DeleteTopic",
    "SNS:Subscribe",
    "SNS:ListSubscriptionsByTopic",
  ]

  deny_insecure_topic_publish = {
    Sid       = "DenyInsecureTransport"
    Effect    = "Deny"
    Principal = "*"
    Action    = "SNS:Publish"
    Resource  = aws_sns_topic.this.arn
    Condition = { Bool = { "aws:SecureTransport" = "false" } }
  }

  # Only used when topic_publisher_arns is non-empty.
  publisher_statements = [
    {
      Sid       = "AllowPublishers"
      Effect    = "Allow"
      Principal = { AWS = var.topic_publisher_arns }
      Action    = "SNS:Publish"
      Resource  = aws_sns_topic.this.arn
    },
    {
      # Explicit deny so identity policies in the account cannot grant
      # publish rights to anybody else.
      Sid       = "DenyOtherPublishers"
      Effect    = "Deny"
      Principal = "*"
      Action    = "SNS:Publish"
      Resource  = aws_sns_topic.this.arn
      Condition = { ArnNotEquals = { "aws:PrincipalArn" = var.topic_publisher_arns } }
    },
  ]

  topic_policy = jsonencode({
    Version = "2012-10-17"
    Id      = "${local.topic_name}-policy"
    Statement = concat(
      [{
        # Same rights as the default SNS topic policy: the owning account
        # manages the topic; it may also publish unless publishers are pinned.
        Sid       = "OwnerAccountManagement"
        Effect    = "Allow"
        Principal = { AWS = local.account_root_arn }
        Action    = local.restrict_publish ? tolist(local.topic_owner_actions) : tolist(concat(local.topic_owner_actions, ["SNS:Publish"]))
        Resource  = aws_sns_topic.this.arn
      }],
      # Filtered with a for expression: a conditional would need equal tuple types.
      [for statement in local.publisher_statements : statement if local.restrict_publish],
      [local.deny_insecure_topic_publish],
    )
  })

  # The queues SNS delivers into, main queues and subscription DLQs alike (by
  # name): only deliveries of this topic may send, and nothing without TLS.
  sns_target_queue_arns = merge(
    { for role in local.roles : local.queue_names[role] => aws_sqs_queue.this[role].arn },
    { for role in local.roles : local.express_queue_names[role] => aws_sqs_queue.express[role].arn },
    { for role in local.roles : local.delivery_dlq_names[role] => aws_sqs_queue.delivery_dlq[role].arn },
    { for name in keys(var.partner_https_subscriptions) : local.partner_dlq_names[name] => aws_sqs_queue.partner_dlq[name].arn },
  )
  sns_target_policies = {
    for name, arn in local.sns_target_queue_arns : name => jsonencode({
      Version = "2012-10-17"
      Id      = "${name}-policy"
      Statement = [
        {
          Sid       = "AllowTopicSendMessage"
          Effect    = "Allow"
          Principal = { Service = "sns.amazonaws.com" }
          Action    = "sqs:SendMessage"
          Resource  = arn
          Condition = { ArnEquals = { "aws:SourceArn" = aws_sns_topic.this.arn } }
        },
        {
          Sid       = "DenyInsecureTransport"
          Effect    = "Deny"
          Principal = "*"
          Action    = "sqs:*"
          Resource  = arn
          Condition = { Bool = { "aws:SecureTransport" = "false" } }
        },
      ]
    })
  }

  # The workers' dead-letter queues (standard and express lanes), by name:
  # nothing without TLS; only the workers (IAM) send to them.
  dlq_arns_by_name = merge(
    { for role in local.roles : local.dlq_names[role] => aws_sqs_queue.dlq[role].arn },
    { for role in local.roles : local.express_dlq_names[role] => aws_sqs_queue.express_dlq[role].arn },
  )
  dlq_policies = {
    for name, arn in local.dlq_arns_by_name : name => jsonencode({
      Version = "2012-10-17"
      Id      = "${name}-policy"
      Statement = [
        {
          Sid       = "DenyInsecureTransport"
          Effect    = "Deny"
          Principal = "*"
          Action    = "sqs:*"
          Resource  = arn
          Condition = { Bool = { "aws:SecureTransport" = "false" } }
        },
      ]
    })
  }

  # SNS's delivery policy of an HTTPS subscription ("Creating an HTTP/S
  # delivery policy", SNS Developer Guide): every retry in the backoff phase,
  # between min_delay_target and max_delay_target seconds; with
  # max_receives_per_second, a throttlePolicy (SetSubscriptionAttributes
  # delivery policy JSON format: "throttlePolicy": {"maxReceivesPerSecond": int}).
  partner_delivery_policies = {
    for name, p in var.partner_https_subscriptions : name => jsonencode(merge(
      {
        healthyRetryPolicy = {
          numRetries         = p.delivery_policy.num_retries
          numNoDelayRetries  = 0
          numMinDelayRetries = 0
          numMaxDelayRetries = 0
          minDelayTarget     = p.delivery_policy.min_delay_target
          maxDelayTarget     = p.delivery_policy.max_delay_target
          backoffFunction    = p.delivery_policy.backoff_function
        }
      },
      p.max_receives_per_second == null ? {} : { throttlePolicy = { maxReceivesPerSecond = p.max_receives_per_second } },
    ))
  }
}

################################################################################
# SNS topic
################################################################################

resource "aws_sns_topic" "this" {
  name = local.topic_name

  fifo_topic = var.fifo
  # The API sets MessageDeduplicationId itself, so content-based dedup stays off.
  content_based_deduplication = var.fifo ? false : null

  kms_master_key_id = local.use_cmk ? var.kms_key_arn : "alias/aws/sns"

  tags = var.tags
}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = local.topic_policy
}

################################################################################
# SQS: per role a main queue, its dead-letter queue and a subscription DLQ
################################################################################

resource "aws_sqs_queue" "dlq" {
  for_each = local.roles

  name                        = local.dlq_names[each.key]
  fifo_queue                  = var.fifo
  content_based_deduplication = var.fifo ? false : null

  message_retention_seconds  = var.dlq_message_retention_seconds
  visibility_timeout_seconds = var.visibility_timeout_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds

  # SSE-SQS unless a customer-managed key is given (the two are exclusive).
  sqs_managed_sse_enabled           = local.use_cmk ? null : true
  kms_master_key_id                 = local.use_cmk ? var.kms_key_arn : null
  kms_data_key_reuse_period_seconds = local.use_cmk ? var.kms_data_key_reuse_period_seconds : null

  tags = merge(var.tags, { "queue-role" = each.key, "queue-kind" = "dlq" })
}

resource "aws_sqs_queue" "this" {
  for_each = local.roles

  name                        = local.queue_names[each.key]
  fifo_queue                  = var.fifo
  content_based_deduplication = var.fifo ? false : null

  message_retention_seconds  = var.message_retention_seconds
  visibility_timeout_seconds = var.visibility_timeout_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })

  sqs_managed_sse_enabled           = local.use_cmk ? null : true
  kms_master_key_id                 = local.use_cmk ? var.kms_key_arn : null
  kms_data_key_reuse_period_seconds = local.use_cmk ? var.kms_data_key_reuse_period_seconds : null

  tags = merge(var.tags, { "queue-role" = each.key, "queue-kind" = "main" })
}

resource "aws_sqs_queue_policy" "this" {
  for_each = local.roles

  queue_url = aws_sqs_queue.this[each.key].id
  policy    = local.sns_target_policies[local.queue_names[each.key]]
}

resource "aws_sqs_queue_policy" "dlq" {
  for_each = local.roles

  queue_url = aws_sqs_queue.dlq[each.key].id
  policy    = local.dlq_policies[local.dlq_names[each.key]]
}

################################################################################
# SQS: the express lane, per role a queue and its dead-letter queue, set up
# exactly like the standard lane's (redrive, retention, encryption, policies)
################################################################################

resource "aws_sqs_queue" "express_dlq" {
  for_each = local.roles

  name                        = local.express_dlq_names[each.key]
  fifo_queue                  = var.fifo
  content_based_deduplication = var.fifo ? false : null

  message_retention_seconds  = var.dlq_message_retention_seconds
  visibility_timeout_seconds = var.visibility_timeout_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds

  sqs_managed_sse_enabled           = local.use_cmk ? null : true
  kms_master_key_id                 = local.use_cmk ? var.kms_key_arn : null
  kms_data_key_reuse_period_seconds = local.use_cmk ? var.kms_data_key_reuse_period_seconds : null

  tags = merge(var.tags, { "queue-role" = each.key, "queue-kind" = "express-dlq" })
}

resource "aws_sqs_queue" "express" {
  for_each = local.roles

  name                        = local.express_queue_names[each.key]
  fifo_queue                  = var.fifo
  content_based_deduplication = var.fifo ? false : null

  message_retention_seconds  = var.message_retention_seconds
  visibility_timeout_seconds = var.visibility_timeout_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.express_dlq[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })

  sqs_managed_sse_enabled           = local.use_cmk ? null : true
  kms_master_key_id                 = local.use_cmk ? var.kms_key_arn : null
  kms_data_key_reuse_period_seconds = local.use_cmk ? var.kms_data_key_reuse_period_seconds : null

  tags = merge(var.tags, { "queue-role" = each.key, "queue-kind" = "express" })
}

resource "aws_sqs_queue_policy" "express" {
  for_each = local.roles

  queue_url = aws_sqs_queue.express[each.key].id
  policy    = local.sns_target_policies[local.express_queue_names[each.key]]
}

resource "aws_sqs_queue_policy" "express_dlq" {
  for_each = local.roles

  queue_url = aws_sqs_queue.express_dlq[each.key].id
  policy    = local.dlq_policies[local.express_dlq_names[each.key]]
}

resource "aws_sqs_queue_redrive_allow_policy" "express_dlq" {
  for_each = var.enable_redrive_allow_policy ? local.roles : toset([])

  queue_url = aws_sqs_queue.express_dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.express[each.key].arn]
  })
}

# Subscription dead-letter queues (one per role): SNS sends here what it could
# not deliver to the role's queue, instead of dropping it. FIFO topics need
# FIFO DLQs. Always SSE-SQS, never the customer-managed key: a delivery
# refused because that key is disabled, scheduled for deletion or its policy
# no longer admits SNS must still be kept, and a DLQ under the same key would
# refuse it too. (The topic's NumberOfNotificationsFailed alarm in
# modules/alarms catches whatever still fails.)
resource "aws_sqs_queue" "delivery_dlq" {
  for_each = local.roles

  name                        = local.delivery_dlq_names[each.key]
  fifo_queue                  = var.fifo
  content_based_deduplication = var.fifo ? false : null

  message_retention_seconds  = var.dlq_message_retention_seconds
  visibility_timeout_seconds = var.visibility_timeout_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds

  sqs_managed_sse_enabled = true

  tags = merge(var.tags, { "queue-role" = each.key, "queue-kind" = "delivery-dlq" })
}

resource "aws_sqs_queue_policy" "delivery_dlq" {
  for_each = local.roles

  queue_url = aws_sqs_queue.delivery_dlq[each.key].id
  policy    = local.sns_target_policies[local.delivery_dlq_names[each.key]]
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = var.enable_redrive_allow_policy ? local.roles : toset([])

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

################################################################################
# Subscriptions
################################################################################

resource "aws_sns_topic_subscription" "queue" {
  for_each = local.roles

  topic_arn            = aws_sns_topic.this.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.this[each.key].arn
  raw_message_delivery = true
  filter_policy        = local.queue_filter_policies[each.key]
  filter_policy_scope  = "MessageAttributes"

  # Deliveries SNS gives up on (client errors such as a queue policy refusal
  # are not retried) go to the role's subscription DLQ instead of being dropped.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.delivery_dlq[each.key].arn
  })

  # SNS can only deliver once the queue policies let it send.
  depends_on = [aws_sqs_queue_policy.this, aws_sqs_queue_policy.delivery_dlq]
}

# The express lane: EXPRESS events of the role's types. What SNS gives up
# delivering goes to the role's subscription DLQ, like the standard lane's.
resource "aws_sns_topic_subscription" "express" {
  for_each = local.roles

  topic_arn            = aws_sns_topic.this.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.express[each.key].arn
  raw_message_delivery = true
  filter_policy        = local.express_filter_policies[each.key]
  filter_policy_scope  = "MessageAttributes"

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.delivery_dlq[each.key].arn
  })

  depends_on = [aws_sqs_queue_policy.express, aws_sqs_queue_policy.delivery_dlq]
}

resource "aws_sns_topic_subscription" "high_value_email" {
  count = var.high_value_alert_email == null ? 0 : 1

  topic_arn           = aws_sns_topic.this.arn
  protocol            = "email"
  endpoint            = var.high_value_alert_email
  filter_policy       = local.high_value_filter_policy
  filter_policy_scope = "MessageAttributes"
}

# The same high-value orders by SMS: the e-mail subscription's filter policy,
# one definition for both.
resource "aws_sns_topic_subscription" "high_value_sms" {
  count = var.high_value_alert_sms == null ? 0 : 1

  topic_arn           = aws_sns_topic.this.arn
  protocol            = "sms"
  endpoint            = var.high_value_alert_sms
  filter_policy       = local.high_value_filter_policy
  filter_policy_scope = "MessageAttributes"
}

################################################################################
# Partner HTTPS endpoints: per partner a subscription with its filter and
# delivery policies, and a subscription DLQ for what SNS gives up on
################################################################################

# SSE-SQS, never the customer-managed key (see delivery_dlq above).
resource "aws_sqs_queue" "partner_dlq" {
  for_each = var.partner_https_subscriptions

  name                       = local.partner_dlq_names[each.key]
  message_retention_seconds  = var.dlq_message_retention_seconds
  visibility_timeout_seconds = var.visibility_timeout_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds

  sqs_managed_sse_enabled = true

  tags = merge(var.tags, { "partner" = each.key, "queue-kind" = "partner-delivery-dlq" })
}

resource "aws_sqs_queue_policy" "partner_dlq" {
  for_each = var.partner_https_subscriptions

  queue_url = aws_sqs_queue.partner_dlq[each.key].id
  policy    = local.sns_target_policies[local.partner_dlq_names[each.key]]
}

# The partner confirms the subscription (its endpoint answers SNS's
# SubscriptionConfirmation; sns-webhook does so itself); until then it stays
# pending and receives nothing. A raw delivery carries no SNS signature.
resource "aws_sns_topic_subscription" "partner" {
  for_each = var.partner_https_subscriptions

  topic_arn            = aws_sns_topic.this.arn
  protocol             = "https"
  endpoint             = each.value.endpoint
  raw_message_delivery = each.value.raw_message_delivery
  filter_policy        = coalesce(each.value.filter_policy, local.partner_default_filter_policy)
  filter_policy_scope  = "MessageAttributes"
  delivery_policy      = local.partner_delivery_policies[each.key]

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.partner_dlq[each.key].arn
  })

  depends_on = [aws_sqs_queue_policy.partner_dlq]
}

################################################################################
# DynamoDB: order state
################################################################################

# The same table twice, one instance in all: `pedidos` everywhere but on
# DynamoDB Local, `pedidos_emulator` there (table_ignore_index_drift; see the
# lifecycle block). lifecycle cannot be conditional, hence two resources.
locals {
  table = var.table_ignore_index_drift ? aws_dynamodb_table.pedidos_emulator[0] : aws_dynamodb_table.pedidos[0]
}

resource "aws_dynamodb_table" "pedidos" {
  count = var.table_ignore_index_drift ? 0 : 1

  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pedidoId"

  attribute {
    name = "pedidoId"
    type = "S"
  }

  # Outbox index keys, on every order item: outboxShard ("0".."7", from the
  # id, so writes spread over partitions) and outboxDesde (epoch ms of the
  # item's last recorded event).
  attribute {
    name = "outboxShard"
    type = "S"
  }

  attribute {
    name = "outboxDesde"
    type = "N"
  }

  # The outbox relay reads, per shard, the entries recorded between its
  # checkpoint and now - RELAY_STALE_SECS, then the events still stored on
  # those items (BatchGetItem): the index carries keys only. On demand like
  # the table.
  global_secondary_index {
    name            = local.outbox_index_name
    hash_key        = "outboxShard"
    range_key       = "outboxDesde"
    projection_type = "KEYS_ONLY"
  }

  ttl {
    enabled        = var.table_ttl_enabled
    attribute_name = var.table_ttl_enabled ? "expiresAt" : ""
  }

  point_in_time_recovery {
    enabled = var.table_point_in_time_recovery
  }

  # Without this block DynamoDB encrypts with the AWS owned key (always on).
  dynamic "server_side_encryption" {
    for_each = local.use_cmk ? [var.kms_key_arn] : []
    content {
      enabled     = true
      kms_key_arn = server_side_encryption.value
    }
  }

  deletion_protection_enabled = var.table_deletion_protection

  tags = var.tags
}

resource "aws_dynamodb_table" "pedidos_emulator" {
  count = var.table_ignore_index_drift ? 1 : 0

  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pedidoId"

  attribute {
    name = "pedidoId"
    type = "S"
  }

  # Outbox index keys, on every order item: outboxShard ("0".."7", from the
  # id, so writes spread over partitions) and outboxDesde (epoch ms of the
  # item's last recorded event).
  attribute {
    name = "outboxShard"
    type = "S"
  }

  attribute {
    name = "outboxDesde"
    type = "N"
  }

  # The outbox relay reads, per shard, the entries recorded between its
  # checkpoint and now - RELAY_STALE_SECS, then the events still stored on
  # those items (BatchGetItem): the index carries keys only. On demand like
  # the table.
  global_secondary_index {
    name            = local.outbox_index_name
    hash_key        = "outboxShard"
    range_key       = "outboxDesde"
    projection_type = "KEYS_ONLY"
  }

  ttl {
    enabled        = var.table_ttl_enabled
    attribute_name = var.table_ttl_enabled ? "expiresAt" : ""
  }

  point_in_time_recovery {
    enabled = var.table_point_in_time_recovery
  }

  # Without this block DynamoDB encrypts with the AWS owned key (always on).
  dynamic "server_side_encryption" {
    for_each = local.use_cmk ? [var.kms_key_arn] : []
    content {
      enabled     = true
      kms_key_arn = server_side_encryption.value
    }
  }

  deletion_protection_enabled = var.table_deletion_protection

  tags = var.tags

  # DynamoDB Local answers DescribeTable of an on-demand table without the
  # index's ProvisionedThroughput, and the AWS provider (< 6.x,
  # hashicorp/terraform-provider-aws#41110) then reads the index back
  # without its name and plans to delete it, which fails ("Invalid global
  # secondary index name"). The index is created with the table; later
  # changes to it need a fresh emulator (make stack-down && make stack-up).
  lifecycle {
    ignore_changes = [global_secondary_index]
  }
}
