# Offline unit tests: `terraform test` in infra/modules/messaging (after
# scripts/tf-init.sh infra/modules/messaging). No credentials, no endpoint.
#
# The mock provider invents random strings for computed attributes; the ARNs
# and URLs the JSON policies embed are pinned below and, thanks to
# override_during = plan, are already known while planning.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:123456789012:mock-topic"
    }
  }

  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-east-1:123456789012:mock-queue"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/mock-queue"
      id  = "https://sqs.us-east-1.amazonaws.com/123456789012/mock-queue"
    }
  }

  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn = "arn:aws:dynamodb:us-east-1:123456789012:table/mock-table"
    }
  }
}

run "defaults_names_and_table" {
  command = plan

  assert {
    condition     = aws_sns_topic.this.name == "ecomexpress-pedidos-eventos"
    error_message = "Default topic name should be ecomexpress-pedidos-eventos."
  }

  assert {
    condition     = aws_sns_topic.this.fifo_topic == false
    error_message = "The default topic must be a standard topic."
  }

  assert {
    condition = (
      aws_sqs_queue.this["procesamiento"].name == "ecomexpress-procesamiento" &&
      aws_sqs_queue.this["logistica"].name == "ecomexpress-logistica" &&
      aws_sqs_queue.dlq["procesamiento"].name == "ecomexpress-procesamiento-dlq" &&
      aws_sqs_queue.dlq["logistica"].name == "ecomexpress-logistica-dlq"
    )
    error_message = "Default queue / DLQ names should be ecomexpress-<role> and ecomexpress-<role>-dlq."
  }

  assert {
    condition     = length(aws_sqs_queue.this) == 2 && length(aws_sqs_queue.dlq) == 2 && length(aws_sns_topic_subscription.queue) == 2
    error_message = "Two queues, two DLQs and two queue subscriptions expected by default."
  }

  assert {
    condition = (
      aws_dynamodb_table.pedidos[0].name == "ecomexpress-pedidos" &&
      aws_dynamodb_table.pedidos[0].billing_mode == "PAY_PER_REQUEST" &&
      aws_dynamodb_table.pedidos[0].hash_key == "pedidoId" &&
      aws_dynamodb_table.pedidos[0].range_key == null
    )
    error_message = "Table must be ecomexpress-pedidos, on-demand, hash key pedidoId and no range key."
  }

  assert {
    condition     = toset([for a in aws_dynamodb_table.pedidos[0].attribute : "${a.name}:${a.type}"]) == toset(["pedidoId:S", "outboxShard:S", "outboxDesde:N"])
    error_message = "Key attributes must be exactly pedidoId (S) and the outbox index keys outboxShard (S) and outboxDesde (N)."
  }

  # The outbox (issue 20): a sparse index over the items with an unpublished
  # event; the relay reads only it. Keys only (the relay claims the item with
  # a conditional UpdateItem that returns the events), on demand like the table.
  assert {
    condition = (
      length(aws_dynamodb_table.pedidos[0].global_secondary_index) == 1 &&
      one([for g in aws_dynamodb_table.pedidos[0].global_secondary_index : g.name]) == "outbox-pendientes" &&
      one([for g in aws_dynamodb_table.pedidos[0].global_secondary_index : g.hash_key]) == "outboxShard" &&
      one([for g in aws_dynamodb_table.pedidos[0].global_secondary_index : g.range_key]) == "outboxDesde" &&
      one([for g in aws_dynamodb_table.pedidos[0].global_secondary_index : g.projection_type]) == "KEYS_ONLY" &&
      try(length(one([for g in aws_dynamodb_table.pedidos[0].global_secondary_index : g.non_key_attributes])), 0) == 0
    )
    error_message = "The table must have exactly one GSI, outbox-pendientes: hash outboxShard, range outboxDesde, KEYS_ONLY projection."
  }

  assert {
    condition     = output.outbox_index_name == "outbox-pendientes" && output.outbox_index_arn == "arn:aws:dynamodb:us-east-1:123456789012:table/mock-table/index/outbox-pendientes"
    error_message = "outbox_index_name / outbox_index_arn outputs are wrong (the ARN is the table's + /index/outbox-pendientes)."
  }

  assert {
    condition     = aws_dynamodb_table.pedidos[0].ttl[0].enabled == true && aws_dynamodb_table.pedidos[0].ttl[0].attribute_name == "expiresAt"
    error_message = "TTL must be enabled on expiresAt."
  }

  assert {
    condition     = aws_dynamodb_table.pedidos[0].point_in_time_recovery[0].enabled == true
    error_message = "PITR must be on by default."
  }

  assert {
    condition     = aws_dynamodb_table.pedidos[0].deletion_protection_enabled == false
    error_message = "Deletion protection must be off by default."
  }

  assert {
    condition     = length(aws_dynamodb_table.pedidos[0].server_side_encryption) == 0
    error_message = "Without kms_key_arn the table must use the AWS owned key (no server_side_encryption block)."
  }

  assert {
    condition     = output.table_name == "ecomexpress-pedidos" && output.topic_name == "ecomexpress-pedidos-eventos"
    error_message = "table_name / topic_name outputs are wrong."
  }

  assert {
    condition     = keys(output.queue_urls) == ["logistica", "procesamiento"] && keys(output.dlq_arns) == ["logistica", "procesamiento"]
    error_message = "queue_urls / dlq_arns outputs must be keyed by queue role."
  }

  assert {
    condition     = output.queue_names == { logistica = "ecomexpress-logistica", procesamiento = "ecomexpress-procesamiento" }
    error_message = "queue_names output is wrong."
  }

  assert {
    condition     = output.dlq_names == { logistica = "ecomexpress-logistica-dlq", procesamiento = "ecomexpress-procesamiento-dlq" }
    error_message = "dlq_names output is wrong."
  }
}

