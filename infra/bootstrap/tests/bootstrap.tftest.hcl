# infra/bootstrap, offline: the aws provider is mocked, `terraform test` applies
# against the mock and checks what the real apply would send: the state
# bucket's settings, the roles' trust conditions and permissions, and the
# variable validations.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555", key_id = "11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
  }
  mock_resource "aws_iam_policy" {
    defaults = { arn = "arn:aws:iam::123456789012:policy/mocked" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mocked" }
  }
}

variables {
  aws_region        = "us-east-1"
  github_repository = "acme/ecomexpress"
}

run "state_bucket" {
  assert {
    condition     = aws_s3_bucket.state.bucket == "ecomexpress-tfstate-123456789012-us-east-1"
    error_message = "The state bucket is <name_prefix>-tfstate-<account>-<region>."
  }
  assert {
    condition     = aws_s3_bucket_versioning.state.versioning_configuration[0].status == "Enabled"
    error_message = "The state bucket must be versioned (state recovery)."
  }
  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.state.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      one(one(aws_s3_bucket_server_side_encryption_configuration.state.rule).apply_server_side_encryption_by_default).kms_master_key_id == aws_kms_key.state.arn &&
      one(aws_s3_bucket_server_side_encryption_configuration.state.rule).bucket_key_enabled
    )
    error_message = "Default encryption must be SSE-KMS with the state key (and a Bucket Key)."
  }
  assert {
    condition     = aws_kms_key.state.enable_key_rotation
    error_message = "The state key must rotate."
  }
  assert {
    condition = (
      aws_s3_bucket_public_access_block.state.block_public_acls && aws_s3_bucket_public_access_block.state.block_public_policy &&
      aws_s3_bucket_public_access_block.state.ignore_public_acls && aws_s3_bucket_public_access_block.state.restrict_public_buckets
    )
    error_message = "All four public access block settings must be on."
  }
  assert {
    condition     = one(aws_s3_bucket_ownership_controls.state.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)."
  }
  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.state.policy).Statement :
      s.Effect == "Deny" && s.Principal == "*" && s.Action == "s3:*" && s.Condition == { Bool = { "aws:SecureTransport" = "false" } } &&
      toset(flatten([s.Resource])) == toset(["arn:aws:s3:::ecomexpress-tfstate-123456789012-us-east-1", "arn:aws:s3:::ecomexpress-tfstate-123456789012-us-east-1/*"])
    ])
    error_message = "The bucket policy must deny every request without TLS, on the bucket and its objects."
  }
  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.state.policy).Statement :
      s.Effect == "Deny" && s.Action == "s3:PutObject" && s.Condition == { StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption" = "aws:kms" } }
    ])
    error_message = "The bucket policy must refuse uploads asking for another encryption than SSE-KMS."
  }
  assert {
    condition = (
      one(aws_s3_bucket_lifecycle_configuration.state.rule).status == "Enabled" &&
      one(one(aws_s3_bucket_lifecycle_configuration.state.rule).noncurrent_version_expiration).noncurrent_days == 90 &&
      one(one(aws_s3_bucket_lifecycle_configuration.state.rule).noncurrent_version_expiration).newer_noncurrent_versions == 10 &&
      one(one(aws_s3_bucket_lifecycle_configuration.state.rule).expiration).expired_object_delete_marker
    )
    error_message = "Lifecycle: noncurrent versions (old states, old lock files) expire after 90 days (newest 10 kept), orphaned delete markers (unlocked lock files) go."
  }
  assert {
    condition     = output.backend_config == "bucket     = \"ecomexpress-tfstate-123456789012-us-east-1\"\nkey        = \"envs/aws/terraform.tfstate\"\nregion     = \"us-east-1\"\nkms_key_id = \"arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555\"\n"
    error_message = "backend_config must be the backend.hcl of infra/envs/aws, filled in."
  }
}

