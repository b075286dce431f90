# ------------------------------------------------------------------------------------------------ placement
variable "project_id" {
  description = "Project of the functions (GOOGLE_CLOUD_PROJECT)."
  type        = string
}

variable "project_number" {
  description = "Project number, part of the functions' deterministic run.app URLs."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.project_number))
    error_message = "project_number is the numeric project number."
  }
}

variable "region" {
  description = "Region of the functions; also the Eventarc trigger region (the designs bucket must be in it)."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of the function and service account names (<prefix>-ingest, ...)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.name_prefix))
    error_message = "name_prefix is 2-15 characters of a-z, 0-9 and '-', starting with a letter (service account ids are short)."
  }
}

variable "labels" {
  description = "Labels applied to the functions."
  type        = map(string)
  default     = {}
}

variable "runtime" {
  description = "Cloud Functions Python runtime."
  type        = string
  default     = "python311"

  validation {
    condition     = can(regex("^python3[0-9]+$", var.runtime))
    error_message = "runtime is a Python runtime id such as python311."
  }
}

# ------------------------------------------------------------------------------------------------ source
variable "source_bucket" {
  description = "Bucket the source zip is uploaded to."
  type        = string
}

variable "source_zip_path" {
  description = "Local path of the zip built by infra/package_functions.sh (uploaded under its MD5, so a new zip redeploys)."
  type        = string
}

# ------------------------------------------------------------------------------------- wiring (from modules)
variable "designs_bucket" {
  description = "Designs bucket (DESIGNS_BUCKET); ingest's trigger watches it."
  type        = string
}

variable "results_bucket" {
  description = "Results bucket (RESULTS_BUCKET)."
  type        = string
}

variable "jobs_topic" {
  description = "Jobs topic name (JOBS_TOPIC)."
  type        = string
}

variable "ssh_key_secret_id" {
  description = "Secret id of the login node SSH key (SSH_KEY_SECRET)."
  type        = string
}

variable "hook_key_secret_id" {
  description = "Secret id of the hook master key (HOOK_KEY_SECRET)."
  type        = string
}

variable "smtp_password_secret_id" {
  description = "Secret id of the SMTP password (SMTP_PASSWORD_SECRET); empty for a relay without login."
  type        = string
  default     = ""
}

# ------------------------------------------------------------------------------------------ service settings
variable "flow_runner" {
  description = "Flow that runs designs (FLOW_RUNNER)."
  type        = string
}

variable "job_concurrency" {
  description = "Most jobs active in Slurm at once (JOB_CONCURRENCY)."
  type        = number
}

variable "user_concurrency" {
  description = "Most jobs of one user active at once (USER_CONCURRENCY)."
  type        = number
}

variable "user_max_queued" {
  description = "Most jobs of one user waiting (USER_MAX_QUEUED)."
  type        = number
}

variable "user_monthly_core_hours" {
  description = "Core-hours one user may use per month (USER_MONTHLY_CORE_HOURS)."
  type        = number
}

variable "budget_action" {
  description = "`wait` or `reject` when a run would exceed the monthly budget (BUDGET_ACTION)."
  type        = string
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
}

variable "default_memory_mb" {
  description = "Memory per run in MB (DEFAULT_MEMORY_MB)."
  type        = number
}

variable "default_time_limit_minutes" {
  description = "Time limit per run in minutes (DEFAULT_TIME_LIMIT_MINUTES)."
  type        = number
}

variable "max_upload_bytes" {
  description = "Largest accepted upload in bytes (MAX_UPLOAD_BYTES)."
  type        = number
}

variable "container_binary" {
  description = "`singularity` or `apptainer` on the compute nodes (CONTAINER_BINARY)."
  type        = string
}

# ------------------------------------------------------------------------------------------------ cluster
variable "slurm_login_host" {
  description = "Login node address (SLURM_LOGIN_HOST); empty: look it up by name with the Compute API."
  type        = string
  default     = ""
}

variable "slurm_login_port" {
  description = "SSH port of the login node (SLURM_LOGIN_PORT)."
  type        = number
  default     = 22
}

variable "slurm_login_user" {
  description = "Account that submits jobs on the login node (SLURM_LOGIN_USER)."
  type        = string
}

