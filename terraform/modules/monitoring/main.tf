# Monitoring in place of the original Prometheus/Grafana: log-based metrics from the functions' JSON log lines
# (shared/structured_log.py: "message", "severity", and the fields of each call at the top level, so they arrive as
# jsonPayload.<field>), alert policies and one dashboard. Each metric names the log line it counts; the consistency
# test checks those messages and fields against the code.

locals {
  run = "resource.type=\"cloud_run_revision\""

  service_filter = {
    for key, name in var.service_names : key => "${local.run} AND resource.labels.service_name=\"${name}\""
  }
  any_service = "${local.run} AND resource.labels.service_name=(${join(" OR ", [for name in values(var.service_names) : "\"${name}\""])})"

  metric_prefix = "${var.name_prefix}/"
  metric_type   = { for key, metric in google_logging_metric.counters : key => "logging.googleapis.com/user/${metric.name}" }
  wait_type     = "logging.googleapis.com/user/${google_logging_metric.queue_wait.name}"
  run_type      = "logging.googleapis.com/user/${google_logging_metric.run_time.name}"

  counters = {
    # Runs that reached Slurm and ended: SUCCEEDED, FAILED, CANCELLED or TIMEOUT (shared/services/complete.py),
    # logged by the completion hook, or by the dispatcher's reconciler when the cluster's report was lost.
    jobs_ended = {
      description = "Jobs that ended after running in Slurm, by final state."
      filter      = "${local.any_service} AND jsonPayload.message=\"job ended\""
      labels      = { state = "EXTRACT(jsonPayload.state)" }
    }
    # Jobs that ended before reaching Slurm: REJECTED by quota, FAILED to render or refused by sbatch (dispatch.py).
    jobs_ended_before_slurm = {
      description = "Jobs that ended before reaching Slurm, by state."
      filter      = "${local.service_filter.dispatcher} AND jsonPayload.message=\"job ended before reaching Slurm\""
      labels      = { state = "EXTRACT(jsonPayload.state)" }
    }
    # Uploads recorded as QUEUED or REJECTED (shared/services/ingest.py).
    uploads_recorded = {
      description = "Uploads recorded as jobs, by state (QUEUED or REJECTED)."
      filter      = "${local.service_filter.ingest} AND jsonPayload.message=\"upload recorded\""
      labels      = { state = "EXTRACT(jsonPayload.state)" }
    }
    # Ends the cluster never reported (lost epilog callback, job cancelled while pending), found by the tick.
    jobs_reconciled = {
      description = "Jobs whose end the tick's reconciler found in Slurm because the cluster never reported it."
      filter      = "${local.service_filter.dispatcher} AND jsonPayload.message=\"reconciled a job whose end was not reported\""
      labels      = { slurm_state = "EXTRACT(jsonPayload.slurm_state)" }
    }
    jobs_submitted = {
      description = "Jobs submitted to Slurm."
      filter      = "${local.service_filter.dispatcher} AND jsonPayload.message=\"submitted to Slurm\""
      labels      = {}
    }
    # Callbacks that failed the HMAC check: a probe of the hook, or a key mismatch after a rotation.
    callbacks_refused = {
      description = "Completion hook calls refused for a bad or stale signature."
      filter      = "${local.service_filter.completion} AND jsonPayload.message=\"refused an unauthenticated callback\""
      labels      = {}
    }
    # Git submissions: designs fetched and handed to ingest, and submissions refused (no such repository, ref or
    # folder, too large, too slow, a host that is not public) by the git fetcher (shared/services/fetch_design.py).
    git_fetches = {
      description = "Git submissions whose design was fetched and uploaded for ingest."
      filter      = "${local.service_filter.git_fetcher} AND jsonPayload.message=\"design fetched and uploaded\""
      labels      = {}
    }
    git_fetches_refused = {
      description = "Git submissions refused because their design could not be fetched."
      filter      = "${local.service_filter.git_fetcher} AND jsonPayload.message=\"git fetch refused\""
      labels      = {}
    }
    # Jobs that ended at once with an earlier identical run's results (RESULT_REUSE, shared/services/ingest.py).
    results_reused = {
      description = "Jobs that reused the results of an earlier run with the same inputs."
      filter      = "${local.service_filter.ingest} AND jsonPayload.message=\"same inputs as an earlier run: results reused\""
      labels      = {}
    }
    mail_failures = {
      description = "E-mails to job owners that could not be sent."
      filter      = "${local.any_service} AND jsonPayload.message=\"could not send the job's e-mail\""
      labels      = {}
    }
    function_errors = {
      description = "Log lines of severity ERROR or worse from the functions, by Cloud Run service."
      filter      = "${local.any_service} AND severity>=ERROR"
      labels      = { service = "EXTRACT(resource.labels.service_name)" }
    }
  }
}

