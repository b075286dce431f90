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
variable "flow_runner" {
  description = "Flow that runs designs (FLOW_RUNNER); the cluster needs its image on /apps."
  type        = string
  default     = "librelane"

  validation {
    condition     = contains(["openlane1", "librelane"], var.flow_runner)
    error_message = "flow_runner is openlane1 or librelane (qflow-osu035 is for the local stack only)."
  }
}

variable "job_concurrency" {
  description = "Most jobs active in Slurm at once (JOB_CONCURRENCY)."
  type        = number
  default     = 10

  validation {
    condition     = var.job_concurrency >= 1 && floor(var.job_concurrency) == var.job_concurrency
    error_message = "job_concurrency is a whole number, at least 1."
  }
}

variable "user_concurrency" {
  description = "Most jobs of one user active at once (USER_CONCURRENCY)."
  type        = number
  default     = 3

  validation {
    condition     = var.user_concurrency >= 1 && floor(var.user_concurrency) == var.user_concurrency
    error_message = "user_concurrency is a whole number, at least 1."
  }
}

variable "user_max_queued" {
  description = "Most jobs of one user waiting; further uploads are rejected (USER_MAX_QUEUED)."
  type        = number
  default     = 50

  validation {
    condition     = var.user_max_queued >= 1 && floor(var.user_max_queued) == var.user_max_queued
    error_message = "user_max_queued is a whole number, at least 1."
  }
}

variable "user_monthly_core_hours" {
  description = "Core-hours one user may use per calendar month (USER_MONTHLY_CORE_HOURS)."
  type        = number
  default     = 200

  validation {
    condition     = var.user_monthly_core_hours > 0
    error_message = "user_monthly_core_hours must be positive."
  }
}

variable "budget_action" {
  description = "`wait` or `reject`: what happens to a run that would exceed the monthly budget (BUDGET_ACTION)."
  type        = string
  default     = "wait"

  validation {
    condition     = contains(["wait", "reject"], var.budget_action)
    error_message = "budget_action is wait or reject."
  }
}

variable "admins" {
  description = "E-mails with admin rights (ADMINS)."
  type        = list(string)
  default     = []
}

variable "id_token_audiences" {
  description = "Audiences accepted in users' ID tokens: OAuth client ids of the web page and CLI, or the Firebase project id (ID_TOKEN_AUDIENCES)."
  type        = list(string)
  default     = []
}

variable "id_token_issuers" {
  description = "Issuers of accepted ID tokens (ID_TOKEN_ISSUERS)."
  type        = list(string)
  default     = ["https://accounts.google.com", "accounts.google.com"]
}

variable "id_token_certs_url" {
  description = "Where the issuers publish their signing certificates (ID_TOKEN_CERTS_URL)."
  type        = string
  default     = "https://www.googleapis.com/oauth2/v1/certs"
}

variable "default_cpus" {
  description = "CPUs per run (DEFAULT_CPUS)."
  type        = number
  default     = 1

  validation {
    condition     = var.default_cpus >= 1 && floor(var.default_cpus) == var.default_cpus
    error_message = "default_cpus is a whole number, at least 1."
  }
}

variable "default_memory_mb" {
  description = "Memory per run in MB (DEFAULT_MEMORY_MB)."
  type        = number
  default     = 4096

  validation {
    condition     = var.default_memory_mb >= 256 && floor(var.default_memory_mb) == var.default_memory_mb
    error_message = "default_memory_mb is a whole number, at least 256."
  }
}

variable "default_time_limit_minutes" {
  description = "Time limit per run in minutes (DEFAULT_TIME_LIMIT_MINUTES)."
  type        = number
  default     = 50

  validation {
    condition     = var.default_time_limit_minutes >= 1 && floor(var.default_time_limit_minutes) == var.default_time_limit_minutes
    error_message = "default_time_limit_minutes is a whole number, at least 1."
  }
}

variable "max_upload_bytes" {
  description = "Largest accepted upload in bytes (MAX_UPLOAD_BYTES); ingest has 1 GiB of memory for validating it."
  type        = number
  default     = 268435456

  validation {
    condition     = var.max_upload_bytes >= 1 && var.max_upload_bytes <= 536870912
    error_message = "max_upload_bytes is 1 byte to 512 MiB (ingest spools the archive in memory-backed /tmp)."
  }
}

variable "container_binary" {
  description = "`singularity` or `apptainer` on the compute nodes (CONTAINER_BINARY); the created cluster installs Apptainer."
  type        = string
  default     = "apptainer"

  validation {
    condition     = contains(["singularity", "apptainer"], var.container_binary)
    error_message = "container_binary is singularity or apptainer."
  }
}

# ------------------------------------------------------------------------------------------------- e-mail
variable "smtp_host" {
  description = "SMTP relay host (SMTP_HOST); empty disables e-mail."
  type        = string
  default     = ""
}

variable "smtp_port" {
  description = "SMTP relay port (SMTP_PORT); outbound port 25 is blocked on Google Cloud."
  type        = number
  default     = 587

  validation {
    condition     = var.smtp_port != 25 && var.smtp_port >= 1 && var.smtp_port <= 65535
    error_message = "smtp_port is a port other than 25 (blocked for egress on Google Cloud)."
  }
}

variable "smtp_user" {
  description = "SMTP login name (SMTP_USER); non-empty creates the SMTP password secret for you to fill."
  type        = string
  default     = ""
}

variable "smtp_starttls" {
  description = "Use STARTTLS with the relay (SMTP_STARTTLS)."
  type        = bool
  default     = true
}

variable "mail_from" {
  description = "Sender of the e-mails (MAIL_FROM)."
  type        = string
  default     = "OpenLane Cloud <noreply@openlane.cloud>"
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

variable "slurm_login_user" {
  description = "Account that submits the runs on the login node (SLURM_LOGIN_USER)."
  type        = string
  default     = "olc"
}

variable "slurm_work_root" {
  description = "Absolute folder on the cluster's shared disk for run work dirs (SLURM_WORK_ROOT)."
  type        = string
  default     = "/home/olc/jobs"

  validation {
    condition     = startswith(var.slurm_work_root, "/")
    error_message = "slurm_work_root must be an absolute path."
  }
}

variable "slurm_partition" {
  description = "Partition the runs go to (SLURM_PARTITION); created with that name in create mode."
  type        = string
  default     = "olc"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,64}$", var.slurm_partition))
    error_message = "slurm_partition is a Slurm partition name."
  }
}

variable "slurm_host_key" {
  description = "Login node's SSH host key (`type base64`, SLURM_HOST_KEY); empty: trust on first use."
  type        = string
  default     = ""
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

variable "slurm_login_port" {
  description = "SSH port of the login node (SLURM_LOGIN_PORT)."
  type        = number
  default     = 22

  validation {
    condition     = var.slurm_login_port >= 1 && var.slurm_login_port <= 65535
    error_message = "slurm_login_port is a TCP port."
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
