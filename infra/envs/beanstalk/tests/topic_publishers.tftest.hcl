# The topic's publisher pinning (modules/messaging: an explicit Deny for every
# principal not listed) must include the Beanstalk API and relay instance
# roles, or each of their publishes is refused: the environments' precondition
# fails the plan. Same mocks as beanstalk.tftest.hcl, with a topic policy
# that lists only the ECS task roles.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_elastic_beanstalk_solution_stack" {
    defaults = {
      name = "64bit Amazon Linux 2023 v4.5.0 running Docker"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/ecomexpress-eb-service"
    }
  }

  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::ecomexpress-eb-bundles-123456789012-us-east-1"
      id  = "ecomexpress-eb-bundles-123456789012-us-east-1"
    }
  }
}

variables {
  state_bucket        = "ecomexpress-tfstate-123456789012"
  state_key           = "envs/aws/terraform.tfstate"
  state_region        = "us-east-1"
  api_image_tag       = "1.4.2"
  worker_image_tag    = "1.4.3"
  vpc_id              = "vpc-0a1b2c3d4e5f60718"
  instance_subnet_ids = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]
  lb_subnet_ids       = ["subnet-0ccccccccccccccc3", "subnet-0ddddddddddddddd4"]
  certificate_arn     = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"

}

override_data {
  target = data.terraform_remote_state.production
  values = {
    outputs = {
      aws_region = "us-east-1"
      ecr_repositories = {
        order-api = {
          name = "ecomexpress/order-api"
          url  = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/order-api"
          arn  = "arn:aws:ecr:us-east-1:123456789012:repository/ecomexpress/order-api"
        }
        sqs-worker = {
          name = "ecomexpress/sqs-worker"
          url  = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/sqs-worker"
          arn  = "arn:aws:ecr:us-east-1:123456789012:repository/ecomexpress/sqs-worker"
        }
      }
      task_policy_json = {
        api           = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"PublishOrderEvents\",\"Effect\":\"Allow\",\"Action\":[\"sns:GetTopicAttributes\",\"sns:Publish\"],\"Resource\":\"arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos\"},{\"Sid\":\"UseTheDataKeyThroughDynamoDB\",\"Effect\":\"Allow\",\"Action\":[\"kms:CreateGrant\",\"kms:Decrypt\",\"kms:DescribeKey\",\"kms:Encrypt\",\"kms:GenerateDataKey*\",\"kms:ReEncrypt*\"],\"Resource\":\"arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000\",\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":\"123456789012\",\"kms:ViaService\":\"dynamodb.us-east-1.amazonaws.com\"}}}]}"
        relay         = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"PublishOrderEvents\",\"Effect\":\"Allow\",\"Action\":\"sns:Publish\",\"Resource\":\"arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos\"},{\"Sid\":\"UseTheDataKeyThroughDynamoDB\",\"Effect\":\"Allow\",\"Action\":[\"kms:CreateGrant\",\"kms:Decrypt\",\"kms:DescribeKey\",\"kms:Encrypt\",\"kms:GenerateDataKey*\",\"kms:ReEncrypt*\"],\"Resource\":\"arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000\",\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":\"123456789012\",\"kms:ViaService\":\"dynamodb.us-east-1.amazonaws.com\"}}}]}"
        procesamiento = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"ConsumeOwnQueue\",\"Effect\":\"Allow\",\"Action\":[\"sqs:ReceiveMessage\"],\"Resource\":\"arn:aws:sqs:us-east-1:123456789012:ecomexpress-procesamiento\"},{\"Sid\":\"UseTheDataKeyThroughDynamoDB\",\"Effect\":\"Allow\",\"Action\":[\"kms:CreateGrant\",\"kms:Decrypt\",\"kms:DescribeKey\",\"kms:Encrypt\",\"kms:GenerateDataKey*\",\"kms:ReEncrypt*\"],\"Resource\":\"arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000\",\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":\"123456789012\",\"kms:ViaService\":\"dynamodb.us-east-1.amazonaws.com\"}}}]}"
        logistica     = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"ConsumeOwnQueue\",\"Effect\":\"Allow\",\"Action\":[\"sqs:ReceiveMessage\"],\"Resource\":\"arn:aws:sqs:us-east-1:123456789012:ecomexpress-logistica\"},{\"Sid\":\"UseTheDataKeyThroughDynamoDB\",\"Effect\":\"Allow\",\"Action\":[\"kms:CreateGrant\",\"kms:Decrypt\",\"kms:DescribeKey\",\"kms:Encrypt\",\"kms:GenerateDataKey*\",\"kms:ReEncrypt*\"],\"Resource\":\"arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000\",\"Condition\":{\"StringEquals\":{\"kms:CallerAccount\":\"123456789012\",\"kms:ViaService\":\"dynamodb.us-east-1.amazonaws.com\"}}}]}"
      }
      service_environment = {
        api = {
          AWS_REGION    = "us-east-1"
          LOG_FORMAT    = "json"
          ORDERS_TABLE  = "ecomexpress-pedidos"
          PORT          = "8080"
          SNS_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"
        }
        relay = {
          AWS_REGION          = "us-east-1"
          LOG_FORMAT          = "json"
          ORDERS_TABLE        = "ecomexpress-pedidos"
          PORT                = "8080"
          RELAY_POLL_SECS     = "2"
          RELAY_STALE_SECS    = "10"
          SHUTDOWN_GRACE_SECS = "15"
          SNS_TOPIC_ARN       = "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"
        }
        procesamiento = {
          AWS_REGION            = "us-east-1"
          HEALTH_PORT           = "8080"
          LOG_FORMAT            = "json"
          ORDERS_TABLE          = "ecomexpress-pedidos"
          SHUTDOWN_GRACE_SECS   = "25"
          SQS_DLQ_URL           = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-dlq"
          SQS_QUEUE_URL         = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento"
          SQS_EXPRESS_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express"
          SQS_EXPRESS_DLQ_URL   = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-procesamiento-express-dlq"
          WORKER_ROLE           = "procesamiento"
        }
        logistica = {
          AWS_REGION            = "us-east-1"
          HEALTH_PORT           = "8080"
          LOG_FORMAT            = "json"
          ORDERS_TABLE          = "ecomexpress-pedidos"
          SHUTDOWN_GRACE_SECS   = "25"
          SQS_DLQ_URL           = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-dlq"
          SQS_QUEUE_URL         = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica"
          SQS_EXPRESS_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-express"
          SQS_EXPRESS_DLQ_URL   = "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-logistica-express-dlq"
          WORKER_ROLE           = "logistica"
        }
      }
      service_command = {
        api           = []
        relay         = ["relay"]
        procesamiento = []
        logistica     = []
      }
      # Pinned to the ECS task roles only: the Beanstalk API and relay would be denied.
      topic_policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"DenyOtherPublishers\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"SNS:Publish\",\"Resource\":\"arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos\",\"Condition\":{\"ArnNotEquals\":{\"aws:PrincipalArn\":[\"arn:aws:iam::123456789012:role/ecomexpress-order-api-task\",\"arn:aws:iam::123456789012:role/ecomexpress-relay-task\"]}}}]}"
    }
  }
}

run "topic_pinned_to_ecs_roles_only_fails_the_publishers" {
  command = plan

  expect_failures = [
    aws_elastic_beanstalk_environment.this["api"],
    aws_elastic_beanstalk_environment.this["relay"],
  ]
}
