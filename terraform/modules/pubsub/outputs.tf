output "jobs_topic_name" {
  description = "Name of the jobs topic (the functions' JOBS_TOPIC)."
  value       = google_pubsub_topic.jobs.name
}

output "git_fetch_topic_name" {
  description = "Name of the git-fetch topic (the functions' GIT_FETCH_TOPIC)."
  value       = google_pubsub_topic.git_fetches.name
}

output "git_fetch_subscription" {
  description = "Push subscription delivering fetch messages to the git fetcher."
  value       = google_pubsub_subscription.git_fetches_to_git_fetcher.name
}

output "tick_topic_id" {
  description = "Full id of the tick topic (Cloud Scheduler's target)."
  value       = google_pubsub_topic.tick.id
}

output "jobs_dead_letter_topic_name" {
  description = "Name of the dead-letter topic of the jobs and git-fetch subscriptions."
  value       = google_pubsub_topic.jobs_dead_letter.name
}

output "jobs_dead_letter_subscription" {
  description = "Subscription holding dead-lettered jobs and fetch messages (pull it to inspect them)."
  value       = google_pubsub_subscription.jobs_dead_letter.name
}

output "jobs_subscription" {
  description = "Push subscription delivering jobs messages to the dispatcher."
  value       = google_pubsub_subscription.jobs_to_dispatcher.name
}

output "tick_subscription" {
  description = "Push subscription delivering ticks to the dispatcher."
  value       = google_pubsub_subscription.tick_to_dispatcher.name
}