run "defaults_subscriptions" {
  command = plan

  assert {
    condition = alltrue([
      for role, s in aws_sns_topic_subscription.queue :
      jsondecode(s.filter_policy) == {
        eventType = ["PedidoCreado", "PedidoCancelado"]
        "$or"     = [{ prioridad = ["ESTANDAR"] }, { prioridad = [{ exists = false }] }]
      }
    ])
    error_message = "Each standard-lane subscription must filter on eventType PedidoCreado + PedidoCancelado and prioridad ESTANDAR or absent (\"$or\")."
  }

  assert {
    condition     = alltrue([for role, s in aws_sns_topic_subscription.queue : s.raw_message_delivery == true])
    error_message = "Raw message delivery must be on for every queue subscription."
  }

  assert {
    condition     = alltrue([for role, s in aws_sns_topic_subscription.queue : s.filter_policy_scope == "MessageAttributes" && s.protocol == "sqs"])
    error_message = "Queue subscriptions must be sqs with filter_policy_scope = MessageAttributes."
  }

  assert {
    condition     = alltrue([for role, s in aws_sns_topic_subscription.queue : s.endpoint == aws_sqs_queue.this[role].arn && s.topic_arn == aws_sns_topic.this.arn])
    error_message = "Each subscription must deliver from the topic to its own queue."
  }

  assert {
    condition     = length(aws_sns_topic_subscription.high_value_email) == 0
    error_message = "No e-mail subscription may exist when high_value_alert_email is null."
  }
}

run "custom_filter_policies" {
  command = plan

  variables {
    event_types_by_queue = {
      procesamiento = ["PedidoCreado"]
      logistica     = ["PedidoCancelado"]
    }
  }

  assert {
    condition     = jsondecode(aws_sns_topic_subscription.queue["procesamiento"].filter_policy).eventType == ["PedidoCreado"] && jsondecode(aws_sns_topic_subscription.express["procesamiento"].filter_policy) == { eventType = ["PedidoCreado"], prioridad = ["EXPRESS"] }
    error_message = "procesamiento filter policy must only list PedidoCreado."
  }

  assert {
    condition     = jsondecode(aws_sns_topic_subscription.queue["logistica"].filter_policy).eventType == ["PedidoCancelado"] && jsondecode(aws_sns_topic_subscription.express["logistica"].filter_policy) == { eventType = ["PedidoCancelado"], prioridad = ["EXPRESS"] }
    error_message = "logistica filter policy must only list PedidoCancelado."
  }
}

run "single_role" {
  command = plan

  variables {
    event_types_by_queue = { logistica = ["PedidoCreado"] }
  }

  assert {
    condition     = keys(aws_sqs_queue.this) == ["logistica"] && keys(aws_sqs_queue.dlq) == ["logistica"] && keys(aws_sqs_queue.delivery_dlq) == ["logistica"]
    error_message = "Only the roles present in event_types_by_queue get queues, DLQs and subscription DLQs."
  }
}

run "defaults_redrive_retention_wait" {
  command = plan

  assert {
    condition     = alltrue([for role, q in aws_sqs_queue.this : jsondecode(q.redrive_policy).maxReceiveCount == 5])
    error_message = "Redrive maxReceiveCount must default to 5."
  }

  assert {
    condition     = alltrue([for role, q in aws_sqs_queue.this : jsondecode(q.redrive_policy).deadLetterTargetArn == aws_sqs_queue.dlq[role].arn])
    error_message = "Each queue must redrive to its own DLQ."
  }

  assert {
    condition     = alltrue([for role, q in aws_sqs_queue.this : q.message_retention_seconds == 345600 && q.visibility_timeout_seconds == 60])
    error_message = "Main queues: 4 days retention (345600 s) and 60 s visibility timeout by default."
  }

  assert {
    condition     = alltrue([for role, q in aws_sqs_queue.dlq : q.message_retention_seconds == 1209600])
    error_message = "DLQs: 14 days retention (1209600 s) by default."
  }

  assert {
    condition     = alltrue([for role, q in aws_sqs_queue.dlq : q.message_retention_seconds > aws_sqs_queue.this[role].message_retention_seconds])
    error_message = "DLQ retention must be longer than its source queue's."
  }

  assert {
    condition     = alltrue(concat([for q in values(aws_sqs_queue.this) : q.receive_wait_time_seconds == 20], [for q in values(aws_sqs_queue.dlq) : q.receive_wait_time_seconds == 20]))
    error_message = "Every queue must long-poll 20 s."
  }

  assert {
    condition = alltrue([
      for role, p in aws_sqs_queue_redrive_allow_policy.dlq :
      jsondecode(p.redrive_allow_policy) == { redrivePermission = "byQueue", sourceQueueArns = [aws_sqs_queue.this[role].arn] }
    ])
    error_message = "Each DLQ's redrive allow policy must allow only its source queue (byQueue)."
  }

  assert {
    condition     = length(aws_sqs_queue_redrive_allow_policy.dlq) == 2
    error_message = "Redrive allow policies are on by default."
  }
}

run "defaults_encryption" {
  command = plan

  assert {
    condition     = alltrue([for q in concat(values(aws_sqs_queue.this), values(aws_sqs_queue.dlq), values(aws_sqs_queue.delivery_dlq), values(aws_sqs_queue.express), values(aws_sqs_queue.express_dlq)) : q.sqs_managed_sse_enabled == true && q.kms_master_key_id == null])
    error_message = "Every queue, DLQ and subscription DLQ must use SSE-SQS when kms_key_arn is null."
  }

  assert {
    condition = length(output.queue_encryption) == 10 && alltrue([
      for name, e in output.queue_encryption : e.kms_master_key_id == null && e.sqs_managed_sse_enabled == true
    ])
    error_message = "queue_encryption must list the 10 queues (2 main, 2 express, their 4 DLQs, 2 subscription DLQs), all SSE-SQS."
  }

  assert {
    condition     = aws_sns_topic.this.kms_master_key_id == "alias/aws/sns"
    error_message = "The topic must be encrypted with alias/aws/sns when kms_key_arn is null."
  }
}

