output "key_arn" {
  description = "ARN of the customer-managed key."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "Id of the customer-managed key."
  value       = aws_kms_key.this.key_id
}

output "alias_name" {
  description = "Alias of the key (alias/<alias_name>)."
  value       = aws_kms_alias.this.name
}

output "policy" {
  description = "The key policy JSON document attached to the key."
  value       = local.policy
}

output "rotation_enabled" {
  description = "Whether automatic key rotation is enabled (always true)."
  value       = aws_kms_key.this.enable_key_rotation
}
