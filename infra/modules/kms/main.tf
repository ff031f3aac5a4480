locals {
  root_statement = {
    # Account root = the account itself: lets IAM policies in the account grant
    # use of the key and keeps the key manageable (AWS default key policy).
    Sid       = "EnableAccountRootAdministration"
    Effect    = "Allow"
    Principal = { AWS = "arn:${var.partition}:iam::${var.account_id}:root" }
    Action    = "kms:*"
    Resource  = "*"
  }

  extra_statements = [
    for s in var.policy_statements : merge(
      {
        Sid       = s.sid
        Effect    = "Allow"
        Principal = { (s.principal_type) = s.principal_identifiers }
        Action    = s.actions
        # In a key policy, "*" is the key the policy is attached to.
        Resource = "*"
      },
      length(s.conditions) == 0 ? {} : {
        Condition = {
          for test in distinct([for c in s.conditions : c.test]) : test => {
            for c in s.conditions : c.variable => c.values if c.test == test
          }
        }
      },
    )
  ]

  policy = jsonencode({
    Version   = "2012-10-17"
    Id        = "${var.alias_name}-key-policy"
    Statement = concat([local.root_statement], local.extra_statements)
  })
}

resource "aws_kms_key" "this" {
  description              = var.description
  key_usage                = "ENCRYPT_DECRYPT"
  customer_master_key_spec = "SYMMETRIC_DEFAULT"
  enable_key_rotation      = true
  rotation_period_in_days  = var.rotation_period_in_days
  deletion_window_in_days  = var.deletion_window_in_days
  multi_region             = false
  policy                   = local.policy

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias_name}"
  target_key_id = aws_kms_key.this.key_id
}
