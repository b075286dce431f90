# The five Cloud Functions (2nd gen) built from ONE source zip (infra/package_functions.sh; its root main.py re-exports
# functions/main.py): one resource over the table local.functions, each function with its own service account and
# only the roles, secrets and network its code path uses (tests/static/test_terraform_consistency.py derives each
# function's needs from its code path through shared/bootstrap.py and checks the table against them).
#
# Bucket, topic and secret grants live next to those resources (modules buckets, pubsub, secrets) and take the
# members (and secret_readers) output here.

locals {
  # One row per entry point of functions/main.py (the key is the entry point):
  #   trigger        storage: Eventarc, object finalized in the designs bucket; push: the push subscriptions of
  #                  module pubsub (dispatcher: jobs, tick and dead-letter topics; git_fetcher: git-fetch topic);
  #                  http: called directly
  #   cluster        its code path reaches bootstrap.cluster(): SSH to the login node (Direct VPC egress, lookup);
  #                  false: no VPC interface at all, its traffic leaves through Cloud Run's default internet egress
  #   id_tokens      verifies users' ID tokens: gets the ID_TOKEN_* settings
  #   secrets        the secrets it reads: it gets their names (SSH_KEY_SECRET, ...) and secretAccessor on them
  functions = {
    ingest = {
      description   = "Validates an uploaded design archive and records the job (QUEUED or REJECTED)."
      identity      = "OpenLane Cloud ingest function"
      trigger       = "storage"
      ingress       = "ALLOW_INTERNAL_ONLY"
      max_instances = var.ingest_max_instances
      concurrency   = 1
      memory        = "1Gi"
      timeout       = 300
      cluster       = false
      id_tokens     = false
      secrets       = ["smtp_password"]
      firestore     = true
    }
    # One dispatcher works at a time (a Firestore lease); the instance limit only bounds the ones that wait for it.
    # On a tick it also reconciles lost job ends through the completion path (results read, jobs topic).
    dispatcher = {
      description   = "Admits queued jobs into Slurm over SSH, within the concurrency and quota limits."
      identity      = "OpenLane Cloud dispatcher function"
      trigger       = "push"
      ingress       = "ALLOW_INTERNAL_ONLY"
      max_instances = var.dispatcher_max_instances
      concurrency   = 1
      memory        = "512Mi"
      timeout       = var.dispatcher_timeout_seconds
      cluster       = true
      id_tokens     = false
      secrets       = ["ssh_key", "hook_key", "smtp_password"]
      firestore     = true
    }
    # Called by the cluster: the job kit (stage progress) and the epilog's sender (job ended), with a Google ID token
    # from the node's metadata server (IAM: run.invoker) and an HMAC signature (per-job key).
    completion = {
      description   = "Completion hook: records stage progress and how a run ended, e-mails the owner, frees the slot."
      identity      = "OpenLane Cloud completion hook"
      trigger       = "http"
      ingress       = var.completion_ingress
      max_instances = var.completion_max_instances
      concurrency   = 1
      memory        = "512Mi"
      timeout       = 120
      cluster       = true
      id_tokens     = false
      secrets       = ["ssh_key", "hook_key", "smtp_password"]
      firestore     = true
    }
    # The users' API: public at the IAM layer because it verifies Google ID tokens itself (audience STATUS_BASE_URL).
    # It never reaches the cluster: cancels of running jobs go through the jobs topic to the dispatcher; cancelling a
    # queued job e-mails the owner.
    api = {
      description   = "Users' API (/v1): list and read jobs, quotas."
      identity      = "OpenLane Cloud API"
      trigger       = "http"
      ingress       = "ALLOW_ALL"
      max_instances = var.api_max_instances
      concurrency   = 16
      memory        = "512Mi"
      timeout       = 60
      cluster       = false
      id_tokens     = true
      secrets       = ["smtp_password"]
      firestore     = true
    }
    # A git submission (api: FETCHING job + `fetch` message) waits for its design: git fetches the one commit from
    # the user-given https URL, packs the design folder and uploads it as <owner>/olc-git/<job id>.tar.gz, which
    # ingest then validates like any upload. It runs `git` against arbitrary hosts of the users' choosing, so it is
    # the one function that must NEVER be on the private network: cluster = false keeps it off Direct VPC egress
    # (no route to the login node, the controller or anything else in the VPC), and its identity may only create and
    # read the olc-git/ objects of the designs bucket: no Firestore, no secret (shared/services/fetch_design.py gets
    # everything from the message and reports a failure as an object that ingest records on the job). A fetch that gets past the code's
    # public-address checks (shared/adapters/git_fetch.py) can then reach only what any internet host can, plus the
    # instance's metadata server, which answers only requests carrying its Metadata-Flavor header (git sends none).
    # /tmp is memory: `memory` holds the work folder (GIT_MAX_BYTES), the packed archive and git itself.
    git_fetcher = {
      description   = "Fetches a git submission's design from a public https host, packs it and uploads it for ingest."
      identity      = "OpenLane Cloud git fetcher"
      trigger       = "push"
      ingress       = "ALLOW_INTERNAL_ONLY"
      max_instances = var.git_fetcher_max_instances
      concurrency   = 1
      memory        = "2Gi"
      timeout       = var.git_fetcher_timeout_seconds
      cluster       = false
      id_tokens     = false
      secrets       = []
      firestore     = false
    }
  }

  # Function (Cloud Run service) and service account names allow no underscore: git_fetcher -> <prefix>-git-fetcher.
  names = { for key in keys(local.functions) : key => "${var.name_prefix}-${replace(key, "_", "-")}" }

  # Deterministic Cloud Run URLs (https://SERVICE-PROJECT_NUMBER.REGION.run.app): known before the functions exist,
  # so a function can be told its own URL (STATUS_BASE_URL of the api, COMPLETION_URL of completion).
  urls = { for key, name in local.names : key => "https://${name}-${var.project_number}.${var.region}.run.app" }

  runtime_members = { for key, account in google_service_account.runtime : key => "serviceAccount:${account.email}" }

  find_login_node = var.login_node.host == ""

  # The settings that come from resources and wiring, the same for every function. Every key is a variable of
  # shared/config.py's Settings.
  wiring_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    OLC_ENV              = "production"
    HOOK_AUTH            = "google-id-token"
    DESIGNS_BUCKET       = var.designs_bucket
    RESULTS_BUCKET       = var.results_bucket
    JOBS_TOPIC           = var.jobs_topic
    GIT_FETCH_TOPIC      = var.git_fetch_topic
    COMPLETION_URL       = local.urls.completion
    STATUS_BASE_URL      = local.urls.api
    SLURM_LOGIN_HOST     = var.login_node.host
    LOGIN_NODE_ZONE      = var.login_node.zone
    LOGIN_NODE_PATTERN   = var.login_node.pattern
  }

  # Each function's environment: the tunable settings (ID_TOKEN_* only where id_tokens), the wiring, and the NAMES
  # of its secrets (the code reads their values through the Secret Manager API, cached per instance).
  function_env = { for key, function in local.functions : key => merge(
    { for name, value in var.settings : name => value if function.id_tokens || !startswith(name, "ID_TOKEN_") },
    local.wiring_env,
    { for secret in function.secrets : upper("${secret}_secret") => var.secret_ids[secret] },
  ) }
}

