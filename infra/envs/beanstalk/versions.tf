terraform {
  # Cross-variable references in `validation` blocks need Terraform >= 1.9;
  # the S3 backend's use_lockfile (backend.tf) is GA from 1.11.
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }
}
