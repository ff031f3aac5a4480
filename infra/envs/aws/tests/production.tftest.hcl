# Offline plan of the whole production root with a mocked AWS provider:
#   scripts/tf-init.sh infra/envs/aws && terraform -chdir=infra/envs/aws test
#
# Computed attributes that policies, names and validations depend on are pinned
# to realistic values below (override_during = plan makes them known at plan);
# queues, keys and repositories get one value per instance so the
# least-privilege assertions can tell them apart.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
      arn        = "arn:aws:iam::123456789012:role/deployer"
      user_id    = "AROAEXAMPLEDEPLOYER"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition          = "aws"
      dns_suffix         = "amazonaws.com"
      reverse_dns_prefix = "com.amazonaws"
    }
  }

  mock_data "aws_vpc" {
    defaults = {
      cidr_block = "10.20.0.0/16"
    }
  }

  mock_data "aws_elb_service_account" {
    defaults = {
      arn = "arn:aws:iam::127311923021:root"
      id  = "127311923021"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn    = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      key_id = "00000000-0000-0000-0000-000000000000"
    }
  }

  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"
    }
  }

  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn = "arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos"
    }
  }

  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:us-east-1:123456789012:repository/mock"
      repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mock"
    }
  }

  mock_resource "aws_ecs_cluster" {
    defaults = {
      arn = "arn:aws:ecs:us-east-1:123456789012:cluster/ecomexpress"
      id  = "arn:aws:ecs:us-east-1:123456789012:cluster/ecomexpress"
    }
  }

  mock_resource "aws_security_group" {
    defaults = {
      id  = "sg-0123456789abcdef0"
      arn = "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0123456789abcdef0"
    }
  }

  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/ecomexpress-api/50dc6c495c0c9188"
      arn_suffix = "app/ecomexpress-api/50dc6c495c0c9188"
      dns_name   = "internal-ecomexpress-api-123456789.us-east-1.elb.amazonaws.com"
      zone_id    = "Z35SXDOTRQ7X7K"
    }
  }

  mock_resource "aws_lb_target_group" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ecomexpress-api/73e2d6bc24d8a067"
      arn_suffix = "targetgroup/ecomexpress-api/73e2d6bc24d8a067"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/mock"
    }
  }
}

# One value per instance where assertions must tell resources apart.
override_resource {
  target          = module.kms_platform.aws_kms_key.this
  override_during = plan
  values = {
    arn    = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
    key_id = "11111111-1111-1111-1111-111111111111"
  }
}

override_resource {
  target          = module.alarms.aws_sns_topic.ops
  override_during = plan
  values = {
    arn = "arn:aws:sns:us-east-1:123456789012:ecomexpress-ops-alarms"
  }
}

override_resource {
  target          = module.messaging.aws_sqs_queue.this["procesamiento"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento"
  }
}

override_resource {
  target          = module.messaging.aws_sqs_queue.this["logistica"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-logistica"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica"
  }
}

override_resource {
  target          = module.messaging.aws_sqs_queue.dlq["procesamiento"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-dlq"
  }
}

override_resource {
  target          = module.messaging.aws_sqs_queue.dlq["logistica"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-logistica-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-dlq"
  }
}

override_resource {
  target          = module.messaging.aws_sqs_queue.delivery_dlq["procesamiento"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-delivery-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-delivery-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-delivery-dlq"
  }
}

override_resource {
  target          = module.messaging.aws_sqs_queue.delivery_dlq["logistica"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-logistica-delivery-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-delivery-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-delivery-dlq"
  }
}

override_resource {
  target          = module.messaging.aws_sqs_queue.express["procesamiento"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express"
  }
}

override_resource {
  target          = module.messaging.aws_sqs_queue.express["logistica"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-logistica-express"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-express"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-express"
  }
}

override_resource {
  target          = module.messaging.aws_sqs_queue.express_dlq["procesamiento"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento-express-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express-dlq"
  }
}

override_resource {
  target          = module.messaging.aws_sqs_queue.express_dlq["logistica"]
  override_during = plan
  values = {
    arn = "arn:aws:sqs:us-east-1:123456789012:ecomexpress-logistica-express-dlq"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-express-dlq"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-express-dlq"
  }
}

override_resource {
  target          = module.ecr["order-api"].aws_ecr_repository.this
  override_during = plan
  values = {
    arn            = "arn:aws:ecr:us-east-1:123456789012:repository/ecomexpress/order-api"
    repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/order-api"
  }
}

override_resource {
  target          = module.ecr["sqs-worker"].aws_ecr_repository.this
  override_during = plan
  values = {
    arn            = "arn:aws:ecr:us-east-1:123456789012:repository/ecomexpress/sqs-worker"
    repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/sqs-worker"
  }
}

override_resource {
  target          = module.worker["procesamiento"].aws_security_group.this
  override_during = plan
  values = {
    id = "sg-0aaaaaaaaaaaaaaa1"
  }
}

override_resource {
  target          = module.alb.aws_security_group.this
  override_during = plan
  values = {
    id = "sg-0bbbbbbbbbbbbbbb2"
  }
}

variables {
  aws_region         = "us-east-1"
  vpc_id             = "vpc-0a1b2c3d4e5f60718"
  private_subnet_ids = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]
  alb_subnet_ids     = ["subnet-0ccccccccccccccc3", "subnet-0ddddddddddddddd4"]
  certificate_arn    = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
  api_image_tag      = "1.4.2"
  worker_image_tag   = "1.4.2"
}

################################################################################
# Names and outputs
################################################################################

run "defaults_outputs" {
  command = plan

  assert {
    condition     = output.alb_url == "https://internal-ecomexpress-api-123456789.us-east-1.elb.amazonaws.com"
    error_message = "alb_url must be https://<ALB DNS name>."
  }

  assert {
    condition = output.ecr_repository_urls == {
      order-api  = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/order-api"
      sqs-worker = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/sqs-worker"
    }
    error_message = "One ECR repository per image (order-api, sqs-worker) must be output."
  }

  assert {
    condition = output.queue_urls == {
      logistica     = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica"
      procesamiento = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento"
    }
    error_message = "queue_urls must map each worker role to its queue URL."
  }

  assert {
    condition = output.delivery_dlq_urls == {
      logistica     = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-delivery-dlq"
      procesamiento = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-delivery-dlq"
    }
    error_message = "delivery_dlq_urls must map each worker role to its SNS subscription DLQ URL."
  }

  assert {
    condition     = output.table_name == "ecomexpress-pedidos" && output.cluster_name == "ecomexpress"
    error_message = "table_name / cluster_name outputs are wrong."
  }

  assert {
    condition = output.service_names == {
      api           = "ecomexpress-order-api"
      relay         = "ecomexpress-relay"
      logistica     = "ecomexpress-worker-logistica"
      procesamiento = "ecomexpress-worker-procesamiento"
    }
    error_message = "Four services expected: the API, the outbox relay and one worker per role."
  }

  assert {
    condition = output.dlq_tool_env["procesamiento"] == {
      SQS_QUEUE_URL            = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento"
      SQS_DLQ_URL              = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-dlq"
      SQS_SUBSCRIPTION_DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-delivery-dlq"
      SQS_EXPRESS_QUEUE_URL    = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express"
      AWS_REGION               = "us-east-1"
    }
    error_message = "dlq_tool_env must give the DLQ tools the queue, DLQ, subscription DLQ, express queue and region of each role."
  }

  assert {
    condition = output.dlq_tool_env["procesamiento-express"] == {
      SQS_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express"
      SQS_DLQ_URL   = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express-dlq"
      AWS_REGION    = "us-east-1"
    }
    error_message = "The express entry of dlq_tool_env names the express queue and its DLQ, and not the shared subscription DLQ (redrive --subscription runs from the role's entry and routes by lane)."
  }

  assert {
    condition     = output.topic_arn == local.topic_arn
    error_message = "The data key policy must name the real topic ARN."
  }
}

################################################################################
# IAM: task roles
################################################################################

run "api_task_role_least_privilege" {
  command = plan

  assert {
    condition = sort(flatten([
      for s in jsondecode(module.api.task_policy).Statement : s.Action
      ])) == tolist([
      "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
      "kms:CreateGrant", "kms:Decrypt", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:ReEncrypt*",
      "sns:GetTopicAttributes", "sns:Publish",
    ])
    error_message = "The API task role may only publish (+GetTopicAttributes), read the table (GetItem, DescribeTable), create its intake records (conditional PutItem), write idempotency records, cancellations and publication marks (UpdateItem), release keys (DeleteItem) and use the data key (through SNS and through DynamoDB)."
  }

  assert {
    condition     = alltrue([for s in jsondecode(module.api.task_policy).Statement : s.Effect == "Allow" && !can(tolist(s.Resource)) && s.Resource != "*"])
    error_message = "Every API task statement must allow exactly one resource ARN (no lists, no *)."
  }

  assert {
    condition = one([
      for s in jsondecode(module.api.task_policy).Statement : s.Resource if contains(s.Action, "sns:Publish")
    ]) == "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"
    error_message = "sns:Publish must be scoped to the order-events topic."
  }

  assert {
    condition = one([
      for s in jsondecode(module.api.task_policy).Statement : s.Resource if contains(s.Action, "dynamodb:GetItem")
    ]) == "arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos"
    error_message = "DynamoDB reads must be scoped to the orders table."
  }

  assert {
    condition = one([
      for s in jsondecode(module.api.task_policy).Statement : s if contains(s.Action, "kms:GenerateDataKey")
      ]) == {
      Sid       = "EncryptEventsForTheTopic"
      Effect    = "Allow"
      Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource  = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      Condition = { StringEquals = { "kms:ViaService" = "sns.us-east-1.amazonaws.com" } }
    }
    error_message = "The API may use the data key only through SNS."
  }

  assert {
    condition = one([
      for s in jsondecode(module.api.task_policy).Statement : s.Resource if contains(s.Action, "dynamodb:UpdateItem")
    ]) == "arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos"
    error_message = "The API's table writes must be scoped to the orders table."
  }

  assert {
    condition     = !strcontains(module.api.task_policy, "sqs:") && !strcontains(module.api.task_policy, "dynamodb:Batch") && !strcontains(module.api.task_policy, "dynamodb:Scan") && !strcontains(module.api.task_policy, "dynamodb:Query") && !strcontains(module.api.task_policy, "/index/")
    error_message = "The API must not touch the queues, batch-write, scan or query the table (the outbox index is the relay's)."
  }

  assert {
    condition = one([
      for s in jsondecode(module.api.task_policy).Statement : s.Resource if contains(s.Action, "dynamodb:PutItem")
    ]) == "arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos"
    error_message = "The API's intake PutItem must be scoped to the orders table."
  }
}

