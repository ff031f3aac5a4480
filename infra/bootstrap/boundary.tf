# The permissions boundary every role the deployer creates must carry
# (permissions.tf, TaskRolesWithWorkloadBoundary). A boundary caps a role's
# effective permissions at the intersection with its own policies, so a role
# created with a too-broad inline policy or a too-broad trust still can do no
# more than this: what the production workloads call (infra/envs/aws/main.tf
# task policies, infra/modules/ecs-service execution and collector policies,
# infra/envs/beanstalk/iam.tf instance roles), on the prefix's resources,
# and never IAM, STS role assumption or Organizations.
locals {
  workload_boundary_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "Messaging"
        Effect   = "Allow"
        Action   = ["sns:Publish", "sns:GetTopicAttributes", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
        Resource = [local.sns_topics, local.sqs_queues]
      },
      {
        Sid      = "Tables"
        Effect   = "Allow"
        Action   = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        Resource = local.dynamodb_tables
      },
      {
        # The task policies narrow these further (kms:ViaService).
        Sid      = "Keys"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
        Resource = local.kms_keys
      },
      {
        # ECS log groups, the collector's metrics groups, Beanstalk's groups.
        Sid      = "Logs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:DescribeLogGroups"]
        Resource = concat(local.log_groups, ["${local.arn}:logs:${local.region}:${local.acct}:log-group:/aws/elasticbeanstalk/*"])
      },
      {
        Sid      = "ImagePull"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource = local.ecr_repositories
      },
      {
        # Beanstalk instances read their bundles (infra/envs/beanstalk,
        # <prefix>-eb-bundles-*) and the platform's elasticbeanstalk-<region>-<account>
        # bucket, where they also upload logs (AWSElasticBeanstalkWebTier).
        Sid      = "BeanstalkBucketsRead"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation"]
        Resource = ["${local.arn}:s3:::${local.p}-eb-bundles-*", "${local.arn}:s3:::elasticbeanstalk-*"]
      },
      {
        Sid      = "BeanstalkLogUpload"
        Effect   = "Allow"
        Action   = "s3:PutObject"
        Resource = "${local.arn}:s3:::elasticbeanstalk-*/resources/environments/logs/*"
      },
      {
        # No resource-level permissions in IAM for these (X-Ray, ECR login,
        # metric data, EC2 describes of the Beanstalk agents).
        Sid    = "NotScopable"
        Effect = "Allow"
        Action = [
          "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries",
          "ecr:GetAuthorizationToken", "cloudwatch:PutMetricData",
          "ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeTags",
        ]
        Resource = "*"
      },
      {
        # Enhanced health reports of the Beanstalk instances.
        Sid      = "BeanstalkHealth"
        Effect   = "Allow"
        Action   = "elasticbeanstalk:PutInstanceStatistics"
        Resource = ["${local.arn}:elasticbeanstalk:${local.region}:${local.acct}:application/*", "${local.arn}:elasticbeanstalk:${local.region}:${local.acct}:environment/*"]
      },
      {
        Sid      = "NeverIdentityOrOrganization"
        Effect   = "Deny"
        Action   = ["iam:*", "sts:AssumeRole*", "organizations:*"]
        Resource = "*"
      },
    ]
  })
}

resource "aws_iam_policy" "workload_boundary" {
  name        = local.workload_boundary_name
  description = "Permissions boundary of every ${var.name_prefix}-* role the GitHub deployer creates"
  policy      = local.workload_boundary_policy
}
