# IAM of the Beanstalk environments: the service role, and per environment an
# instance role + instance profile holding
#   - that service's policy document from the production root (output
#     task_policy_json: the same JSON as its ECS task role, KMS statements
#     included),
#   - pulling its image from its repository only, and reading its bundles,
#   - the AWS managed AWSElasticBeanstalkWebTier (what the platform's agents
#     on the instance need: log streaming, enhanced health, X-Ray). Not
#     WorkerTier (no Beanstalk worker-tier daemon here) nor
#     AmazonEC2ContainerRegistryReadOnly (every repository of the account).

locals {
  instance_role_names = { for k, s in local.services : k => "${var.name_prefix}-eb-${k}" }
  # Known at plan time (roles have the default path "/"), so the topic
  # precondition can be checked before anything is created.
  instance_role_arns = { for k, name in local.instance_role_names : k => "arn:${local.partition}:iam::${local.account_id}:role/${name}" }
}

################################################################################
# Service role (Beanstalk itself: enhanced health, managed updates)
################################################################################

# No permissions boundary here: AWS's managed-updates policy below needs
# iam:PassRole, CloudFormation and Auto Scaling, which the workload boundary
# denies or lacks. Only elasticbeanstalk.amazonaws.com can assume it, and the
# GitHub deployer may not touch <prefix>-eb-* roles (infra/bootstrap).
resource "aws_iam_role" "service" {
  name = "${var.name_prefix}-eb-service"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "elasticbeanstalk.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "sts:ExternalId" = "elasticbeanstalk" } }
    }]
  })
}

resource "aws_iam_role_policy_attachment" "service" {
  for_each = toset([
    "arn:${local.partition}:iam::aws:policy/service-role/AWSElasticBeanstalkEnhancedHealth",
    "arn:${local.partition}:iam::aws:policy/AWSElasticBeanstalkManagedUpdatesCustomerRolePolicy",
  ])

  role       = aws_iam_role.service.name
  policy_arn = each.value
}

################################################################################
# Instance roles, one per environment
################################################################################

resource "aws_iam_role" "instance" {
  for_each = local.services

  name                 = local.instance_role_names[each.key]
  permissions_boundary = var.role_permissions_boundary_arn
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# The application's own permissions: the production root's document, as is.
resource "aws_iam_role_policy" "app" {
  for_each = local.services

  name   = "app"
  role   = aws_iam_role.instance[each.key].id
  policy = local.prod.task_policy_json[each.key]
}

resource "aws_iam_role_policy" "platform" {
  for_each = local.services

  name = "platform"
  role = aws_iam_role.instance[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # No resource-level permission exists for GetAuthorizationToken.
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
      {
        Sid      = "PullOwnImage"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource = local.prod.ecr_repositories[each.value.repository].arn
      },
      {
        Sid      = "ReadOwnBundles"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = "${aws_s3_bucket.bundles.arn}/${each.value.bundle}/*"
      },
    ]
  })
}

resource "aws_iam_role_policy_attachment" "web_tier" {
  for_each = local.services

  role       = aws_iam_role.instance[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSElasticBeanstalkWebTier"
}

resource "aws_iam_instance_profile" "instance" {
  for_each = local.services

  name = local.instance_role_names[each.key]
  role = aws_iam_role.instance[each.key].name
}
