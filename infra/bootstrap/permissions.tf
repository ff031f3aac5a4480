# What the plan and deployer roles may do. Everything the production root
# (infra/envs/aws) creates is named "<name_prefix>..." (see its main.tf and
# modules), so resource ARNs are scoped by that prefix, in this account and
# Region, wherever the service's IAM supports resource-level permissions.
# Statements on "*" are only for actions IAM cannot scope (the Service
# Authorization Reference lists no resource type for them); each says so.
locals {
  p      = var.name_prefix
  region = var.aws_region
  arn    = "arn:${local.partition}"
  acct   = local.account_id

  # The production root's resources, by service.
  ecr_repositories = "${local.arn}:ecr:${local.region}:${local.acct}:repository/${local.p}/*"
  ecs_cluster      = "${local.arn}:ecs:${local.region}:${local.acct}:cluster/${local.p}"
  ecs_services     = "${local.arn}:ecs:${local.region}:${local.acct}:service/${local.p}/${local.p}-*"
  ecs_task_defs    = "${local.arn}:ecs:${local.region}:${local.acct}:task-definition/${local.p}-*:*"
  iam_roles        = "${local.arn}:iam::${local.acct}:role/${local.p}-*"
  sqs_queues       = "${local.arn}:sqs:${local.region}:${local.acct}:${local.p}-*"
  sns_topics       = "${local.arn}:sns:${local.region}:${local.acct}:${local.p}-*"
  dynamodb_tables  = ["${local.arn}:dynamodb:${local.region}:${local.acct}:table/${local.p}-*", "${local.arn}:dynamodb:${local.region}:${local.acct}:table/${local.p}-*/index/*"]
  log_groups       = ["${local.arn}:logs:${local.region}:${local.acct}:log-group:/ecs/${local.p}*", "${local.arn}:logs:${local.region}:${local.acct}:log-group:/ecs/${local.p}*:*"]
  # The root's own alarms, and those Application Auto Scaling creates for a
  # target-tracking policy (TargetTracking-service/<cluster>/<service>-AlarmHigh-...).
  alarms      = ["${local.arn}:cloudwatch:${local.region}:${local.acct}:alarm:${local.p}-*", "${local.arn}:cloudwatch:${local.region}:${local.acct}:alarm:TargetTracking-service/${local.p}/*"]
  dashboards  = "${local.arn}:cloudwatch::${local.acct}:dashboard/${local.p}-*"
  event_rules = "${local.arn}:events:${local.region}:${local.acct}:rule/${local.p}-*"
  alb_resources = [
    "${local.arn}:elasticloadbalancing:${local.region}:${local.acct}:loadbalancer/app/${local.p}-*/*",
    "${local.arn}:elasticloadbalancing:${local.region}:${local.acct}:targetgroup/${local.p}-*/*",
    "${local.arn}:elasticloadbalancing:${local.region}:${local.acct}:listener/app/${local.p}-*/*",
    "${local.arn}:elasticloadbalancing:${local.region}:${local.acct}:listener-rule/app/${local.p}-*/*",
  ]
  alb_log_bucket = "${local.arn}:s3:::${local.p}-alb-logs-*"
  # KMS keys have no name in their ARN: keys of this account and Region.
  kms_keys    = "${local.arn}:kms:${local.region}:${local.acct}:key/*"
  kms_aliases = "${local.arn}:kms:${local.region}:${local.acct}:alias/${local.p}-*"
  # The state key and its alias: inside key/* and alias/<prefix>-*, denied below.
  state_key_resources = [aws_kms_key.state.arn, "${local.arn}:kms:${local.region}:${local.acct}:${aws_kms_alias.state.name}"]
  # Security groups have no name in their ARN either: the VPC when known.
  security_groups = "${local.arn}:ec2:${local.region}:${local.acct}:security-group/*"
  vpc_arn_pattern = "${local.arn}:ec2:${local.region}:${local.acct}:vpc/${coalesce(var.vpc_id, "*")}"
  # Every role the deployer creates must carry this boundary (workload_boundary below).
  workload_boundary_name = "${local.p}-workload-boundary"
  workload_boundary_arn  = "${local.arn}:iam::${local.acct}:policy/${local.workload_boundary_name}"
}