run "oidc_trust" {
  assert {
    condition     = aws_iam_openid_connect_provider.github[0].url == "https://token.actions.githubusercontent.com" && aws_iam_openid_connect_provider.github[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "The OIDC provider is GitHub's, for the audience sts.amazonaws.com."
  }
  assert {
    condition = jsondecode(aws_iam_role.plan.assume_role_policy).Statement == [{
      Sid       = "GitHubActions"
      Effect    = "Allow"
      Principal = { Federated = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = { StringEquals = {
        "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
        "token.actions.githubusercontent.com:sub" = ["repo:acme/ecomexpress:pull_request", "repo:acme/ecomexpress:ref:refs/heads/main"]
      } }
    }]
    error_message = "The plan role trusts only pull_request and refs/heads/main tokens of acme/ecomexpress (StringEquals on aud and sub)."
  }
  assert {
    condition = jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition == {
      StringEquals = {
        "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
        "token.actions.githubusercontent.com:sub" = "repo:acme/ecomexpress:environment:production"
      }
    }
    error_message = "The deployer role trusts only jobs in the production environment of acme/ecomexpress."
  }
  assert {
    condition     = !strcontains(aws_iam_role.plan.assume_role_policy, "StringLike") && !strcontains(aws_iam_role.deploy.assume_role_policy, "StringLike") && !strcontains(aws_iam_role.deploy.assume_role_policy, "*") && !strcontains(aws_iam_role.plan.assume_role_policy, "*")
    error_message = "No wildcard subject in a trust policy."
  }
}

run "permissions" {
  assert {
    condition = (
      length([for s in jsondecode(aws_iam_role_policy.plan.policy).Statement : s if contains(flatten([s.Action]), "s3:PutObject") && s.Resource == "arn:aws:s3:::ecomexpress-tfstate-123456789012-us-east-1/envs/aws/terraform.tfstate"]) == 0 &&
      [for s in jsondecode(aws_iam_role_policy.plan.policy).Statement : flatten([s.Action]) if strcontains(jsonencode(s.Resource), "tflock")] == [["s3:GetObject"]]
    )
    error_message = "The plan role reads the state and only reads the lock file (PR plans run with -lock=false): no state write, no lock Put/Delete."
  }
  assert {
    condition     = anytrue([for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement : s.Resource == "arn:aws:s3:::ecomexpress-tfstate-123456789012-us-east-1/envs/aws/terraform.tfstate" && contains(flatten([s.Action]), "s3:PutObject")])
    error_message = "The deployer writes the state."
  }
  assert {
    condition = one([
      for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement : s if contains(flatten([s.Action]), "iam:PassRole")
      ]) == {
      Sid       = "PassTaskRolesToEcsTasksOnly"
      Effect    = "Allow"
      Action    = "iam:PassRole"
      Resource  = "arn:aws:iam::123456789012:role/ecomexpress-*"
      Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
    }
    error_message = "iam:PassRole only for the prefix's roles and only to ecs-tasks.amazonaws.com."
  }
  assert {
    # Only the statements that say why may use "*".
    condition = alltrue([
      for s in concat(jsondecode(aws_iam_role_policy.deploy.policy).Statement, jsondecode(aws_iam_role_policy.plan.policy).Statement, jsondecode(aws_iam_policy.read_metadata.policy).Statement) :
      s.Effect == "Deny" || contains(["NotScopable", "ReadMetadataNotScopable"], s.Sid) || !contains(flatten([s.Resource]), "*")
    ])
    error_message = "An Allow statement outside NotScopable/ReadMetadataNotScopable names Resource \"*\"."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement :
      s.Effect == "Deny" || !anytrue([for a in flatten([s.Action]) : contains(["*", "iam:*", "s3:*", "dynamodb:*", "sqs:*", "kms:*", "dynamodb:GetItem", "dynamodb:Scan", "sqs:ReceiveMessage", "s3:GetObject"], a) && !strcontains(jsonencode(s.Resource), "tfstate")])
    ])
    error_message = "The deployer gets no service-wide wildcard and no data-plane read outside the state."
  }
  assert {
    condition     = anytrue([for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement : s.Effect == "Deny" && s.Action == "iam:*" && contains(flatten([s.Resource]), "arn:aws:iam::123456789012:role/github-ecomexpress-*")])
    error_message = "The deployer must not be able to change the GitHub roles (its own trust and permissions)."
  }
  assert {
    # IAM's limits: a role's inline policies 10,240 characters in total, a
    # managed policy 6,144.
    condition     = length(aws_iam_role_policy.deploy.policy) < 10240 && length(aws_iam_policy.read_metadata.policy) < 6144
    error_message = "The deployer's inline policy is over IAM's 10,240-character limit, or the read-only managed policy over 6,144."
  }
}

