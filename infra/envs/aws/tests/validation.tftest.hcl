# Invalid inputs are rejected at plan time with a clear message
# (`expect_failures` names the variable whose validation must fail).
# Offline: the AWS provider is mocked; the plans stop at variable validation.

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

  mock_data "aws_vpc" {
    defaults = {
      cidr_block = "10.20.0.0/16"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    }
  }

  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:123456789012:ecomexpress-pedidos-eventos"
    }
  }
}

# Two keys, two ARNs (modules/alarms refuses the ops topic's own key as the
# data key it watches).
override_resource {
  target          = module.kms_platform.aws_kms_key.this
  override_during = plan
  values = {
    arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
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

run "image_tag_latest_rejected" {
  command = plan
  variables {
    api_image_tag = "latest"
  }
  expect_failures = [var.api_image_tag]
}

# A development tag expires under the ECR lifecycle policy: a service must
# never run one.
run "image_tag_dev_rejected" {
  command = plan
  variables {
    worker_image_tag = "dev-3f2a9c1"
  }
  expect_failures = [var.worker_image_tag]
}

run "ecr_dev_tag_expiry_zero_rejected" {
  command = plan
  variables {
    ecr_dev_tag_expiry_days = 0
  }
  expect_failures = [var.ecr_dev_tag_expiry_days]
}

run "image_tag_invalid_characters_rejected" {
  command = plan
  variables {
    worker_image_tag = "v1 beta"
  }
  expect_failures = [var.worker_image_tag]
}

run "min_capacity_above_max_rejected" {
  command = plan
  variables {
    worker_min_capacity = 5
    worker_max_capacity = 2
  }
  expect_failures = [var.worker_max_capacity]
}

run "certificate_not_acm_rejected" {
  command = plan
  variables {
    certificate_arn = "arn:aws:iam::123456789012:server-certificate/ecomexpress"
  }
  expect_failures = [var.certificate_arn]
}

run "weak_tls_policy_rejected" {
  command = plan
  variables {
    alb_ssl_policy = "ELBSecurityPolicy-2016-08"
  }
  expect_failures = [var.alb_ssl_policy]
}

run "internet_facing_without_allow_list_rejected" {
  command = plan
  variables {
    alb_internet_facing = true
  }
  expect_failures = [var.alb_ingress_cidr_blocks]
}

run "open_to_the_internet_without_waf_rejected" {
  command = plan
  variables {
    alb_internet_facing     = true
    alb_ingress_cidr_blocks = ["0.0.0.0/0"]
  }
  expect_failures = [var.alb_ingress_cidr_blocks]
}

run "stop_timeout_not_above_shutdown_grace_rejected" {
  command = plan
  variables {
    worker_shutdown_grace_seconds  = 25
    container_stop_timeout_seconds = 25
  }
  expect_failures = [var.container_stop_timeout_seconds]
}

run "stop_timeout_above_fargate_limit_rejected" {
  command = plan
  variables {
    container_stop_timeout_seconds = 121
  }
  expect_failures = [var.container_stop_timeout_seconds]
}

run "invalid_fargate_memory_rejected" {
  command = plan
  variables {
    api_cpu    = 256
    api_memory = 4096
  }
  expect_failures = [var.api_memory]
}

run "single_alb_subnet_rejected" {
  command = plan
  variables {
    alb_subnet_ids = ["subnet-0ccccccccccccccc3"]
  }
  expect_failures = [var.alb_subnet_ids]
}

run "name_prefix_uppercase_rejected" {
  command = plan
  variables {
    name_prefix = "EcomExpress"
  }
  expect_failures = [var.name_prefix]
}

run "processing_slower_than_latency_rejected" {
  command = plan
  variables {
    worker_acceptable_latency_seconds = 5
    worker_avg_processing_seconds     = 10
  }
  expect_failures = [var.worker_avg_processing_seconds]
}

run "log_retention_not_a_cloudwatch_value_rejected" {
  command = plan
  variables {
    log_retention_days = 100
  }
  expect_failures = [var.log_retention_days]
}

run "vpc_id_malformed_rejected" {
  command = plan
  variables {
    vpc_id = "my-vpc"
  }
  expect_failures = [var.vpc_id]
}

run "waf_arn_malformed_rejected" {
  command = plan
  variables {
    alb_waf_web_acl_arn = "arn:aws:waf::123456789012:webacl/classic"
  }
  expect_failures = [var.alb_waf_web_acl_arn]
}

run "no_task_egress_rejected" {
  command = plan
  variables {
    task_egress_cidr_blocks     = []
    task_egress_prefix_list_ids = []
  }
  expect_failures = [var.task_egress_prefix_list_ids]
}

run "otel_sampler_ratio_above_one_rejected" {
  command = plan
  variables {
    otel_traces_sampler_ratio = 1.5
  }
  expect_failures = [var.otel_traces_sampler_ratio]
}

run "otel_sampler_ratio_negative_rejected" {
  command = plan
  variables {
    otel_traces_sampler_ratio = -0.1
  }
  expect_failures = [var.otel_traces_sampler_ratio]
}

run "otel_collector_image_without_digest_rejected" {
  command = plan
  variables {
    otel_collector_image = "public.ecr.aws/aws-observability/aws-otel-collector:v0.48.0"
  }
  expect_failures = [var.otel_collector_image]
}

run "api_max_capacity_below_min_rejected" {
  command = plan
  variables {
    api_min_capacity  = 4
    api_max_capacity  = 3
    api_desired_count = 4
  }
  expect_failures = [var.api_max_capacity]
}

run "api_desired_count_above_max_rejected" {
  command = plan
  variables {
    api_desired_count = 12
  }
  expect_failures = [var.api_desired_count]
}

run "api_target_requests_zero_rejected" {
  command = plan
  variables {
    api_target_requests_per_task = 0
  }
  expect_failures = [var.api_target_requests_per_task]
}

run "api_p99_latency_alarm_zero_rejected" {
  command = plan
  variables {
    api_p99_latency_alarm_seconds = 0
  }
  expect_failures = [var.api_p99_latency_alarm_seconds]
}

run "relay_shutdown_grace_not_below_stop_timeout_rejected" {
  command = plan
  variables {
    relay_shutdown_grace_seconds   = 30
    container_stop_timeout_seconds = 30
  }
  expect_failures = [var.container_stop_timeout_seconds]
}

run "relay_shutdown_grace_without_room_for_the_lease_release_rejected" {
  command = plan
  variables {
    relay_shutdown_grace_seconds   = 26
    container_stop_timeout_seconds = 30
  }
  expect_failures = [var.container_stop_timeout_seconds]
}

run "relay_stale_not_below_outbox_alarm_rejected" {
  command = plan
  variables {
    relay_stale_seconds                     = 60
    outbox_oldest_pending_age_alarm_seconds = 60
  }
  expect_failures = [var.relay_stale_seconds]
}

run "relay_stale_above_limit_rejected" {
  command = plan
  variables {
    relay_stale_seconds = 301
  }
  expect_failures = [var.relay_stale_seconds]
}

run "relay_invalid_fargate_memory_rejected" {
  command = plan
  variables {
    relay_cpu    = 256
    relay_memory = 4096
  }
  expect_failures = [var.relay_memory]
}

run "rejects_a_boundary_that_is_not_a_policy_arn" {
  command = plan

  variables {
    role_permissions_boundary_arn = "arn:aws:iam::123456789012:role/not-a-policy"
  }

  expect_failures = [var.role_permissions_boundary_arn]
}

run "express_age_alarm_not_tighter_rejected" {
  command = plan

  variables {
    queue_oldest_message_age_alarm_seconds         = 300
    express_queue_oldest_message_age_alarm_seconds = 300
  }

  expect_failures = [var.express_queue_oldest_message_age_alarm_seconds]
}
