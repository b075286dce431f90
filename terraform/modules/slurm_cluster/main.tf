# The Slurm cluster the runs go to, in one of two modes:
#
# - "create": a slurm-gcp v6 cluster from the Cluster Toolkit modules (VPC, nodeset, partition, login, controller).
#   The controller shares /home and /apps with every node; our epilog goes in through `epilog_scripts`, and startup
#   scripts create the submitting account (same uid everywhere), install Apptainer and the epilog's configuration.
# - "existing": bring your own cluster. Nothing is created here; the functions SSH to `existing_login_host`, and the
#   rendered epilog, epilog.env and setup scripts are outputs for the cluster's administrator to install.

locals {
  create = var.mode == "create"

  # Every Cluster Toolkit module below is pinned to the same release (v1.90.0); Terraform needs a literal `source`.
  login_tag     = "${var.deployment_name}-login"
  login_pattern = "${var.slurm_cluster_name}-login"

  repo_root = "${path.module}/../../.."

  epilog_script = file("${local.repo_root}/infra/slurm/epilog.sh")
  epilog_env    = templatefile("${path.module}/templates/epilog.env.tftpl", { hook_url = var.hook_url })

  compute_setup_script = templatefile("${path.module}/templates/compute_setup.sh.tftpl", {
    login_user      = var.login_user
    login_uid       = var.login_uid
    project_id      = var.project_id
    hook_key_secret = var.hook_key_secret_id
    epilog_env_b64  = base64encode(local.epilog_env)
    notify_b64      = base64encode(file("${local.repo_root}/infra/slurm/olc_notify.py"))
  })

  login_setup_script = templatefile("${path.module}/templates/login_setup.sh.tftpl", {
    login_user     = var.login_user
    login_uid      = var.login_uid
    ssh_public_key = var.ssh_public_key
    work_root      = var.work_root
  })

  compute_member = local.create ? "serviceAccount:${google_service_account.compute[0].email}" : var.existing_compute_member
}

# ------------------------------------------------------------------------------------------ service accounts

resource "google_service_account" "controller" {
  count        = local.create ? 1 : 0
  project      = var.project_id
  account_id   = "${var.deployment_name}-ctl"
  display_name = "OpenLane Cloud Slurm controller"
}

resource "google_service_account" "login" {
  count        = local.create ? 1 : 0
  project      = var.project_id
  account_id   = "${var.deployment_name}-login"
  display_name = "OpenLane Cloud Slurm login node"
}

resource "google_service_account" "compute" {
  count        = local.create ? 1 : 0
  project      = var.project_id
  account_id   = "${var.deployment_name}-compute"
  display_name = "OpenLane Cloud Slurm compute nodes (runs)"
}

locals {
  node_roles = local.create ? merge(
    # The controller creates and deletes compute nodes (slurm-gcp resume/suspend).
    { "controller/compute.instanceAdmin.v1" = { role = "roles/compute.instanceAdmin.v1", sa = google_service_account.controller[0].email } },
    { for role in ["roles/logging.logWriter", "roles/monitoring.metricWriter"] :
    "controller/${trimprefix(role, "roles/")}" => { role = role, sa = google_service_account.controller[0].email } },
    { for role in ["roles/logging.logWriter", "roles/monitoring.metricWriter"] :
    "login/${trimprefix(role, "roles/")}" => { role = role, sa = google_service_account.login[0].email } },
    { for role in ["roles/logging.logWriter", "roles/monitoring.metricWriter"] :
    "compute/${trimprefix(role, "roles/")}" => { role = role, sa = google_service_account.compute[0].email } },
  ) : {}
}

resource "google_project_iam_member" "nodes" {
  for_each = local.node_roles
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${each.value.sa}"
}

# The controller starts compute nodes AS the compute service account, and nothing else.
resource "google_service_account_iam_member" "controller_uses_compute_sa" {
  count              = local.create ? 1 : 0
  service_account_id = google_service_account.compute[0].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.controller[0].email}"
}

# ----------------------------------------------------------------------------------------- Cluster Toolkit

module "network" {
  #checkov:skip=CKV_TF_1:Pinned to the Cluster Toolkit release tag v1.90.0 (the form its own blueprints use).
  count           = local.create ? 1 : 0
  source          = "github.com/GoogleCloudPlatform/cluster-toolkit//modules/network/vpc?ref=v1.90.0"
  project_id      = var.project_id
  region          = var.region
  deployment_name = var.deployment_name
  labels          = var.labels
}