variable "slurm_host_key" {
  description = "Login node's SSH host key, `type base64` (SLURM_HOST_KEY); empty: trust on first use."
  type        = string
  default     = ""
}

variable "login_node_zone" {
  description = "Zone searched for the login node when no host is set (LOGIN_NODE_ZONE)."
  type        = string
  default     = ""
}

variable "login_node_pattern" {
  description = "Name fragment of the login node instance (LOGIN_NODE_PATTERN)."
  type        = string
  default     = "login"
}

variable "slurm_partition" {
  description = "Partition the runs go to (SLURM_PARTITION)."
  type        = string
}

variable "slurm_work_root" {
  description = "Folder on the cluster's shared disk for run work dirs (SLURM_WORK_ROOT)."
  type        = string
}

# ------------------------------------------------------------------------------------------------ e-mail
variable "smtp_host" {
  description = "SMTP relay (SMTP_HOST); empty disables e-mail."
  type        = string
  default     = ""
}

variable "smtp_port" {
  description = "SMTP relay port (SMTP_PORT); Cloud Run blocks outbound port 25."
  type        = number
  default     = 587
}

variable "smtp_user" {
  description = "SMTP login name (SMTP_USER)."
  type        = string
  default     = ""
}

variable "smtp_starttls" {
  description = "Use STARTTLS (SMTP_STARTTLS)."
  type        = bool
  default     = true
}

variable "mail_from" {
  description = "Sender of the e-mails (MAIL_FROM)."
  type        = string
}

# ------------------------------------------------------------------------------------ network and access
variable "vpc_egress" {
  description = "Give dispatcher and completion Direct VPC egress (to SSH a login node that has only an internal address)."
  type        = bool
  default     = false
}

variable "vpc_network" {
  description = "VPC network of the Direct VPC egress (name or self link); used when vpc_egress."
  type        = string
  default     = ""
}

variable "vpc_subnetwork" {
  description = "Subnetwork for Direct VPC egress (instances take addresses from it)."
  type        = string
  default     = ""
}

variable "network_tags" {
  description = "Network tags of the functions' VPC interfaces (the firewall lets these reach the login node's SSH)."
  type        = list(string)
  default     = []
}

variable "completion_ingress" {
  description = "Ingress of the completion hook: ALLOW_INTERNAL_ONLY when the cluster is in this project's VPC, else ALLOW_ALL."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.completion_ingress)
    error_message = "completion_ingress is ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "completion_invokers" {
  description = "IAM members (by a static key) allowed to call the completion hook: the compute nodes' service account."
  type        = map(string)
  default     = {}
}

# ------------------------------------------------------------------------------------------------ scaling
variable "ingest_max_instances" {
  description = "Most ingest instances (one upload each)."
  type        = number
  default     = 10

  validation {
    condition     = var.ingest_max_instances >= 1
    error_message = "ingest_max_instances must be at least 1."
  }
}

variable "dispatcher_max_instances" {
  description = "Most dispatcher instances. One holds the Firestore lease at a time; others return at once."
  type        = number
  default     = 2

  validation {
    condition     = var.dispatcher_max_instances >= 1 && var.dispatcher_max_instances <= 3
    error_message = "dispatcher_max_instances is 1-3: the dispatch lease lets only one work at a time."
  }
}

variable "dispatcher_timeout_seconds" {
  description = "Dispatcher timeout; at least DISPATCH_LEASE_S (60) so a holder never outlives its lease unnoticed."
  type        = number
  default     = 300

  validation {
    condition     = var.dispatcher_timeout_seconds >= 120 && var.dispatcher_timeout_seconds <= 600
    error_message = "dispatcher_timeout_seconds is 120-600 (Pub/Sub push waits at most 600 s)."
  }
}

variable "completion_max_instances" {
  description = "Most completion hook instances."
  type        = number
  default     = 10

  validation {
    condition     = var.completion_max_instances >= 1
    error_message = "completion_max_instances must be at least 1."
  }
}

variable "api_max_instances" {
  description = "Most API instances."
  type        = number
  default     = 10

  validation {
    condition     = var.api_max_instances >= 1
    error_message = "api_max_instances must be at least 1."
  }
}
