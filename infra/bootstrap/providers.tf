# The aws provider of the bootstrap root: one account and Region, tagged.
provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(
      {
        Project   = "ecomexpress"
        ManagedBy = "terraform"
        Stack     = "infra/bootstrap"
      },
      var.tags,
    )
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
