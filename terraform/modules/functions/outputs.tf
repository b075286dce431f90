output "urls" {
  description = "Deterministic run.app URL of each function, by function."
  value       = local.urls
}

output "names" {
  description = "Function names, by function."
  value = {
    ingest     = google_cloudfunctions2_function.ingest.name
    dispatcher = google_cloudfunctions2_function.dispatcher.name
    completion = google_cloudfunctions2_function.completion.name
    api        = google_cloudfunctions2_function.api.name
  }
}

output "members" {
  description = "IAM member of each function's runtime service account, by function."
  value       = local.runtime_members
}

output "events_service_account_email" {
  description = "E-mail of the event delivery identity (Eventarc trigger, Pub/Sub push)."
  value       = google_service_account.events.email
}

output "events_service_account_name" {
  description = "Resource name of the event delivery identity."
  value       = google_service_account.events.name
}

output "source_object" {
  description = "Object of the deployed source zip."
  value       = google_storage_bucket_object.source.name
}
