# What the production root's backend and the deployment workflow need.

output "state_bucket_name" {
  description = "The state bucket (backend.hcl `bucket`)."
  value       = aws_s3_bucket.state.bucket
}

output "state_kms_key_arn" {
  description = "The state bucket's KMS key (backend.hcl `kms_key_id`)."
  value       = aws_kms_key.state.arn
}

output "backend_config" {
  description = "infra/envs/aws/backend.hcl, filled in: `terraform output -raw backend_config > ../envs/aws/backend.hcl`; also the value of the TF_BACKEND_CONFIG repository variable of the workflow."
  value       = <<-EOT
    bucket     = "${aws_s3_bucket.state.bucket}"
    key        = "${var.state_key}"
    region     = "${var.aws_region}"
    kms_key_id = "${aws_kms_key.state.arn}"
  EOT
}

output "plan_role_arn" {
  description = "Role of the workflow's plan job (repository variable AWS_PLAN_ROLE_ARN)."
  value       = aws_iam_role.plan.arn
}

output "deploy_role_arn" {
  description = "Role of the workflow's deploy job (repository variable AWS_DEPLOY_ROLE_ARN)."
  value       = aws_iam_role.deploy.arn
}

output "oidc_provider_arn" {
  description = "The token.actions.githubusercontent.com identity provider."
  value       = local.oidc_provider_arn
}

output "workload_boundary_arn" {
  description = "The permissions boundary the deployer must put on every role it creates: the production tfvars' role_permissions_boundary_arn (infra/README.md)."
  value       = local.workload_boundary_arn
}
