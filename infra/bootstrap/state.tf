# The S3 bucket holding the production root's state (backend.tf in
# infra/envs/aws), with its own KMS key.
locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  # Bucket names are global: account and Region make this one unique.
  state_bucket_name = "${var.name_prefix}-tfstate-${local.account_id}-${var.aws_region}"
  state_bucket_arn  = "arn:${local.partition}:s3:::${local.state_bucket_name}"
  state_object_arn  = "${local.state_bucket_arn}/${var.state_key}"
  # S3-native locking writes <key>.tflock next to the state (use_lockfile).
  lock_object_arn = "${local.state_object_arn}.tflock"
}

# Encryption choice: SSE-KMS with a key of its own rather than SSE-S3. The state
# holds every resource's attributes (ARNs, policies, anything a provider marks
# sensitive); with a customer-managed key, reading it needs kms:Decrypt on this
# key as well as s3:GetObject (a second, separately audited grant: every
# decrypt is a CloudTrail event), and the key can be disabled to cut access at
# once. Bucket Keys keep the KMS request cost to a few calls per apply.
locals {
  # The account's IAM policies decide who may use the key (the two roles in
  # github-oidc.tf get Decrypt/GenerateDataKey on it); no principal is named here.
  state_key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersThroughIam"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_kms_key" "state" {
  description             = "${var.name_prefix}: Terraform state bucket ${local.state_bucket_name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = local.state_key_policy
}

resource "aws_kms_alias" "state" {
  name          = "alias/${var.name_prefix}-tfstate"
  target_key_id = aws_kms_key.state.key_id
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Server access logs would need another bucket; every access to the state is made by the two roles below and shows in CloudTrail (enable S3 data events for this bucket in the account trail).
  #checkov:skip=CKV_AWS_144:Cross-region replication of a few-KB state file is not worth a second bucket and key; versioning is the recovery path and the state can be rebuilt by import.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the state bucket.
  bucket = local.state_bucket_name
  # No force_destroy: S3 refuses to delete a bucket that still holds objects
  # (any version), so a stray `terraform destroy` here cannot take the
  # production state with it. (prevent_destroy would also block the mocked
  # `terraform test` teardown.)
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

# Versions: every apply writes a new state version, and every locked operation
# creates <key>.tflock and deletes it again, leaving a noncurrent version and a
# delete marker behind. Noncurrent versions (old states and old lock files)
# expire after noncurrent_version_retention_days, the newest 10 always kept; a
# delete marker with no versions left under it (a lock file whose versions
# expired) is removed too. The current state and a held lock are current
# versions: never expired.
resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  # Lifecycle rules on a bucket whose versioning is still being enabled are
  # rejected or ignored; AWS recommends versioning first.
  depends_on = [aws_s3_bucket_versioning.state]

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days           = var.noncurrent_version_retention_days
      newer_noncurrent_versions = 10
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

locals {
  state_bucket_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.state_bucket_arn, "${local.state_bucket_arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      # An upload that asks for another encryption than SSE-KMS (e.g. an
      # explicit `x-amz-server-side-encryption: AES256`, which the S3 backend
      # may send when `encrypt = true` comes without kms_key_id) is refused: the
      # state is never written under SSE-S3. An upload without the header gets
      # the bucket default (this key). backend.hcl passes kms_key_id (the
      # state_kms_key_arn output).
      {
        Sid       = "DenyNonKmsUploads"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:PutObject"
        Resource  = "${local.state_bucket_arn}/*"
        Condition = { StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption" = "aws:kms" } }
      },
    ]
  })
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = local.state_bucket_policy

  # A bucket policy is refused while Block Public Access is being set up.
  depends_on = [aws_s3_bucket_public_access_block.state]
}
