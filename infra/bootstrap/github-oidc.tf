# GitHub Actions OIDC: the identity provider and the two roles the deployment
# workflow (.github/workflows/deploy.yml) assumes with
# aws-actions/configure-aws-credentials; no stored AWS keys anywhere.
#
# Trust rule (GitHub's "Configuring OpenID Connect in Amazon Web Services"):
# the role's trust policy checks the token's `aud` (sts.amazonaws.com, the
# audience configure-aws-credentials asks for) and `sub` with StringEquals.
# `sub` is `repo:<owner>/<repo>:pull_request` for a pull_request run and
# `repo:<owner>/<repo>:environment:<name>` for a job that names an environment,
# `repo:<owner>/<repo>:ref:refs/heads/<branch>` for a push/dispatch run on a
# branch without one. A list under StringEquals matches any of its values.
locals {
  oidc_host     = "token.actions.githubusercontent.com"
  oidc_audience = "sts.amazonaws.com"
  oidc_provider_arn = (
    var.create_oidc_provider
    ? aws_iam_openid_connect_provider.github[0].arn
    : data.aws_iam_openid_connect_provider.github[0].arn
  )
  # The plan job runs for pull requests and on main before the approval (so
  # reviewers see the plan they approve): StringEquals against either subject.
  plan_subjects  = ["repo:${var.github_repository}:pull_request", "repo:${var.github_repository}:ref:refs/heads/main"]
  deploy_subject = "repo:${var.github_repository}:environment:${var.production_environment}"

  # Outside the production root's "<name_prefix>-*" role names on purpose: the
  # deployer may change roles matching that pattern, and must not be able to
  # change its own trust or permissions.
  plan_role_name   = "github-${var.name_prefix}-plan"
  deploy_role_name = "github-${var.name_prefix}-deploy"
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_oidc_provider ? 1 : 0
  url            = "https://${local.oidc_host}"
  client_id_list = [local.oidc_audience]
  # No thumbprint_list: IAM verifies GitHub's OIDC endpoint against its own
  # trusted root CAs; the provider (>= 5.81) leaves the list optional.
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1
  url   = "https://${local.oidc_host}"
}

# One trust policy per role: the provider, the audience and exact subjects.
locals {
  trust_policies = {
    for role, subject in { plan = local.plan_subjects, deploy = local.deploy_subject } : role => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Sid       = "GitHubActions"
        Effect    = "Allow"
        Principal = { Federated = local.oidc_provider_arn }
        Action    = "sts:AssumeRoleWithWebIdentity"
        Condition = {
          StringEquals = {
            "${local.oidc_host}:aud" = local.oidc_audience
            "${local.oidc_host}:sub" = subject
          }
        }
      }]
    })
  }
}

resource "aws_iam_role" "plan" {
  name                 = local.plan_role_name
  description          = "terraform plan of infra/envs/aws from pull requests and main of ${var.github_repository} (read-only)"
  assume_role_policy   = local.trust_policies["plan"]
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "plan" {
  name   = "terraform-plan"
  role   = aws_iam_role.plan.id
  policy = local.plan_policy
}

resource "aws_iam_policy" "read_metadata" {
  #checkov:skip=CKV_AWS_355:ReadMetadataNotScopable holds read-only Describe/List metadata calls on "*"; a few accept a resource ARN, but the plan refreshes resources named by generated ids (listeners, target groups, scalable targets, trails of an organization) that cannot be listed ahead; ReadMetadataScoped names every resource that can be; nothing in the policy reads order data.
  name        = "github-${var.name_prefix}-read-metadata"
  description = "Read-only metadata of the ${var.name_prefix} production stack (terraform plan)"
  policy      = local.read_metadata_policy
}

resource "aws_iam_role_policy_attachment" "read_metadata" {
  for_each = { plan = aws_iam_role.plan.name, deploy = aws_iam_role.deploy.name }

  role       = each.value
  policy_arn = aws_iam_policy.read_metadata.arn
}

resource "aws_iam_role" "deploy" {
  name                 = local.deploy_role_name
  description          = "Image push and terraform apply of infra/envs/aws from the ${var.production_environment} environment of ${var.github_repository}"
  assume_role_policy   = local.trust_policies["deploy"]
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "deploy" {
  name   = "terraform-apply"
  role   = aws_iam_role.deploy.id
  policy = local.deploy_policy
}
