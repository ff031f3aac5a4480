# Local emulators: LocalStack (SNS, SQS, STS, IAM) and DynamoDB Local.
# Fake static credentials; nothing here reaches AWS.
provider "aws" {
  region     = "us-east-1"
  access_key = "test"
  secret_key = "test"

  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  endpoints {
    sns      = var.localstack_endpoint
    sqs      = var.localstack_endpoint
    sts      = var.localstack_endpoint
    iam      = var.localstack_endpoint
    dynamodb = var.dynamodb_endpoint
  }

  # No default_tags: DynamoDB Local rejects TagResource/ListTagsOfResource
  # ("Tagging is not currently supported"), so any tag on the table would show
  # as a change on every plan. For the same reason this root passes no `tags`
  # to the module.
}
