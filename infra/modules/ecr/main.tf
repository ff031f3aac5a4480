locals {
  # Release tags (what the services run and a rollback returns to) never
  # expire: no rule selects them. Only untagged images (layers of interrupted
  # or superseded pushes) and development tags (`dev_tag_prefixes`, pushed by
  # branch builds) expire. An "any" rule would count release images too and
  # could expire the tag a running task definition still names.
  lifecycle_policy = jsonencode({
    rules = concat(
      [{
        rulePriority = 1
        description  = "Expire untagged images after ${var.untagged_expiry_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_expiry_days
        }
        action = { type = "expire" }
      }],
      [for i, prefix in var.dev_tag_prefixes : {
        rulePriority = i + 2
        description  = "Expire development images (${prefix}*) after ${var.dev_tag_expiry_days} days"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = [prefix]
          countType     = "sinceImagePushed"
          countUnit     = "days"
          countNumber   = var.dev_tag_expiry_days
        }
        action = { type = "expire" }
      }],
    )
  })
}

resource "aws_ecr_repository" "this" {
  name = var.name

  # A tag always names the same image: deployments are reproducible and a
  # rollback redeploys exactly what ran before.
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy     = local.lifecycle_policy
}
