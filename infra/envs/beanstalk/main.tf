# Elastic Beanstalk (Docker on Amazon Linux 2023) for the order pipeline, as an
# alternative runtime to the ECS services of infra/envs/aws, on the same topic,
# queues, table, keys and repositories.
#
# Everything shared comes from the production root's state (outputs.tf there),
# read with terraform_remote_state: repository names and URLs, each service's
# IAM policy document (the very JSON its ECS task role carries, so its KMS
# statements come along, the DynamoDB data-key one included), its environment
# (the ECS task definition's) and command, the topic's policy and the Region.
# Remote state rather than a shared module: those values are computed from
# resources the production root owns (key ARNs, repository URLs, the task
# definitions' environment); a module would have to recompute or look them up
# and could drift from what ECS runs. One source of truth, one owner.

data "terraform_remote_state" "production" {
  backend = "s3"
  config = {
    bucket = var.state_bucket
    key    = var.state_key
    region = var.state_region
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The latest "Docker running on 64bit Amazon Linux 2023" platform at creation;
# managed platform updates (below) keep it current afterwards.
data "aws_elastic_beanstalk_solution_stack" "docker" {
  most_recent = true
  name_regex  = "^64bit Amazon Linux 2023 (.*) running Docker$"
}

locals {
  prod       = data.terraform_remote_state.production.outputs
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # One environment per service. bundle: the Dockerrun.aws.json template
  # directory under deploy/beanstalk; repository: the production root's
  # ecr_repositories key; extra_env: what Beanstalk sets on top of the ECS
  # environment (the shutdown grace and the API's request timeout, which must
  # fit docker stop's 10 s).
  services = {
    api = {
      env_name      = "${var.name_prefix}-api"
      bundle        = "order-api"
      repository    = "order-api"
      image_tag     = var.api_image_tag
      load_balanced = true
      publishes     = true
      # The API exits within REQUEST_TIMEOUT_SECS (T: its in-flight requests
      # are answered by then) + 0.4 T + 1 s (the publishes those requests
      # started; crates/order-api startup.rs task_drain) = 1.4 T + 1 s: 15 s
      # with ECS's default T = 10, past docker stop's 10 s. T = 5 makes it 8 s
      # (DynamoDB 0.5 s per operation, the publish 2 s; config.rs budgets).
      extra_env   = { REQUEST_TIMEOUT_SECS = "5" }
      description = "order-api: HTTP API behind an application load balancer"
    }
    relay = {
      env_name      = "${var.name_prefix}-relay"
      bundle        = "outbox-relay"
      repository    = "order-api"
      image_tag     = var.api_image_tag
      load_balanced = false
      publishes     = true
      extra_env     = { SHUTDOWN_GRACE_SECS = tostring(var.relay_shutdown_grace_seconds) }
      description   = "outbox relay (order-api relay): publishes accepted order events the API could not"
    }
    procesamiento = {
      env_name      = "${var.name_prefix}-procesamiento"
      bundle        = "sqs-worker-procesamiento"
      repository    = "sqs-worker"
      image_tag     = var.worker_image_tag
      load_balanced = false
      publishes     = false
      extra_env     = { SHUTDOWN_GRACE_SECS = tostring(var.worker_shutdown_grace_seconds) }
      description   = "sqs-worker, role procesamiento"
    }
    logistica = {
      env_name      = "${var.name_prefix}-logistica"
      bundle        = "sqs-worker-logistica"
      repository    = "sqs-worker"
      image_tag     = var.worker_image_tag
      load_balanced = false
      publishes     = false
      extra_env     = { SHUTDOWN_GRACE_SECS = tostring(var.worker_shutdown_grace_seconds) }
      description   = "sqs-worker, role logistica"
    }
  }

  # The environment properties: the ECS task definition's, plus extra_env.
  environment_properties = {
    for k, s in local.services : k => merge(local.prod.service_environment[k], s.extra_env)
  }

  # The committed templates (checked by scripts/lint-containers.sh) with the
  # image placeholder replaced by the production repository's URL and the tag.
  bundle_templates = {
    for k, s in local.services : k => jsondecode(file("${path.module}/../../../deploy/beanstalk/${s.bundle}/Dockerrun.aws.json"))
  }
  bundles = {
    for k, s in local.services : k => jsonencode(merge(local.bundle_templates[k], {
      Image = merge(local.bundle_templates[k].Image, {
        Name = "${local.prod.ecr_repositories[s.repository].url}:${s.image_tag}"
      })
    }))
  }
  # "<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>" -> <repository>
  template_repositories = {
    for k, t in local.bundle_templates : k => replace(replace(t.Image.Name, "/^[^/]*//", ""), "/:[^:]*$/", "")
  }

  version_labels = { for k, s in local.services : k => "${s.bundle}-${s.image_tag}" }

  # The topic's explicit deny of other publishers (modules/messaging, when its
  # publishers are pinned): the API and relay instance roles must be among
  # the allowed principals, or every publish is refused.
  topic_statements = jsondecode(local.prod.topic_policy).Statement
  topic_allowed_publishers = flatten([
    for st in local.topic_statements : try(st.Condition.ArnNotEquals["aws:PrincipalArn"], []) if try(st.Sid, "") == "DenyOtherPublishers"
  ])
  topic_publishers_pinned = anytrue([for st in local.topic_statements : try(st.Sid, "") == "DenyOtherPublishers"])

  # Option settings shared by every environment.
  common_settings = [
    { namespace = "aws:ec2:vpc", name = "VPCId", value = var.vpc_id },
    { namespace = "aws:ec2:vpc", name = "Subnets", value = join(",", var.instance_subnet_ids) },
    { namespace = "aws:ec2:vpc", name = "AssociatePublicIpAddress", value = "false" },
    { namespace = "aws:ec2:instances", name = "InstanceTypes", value = var.instance_type },
    # IMDSv2 only; the containers reach it through the default hop limit of 2
    # of Amazon Linux 2023 AMIs.
    { namespace = "aws:autoscaling:launchconfiguration", name = "DisableIMDSv1", value = "true" },
    { namespace = "aws:elasticbeanstalk:environment", name = "ServiceRole", value = aws_iam_role.service.arn },
    { namespace = "aws:elasticbeanstalk:cloudwatch:logs", name = "StreamLogs", value = "true" },
    { namespace = "aws:elasticbeanstalk:cloudwatch:logs", name = "RetentionInDays", value = tostring(var.log_retention_days) },
    { namespace = "aws:elasticbeanstalk:cloudwatch:logs", name = "DeleteOnTerminate", value = "false" },
    { namespace = "aws:elasticbeanstalk:managedactions", name = "PreferredStartTime", value = "Sun:03:00" },
    { namespace = "aws:elasticbeanstalk:managedactions:platformupdate", name = "UpdateLevel", value = "minor" },
  ]

  # order-api: load balanced, application load balancer, HTTPS only.
  api_settings = [
    { namespace = "aws:elasticbeanstalk:environment", name = "EnvironmentType", value = "LoadBalanced" },
    { namespace = "aws:elasticbeanstalk:environment", name = "LoadBalancerType", value = "application" },
    { namespace = "aws:ec2:vpc", name = "ELBScheme", value = var.lb_internet_facing ? "public" : "internal" },
    { namespace = "aws:ec2:vpc", name = "ELBSubnets", value = join(",", var.lb_subnet_ids) },
    { namespace = "aws:autoscaling:asg", name = "MinSize", value = tostring(var.api_min_instances) },
    { namespace = "aws:autoscaling:asg", name = "MaxSize", value = tostring(var.api_max_instances) },
    { namespace = "aws:elbv2:listener:default", name = "ListenerEnabled", value = "false" },
    { namespace = "aws:elbv2:listener:443", name = "ListenerEnabled", value = "true" },
    { namespace = "aws:elbv2:listener:443", name = "Protocol", value = "HTTPS" },
    { namespace = "aws:elbv2:listener:443", name = "SSLCertificateArns", value = var.certificate_arn },
    { namespace = "aws:elbv2:listener:443", name = "SSLPolicy", value = var.ssl_policy },
    # Shallow liveness, as on ECS (infra/envs/aws, module "alb"): a short SNS
    # or DynamoDB hiccup must not take every instance out of service at once.
    { namespace = "aws:elasticbeanstalk:environment:process:default", name = "HealthCheckPath", value = "/health/live" },
    { namespace = "aws:elasticbeanstalk:environment:process:default", name = "MatcherHTTPCode", value = "200" },
    { namespace = "aws:elasticbeanstalk:command", name = "DeploymentPolicy", value = "RollingWithAdditionalBatch" },
    { namespace = "aws:elasticbeanstalk:command", name = "BatchSizeType", value = "Fixed" },
    { namespace = "aws:elasticbeanstalk:command", name = "BatchSize", value = "1" },
  ]

  # The relay and the workers: one instance, no load balancer.
  single_settings = [
    { namespace = "aws:elasticbeanstalk:environment", name = "EnvironmentType", value = "SingleInstance" },
  ]

  settings = {
    for k, s in local.services : k => concat(
      local.common_settings,
      s.load_balanced ? local.api_settings : local.single_settings,
      [{ namespace = "aws:autoscaling:launchconfiguration", name = "IamInstanceProfile", value = aws_iam_instance_profile.instance[k].name }],
      [for name in sort(keys(local.environment_properties[k])) : {
        namespace = "aws:elasticbeanstalk:application:environment"
        name      = name
        value     = local.environment_properties[k][name]
      }],
    )
  }
}

check "bundle_repositories_match_production" {
  assert {
    condition = alltrue([
      for k, s in local.services : local.template_repositories[k] == local.prod.ecr_repositories[s.repository].name
    ])
    error_message = "A deploy/beanstalk/*/Dockerrun.aws.json template names another repository than the production root's ECR module (${jsonencode(local.template_repositories)} vs ${jsonencode({ for k, v in local.prod.ecr_repositories : k => v.name })}); the rendered bundles use the production URL, but the templates should say the same."
  }
}

################################################################################
# Application and its versions (the rendered bundles, in S3)
################################################################################

resource "aws_elastic_beanstalk_application" "this" {
  name        = var.name_prefix
  description = "E-ComExpress order pipeline on Elastic Beanstalk (infra/envs/beanstalk)"

  appversion_lifecycle {
    service_role          = aws_iam_role.service.arn
    max_count             = 100
    delete_source_from_s3 = true
  }
}

resource "aws_s3_object" "bundle" {
  for_each = local.services

  bucket       = aws_s3_bucket.bundles.id
  key          = "${each.value.bundle}/${local.version_labels[each.key]}.json"
  content      = local.bundles[each.key]
  content_type = "application/json"
}

resource "aws_elastic_beanstalk_application_version" "this" {
  for_each = local.services

  application = aws_elastic_beanstalk_application.this.name
  name        = local.version_labels[each.key]
  description = "${each.value.description}: ${local.prod.ecr_repositories[each.value.repository].url}:${each.value.image_tag}"
  bucket      = aws_s3_bucket.bundles.id
  key         = aws_s3_object.bundle[each.key].key

  lifecycle {
    # The bundle runs what ECS runs: the relay's bundle passes `relay`, the
    # others nothing (Dockerrun.aws.json v1 "Command" is one string).
    precondition {
      condition     = try(local.bundle_templates[each.key].Command, "") == join(" ", local.prod.service_command[each.key])
      error_message = "deploy/beanstalk/${each.value.bundle}/Dockerrun.aws.json runs Command \"${try(local.bundle_templates[each.key].Command, "")}\", but the ECS task definition of ${each.key} runs \"${join(" ", local.prod.service_command[each.key])}\"."
    }
  }
}

################################################################################
# Environments
################################################################################

resource "aws_elastic_beanstalk_environment" "this" {
  #checkov:skip=CKV_AWS_312:Enhanced health is on (healthreporting:system SystemType enhanced, below) and streamed (cloudwatch:logs:health HealthStreamingEnabled); the check looks for HealthStreamingEnabled under healthreporting:system, where Beanstalk has no such option.
  for_each = local.services

  name                = each.value.env_name
  application         = aws_elastic_beanstalk_application.this.name
  description         = each.value.description
  tier                = "WebServer"
  solution_stack_name = data.aws_elastic_beanstalk_solution_stack.docker.name
  version_label       = aws_elastic_beanstalk_application_version.this[each.key].name

  # Written out here rather than in local.settings so that checkov sees them
  # (enhanced health and its streaming, CKV_AWS_340 managed platform updates).
  setting {
    namespace = "aws:elasticbeanstalk:healthreporting:system"
    name      = "SystemType"
    value     = "enhanced"
  }

  setting {
    namespace = "aws:elasticbeanstalk:cloudwatch:logs:health"
    name      = "HealthStreamingEnabled"
    value     = "true"
  }

  setting {
    namespace = "aws:elasticbeanstalk:managedactions"
    name      = "ManagedActionsEnabled"
    value     = "true"
  }

  dynamic "setting" {
    for_each = local.settings[each.key]
    content {
      namespace = setting.value.namespace
      name      = setting.value.name
      value     = setting.value.value
    }
  }

  lifecycle {
    # Managed platform updates move the platform version after creation.
    ignore_changes = [solution_stack_name]

    # Publishing services: the topic policy must let this instance role publish.
    precondition {
      condition     = !each.value.publishes || !local.topic_publishers_pinned || contains(local.topic_allowed_publishers, local.instance_role_arns[each.key])
      error_message = "The order-events topic only lets ${jsonencode(local.topic_allowed_publishers)} publish, not ${local.instance_role_arns[each.key]}: set beanstalk_topic_publishers = true in the production root (infra/envs/aws) and apply it, or every publish of ${each.key} is denied."
    }
  }
}
