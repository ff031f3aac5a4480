# The bucket holding the rendered Dockerrun.aws.json bundles (one object per
# application version; Beanstalk deletes a version's object when its lifecycle
# removes the version). Private, versioned, encrypted with the AWS managed S3
# key (the instance roles need no key policy change for it), TLS only.

resource "aws_s3_bucket" "bundles" {
  #checkov:skip=CKV_AWS_18:Holds only the rendered Dockerrun.aws.json bundles Terraform writes; access logging would need another bucket (CloudTrail data events can cover it).
  #checkov:skip=CKV_AWS_144:The bundles are re-rendered from the repository by any apply; cross-region replication adds nothing.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the bundle bucket.
  bucket = "${var.name_prefix}-eb-bundles-${local.account_id}-${local.prod.aws_region}"
}

resource "aws_s3_bucket_public_access_block" "bundles" {
  bucket = aws_s3_bucket.bundles.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  rule {
    id     = "expire-old-bundle-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_policy" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.bundles.arn, "${aws_s3_bucket.bundles.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.bundles]
}