# The outbox relay (`order-api relay`): exactly Query on the outbox index,
# BatchGetItem (the stored events) and UpdateItem (lease, checkpoints) on the
# table, Publish on the topic and the data key through SNS. Never a Scan,
# GetItem, PutItem, DeleteItem or DescribeTable, never a Query of the table.
run "relay_task_role_least_privilege" {
  command = plan

  assert {
    condition = jsonencode({
      for s in jsondecode(module.relay.task_policy).Statement : s.Sid => { Action = sort(flatten([s.Action])), Resource = s.Resource, Effect = s.Effect }
      }) == jsonencode({
      EncryptEventsForTheTopic = {
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
        Effect   = "Allow"
      }
      FindRecordedEvents = {
        Action   = ["dynamodb:Query"]
        Resource = "arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos/index/outbox-pendientes"
        Effect   = "Allow"
      }
      LeaseCheckpointsAndMarks = {
        Action   = ["dynamodb:UpdateItem"]
        Resource = "arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos"
        Effect   = "Allow"
      }
      PublishOrderEvents = {
        Action   = ["sns:Publish"]
        Resource = "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"
        Effect   = "Allow"
      }
      ReadStoredEvents = {
        Action   = ["dynamodb:BatchGetItem"]
        Resource = "arn:aws:dynamodb:us-east-1:123456789012:table/ecomexpress-pedidos"
        Effect   = "Allow"
      }
      UseTheDataKeyThroughDynamoDB = {
        Action   = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
        Resource = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
        Effect   = "Allow"
      }
    })
    error_message = "The relay task role must allow exactly: dynamodb:Query on the outbox-pendientes index, dynamodb:BatchGetItem and dynamodb:UpdateItem on the table, sns:Publish on the topic, kms:Decrypt/GenerateDataKey on the data key through SNS, the data key through DynamoDB."
  }

  assert {
    condition = alltrue([
      for a in ["dynamodb:Scan", "dynamodb:GetItem", "dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQL", "dynamodb:*", "dynamodb:ConditionCheckItem", "dynamodb:Transact", "sns:GetTopicAttributes", "sqs:", "s3:"] :
      !strcontains(module.relay.task_policy, a)
    ])
    error_message = "The relay must not scan, get, put or delete items, batch-write, describe the table, or touch anything but the index, the table's BatchGetItem/UpdateItem and the topic."
  }

  assert {
    condition = [
      for s in jsondecode(module.relay.task_policy).Statement : s.Resource if contains(flatten([s.Action]), "dynamodb:Query")
    ] == [module.messaging.outbox_index_arn]
    error_message = "dynamodb:Query must be allowed on the outbox index only (never on the table, which a Query without IndexName reads)."
  }

  assert {
    condition = one([
      for s in jsondecode(module.relay.task_policy).Statement : s.Condition if contains(flatten([s.Action]), "dynamodb:UpdateItem")
      ]) == {
      "ForAllValues:StringEquals" = {
        "dynamodb:Attributes" = concat(
          ["pedidoId", "relayPublicados", "relayOwner", "relayLeaseUntil"],
          [for shard in range(8) : "relayDone${shard}"],
          [for shard in range(8) : "relaySwept${shard}"],
        )
      }
      StringEqualsIfExists = { "dynamodb:ReturnValues" = ["NONE", "UPDATED_OLD", "UPDATED_NEW"] }
    }
    error_message = "The relay's UpdateItem must be limited to its own attributes (lease, checkpoints, the relayPublicados mark), with ReturnValues NONE or UPDATED_*: never an order's data."
  }

  assert {
    condition     = alltrue([for s in jsondecode(module.relay.task_policy).Statement : s.Effect == "Allow" && !can(tolist(s.Resource)) && s.Resource != "*" && !strcontains(s.Resource, "*")])
    error_message = "Every relay statement must allow exactly one resource ARN (no lists, no wildcards)."
  }

  assert {
    condition = one([
      for s in jsondecode(module.relay.task_policy).Statement : s.Condition if s.Sid == "EncryptEventsForTheTopic"
    ]) == { StringEquals = { "kms:ViaService" = "sns.us-east-1.amazonaws.com" } }
    error_message = "The relay may use the data key only through SNS."
  }

  # The topic admits the relay as a publisher (DenyOtherPublishers would
  # refuse it otherwise), and so does the data key (SNS encrypts with it).
  assert {
    condition = (
      one([for s in jsondecode(module.messaging.topic_policy).Statement : s.Principal.AWS if s.Sid == "AllowPublishers"]) == ["arn:aws:iam::123456789012:role/ecomexpress-order-api-task", "arn:aws:iam::123456789012:role/ecomexpress-relay-task"] &&
      one([for s in jsondecode(module.messaging.topic_policy).Statement : s.Condition.ArnNotEquals["aws:PrincipalArn"] if s.Sid == "DenyOtherPublishers"]) == ["arn:aws:iam::123456789012:role/ecomexpress-order-api-task", "arn:aws:iam::123456789012:role/ecomexpress-relay-task"]
    )
    error_message = "The order topic's policy must let exactly the API and relay task roles publish."
  }

  assert {
    condition = length(distinct([
      module.relay.task_role_arn, module.relay.execution_role_arn, module.api.task_role_arn, module.api.execution_role_arn,
    ])) == 4
    error_message = "The relay needs task and execution roles of its own (not the API's)."
  }
}

run "worker_task_roles_least_privilege" {
  command = plan

  # The exact actions, statement by statement. GetQueueAttributes appears four
  # times: the worker's startup check reads the attributes of its queue and of
  # its DLQ, in both lanes (the express lane, issue 23, with the same actions).
  assert {
    condition = alltrue([
      for role, m in module.worker : jsonencode({ for s in jsondecode(m.task_policy).Statement : s.Sid => sort(flatten([s.Action])) }) == jsonencode({
        ConsumeOwnQueue                = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
        DeadLetterToOwnDlq             = ["sqs:GetQueueAttributes", "sqs:SendMessage"]
        ConsumeOwnExpressQueue         = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
        DeadLetterToOwnExpressDlq      = ["sqs:GetQueueAttributes", "sqs:SendMessage"]
        UpdateOrders                   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        DecryptAndEncryptQueueMessages = ["kms:Decrypt", "kms:GenerateDataKey"]
        UseTheDataKeyThroughDynamoDB   = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
      })
    ])
    error_message = "Worker task roles may only consume their queue and express queue, read their DLQs' attributes and send to them, get/update table items and use the data key (exact actions per statement)."
  }

  assert {
    condition = alltrue([
      for role, m in module.worker : sort(flatten([for s in jsondecode(m.task_policy).Statement : s.Action])) == tolist([
        "dynamodb:GetItem", "dynamodb:UpdateItem",
        "kms:CreateGrant", "kms:Decrypt", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:ReEncrypt*",
        "sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:DeleteMessage",
        "sqs:GetQueueAttributes", "sqs:GetQueueAttributes", "sqs:GetQueueAttributes", "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage", "sqs:ReceiveMessage", "sqs:SendMessage", "sqs:SendMessage",
      ])
    ])
    error_message = "Worker task roles: no action beyond the listed ones."
  }

  assert {
    condition = alltrue([
      for role, m in module.worker : sort([
        for s in jsondecode(m.task_policy).Statement : s.Resource if contains(flatten([s.Action]), "sqs:GetQueueAttributes")
      ]) == sort([module.messaging.queue_arns[role], module.messaging.dlq_arns[role], module.messaging.express_queue_arns[role], module.messaging.express_dlq_arns[role]])
    ])
    error_message = "sqs:GetQueueAttributes must be allowed on exactly the worker's own queue, its own DLQ, its own express queue and its own express DLQ (the startup check reads them)."
  }

  assert {
    condition = alltrue(flatten([
      for role, m in module.worker : [
        for action in ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"] : [
          for s in jsondecode(m.task_policy).Statement : s.Resource if contains(flatten([s.Action]), action)
        ] == [module.messaging.queue_arns[role], module.messaging.express_queue_arns[role]]
      ]
    ]))
    error_message = "Receive/Delete/ChangeMessageVisibility must be allowed on the worker's own queue and own express queue only (never on a DLQ)."
  }

  assert {
    condition     = alltrue([for role, m in module.worker : !strcontains(m.task_policy, "delivery-dlq")])
    error_message = "Workers must not touch the SNS subscription DLQs (operators inspect those)."
  }

  assert {
    condition = alltrue([
      for role, m in module.worker : [
        for s in jsondecode(m.task_policy).Statement : s.Resource if contains(flatten([s.Action]), "sqs:SendMessage")
      ] == [module.messaging.dlq_arns[role], module.messaging.express_dlq_arns[role]]
    ])
    error_message = "sqs:SendMessage must be allowed on the worker's own DLQ and own express DLQ only."
  }

  assert {
    condition     = !strcontains(module.worker["procesamiento"].task_policy, "logistica") && !strcontains(module.worker["logistica"].task_policy, "procesamiento")
    error_message = "A worker's policy must not mention the other role's queue or DLQ."
  }

  assert {
    condition = alltrue(flatten([
      for role, m in module.worker : [
        for s in jsondecode(m.task_policy).Statement : s.Effect == "Allow" && !can(tolist(s.Resource)) && s.Resource != "*"
      ]
    ]))
    error_message = "Every worker statement must allow exactly one resource ARN (no lists, no *)."
  }

  assert {
    condition = alltrue([
      for role, m in module.worker : one([
        for s in jsondecode(m.task_policy).Statement : s.Condition if s.Sid == "DecryptAndEncryptQueueMessages"
      ]) == { StringEquals = { "kms:ViaService" = "sqs.us-east-1.amazonaws.com" } }
    ])
    error_message = "Workers may use the data key only through SQS."
  }
}

# The orders table is encrypted with the data key and DynamoDB uses it on the
# caller's behalf: every role that reads or writes the table needs AWS's
# documented DynamoDB statement (kms:ViaService dynamodb.<region>, kms:CallerAccount).
run "every_table_role_uses_the_data_key_through_dynamodb" {
  command = plan

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) : one([
        for s in jsondecode(m.task_policy).Statement : s if s.Sid == "UseTheDataKeyThroughDynamoDB"
        ]) == {
        Sid      = "UseTheDataKeyThroughDynamoDB"
        Effect   = "Allow"
        Action   = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
        Resource = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
        Condition = { StringEquals = {
          "kms:CallerAccount" = "123456789012"
          "kms:ViaService"    = "dynamodb.us-east-1.amazonaws.com"
        } }
      }
    ])
    error_message = "The API, the relay and both workers read or write the table: each task role must carry UseTheDataKeyThroughDynamoDB (the data key through dynamodb.us-east-1.amazonaws.com, this account only)."
  }
}

# The Beanstalk root's API and relay instance roles publish too, once listed.
run "beanstalk_topic_publishers" {
  command = plan

  variables {
    beanstalk_topic_publishers = true
  }

  assert {
    condition = (
      one([for s in jsondecode(module.messaging.topic_policy).Statement : s.Principal.AWS if s.Sid == "AllowPublishers"]) == [
        "arn:aws:iam::123456789012:role/ecomexpress-order-api-task", "arn:aws:iam::123456789012:role/ecomexpress-relay-task",
        "arn:aws:iam::123456789012:role/ecomexpress-eb-api", "arn:aws:iam::123456789012:role/ecomexpress-eb-relay",
      ] &&
      one([for s in jsondecode(module.messaging.topic_policy).Statement : s.Condition.ArnNotEquals["aws:PrincipalArn"] if s.Sid == "DenyOtherPublishers"]) == [
        "arn:aws:iam::123456789012:role/ecomexpress-order-api-task", "arn:aws:iam::123456789012:role/ecomexpress-relay-task",
        "arn:aws:iam::123456789012:role/ecomexpress-eb-api", "arn:aws:iam::123456789012:role/ecomexpress-eb-relay",
      ]
    )
    error_message = "With beanstalk_topic_publishers, the topic must let the Beanstalk API and relay instance roles publish as well (and deny everyone else)."
  }
}

run "execution_roles_and_trust" {
  command = plan

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) : [
        for s in jsondecode(m.execution_policy).Statement : s.Action if s.Resource == "*"
      ] == ["ecr:GetAuthorizationToken"]
    ])
    error_message = "The only Resource \"*\" allowed in execution roles is ecr:GetAuthorizationToken (no resource-level permissions exist for it)."
  }

  assert {
    condition = one([
      for s in jsondecode(module.api.execution_policy).Statement : s.Resource if contains(flatten([s.Action]), "ecr:BatchGetImage")
    ]) == "arn:aws:ecr:us-east-1:123456789012:repository/ecomexpress/order-api"
    error_message = "The API execution role may pull from the order-api repository only."
  }

  assert {
    condition = alltrue([
      for role, m in module.worker : one([
        for s in jsondecode(m.execution_policy).Statement : s.Resource if contains(flatten([s.Action]), "ecr:BatchGetImage")
      ]) == "arn:aws:ecr:us-east-1:123456789012:repository/ecomexpress/sqs-worker"
    ])
    error_message = "Worker execution roles may pull from the sqs-worker repository only."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) : one([
        for s in jsondecode(m.execution_policy).Statement : s.Resource if contains(flatten([s.Action]), "logs:PutLogEvents")
      ]) == "${m.log_group_arn}:log-stream:*"
    ])
    error_message = "Execution roles may only write to their own log group."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      jsondecode(m.assume_role_policy).Statement[0].Principal == { Service = "ecs-tasks.amazonaws.com" } &&
      jsondecode(m.assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    ])
    error_message = "Task and execution roles must trust only ECS tasks of this account."
  }

  assert {
    condition = length(distinct(concat(
      [module.api.task_role_arn, module.api.execution_role_arn],
      [for m in values(module.worker) : m.task_role_arn],
      [for m in values(module.worker) : m.execution_role_arn],
    ))) == 6
    error_message = "Each service needs its own execution role and task role (6 distinct roles)."
  }
}

