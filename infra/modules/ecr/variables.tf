variable "name" {
  description = "Repository name (e.g. \"ecomexpress/order-api\"): lowercase letters, digits and . _ - / separators, 2-256 characters."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.name) >= 2 && length(var.name) <= 256 && can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.name))
    error_message = "name must be 2-256 characters: lowercase alphanumeric components separated by '.', '_', '-' or '/' (ECR repository naming rules)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the images (encryption_type KMS). ECR creates its own grant on the key when the repository is created, so image pulls need no KMS permission on the pulling role."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "dev_tag_prefixes" {
  description = "Tag prefixes of development images (pushed by branch builds), which expire after dev_tag_expiry_days. Every other tag is a release tag and never expires. A release tag must not start with one of these (the production root's image-tag variables refuse it)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.dev_tag_prefixes) <= 10 && alltrue([for p in var.dev_tag_prefixes : can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$", p))])
    error_message = "dev_tag_prefixes: at most 10 non-empty tag prefixes (letters, digits, _ . -, not starting with . or -)."
  }
}

variable "dev_tag_expiry_days" {
  description = "Lifecycle policy: development images (dev_tag_prefixes) expire this many days after push."
  type        = number
  default     = 14
  nullable    = false

  validation {
    condition     = var.dev_tag_expiry_days >= 1 && var.dev_tag_expiry_days <= 3650 && floor(var.dev_tag_expiry_days) == var.dev_tag_expiry_days
    error_message = "dev_tag_expiry_days must be a whole number between 1 and 3650."
  }
}

variable "untagged_expiry_days" {
  description = "Lifecycle policy: untagged images (e.g. layers of interrupted pushes) expire this many days after push."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.untagged_expiry_days >= 1 && var.untagged_expiry_days <= 3650 && floor(var.untagged_expiry_days) == var.untagged_expiry_days
    error_message = "untagged_expiry_days must be a whole number between 1 and 3650."
  }
}

variable "force_delete" {
  description = "Allow `terraform destroy` to delete the repository while it still holds images. Keep false in production."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags for the repository."
  type        = map(string)
  default     = {}
  nullable    = false
}
