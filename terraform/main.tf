# OpenLane Cloud on Google Cloud: composes the modules under modules/. Read docs/deploy.md first.
#
#   upload -> designs bucket --Eventarc--> ingest --"queued"--> jobs topic --push--> dispatcher <--push-- tick topic
#                                                                                     |              <- Cloud Scheduler
#   Slurm (login node over SSH, Direct VPC egress) <------------------------------------+
#   compute node: job kit -> results bucket; epilog -> completion hook --"slot-freed"--> jobs topic
#   api (POST /v1/jobs {"git": ...}) --"fetch"--> git-fetch topic --push--> git_fetcher (public egress only, never
#     the VPC) --git over https--> user-given host; <owner>/olc-git/<job id>.tar.gz -> designs bucket -> ingest
#
# Every function environment variable is a setting of shared/config.py: the tunable ones come from var.service
# (local.service_env), the rest from the resources (modules/functions, local.wiring_env);
# tests/static/test_terraform_consistency.py checks this file and the modules against the code.

provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  labels = merge({ app = "openlane-cloud", managed-by = "terraform" }, var.labels)

  bucket_names = {
    designs         = coalesce(var.designs_bucket_name, "${var.project_id}-${var.name_prefix}-designs")
    results         = coalesce(var.results_bucket_name, "${var.project_id}-${var.name_prefix}-results")
    images          = coalesce(var.images_bucket_name, "${var.project_id}-${var.name_prefix}-images")
    function_source = "${var.project_id}-${var.name_prefix}-fn-source"
  }

  create_cluster        = var.cluster_mode == "create"
  function_network_tags = ["${var.name_prefix}-functions"]
  vpc_egress            = local.create_cluster || var.existing_network != ""

  # Members with static keys (their values are only known after apply; for_each needs the keys at plan time).
  compute_members = local.create_cluster || var.existing_compute_member != "" ? { cluster = module.slurm_cluster.compute_member } : {}
  login_members   = local.create_cluster ? { login = module.slurm_cluster.login_member } : {}
  smtp_login      = var.service.smtp_user != ""

  # The settings of var.service as environment variables, mechanically: the attribute's name upper-cased, lists
  # joined with commas, numbers and booleans as text; an unset attribute (null) is left out: the code's default.
  service_env = { for name, value in var.service : upper(name) => join(",", flatten([value])) if value != null }

  # The project id, but only once every API below is enabled: passing it this way orders each module after the
  # APIs while keeping the value known at plan time.
  project_ready = one(distinct([for api in google_project_service.apis : api.project]))
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# Docker repository of the Apptainer builder image (singularity/singularitybuilder.yaml, used by containerbuilder.yaml).
resource "google_artifact_registry_repository" "build" {
  #checkov:skip=CKV_GCP_84:Holds a public build tool image only; Google-managed encryption is sufficient.
  project       = local.project_ready
  location      = var.region
  repository_id = "${var.name_prefix}-build"
  format        = "DOCKER"
  description   = "OpenLane Cloud build tools (Apptainer builder image)."
}

module "buckets" {
  source = "./modules/buckets"

  project_id                  = local.project_ready
  location                    = var.region
  designs_bucket_name         = local.bucket_names.designs
  results_bucket_name         = local.bucket_names.results
  images_bucket_name          = local.bucket_names.images
  function_source_bucket_name = local.bucket_names.function_source
  labels                      = local.labels
  force_destroy               = var.force_destroy_buckets
  results_retention_days      = var.results_retention_days
  designs_retention_days      = var.designs_retention_days
  uploaders                   = var.uploaders

  # The API reads a job's upload to copy it for a rerun (a server-side rewrite to a new upload).
  design_readers = merge({
    ingest = module.functions.members.ingest
    api    = module.functions.members.api
  }, local.compute_members)
  # The git fetcher: create and read <owner>/olc-git/ objects only (no other uploads, no delete).
  git_design_writers = { git_fetcher = module.functions.members.git_fetcher }
  result_readers     = {}
  # The API signs users' download links and deletes results on request (objectUser: read, write, delete). The
  # completion hook and the dispatcher (a cancelled sweep) read the runs' manifests and write a sweep's summary.
  # Ingest copies an earlier identical run's results to a new job (RESULT_REUSE): list, read and write.
  result_writers = merge(local.compute_members, {
    api        = module.functions.members.api
    completion = module.functions.members.completion
    dispatcher = module.functions.members.dispatcher
    ingest     = module.functions.members.ingest
  })
  # The API signs upload links below the signed-in user's folder: a signed URL acts with the signer's rights.
  design_upload_signers = { api = module.functions.members.api }
  upload_origins        = [module.functions.urls.api]
  image_readers         = local.login_members
  image_writers         = var.image_builders
}

module "pubsub" {
  source = "./modules/pubsub"