# Remote state, as the S3 backend's documentation lists it: s3:ListBucket on
# the bucket, Get/PutObject on the state key, Get/Put/DeleteObject on the
# lock file (<key>.tflock, use_lockfile); kms Encrypt/Decrypt/GenerateDataKey
# on the bucket's key for SSE-KMS objects.
locals {
  state_statements = {
    for role, writes in { plan = false, deploy = true } : role => [
      { Sid = "StateBucketList", Effect = "Allow", Action = ["s3:ListBucket"], Resource = local.state_bucket_arn },
      # The plan role reads the state; only the deployer writes it.
      { Sid = "StateObject", Effect = "Allow", Action = writes ? ["s3:GetObject", "s3:PutObject"] : ["s3:GetObject"], Resource = local.state_object_arn },
      # Only the deployer takes the lock. PR plans run with -lock=false: a
      # pull request's code must not hold or delete the production lock; the
      # plan role may read the lock file (to see who holds it), nothing more.
      { Sid = "StateLockFile", Effect = "Allow", Action = writes ? ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] : ["s3:GetObject"], Resource = local.lock_object_arn },
      { Sid = "StateKey", Effect = "Allow", Action = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], Resource = aws_kms_key.state.arn },
    ]
  }

  # Plan: read-only metadata of the production root's resources. Not AWS's
  # ReadOnlyAccess, which also reads data (dynamodb:Scan of the orders table,
  # s3:GetObject of every bucket).
  plan_statements = [
    {
      # Describe/List calls that take no resource ARN: IAM cannot scope them.
      Sid    = "ReadMetadataNotScopable"
      Effect = "Allow"
      Action = [
        "ec2:Describe*", "elasticloadbalancing:Describe*", "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions",
        # ListTagsForResource: the provider reads the tags of aws_appautoscaling_target.
        "application-autoscaling:Describe*", "application-autoscaling:ListTagsForResource", "logs:DescribeLogGroups", "cloudwatch:DescribeAlarms",
        "kms:ListAliases", "sqs:ListQueues", "wafv2:GetWebACLForResource",
        # The deploy job's preflight: is a trail logging management events
        # (the data key's EventBridge rule needs one)?
        "cloudtrail:DescribeTrails",
      ]
      Resource = "*"
    },
    {
      # The preflight's status of each trail, an organization's trail (owned
      # by the management account) included: any account's trails.
      Sid      = "TrailStatus"
      Effect   = "Allow"
      Action   = ["cloudtrail:GetTrailStatus"]
      Resource = "${local.arn}:cloudtrail:*:*:trail/*"
    },
    {
      Sid    = "ReadMetadataScoped"
      Effect = "Allow"
      Action = [
        "ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy", "ecr:ListTagsForResource",
        "ecs:DescribeClusters", "ecs:DescribeServices", "ecs:ListTagsForResource",
        "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
        "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags",
        "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags",
        "sns:GetTopicAttributes", "sns:GetSubscriptionAttributes", "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource",
        "dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource",
        "logs:ListTagsForResource", "logs:ListTagsLogGroup",
        "cloudwatch:GetDashboard", "cloudwatch:ListTagsForResource",
        "events:DescribeRule", "events:ListTargetsByRule", "events:ListTagsForResource",
        "s3:ListBucket", "s3:GetBucket*", "s3:GetLifecycleConfiguration", "s3:GetEncryptionConfiguration",
        "s3:GetAccelerateConfiguration", "s3:GetReplicationConfiguration",
      ]
      Resource = concat(
        [local.ecr_repositories, local.ecs_cluster, local.ecs_services, local.iam_roles, local.kms_keys, local.sqs_queues, local.sns_topics],
        local.dynamodb_tables, local.log_groups,
        local.alarms, [local.dashboards, local.event_rules, local.alb_log_bucket],
      )
    },
  ]

  # Deployer: push both images, then `terraform apply` of the production root.
  # Control-plane actions only: nothing reads or writes orders or messages (no
  # dynamodb Get/Put/Scan, no sqs Send/Receive, no s3 object outside the state).
  deploy_statements = [
    {
      # ecr:GetAuthorizationToken (docker login), task definition registration,
      # KMS key creation and Application Auto Scaling have no resource-level
      # permissions in IAM.
      Sid    = "NotScopable"
      Effect = "Allow"
      Action = [
        "ecr:GetAuthorizationToken", "ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "kms:CreateKey",
        "application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy",
        "application-autoscaling:TagResource", "application-autoscaling:ListTagsForResource",
      ]
      Resource = "*"
    },
    {
      Sid    = "ImagePushAndRepositories"
      Effect = "Allow"
      Action = [
        "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
        "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
        "ecr:CreateRepository", "ecr:DeleteRepository", "ecr:TagResource", "ecr:UntagResource",
        "ecr:PutLifecyclePolicy", "ecr:DeleteLifecyclePolicy", "ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability",
        "ecr:SetRepositoryPolicy", "ecr:DeleteRepositoryPolicy",
      ]
      Resource = local.ecr_repositories
    },
    {
      Sid    = "Ecs"
      Effect = "Allow"
      Action = [
        "ecs:CreateCluster", "ecs:UpdateCluster", "ecs:DeleteCluster", "ecs:PutClusterCapacityProviders", "ecs:UpdateClusterSettings",
        "ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:TagResource", "ecs:UntagResource",
      ]
      Resource = [local.ecs_cluster, local.ecs_services, local.ecs_task_defs]
    },
    {
      # A role the deployer creates, or whose permissions it changes, must
      # carry the workload boundary: whatever its inline or attached policies
      # say, it can do no more than the workloads do, and no IAM or STS at all.
      # (IAM documents iam:PermissionsBoundary for CreateRole, Put/Delete
      # RolePolicy, Attach/DetachRolePolicy and PutRolePermissionsBoundary.)
      # IAM has no condition key on a trust policy's content: CreateRole and
      # UpdateAssumeRolePolicy cannot be limited to ecs-tasks trust; a role
      # with any trust is still held to the boundary.
      Sid       = "TaskRolesWithWorkloadBoundary"
      Effect    = "Allow"
      Action    = ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary"]
      Resource  = local.iam_roles
      Condition = { StringEquals = { "iam:PermissionsBoundary" = local.workload_boundary_arn } }
    },
    {
      Sid    = "TaskRoles"
      Effect = "Allow"
      Action = [
        "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
        "iam:TagRole", "iam:UntagRole", "iam:ListInstanceProfilesForRole",
      ]
      Resource = local.iam_roles
    },
    {
      Sid      = "NeverDropTheBoundary"
      Effect   = "Deny"
      Action   = "iam:DeleteRolePermissionsBoundary"
      Resource = "*"
    },
    {
      Sid      = "NeverChangeTheBoundaryPolicy"
      Effect   = "Deny"
      Action   = ["iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy", "iam:TagPolicy", "iam:UntagPolicy"]
      Resource = local.workload_boundary_arn
    },
    {
      # Beanstalk's roles (infra/envs/beanstalk, applied by an administrator)
      # share the prefix but not the boundary (its service role needs AWS's
      # managed-updates policy): the deployer must not re-trust or pass them.
      Sid      = "NeverTheBeanstalkRoles"
      Effect   = "Deny"
      Action   = "iam:*"
      Resource = "${local.arn}:iam::${local.acct}:role/${local.p}-eb-*"
    },
    {
      # A role in this account whose trust names the deployer could be assumed
      # without an Allow here; an explicit Deny closes that.
      Sid      = "NoRoleChaining"
      Effect   = "Deny"
      Action   = ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"]
      Resource = "*"
    },
    {
      # The task and execution roles, to ECS tasks only.
      Sid       = "PassTaskRolesToEcsTasksOnly"
      Effect    = "Allow"
      Action    = "iam:PassRole"
      Resource  = local.iam_roles
      Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
    },
    {
      Sid       = "ServiceLinkedRoles"
      Effect    = "Allow"
      Action    = "iam:CreateServiceLinkedRole"
      Resource  = "${local.arn}:iam::${local.acct}:role/aws-service-role/*"
      Condition = { StringEquals = { "iam:AWSServiceName" = ["ecs.amazonaws.com", "ecs.application-autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com"] } }
    },
    {
      Sid    = "Messaging"
      Effect = "Allow"
      Action = [
        "sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue",
        "sns:CreateTopic", "sns:DeleteTopic", "sns:SetTopicAttributes", "sns:Subscribe", "sns:Unsubscribe",
        "sns:SetSubscriptionAttributes", "sns:TagResource", "sns:UntagResource",
        "dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable", "dynamodb:UpdateContinuousBackups",
        "dynamodb:UpdateTimeToLive", "dynamodb:TagResource", "dynamodb:UntagResource",
      ]
      Resource = concat([local.sqs_queues, local.sns_topics], local.dynamodb_tables)
    },
    {
      Sid    = "Observability"
      Effect = "Allow"
      Action = [
        "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy",
        "logs:AssociateKmsKey", "logs:DisassociateKmsKey", "logs:TagResource", "logs:UntagResource", "logs:TagLogGroup", "logs:UntagLogGroup",
        "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards",
        "cloudwatch:TagResource", "cloudwatch:UntagResource",
        "events:PutRule", "events:DeleteRule", "events:PutTargets", "events:RemoveTargets", "events:TagResource", "events:UntagResource",
      ]
      Resource = concat(local.log_groups, local.alarms, [local.dashboards, local.event_rules])
    },
    { Sid = "LoadBalancer", Effect = "Allow", Action = "elasticloadbalancing:*", Resource = local.alb_resources },
    {
      # Bucket configuration only; no object action.
      Sid      = "AccessLogBucket"
      Effect   = "Allow"
      Action   = ["s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucket*", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutEncryptionConfiguration"]
      Resource = local.alb_log_bucket
    },
    {
      Sid    = "Keys"
      Effect = "Allow"
      Action = [
        "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion",
        "kms:TagResource", "kms:UntagResource", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias",
      ]
      Resource = [local.kms_keys, local.kms_aliases]
    },
    {
      # key/* and alias/<prefix>-* above also match the state bucket's key
      # (alias/<prefix>-tfstate): no administration of it, ever.
      Sid    = "NeverTheStateKey"
      Effect = "Deny"
      Action = [
        "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:DisableKey", "kms:EnableKey",
        "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:UpdateKeyDescription", "kms:TagResource", "kms:UntagResource",
        "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", "kms:CreateGrant", "kms:RevokeGrant", "kms:RetireGrant",
        "kms:ReplicateKey", "kms:UpdatePrimaryRegion", "kms:ImportKeyMaterial", "kms:DeleteImportedKeyMaterial",
      ]
      Resource = local.state_key_resources
    },
    {
      # A table or repository encrypted with a customer-managed key: the
      # service creates a grant on the caller's behalf.
      Sid       = "KeysThroughDynamoDbAndEcr"
      Effect    = "Allow"
      Action    = ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey*"]
      Resource  = local.kms_keys
      Condition = { StringEquals = { "kms:ViaService" = ["dynamodb.${local.region}.amazonaws.com", "ecr.${local.region}.amazonaws.com"] } }
    },
    {
      # CreateSecurityGroup is authorized on the VPC (vpc_id, when set) and on
      # the new group; tags given at creation (ec2:CreateAction).
      Sid      = "CreateSecurityGroupInVpc"
      Effect   = "Allow"
      Action   = "ec2:CreateSecurityGroup"
      Resource = [local.security_groups, local.vpc_arn_pattern]
    },
    {
      Sid       = "TagOnCreate"
      Effect    = "Allow"
      Action    = "ec2:CreateTags"
      Resource  = [local.security_groups, "${local.arn}:ec2:${local.region}:${local.acct}:security-group-rule/*"]
      Condition = { StringEquals = { "ec2:CreateAction" = ["CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"] } }
    },
    {
      # Existing groups: only those in the VPC. The security-group resource
      # type carries the ec2:Vpc condition key (Service Authorization
      # Reference, Amazon EC2; the VPC user guide's "Manage security groups"
      # example uses ArnEquals on ec2:Vpc the same way). With vpc_id null the
      # pattern is every VPC of this account and Region.
      Sid    = "SecurityGroupsInVpc"
      Effect = "Allow"
      Action = [
        "ec2:DeleteSecurityGroup", "ec2:CreateTags", "ec2:DeleteTags",
        "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:ModifySecurityGroupRules",
      ]
      Resource  = local.security_groups
      Condition = { ArnLike = { "ec2:Vpc" = local.vpc_arn_pattern } }
    },
    {
      # The security-group-rule resource type has no ec2:Vpc key; these calls
      # also need the rule's group, which the statement above limits to the VPC.
      Sid      = "SecurityGroupRules"
      Effect   = "Allow"
      Action   = ["ec2:ModifySecurityGroupRules", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:DeleteTags"]
      Resource = "${local.arn}:ec2:${local.region}:${local.acct}:security-group-rule/*"
    },
    {
      Sid      = "WafAssociation"
      Effect   = "Allow"
      Action   = ["wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "wafv2:GetWebACL"]
      Resource = ["${local.arn}:wafv2:${local.region}:${local.acct}:regional/webacl/*", local.alb_resources[0]]
    },
    {
      # Belt and braces: the deployer never changes the GitHub roles or provider.
      Sid      = "NeverTheBootstrapIdentities"
      Effect   = "Deny"
      Action   = "iam:*"
      Resource = ["${local.arn}:iam::${local.acct}:role/github-${local.p}-*", "${local.arn}:iam::${local.acct}:oidc-provider/${local.oidc_host}"]
    },
  ]

  # The read-only statements are a managed policy attached to both roles
  # (github-oidc.tf): IAM caps a role's inline policies at 10,240 characters
  # in total, which the deployer's own statements nearly fill.
  read_metadata_policy = jsonencode({ Version = "2012-10-17", Statement = local.plan_statements })
  plan_policy          = jsonencode({ Version = "2012-10-17", Statement = local.state_statements["plan"] })
  deploy_policy        = jsonencode({ Version = "2012-10-17", Statement = concat(local.state_statements["deploy"], local.deploy_statements) })
}