run "defaults_policies" {
  command = plan

  # Main queues: only SNS from this topic may send, and non-TLS is denied.
  assert {
    condition = alltrue([
      for role, p in aws_sqs_queue_policy.this : length([
        for s in jsondecode(p.policy).Statement : s
        if s.Effect == "Allow" && s.Principal == { Service = "sns.amazonaws.com" } && s.Action == "sqs:SendMessage" &&
        s.Resource == aws_sqs_queue.this[role].arn &&
        try(s.Condition, null) == { ArnEquals = { "aws:SourceArn" = aws_sns_topic.this.arn } }
      ]) == 1
    ])
    error_message = "Each queue policy must allow sns.amazonaws.com sqs:SendMessage with ArnEquals aws:SourceArn = topic ARN."
  }

  assert {
    condition = alltrue([
      for role, p in aws_sqs_queue_policy.this : length([
        for s in jsondecode(p.policy).Statement : s
        if s.Effect == "Deny" && s.Principal == "*" && s.Action == "sqs:*" && try(s.Condition, null) == { Bool = { "aws:SecureTransport" = "false" } }
      ]) == 1
    ])
    error_message = "Each queue policy must deny every action when aws:SecureTransport is false."
  }

  assert {
    condition     = alltrue([for role, p in aws_sqs_queue_policy.this : length(jsondecode(p.policy).Statement) == 2])
    error_message = "Queue policies must contain exactly the SNS allow and the TLS deny."
  }

  assert {
    condition     = alltrue([for role, p in aws_sqs_queue_policy.this : p.queue_url == aws_sqs_queue.this[role].id])
    error_message = "Each queue policy must be attached to its queue."
  }

  assert {
    condition = alltrue([
      for role, p in aws_sqs_queue_policy.dlq :
      jsondecode(p.policy).Statement[0].Effect == "Deny" && jsondecode(p.policy).Statement[0].Condition == { Bool = { "aws:SecureTransport" = "false" } }
    ])
    error_message = "DLQ policies must deny non-TLS access."
  }

  # Topic: owner account manages and publishes; non-TLS publish denied.
  assert {
    condition     = jsondecode(aws_sns_topic_policy.this.policy).Statement[0].Principal == { AWS = "arn:aws:iam::123456789012:root" }
    error_message = "The owner statement must name the topic's own account root."
  }

  assert {
    condition     = contains(jsondecode(aws_sns_topic_policy.this.policy).Statement[0].Action, "SNS:Publish")
    error_message = "Without topic_publisher_arns the owning account keeps SNS:Publish (default policy)."
  }

  assert {
    condition = length([
      for s in jsondecode(aws_sns_topic_policy.this.policy).Statement : s
      if s.Effect == "Deny" && s.Action == "SNS:Publish" && try(s.Condition.Bool["aws:SecureTransport"], null) == "false"
    ]) == 1
    error_message = "The topic policy must deny publishing without TLS."
  }

  assert {
    condition     = length(jsondecode(aws_sns_topic_policy.this.policy).Statement) == 2
    error_message = "Without topic_publisher_arns the topic policy has only the owner and TLS statements."
  }
}

run "subscription_dead_letter_queues" {
  command = plan

  # One ARN / URL per subscription DLQ, so the assertions can tell them apart
  # from each other and from the main queues and DLQs ("mock-queue").
  override_resource {
    target          = aws_sqs_queue.delivery_dlq["procesamiento"]
    override_during = plan
    values = {
      arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-delivery-dlq"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-delivery-dlq"
      id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-delivery-dlq"
    }
  }

  override_resource {
    target          = aws_sqs_queue.delivery_dlq["logistica"]
    override_during = plan
    values = {
      arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-logistica-delivery-dlq"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-delivery-dlq"
      id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-delivery-dlq"
    }
  }

  assert {
    condition = (
      length(aws_sqs_queue.delivery_dlq) == 2 &&
      aws_sqs_queue.delivery_dlq["procesamiento"].name == "ecomexpress-procesamiento-delivery-dlq" &&
      aws_sqs_queue.delivery_dlq["logistica"].name == "ecomexpress-logistica-delivery-dlq"
    )
    error_message = "One subscription DLQ per role, named <prefix>-<role>-delivery-dlq."
  }

  assert {
    condition = (
      jsondecode(aws_sns_topic_subscription.queue["procesamiento"].redrive_policy) == { deadLetterTargetArn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-delivery-dlq" } &&
      jsondecode(aws_sns_topic_subscription.queue["logistica"].redrive_policy) == { deadLetterTargetArn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-logistica-delivery-dlq" }
    )
    error_message = "Each queue subscription must redrive to its own role's subscription DLQ (and nothing else in the redrive policy)."
  }

  assert {
    condition = alltrue([
      for role, s in aws_sns_topic_subscription.queue :
      jsondecode(s.redrive_policy).deadLetterTargetArn != aws_sqs_queue.this[role].arn &&
      jsondecode(s.redrive_policy).deadLetterTargetArn != aws_sqs_queue.dlq[role].arn
    ])
    error_message = "A subscription DLQ is neither the role's queue nor the DLQ its workers dead-letter to."
  }

  assert {
    condition = alltrue([
      for role, q in aws_sqs_queue.delivery_dlq :
      q.message_retention_seconds == 1209600 && q.fifo_queue == false && q.receive_wait_time_seconds == 20 &&
      q.tags == tomap({ "queue-role" = role, "queue-kind" = "delivery-dlq" })
    ])
    error_message = "Subscription DLQs: standard queues (standard topic), 14 days retention, long polling, tagged queue-kind = delivery-dlq."
  }

  # Policy: only SNS deliveries of this topic may send, and non-TLS is denied.
  assert {
    condition = alltrue([
      for role, p in aws_sqs_queue_policy.delivery_dlq :
      p.queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-${role}-delivery-dlq"
    ])
    error_message = "Each subscription DLQ policy must be attached to that role's subscription DLQ."
  }

  assert {
    condition = alltrue([
      for role, p in aws_sqs_queue_policy.delivery_dlq : [
        for s in jsondecode(p.policy).Statement : s if s.Effect == "Allow"
        ] == [{
          Sid       = "AllowTopicSendMessage"
          Effect    = "Allow"
          Principal = { Service = "sns.amazonaws.com" }
          Action    = "sqs:SendMessage"
          Resource  = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-${role}-delivery-dlq"
          Condition = { ArnEquals = { "aws:SourceArn" = "arn:aws:sns:us-east-1:123456789012:mock-topic" } }
      }]
    ])
    error_message = "The only Allow of a subscription DLQ policy: sns.amazonaws.com may sqs:SendMessage to that queue, only for this topic (ArnEquals aws:SourceArn)."
  }

  assert {
    condition = alltrue([
      for role, p in aws_sqs_queue_policy.delivery_dlq : [
        for s in jsondecode(p.policy).Statement : s if s.Effect == "Deny"
        ] == [{
          Sid       = "DenyInsecureTransport"
          Effect    = "Deny"
          Principal = "*"
          Action    = "sqs:*"
          Resource  = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-${role}-delivery-dlq"
          Condition = { Bool = { "aws:SecureTransport" = "false" } }
      }]
    ])
    error_message = "Each subscription DLQ policy must deny every action without TLS."
  }

  assert {
    condition     = alltrue([for role, p in aws_sqs_queue_policy.delivery_dlq : length(jsondecode(p.policy).Statement) == 2])
    error_message = "Subscription DLQ policies contain exactly the SNS allow and the TLS deny."
  }

  assert {
    condition = (
      output.delivery_dlq_names == { logistica = "ecomexpress-logistica-delivery-dlq", procesamiento = "ecomexpress-procesamiento-delivery-dlq" } &&
      output.delivery_dlq_arns == {
        logistica     = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-logistica-delivery-dlq"
        procesamiento = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-delivery-dlq"
      } &&
      output.delivery_dlq_urls == {
        logistica     = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-delivery-dlq"
        procesamiento = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-delivery-dlq"
      }
    )
    error_message = "delivery_dlq_names / delivery_dlq_arns / delivery_dlq_urls outputs must map each role to its subscription DLQ."
  }
}

run "restricted_publishers" {
  command = plan

  variables {
    topic_publisher_arns = ["arn:aws:iam::123456789012:role/order-api"]
  }

  assert {
    condition     = !contains(jsondecode(aws_sns_topic_policy.this.policy).Statement[0].Action, "SNS:Publish")
    error_message = "With topic_publisher_arns the owner statement must not grant SNS:Publish."
  }

  assert {
    condition = length([
      for s in jsondecode(aws_sns_topic_policy.this.policy).Statement : s
      if s.Effect == "Allow" && s.Action == "SNS:Publish" && s.Principal == { AWS = ["arn:aws:iam::123456789012:role/order-api"] }
    ]) == 1
    error_message = "The listed publishers must be allowed to SNS:Publish."
  }

  assert {
    condition = length([
      for s in jsondecode(aws_sns_topic_policy.this.policy).Statement : s
      if s.Effect == "Deny" && s.Action == "SNS:Publish" && try(s.Condition.ArnNotEquals["aws:PrincipalArn"], null) == ["arn:aws:iam::123456789012:role/order-api"]
    ]) == 1
    error_message = "Everybody except the listed publishers must be denied SNS:Publish."
  }

  assert {
    condition = length([
      for s in jsondecode(aws_sns_topic_policy.this.policy).Statement : s
      if s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], null) == "false"
    ]) == 1
    error_message = "The TLS deny must stay when publishers are pinned."
  }
}

