provider "aws" {
  # The production root's Region: the environments use its topic, queues,
  # table, keys and repositories.
  region = data.terraform_remote_state.production.outputs.aws_region

  default_tags {
    tags = merge(
      {
        Project     = "ecomexpress"
        Environment = var.environment
        ManagedBy   = "terraform"
        Stack       = "infra/envs/beanstalk"
      },
      var.tags,
    )
  }
}
