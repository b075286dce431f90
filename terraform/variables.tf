# ------------------------------------------------------------------------------------------------ placement
variable "project_id" {
  description = "Google Cloud project to deploy into."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id is a Google Cloud project id (6-30 characters of a-z, 0-9 and '-')."
  }
}

variable "region" {
  description = "Region of the functions, buckets, scheduler and cluster."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region is a Google Cloud region such as us-central1."
  }
}

variable "zone" {
  description = "Zone of the Slurm controller, login and compute nodes; must be in region."
  type        = string
  default     = "us-central1-a"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "zone is a Google Cloud zone such as us-central1-a."
  }

  validation {
    condition     = startswith(var.zone, "${var.region}-")
    error_message = "zone must be in region."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, service accounts, topics, secrets, buckets)."
  type        = string
  default     = "olc"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,9}$", var.name_prefix))
    error_message = "name_prefix is 2-10 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "labels" {
  description = "Extra labels on every resource that takes labels."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------------------- buckets
variable "designs_bucket_name" {
  description = "Name of the designs bucket; null: <project_id>-<name_prefix>-designs."
  type        = string
  default     = null
}

variable "results_bucket_name" {
  description = "Name of the results bucket; null: <project_id>-<name_prefix>-results."
  type        = string
  default     = null
}

