################################################################################
# OpenTelemetry collector sidecar (AWS Distro for OpenTelemetry)
#
# Traces: the application exports OTLP/HTTP to localhost:4318; the collector
# sends them to X-Ray. Metrics: the collector scrapes the application's
# Prometheus endpoint on localhost and writes them to CloudWatch in embedded
# metric format (EMF), into a log group of its own created by this module.
################################################################################

locals {
  otel_enabled        = var.otel_sidecar.enabled
  otel_container_name = "otel-collector"
  otel_otlp_port      = 4318
  otel_service_name   = coalesce(var.otel_sidecar.service_name, var.name)
  otel_role           = coalesce(var.otel_sidecar.role, local.otel_service_name)
  otel_metrics_port   = try(coalesce(var.otel_sidecar.metrics_port, var.container_port), null)

  # Exact metric names as the collector's Prometheus receiver names them:
  # counters keep their `_total`, histograms lose `_bucket`/`_sum`/`_count`.
  otel_metric_names    = sort(keys(var.otel_sidecar.metrics))
  otel_exports_metrics = local.otel_enabled && length(local.otel_metric_names) > 0

  metrics_log_group_name = coalesce(var.otel_sidecar.metrics_log_group_name, "${var.log_group_name}/metrics")
  metrics_log_group_arn  = "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:${local.metrics_log_group_name}"

  # Every metric is exported with the Role and Service dimensions (the
  # dashboard splits on them), plus the extra label sets asked for.
  otel_base_dimensions = ["Role", "Service"]

  otel_scrape_timeout_seconds = min(10, var.otel_sidecar.scrape_interval_seconds)

  otel_receivers = merge(
    {
      # localhost only: nothing outside the task can send spans.
      otlp = { protocols = { http = { endpoint = "localhost:${local.otel_otlp_port}" } } }
    },
    local.otel_exports_metrics ? {
      prometheus = {
        config = {
          global = {
            scrape_interval = "${var.otel_sidecar.scrape_interval_seconds}s"
            scrape_timeout  = "${local.otel_scrape_timeout_seconds}s"
          }
          scrape_configs = [{
            job_name     = local.otel_service_name
            metrics_path = var.otel_sidecar.metrics_path
            scheme       = "http"
            static_configs = [{
              targets = ["localhost:${local.otel_metrics_port}"]
              labels  = { Role = local.otel_role, Service = local.otel_service_name }
            }]
            # Only the series the metric declarations export (Prometheus
            # regexes are anchored); a histogram's series carry suffixes.
            metric_relabel_configs = [{
              source_labels = ["__name__"]
              regex         = join("|", [for m in local.otel_metric_names : "${m}(_bucket|_sum|_count)?"])
              action        = "keep"
            }]
          }]
        }
      }
    } : {},
  )

  otel_processors = merge(
    {
      # The container's hard limit is the collector's whole budget; the
      # process uses about 50 MiB beyond the heap limit set here.
      memory_limiter = {
        check_interval  = "1s"
        limit_mib       = floor(var.otel_sidecar.memory * 0.7)
        spike_limit_mib = floor(var.otel_sidecar.memory * 0.15)
      }
      # ECS task metadata (cluster, task, family, AZ) on every span and metric.
      resourcedetection = { detectors = ["ecs"], timeout = "2s", override = false }
      # PutTraceSegments takes at most 50 segments per call.
      "batch/traces" = { timeout = "1s", send_batch_size = 50 }
    },
    local.otel_exports_metrics ? {
      "batch/metrics" = { timeout = "10s" }
      # Prometheus counters and histograms are cumulative since the process
      # started; CloudWatch wants what happened in each period. The EMF
      # exporter does that for counters but not for Prometheus histograms
      # (it would export a lifetime mean), so the collector turns all of them
      # into deltas. The first scrape is kept: it counts what happened since
      # the task started.
      cumulativetodelta = { initial_value = "keep" }
    } : {},
  )

  otel_exporters = merge(
    {
      awsxray = {
        region = var.region
        # X-Ray annotations (searchable: `annotation.pedido_id = "<id>"`):
        # the span attributes the services set on every order's spans.
        indexed_attributes = ["pedido_id", "role", "outcome", "event_type"]
      }
    },
    local.otel_exports_metrics ? {
      awsemf = {
        region          = var.region
        namespace       = var.otel_sidecar.metrics_namespace
        log_group_name  = local.metrics_log_group_name
        log_stream_name = "{TaskId}"
        # Exactly the declared dimension sets, no automatic roll-ups (each
        # dimension combination is a billed custom metric).
        dimension_rollup_option = "NoDimensionRollup"
        metric_declarations = [for m in local.otel_metric_names : {
          dimensions            = [for extra in var.otel_sidecar.metrics[m] : concat(local.otel_base_dimensions, extra)]
          metric_name_selectors = ["^${m}$"]
        }]
      }
    } : {},
  )

  otel_pipelines = merge(
    {
      traces = {
        receivers  = ["otlp"]
        processors = ["memory_limiter", "resourcedetection", "batch/traces"]
        exporters  = ["awsxray"]
      }
    },
    local.otel_exports_metrics ? {
      metrics = {
        receivers  = ["prometheus"]
        processors = ["memory_limiter", "resourcedetection", "cumulativetodelta", "batch/metrics"]
        exporters  = ["awsemf"]
      }
    } : {},
  )

  otel_config_yaml = yamlencode({
    receivers  = local.otel_receivers
    processors = local.otel_processors
    exporters  = local.otel_exporters
    service    = { pipelines = local.otel_pipelines }
  })

  otel_container = {
    name  = local.otel_container_name
    image = var.otel_sidecar.image
    # Telemetry must never take the service down: if the collector exits,
    # the task keeps running and serving (spans and metrics are lost).
    essential = false

    # Its share of the task (see var.otel_sidecar): a soft reservation and a
    # hard limit, so a runaway collector is killed alone.
    cpu               = var.otel_sidecar.cpu
    memory            = var.otel_sidecar.memory
    memoryReservation = var.otel_sidecar.memory_reservation

    # Same hardening as the application: the collector writes no file (its
    # configuration comes from AOT_CONFIG_CONTENT), binds no privileged port.
    user                   = var.user
    readonlyRootFilesystem = true
    privileged             = false
    linuxParameters = {
      initProcessEnabled = true
      capabilities = {
        add  = []
        drop = ["ALL"]
      }
    }

    portMappings   = []
    mountPoints    = []
    volumesFrom    = []
    systemControls = []

    # ADOT reads its whole configuration from this variable.
    environment = [{ name = "AOT_CONFIG_CONTENT", value = local.otel_config_yaml }]

    # Exporters flush on SIGTERM; the application has stopped by then.
    stopTimeout = 10

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.this.name
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "ecs"
        "mode"                  = "non-blocking"
        "max-buffer-size"       = "4m"
      }
    }
  }

  otel_task_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        # The awsxray exporter only sends segments: its self-telemetry
        # (PutTelemetryRecords) is off by default and the services sample
        # locally (parentbased_traceidratio), so no GetSampling* either.
        # xray:PutTraceSegments has no resource-level permissions: AWS
        # requires Resource "*".
        Sid      = "SendTracesToXRay"
        Effect   = "Allow"
        Action   = "xray:PutTraceSegments"
        Resource = "*"
      }],
      local.otel_exports_metrics ? [{
        # EMF log events into this service's metrics log group only (":*"
        # is the group's ARN form for log-group and log-stream actions). No
        # logs:CreateLogGroup: Terraform creates the group, and the exporter
        # only tries to create it when it is missing. No DescribeLogStreams:
        # the exporter creates its stream when PutLogEvents reports it missing.
        Sid      = "WriteEmfMetricsLogGroup"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${local.metrics_log_group_arn}:*"
      }] : [],
    )
  })
}
