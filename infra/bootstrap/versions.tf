# infra/bootstrap: what must exist before the production root's first
# `terraform init` and the deployment workflow's first run: the S3 state
# bucket (+ its KMS key) and the GitHub Actions OIDC provider with the plan and
# deployer roles. Applied once by an administrator, with local state (README).
terraform {
  # S3-native state locking (use_lockfile in the roots that use this bucket)
  # is generally available from Terraform 1.11 (experimental in 1.10).
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Omitting thumbprint_list (github-oidc.tf) needs >= 5.81.
      version = ">= 5.81, < 6.0"
    }
  }

  # No backend block: this root's state stays local (terraform.tfstate here,
  # git-ignored). It is small and can be recreated by importing; see
  # infra/README.md for keeping it, or migrating it into the bucket it creates.
}
