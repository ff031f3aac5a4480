output "application_name" {
  description = "Name of the Elastic Beanstalk application."
  value       = aws_elastic_beanstalk_application.this.name
}

output "environment_names" {
  description = "Environment name per service: api, relay, procesamiento, logistica."
  value       = { for k, e in aws_elastic_beanstalk_environment.this : k => e.name }
}

output "api_endpoint" {
  description = "DNS name of the order-api load balancer (HTTPS on 443; point a name covered by the certificate at it)."
  value       = aws_elastic_beanstalk_environment.this["api"].endpoint_url
}

output "version_labels" {
  description = "Application version deployed per service (<bundle>-<image tag>)."
  value       = local.version_labels
}

output "instance_role_arns" {
  description = "Instance role ARN per environment. The API's and the relay's must be among the topic's publishers in the production root."
  value       = local.instance_role_arns
}

output "bundles" {
  description = "The rendered Dockerrun.aws.json of each environment."
  value       = local.bundles
}
