output "database" {
  description = "Name of the Firestore database the functions use."
  value       = google_firestore_database.this.name
}

output "indexes" {
  description = "Composite indexes, by purpose."
  value = {
    queue_oldest_first = google_firestore_index.jobs_state_created_asc.name
    recent_successes   = google_firestore_index.jobs_state_created_desc.name
    owner_newest_first = google_firestore_index.jobs_owner_created_desc.name
  }
}