  project_id                 = local.project_ready
  project_number             = data.google_project.this.number
  jobs_topic_name            = "${var.name_prefix}-jobs"
  tick_topic_name            = "${var.name_prefix}-tick"
  git_fetch_topic_name       = "${var.name_prefix}-git-fetches"
  dispatcher_url             = module.functions.urls.dispatcher
  git_fetcher_url            = module.functions.urls.git_fetcher
  push_service_account_email = module.functions.events_service_account_email
  push_service_account_name  = module.functions.events_service_account_name
  labels                     = local.labels

  jobs_publishers = {
    ingest     = module.functions.members.ingest
    completion = module.functions.members.completion
    dispatcher = module.functions.members.dispatcher # "slot-freed" after a reconciled end
    api        = module.functions.members.api        # "cancel" for a job already in Slurm
  }
  # A git submission's "fetch"; the git fetcher itself publishes nothing (its upload wakes ingest).
  git_fetch_publishers = { api = module.functions.members.api }
}

module "firestore" {
  source = "./modules/firestore"

  project_id        = local.project_ready
  location_id       = coalesce(var.firestore_location, var.region)
  delete_protection = var.firestore_delete_protection
}

module "secrets" {
  source = "./modules/secrets"

  project_id            = local.project_ready
  ssh_key_secret_id     = "${var.name_prefix}-ssh-key"
  hook_key_secret_id    = "${var.name_prefix}-hook-key"
  smtp_password_enabled = local.smtp_login
  hook_key_version      = var.hook_key_version
  labels                = local.labels

  # Exactly the functions told a secret's name (the `secrets` of each function in modules/functions).
  ssh_key_readers       = module.functions.secret_readers.ssh_key
  hook_key_readers      = merge(module.functions.secret_readers.hook_key, local.compute_members)
  smtp_password_readers = module.functions.secret_readers.smtp_password
}

module "functions" {
  source = "./modules/functions"

  project_id      = local.project_ready
  project_number  = data.google_project.this.number
  region          = var.region
  name_prefix     = var.name_prefix
  labels          = local.labels
  source_bucket   = module.buckets.function_source_bucket
  source_zip_path = var.function_source_zip

  settings        = local.service_env
  designs_bucket  = module.buckets.designs_bucket
  results_bucket  = module.buckets.results_bucket
  jobs_topic      = module.pubsub.jobs_topic_name
  git_fetch_topic = module.pubsub.git_fetch_topic_name
  secret_ids      = module.secrets.ids
  login_node      = module.slurm_cluster.login_node

  vpc_egress          = local.vpc_egress
  vpc_network         = module.slurm_cluster.network
  vpc_subnetwork      = module.slurm_cluster.subnetwork
  network_tags        = local.function_network_tags
  completion_ingress  = coalesce(var.completion_ingress, local.create_cluster ? "ALLOW_INTERNAL_ONLY" : "ALLOW_ALL")
  completion_invokers = local.compute_members

  dispatcher_max_instances = var.dispatcher_max_instances
}

module "scheduler" {
  source = "./modules/scheduler"

  project_id = local.project_ready
  region     = var.region
  name       = "${var.name_prefix}-dispatcher-tick"
  topic_id   = module.pubsub.tick_topic_id
  schedule   = var.tick_schedule
}

module "slurm_cluster" {
  source = "./modules/slurm_cluster"

  # Not project_ready: the Cluster Toolkit modules read data sources at plan time. On a new project, enable the
  # APIs first (`terraform apply -target=google_project_service.apis`, docs/deploy.md).
  mode                  = var.cluster_mode
  project_id            = var.project_id
  region                = var.region
  zone                  = var.zone
  deployment_name       = "${var.name_prefix}-slurm"
  slurm_cluster_name    = var.slurm_cluster_name
  labels                = local.labels
  login_user            = var.service.slurm_login_user
  ssh_public_key        = var.ssh_public_key
  work_root             = var.service.slurm_work_root
  hook_url              = module.functions.urls.completion
  hook_key_secret_id    = module.secrets.ids.hook_key
  function_network_tags = local.function_network_tags
  partition_name        = var.service.slurm_partition

  controller_machine_type = var.controller_machine_type
  controller_disk_size_gb = var.controller_disk_size_gb
  login_machine_type      = var.login_machine_type
  compute_machine_type    = var.compute_machine_type
  compute_max_nodes       = var.compute_max_nodes
  compute_spot            = var.compute_spot
  exclusive_nodes         = var.exclusive_nodes

  existing_login_host     = var.existing_login_host
  existing_network        = var.existing_network
  existing_subnetwork     = var.existing_subnetwork
  existing_compute_member = var.existing_compute_member
}

module "monitoring" {
  source = "./modules/monitoring"

  project_id               = local.project_ready
  name_prefix              = var.name_prefix
  service_names            = module.functions.names
  dead_letter_subscription = module.pubsub.jobs_dead_letter_subscription
  alert_emails             = var.alert_emails
}