module "nodeset" {
  #checkov:skip=CKV_TF_1:Pinned to the Cluster Toolkit release tag v1.90.0 (the form its own blueprints use).
  count                   = local.create ? 1 : 0
  source                  = "github.com/GoogleCloudPlatform/cluster-toolkit//community/modules/compute/schedmd-slurm-gcp-v6-nodeset?ref=v1.90.0"
  name                    = "olc"
  project_id              = var.project_id
  region                  = var.region
  zone                    = var.zone
  machine_type            = var.compute_machine_type
  node_count_dynamic_max  = var.compute_max_nodes
  disk_type               = "pd-balanced"
  disk_size_gb            = var.compute_disk_size_gb
  enable_placement        = false
  enable_spot_vm          = var.compute_spot
  allow_automatic_updates = false
  service_account_email   = google_service_account.compute[0].email
  subnetwork_self_link    = module.network[0].subnetwork_self_link
  startup_script          = local.compute_setup_script
  labels                  = var.labels
}

module "partition" {
  #checkov:skip=CKV_TF_1:Pinned to the Cluster Toolkit release tag v1.90.0 (the form its own blueprints use).
  count          = local.create ? 1 : 0
  source         = "github.com/GoogleCloudPlatform/cluster-toolkit//community/modules/compute/schedmd-slurm-gcp-v6-partition?ref=v1.90.0"
  partition_name = var.partition_name
  is_default     = true
  exclusive      = var.exclusive_nodes
  nodeset        = flatten([module.nodeset[0].nodeset])
}

module "login" {
  #checkov:skip=CKV_TF_1:Pinned to the Cluster Toolkit release tag v1.90.0 (the form its own blueprints use).
  count                   = local.create ? 1 : 0
  source                  = "github.com/GoogleCloudPlatform/cluster-toolkit//community/modules/scheduler/schedmd-slurm-gcp-v6-login?ref=v1.90.0"
  name_prefix             = "login"
  project_id              = var.project_id
  region                  = var.region
  zone                    = var.zone
  machine_type            = var.login_machine_type
  enable_login_public_ips = false
  service_account_email   = google_service_account.login[0].email
  subnetwork_self_link    = module.network[0].subnetwork_self_link
  tags                    = [local.login_tag]
  labels                  = var.labels
}

module "controller" {
  #checkov:skip=CKV_TF_1:Pinned to the Cluster Toolkit release tag v1.90.0 (the form its own blueprints use).
  count                        = local.create ? 1 : 0
  source                       = "github.com/GoogleCloudPlatform/cluster-toolkit//community/modules/scheduler/schedmd-slurm-gcp-v6-controller?ref=v1.90.0"
  project_id                   = var.project_id
  region                       = var.region
  zone                         = var.zone
  deployment_name              = var.deployment_name
  slurm_cluster_name           = var.slurm_cluster_name
  machine_type                 = var.controller_machine_type
  disk_size_gb                 = var.controller_disk_size_gb
  enable_controller_public_ips = false
  service_account_email        = google_service_account.controller[0].email
  subnetwork_self_link         = module.network[0].subnetwork_self_link
  subnetwork_stack_type        = module.network[0].subnetwork_stack_type
  login_nodes                  = flatten([module.login[0].login_nodes])
  nodeset                      = flatten([module.partition[0].nodeset])
  nodeset_dyn                  = flatten([module.partition[0].nodeset_dyn])
  nodeset_tpu                  = flatten([module.partition[0].nodeset_tpu])
  partitions                   = flatten([module.partition[0].partitions])
  login_startup_script         = local.login_setup_script
  labels                       = var.labels

  # Slurm only queues a scheduler run when a batch job is submitted; slurmctld's background thread runs it on its next
  # 1 s tick, but by default at most every 3 s (batch_sched_delay). 0: on every tick, so a run for an idle node waits
  # under a second (docs/architecture.md). The other three are slurm-gcp's defaults, which this list replaces.
  cloud_parameters = {
    scheduler_parameters = ["bf_continue", "salloc_wait_nodes", "ignore_prefer_validation", "batch_sched_delay=0"]
  }

  # Our epilog: spools "job N ended" and hands it to the detached sender (docs/architecture.md "How a run ends").
  epilog_scripts = [{
    filename = "olc-epilog.sh"
    content  = local.epilog_script
  }]

  depends_on = [google_project_iam_member.nodes, google_service_account_iam_member.controller_uses_compute_sa]
}

# The dispatcher and the completion hook (Direct VPC egress, tagged) SSH to the login node, and nothing else.
resource "google_compute_firewall" "functions_to_login_ssh" {
  count       = local.create ? 1 : 0
  project     = var.project_id
  name        = "${var.deployment_name}-functions-to-login-ssh"
  network     = module.network[0].network_self_link
  description = "OpenLane Cloud functions (Direct VPC egress) SSH to the Slurm login node."
  direction   = "INGRESS"
  source_tags = var.function_network_tags
  target_tags = [local.login_tag]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