run "fifo_variant" {
  command = plan

  variables {
    fifo = true
  }

  assert {
    condition     = aws_sns_topic.this.name == "ecomexpress-pedidos-eventos.fifo" && aws_sns_topic.this.fifo_topic == true
    error_message = "FIFO topic must be named ecomexpress-pedidos-eventos.fifo with fifo_topic = true."
  }

  assert {
    condition     = aws_sns_topic.this.content_based_deduplication == false
    error_message = "Content-based deduplication must be off on the FIFO topic (the API sets MessageDeduplicationId)."
  }

  assert {
    condition = alltrue([
      for q in concat(values(aws_sqs_queue.this), values(aws_sqs_queue.dlq)) :
      endswith(q.name, ".fifo") && q.fifo_queue == true && q.content_based_deduplication == false
    ])
    error_message = "Every queue and DLQ must be FIFO, end in .fifo and have content-based dedup off."
  }

  assert {
    condition     = aws_sqs_queue.this["procesamiento"].name == "ecomexpress-procesamiento.fifo" && aws_sqs_queue.dlq["logistica"].name == "ecomexpress-logistica-dlq.fifo"
    error_message = "FIFO names must be <prefix>-<role>.fifo and <prefix>-<role>-dlq.fifo."
  }

  assert {
    condition     = alltrue([for s in values(aws_sns_topic_subscription.queue) : s.raw_message_delivery == true])
    error_message = "Raw delivery must stay on in the FIFO variant."
  }

  # A FIFO topic's subscription DLQ must be a FIFO queue.
  assert {
    condition = alltrue([
      for q in values(aws_sqs_queue.delivery_dlq) :
      endswith(q.name, ".fifo") && q.fifo_queue == true && q.content_based_deduplication == false
    ])
    error_message = "Every subscription DLQ of the FIFO variant must be FIFO, end in .fifo and have content-based dedup off."
  }

  assert {
    condition = (
      aws_sqs_queue.delivery_dlq["procesamiento"].name == "ecomexpress-procesamiento-delivery-dlq.fifo" &&
      aws_sqs_queue.delivery_dlq["logistica"].name == "ecomexpress-logistica-delivery-dlq.fifo"
    )
    error_message = "FIFO subscription DLQs must be named <prefix>-<role>-delivery-dlq.fifo."
  }

  assert {
    condition = alltrue([
      for role, s in aws_sns_topic_subscription.queue :
      jsondecode(s.redrive_policy) == { deadLetterTargetArn = aws_sqs_queue.delivery_dlq[role].arn }
    ])
    error_message = "Each FIFO subscription must redrive to its role's FIFO subscription DLQ."
  }
}