variable "images_bucket_name" {
  description = "Name of the images bucket; null: <project_id>-<name_prefix>-images."
  type        = string
  default     = null
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` delete buckets that still hold uploads, results or images."
  type        = bool
  default     = false
}

variable "results_retention_days" {
  description = "Days after which results are deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.results_retention_days >= 1
    error_message = "results_retention_days must be at least 1."
  }
}

variable "designs_retention_days" {
  description = "Days after which uploaded archives are deleted; 0 keeps them."
  type        = number
  default     = 0

  validation {
    condition     = var.designs_retention_days >= 0
    error_message = "designs_retention_days cannot be negative."
  }
}

variable "uploaders" {
  description = "E-mails of the users who may upload designs (to designs/<e-mail>/) and read their results."
  type        = list(string)
  default     = []
}

variable "image_builders" {
  description = "IAM members (by a static key) that write images to the images bucket, e.g. { cloudbuild = \"serviceAccount:...\" }."
  type        = map(string)
  default     = {}
}

# --------------------------------------------------------------------------------------- functions and data
variable "function_source_zip" {
  description = "Zip built by `infra/package_functions.sh` (path relative to this folder)."
  type        = string
  default     = "../build/functions.zip"

  validation {
    condition     = fileexists(var.function_source_zip)
    error_message = "function_source_zip does not exist: run infra/package_functions.sh first (docs/deploy.md)."
  }
}

variable "firestore_location" {
  description = "Firestore location (region or multi-region such as nam5); null: region. Cannot be changed later."
  type        = string
  default     = null
}

variable "firestore_delete_protection" {
  description = "Protect the Firestore database from deletion (terraform destroy then leaves it)."
  type        = bool
  default     = true
}

variable "dispatcher_max_instances" {
  description = "Most dispatcher instances (1-3): one works at a time under the Firestore lease."
  type        = number
  default     = 2

  validation {
    condition     = var.dispatcher_max_instances >= 1 && var.dispatcher_max_instances <= 3
    error_message = "dispatcher_max_instances must be 1-3."
  }
}

variable "completion_ingress" {
  description = "Ingress of the completion hook; null: ALLOW_INTERNAL_ONLY with a created cluster, ALLOW_ALL with an existing one."
  type        = string
  default     = null

  validation {
    condition     = var.completion_ingress == null || contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], coalesce(var.completion_ingress, "ALLOW_ALL"))
    error_message = "completion_ingress is null, ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "tick_schedule" {
  description = "Cron schedule (UTC) of the dispatcher tick."
  type        = string
  default     = "* * * * *"
}

variable "hook_key_version" {
  description = "Increase to generate and store a new hook master key (rotation, docs/deploy.md)."
  type        = number
  default     = 1
}

# ---------------------------------------------------------------------- service settings (shared/config.py)
# The one Terraform declaration of the functions' settings. Each attribute is a variable of shared/config.py under
# its upper-cased name; the environment is derived from this object (main.tf, local.service_env), and
# tests/static/test_terraform_consistency.py checks the attributes against shared/config.py.
variable "service" {
  description = "Settings of the functions: each attribute sets the shared/config.py variable of its upper-cased name (job_concurrency: JOB_CONCURRENCY; lists comma-separated). Unset attributes without a default keep the code's default. Table: README.md, \"Service settings\"."
  nullable    = false
  default     = {}

  type = object({
    # admission and quotas
    job_concurrency         = optional(number, 10)
    user_concurrency        = optional(number, 3)
    user_max_queued         = optional(number, 50)
    user_monthly_core_hours = optional(number, 200)
    budget_action           = optional(string, "wait")
    admins                  = optional(list(string), [])

    # flows and their images on the cluster
    flow_runner        = optional(string, "librelane")
    extra_flows        = optional(list(string))
    openlane_image     = optional(string)
    openlane_pdk_root  = optional(string)
    librelane_image    = optional(string)
    librelane_pdk_root = optional(string)
    container_binary   = optional(string, "apptainer")
    librelane_runtime  = optional(string)
    librelane_python   = optional(string)

    # runs and uploads
    default_cpus               = optional(number, 1)
    default_memory_mb          = optional(number, 4096)
    default_time_limit_minutes = optional(number, 50)
    max_time_limit_minutes     = optional(number)
    max_cpus_per_job           = optional(number)
    max_memory_mb_per_job      = optional(number)
    max_sweep_runs             = optional(number)
    max_upload_bytes           = optional(number, 268435456)
    max_archive_entries        = optional(number)
    max_unpacked_bytes         = optional(number)
    max_file_bytes             = optional(number)
    max_compression_ratio      = optional(number)

    # the login node and Slurm
    slurm_login_port        = optional(number, 22)
    slurm_login_user        = optional(string, "olc")
    slurm_host_key          = optional(string, "")
    slurm_partition         = optional(string, "olc")
    slurm_work_root         = optional(string, "/home/olc/jobs")
    slurm_command_timeout_s = optional(number)
    job_heartbeat_s         = optional(number)

    # e-mail
    smtp_host     = optional(string, "")
    smtp_port     = optional(number, 587)
    smtp_user     = optional(string, "")
    smtp_starttls = optional(bool, true)
    mail_from     = optional(string, "OpenLane Cloud <noreply@openlane.cloud>")

    # sign-in to the API (only the api function gets these)
    id_token_audiences = optional(list(string), [])
    id_token_issuers   = optional(list(string), ["https://accounts.google.com", "accounts.google.com"])
    id_token_certs_url = optional(string, "https://www.googleapis.com/oauth2/v1/certs")

    # git submissions (the git fetcher; GIT_ALLOWED_HTTP_HOSTS stays empty in production: https to public hosts
    # only) and the reuse of identical runs' results (ingest)
    git_max_bytes = optional(number)
    git_timeout_s = optional(number)
    flow_versions = optional(list(string))
    result_reuse  = optional(string, "user")

    # timing of the dispatcher, the reconciler and the completion hook
    dispatch_lease_s  = optional(number)
    submit_give_up_s  = optional(number)
    reconcile_after_s = optional(number)
    completion_wait_s = optional(number)
  })

  # shared/config.py parses every number as positive (_positive_int, _positive_float); strings are not numbers here.
  validation {
    condition     = alltrue([for name, value in var.service : value > 0 && (floor(value) == value || contains(["user_monthly_core_hours", "max_compression_ratio"], name)) if value != null && can(value + 0) && !can(length(value))])
    error_message = "Numbers in service are positive, and whole but for user_monthly_core_hours and max_compression_ratio."
  }

  validation {
    condition     = contains(["openlane1", "librelane"], var.service.flow_runner)
    error_message = "service.flow_runner is openlane1 or librelane (qflow-osu035 is for the local stack only)."
  }

  validation {
    condition     = alltrue([for flow in coalesce(var.service.extra_flows, []) : contains(["qflow-osu035", "yosys-osu035", "openlane1", "librelane", "librelane-osu035"], flow)])
    error_message = "service.extra_flows names flows of shared/config.py (FLOW_RUNNERS)."
  }

  validation {
    condition     = alltrue([for entry in coalesce(var.service.flow_versions, []) : length(split("=", entry)) >= 2 && !strcontains(entry, ",") && contains(["qflow-osu035", "yosys-osu035", "openlane1", "librelane", "librelane-osu035"], split("=", entry)[0])])
    error_message = "service.flow_versions entries are flow=version (no commas) with a flow of shared/config.py (FLOW_RUNNERS)."
  }

  validation {
    condition     = contains(["user", "all", "off"], var.service.result_reuse)
    error_message = "service.result_reuse is user, all or off."
  }

  validation {
    condition     = coalesce(var.service.git_max_bytes, 1) <= 536870912
    error_message = "service.git_max_bytes is at most 512 MiB (the git fetcher works in memory-backed /tmp)."
  }

  validation {
    condition     = contains(["wait", "reject"], var.service.budget_action)
    error_message = "service.budget_action is wait or reject."
  }

  validation {
    condition     = contains(["singularity", "apptainer"], var.service.container_binary)
    error_message = "service.container_binary is singularity or apptainer (the created cluster installs Apptainer)."
  }

  validation {
    condition     = contains(["container", "native"], coalesce(var.service.librelane_runtime, "container")) && (var.service.librelane_runtime != "native" || startswith(coalesce(var.service.librelane_python, "-"), "/"))
    error_message = "service.librelane_runtime is container or native; native needs librelane_python, an absolute path."
  }

  validation {
    condition     = var.service.default_memory_mb >= 256
    error_message = "service.default_memory_mb is at least 256."
  }

  validation {
    condition     = var.service.max_upload_bytes <= 536870912
    error_message = "service.max_upload_bytes is at most 512 MiB (ingest spools the archive in memory-backed /tmp)."
  }

  validation {
    condition     = var.service.smtp_port != 25 && var.service.smtp_port <= 65535 && var.service.slurm_login_port <= 65535
    error_message = "service.smtp_port and slurm_login_port are TCP ports; smtp_port is not 25 (blocked for egress on Google Cloud)."
  }

  validation {
    condition     = startswith(var.service.slurm_work_root, "/")
    error_message = "service.slurm_work_root must be an absolute path."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,64}$", var.service.slurm_partition))
    error_message = "service.slurm_partition is a Slurm partition name."
  }
}

# ---------------------------------------------------------------------------------------------- the cluster
variable "cluster_mode" {
  description = "`create` a slurm-gcp v6 cluster (Cluster Toolkit), or use an `existing` one through its login node."
  type        = string
  default     = "create"

  validation {
    condition     = contains(["create", "existing"], var.cluster_mode)
    error_message = "cluster_mode is create or existing."
  }
}

variable "slurm_cluster_name" {
  description = "Slurm cluster name of the created cluster (prefixes its VM names)."
  type        = string
  default     = "olc"
}

variable "ssh_public_key" {
  description = "Public half of the key you store in the <name_prefix>-ssh-key secret; authorized on the created login node."
  type        = string
  default     = ""

  validation {
    condition     = var.cluster_mode != "create" || var.ssh_public_key != ""
    error_message = "ssh_public_key is required with cluster_mode = \"create\"."
  }
}

variable "controller_machine_type" {
  description = "Machine type of the Slurm controller (also the NFS server of /home and /apps)."
  type        = string
  default     = "n2-standard-2"
}

variable "controller_disk_size_gb" {
  description = "Controller boot disk (GB), which holds /home (run work dirs) and /apps (images and PDKs)."
  type        = number
  default     = 100
}

variable "login_machine_type" {
  description = "Machine type of the login node."
  type        = string
  default     = "n2-standard-2"
}

variable "compute_machine_type" {
  description = "Machine type of the compute nodes."
  type        = string
  default     = "n2-standard-4"
}

variable "compute_max_nodes" {
  description = "Most compute nodes at once (created on demand, deleted when idle)."
  type        = number
  default     = 5
}

variable "compute_spot" {
  description = "Use Spot VMs for the compute nodes."
  type        = bool
  default     = false
}

variable "exclusive_nodes" {
  description = "One job per compute node (true) or pack jobs by CPU and memory (false)."
  type        = bool
  default     = false
}

variable "existing_login_host" {
  description = "Login node address of an existing cluster (cluster_mode = existing)."
  type        = string
  default     = ""

  validation {
    condition     = var.cluster_mode != "existing" || var.existing_login_host != ""
    error_message = "existing_login_host is required with cluster_mode = \"existing\"."
  }
}

variable "existing_network" {
  description = "VPC network of an existing cluster, for the functions' Direct VPC egress; empty: the login host is reachable without it."
  type        = string
  default     = ""
}

variable "existing_subnetwork" {
  description = "Subnetwork of existing_network the functions take addresses from."
  type        = string
  default     = ""

  validation {
    condition     = (var.existing_network == "") == (var.existing_subnetwork == "")
    error_message = "Set existing_network and existing_subnetwork together."
  }
}

variable "existing_compute_member" {
  description = "IAM member (serviceAccount:...) of an existing cluster's compute nodes: bucket, hook key and hook access."
  type        = string
  default     = ""
}

# --------------------------------------------------------------------------------------------- monitoring
variable "alert_emails" {
  description = "E-mail addresses notified by the alert policies."
  type        = list(string)
  default     = []
}
