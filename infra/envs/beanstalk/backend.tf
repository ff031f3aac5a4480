# Remote state of the Beanstalk root: the same partial S3 configuration as
# infra/envs/aws/backend.tf (see there), with its own key in the same bucket:
#
#   terraform -chdir=infra/envs/beanstalk init -backend-config=backend.hcl
#
# backend.hcl: bucket, region, kms_key_id as for infra/envs/aws, and
# key = "envs/beanstalk/terraform.tfstate". Tests and validate init with
# -backend=false (scripts/test.sh), offline.
terraform {
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
