# The Beanstalk root, offline: the AWS provider is mocked and the production
# root's state (terraform_remote_state) is replaced by outputs shaped like
# infra/envs/aws/outputs.tf's. Checked: the API's load balancer is internal
# and HTTPS-only by default, the shutdown graces fit docker stop's 10 s (10 is
# rejected), each instance role carries exactly the production policy
# document of its service (so its KMS statements), the bundles name the
# production repositories, the relay runs as its own environment, and the
# topic's publisher pinning is enforced.

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
      # Publishers pinned to the ECS task roles and the Beanstalk API and relay roles.
      topic_policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"AllowPublishers\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:iam::123456789012:role/ecomexpress-order-api-task\"]},\"Action\":\"SNS:Publish\",\"Resource\":\"arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos\"},{\"Sid\":\"DenyOtherPublishers\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"SNS:Publish\",\"Resource\":\"arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos\",\"Condition\":{\"ArnNotEquals\":{\"aws:PrincipalArn\":[\"arn:aws:iam::123456789012:role/ecomexpress-order-api-task\",\"arn:aws:iam::123456789012:role/ecomexpress-relay-task\",\"arn:aws:iam::123456789012:role/ecomexpress-eb-api\",\"arn:aws:iam::123456789012:role/ecomexpress-eb-relay\"]}}}]}"
    }
  }
}

run "defaults_internal_https_only_api" {
  command = plan

  assert {
    condition     = one([for s in aws_elastic_beanstalk_environment.this["api"].setting : s.value if s.namespace == "aws:ec2:vpc" && s.name == "ELBScheme"]) == "internal"
    error_message = "The order-api load balancer must be internal by default (aws:ec2:vpc ELBScheme internal)."
  }

  assert {
    condition     = one([for s in aws_elastic_beanstalk_environment.this["api"].setting : s.value if s.namespace == "aws:elasticbeanstalk:environment" && s.name == "LoadBalancerType"]) == "application"
    error_message = "The order-api environment must use an application load balancer."
  }

  assert {
    condition     = one([for s in aws_elastic_beanstalk_environment.this["api"].setting : s.value if s.namespace == "aws:elbv2:listener:default" && s.name == "ListenerEnabled"]) == "false"
    error_message = "The HTTP listener (aws:elbv2:listener:default) must be disabled."
  }

  assert {
    condition = (
      one([for s in aws_elastic_beanstalk_environment.this["api"].setting : s.value if s.namespace == "aws:elbv2:listener:443" && s.name == "Protocol"]) == "HTTPS" &&
      one([for s in aws_elastic_beanstalk_environment.this["api"].setting : s.value if s.namespace == "aws:elbv2:listener:443" && s.name == "SSLCertificateArns"]) == var.certificate_arn &&
      one([for s in aws_elastic_beanstalk_environment.this["api"].setting : s.value if s.namespace == "aws:elbv2:listener:443" && s.name == "ListenerEnabled"]) == "true"
    )
    error_message = "The order-api load balancer must listen with HTTPS on 443 with certificate_arn."
  }

  assert {
    condition     = one([for s in aws_elastic_beanstalk_environment.this["api"].setting : s.value if s.namespace == "aws:elasticbeanstalk:environment:process:default" && s.name == "HealthCheckPath"]) == "/health/live"
    error_message = "The order-api health check path must be /health/live."
  }

  assert {
    condition = alltrue([
      for k in ["relay", "procesamiento", "logistica"] :
      one([for s in aws_elastic_beanstalk_environment.this[k].setting : s.value if s.namespace == "aws:elasticbeanstalk:environment" && s.name == "EnvironmentType"]) == "SingleInstance" &&
      length([for s in aws_elastic_beanstalk_environment.this[k].setting : s if startswith(s.namespace, "aws:elbv2") || s.name == "ELBScheme"]) == 0
    ])
    error_message = "The relay and the workers must be single-instance environments without a load balancer."
  }

  assert {
    condition     = one([for s in aws_elastic_beanstalk_environment.this["api"].setting : s.value if s.namespace == "aws:elasticbeanstalk:environment" && s.name == "EnvironmentType"]) == "LoadBalanced"
    error_message = "The order-api environment must be load balanced."
  }
}

run "outbox_relay_environment_runs_relay" {
  command = plan

  assert {
    condition     = jsondecode(output.bundles["relay"]).Command == "relay" && aws_elastic_beanstalk_environment.this["relay"].name == "ecomexpress-relay"
    error_message = "The outbox relay must run as its own environment with `order-api relay`: without it, orders accepted while SNS is down are never published."
  }

  assert {
    condition     = !can(jsondecode(output.bundles["api"]).Command) && !can(jsondecode(output.bundles["procesamiento"]).Command)
    error_message = "The API and worker bundles must run the image's default command."
  }
}

run "shutdown_grace_below_docker_stop_timeout" {
  command = plan

  assert {
    condition = alltrue([
      for k in ["procesamiento", "logistica"] :
      tonumber(one([for s in aws_elastic_beanstalk_environment.this[k].setting : s.value if s.namespace == "aws:elasticbeanstalk:application:environment" && s.name == "SHUTDOWN_GRACE_SECS"])) + 3 < 10
    ])
    error_message = "The workers' SHUTDOWN_GRACE_SECS must be passed explicitly and leave their exit (grace + 3 s) below docker stop's 10 s."
  }

  assert {
    condition     = tonumber(one([for s in aws_elastic_beanstalk_environment.this["relay"].setting : s.value if s.namespace == "aws:elasticbeanstalk:application:environment" && s.name == "SHUTDOWN_GRACE_SECS"])) + 4 < 10
    error_message = "The relay's SHUTDOWN_GRACE_SECS must be passed explicitly and leave its exit (grace + 4 s) below docker stop's 10 s."
  }
}

