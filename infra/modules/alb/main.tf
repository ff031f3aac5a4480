locals {
  log_objects_arn = "arn:${var.partition}:s3:::${var.access_logs_bucket_name}/${var.access_logs_prefix}/AWSLogs/${var.account_id}/*"
  bucket_arn      = "arn:${var.partition}:s3:::${var.access_logs_bucket_name}"

  log_delivery_statements = concat(
    [{
      # Regions available since August 2022 (and, increasingly, all Regions)
      # deliver ALB access logs with this service principal.
      Sid       = "AllowElbLogDeliveryService"
      Effect    = "Allow"
      Principal = { Service = "logdelivery.elasticloadbalancing.amazonaws.com" }
      Action    = "s3:PutObject"
      Resource  = local.log_objects_arn
    }],
    [for arn in data.aws_elb_service_account.this[*].arn : {
      # Regions available before August 2022 deliver with the regional ELB account.
      Sid       = "AllowElbRegionalAccount"
      Effect    = "Allow"
      Principal = { AWS = arn }
      Action    = "s3:PutObject"
      Resource  = local.log_objects_arn
    }],
  )

  bucket_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.log_delivery_statements, [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }])
  })
}

data "aws_elb_service_account" "this" {
  count = var.grant_legacy_elb_account ? 1 : 0
}

################################################################################
# Access-log bucket (ALB log delivery only supports SSE-S3)
################################################################################

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_145:ALB access log delivery only supports SSE-S3 (AES256); SSE-KMS makes delivery fail.
  #checkov:skip=CKV_AWS_18:This bucket is the log sink itself; logging it would need yet another bucket (CloudTrail data events can cover it).
  #checkov:skip=CKV_AWS_144:Cross-region replication of load balancer access logs is not required; lifecycle expiry bounds their value.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the access-log bucket; no event notifications are needed.
  bucket        = var.access_logs_bucket_name
  force_destroy = var.access_logs_force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_logs_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = local.bucket_policy

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

################################################################################
# Security group: HTTPS in from the allowed CIDRs, target port out to the tasks
################################################################################

resource "aws_security_group" "this" {
  # name_prefix: create_before_destroy needs a new name for the replacement.
  name_prefix = "${var.name}-alb-"
  description = "ALB ${var.name}: HTTPS from allowed CIDRs, HTTP to the API tasks only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "https" {
  for_each = toset(var.ingress_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "HTTPS from ${each.value} to the ALB listener"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "targets" {
  security_group_id            = aws_security_group.this.id
  description                  = "ALB to the API tasks on the container port only"
  ip_protocol                  = "tcp"
  from_port                    = var.target_port
  to_port                      = var.target_port
  referenced_security_group_id = var.target_security_group_id

  tags = var.tags
}

################################################################################
# Load balancer, target group, HTTPS listener
################################################################################

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is attached through waf_web_acl_arn; the ALB is internal by default and the root module requires a WAF or allow-listed CIDRs before it can be internet-facing.
  name               = var.name
  load_balancer_type = "application"
  internal           = var.internal
  security_groups    = [aws_security_group.this.id]
  subnets            = var.subnet_ids
  ip_address_type    = "ipv4"

  drop_invalid_header_fields = true
  desync_mitigation_mode     = "defensive"
  enable_deletion_protection = var.deletion_protection
  enable_http2               = true
  idle_timeout               = var.idle_timeout_seconds
  enable_waf_fail_open       = false

  access_logs {
    enabled = true
    bucket  = aws_s3_bucket.access_logs.id
    prefix  = var.access_logs_prefix
  }

  tags = var.tags

  # The ALB checks that it may write to the bucket when access logs are enabled.
  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB; the API tasks serve plain HTTP on the private network, reachable only from the ALB security group.
  name                 = var.name
  vpc_id               = var.vpc_id
  target_type          = "ip"
  protocol             = "HTTP"
  protocol_version     = "HTTP1"
  port                 = var.target_port
  deregistration_delay = var.deregistration_delay_seconds

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = var.health_check_path
    matcher             = "200"
    interval            = var.health_check_interval_seconds
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}

# Paths the ALB answers itself with 404, before the default forward: internal
# endpoints of the tasks (the API's Prometheus /metrics, which the collector
# sidecar scrapes on localhost) are never reachable through the load balancer.
resource "aws_lb_listener_rule" "blocked_paths" {
  count = length(var.blocked_path_patterns) > 0 ? 1 : 0

  listener_arn = aws_lb_listener.https.arn
  priority     = 1

  action {
    type = "fixed-response"

    fixed_response {
      content_type = "application/json"
      message_body = jsonencode({ type = "about:blank", title = "Not Found", status = 404 })
      status_code  = "404"
    }
  }

  condition {
    path_pattern {
      values = var.blocked_path_patterns
    }
  }

  tags = var.tags
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.waf_web_acl_arn == null ? 0 : 1

  resource_arn = aws_lb.this.arn
  web_acl_arn  = var.waf_web_acl_arn
}