# ------------------------------------------------------------------------------------------ service accounts

resource "google_service_account" "runtime" {
  for_each     = local.functions
  project      = var.project_id
  account_id   = local.names[each.key]
  display_name = each.value.identity
}

# The API signs Cloud Storage links through the IAM Credentials API as itself (signBlob): no key file exists.
resource "google_service_account_iam_member" "api_signs_its_own_links" {
  service_account_id = google_service_account.runtime["api"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.runtime_members.api
}

# Identity of event delivery: the Eventarc storage trigger of ingest and the Pub/Sub pushes to the dispatcher and
# the git fetcher.
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

# Firestore: every function but git_fetcher reads and writes jobs (api: also the quota settings of admins).
resource "google_project_iam_member" "firestore_users" {
  for_each = { for key, member in local.runtime_members : key => member if local.functions[key].firestore }
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
  for_each = local.find_login_node ? { for key, function in local.functions : key => local.runtime_members[key] if function.cluster } : {}
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

resource "google_cloudfunctions2_function" "this" {
  #checkov:skip=CKV_GCP_124:One resource for the five functions: only the users' API is ALLOW_ALL (it verifies a Google ID token on every request), and the hook of a cluster outside the VPC; tests/static/test_terraform_consistency.py checks each row's ingress.
  for_each    = local.functions
  project     = var.project_id
  location    = var.region
  name        = local.names[each.key]
  description = each.value.description
  labels      = var.labels

  build_config {
    runtime         = var.runtime
    entry_point     = each.key
    service_account = google_service_account.build.id

    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.runtime[each.key].email
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    min_instance_count               = 0
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    available_memory                 = each.value.memory
    available_cpu                    = "1"
    timeout_seconds                  = each.value.timeout
    environment_variables            = local.function_env[each.key]
    # Only the functions that SSH to the login node get a VPC interface; the others (and above all git_fetcher,
    # which fetches from user-given hosts) have none, so they cannot reach the cluster's network.
    direct_vpc_egress = each.value.cluster && var.vpc_egress ? "VPC_EGRESS_PRIVATE_RANGES_ONLY" : null

    dynamic "direct_vpc_network_interface" {
      for_each = each.value.cluster && var.vpc_egress ? [var.vpc_network] : []
      content {
        network    = direct_vpc_network_interface.value
        subnetwork = var.vpc_subnetwork
        tags       = var.network_tags
      }
    }
  }

  # Retries on: a crashed delivery is retried for up to 24 h; ingest is idempotent per (bucket, name, generation).
  dynamic "event_trigger" {
    for_each = each.value.trigger == "storage" ? [var.designs_bucket] : []
    content {
      trigger_region        = var.region
      event_type            = "google.cloud.storage.object.v1.finalized"
      retry_policy          = "RETRY_POLICY_RETRY"
      service_account_email = google_service_account.events.email

      event_filters {
        attribute = "bucket"
        value     = event_trigger.value
      }
    }
  }

  depends_on = [
    google_project_iam_member.build_builds,
    google_project_iam_member.build_reads_source,
    google_project_iam_member.events_receive,
    google_project_iam_member.gcs_agent_publishes_events,
  ]
}

# ------------------------------------------------------------------------------------ who may invoke what

# Event delivery: the Eventarc trigger of ingest and the push subscriptions to the dispatcher and the git fetcher.
resource "google_cloud_run_v2_service_iam_member" "events_invoke" {
  for_each = { for key, function in local.functions : key => function if function.trigger != "http" }
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.events.email}"
}

resource "google_cloud_run_v2_service_iam_member" "cluster_invokes_completion" {
  for_each = var.completion_invokers
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this["completion"].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

resource "google_cloud_run_v2_service_iam_member" "public_invokes_api" {
  #checkov:skip=CKV_GCP_102:The API is public by design: it verifies a Google-signed ID token on every request itself.
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this["api"].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
