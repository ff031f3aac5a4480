provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(
      {
        Project     = "ecomexpress"
        Environment = var.environment
        ManagedBy   = "terraform"
        Stack       = "infra/envs/aws"
      },
      var.tags,
    )
  }
}
