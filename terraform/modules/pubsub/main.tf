# Topics and the push subscriptions of the dispatcher and the git fetcher. Every message-driven path mirrors the local stack
# (devstack/stack.py): push subscriptions deliver the standard Pub/Sub push body to the function's URL with
# the topic in the path (/projects/P/topics/T), which Functions Framework turns into a messagePublished CloudEvent.
# Owning the subscriptions (rather than letting Eventarc create them) is what lets them carry a dead-letter policy,
# a retry backoff and an ack deadline that matches the function's timeout.

locals {
  pubsub_agent = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "jobs" {
  #checkov:skip=CKV_GCP_83:Messages carry job ids only; Google-managed encryption is sufficient.
  project                    = var.project_id
  name                       = var.jobs_topic_name
  labels                     = var.labels
  message_retention_duration = "86400s"
}

resource "google_pubsub_topic" "tick" {
  #checkov:skip=CKV_GCP_83:Messages are scheduler ticks ({"kind": "tick"}); Google-managed encryption is sufficient.
  project = var.project_id
  name    = var.tick_topic_name
  labels  = var.labels
}

# `fetch` messages of git submissions (api) -> git fetcher (GIT_FETCH_TOPIC).
resource "google_pubsub_topic" "git_fetches" {
  #checkov:skip=CKV_GCP_83:Messages carry job ids only; Google-managed encryption is sufficient.
  project                    = var.project_id
  name                       = var.git_fetch_topic_name
  labels                     = var.labels
  message_retention_duration = "86400s"
}

# The dead letters of both the jobs and the git-fetch subscriptions (as on the local stack: one dead-letter topic).
resource "google_pubsub_topic" "jobs_dead_letter" {
  #checkov:skip=CKV_GCP_83:Messages carry job ids only; Google-managed encryption is sufficient.
  project = var.project_id
  name    = "${var.jobs_topic_name}-dead-letter"
  labels  = var.labels
}

# "queued" and "slot-freed" -> dispatcher. A message the dispatcher keeps failing (e.g. the login node is down)
# goes to the dead-letter topic after max_delivery_attempts; the tick still admits the job once the cause is gone.
resource "google_pubsub_subscription" "jobs_to_dispatcher" {
  project                    = var.project_id
  name                       = "${var.jobs_topic_name}-to-dispatcher"
  topic                      = google_pubsub_topic.jobs.id
  labels                     = var.labels
  ack_deadline_seconds       = var.dispatcher_ack_deadline_seconds
  message_retention_duration = "86400s"

  push_config {
    push_endpoint = "${var.dispatcher_url}/projects/${var.project_id}/topics/${google_pubsub_topic.jobs.name}"

    oidc_token {
      service_account_email = var.push_service_account_email
      audience              = var.dispatcher_url
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.jobs_dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

# Scheduler ticks -> dispatcher. A tick is only worth delivering while it is fresh, so it expires quickly and is
# never dead-lettered: the next tick replaces it.
resource "google_pubsub_subscription" "tick_to_dispatcher" {
  project                    = var.project_id
  name                       = "${var.tick_topic_name}-to-dispatcher"
  topic                      = google_pubsub_topic.tick.id
  labels                     = var.labels
  ack_deadline_seconds       = var.dispatcher_ack_deadline_seconds
  message_retention_duration = "600s"

  push_config {
    push_endpoint = "${var.dispatcher_url}/projects/${var.project_id}/topics/${google_pubsub_topic.tick.name}"

    oidc_token {
      service_account_email = var.push_service_account_email
      audience              = var.dispatcher_url
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "60s"
  }

  expiration_policy {
    ttl = ""
  }
}

# "fetch" -> git fetcher. A fetch that fails for the user's reasons (no such repository, ref or folder; too large,
# too slow) ends the job REJECTED and is acknowledged; only a crash (e.g. Cloud Storage unavailable) is retried, and
# after max_delivery_attempts the message is dead-lettered to the dispatcher, which records it and marks the job.
resource "google_pubsub_subscription" "git_fetches_to_git_fetcher" {
  project                    = var.project_id
  name                       = "${var.git_fetch_topic_name}-to-git-fetcher"
  topic                      = google_pubsub_topic.git_fetches.id
  labels                     = var.labels
  ack_deadline_seconds       = var.git_fetcher_ack_deadline_seconds
  message_retention_duration = "86400s"

  push_config {
    push_endpoint = "${var.git_fetcher_url}/projects/${var.project_id}/topics/${google_pubsub_topic.git_fetches.name}"

    oidc_token {
      service_account_email = var.push_service_account_email
      audience              = var.git_fetcher_url
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.jobs_dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

# Dead letters (of the jobs and git-fetch subscriptions) are pushed to the dispatcher, which records each in Firestore (dead_letters/) with an ERROR log line
# (alerted on by module monitoring) and marks the job it names. Recording needs only Firestore, so it works while
# whatever made the message fail (e.g. the cluster) is still down; retried for a week.
resource "google_pubsub_subscription" "jobs_dead_letter" {
  project                    = var.project_id
  name                       = "${var.jobs_topic_name}-dead-letter"
  topic                      = google_pubsub_topic.jobs_dead_letter.id
  labels                     = var.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  push_config {
    push_endpoint = "${var.dispatcher_url}/projects/${var.project_id}/topics/${google_pubsub_topic.jobs_dead_letter.name}"

    oidc_token {
      service_account_email = var.push_service_account_email
      audience              = var.dispatcher_url
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }
}

# ------------------------------------------------------------------------------------ IAM for the service agent

# The Pub/Sub service agent forwards undeliverable messages: publisher on the dead-letter topic and subscriber on
# the source subscriptions.
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.jobs_dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_reads_jobs_subscription" {
  project      = var.project_id
  subscription = google_pubsub_subscription.jobs_to_dispatcher.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_reads_git_fetches_subscription" {
  project      = var.project_id
  subscription = google_pubsub_subscription.git_fetches_to_git_fetcher.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# The agent mints the OIDC tokens of push deliveries as the push identity (needed in projects created before
# April 2021; harmless and scoped to this one service account elsewhere).
resource "google_service_account_iam_member" "agent_mints_push_tokens" {
  service_account_id = var.push_service_account_name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# Who may publish to the jobs topic: ingest ("queued"), completion and dispatcher ("slot-freed"), api ("cancel").
resource "google_pubsub_topic_iam_member" "jobs_publishers" {
  for_each = var.jobs_publishers
  project  = var.project_id
  topic    = google_pubsub_topic.jobs.name
  role     = "roles/pubsub.publisher"
  member   = each.value
}

# Who may publish to the git-fetch topic: the api (a git submission's "fetch"). The fetcher itself publishes nothing.
resource "google_pubsub_topic_iam_member" "git_fetch_publishers" {
  for_each = var.git_fetch_publishers
  project  = var.project_id
  topic    = google_pubsub_topic.git_fetches.name
  role     = "roles/pubsub.publisher"
  member   = each.value
}
