output "lb_arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "lb_arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch LoadBalancer dimension)."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Route 53 hosted zone id of the load balancer (for alias records)."
  value       = aws_lb.this.zone_id
}

output "target_group_arn" {
  description = "ARN of the target group. Depends on the listener: ECS refuses a target group that is not attached to a load balancer yet."
  value       = aws_lb_target_group.this.arn
  depends_on  = [aws_lb_listener.https]
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (CloudWatch TargetGroup dimension)."
  value       = aws_lb_target_group.this.arn_suffix
}

output "listener_arn" {
  description = "ARN of the HTTPS listener."
  value       = aws_lb_listener.https.arn
}

output "security_group_id" {
  description = "Security group of the ALB (the API tasks allow their container port from it)."
  value       = aws_security_group.this.id
}

output "access_logs_bucket" {
  description = "Name of the access-log bucket."
  value       = aws_s3_bucket.access_logs.id
}

output "access_logs_bucket_policy" {
  description = "The access-log bucket policy JSON."
  value       = local.bucket_policy
}

output "settings" {
  description = "Effective security settings of the load balancer, listener, target group, access-log bucket and security group (for reviews and tests)."
  value = {
    internal                   = aws_lb.this.internal
    drop_invalid_header_fields = aws_lb.this.drop_invalid_header_fields
    deletion_protection        = aws_lb.this.enable_deletion_protection
    access_logs = {
      enabled = aws_lb.this.access_logs[0].enabled
      prefix  = aws_lb.this.access_logs[0].prefix
      bucket  = aws_s3_bucket.access_logs.bucket
    }
    listener = {
      port            = aws_lb_listener.https.port
      protocol        = aws_lb_listener.https.protocol
      ssl_policy      = aws_lb_listener.https.ssl_policy
      certificate_arn = aws_lb_listener.https.certificate_arn
    }
    # On the HTTPS listener, the only one (port 80 is not open).
    blocked_paths = [for r in aws_lb_listener_rule.blocked_paths : {
      priority      = r.priority
      path_patterns = flatten([for c in r.condition : [for p in c.path_pattern : p.values]])
      action_type   = r.action[0].type
      status_code   = r.action[0].fixed_response[0].status_code
      content_type  = r.action[0].fixed_response[0].content_type
      message_body  = r.action[0].fixed_response[0].message_body
    }]
    target_group = {
      target_type       = aws_lb_target_group.this.target_type
      protocol          = aws_lb_target_group.this.protocol
      port              = aws_lb_target_group.this.port
      health_check_path = aws_lb_target_group.this.health_check[0].path
      health_matcher    = aws_lb_target_group.this.health_check[0].matcher
    }
    bucket_sse_algorithm = one([for r in aws_s3_bucket_server_side_encryption_configuration.access_logs.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm])
    bucket_public_access_block = {
      block_public_acls       = aws_s3_bucket_public_access_block.access_logs.block_public_acls
      block_public_policy     = aws_s3_bucket_public_access_block.access_logs.block_public_policy
      ignore_public_acls      = aws_s3_bucket_public_access_block.access_logs.ignore_public_acls
      restrict_public_buckets = aws_s3_bucket_public_access_block.access_logs.restrict_public_buckets
    }
    waf_web_acl_arn = var.waf_web_acl_arn
    ingress_rules = [for r in aws_vpc_security_group_ingress_rule.https : {
      cidr_ipv4   = r.cidr_ipv4
      ip_protocol = r.ip_protocol
      from_port   = r.from_port
      to_port     = r.to_port
      description = r.description
    }]
    egress_rules = [{
      referenced_security_group_id = aws_vpc_security_group_egress_rule.targets.referenced_security_group_id
      cidr_ipv4                    = aws_vpc_security_group_egress_rule.targets.cidr_ipv4
      ip_protocol                  = aws_vpc_security_group_egress_rule.targets.ip_protocol
      from_port                    = aws_vpc_security_group_egress_rule.targets.from_port
      to_port                      = aws_vpc_security_group_egress_rule.targets.to_port
      description                  = aws_vpc_security_group_egress_rule.targets.description
    }]
  }
}
