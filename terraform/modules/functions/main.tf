# The four Cloud Functions (2nd gen) built from ONE source zip (infra/package_functions.sh; its root main.py re-exports
# functions/main.py), each with its own service account and only the roles its code path uses:
#
#   function    trigger                                   reads / writes
#   ingest      Eventarc: storage object finalized        designs (read), jobs topic (publish), Firestore, SMTP secret
#   dispatcher  Pub/Sub push: jobs topic + tick topic     Firestore, SSH + hook + SMTP secrets, login node (SSH, VPC);
#                                                         on a tick it also reconciles lost job ends through the
#                                                         completion path: results (read), jobs topic (publish)
#   completion  HTTP from the cluster (IAM + HMAC)        results (read), jobs topic (publish), Firestore, SSH + hook +
#                                                         SMTP secrets, login node (SSH, VPC)
#   api         HTTP, public (verifies Google ID tokens)  Firestore, SMTP secret; cancelling a job that reached Slurm
#                                                         publishes to the jobs topic and the dispatcher runs scancel,
#                                                         so the public function holds no SSH key and no VPC access
#
# tests/static/test_terraform_consistency.py derives each function's needs from its code path through
# shared/bootstrap.py and checks that it gets exactly those.
#
# Bucket, topic and secret grants live next to those resources (modules buckets, pubsub, secrets) and take the
# members output here.

locals {
  names = {
    ingest     = "${var.name_prefix}-ingest"
    dispatcher = "${var.name_prefix}-dispatcher"
    completion = "${var.name_prefix}-completion"
    api        = "${var.name_prefix}-api"
  }

  # Deterministic Cloud Run URLs (https://SERVICE-PROJECT_NUMBER.REGION.run.app): known before the functions exist,
  # so a function can be told its own URL (STATUS_BASE_URL of the api, COMPLETION_URL of completion).
  urls = { for key, name in local.names : key => "https://${name}-${var.project_number}.${var.region}.run.app" }

  runtime_members = {
    ingest     = "serviceAccount:${google_service_account.ingest.email}"
    dispatcher = "serviceAccount:${google_service_account.dispatcher.email}"
    completion = "serviceAccount:${google_service_account.completion.email}"
    api        = "serviceAccount:${google_service_account.api.email}"
  }

  find_login_node = var.slurm_login_host == ""

  # The functions whose code path reaches bootstrap.cluster(): they SSH to the login node.
  ssh_functions = ["dispatcher", "completion"]

  # One configuration for all four functions (like the local stack's function_env): every key is a variable of
  # shared/config.py's Settings (tests/static/test_terraform_consistency.py checks this).
  common_env = {
    GOOGLE_CLOUD_PROJECT       = var.project_id
    OLC_ENV                    = "production"
    DESIGNS_BUCKET             = var.designs_bucket
    RESULTS_BUCKET             = var.results_bucket
    JOBS_TOPIC                 = var.jobs_topic
    COMPLETION_URL             = local.urls.completion
    STATUS_BASE_URL            = local.urls.api
    HOOK_AUTH                  = "google-id-token"
    FLOW_RUNNER                = var.flow_runner
    JOB_CONCURRENCY            = tostring(var.job_concurrency)
    USER_CONCURRENCY           = tostring(var.user_concurrency)
    USER_MAX_QUEUED            = tostring(var.user_max_queued)
    USER_MONTHLY_CORE_HOURS    = tostring(var.user_monthly_core_hours)
    BUDGET_ACTION              = var.budget_action
    ADMINS                     = join(",", var.admins)
    DEFAULT_CPUS               = tostring(var.default_cpus)
    DEFAULT_MEMORY_MB          = tostring(var.default_memory_mb)
    DEFAULT_TIME_LIMIT_MINUTES = tostring(var.default_time_limit_minutes)
    MAX_UPLOAD_BYTES           = tostring(var.max_upload_bytes)
    CONTAINER_BINARY           = var.container_binary
    SLURM_LOGIN_HOST           = var.slurm_login_host
    SLURM_LOGIN_PORT           = tostring(var.slurm_login_port)
    SLURM_LOGIN_USER           = var.slurm_login_user
    SLURM_HOST_KEY             = var.slurm_host_key
    LOGIN_NODE_ZONE            = var.login_node_zone
    LOGIN_NODE_PATTERN         = var.login_node_pattern
    SLURM_PARTITION            = var.slurm_partition
    SLURM_WORK_ROOT            = var.slurm_work_root
    SMTP_HOST                  = var.smtp_host
    SMTP_PORT                  = tostring(var.smtp_port)
    SMTP_USER                  = var.smtp_user
    SMTP_STARTTLS              = var.smtp_starttls ? "true" : "false"
    MAIL_FROM                  = var.mail_from
  }

  # Secret NAMES (the code reads values through the Secret Manager API, cached per instance): each function is told
  # only the secrets it reads, and holds secretAccessor on exactly those (module secrets).
  ingest_env = {
    SMTP_PASSWORD_SECRET = var.smtp_password_secret_id
  }
  dispatcher_env = {
    SSH_KEY_SECRET       = var.ssh_key_secret_id
    HOOK_KEY_SECRET      = var.hook_key_secret_id
    SMTP_PASSWORD_SECRET = var.smtp_password_secret_id
  }
  completion_env = {
    SSH_KEY_SECRET       = var.ssh_key_secret_id
    HOOK_KEY_SECRET      = var.hook_key_secret_id
    SMTP_PASSWORD_SECRET = var.smtp_password_secret_id
  }
  api_env = {
    SMTP_PASSWORD_SECRET = var.smtp_password_secret_id
    ID_TOKEN_AUDIENCES   = join(",", var.id_token_audiences)
    ID_TOKEN_ISSUERS     = join(",", var.id_token_issuers)
    ID_TOKEN_CERTS_URL   = var.id_token_certs_url
  }

}