run "worker_grace_of_10_rejected" {
  command = plan
  variables {
    worker_shutdown_grace_seconds = 10
  }
  expect_failures = [var.worker_shutdown_grace_seconds]
}

run "worker_grace_of_7_rejected" {
  command = plan
  variables {
    worker_shutdown_grace_seconds = 7
  }
  expect_failures = [var.worker_shutdown_grace_seconds]
}

run "relay_grace_of_10_rejected" {
  command = plan
  variables {
    relay_shutdown_grace_seconds = 10
  }
  expect_failures = [var.relay_shutdown_grace_seconds]
}

run "instance_roles_carry_the_production_documents" {
  command = plan

  assert {
    condition = alltrue([
      for k in ["api", "relay", "procesamiento", "logistica"] :
      aws_iam_role_policy.app[k].policy == data.terraform_remote_state.production.outputs.task_policy_json[k]
    ])
    error_message = "Each instance role's app policy must be exactly the production root's task policy document of its service."
  }

  assert {
    condition = alltrue([
      for k in ["api", "relay", "procesamiento", "logistica"] :
      contains([for st in jsondecode(aws_iam_role_policy.app[k].policy).Statement : st.Sid], "UseTheDataKeyThroughDynamoDB")
    ])
    error_message = "Each instance role must carry the DynamoDB data-key (KMS via-service) statement."
  }

  assert {
    condition = alltrue([
      for k in ["api", "relay", "procesamiento", "logistica"] :
      aws_iam_role_policy_attachment.web_tier[k].policy_arn == "arn:aws:iam::aws:policy/AWSElasticBeanstalkWebTier"
    ])
    error_message = "Each instance role gets AWSElasticBeanstalkWebTier (and no other managed policy)."
  }
}

run "bundles_name_the_production_repositories" {
  command = plan

  assert {
    condition = (
      jsondecode(output.bundles["api"]).Image.Name == "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/order-api:1.4.2" &&
      jsondecode(output.bundles["relay"]).Image.Name == "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/order-api:1.4.2" &&
      jsondecode(output.bundles["procesamiento"]).Image.Name == "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/sqs-worker:1.4.3" &&
      jsondecode(output.bundles["logistica"]).Image.Name == "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecomexpress/sqs-worker:1.4.3"
    )
    error_message = "Each bundle must name its production repository URL with the image tag."
  }

  assert {
    condition     = output.version_labels["api"] == "order-api-1.4.2" && aws_elastic_beanstalk_application_version.this["logistica"].name == "sqs-worker-logistica-1.4.3"
    error_message = "Version labels are <bundle>-<tag>."
  }
}

run "environment_properties_are_the_task_definitions" {
  command = plan

  assert {
    condition = alltrue([
      for k, env in data.terraform_remote_state.production.outputs.service_environment : alltrue([
        for name, value in env :
        one([for s in aws_elastic_beanstalk_environment.this[k].setting : s.value if s.namespace == "aws:elasticbeanstalk:application:environment" && s.name == name]) == value
        if name != "SHUTDOWN_GRACE_SECS"
      ])
    ])
    error_message = "Every environment property of the ECS task definitions must be set with the same value (SHUTDOWN_GRACE_SECS excepted)."
  }

  # The express lane (issue 23): each Beanstalk worker drains its express
  # queue too, as its ECS task does.
  assert {
    condition = alltrue([
      for role in ["procesamiento", "logistica"] :
      one([for s in aws_elastic_beanstalk_environment.this[role].setting : s.value if s.namespace == "aws:elasticbeanstalk:application:environment" && s.name == "SQS_EXPRESS_QUEUE_URL"]) == "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-${role}-express" &&
      one([for s in aws_elastic_beanstalk_environment.this[role].setting : s.value if s.namespace == "aws:elasticbeanstalk:application:environment" && s.name == "SQS_EXPRESS_DLQ_URL"]) == "https://sqs.us-east-1.amazonaws.com/123456789012/ecomexpress-${role}-express-dlq"
    ])
    error_message = "Each Beanstalk worker environment must carry SQS_EXPRESS_QUEUE_URL and SQS_EXPRESS_DLQ_URL of its role."
  }
}

run "internet_facing_when_asked" {
  command = plan
  variables {
    lb_internet_facing = true
  }

  assert {
    condition     = one([for s in aws_elastic_beanstalk_environment.this["api"].setting : s.value if s.namespace == "aws:ec2:vpc" && s.name == "ELBScheme"]) == "public"
    error_message = "lb_internet_facing = true must make the load balancer public."
  }
}

# infra/bootstrap's workload boundary on the instance roles when given; the
# service role stays without (AWS's managed-updates policy needs more).
run "instance_roles_carry_the_permissions_boundary" {
  command = plan

  variables {
    role_permissions_boundary_arn = "arn:aws:iam::123456789012:policy/ecomexpress-workload-boundary"
  }

  assert {
    condition = length(aws_iam_role.instance) == 4 && alltrue([
      for r in values(aws_iam_role.instance) : r.permissions_boundary == "arn:aws:iam::123456789012:policy/ecomexpress-workload-boundary"
    ])
    error_message = "Every Beanstalk instance role must carry role_permissions_boundary_arn."
  }
}

run "rejects_a_boundary_that_is_not_a_policy_arn" {
  command = plan

  variables {
    role_permissions_boundary_arn = "ecomexpress-workload-boundary"
  }

  expect_failures = [var.role_permissions_boundary_arn]
}