################################################################################
# KMS
################################################################################

run "kms_keys_and_policies" {
  command = plan

  assert {
    condition     = module.kms_data.rotation_enabled && module.kms_platform.rotation_enabled
    error_message = "Both customer-managed keys must rotate."
  }

  assert {
    condition = jsondecode(module.kms_data.policy).Statement[0] == {
      Sid       = "EnableAccountRootAdministration"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::123456789012:root" }
      Action    = "kms:*"
      Resource  = "*"
    }
    error_message = "The data key policy must start with the account-root administration statement."
  }

  assert {
    condition = one([
      for s in jsondecode(module.kms_data.policy).Statement : s if s.Principal == { Service = ["sns.amazonaws.com"] }
      ]) == {
      Sid       = "AllowOrderTopicDeliveryToQueues"
      Effect    = "Allow"
      Principal = { Service = ["sns.amazonaws.com"] }
      Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
      Resource  = "*"
      Condition = { ArnEquals = { "aws:SourceArn" = ["arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"] } }
    }
    error_message = "sns.amazonaws.com may use the data key only for deliveries from the order topic (aws:SourceArn)."
  }

  # The subscription DLQs keep what the data key refuses, so they must not
  # depend on it (SSE-SQS); every other queue uses the data key.
  assert {
    condition = (
      length(module.messaging.queue_encryption) == 10 &&
      alltrue([
        for name, e in module.messaging.queue_encryption :
        contains(values(module.messaging.delivery_dlq_names), name) ? e.kms_master_key_id == null : e.kms_master_key_id == module.kms_data.key_arn
      ])
    )
    error_message = "Queues and DLQs must use the data key; the subscription DLQs SSE-SQS, so a delivery refused by the data key is still kept."
  }

  # No role is named in the data key's policy: the account-root statement
  # delegates to IAM, and each role's own policy grants the key's use through
  # SNS, SQS or DynamoDB (run "every_table_role_uses_the_data_key_through_dynamodb").
  assert {
    condition = alltrue([
      for st in jsondecode(module.kms_data.policy).Statement :
      try(st.Principal.Service, null) != null || try(st.Principal.AWS, null) == "arn:aws:iam::123456789012:root"
    ])
    error_message = "The data key's policy may name no IAM role (account root only): role ids baked into a key break on a role's re-creation and duplicate what IAM grants."
  }

  assert {
    condition     = !strcontains(module.kms_data.policy, "\"AWS\":\"*\"") && !strcontains(module.kms_platform.policy, "\"AWS\":\"*\"") && !strcontains(module.kms_data.policy, "\"Principal\":\"*\"")
    error_message = "No key policy may grant a wildcard principal."
  }

  assert {
    condition = one([
      for s in jsondecode(module.kms_platform.policy).Statement : s.Condition
      if s.Principal == { Service = ["logs.us-east-1.amazonaws.com"] }
      ]) == {
      ArnLike = { "kms:EncryptionContext:aws:logs:arn" = ["arn:aws:logs:us-east-1:123456789012:log-group:/ecs/ecomexpress/*"] }
    }
    error_message = "CloudWatch Logs may use the platform key only for this stack's log groups (encryption-context condition)."
  }

  assert {
    condition     = length([for s in jsondecode(module.kms_platform.policy).Statement : s if s.Principal == { Service = ["cloudwatch.amazonaws.com"] }]) == 1
    error_message = "CloudWatch alarms must be able to publish to the encrypted ops topic."
  }

  assert {
    condition     = module.kms_data.key_arn != module.kms_platform.key_arn
    error_message = "Order data and platform logs/images use separate keys."
  }
}

################################################################################
# Encryption at rest
################################################################################

run "encryption_at_rest" {
  command = plan

  assert {
    condition = alltrue([
      for k, m in module.ecr :
      m.settings.encryption_type == "KMS" && m.settings.kms_key == module.kms_platform.key_arn &&
      m.settings.image_tag_mutability == "IMMUTABLE" && m.settings.scan_on_push == true
    ])
    error_message = "ECR repositories: KMS with the platform key, immutable tags, scan on push."
  }

  assert {
    condition = alltrue([
      for k, m in module.ecr : jsondecode(m.lifecycle_policy).rules == [
        {
          rulePriority = 1
          description  = "Expire untagged images after 7 days"
          selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 7 }
          action       = { type = "expire" }
        },
        {
          rulePriority = 2
          description  = "Expire development images (dev-*) after 14 days"
          selection    = { tagStatus = "tagged", tagPrefixList = ["dev-"], countType = "sinceImagePushed", countUnit = "days", countNumber = 14 }
          action       = { type = "expire" }
        },
      ]
    ])
    error_message = "ECR lifecycle policy: untagged images expire after 7 days, dev- images after 14; no rule may select release tags (no tagStatus any, no other prefix)."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      m.settings.log_group_kms_key_id == module.kms_platform.key_arn && m.settings.log_retention_days == 365
    ])
    error_message = "Every log group must be KMS-encrypted with the platform key and keep logs 365 days."
  }

  assert {
    condition     = module.alb.settings.bucket_sse_algorithm == "AES256"
    error_message = "The access-log bucket must have default encryption (SSE-S3, the only kind ALB log delivery supports)."
  }

  assert {
    condition     = alltrue(values(module.alb.settings.bucket_public_access_block))
    error_message = "The access-log bucket must block all public access."
  }

  assert {
    condition     = module.alarms.topic_kms_key_id == module.kms_platform.key_arn
    error_message = "The ops alarm topic must be encrypted with the platform key."
  }

  assert {
    condition     = startswith(module.kms_data.key_arn, "arn:aws:kms:") && output.kms_key_arns.data == module.kms_data.key_arn
    error_message = "The messaging module (topic, queues, DLQs, table) receives the data key."
  }
}

################################################################################
# Containers
################################################################################