run "high_value_email" {
  command = plan

  variables {
    high_value_alert_email = "alertas@ecomexpress.example"
    high_value_threshold   = 2500000
  }

  assert {
    condition     = length(aws_sns_topic_subscription.high_value_email) == 1
    error_message = "An e-mail subscription must exist when high_value_alert_email is set."
  }

  assert {
    condition = (
      aws_sns_topic_subscription.high_value_email[0].protocol == "email" &&
      aws_sns_topic_subscription.high_value_email[0].endpoint == "alertas@ecomexpress.example" &&
      aws_sns_topic_subscription.high_value_email[0].filter_policy_scope == "MessageAttributes"
    )
    error_message = "The alert subscription must be an email subscription to the given address, filtering on message attributes."
  }

  assert {
    condition = jsondecode(aws_sns_topic_subscription.high_value_email[0].filter_policy) == {
      eventType = ["PedidoCreado"]
      total     = [{ numeric = [">=", 2500000] }]
    }
    error_message = "The alert filter must be PedidoCreado with total >= threshold."
  }
}

run "customer_managed_key" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition = alltrue([
      for q in concat(values(aws_sqs_queue.this), values(aws_sqs_queue.dlq), values(aws_sqs_queue.express), values(aws_sqs_queue.express_dlq)) :
      q.kms_master_key_id == "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" &&
      q.kms_data_key_reuse_period_seconds == 300
    ])
    error_message = "With kms_key_arn every queue and DLQ, express lane included, must use that key (reuse period 300 s)."
  }

  assert {
    condition = alltrue([
      for q in values(aws_sqs_queue.delivery_dlq) : q.sqs_managed_sse_enabled == true && q.kms_master_key_id == null
    ])
    error_message = "Subscription DLQs must stay on SSE-SQS even with kms_key_arn: a delivery the key refuses must still be kept."
  }

  assert {
    condition = length(output.queue_encryption) == 10 && alltrue([
      for name, e in output.queue_encryption : (e.kms_master_key_id == "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab") != endswith(name, "-delivery-dlq")
    ])
    error_message = "queue_encryption must show the customer-managed key on the 8 queues and DLQs (both lanes), and none on the 2 subscription DLQs."
  }

  assert {
    condition     = aws_sns_topic.this.kms_master_key_id == "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error_message = "With kms_key_arn the topic must use that key."
  }

  assert {
    condition = (
      length(aws_dynamodb_table.pedidos[0].server_side_encryption) == 1 &&
      aws_dynamodb_table.pedidos[0].server_side_encryption[0].enabled == true &&
      aws_dynamodb_table.pedidos[0].server_side_encryption[0].kms_key_arn == "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    error_message = "With kms_key_arn the table must use that key."
  }
}

run "local_emulator_toggles" {
  command = plan

  variables {
    enable_redrive_allow_policy  = false
    table_point_in_time_recovery = false
    table_deletion_protection    = true
    max_receive_count            = 3
  }

  assert {
    condition     = length(aws_sqs_queue_redrive_allow_policy.dlq) == 0 && length(aws_sqs_queue_redrive_allow_policy.express_dlq) == 0
    error_message = "enable_redrive_allow_policy = false must drop the redrive allow policies (express DLQs too)."
  }

  assert {
    condition     = aws_dynamodb_table.pedidos[0].point_in_time_recovery[0].enabled == false && aws_dynamodb_table.pedidos[0].deletion_protection_enabled == true
    error_message = "PITR and deletion protection must follow their variables."
  }

  assert {
    condition     = alltrue([for q in values(aws_sqs_queue.this) : jsondecode(q.redrive_policy).maxReceiveCount == 3])
    error_message = "maxReceiveCount must follow max_receive_count."
  }
}

# DynamoDB Local (infra/local): the same table, created with its outbox
# index, whose later index drift is ignored (provider bug #41110).
run "dynamodb_local_index_drift" {
  command = plan

  variables {
    table_ignore_index_drift = true
  }

  assert {
    condition = (
      length(aws_dynamodb_table.pedidos) == 0 && length(aws_dynamodb_table.pedidos_emulator) == 1 &&
      one([for g in aws_dynamodb_table.pedidos_emulator[0].global_secondary_index : g.name]) == "outbox-pendientes" &&
      toset([for a in aws_dynamodb_table.pedidos_emulator[0].attribute : "${a.name}:${a.type}"]) == toset(["pedidoId:S", "outboxShard:S", "outboxDesde:N"]) &&
      aws_dynamodb_table.pedidos_emulator[0].billing_mode == "PAY_PER_REQUEST" &&
      output.table_name == "ecomexpress-pedidos" && output.outbox_index_name == "outbox-pendientes"
    )
    error_message = "table_ignore_index_drift = true must create the one table as pedidos_emulator, with the same keys and outbox index."
  }
}

run "aws_table_by_default" {
  command = plan

  assert {
    condition     = length(aws_dynamodb_table.pedidos) == 1 && length(aws_dynamodb_table.pedidos_emulator) == 0
    error_message = "By default (AWS) the table is aws_dynamodb_table.pedidos, whose index changes Terraform applies."
  }
}

################################################################################
# The express lane (issue 23)
################################################################################

