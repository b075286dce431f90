output "metric_types" {
  description = "Metric type of each log-based metric, by name."
  value = merge(local.metric_type, {
    queue_wait = local.wait_type
    run_time   = local.run_type
  })
}

output "dashboard_id" {
  description = "Id of the dashboard (open it under Monitoring > Dashboards)."
  value       = google_monitoring_dashboard.overview.id
}

output "alert_policies" {
  description = "Names of the alert policies."
  value = [
    google_monitoring_alert_policy.failed_jobs.name,
    google_monitoring_alert_policy.function_errors.name,
    google_monitoring_alert_policy.callbacks_refused.name,
    google_monitoring_alert_policy.queue_wait.name,
    google_monitoring_alert_policy.dead_letters.name,
  ]
}
