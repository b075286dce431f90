output "urls" {
  description = "Deterministic run.app URL of each function, by function."
  value       = local.urls
}

output "names" {
  description = "Function names, by function."
  value       = { for key, function in google_cloudfunctions2_function.this : key => function.name }
}

output "members" {
  description = "IAM member of each function's runtime service account, by function."
  value       = local.runtime_members
}

output "secret_readers" {
  description = "By secret (ssh_key, hook_key, smtp_password): the IAM members of the functions that read it, by function."
  value = {
    for secret in keys(var.secret_ids) : secret => {
      for key, function in local.functions : key => local.runtime_members[key] if contains(function.secrets, secret)
    }
  }
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
