terraform {
  # Cross-variable references in `validation` blocks need Terraform >= 1.9.
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }

  # State: configure a remote backend per account, e.g. with
  #   terraform init -backend-config=backend.hcl
  # and a `backend "s3" {}` block in a backend.tf kept next to this file.
}