# --------------------------------------------------------------------------------------- log-based metrics

resource "google_logging_metric" "counters" {
  for_each    = local.counters
  project     = var.project_id
  name        = "${local.metric_prefix}${each.key}"
  description = each.value.description
  filter      = each.value.filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key        = labels.key
        value_type = "STRING"
      }
    }
  }

  label_extractors = each.value.labels
}

# Seconds from upload to sbatch, logged by the dispatcher with each submission.
resource "google_logging_metric" "queue_wait" {
  project     = var.project_id
  name        = "${local.metric_prefix}queue_wait"
  description = "Seconds a job waited between upload and submission to Slurm."
  filter      = "${local.service_filter.dispatcher} AND jsonPayload.message=\"submitted to Slurm\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"
  }

  value_extractor = "EXTRACT(jsonPayload.queue_wait_s)"

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 1.6
      scale              = 1
    }
  }
}

# Seconds a run held its Slurm allocation (start to end), logged by the hook when the job ends.
resource "google_logging_metric" "run_time" {
  project     = var.project_id
  name        = "${local.metric_prefix}run_time"
  description = "Seconds a job ran in Slurm, by final state."
  filter      = "${local.any_service} AND jsonPayload.message=\"job ended\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"

    labels {
      key        = "state"
      value_type = "STRING"
    }
  }

  value_extractor  = "EXTRACT(jsonPayload.run_s)"
  label_extractors = { state = "EXTRACT(jsonPayload.state)" }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 1.6
      scale              = 1
    }
  }
}

# ------------------------------------------------------------------------------------------------- alerts

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.alert_emails)
  project      = var.project_id
  display_name = "OpenLane Cloud alerts to ${each.value}"
  type         = "email"

  labels = {
    email_address = each.value
  }
}

locals {
  channels = [for channel in google_monitoring_notification_channel.email : channel.id]
}

resource "google_monitoring_alert_policy" "failed_jobs" {
  project               = var.project_id
  display_name          = "OpenLane Cloud: runs failing"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "More than ${var.failed_jobs_threshold} runs FAILED in an hour"

    condition_threshold {
      filter          = "metric.type=\"${local.metric_type.jobs_ended}\" AND ${local.run} AND metric.label.state=\"FAILED\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.failed_jobs_threshold
      duration        = "0s"

      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Runs are ending FAILED. Look at the jobs' `reason` and `error_excerpt` (olc jobs get ID --json) and at the run logs in the results bucket; many at once usually means a broken image or PDK on /apps, or a full /home."
  }

  depends_on = [google_logging_metric.counters]
}

resource "google_monitoring_alert_policy" "function_errors" {
  project               = var.project_id
  display_name          = "OpenLane Cloud: function errors"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "A function logged errors in the last 5 minutes"

    condition_threshold {
      filter          = "metric.type=\"${local.metric_type.function_errors}\" AND ${local.run}"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.service"]
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A function logged ERROR lines. Open Logs Explorer with `resource.type=\"cloud_run_revision\" severity>=ERROR` and the service named in the incident."
  }

  depends_on = [google_logging_metric.counters]
}

resource "google_monitoring_alert_policy" "callbacks_refused" {
  project               = var.project_id
  display_name          = "OpenLane Cloud: completion hook refusing callbacks"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "The hook refused signed callbacks in the last 5 minutes"

    condition_threshold {
      filter          = "metric.type=\"${local.metric_type.callbacks_refused}\" AND ${local.run}"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Callbacks failed the HMAC check. After a hook key rotation, reboot the compute nodes (they read the key at boot); otherwise someone is calling the hook with a wrong signature."
  }

  depends_on = [google_logging_metric.counters]
}

resource "google_monitoring_alert_policy" "queue_wait" {
  project               = var.project_id
  display_name          = "OpenLane Cloud: long queue waits"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "95th percentile queue wait above ${var.queue_wait_alert_seconds} s"

    condition_threshold {
      filter          = "metric.type=\"${local.wait_type}\" AND ${local.run}"
      comparison      = "COMPARISON_GT"
      threshold_value = var.queue_wait_alert_seconds
      duration        = "0s"

      aggregations {
        alignment_period     = "1800s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Jobs wait long before reaching Slurm: the service is at JOB_CONCURRENCY, users are at their quotas, or the dispatcher cannot reach the login node (see function errors and the dead-letter subscription)."
  }

  depends_on = [google_logging_metric.queue_wait]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "OpenLane Cloud: dead-lettered dispatcher messages"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "Messages waiting in ${var.dead_letter_subscription}"

    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${var.dead_letter_subscription}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The dispatcher (usually: login node unreachable) or the git fetcher (e.g. git missing from its runtime, docs/deploy.md) failed a message repeatedly. Fix the cause; the tick admits queued jobs anyway. Inspect with `gcloud pubsub subscriptions pull ${var.dead_letter_subscription} --auto-ack --limit 10`."
  }
}