# ------------------------------------------------------------------------------------------ service accounts

resource "google_service_account" "ingest" {
  project      = var.project_id
  account_id   = local.names.ingest
  display_name = "OpenLane Cloud ingest function"
}

resource "google_service_account" "dispatcher" {
  project      = var.project_id
  account_id   = local.names.dispatcher
  display_name = "OpenLane Cloud dispatcher function"
}

resource "google_service_account" "completion" {
  project      = var.project_id
  account_id   = local.names.completion
  display_name = "OpenLane Cloud completion hook"
}

resource "google_service_account" "api" {
  project      = var.project_id
  account_id   = local.names.api
  display_name = "OpenLane Cloud API"
}

# The API signs Cloud Storage links through the IAM Credentials API as itself (signBlob): no key file exists.
resource "google_service_account_iam_member" "api_signs_its_own_links" {
  service_account_id = google_service_account.api.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.api.email}"
}

# Identity of event delivery: the Eventarc storage trigger of ingest and the Pub/Sub pushes to the dispatcher.
resource "google_service_account" "events" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-events"
  display_name = "OpenLane Cloud event delivery (Eventarc and Pub/Sub push)"
}

# Builds the functions' containers from the source zip (Cloud Build, via Cloud Functions).
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-fn-build"
  display_name = "OpenLane Cloud function builds"
}

# ---------------------------------------------------------------------------------------- project-level roles

# Firestore: every function reads and writes jobs (api: quota settings of admins).
resource "google_project_iam_member" "firestore_users" {
  for_each = local.runtime_members
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = each.value
}

resource "google_project_iam_member" "events_receive" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.events.email}"
}

# What a Cloud Functions build needs (logs, the gcf-artifacts image repository, the source): not the broad
# roles/cloudbuild.builds.builder. Source reads are limited to our source bucket and Cloud Functions' own
# gcf-v2-sources-<number>-<region> bucket.
locals {
  build_roles = {
    logs   = "roles/logging.logWriter"
    images = "roles/artifactregistry.writer"
  }
}

resource "google_project_iam_member" "build_builds" {
  for_each = local.build_roles
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.build.email}"
}

resource "google_project_iam_member" "build_reads_source" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.build.email}"

  condition {
    title       = "function-source-only"
    description = "Only the function source buckets."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${var.source_bucket}\") || resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-${var.project_number}-${var.region}\")"
  }
}

# Eventarc Cloud Storage triggers need the Cloud Storage service agent to publish to Pub/Sub.
data "google_storage_project_service_account" "gcs_agent" {
  project = var.project_id
}

resource "google_project_iam_member" "gcs_agent_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs_agent.email_address}"
}

# Finding the login node by name (SLURM_LOGIN_HOST empty): compute.instances.list only, for the functions that SSH.
resource "google_project_iam_custom_role" "login_finder" {
  count       = local.find_login_node ? 1 : 0
  project     = var.project_id
  role_id     = replace("${var.name_prefix}_login_finder", "-", "_")
  title       = "OpenLane Cloud login node lookup"
  description = "List instances to find the Slurm login node's internal address."
  permissions = ["compute.instances.list"]
}

resource "google_project_iam_member" "login_finders" {
  for_each = local.find_login_node ? { for name in local.ssh_functions : name => local.runtime_members[name] } : {}
  project  = var.project_id
  role     = google_project_iam_custom_role.login_finder[0].id
  member   = each.value
}

# ----------------------------------------------------------------------------------------------- the source

resource "google_storage_bucket_object" "source" {
  bucket       = var.source_bucket
  name         = "functions/${filemd5(var.source_zip_path)}.zip"
  source       = var.source_zip_path
  content_type = "application/zip"
}

# ----------------------------------------------------------------------------------------------- functions

