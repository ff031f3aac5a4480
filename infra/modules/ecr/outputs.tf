output "repository_name" {
  description = "Name of the repository."
  value       = aws_ecr_repository.this.name
}

output "repository_arn" {
  description = "ARN of the repository (used to scope the ECS execution role's pull permissions)."
  value       = aws_ecr_repository.this.arn
}

output "repository_url" {
  description = "URL of the repository (<account>.dkr.ecr.<region>.amazonaws.com/<name>) to push and pull images."
  value       = aws_ecr_repository.this.repository_url
}

output "lifecycle_policy" {
  description = "The lifecycle policy JSON attached to the repository."
  value       = local.lifecycle_policy
}

output "settings" {
  description = "Effective security settings of the repository: tag mutability, scan on push, encryption."
  value = {
    image_tag_mutability = aws_ecr_repository.this.image_tag_mutability
    scan_on_push         = aws_ecr_repository.this.image_scanning_configuration[0].scan_on_push
    encryption_type      = aws_ecr_repository.this.encryption_configuration[0].encryption_type
    kms_key              = aws_ecr_repository.this.encryption_configuration[0].kms_key
  }
}