run "workload_boundary" {
  assert {
    condition     = output.workload_boundary_arn == "arn:aws:iam::123456789012:policy/ecomexpress-workload-boundary" && aws_iam_policy.workload_boundary.name == "ecomexpress-workload-boundary"
    error_message = "bootstrap creates the <prefix>-workload-boundary policy and outputs its ARN."
  }
  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_policy.workload_boundary.policy).Statement :
      s.Effect == "Deny" && s.Resource == "*" && toset(flatten([s.Action])) == toset(["iam:*", "sts:AssumeRole*", "organizations:*"])
    ])
    error_message = "The workload boundary must deny iam:*, sts:AssumeRole* and organizations:* on everything."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.workload_boundary.policy).Statement :
      s.Effect == "Deny" || !anytrue([for a in flatten([s.Action]) : a == "*" || endswith(a, ":*") || startswith(a, "iam:") || startswith(a, "sts:")])
    ])
    error_message = "The workload boundary allows no service-wide wildcard and no IAM/STS action."
  }
  assert {
    # IAM's limit on a managed policy: 6,144 characters.
    condition     = length(aws_iam_policy.workload_boundary.policy) < 6144
    error_message = "The workload boundary is over IAM's 6,144-character limit for a managed policy."
  }
  assert {
    # Every statement allowing a role to be created or its permissions to be
    # changed requires the boundary.
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement :
      try(s.Condition.StringEquals["iam:PermissionsBoundary"], "") == "arn:aws:iam::123456789012:policy/ecomexpress-workload-boundary"
      if s.Effect == "Allow" && length(setintersection(toset(flatten([s.Action])), toset(["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:*"]))) > 0
    ]) && anytrue([for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement : s.Effect == "Allow" && contains(flatten([s.Action]), "iam:CreateRole")])
    error_message = "The deployer may CreateRole/PutRolePolicy/AttachRolePolicy/PutRolePermissionsBoundary only with iam:PermissionsBoundary = the workload boundary."
  }
  assert {
    condition = (
      anytrue([for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement : s.Effect == "Deny" && contains(flatten([s.Action]), "iam:DeleteRolePermissionsBoundary") && s.Resource == "*"]) &&
      anytrue([for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement :
        s.Effect == "Deny" && s.Resource == "arn:aws:iam::123456789012:policy/ecomexpress-workload-boundary" &&
        length(setsubtract(toset(["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:SetDefaultPolicyVersion"]), toset(flatten([s.Action])))) == 0
      ])
    )
    error_message = "The deployer must be denied DeleteRolePermissionsBoundary and any write to the boundary policy."
  }
  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement :
      s.Effect == "Deny" && toset(flatten([s.Resource])) == toset(["arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555", "arn:aws:kms:us-east-1:123456789012:alias/ecomexpress-tfstate"]) &&
      length(setsubtract(toset(["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", "kms:CreateGrant"]), toset(flatten([s.Action])))) == 0
    ])
    error_message = "The deployer must be denied every KMS write/admin action on the state key and its alias."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement :
      try(s.Condition, null) == { ArnLike = { "ec2:Vpc" = "arn:aws:ec2:us-east-1:123456789012:vpc/*" } }
      if s.Effect == "Allow" && flatten([s.Resource]) == ["arn:aws:ec2:us-east-1:123456789012:security-group/*"]
    ])
    error_message = "Changes to existing security groups must be conditioned on ec2:Vpc."
  }
  assert {
    condition = (
      contains(flatten([for s in jsondecode(aws_iam_policy.read_metadata.policy).Statement : s.Action if s.Resource == "*"]), "application-autoscaling:ListTagsForResource") &&
      aws_iam_role_policy_attachment.read_metadata["plan"].role == "github-ecomexpress-plan" &&
      anytrue([for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement : contains(flatten([s.Action]), "cloudwatch:PutMetricAlarm") && contains(flatten([s.Action]), "cloudwatch:DeleteAlarms") && contains(flatten([s.Resource]), "arn:aws:cloudwatch:us-east-1:123456789012:alarm:TargetTracking-service/ecomexpress/*")])
    )
    error_message = "The plan role reads scalable targets' tags; the deployer manages the target-tracking alarms (TargetTracking-service/<prefix>/*)."
  }
}

run "security_groups_in_the_given_vpc" {
  command = plan

  variables {
    vpc_id = "vpc-0123456789abcdef0"
  }

  assert {
    condition = (
      one([for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement : try(s.Condition, null) if s.Sid == "SecurityGroupsInVpc"]) == { ArnLike = { "ec2:Vpc" = "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0123456789abcdef0" } } &&
      contains(one([for s in jsondecode(aws_iam_role_policy.deploy.policy).Statement : s.Resource if s.Sid == "CreateSecurityGroupInVpc"]), "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0123456789abcdef0")
    )
    error_message = "With vpc_id set, security groups are created in and changed only in that VPC."
  }
}

run "existing_oidc_provider" {
  command = plan

  variables {
    create_oidc_provider = false
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0 && output.oidc_provider_arn == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    error_message = "create_oidc_provider = false looks the provider up instead of creating a second one."
  }
}

run "rejects_wildcard_repository" {
  command = plan

  variables {
    github_repository = "acme/*"
  }

  expect_failures = [var.github_repository]
}

run "rejects_repository_without_owner" {
  command = plan

  variables {
    github_repository = "ecomexpress"
  }

  expect_failures = [var.github_repository]
}

run "rejects_prefix_unlike_the_production_root" {
  command = plan

  variables {
    name_prefix = "EcomExpress_"
  }

  expect_failures = [var.name_prefix]
}