run "containers_hardened" {
  command = plan

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      jsondecode(m.container_definitions)[0].user == "65532:65532" &&
      jsondecode(m.container_definitions)[0].readonlyRootFilesystem == true &&
      jsondecode(m.container_definitions)[0].privileged == false &&
      jsondecode(m.container_definitions)[0].essential == true
    ])
    error_message = "Containers must run as 65532:65532 with a read-only root filesystem and without privileges."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      jsondecode(m.container_definitions)[0].linuxParameters == { initProcessEnabled = true, capabilities = { add = [], drop = ["ALL"] } }
    ])
    error_message = "Containers must drop ALL capabilities and run an init process."
  }

  assert {
    condition     = jsondecode(module.api.container_definitions)[0].healthCheck.command == ["CMD", "/usr/local/bin/order-api", "healthcheck"]
    error_message = "The API container health check must call the binary's own probe."
  }

  assert {
    condition     = alltrue([for role, m in module.worker : jsondecode(m.container_definitions)[0].healthCheck.command == ["CMD", "/usr/local/bin/sqs-worker", "healthcheck"]])
    error_message = "The worker container health check must call the binary's own probe."
  }

  # Liveness everywhere: the `healthcheck` subcommand probes /health/live on
  # PORT / HEALTH_PORT (crates/shared/src/process.rs), the target group checks
  # /health/live on the same port 8080. Nothing takes a task out of service
  # because SNS or DynamoDB (/health/ready) is briefly unreachable.
  assert {
    condition = (
      module.alb.settings.target_group.health_check_path == "/health/live" &&
      module.alb.settings.target_group.port == 8080 &&
      alltrue([
        for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
        jsondecode(m.container_definitions)[0].healthCheck.command[0] == "CMD" &&
        jsondecode(m.container_definitions)[0].healthCheck.command[2] == "healthcheck" &&
        length(jsondecode(m.container_definitions)[0].healthCheck.command) == 3 &&
        !strcontains(jsonencode(jsondecode(m.container_definitions)[0].healthCheck), "/health/ready") &&
        one([for e in jsondecode(m.container_definitions)[0].environment : e.value if contains(["PORT", "HEALTH_PORT"], e.name)]) == "8080"
      ])
    )
    error_message = "The target group and every container health check must use liveness (/health/live, via the binary's healthcheck subcommand on port 8080), never /health/ready."
  }

  assert {
    condition = alltrue([
      for role, m in module.worker :
      jsondecode(m.container_definitions)[0].stopTimeout == 30 &&
      jsondecode(m.container_definitions)[0].stopTimeout > tonumber(one([for e in jsondecode(m.container_definitions)[0].environment : e.value if e.name == "SHUTDOWN_GRACE_SECS"]))
    ])
    error_message = "The worker stopTimeout (30 s) must exceed SHUTDOWN_GRACE_SECS (25 s)."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      jsondecode(m.container_definitions)[0].logConfiguration.logDriver == "awslogs" &&
      jsondecode(m.container_definitions)[0].logConfiguration.options["awslogs-group"] == m.log_group_name &&
      jsondecode(m.container_definitions)[0].logConfiguration.options["awslogs-region"] == "us-east-1"
    ])
    error_message = "Every container must log with awslogs to its own log group."
  }

  assert {
    condition = (
      jsondecode(module.api.container_definitions)[0].image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/order-api:1.4.2" &&
      alltrue([for role, m in module.worker : jsondecode(m.container_definitions)[0].image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/sqs-worker:1.4.2"])
    )
    error_message = "Images must come from the stack's ECR repositories with the requested immutable tags."
  }

  assert {
    condition = { for e in jsondecode(module.api.container_definitions)[0].environment : e.name => e.value } == {
      AWS_REGION                  = "us-east-1"
      LOG_FORMAT                  = "json"
      ORDERS_TABLE                = "ecomexpress-pedidos"
      OTEL_EXPORTER_OTLP_ENDPOINT = "http://localhost:4318"
      OTEL_SERVICE_NAME           = "order-api"
      OTEL_TRACES_SAMPLER         = "parentbased_traceidratio"
      OTEL_TRACES_SAMPLER_ARG     = "0.05"
      PORT                        = "8080"
      SNS_TOPIC_ARN               = "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"
    }
    error_message = "API environment must be SNS_TOPIC_ARN, ORDERS_TABLE, AWS_REGION, PORT=8080, LOG_FORMAT=json and, for the collector sidecar, OTLP to localhost:4318 as order-api with 5 % parent-based sampling."
  }

  assert {
    condition = alltrue([
      for role, m in module.worker :
      { for e in jsondecode(m.container_definitions)[0].environment : e.name => e.value } == {
        AWS_REGION                  = "us-east-1"
        HEALTH_PORT                 = "8080"
        LOG_FORMAT                  = "json"
        ORDERS_TABLE                = "ecomexpress-pedidos"
        OTEL_EXPORTER_OTLP_ENDPOINT = "http://localhost:4318"
        OTEL_SERVICE_NAME           = "sqs-worker-${role}"
        OTEL_TRACES_SAMPLER         = "parentbased_traceidratio"
        OTEL_TRACES_SAMPLER_ARG     = "0.05"
        SHUTDOWN_GRACE_SECS         = "25"
        SQS_DLQ_URL                 = module.messaging.dlq_urls[role]
        SQS_QUEUE_URL               = module.messaging.queue_urls[role]
        SQS_EXPRESS_DLQ_URL         = module.messaging.express_dlq_urls[role]
        SQS_EXPRESS_QUEUE_URL       = module.messaging.express_queue_urls[role]
        WORKER_ROLE                 = role
      }
    ])
    error_message = "Each worker must get its own role, queue and DLQ, its own express queue and express DLQ (SQS_EXPRESS_QUEUE_URL, SQS_EXPRESS_DLQ_URL), and export its traces to the sidecar as sqs-worker-<role>."
  }

  assert {
    condition = (
      jsondecode(module.api.container_definitions)[0].portMappings == [{ containerPort = 8080, hostPort = 8080, protocol = "tcp" }] &&
      jsondecode(module.relay.container_definitions)[0].portMappings == [] &&
      alltrue([for role, m in module.worker : jsondecode(m.container_definitions)[0].portMappings == []])
    )
    error_message = "Only the API exposes a port (8080); the relay and the workers take no inbound traffic."
  }

  # The relay is the order-api image (same tag as the API) with the `relay`
  # subcommand; its liveness probe is the binary's own, on PORT.
  assert {
    condition = (
      jsondecode(module.relay.container_definitions)[0].image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/order-api:1.4.2" &&
      jsondecode(module.relay.container_definitions)[0].command == ["relay"] &&
      !can(jsondecode(module.api.container_definitions)[0].command) &&
      jsondecode(module.relay.container_definitions)[0].healthCheck.command == ["CMD", "/usr/local/bin/order-api", "healthcheck"] &&
      jsondecode(module.relay.container_definitions)[0].stopTimeout > tonumber(one([for e in jsondecode(module.relay.container_definitions)[0].environment : e.value if e.name == "SHUTDOWN_GRACE_SECS"])) + 4
    )
    error_message = "The relay runs the order-api image's `relay` subcommand (the API keeps the image's default), with the binary's healthcheck, and a stopTimeout above its SHUTDOWN_GRACE_SECS + 4 s (the lease release and the health server after the grace)."
  }

  assert {
    condition = { for e in jsondecode(module.relay.container_definitions)[0].environment : e.name => e.value } == {
      AWS_REGION                  = "us-east-1"
      LOG_FORMAT                  = "json"
      ORDERS_TABLE                = "ecomexpress-pedidos"
      OTEL_EXPORTER_OTLP_ENDPOINT = "http://localhost:4318"
      OTEL_SERVICE_NAME           = "outbox-relay"
      OTEL_TRACES_SAMPLER         = "parentbased_traceidratio"
      OTEL_TRACES_SAMPLER_ARG     = "0.05"
      PORT                        = "8080"
      RELAY_POLL_SECS             = "2"
      RELAY_STALE_SECS            = "10"
      SHUTDOWN_GRACE_SECS         = "15"
      SNS_TOPIC_ARN               = "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"
    }
    error_message = "Relay environment: topic, table, region, PORT 8080 (health and metrics), JSON logs, RELAY_STALE_SECS 10, RELAY_POLL_SECS 2, SHUTDOWN_GRACE_SECS 15, and OTLP to the sidecar as outbox-relay."
  }
}

################################################################################
# Network and deployment
################################################################################

run "network_and_deployment" {
  command = plan

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      m.settings.assign_public_ip == false && m.settings.launch_type == "FARGATE" &&
      m.settings.subnets == toset(["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"])
    ])
    error_message = "Tasks run on Fargate in the private subnets without public IPs."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      m.settings.circuit_breaker_enable && m.settings.circuit_breaker_rollback && !m.settings.enable_execute_command
    ])
    error_message = "Every service needs the deployment circuit breaker with rollback (and no ECS Exec)."
  }

  assert {
    condition = (
      length(module.api.settings.ingress_rules) == 1 &&
      module.api.settings.ingress_rules[0].referenced_security_group_id == "sg-0bbbbbbbbbbbbbbb2" &&
      module.api.settings.ingress_rules[0].cidr_ipv4 == null &&
      module.api.settings.ingress_rules[0].ip_protocol == "tcp" &&
      module.api.settings.ingress_rules[0].from_port == 8080 &&
      module.api.settings.ingress_rules[0].to_port == 8080 &&
      module.api.settings.ingress_rules[0].description == "Container port 8080 from the load balancer security group only"
    )
    error_message = "API tasks accept only port 8080 from the ALB security group."
  }

  assert {
    condition     = alltrue([for role, m in module.worker : m.settings.ingress_rules == []])
    error_message = "Worker tasks have no ingress at all."
  }

  # The outbox relay: one task, not autoscaled, no load balancer, no ingress;
  # a deployment starts the new task before stopping the old one (they may
  # overlap: claims are conditional), so the relay is never absent.
  assert {
    condition = (
      module.relay.settings.autoscaled == false &&
      module.relay.settings.desired_count == 1 &&
      module.relay.settings.deployment_minimum_healthy_percent == 100 &&
      module.relay.settings.deployment_maximum_percent == 200 &&
      module.relay.settings.load_balancers == [] &&
      module.relay.settings.ingress_rules == []
    )
    error_message = "The relay service runs 1 task (min 100 % / max 200 % during deployments), without autoscaling, load balancer or ingress."
  }

  assert {
    condition = alltrue(flatten([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) : [
        for r in m.settings.egress_rules : r.ip_protocol == "tcp" && r.from_port == 443 && r.to_port == 443 && length(r.description) > 0
      ]
    ]))
    error_message = "Task egress is TCP 443 only, and every rule has a description."
  }

  assert {
    condition = (
      module.alb.settings.internal == true &&
      module.alb.settings.ingress_rules == [{
        cidr_ipv4   = "10.20.0.0/16"
        ip_protocol = "tcp"
        from_port   = 443
        to_port     = 443
        description = "HTTPS from 10.20.0.0/16 to the ALB listener"
      }]
    )
    error_message = "By default the ALB is internal and only the VPC CIDR reaches it, on 443 only."
  }

  assert {
    condition = (
      length(module.alb.settings.egress_rules) == 1 &&
      module.alb.settings.egress_rules[0].referenced_security_group_id == module.api.security_group_id &&
      module.alb.settings.egress_rules[0].cidr_ipv4 == null &&
      module.alb.settings.egress_rules[0].ip_protocol == "tcp" &&
      module.alb.settings.egress_rules[0].from_port == 8080 &&
      module.alb.settings.egress_rules[0].to_port == 8080 &&
      length(module.alb.settings.egress_rules[0].description) > 0
    )
    error_message = "The ALB may only reach the API tasks on 8080."
  }

  assert {
    condition     = module.api.settings.load_balancers == [{ target_group_arn = module.alb.target_group_arn, container_name = "ecomexpress-order-api", container_port = 8080 }]
    error_message = "The API service must register container port 8080 in the ALB target group."
  }
}

run "alb_https" {
  command = plan

  assert {
    condition = module.alb.settings.listener == {
      port            = 443
      protocol        = "HTTPS"
      ssl_policy      = "ELBSecurityPolicy-TLS13-1-2-2021-06"
      certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    }
    error_message = "The only listener is HTTPS 443 with the TLS 1.3 policy and the given certificate."
  }

  assert {
    condition     = module.alb.settings.drop_invalid_header_fields && module.alb.settings.deletion_protection
    error_message = "The ALB must drop invalid header fields and be deletion protected by default."
  }

  assert {
    condition = module.alb.settings.access_logs == {
      enabled = true
      prefix  = "alb"
      bucket  = "ecomexpress-alb-logs-123456789012-us-east-1"
    }
    error_message = "Access logs must go to the stack's bucket."
  }

  assert {
    condition = module.alb.settings.target_group == {
      target_type       = "ip"
      protocol          = "HTTP"
      port              = 8080
      health_check_path = "/health/live"
      health_matcher    = "200"
    }
    error_message = "Target group: type ip, port 8080, health check on the shallow liveness path /health/live expecting 200."
  }

  assert {
    condition = length([
      for s in jsondecode(module.alb.access_logs_bucket_policy).Statement : s
      if s.Effect == "Allow" && s.Action == "s3:PutObject" && s.Resource == "arn:aws:s3:::ecomexpress-alb-logs-123456789012-us-east-1/alb/AWSLogs/123456789012/*"
    ]) == 2
    error_message = "The bucket policy must let ELB log delivery (service principal and regional account) write under alb/AWSLogs/<account>/ only."
  }

  assert {
    condition = length([
      for s in jsondecode(module.alb.access_logs_bucket_policy).Statement : s
      if s.Effect == "Deny" && try(s.Condition, null) == { Bool = { "aws:SecureTransport" = "false" } }
    ]) == 1
    error_message = "The bucket policy must deny non-TLS access."
  }
}

################################################################################
# Alarms
################################################################################

