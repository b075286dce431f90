output "job_name" {
  description = "Name of the scheduler job."
  value       = google_cloud_scheduler_job.tick.name
}