resource "google_cloudfunctions2_function" "ingest" {
  project     = var.project_id
  location    = var.region
  name        = local.names.ingest
  description = "Validates an uploaded design archive and records the job (QUEUED or REJECTED)."
  labels      = var.labels

  build_config {
    runtime         = var.runtime
    entry_point     = "ingest"
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.ingest.email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    min_instance_count               = 0
    max_instance_count               = var.ingest_max_instances
    max_instance_request_concurrency = 1
    available_memory                 = "1Gi"
    available_cpu                    = "1"
    timeout_seconds                  = 300
    environment_variables            = merge(local.common_env, local.ingest_env)
  }

  # Retries on: a crashed delivery is retried for up to 24 h; ingest is idempotent per (bucket, name, generation).
  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.events.email

    event_filters {
      attribute = "bucket"
      value     = var.designs_bucket
    }
  }

  depends_on = [
    google_project_iam_member.build_builds,
    google_project_iam_member.build_reads_source,
    google_project_iam_member.events_receive,
    google_project_iam_member.gcs_agent_publishes_events,
  ]
}

# Triggered by the push subscriptions of the pubsub module (jobs topic and tick topic), hence no event_trigger here.
# One dispatcher works at a time (a Firestore lease); the instance limit only bounds the ones that wait for it.
resource "google_cloudfunctions2_function" "dispatcher" {
  project     = var.project_id
  location    = var.region
  name        = local.names.dispatcher
  description = "Admits queued jobs into Slurm over SSH, within the concurrency and quota limits."
  labels      = var.labels

  build_config {
    runtime         = var.runtime
    entry_point     = "dispatcher"
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.dispatcher.email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    min_instance_count               = 0
    max_instance_count               = var.dispatcher_max_instances
    max_instance_request_concurrency = 1
    available_memory                 = "512Mi"
    available_cpu                    = "1"
    timeout_seconds                  = var.dispatcher_timeout_seconds
    environment_variables            = merge(local.common_env, local.dispatcher_env)
    direct_vpc_egress                = var.vpc_egress ? "VPC_EGRESS_PRIVATE_RANGES_ONLY" : null

    dynamic "direct_vpc_network_interface" {
      for_each = var.vpc_egress ? [var.vpc_network] : []
      content {
        network    = direct_vpc_network_interface.value
        subnetwork = var.vpc_subnetwork
        tags       = var.network_tags
      }
    }
  }

  depends_on = [google_project_iam_member.build_builds, google_project_iam_member.build_reads_source]
}

# Called by the cluster: the job kit (stage progress) and the epilog's sender (job ended), with a Google ID token
# from the node's metadata server (IAM: run.invoker) and an HMAC signature (per-job key).
resource "google_cloudfunctions2_function" "completion" {
  project     = var.project_id
  location    = var.region
  name        = local.names.completion
  description = "Completion hook: records stage progress and how a run ended, e-mails the owner, frees the slot."
  labels      = var.labels

  build_config {
    runtime         = var.runtime
    entry_point     = "completion"
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.completion.email
    ingress_settings                 = var.completion_ingress
    all_traffic_on_latest_revision   = true
    min_instance_count               = 0
    max_instance_count               = var.completion_max_instances
    max_instance_request_concurrency = 1
    available_memory                 = "512Mi"
    available_cpu                    = "1"
    timeout_seconds                  = 120
    environment_variables            = merge(local.common_env, local.completion_env)
    direct_vpc_egress                = var.vpc_egress ? "VPC_EGRESS_PRIVATE_RANGES_ONLY" : null

    dynamic "direct_vpc_network_interface" {
      for_each = var.vpc_egress ? [var.vpc_network] : []
      content {
        network    = direct_vpc_network_interface.value
        subnetwork = var.vpc_subnetwork
        tags       = var.network_tags
      }
    }
  }

  depends_on = [google_project_iam_member.build_builds, google_project_iam_member.build_reads_source]
}

# The users' API: public at the IAM layer because it verifies Google ID tokens itself (audience STATUS_BASE_URL).
# It never reaches the cluster: cancels of running jobs go through the jobs topic to the dispatcher.
resource "google_cloudfunctions2_function" "api" {
  #checkov:skip=CKV_GCP_124:The users' API is reached from anywhere; it verifies a Google ID token on every request.
  project     = var.project_id
  location    = var.region
  name        = local.names.api
  description = "Users' API (/v1): list and read jobs, quotas."
  labels      = var.labels

  build_config {
    runtime         = var.runtime
    entry_point     = "api"
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.api.email
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    min_instance_count               = 0
    max_instance_count               = var.api_max_instances
    max_instance_request_concurrency = 16
    available_memory                 = "512Mi"
    available_cpu                    = "1"
    timeout_seconds                  = 60
    environment_variables            = merge(local.common_env, local.api_env)
  }

  depends_on = [google_project_iam_member.build_builds, google_project_iam_member.build_reads_source]
}

# ------------------------------------------------------------------------------------ who may invoke what

resource "google_cloud_run_v2_service_iam_member" "events_invoke_ingest" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.ingest.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.events.email}"
}

resource "google_cloud_run_v2_service_iam_member" "events_invoke_dispatcher" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.dispatcher.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.events.email}"
}

resource "google_cloud_run_v2_service_iam_member" "cluster_invokes_completion" {
  for_each = var.completion_invokers
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.completion.service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

resource "google_cloud_run_v2_service_iam_member" "public_invokes_api" {
  #checkov:skip=CKV_GCP_102:The API is public by design: it verifies a Google-signed ID token on every request itself.
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.api.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