# What no metric alarm sees reaches the ops topic through EventBridge: a
# failed (rolled back) ECS deployment of any service of the cluster, and the
# data key disabled, scheduled for deletion or deleted.
run "ops_events" {
  command = plan

  assert {
    condition = {
      for name, pattern in module.alarms.event_rules : name => jsondecode(pattern)
      } == {
      ecomexpress-ecs-deployment-failed = {
        source        = ["aws.ecs"]
        "detail-type" = ["ECS Deployment State Change"]
        resources     = [{ prefix = "arn:aws:ecs:us-east-1:123456789012:service/ecomexpress/" }]
        detail        = { eventName = ["SERVICE_DEPLOYMENT_FAILED"] }
      }
      ecomexpress-data-key-disabled = {
        source        = ["aws.kms"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["kms.amazonaws.com"]
          eventName   = ["DisableKey", "ScheduleKeyDeletion"]
          resources   = { ARN = ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"] }
        }
      }
      ecomexpress-data-key-deleted = {
        source        = ["aws.kms"]
        "detail-type" = ["KMS CMK Deletion"]
        resources     = ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"]
      }
    }
    error_message = "EventBridge must watch the cluster's deployments (SERVICE_DEPLOYMENT_FAILED) and the data key (DisableKey, ScheduleKeyDeletion, deletion)."
  }

  assert {
    condition     = length(module.alarms.event_targets) == 3 && alltrue([for name, arn in module.alarms.event_targets : arn == module.alarms.topic_arn])
    error_message = "Every EventBridge rule must target the ops topic."
  }

  # The topic admits this account's rules only; the platform key lets
  # EventBridge and CloudWatch encrypt into the topic for this account only.
  assert {
    condition = one([
      for st in jsondecode(module.alarms.topic_policy).Statement : st if st.Sid == "EventBridgeRulesOfThisAccount"
      ]) == {
      Sid       = "EventBridgeRulesOfThisAccount"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "SNS:Publish"
      Resource  = module.alarms.topic_arn
      Condition = {
        ArnLike      = { "aws:SourceArn" = "arn:aws:events:us-east-1:123456789012:rule/ecomexpress-*" }
        StringEquals = { "aws:SourceAccount" = "123456789012" }
      }
    }
    error_message = "The ops topic must let events.amazonaws.com publish for this stack's rules of this account only."
  }

  assert {
    condition = {
      for st in jsondecode(module.kms_platform.policy).Statement : st.Sid => try(st.Condition, null)
      if contains(["AllowCloudWatchAlarmsToOpsTopic", "AllowEventBridgeRulesToOpsTopic"], st.Sid)
      } == {
      AllowCloudWatchAlarmsToOpsTopic = { StringEquals = { "aws:SourceAccount" = ["123456789012"] } }
      AllowEventBridgeRulesToOpsTopic = null
    }
    error_message = "The platform key's statement for CloudWatch alarms must be limited to this account (aws:SourceAccount); EventBridge's must carry no aws:Source* condition (EventBridge sends none to KMS: the events would be dropped); the topic policy scopes EventBridge instead."
  }
}

run "alarms" {
  command = plan

  assert {
    condition     = length(module.alarms.alarms) == 21
    error_message = "Expected 21 alarms: 2 DLQ not empty, 2 subscription DLQ not empty, 2 oldest message age, 2 express DLQ not empty, 2 express oldest message age, SNS notifications failed, API 5xx rate, API unhealthy targets, ALB 5xx, API p99 latency, orders table throttles, outbox oldest pending age, 4 services below desired."
  }

  # The express lane (issue 23): its DLQ alarms on any message, its age on a
  # tighter threshold (120 s by default) than the standard queue's (600 s).
  assert {
    condition = alltrue([
      for role in ["procesamiento", "logistica"] :
      module.alarms.alarms["ecomexpress-${role}-express-dlq-not-empty"].dimensions == tomap({ QueueName = "ecomexpress-${role}-express-dlq" }) &&
      module.alarms.alarms["ecomexpress-${role}-express-dlq-not-empty"].metric_name == "ApproximateNumberOfMessagesVisible" &&
      module.alarms.alarms["ecomexpress-${role}-express-dlq-not-empty"].comparison_operator == "GreaterThanThreshold" &&
      module.alarms.alarms["ecomexpress-${role}-express-dlq-not-empty"].threshold == 0 &&
      module.alarms.alarms["ecomexpress-${role}-express-dlq-not-empty"].evaluation_periods == 1 &&
      module.alarms.alarms["ecomexpress-${role}-express-dlq-not-empty"].alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:ecomexpress-ops-alarms"])
    ])
    error_message = "Each express DLQ must alarm (to the ops topic) on its first visible message."
  }

  assert {
    condition = alltrue([
      for role in ["procesamiento", "logistica"] :
      module.alarms.alarms["ecomexpress-${role}-express-oldest-message-age"].dimensions == tomap({ QueueName = "ecomexpress-${role}-express" }) &&
      module.alarms.alarms["ecomexpress-${role}-express-oldest-message-age"].metric_name == "ApproximateAgeOfOldestMessage" &&
      module.alarms.alarms["ecomexpress-${role}-express-oldest-message-age"].threshold == 120 &&
      module.alarms.alarms["ecomexpress-${role}-express-oldest-message-age"].threshold < module.alarms.alarms["ecomexpress-${role}-oldest-message-age"].threshold &&
      module.alarms.alarms["ecomexpress-${role}-express-oldest-message-age"].alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:ecomexpress-ops-alarms"])
    ])
    error_message = "Each express queue must alarm on the age of its oldest message above express_queue_oldest_message_age_alarm_seconds (120 s), tighter than the standard queue's."
  }

  # The outbox: the relay's gauge of the oldest unpublished event, above
  # 60 s for 2 minutes; no datapoint is breaching (no relay reports).
  assert {
    condition = (
      module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].namespace == "EComExpress" &&
      module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].metric_name == "outbox_oldest_pending_age_seconds" &&
      module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].dimensions == tomap({ Role = "relay", Service = "outbox-relay" }) &&
      module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].statistic == "Maximum" &&
      module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].period == 60 &&
      module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].evaluation_periods == 2 &&
      module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].datapoints_to_alarm == 2 &&
      module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].comparison_operator == "GreaterThanThreshold" &&
      module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].threshold == 60 &&
      module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].treat_missing_data == "breaching" &&
      output.alarm_names.outbox_oldest_pending_age == "ecomexpress-outbox-oldest-pending-age"
    )
    error_message = "The outbox must alarm when outbox_oldest_pending_age_seconds (Role relay, Service outbox-relay) is above 60 s in 2 consecutive minutes, missing data breaching."
  }

  # What the alarm reads is what the relay's collector exports.
  assert {
    condition = contains([
      for d in yamldecode(one(jsondecode(module.relay.container_definitions)[1].environment).value).exporters.awsemf.metric_declarations :
      jsonencode(d.dimensions) if contains(d.metric_name_selectors, "^${module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].metric_name}$")
    ], jsonencode([keys(module.alarms.alarms["ecomexpress-outbox-oldest-pending-age"].dimensions)]))
    error_message = "The outbox alarm's metric and dimensions must be exported by the relay's collector."
  }

  assert {
    condition = (
      module.alarms.alarms["ecomexpress-relay-tasks-below-desired"].expressions == ["m2 - FILL(m1, 0)"] &&
      module.alarms.alarms["ecomexpress-relay-tasks-below-desired"].metrics["m1"].dimensions == tomap({ ClusterName = "ecomexpress", ServiceName = "ecomexpress-relay" })
    )
    error_message = "The relay service must alarm when it runs fewer tasks than desired."
  }

  assert {
    condition = (
      module.alarms.alarms["ecomexpress-api-elb-5xx"].namespace == "AWS/ApplicationELB" &&
      module.alarms.alarms["ecomexpress-api-elb-5xx"].metric_name == "HTTPCode_ELB_5XX_Count" &&
      module.alarms.alarms["ecomexpress-api-elb-5xx"].dimensions == tomap({ LoadBalancer = "app/ecomexpress-api/50dc6c495c0c9188" }) &&
      module.alarms.alarms["ecomexpress-api-elb-5xx"].statistic == "Sum" &&
      module.alarms.alarms["ecomexpress-api-elb-5xx"].period == 60 &&
      module.alarms.alarms["ecomexpress-api-elb-5xx"].evaluation_periods == 5 &&
      module.alarms.alarms["ecomexpress-api-elb-5xx"].datapoints_to_alarm == 3 &&
      module.alarms.alarms["ecomexpress-api-elb-5xx"].comparison_operator == "GreaterThanThreshold" &&
      module.alarms.alarms["ecomexpress-api-elb-5xx"].threshold == 0 &&
      module.alarms.alarms["ecomexpress-api-elb-5xx"].treat_missing_data == "notBreaching"
    )
    error_message = "The ALB's own 5xx (HTTPCode_ELB_5XX_Count of the load balancer) must alarm when present in 3 of 5 minutes; no datapoint means no error."
  }

  assert {
    condition = (
      module.alarms.alarms["ecomexpress-api-p99-latency"].metric_name == "TargetResponseTime" &&
      module.alarms.alarms["ecomexpress-api-p99-latency"].extended_statistic == "p99" &&
      module.alarms.alarms["ecomexpress-api-p99-latency"].statistic == null &&
      module.alarms.alarms["ecomexpress-api-p99-latency"].dimensions == tomap({
        LoadBalancer = "app/ecomexpress-api/50dc6c495c0c9188"
        TargetGroup  = "targetgroup/ecomexpress-api/73e2d6bc24d8a067"
      }) &&
      module.alarms.alarms["ecomexpress-api-p99-latency"].threshold == 1 &&
      module.alarms.alarms["ecomexpress-api-p99-latency"].comparison_operator == "GreaterThanThreshold" &&
      module.alarms.alarms["ecomexpress-api-p99-latency"].datapoints_to_alarm == 3 &&
      module.alarms.alarms["ecomexpress-api-p99-latency"].treat_missing_data == "notBreaching"
    )
    error_message = "The API must alarm on the p99 of TargetResponseTime above api_p99_latency_alarm_seconds (1 s) in 3 of 5 minutes; an idle API (no datapoint) is not slow."
  }

  assert {
    condition = (
      module.alarms.alarms["ecomexpress-orders-table-throttles"].expressions == ["FILL(m1, 0) + FILL(m2, 0)"] &&
      { for id, m in module.alarms.alarms["ecomexpress-orders-table-throttles"].metrics : id => "${m.namespace}/${m.metric_name}/${m.stat}" } == {
        m1 = "AWS/DynamoDB/ReadThrottleEvents/Sum"
        m2 = "AWS/DynamoDB/WriteThrottleEvents/Sum"
      } &&
      alltrue([for id, m in module.alarms.alarms["ecomexpress-orders-table-throttles"].metrics : m.dimensions == tomap({ TableName = "ecomexpress-pedidos" })]) &&
      module.alarms.alarms["ecomexpress-orders-table-throttles"].threshold == 0 &&
      module.alarms.alarms["ecomexpress-orders-table-throttles"].datapoints_to_alarm == 3 &&
      module.alarms.alarms["ecomexpress-orders-table-throttles"].treat_missing_data == "notBreaching"
    )
    error_message = "The orders table must alarm on read + write throttle events in 3 of 5 minutes (DynamoDB publishes them only when it throttles)."
  }

  assert {
    condition = (
      output.alarm_names.api_elb_5xx == "ecomexpress-api-elb-5xx" &&
      output.alarm_names.api_p99_latency == "ecomexpress-api-p99-latency" &&
      output.alarm_names.table_throttles == "ecomexpress-orders-table-throttles"
    )
    error_message = "alarm_names must list the ALB 5xx, p99 latency and table throttle alarms."
  }

  assert {
    condition = alltrue([
      for name, a in module.alarms.alarms :
      a.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:ecomexpress-ops-alarms"]) &&
      a.ok_actions == toset(["arn:aws:sns:us-east-1:123456789012:ecomexpress-ops-alarms"])
    ])
    error_message = "Every alarm must notify the ops topic (ALARM and OK)."
  }

  assert {
    condition = alltrue([
      for role in ["procesamiento", "logistica"] :
      module.alarms.alarms["ecomexpress-${role}-delivery-dlq-not-empty"].namespace == "AWS/SQS" &&
      module.alarms.alarms["ecomexpress-${role}-delivery-dlq-not-empty"].metric_name == "ApproximateNumberOfMessagesVisible" &&
      module.alarms.alarms["ecomexpress-${role}-delivery-dlq-not-empty"].dimensions == tomap({ QueueName = "ecomexpress-${role}-delivery-dlq" }) &&
      module.alarms.alarms["ecomexpress-${role}-delivery-dlq-not-empty"].statistic == "Maximum" &&
      module.alarms.alarms["ecomexpress-${role}-delivery-dlq-not-empty"].evaluation_periods == 1 &&
      module.alarms.alarms["ecomexpress-${role}-delivery-dlq-not-empty"].comparison_operator == "GreaterThanThreshold" &&
      module.alarms.alarms["ecomexpress-${role}-delivery-dlq-not-empty"].threshold == 0 &&
      module.alarms.alarms["ecomexpress-${role}-delivery-dlq-not-empty"].treat_missing_data == "notBreaching"
    ])
    error_message = "Each SNS subscription DLQ must alarm on its first visible message (like the DLQ alarms)."
  }

  assert {
    condition = (
      module.alarms.alarms["ecomexpress-sns-notifications-failed"].namespace == "AWS/SNS" &&
      module.alarms.alarms["ecomexpress-sns-notifications-failed"].metric_name == "NumberOfNotificationsFailed" &&
      module.alarms.alarms["ecomexpress-sns-notifications-failed"].dimensions == tomap({ TopicName = "ecomexpress-pedidos-eventos" }) &&
      module.alarms.alarms["ecomexpress-sns-notifications-failed"].statistic == "Sum" &&
      module.alarms.alarms["ecomexpress-sns-notifications-failed"].period == 300 &&
      module.alarms.alarms["ecomexpress-sns-notifications-failed"].evaluation_periods == 1 &&
      module.alarms.alarms["ecomexpress-sns-notifications-failed"].comparison_operator == "GreaterThanThreshold" &&
      module.alarms.alarms["ecomexpress-sns-notifications-failed"].threshold == 0 &&
      module.alarms.alarms["ecomexpress-sns-notifications-failed"].treat_missing_data == "notBreaching"
    )
    error_message = "The order topic must alarm when the Sum of NumberOfNotificationsFailed over 5 minutes is above 0 (missing data = not breaching)."
  }

  assert {
    condition = (
      output.alarm_names.delivery_dlq_not_empty == {
        logistica     = "ecomexpress-logistica-delivery-dlq-not-empty"
        procesamiento = "ecomexpress-procesamiento-delivery-dlq-not-empty"
      } &&
      output.alarm_names.sns_notifications_failed == "ecomexpress-sns-notifications-failed"
    )
    error_message = "alarm_names must list the subscription DLQ alarms and the SNS delivery-failure alarm."
  }

  assert {
    condition = alltrue([
      for role in ["procesamiento", "logistica"] :
      module.alarms.alarms["ecomexpress-${role}-dlq-not-empty"].metric_name == "ApproximateNumberOfMessagesVisible" &&
      module.alarms.alarms["ecomexpress-${role}-dlq-not-empty"].dimensions == tomap({ QueueName = "ecomexpress-${role}-dlq" }) &&
      module.alarms.alarms["ecomexpress-${role}-dlq-not-empty"].comparison_operator == "GreaterThanThreshold" &&
      module.alarms.alarms["ecomexpress-${role}-dlq-not-empty"].threshold == 0
    ])
    error_message = "Each DLQ must alarm as soon as it holds a visible message."
  }

  assert {
    condition = alltrue([
      for role in ["procesamiento", "logistica"] :
      module.alarms.alarms["ecomexpress-${role}-oldest-message-age"].metric_name == "ApproximateAgeOfOldestMessage" &&
      module.alarms.alarms["ecomexpress-${role}-oldest-message-age"].dimensions == tomap({ QueueName = "ecomexpress-${role}" }) &&
      module.alarms.alarms["ecomexpress-${role}-oldest-message-age"].threshold == 600
    ])
    error_message = "Each main queue must alarm when its oldest message is older than the threshold (600 s)."
  }

  assert {
    condition = (
      module.alarms.alarms["ecomexpress-api-5xx-rate"].expressions == ["IF(m2 > 0, 100 * FILL(m1, 0) / m2, 0)"] &&
      module.alarms.alarms["ecomexpress-api-5xx-rate"].metrics["m1"].metric_name == "HTTPCode_Target_5XX_Count" &&
      module.alarms.alarms["ecomexpress-api-5xx-rate"].metrics["m2"].metric_name == "RequestCount" &&
      module.alarms.alarms["ecomexpress-api-5xx-rate"].threshold == 5
    )
    error_message = "API 5xx rate must be metric math over HTTPCode_Target_5XX_Count / RequestCount, threshold 5 %."
  }

  assert {
    condition = (
      module.alarms.alarms["ecomexpress-api-unhealthy-targets"].metric_name == "UnHealthyHostCount" &&
      module.alarms.alarms["ecomexpress-api-unhealthy-targets"].threshold == 0 &&
      module.alarms.alarms["ecomexpress-api-unhealthy-targets"].dimensions == tomap({
        LoadBalancer = "app/ecomexpress-api/50dc6c495c0c9188"
        TargetGroup  = "targetgroup/ecomexpress-api/73e2d6bc24d8a067"
      })
    )
    error_message = "The API must alarm on any unhealthy target."
  }

  assert {
    condition = alltrue([
      for role in ["procesamiento", "logistica"] :
      module.alarms.alarms["ecomexpress-worker-${role}-tasks-below-desired"].expressions == ["m2 - FILL(m1, 0)"] &&
      { for id, m in module.alarms.alarms["ecomexpress-worker-${role}-tasks-below-desired"].metrics : id => "${m.namespace}/${m.metric_name}" } == {
        m1 = "ECS/ContainerInsights/RunningTaskCount"
        m2 = "ECS/ContainerInsights/DesiredTaskCount"
      } &&
      module.alarms.alarms["ecomexpress-worker-${role}-tasks-below-desired"].metrics["m1"].dimensions == tomap({ ClusterName = "ecomexpress", ServiceName = "ecomexpress-worker-${role}" })
    ])
    error_message = "Each worker service must alarm when RunningTaskCount < DesiredTaskCount (metric math)."
  }
}

