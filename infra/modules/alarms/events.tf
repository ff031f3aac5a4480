# EventBridge rules that tell the ops topic what no metric alarm sees: an ECS
# deployment that failed (the deployment circuit breaker stopped it and, with
# rollback on, returned the service to its last steady deployment), and the
# data key being disabled, scheduled for deletion or deleted (every encrypted
# queue, the topic and the orders table stop working with it).

locals {
  # Rule ARNs of this stack: the topic policy admits events.amazonaws.com for
  # these only (built from the name, so the policy does not depend on the rules).
  event_rule_arn_pattern = "arn:${var.partition}:events:${var.region}:${var.account_id}:rule/${var.name_prefix}-*"

  # ECS "Deployment State Change" events carry the service ARN in resources;
  # SERVICE_DEPLOYMENT_FAILED is the circuit breaker's verdict (with rollback
  # enabled it then rolls back). Every service of this stack's cluster.
  ecs_deployment_failed_pattern = {
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Deployment State Change"]
    resources     = [{ prefix = "arn:${var.partition}:ecs:${var.region}:${var.account_id}:service/${var.cluster_name}/" }]
    detail        = { eventName = ["SERVICE_DEPLOYMENT_FAILED"] }
  }

  # KMS emits no native event for DisableKey or ScheduleKeyDeletion: they
  # arrive as CloudTrail management events ("AWS API Call via CloudTrail",
  # which needs a trail logging management events in this region, see
  # infra/envs/aws/README.md); the key's ARN is in detail.resources. The
  # deletion itself, at the end of the waiting period, is KMS's own
  # "KMS CMK Deletion" event.
  # Patterns as JSON strings (the two differ in shape). Static keys: the key's
  # ARN is only known after apply, for_each keys must be known at plan.
  data_key_state_patterns = {
    data-key-disabled = jsonencode({
      source        = ["aws.kms"]
      "detail-type" = ["AWS API Call via CloudTrail"]
      detail = {
        eventSource = ["kms.amazonaws.com"]
        eventName   = ["DisableKey", "ScheduleKeyDeletion"]
        resources   = { ARN = [var.data_key_arn] }
      }
    })
    data-key-deleted = jsonencode({
      source        = ["aws.kms"]
      "detail-type" = ["KMS CMK Deletion"]
      resources     = [var.data_key_arn]
    })
  }
}

resource "aws_cloudwatch_event_rule" "ecs_deployment_failed" {
  name          = "${var.name_prefix}-ecs-deployment-failed"
  description   = "An ECS deployment of ${var.cluster_name} failed (deployment circuit breaker; rolled back when rollback is on)."
  event_pattern = jsonencode(local.ecs_deployment_failed_pattern)

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "ecs_deployment_failed" {
  rule      = aws_cloudwatch_event_rule.ecs_deployment_failed.name
  target_id = "ops-topic"
  arn       = aws_sns_topic.ops.arn

  input_transformer {
    input_paths = {
      service = "$.resources[0]"
      reason  = "$.detail.reason"
      time    = "$.time"
    }
    input_template = "\"ECS deployment failed at <time> for <service>: <reason>\""
  }
}

resource "aws_cloudwatch_event_rule" "data_key_state" {
  for_each = local.data_key_state_patterns

  name          = "${var.name_prefix}-${each.key}"
  description   = "The data key (${var.data_key_arn}) was disabled, scheduled for deletion or deleted: queues, topic and orders table stop working."
  event_pattern = each.value

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "data_key_state" {
  for_each = local.data_key_state_patterns

  rule      = aws_cloudwatch_event_rule.data_key_state[each.key].name
  target_id = "ops-topic"
  arn       = aws_sns_topic.ops.arn
}