run "express_lane" {
  command = plan

  # Distinct ARNs / URLs for the express queues and DLQs, so the assertions
  # tell them from the standard lane's ("mock-queue") and from each other.
  override_resource {
    target          = aws_sqs_queue.express["procesamiento"]
    override_during = plan
    values = {
      arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express"
      id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express"
    }
  }

  override_resource {
    target          = aws_sqs_queue.express_dlq["procesamiento"]
    override_during = plan
    values = {
      arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express-dlq"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express-dlq"
      id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express-dlq"
    }
  }

  override_resource {
    target          = aws_sqs_queue.delivery_dlq["procesamiento"]
    override_during = plan
    values = {
      arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-delivery-dlq"
    }
  }

  assert {
    condition = (
      output.express_queue_names == { logistica = "ecomexpress-logistica-express", procesamiento = "ecomexpress-procesamiento-express" } &&
      output.express_dlq_names == { logistica = "ecomexpress-logistica-express-dlq", procesamiento = "ecomexpress-procesamiento-express-dlq" }
    )
    error_message = "One express queue and one express DLQ per role, named <prefix>-<role>-express and <prefix>-<role>-express-dlq."
  }

  assert {
    condition = (
      output.express_queue_urls["procesamiento"] == "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express" &&
      output.express_queue_arns["procesamiento"] == "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express" &&
      output.express_dlq_urls["procesamiento"] == "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express-dlq" &&
      output.express_dlq_arns["procesamiento"] == "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express-dlq"
    )
    error_message = "express_queue_urls / express_queue_arns / express_dlq_urls / express_dlq_arns must map each role to its express queue and DLQ."
  }

  # The same redrive, retention, visibility and long polling as the standard lane.
  assert {
    condition = (
      jsondecode(aws_sqs_queue.express["procesamiento"].redrive_policy) == {
        deadLetterTargetArn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express-dlq"
        maxReceiveCount     = 5
      } &&
      alltrue([for role, q in aws_sqs_queue.express : jsondecode(q.redrive_policy).maxReceiveCount == jsondecode(aws_sqs_queue.this[role].redrive_policy).maxReceiveCount])
    )
    error_message = "Each express queue must redrive to its own express DLQ with the standard lane's maxReceiveCount."
  }

  assert {
    condition = alltrue([
      for role, q in aws_sqs_queue.express :
      q.message_retention_seconds == aws_sqs_queue.this[role].message_retention_seconds &&
      q.visibility_timeout_seconds == aws_sqs_queue.this[role].visibility_timeout_seconds &&
      q.receive_wait_time_seconds == 20 &&
      aws_sqs_queue.express_dlq[role].message_retention_seconds == aws_sqs_queue.dlq[role].message_retention_seconds &&
      q.tags == tomap({ "queue-role" = role, "queue-kind" = "express" }) &&
      aws_sqs_queue.express_dlq[role].tags == tomap({ "queue-role" = role, "queue-kind" = "express-dlq" })
    ])
    error_message = "Express queues and DLQs: the standard lane's retention, visibility timeout and long polling; tagged queue-kind express / express-dlq."
  }

  assert {
    condition = jsondecode(aws_sqs_queue_redrive_allow_policy.express_dlq["procesamiento"].redrive_allow_policy) == {
      redrivePermission = "byQueue"
      sourceQueueArns   = ["arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express"]
    }
    error_message = "Each express DLQ's redrive allow policy must allow only its express queue (byQueue)."
  }

  # Queue policies: the express queue as the standard one (only this topic's
  # deliveries, TLS only); the express DLQ as the DLQ (TLS only).
  assert {
    condition = jsondecode(aws_sqs_queue_policy.express["procesamiento"].policy).Statement == [
      {
        Sid       = "AllowTopicSendMessage"
        Effect    = "Allow"
        Principal = { Service = "sns.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express"
        Condition = { ArnEquals = { "aws:SourceArn" = "arn:aws:sns:us-east-1:123456789012:mock-topic" } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express"
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ] && aws_sqs_queue_policy.express["procesamiento"].queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express"
    error_message = "The express queue policy must allow only this topic's SNS deliveries and deny non-TLS, attached to the express queue."
  }

  assert {
    condition = jsondecode(aws_sqs_queue_policy.express_dlq["procesamiento"].policy).Statement == [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express-dlq"
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }] && aws_sqs_queue_policy.express_dlq["procesamiento"].queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express-dlq"
    error_message = "The express DLQ policy must only deny non-TLS access, attached to the express DLQ."
  }

  # The subscriptions: EXPRESS to the express queue, ESTANDAR or no prioridad
  # to the standard one; both redrive to the role's subscription DLQ.
  assert {
    condition = (
      aws_sns_topic_subscription.express["procesamiento"].endpoint == "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express" &&
      aws_sns_topic_subscription.express["procesamiento"].protocol == "sqs" &&
      aws_sns_topic_subscription.express["procesamiento"].raw_message_delivery == true &&
      aws_sns_topic_subscription.express["procesamiento"].filter_policy_scope == "MessageAttributes" &&
      aws_sns_topic_subscription.express["procesamiento"].topic_arn == aws_sns_topic.this.arn
    )
    error_message = "The express subscription must deliver raw from the topic to the role's express queue, filtering on message attributes."
  }

  assert {
    condition = alltrue([
      for role, s in aws_sns_topic_subscription.express :
      jsondecode(s.filter_policy) == { eventType = ["PedidoCreado", "PedidoCancelado"], prioridad = ["EXPRESS"] }
    ])
    error_message = "The express filter policy must be the role's event types and prioridad EXPRESS."
  }

  assert {
    condition = alltrue([
      for role, s in aws_sns_topic_subscription.queue :
      jsondecode(s.filter_policy)["$or"] == [{ prioridad = ["ESTANDAR"] }, { prioridad = [{ exists = false }] }] &&
      !contains(keys(jsondecode(s.filter_policy)), "prioridad")
    ])
    error_message = "The standard filter policy must take prioridad ESTANDAR or no prioridad at all (\"$or\" of the two), never EXPRESS."
  }

  assert {
    condition = (
      jsondecode(aws_sns_topic_subscription.express["procesamiento"].redrive_policy) == { deadLetterTargetArn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-delivery-dlq" } &&
      output.subscription_filter_policies["procesamiento"].express == aws_sns_topic_subscription.express["procesamiento"].filter_policy
    )
    error_message = "The express subscription must redrive to the role's existing subscription DLQ; subscription_filter_policies must report it."
  }
}

run "express_lane_fifo" {
  command = plan

  variables {
    fifo = true
  }

  assert {
    condition = (
      aws_sqs_queue.express["procesamiento"].name == "ecomexpress-procesamiento-express.fifo" &&
      aws_sqs_queue.express_dlq["logistica"].name == "ecomexpress-logistica-express-dlq.fifo" &&
      alltrue([for q in concat(values(aws_sqs_queue.express), values(aws_sqs_queue.express_dlq)) : q.fifo_queue == true && q.content_based_deduplication == false])
    )
    error_message = "FIFO express queues and DLQs: <prefix>-<role>-express[-dlq].fifo, FIFO, content-based dedup off."
  }
}

################################################################################
# SMS and partner HTTPS endpoints (issue 23)
################################################################################

run "high_value_sms" {
  command = plan

  variables {
    high_value_alert_email = "alertas@ecomexpress.example"
    high_value_alert_sms   = "+15555550123"
    high_value_threshold   = 2500000
  }

  assert {
    condition = (
      length(aws_sns_topic_subscription.high_value_sms) == 1 &&
      aws_sns_topic_subscription.high_value_sms[0].protocol == "sms" &&
      aws_sns_topic_subscription.high_value_sms[0].endpoint == "+15555550123" &&
      aws_sns_topic_subscription.high_value_sms[0].filter_policy_scope == "MessageAttributes" &&
      aws_sns_topic_subscription.high_value_sms[0].topic_arn == aws_sns_topic.this.arn
    )
    error_message = "high_value_alert_sms must create one sms subscription on the topic to that number, filtering on message attributes."
  }

  assert {
    condition = (
      aws_sns_topic_subscription.high_value_sms[0].filter_policy == aws_sns_topic_subscription.high_value_email[0].filter_policy &&
      jsondecode(aws_sns_topic_subscription.high_value_sms[0].filter_policy) == { eventType = ["PedidoCreado"], total = [{ numeric = [">=", 2500000] }] } &&
      output.high_value_filter_policy == aws_sns_topic_subscription.high_value_sms[0].filter_policy
    )
    error_message = "The SMS subscription must carry exactly the e-mail subscription's filter policy (PedidoCreado, total >= threshold)."
  }
}

run "no_sms_no_partners_by_default" {
  command = plan

  assert {
    condition     = length(aws_sns_topic_subscription.high_value_sms) == 0 && length(aws_sns_topic_subscription.partner) == 0 && length(aws_sqs_queue.partner_dlq) == 0
    error_message = "Without high_value_alert_sms / partner_https_subscriptions there is no sms subscription, partner subscription or partner DLQ."
  }
}

run "partner_https_subscriptions" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    partner_https_subscriptions = {
      courier = {
        endpoint = "https://hooks.courier.example/sns"
      }
      erp = {
        endpoint                = "https://erp.example:8443/eventos"
        filter_policy           = "{\"eventType\":[\"PedidoCreado\",\"PedidoCancelado\"],\"prioridad\":[\"EXPRESS\"]}"
        raw_message_delivery    = true
        max_receives_per_second = 25
        delivery_policy = {
          num_retries      = 20
          min_delay_target = 5
          max_delay_target = 120
          backoff_function = "linear"
        }
      }
    }
  }

  override_resource {
    target          = aws_sqs_queue.partner_dlq["courier"]
    override_during = plan
    values = {
      arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-partner-courier-dlq"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-partner-courier-dlq"
      id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-partner-courier-dlq"
    }
  }

  assert {
    condition = (
      aws_sns_topic_subscription.partner["courier"].protocol == "https" &&
      aws_sns_topic_subscription.partner["courier"].endpoint == "https://hooks.courier.example/sns" &&
      aws_sns_topic_subscription.partner["courier"].topic_arn == aws_sns_topic.this.arn &&
      aws_sns_topic_subscription.partner["courier"].raw_message_delivery == false &&
      aws_sns_topic_subscription.partner["erp"].raw_message_delivery == true &&
      alltrue([for s in values(aws_sns_topic_subscription.partner) : s.filter_policy_scope == "MessageAttributes"])
    )
    error_message = "Each partner gets an https subscription on the topic to its endpoint; enveloped delivery unless raw_message_delivery = true."
  }

  assert {
    condition = (
      jsondecode(aws_sns_topic_subscription.partner["courier"].filter_policy) == { eventType = ["PedidoCreado"] } &&
      jsondecode(aws_sns_topic_subscription.partner["erp"].filter_policy) == { eventType = ["PedidoCreado", "PedidoCancelado"], prioridad = ["EXPRESS"] }
    )
    error_message = "A partner's filter policy is its own JSON, or every PedidoCreado when it gives none."
  }

  assert {
    condition = (
      jsondecode(aws_sns_topic_subscription.partner["courier"].delivery_policy).healthyRetryPolicy == {
        numRetries     = 10, numNoDelayRetries = 0, numMinDelayRetries = 0, numMaxDelayRetries = 0
        minDelayTarget = 1, maxDelayTarget = 60, backoffFunction = "exponential"
      } &&
      jsondecode(aws_sns_topic_subscription.partner["erp"].delivery_policy).healthyRetryPolicy == {
        numRetries     = 20, numNoDelayRetries = 0, numMinDelayRetries = 0, numMaxDelayRetries = 0
        minDelayTarget = 5, maxDelayTarget = 120, backoffFunction = "linear"
      }
    )
    error_message = "The delivery policy must carry the partner's retries and backoff (defaults 10 retries, 1-60 s, exponential)."
  }

  assert {
    condition = (
      jsondecode(aws_sns_topic_subscription.partner["erp"].delivery_policy).throttlePolicy == { maxReceivesPerSecond = 25 } &&
      !contains(keys(jsondecode(aws_sns_topic_subscription.partner["courier"].delivery_policy)), "throttlePolicy")
    )
    error_message = "max_receives_per_second must become the delivery policy's throttlePolicy.maxReceivesPerSecond; without it, no throttlePolicy."
  }

  assert {
    condition = (
      aws_sqs_queue.partner_dlq["courier"].name == "ecomexpress-partner-courier-dlq" &&
      aws_sqs_queue.partner_dlq["erp"].name == "ecomexpress-partner-erp-dlq" &&
      alltrue([for q in values(aws_sqs_queue.partner_dlq) : q.sqs_managed_sse_enabled == true && q.kms_master_key_id == null && q.message_retention_seconds == 1209600])
    )
    error_message = "Each partner gets its own subscription DLQ <prefix>-partner-<name>-dlq on SSE-SQS (even with kms_key_arn), 14 days retention."
  }

  assert {
    condition     = jsondecode(aws_sns_topic_subscription.partner["courier"].redrive_policy) == { deadLetterTargetArn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-partner-courier-dlq" }
    error_message = "Each partner subscription must redrive to its own partner DLQ."
  }

  assert {
    condition = jsondecode(aws_sqs_queue_policy.partner_dlq["courier"].policy).Statement == [
      {
        Sid       = "AllowTopicSendMessage"
        Effect    = "Allow"
        Principal = { Service = "sns.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-partner-courier-dlq"
        Condition = { ArnEquals = { "aws:SourceArn" = "arn:aws:sns:us-east-1:123456789012:mock-topic" } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-partner-courier-dlq"
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ] && aws_sqs_queue_policy.partner_dlq["courier"].queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-partner-courier-dlq"
    error_message = "A partner DLQ's policy: only this topic's SNS deliveries may send, nothing without TLS."
  }

  assert {
    condition     = output.partner_dlq_names == { courier = "ecomexpress-partner-courier-dlq", erp = "ecomexpress-partner-erp-dlq" }
    error_message = "partner_dlq_names must map each partner to its DLQ name (the root's alarms use it)."
  }
}

################################################################################
# Invalid inputs
################################################################################

run "invalid_name_prefix_uppercase" {
  command = plan
  variables {
    name_prefix = "EcomExpress"
  }
  expect_failures = [var.name_prefix]
}

run "invalid_name_prefix_too_long" {
  command = plan
  variables {
    name_prefix = "a234567890123456789012345678901234567890x"
  }
  expect_failures = [var.name_prefix]
}

run "invalid_name_prefix_trailing_hyphen" {
  command = plan
  variables {
    name_prefix = "ecomexpress-"
  }
  expect_failures = [var.name_prefix]
}

run "invalid_max_receive_count_zero" {
  command = plan
  variables {
    max_receive_count = 0
  }
  expect_failures = [var.max_receive_count]
}

run "invalid_event_type" {
  command = plan
  variables {
    event_types_by_queue = {
      procesamiento = ["PedidoCreado", "PedidoEnviado"]
      logistica     = ["PedidoCreado"]
    }
  }
  expect_failures = [var.event_types_by_queue]
}

run "invalid_queue_role" {
  command = plan
  variables {
    event_types_by_queue = {
      facturacion = ["PedidoCreado"]
    }
  }
  expect_failures = [var.event_types_by_queue]
}

run "invalid_empty_event_list" {
  command = plan
  variables {
    event_types_by_queue = {
      procesamiento = []
    }
  }
  expect_failures = [var.event_types_by_queue]
}

run "invalid_dlq_retention_not_longer" {
  command = plan
  variables {
    message_retention_seconds     = 1209600
    dlq_message_retention_seconds = 1209600
  }
  expect_failures = [var.dlq_message_retention_seconds]
}

run "invalid_visibility_timeout" {
  command = plan
  variables {
    visibility_timeout_seconds = 43201
  }
  expect_failures = [var.visibility_timeout_seconds]
}

run "invalid_receive_wait_time" {
  command = plan
  variables {
    receive_wait_time_seconds = 21
  }
  expect_failures = [var.receive_wait_time_seconds]
}

run "invalid_kms_key_arn" {
  command = plan
  variables {
    kms_key_arn = "alias/my-key"
  }
  expect_failures = [var.kms_key_arn]
}

run "invalid_publisher_arn" {
  command = plan
  variables {
    topic_publisher_arns = ["order-api"]
  }
  expect_failures = [var.topic_publisher_arns]
}

run "invalid_email_with_fifo" {
  command = plan
  variables {
    fifo                   = true
    high_value_alert_email = "alertas@ecomexpress.example"
  }
  expect_failures = [var.high_value_alert_email]
}

run "invalid_threshold" {
  command = plan
  variables {
    high_value_threshold = 0
  }
  expect_failures = [var.high_value_threshold]
}

run "invalid_sms_not_e164" {
  command = plan
  variables {
    high_value_alert_sms = "555-0123"
  }
  expect_failures = [var.high_value_alert_sms]
}

run "invalid_sms_with_fifo" {
  command = plan
  variables {
    fifo                 = true
    high_value_alert_sms = "+15555550123"
  }
  expect_failures = [var.high_value_alert_sms]
}

run "invalid_partner_plain_http" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "http://hooks.courier.example/sns" } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

run "invalid_partner_name" {
  command = plan
  variables {
    partner_https_subscriptions = { "Courier_MX" = { endpoint = "https://hooks.courier.example/sns" } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

run "invalid_partner_filter_not_json" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns", filter_policy = "eventType=PedidoCreado" } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

run "invalid_partner_too_many_retries" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns", delivery_policy = { num_retries = 101 } } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

run "invalid_partner_min_delay_above_max" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns", delivery_policy = { min_delay_target = 90, max_delay_target = 60 } } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

run "invalid_partner_max_delay_above_an_hour" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns", delivery_policy = { num_retries = 1, max_delay_target = 3601 } } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

run "invalid_partner_total_retry_time" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns", delivery_policy = { num_retries = 100, min_delay_target = 40, max_delay_target = 60 } } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

# Passed the old num_retries * min_delay_target bound (100 s) yet SNS refuses
# it at apply: the exponential backoff reaches 3600 s between retries.
run "invalid_partner_total_retry_time_at_max_delay" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns", delivery_policy = { num_retries = 100, min_delay_target = 1, max_delay_target = 3600, backoff_function = "exponential" } } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

run "partner_total_retry_time_at_the_limit" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns", delivery_policy = { num_retries = 60, min_delay_target = 1, max_delay_target = 60 } } }
  }
  assert {
    condition     = jsondecode(aws_sns_topic_subscription.partner["courier"].delivery_policy).healthyRetryPolicy.numRetries == 60
    error_message = "num_retries * max_delay_target == 3600 s is within SNS's limit and must be accepted."
  }
}

run "invalid_partner_throttle_zero" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns", max_receives_per_second = 0 } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

run "invalid_partner_throttle_fraction" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns", max_receives_per_second = 2.5 } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

run "invalid_partner_backoff_function" {
  command = plan
  variables {
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns", delivery_policy = { backoff_function = "fibonacci" } } }
  }
  expect_failures = [var.partner_https_subscriptions]
}

run "invalid_partner_with_fifo" {
  command = plan
  variables {
    fifo                        = true
    partner_https_subscriptions = { courier = { endpoint = "https://hooks.courier.example/sns" } }
  }
  expect_failures = [var.partner_https_subscriptions]
}