################################################################################
# Worker autoscaling
################################################################################

run "worker_autoscaling_backlog_per_task" {
  command = plan

  assert {
    condition = alltrue([
      for role, m in module.worker_autoscaling :
      m.settings.min_capacity == 1 && m.settings.max_capacity == 10 && m.settings.target_value == 30000
    ])
    error_message = "Defaults: 1-10 tasks, target backlog per task = 60 s / 0.002 s (500 messages/s per task, measured) = 30000 messages."
  }

  assert {
    condition = alltrue([
      for role, m in module.worker_autoscaling :
      keys(m.settings.metrics) == ["e1", "m1", "m2", "m3"] &&
      { for id, q in m.settings.metrics : id => q.return_data } == { e1 = true, m1 = false, m2 = false, m3 = false } &&
      m.settings.metrics["m1"].namespace == "AWS/SQS" &&
      m.settings.metrics["m1"].metric_name == "ApproximateNumberOfMessagesVisible" &&
      m.settings.metrics["m1"].dimensions == { QueueName = "ecomexpress-${role}" } &&
      m.settings.metrics["m3"].namespace == "AWS/SQS" &&
      m.settings.metrics["m3"].metric_name == "ApproximateNumberOfMessagesVisible" &&
      m.settings.metrics["m3"].dimensions == { QueueName = "ecomexpress-${role}-express" } &&
      m.settings.metrics["m2"].namespace == "ECS/ContainerInsights" &&
      m.settings.metrics["m2"].metric_name == "RunningTaskCount" &&
      m.settings.metrics["m2"].dimensions == { ClusterName = "ecomexpress", ServiceName = "ecomexpress-worker-${role}" } &&
      m.settings.metrics["e1"].expression == "(FILL(m1, 0) + FILL(m3, 0)) / IF(FILL(m2, 0) > 0, FILL(m2, 0), 1)" &&
      m.settings.metrics["e1"].metric_name == null
    ])
    error_message = "Target tracking must track e1 = the SUM of the visible messages of the worker's standard (m1) and express (m3) queues, each 0 when missing, / running tasks of its service, guarded against division by zero."
  }

  assert {
    condition     = alltrue([for role, m in module.worker_autoscaling : m.settings.scale_from_zero == false && m.settings.scale_from_zero_alarm == null])
    error_message = "No scale-from-zero policy when min capacity is above 0."
  }
}

run "worker_scale_from_zero" {
  command = plan

  variables {
    worker_min_capacity               = 0
    worker_max_capacity               = 4
    worker_acceptable_latency_seconds = 30
    worker_avg_processing_seconds     = 0.5
  }

  assert {
    condition = alltrue([
      for role, m in module.worker_autoscaling :
      m.settings.min_capacity == 0 && m.settings.max_capacity == 4 && m.settings.target_value == 60
    ])
    error_message = "Capacity bounds and target (30 s / 0.5 s = 60) must follow the variables."
  }

  assert {
    condition = alltrue([
      for role, m in module.worker_autoscaling :
      m.settings.scale_from_zero_alarm.expression == "IF((FILL(m1, 0) + FILL(m3, 0)) > 0 AND FILL(m2, 0) == 0, 1, 0)" &&
      m.settings.scale_from_zero_alarm.threshold == 1 &&
      m.settings.scale_from_zero_alarm.comparison == "GreaterThanOrEqualToThreshold" &&
      m.settings.scale_from_zero_alarm.metrics == {
        m1 = "ApproximateNumberOfMessagesVisible"
        m2 = "DesiredTaskCount"
        m3 = "ApproximateNumberOfMessagesVisible"
        e1 = "IF((FILL(m1, 0) + FILL(m3, 0)) > 0 AND FILL(m2, 0) == 0, 1, 0)"
      } &&
      m.settings.scale_from_zero_alarm.queues == { m1 = "ecomexpress-${role}", m3 = "ecomexpress-${role}-express" } &&
      m.settings.scale_from_zero_alarm.policy_type == "StepScaling" &&
      m.settings.scale_from_zero_alarm.adjustment == "ExactCapacity"
    ])
    error_message = "With min capacity 0, an alarm on visible messages in either queue (standard m1, express m3) with no desired task must trigger a step policy setting 1 task."
  }
}

################################################################################
# Partner HTTPS endpoints and the high-value SMS (issue 23)
################################################################################

run "partners_and_sms" {
  command = plan

  variables {
    high_value_alert_sms = "+15555550123"
    partner_https_subscriptions = {
      courier = { endpoint = "https://hooks.courier.example/sns" }
      erp = {
        endpoint                = "https://erp.example/eventos"
        raw_message_delivery    = true
        delivery_policy         = { num_retries = 5, backoff_function = "linear" }
        max_receives_per_second = 10
      }
    }
  }

  assert {
    condition = (
      module.messaging.partner_dlq_names == { courier = "ecomexpress-partner-courier-dlq", erp = "ecomexpress-partner-erp-dlq" } &&
      keys(output.partner_subscriptions) == ["courier", "erp"]
    )
    error_message = "Each partner (a map of differently shaped objects, completed by the module's optional defaults) must get its subscription DLQ and appear in partner_subscriptions."
  }

  assert {
    condition = alltrue([
      for name in ["courier", "erp"] :
      module.alarms.alarms["ecomexpress-partner-${name}-dlq-not-empty"].dimensions == tomap({ QueueName = "ecomexpress-partner-${name}-dlq" }) &&
      module.alarms.alarms["ecomexpress-partner-${name}-dlq-not-empty"].metric_name == "ApproximateNumberOfMessagesVisible" &&
      module.alarms.alarms["ecomexpress-partner-${name}-dlq-not-empty"].comparison_operator == "GreaterThanThreshold" &&
      module.alarms.alarms["ecomexpress-partner-${name}-dlq-not-empty"].threshold == 0 &&
      module.alarms.alarms["ecomexpress-partner-${name}-dlq-not-empty"].alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:ecomexpress-ops-alarms"]) &&
      module.alarms.alarms["ecomexpress-partner-${name}-dlq-not-empty"].ok_actions == toset(["arn:aws:sns:us-east-1:123456789012:ecomexpress-ops-alarms"])
    ]) && length(module.alarms.alarms) == 23
    error_message = "Each partner's subscription DLQ must alarm to the ops topic on its first message (21 alarms + 2)."
  }

  assert {
    condition     = output.alarm_names.partner_dlq_not_empty == { courier = "ecomexpress-partner-courier-dlq-not-empty", erp = "ecomexpress-partner-erp-dlq-not-empty" }
    error_message = "alarm_names.partner_dlq_not_empty must name each partner's alarm."
  }

  assert {
    condition     = module.messaging.high_value_filter_policy == jsonencode({ eventType = ["PedidoCreado"], total = [{ numeric = [">=", 1000000] }] })
    error_message = "The SMS alert uses the module's one high-value filter policy (PedidoCreado, total >= 1000000 by default)."
  }

  # The workers never touch partner DLQs; SNS (the topic) is the only sender.
  assert {
    condition     = alltrue([for role, m in module.worker : !strcontains(m.task_policy, "partner")])
    error_message = "No worker may be granted anything on a partner DLQ."
  }
}

################################################################################
# Variants
################################################################################

run "internet_facing_with_allow_list" {
  command = plan

  variables {
    alb_internet_facing     = true
    alb_ingress_cidr_blocks = ["203.0.113.0/24", "198.51.100.10/32"]
  }

  assert {
    condition     = module.alb.settings.internal == false
    error_message = "alb_internet_facing = true must create an internet-facing ALB."
  }

  assert {
    condition     = sort([for r in module.alb.settings.ingress_rules : r.cidr_ipv4]) == tolist(["198.51.100.10/32", "203.0.113.0/24"]) && alltrue([for r in module.alb.settings.ingress_rules : r.from_port == 443 && r.to_port == 443])
    error_message = "Only the allow-listed CIDRs may reach the internet-facing ALB, on 443 only."
  }

  assert {
    condition     = alltrue([for name, m in merge({ api = module.api, relay = module.relay }, module.worker) : m.settings.assign_public_ip == false])
    error_message = "Tasks never get public IPs, even behind an internet-facing ALB."
  }
}