# ------------------------------------------------------------------------------------------------ dashboard

locals {
  tile = {
    width  = 6
    height = 4
  }

  charts = [
    { title = "Runs ended, by state", type = local.metric_type.jobs_ended, group = ["metric.label.\"state\""], plot = "STACKED_BAR", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "Uploads recorded, by state", type = local.metric_type.uploads_recorded, group = ["metric.label.\"state\""], plot = "STACKED_BAR", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "Jobs submitted to Slurm", type = local.metric_type.jobs_submitted, group = [], plot = "LINE", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "Ended before Slurm, by state", type = local.metric_type.jobs_ended_before_slurm, group = ["metric.label.\"state\""], plot = "STACKED_BAR", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "Queue wait p50 (s)", type = local.wait_type, group = [], plot = "LINE", reducer = "REDUCE_PERCENTILE_50", aligner = "ALIGN_DELTA" },
    { title = "Queue wait p95 (s)", type = local.wait_type, group = [], plot = "LINE", reducer = "REDUCE_PERCENTILE_95", aligner = "ALIGN_DELTA" },
    { title = "Run time p50 (s), by state", type = local.run_type, group = ["metric.label.\"state\""], plot = "LINE", reducer = "REDUCE_PERCENTILE_50", aligner = "ALIGN_DELTA" },
    { title = "Run time p95 (s), by state", type = local.run_type, group = ["metric.label.\"state\""], plot = "LINE", reducer = "REDUCE_PERCENTILE_95", aligner = "ALIGN_DELTA" },
    { title = "Function errors, by service", type = local.metric_type.function_errors, group = ["metric.label.\"service\""], plot = "STACKED_BAR", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "Ends found by the reconciler, by Slurm state", type = local.metric_type.jobs_reconciled, group = ["metric.label.\"slurm_state\""], plot = "STACKED_BAR", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "Refused hook callbacks", type = local.metric_type.callbacks_refused, group = [], plot = "LINE", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "E-mails not sent", type = local.metric_type.mail_failures, group = [], plot = "LINE", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "Git designs fetched", type = local.metric_type.git_fetches, group = [], plot = "LINE", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "Git submissions refused", type = local.metric_type.git_fetches_refused, group = [], plot = "LINE", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "Results reused", type = local.metric_type.results_reused, group = [], plot = "LINE", reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
  ]

  dashboard = {
    displayName = "OpenLane Cloud"
    mosaicLayout = {
      columns = 12
      tiles = concat(
        [for index, chart in local.charts : {
          xPos   = (index % 2) * local.tile.width
          yPos   = floor(index / 2) * local.tile.height
          width  = local.tile.width
          height = local.tile.height
          widget = {
            title = chart.title
            xyChart = {
              dataSets = [{
                plotType = chart.plot
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = "metric.type=\"${chart.type}\" resource.type=\"cloud_run_revision\""
                    aggregation = {
                      alignmentPeriod    = "300s"
                      perSeriesAligner   = chart.aligner
                      crossSeriesReducer = chart.reducer
                      groupByFields      = chart.group
                    }
                  }
                }
              }]
            }
          }
        }],
        [{
          xPos   = 0
          yPos   = ceil(length(local.charts) / 2) * local.tile.height
          width  = 12
          height = local.tile.height
          widget = {
            title = "Dead-lettered dispatcher messages"
            xyChart = {
              dataSets = [{
                plotType = "LINE"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" resource.type=\"pubsub_subscription\" resource.label.\"subscription_id\"=\"${var.dead_letter_subscription}\""
                    aggregation = {
                      alignmentPeriod  = "300s"
                      perSeriesAligner = "ALIGN_MAX"
                    }
                  }
                }
              }]
            }
          }
        }],
      )
    }
  }
}

resource "google_monitoring_dashboard" "overview" {
  project        = var.project_id
  dashboard_json = jsonencode(local.dashboard)

  depends_on = [google_logging_metric.counters, google_logging_metric.queue_wait, google_logging_metric.run_time]
}
