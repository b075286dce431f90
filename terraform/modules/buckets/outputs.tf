output "designs_bucket" {
  description = "Name of the designs bucket."
  value       = google_storage_bucket.designs.name
}

output "results_bucket" {
  description = "Name of the results bucket."
  value       = google_storage_bucket.results.name
}

output "images_bucket" {
  description = "Name of the images bucket."
  value       = google_storage_bucket.images.name
}

output "function_source_bucket" {
  description = "Name of the function source bucket."
  value       = google_storage_bucket.function_source.name
}