run "internet_facing_with_waf" {
  command = plan

  variables {
    alb_internet_facing     = true
    alb_ingress_cidr_blocks = ["0.0.0.0/0"]
    alb_waf_web_acl_arn     = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/ecomexpress-api/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
  }

  assert {
    condition     = module.alb.settings.waf_web_acl_arn == "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/ecomexpress-api/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
    error_message = "An open internet-facing ALB must be associated with the WAF web ACL."
  }

  assert {
    condition     = alltrue([for name, m in merge({ api = module.api, relay = module.relay }, module.worker) : alltrue([for r in m.settings.ingress_rules : r.cidr_ipv4 == null])])
    error_message = "No task may accept traffic from a CIDR (only from the ALB security group)."
  }
}

run "vpc_endpoints_only_egress" {
  command = plan

  variables {
    task_egress_cidr_blocks     = ["10.20.0.0/16"]
    task_egress_prefix_list_ids = ["pl-63a5400a", "pl-02cd2c6b"]
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      sort([for r in m.settings.egress_rules : coalesce(r.cidr_ipv4, r.prefix_list_id)]) == tolist(["10.20.0.0/16", "pl-02cd2c6b", "pl-63a5400a"])
    ])
    error_message = "Egress must follow task_egress_cidr_blocks and task_egress_prefix_list_ids."
  }
}

################################################################################
# Observability: collector sidecar (traces to X-Ray, metrics to CloudWatch EMF)
################################################################################

run "otel_sidecar" {
  command = plan

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      length(jsondecode(m.container_definitions)) == 2 &&
      jsondecode(m.container_definitions)[1].name == "otel-collector" &&
      jsondecode(m.container_definitions)[1].image == "public.ecr.aws/aws-observability/aws-otel-collector:v0.48.0@sha256:9b28046359054b414f4ba76056ba4e8cffda2d53fbcee06171d7eeecd71326c3" &&
      jsondecode(m.container_definitions)[1].essential == false
    ])
    error_message = "Every task definition needs the collector sidecar, from the pinned ADOT image, not essential (the service keeps serving if it stops)."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      jsondecode(m.container_definitions)[0].dependsOn == [{ containerName = "otel-collector", condition = "START" }]
    ])
    error_message = "The application may wait for the collector to start (it then stops first and its last spans are flushed), never for it to be healthy."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      jsondecode(m.container_definitions)[1].user == "65532:65532" &&
      jsondecode(m.container_definitions)[1].readonlyRootFilesystem == true &&
      jsondecode(m.container_definitions)[1].privileged == false &&
      jsondecode(m.container_definitions)[1].linuxParameters == { initProcessEnabled = true, capabilities = { add = [], drop = ["ALL"] } } &&
      jsondecode(m.container_definitions)[1].portMappings == []
    ])
    error_message = "The sidecar is hardened like the application: non-root, read-only root filesystem, no privileges or capabilities, no port mapping."
  }

  # Sizing: 64 CPU units, 128 MiB reserved, 256 MiB hard limit, counted in
  # the task's size and at most half of it (worker and relay tasks: 256 / 512).
  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      jsondecode(m.container_definitions)[1].cpu == 64 &&
      jsondecode(m.container_definitions)[1].memoryReservation == 128 &&
      jsondecode(m.container_definitions)[1].memory == 256 &&
      jsondecode(m.container_definitions)[1].memory * 2 <= lookup({ api = var.api_memory, relay = var.relay_memory }, name, var.worker_memory) &&
      jsondecode(m.container_definitions)[1].cpu * 2 <= lookup({ api = var.api_cpu, relay = var.relay_cpu }, name, var.worker_cpu)
    ])
    error_message = "The sidecar reserves 64 CPU units and 128 MiB with a 256 MiB hard limit, at most half of each task."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      jsondecode(m.container_definitions)[1].logConfiguration.logDriver == "awslogs" &&
      jsondecode(m.container_definitions)[1].logConfiguration.options["awslogs-group"] == m.log_group_name &&
      jsondecode(m.container_definitions)[1].logConfiguration.options["awslogs-stream-prefix"] == "ecs" &&
      jsondecode(m.container_definitions)[1].logConfiguration.options["mode"] == "non-blocking"
    ])
    error_message = "The sidecar logs with its own log configuration (awslogs, non-blocking) into the service's log group, in streams of its own (ecs/otel-collector/<task>)."
  }

  # The collector configuration as deployed (AOT_CONFIG_CONTENT).
  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      [for e in jsondecode(m.container_definitions)[1].environment : e.name] == ["AOT_CONFIG_CONTENT"] &&
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).receivers.otlp == { protocols = { http = { endpoint = "localhost:4318" } } }
    ])
    error_message = "The collector receives OTLP over HTTP on localhost:4318 only (no gRPC, nothing reachable from outside the task)."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).receivers.prometheus.config.global == { scrape_interval = name == "relay" ? "30s" : "60s", scrape_timeout = "10s" } &&
      length(yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).receivers.prometheus.config.scrape_configs) == 1 &&
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).receivers.prometheus.config.scrape_configs[0].metrics_path == "/metrics" &&
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).receivers.prometheus.config.scrape_configs[0].static_configs == [{
        targets = ["localhost:8080"]
        labels  = { Role = name, Service = lookup({ api = "order-api", relay = "outbox-relay" }, name, "sqs-worker-${name}") }
      }]
    ])
    error_message = "The collector scrapes the application's /metrics on localhost:8080 (PORT / HEALTH_PORT) every 60 s (the relay every 30 s: two samples per minute for its missing-data-breaching alarm), labelled with the service's Role and Service."
  }

  # Only the exported series are kept: the keep regex is anchored by
  # Prometheus and lists each declared metric.
  assert {
    condition = (
      yamldecode(one(jsondecode(module.api.container_definitions)[1].environment).value).receivers.prometheus.config.scrape_configs[0].metric_relabel_configs == [{
        source_labels = ["__name__"]
        action        = "keep"
        regex         = "order_api_http_requests_total(_bucket|_sum|_count)?|order_api_sns_publish_duration_seconds(_bucket|_sum|_count)?|order_api_sns_publish_failures_total(_bucket|_sum|_count)?"
      }]
    )
    error_message = "The API's scrape keeps only the request counter, the publish latency histogram and the publish failures."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).service.pipelines == {
        traces = {
          receivers  = ["otlp"]
          processors = ["memory_limiter", "resourcedetection", "batch/traces"]
          exporters  = ["awsxray"]
        }
        metrics = {
          receivers  = ["prometheus"]
          processors = ["memory_limiter", "resourcedetection", "cumulativetodelta", "batch/metrics"]
          exporters  = ["awsemf"]
        }
      } &&
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).processors.resourcedetection.detectors == ["ecs"] &&
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).processors.cumulativetodelta == { initial_value = "keep" } &&
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).processors.memory_limiter.limit_mib < 256 &&
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).exporters.awsxray == { region = "us-east-1", indexed_attributes = ["pedido_id", "role", "outcome", "event_type"] }
    ])
    error_message = "Traces: OTLP -> X-Ray; metrics: Prometheus -> cumulative-to-delta -> EMF; both batched, with ECS resource attributes, under a memory limit below the container's."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).exporters.awsemf.namespace == "EComExpress" &&
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).exporters.awsemf.log_group_name == m.metrics_log_group_name &&
      yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).exporters.awsemf.dimension_rollup_option == "NoDimensionRollup" &&
      !can(yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).exporters.awsemf.log_retention) &&
      !can(yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).exporters.awsemf.tags)
    ])
    error_message = "EMF metrics go to the EComExpress namespace through the service's own metrics log group, without roll-ups; no log_retention or tags, which would make the exporter change the group."
  }

  assert {
    condition = {
      for d in yamldecode(one(jsondecode(module.api.container_definitions)[1].environment).value).exporters.awsemf.metric_declarations :
      one(d.metric_name_selectors) => d.dimensions
      } == {
      "^order_api_http_requests_total$"          = [["Role", "Service", "method", "route", "status"]]
      "^order_api_sns_publish_duration_seconds$" = [["Role", "Service"]]
      "^order_api_sns_publish_failures_total$"   = [["Role", "Service"], ["Role", "Service", "kind"]]
    }
    error_message = "API metrics: requests by method, route and status; publish latency; publish failures (total and by kind); all with Role and Service."
  }

  assert {
    condition = alltrue([
      for role, m in module.worker : {
        for d in yamldecode(one(jsondecode(m.container_definitions)[1].environment).value).exporters.awsemf.metric_declarations :
        one(d.metric_name_selectors) => d.dimensions
        } == {
        "^sqs_worker_messages_dead_lettered_total$" = [["Role", "Service"], ["Role", "Service", "name"]]
        "^sqs_worker_messages_duplicate_total$"     = [["Role", "Service"]]
        "^sqs_worker_messages_processed_total$"     = [["Role", "Service"]]
        "^sqs_worker_messages_retried_total$"       = [["Role", "Service"]]
      }
    ])
    error_message = "Worker metrics: applied, duplicate, retried and dead-lettered (total and by reason), with Role and Service."
  }

  assert {
    condition = {
      for d in yamldecode(one(jsondecode(module.relay.container_definitions)[1].environment).value).exporters.awsemf.metric_declarations :
      one(d.metric_name_selectors) => d.dimensions
      } == {
      "^outbox_oldest_pending_age_seconds$"    = [["Role", "Service"]]
      "^outbox_relay_publish_failures_total$"  = [["Role", "Service"]]
      "^outbox_relay_published_total$"         = [["Role", "Service"]]
      "^outbox_relay_unreadable_events_total$" = [["Role", "Service"]]
    }
    error_message = "Relay metrics: the age of the oldest unpublished event (the alarm's), events published, publish failures and unreadable stored events, with Role and Service."
  }

  assert {
    condition = (
      output.metrics_log_group_names == {
        api           = "/ecs/ecomexpress/order-api/metrics"
        relay         = "/ecs/ecomexpress/relay/metrics"
        logistica     = "/ecs/ecomexpress/worker-logistica/metrics"
        procesamiento = "/ecs/ecomexpress/worker-procesamiento/metrics"
      } &&
      alltrue([
        for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
        m.settings.metrics_log_groups == [{ name = m.metrics_log_group_name, kms_key_id = module.kms_platform.key_arn, retention_days = 365 }]
      ])
    )
    error_message = "Each service gets its metrics log group under /ecs/<prefix>/ (covered by the platform key policy), KMS-encrypted with the platform key, 365 days like the container logs."
  }

  # Least privilege of the sidecar, on the task role, apart from the
  # application's own policy.
  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      jsonencode({ for s in jsondecode(m.otel_collector_policy).Statement : s.Sid => { Action = sort(flatten([s.Action])), Resource = s.Resource, Effect = s.Effect } }) == jsonencode({
        SendTracesToXRay = {
          Action   = ["xray:PutTraceSegments"]
          Resource = "*"
          Effect   = "Allow"
        }
        WriteEmfMetricsLogGroup = {
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${m.metrics_log_group_arn}:*"
          Effect   = "Allow"
        }
      })
    ])
    error_message = "The sidecar may only send to X-Ray (Resource * is required: X-Ray has no resource-level permissions) and write log streams of its own metrics log group."
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      m.metrics_log_group_arn == "arn:aws:logs:us-east-1:123456789012:log-group:${m.metrics_log_group_name}" &&
      !strcontains(m.otel_collector_policy, "CreateLogGroup") &&
      !strcontains(m.otel_collector_policy, "cloudwatch:") &&
      !strcontains(m.task_policy, "xray:") && !strcontains(m.task_policy, "logs:")
    ])
    error_message = "No logs:CreateLogGroup (Terraform creates the group), no cloudwatch:PutMetricData (EMF needs none), and nothing of the sidecar in the application's policy."
  }

  # The dashboard reads exactly what the collectors export: every custom
  # metric it graphs is declared, with the same dimension names, by the
  # collector of the service its Service dimension names.
  assert {
    condition = alltrue(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for row in try(w.properties.metrics, []) : contains(
          [
            for d in yamldecode(one(jsondecode(lookup({
              "order-api"                = module.api
              "outbox-relay"             = module.relay
              "sqs-worker-procesamiento" = module.worker["procesamiento"]
              "sqs-worker-logistica"     = module.worker["logistica"]
            }, row[5]).container_definitions)[1].environment).value).exporters.awsemf.metric_declarations :
            true if contains(d.metric_name_selectors, "^${row[1]}$") && contains([for ds in d.dimensions : jsonencode(ds)], jsonencode([row[2], row[4]]))
          ],
          true
        ) if can(tostring(row[0])) && row[0] == "EComExpress"
      ]
    ]))
    error_message = "A custom metric on the dashboard is not exported by the collector of its service with Role and Service dimensions."
  }

  # Both lanes of each role are on the dashboard: age, depth and DLQ.
  assert {
    condition = alltrue([
      for name in concat(values(module.messaging.express_queue_names), values(module.messaging.express_dlq_names)) :
      contains(flatten([
        for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
          for row in try(w.properties.metrics, []) : try(tostring(row[3]), "")
        ]
      ]), name)
    ])
    error_message = "Every express queue and express DLQ must be graphed on the dashboard."
  }
}

