# Inputs of the bootstrap root (state bucket, OIDC provider, plan/deployer roles).

variable "aws_region" {
  description = "Region of the state bucket and of the production stack the deployer role may change (e.g. us-east-1)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.aws_region))
    error_message = "aws_region must be an AWS Region name such as us-east-1 or eu-west-1."
  }
}

variable "name_prefix" {
  description = "The production root's name_prefix (infra/envs/aws): the deployer role may only change resources whose names start with it. Same rule as there: 1-24 lowercase letters, digits and hyphens."
  type        = string
  default     = "ecomexpress"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix must be 1-24 lowercase letters, digits or hyphens, starting with a letter and ending with a letter or digit (the production root's rule)."
  }
}

variable "github_repository" {
  description = "The GitHub repository whose workflows may assume the roles, as owner/name (e.g. acme/ecomexpress). Only this repository's tokens are trusted."
  type        = string
  nullable    = false

  validation {
    # GitHub owner: 1-39 alphanumerics or single hyphens; repository: letters,
    # digits, ., _ and -. No wildcards: a `*` here would trust every repository.
    condition     = can(regex("^[A-Za-z0-9](-?[A-Za-z0-9]){0,38}/[A-Za-z0-9._-]{1,100}$", var.github_repository)) && !can(regex("/[.]{1,2}$", var.github_repository))
    error_message = "github_repository must be owner/name of one GitHub repository (e.g. acme/ecomexpress), without wildcards."
  }
}

variable "production_environment" {
  description = "Name of the GitHub environment of the apply job (its required reviewers are the approval). The deployer role trusts only tokens issued to jobs in this environment."
  type        = string
  default     = "production"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,255}$", var.production_environment))
    error_message = "production_environment must be a GitHub environment name (letters, digits, . _ -)."
  }
}

variable "state_key" {
  description = "Key of the production root's state object in the bucket (backend.hcl `key`). The roles may read/write only this object and its lock file (<key>.tflock)."
  type        = string
  default     = "envs/aws/terraform.tfstate"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", var.state_key)) && !strcontains(var.state_key, "*")
    error_message = "state_key must be an S3 key such as envs/aws/terraform.tfstate (no leading or trailing /, no //, no *)."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted state (or lock file) version is kept before it expires. Every apply writes a new version; this is how far back a state can be restored."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.noncurrent_version_retention_days >= 7 && var.noncurrent_version_retention_days <= 3650 && floor(var.noncurrent_version_retention_days) == var.noncurrent_version_retention_days
    error_message = "noncurrent_version_retention_days must be a whole number between 7 and 3650."
  }
}

variable "create_oidc_provider" {
  description = "Create the token.actions.githubusercontent.com OIDC provider. An account has at most one provider per URL: set false when it already exists (then it is looked up by its URL)."
  type        = bool
  default     = true
  nullable    = false
}

variable "vpc_id" {
  description = "Optional VPC of the production stack (vpc-...). When set, the deployer may create security groups only in it, and delete, tag or change the rules of only the security groups in it (ec2:Vpc condition). When null, both hold for every VPC of the account in aws_region."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]{8,17}$", coalesce(var.vpc_id, "x")))
    error_message = "vpc_id must be null or look like vpc-0123456789abcdef0."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the state key is deleted after `terraform destroy` (7-30)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30 && floor(var.kms_deletion_window_days) == var.kms_deletion_window_days
    error_message = "kms_deletion_window_days must be a whole number between 7 and 30."
  }
}

variable "tags" {
  description = "Extra tags on every resource (default_tags)."
  type        = map(string)
  default     = {}
  nullable    = false
}
