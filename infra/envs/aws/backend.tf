# Remote state of the production root: an S3 backend given as a PARTIAL
# configuration. Only the settings that are the same everywhere live here; the
# bucket, key and region come at init time, so no account-specific value is
# committed:
#
#   terraform -chdir=infra/envs/aws init -backend-config=backend.hcl
#
# (backend.hcl.example shows the three settings; the bucket is created by
# infra/bootstrap). `terraform validate` / `terraform test` run with
# `terraform init -backend=false` (scripts/test.sh), so they stay offline.
#
# use_lockfile: S3-native state locking (Terraform >= 1.10): a `<key>.tflock`
# object written with a conditional PUT (If-None-Match) next to the state and
# deleted on unlock; no DynamoDB table needed (DynamoDB locking is deprecated in
# the S3 backend's documentation). encrypt: the state object is written with
# server-side encryption; with kms_key_id (backend.hcl) under the state bucket's
# own KMS key (infra/bootstrap, whose bucket policy refuses an upload asking
# for any other encryption, such as SSE-S3).
terraform {
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