run "otel_sidecar_disabled" {
  command = plan

  variables {
    enable_otel_sidecar = false
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      length(jsondecode(m.container_definitions)) == 1 &&
      !can(jsondecode(m.container_definitions)[0].dependsOn) &&
      length([for e in jsondecode(m.container_definitions)[0].environment : e if startswith(e.name, "OTEL_")]) == 0 &&
      m.otel_collector_policy == null && m.metrics_log_group_name == null && m.settings.metrics_log_groups == []
    ])
    error_message = "enable_otel_sidecar = false: no sidecar, no OTEL_* variables (the services export nothing), no collector policy, no metrics log group."
  }

  assert {
    condition     = output.metrics_log_group_names == {} && output.dashboard_name == "ecomexpress-pipeline"
    error_message = "Without the sidecar there is no metrics log group; the dashboard (AWS metrics) remains."
  }

  # No relay metric, so no outbox alarm: missing data is breaching, it would
  # stay in ALARM for good.
  assert {
    condition     = output.alarm_names.outbox_oldest_pending_age == null && length(module.alarms.alarms) == 20 && !contains(keys(module.alarms.alarms), "ecomexpress-outbox-oldest-pending-age")
    error_message = "Without the collector sidecars (no relay metrics) the outbox age alarm must not exist."
  }
}

run "otel_sampler_ratio" {
  command = plan

  variables {
    otel_traces_sampler_ratio = 1
    otel_collector_image      = "public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0@sha256:0000000000000000000000000000000000000000000000000000000000000000"
  }

  assert {
    condition = alltrue([
      for name, m in merge({ api = module.api, relay = module.relay }, module.worker) :
      one([for e in jsondecode(m.container_definitions)[0].environment : e.value if e.name == "OTEL_TRACES_SAMPLER_ARG"]) == "1" &&
      jsondecode(m.container_definitions)[1].image == "public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0@sha256:0000000000000000000000000000000000000000000000000000000000000000"
    ])
    error_message = "OTEL_TRACES_SAMPLER_ARG and the collector image tag must follow the variables."
  }
}

################################################################################
# Dashboard
################################################################################

run "dashboard" {
  command = plan

  assert {
    condition = (
      output.dashboard_name == "ecomexpress-pipeline" &&
      output.dashboard_url == "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/ecomexpress-pipeline" &&
      output.metrics_namespace == "EComExpress"
    )
    error_message = "The dashboard's name and console URL must be output."
  }

  # Orders accepted / refused: the request counter of POST /api/pedidos, one
  # line per status.
  assert {
    condition = contains(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for row in try(w.properties.metrics, []) : try(row[0].expression, "")
      ]
    ]), "SEARCH('{EComExpress,Role,Service,method,route,status} MetricName=\"order_api_http_requests_total\" Role=\"api\" method=\"POST\" route=\"/api/pedidos\"', 'Sum', 60)")
    error_message = "The dashboard must graph POST /api/pedidos by status (order_api_http_requests_total)."
  }

  assert {
    condition = alltrue([
      for want in [
        "EComExpress order_api_sns_publish_duration_seconds Role=api Service=order-api Average",
        "AWS/ApplicationELB TargetResponseTime LoadBalancer=app/ecomexpress-api/50dc6c495c0c9188 TargetGroup=targetgroup/ecomexpress-api/73e2d6bc24d8a067 p99",
        "AWS/ApplicationELB HTTPCode_ELB_5XX_Count LoadBalancer=app/ecomexpress-api/50dc6c495c0c9188 Sum",
        "AWS/ApplicationELB HTTPCode_Target_5XX_Count LoadBalancer=app/ecomexpress-api/50dc6c495c0c9188 TargetGroup=targetgroup/ecomexpress-api/73e2d6bc24d8a067 Sum",
        "AWS/DynamoDB ReadThrottleEvents TableName=ecomexpress-pedidos Sum",
        "AWS/DynamoDB WriteThrottleEvents TableName=ecomexpress-pedidos Sum",
        "AWS/SQS ApproximateAgeOfOldestMessage QueueName=ecomexpress-procesamiento Maximum",
        "AWS/SQS ApproximateAgeOfOldestMessage QueueName=ecomexpress-logistica Maximum",
        "AWS/SQS ApproximateNumberOfMessagesVisible QueueName=ecomexpress-procesamiento Maximum",
        "AWS/SQS ApproximateNumberOfMessagesVisible QueueName=ecomexpress-logistica Maximum",
        "AWS/SQS ApproximateNumberOfMessagesVisible QueueName=ecomexpress-procesamiento-dlq Maximum",
        "AWS/SQS ApproximateNumberOfMessagesVisible QueueName=ecomexpress-logistica-dlq Maximum",
        "EComExpress sqs_worker_messages_processed_total Role=procesamiento Service=sqs-worker-procesamiento Sum",
        "EComExpress sqs_worker_messages_duplicate_total Role=procesamiento Service=sqs-worker-procesamiento Sum",
        "EComExpress sqs_worker_messages_retried_total Role=procesamiento Service=sqs-worker-procesamiento Sum",
        "EComExpress sqs_worker_messages_dead_lettered_total Role=procesamiento Service=sqs-worker-procesamiento Sum",
        "EComExpress sqs_worker_messages_processed_total Role=logistica Service=sqs-worker-logistica Sum",
        "EComExpress sqs_worker_messages_duplicate_total Role=logistica Service=sqs-worker-logistica Sum",
        "EComExpress sqs_worker_messages_retried_total Role=logistica Service=sqs-worker-logistica Sum",
        "EComExpress sqs_worker_messages_dead_lettered_total Role=logistica Service=sqs-worker-logistica Sum",
        "EComExpress outbox_oldest_pending_age_seconds Role=relay Service=outbox-relay Maximum",
        "EComExpress outbox_relay_published_total Role=relay Service=outbox-relay Sum",
        "EComExpress outbox_relay_publish_failures_total Role=relay Service=outbox-relay Sum",
        "EComExpress outbox_relay_unreadable_events_total Role=relay Service=outbox-relay Sum",
      ] :
      contains(flatten([
        for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
          for row in try(w.properties.metrics, []) : join(" ", concat(
            [row[0], row[1]],
            [for i in range(2, length(row) - 1, 2) : "${row[i]}=${row[i + 1]}"],
            [try(row[length(row) - 1].stat, w.properties.stat)],
          )) if can(tostring(row[0]))
        ]
      ]), want)
    ])
    error_message = "The dashboard must graph publish latency, API p99 and 5xx from the ALB, DynamoDB throttles, queue age and depth and DLQ depth per role, each worker's applied / duplicate / retried / dead-lettered messages, and the outbox (oldest unpublished event, relay publishes and failures)."
  }

  assert {
    condition = contains(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for row in try(w.properties.metrics, []) : try(row[0].expression, "")
      ]
    ]), "SEARCH('{AWS/DynamoDB,Operation,TableName} MetricName=\"ThrottledRequests\" TableName=\"ecomexpress-pedidos\"', 'Sum', 60)")
    error_message = "The dashboard must graph ThrottledRequests of the orders table, per operation."
  }

  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets :
      try(w.properties.region == "us-east-1" && w.properties.period == 60, w.type == "text")
    ])
    error_message = "Every graph is in the stack's Region, per minute."
  }
}

################################################################################
# ALB: /metrics is internal
################################################################################

run "alb_blocks_metrics" {
  command = plan

  assert {
    condition = module.alb.settings.blocked_paths == [{
      priority      = 1
      path_patterns = ["/metrics", "/metrics/*"]
      action_type   = "fixed-response"
      status_code   = "404"
      content_type  = "application/json"
      message_body  = "{\"status\":404,\"title\":\"Not Found\",\"type\":\"about:blank\"}"
    }]
    error_message = "The HTTPS listener (the only one) must answer /metrics and /metrics/* itself with 404, ahead of the forward to the API."
  }

  assert {
    condition = alltrue([
      for p in ["/health/live", "/api/pedidos", "/api/*", "/*", "/openapi.json"] :
      !contains(module.alb.settings.blocked_paths[0].path_patterns, p)
    ])
    error_message = "Only /metrics is blocked: the health check and the API stay reachable."
  }
}

################################################################################
# API autoscaling
################################################################################

run "api_autoscaling" {
  command = plan

  assert {
    condition = module.api_autoscaling[0].settings == {
      resource_id            = "service/ecomexpress/ecomexpress-order-api"
      scalable_dimension     = "ecs:service:DesiredCount"
      min_capacity           = 2
      max_capacity           = 10
      policy_type            = "TargetTrackingScaling"
      target_value           = 9000
      scale_in_cooldown      = 300
      scale_out_cooldown     = 60
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "app/ecomexpress-api/50dc6c495c0c9188/targetgroup/ecomexpress-api/73e2d6bc24d8a067"
    }
    error_message = "The API scales between 2 and 10 tasks on ALBRequestCountPerTarget of its target group (label <lb suffix>/<tg suffix>), target 9000 requests per task per minute."
  }

  assert {
    condition     = module.api.settings.autoscaled && alltrue([for role, m in module.worker : m.settings.autoscaled])
    error_message = "Terraform must leave the services' desired count to Application Auto Scaling."
  }
}

run "api_autoscaling_variables" {
  command = plan

  variables {
    api_min_capacity             = 3
    api_max_capacity             = 30
    api_desired_count            = 4
    api_target_requests_per_task = 6000
  }

  assert {
    condition = (
      module.api_autoscaling[0].settings.min_capacity == 3 &&
      module.api_autoscaling[0].settings.max_capacity == 30 &&
      module.api_autoscaling[0].settings.target_value == 6000
    )
    error_message = "Capacity bounds and target must follow the variables."
  }
}

# The rehearsal on moto (scripts/rehearsal.sh, tools/rehearsal/bootstrap.py)
# turns it off: Application Auto Scaling targets never finish creating there.
run "api_autoscaling_off" {
  command = plan

  variables {
    enable_api_autoscaling = false
  }

  assert {
    condition     = length(module.api_autoscaling) == 0 && module.api.settings.autoscaled
    error_message = "enable_api_autoscaling = false must drop the scalable target and policy (the service keeps its initial count)."
  }
}

# The GitHub deployer may only create roles carrying infra/bootstrap's
# workload boundary: every role of the root must get it.
run "roles_carry_the_permissions_boundary" {
  command = plan

  variables {
    role_permissions_boundary_arn = "arn:aws:iam::123456789012:policy/ecomexpress-workload-boundary"
  }

  assert {
    condition = alltrue([
      for b in flatten([for m in concat([module.api, module.relay], values(module.worker)) : values(m.role_permissions_boundaries)]) :
      b == "arn:aws:iam::123456789012:policy/ecomexpress-workload-boundary"
    ]) && length(flatten([for m in concat([module.api, module.relay], values(module.worker)) : values(m.role_permissions_boundaries)])) == 2 * (2 + length(module.worker))
    error_message = "Every execution and task role must carry role_permissions_boundary_arn."
  }
}
