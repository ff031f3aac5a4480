variable "alias_name" {
  description = "Alias of the key without the \"alias/\" prefix (e.g. \"ecomexpress-data\"). Letters, digits, '/', '_' and '-'; must not start with \"aws\"."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9/_-]{1,250}$", var.alias_name)) && !startswith(lower(var.alias_name), "aws")
    error_message = "alias_name must be 1-250 characters of letters, digits, '/', '_' and '-', without the \"alias/\" prefix, and must not start with \"aws\" (reserved for AWS managed keys)."
  }
}

variable "description" {
  description = "Human-readable description of the key (what it encrypts)."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.description) > 0 && length(var.description) <= 8192
    error_message = "description must be between 1 and 8192 characters."
  }
}

variable "account_id" {
  description = "12-digit id of the AWS account that owns the key. Its root principal gets full administration of the key, which lets IAM policies in the account grant access (the standard KMS default)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "partition" {
  description = "AWS partition of the account (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"
  nullable    = false

  validation {
    condition     = contains(["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f"], var.partition)
    error_message = "partition must be one of aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f."
  }
}

variable "deletion_window_in_days" {
  description = "Waiting period (7-30 days) between scheduling the key for deletion and deleting it."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30 && floor(var.deletion_window_in_days) == var.deletion_window_in_days
    error_message = "deletion_window_in_days must be a whole number between 7 and 30."
  }
}

variable "rotation_period_in_days" {
  description = "Automatic key material rotation period in days (90-2560). Rotation is always enabled."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = var.rotation_period_in_days >= 90 && var.rotation_period_in_days <= 2560 && floor(var.rotation_period_in_days) == var.rotation_period_in_days
    error_message = "rotation_period_in_days must be a whole number between 90 and 2560."
  }
}

variable "policy_statements" {
  description = <<-EOT
    Key policy statements added after the account-root administration statement.
    Each grants `actions` on this key (Resource "*" in a key policy means "this key")
    to `principal_identifiers` of `principal_type` ("AWS" for IAM ARNs, "Service" for
    service principals such as sns.amazonaws.com), optionally restricted by
    `conditions` (IAM condition operator `test`, context key `variable`, `values`).
  EOT
  type = list(object({
    sid                   = string
    principal_type        = string
    principal_identifiers = list(string)
    actions               = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default  = []
  nullable = false

  validation {
    condition     = alltrue([for s in var.policy_statements : can(regex("^[A-Za-z0-9]+$", s.sid))]) && length(distinct([for s in var.policy_statements : s.sid])) == length(var.policy_statements)
    error_message = "Every policy statement needs a unique alphanumeric sid."
  }

  validation {
    condition     = alltrue([for s in var.policy_statements : contains(["AWS", "Service"], s.principal_type) && length(s.principal_identifiers) > 0])
    error_message = "principal_type must be \"AWS\" or \"Service\" and principal_identifiers must not be empty."
  }

  validation {
    condition     = alltrue(flatten([for s in var.policy_statements : [for a in s.actions : startswith(a, "kms:") && a != "kms:*"]])) && alltrue([for s in var.policy_statements : length(s.actions) > 0])
    error_message = "Statement actions must be non-empty lists of kms: actions; \"kms:*\" is reserved for the account-root administration statement."
  }

  validation {
    condition     = alltrue(flatten([for s in var.policy_statements : [for id in s.principal_identifiers : id != "*"]]))
    error_message = "A principal of \"*\" is not allowed in the key policy."
  }
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
  nullable    = false
}
